# METADATA
# title: Nobody approves their own change
# description: >-
#   An approval given by the proposal's own author (approvals[].by equals
#   author.id) is a self-approval. It never counts towards any approval
#   requirement, and carrying one is itself a violation: whoever wrote a change
#   must not also sign it off. Remove the self-approval and ask someone else.
# related_resources:
#   - ref: https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/about-protected-branches
#     description: "GitHub protected branches: required reviews, no direct pushes"
# custom:
#   id: PROC-NO-SELF-APPROVAL-001
#   severity: high
#   category: process
#   citation: SOC2 CC8.1
package charter.constitution.process.no_self_approval

import rego.v1

deny contains {"rule": "PROC-NO-SELF-APPROVAL-001", "msg": msg} if {
	is_array(input.approvals)
	some approval in input.approvals
	is_object(approval)
	approval.by == input.author.id
	msg := sprintf(
		"%s approved its own %s; self-approvals never count: withdraw it and ask a reviewer other than the author",
		[input.author.id, input.kind],
	)
}
