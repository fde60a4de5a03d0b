# METADATA
# title: Nobody approves their own change
# description: A hypothetical 4.0.0 constitution rule (test fixture for upgrade checks).
# related_resources:
#   - ref: https://charter.dev/constitution/PROC-NO-SELF-APPROVAL-002
# custom:
#   id: PROC-NO-SELF-APPROVAL-002
#   severity: high
#   category: process
package charter.constitution.process.no_self_approval

import rego.v1

deny contains {"rule": "PROC-NO-SELF-APPROVAL-002", "msg": "self-approval"} if {
	some approval in input.approvals
	approval.by == input.author.id
}
