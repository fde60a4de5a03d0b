# METADATA
# title: A merge into a protected branch needs independent human approvals
# description: >-
#   A `merge` proposal is the merge of a reviewed pull request. Merging into a
#   protected branch (parameter protected_branches) needs at least
#   min_human_approvals_for_main approvals from distinct humans other than the
#   author. Approvals by the author never count, and approvals by agents never
#   count as human ones. A merge that does not name its target branch cannot be
#   checked and is paused (`ask`). Since 3.0.0, approvals are facts only when
#   Charter read them from GitHub's reviews
#   (`input.context.facts.approvals_verified`): a merge whose approvals the
#   proposal only declares is paused (`ask`) when they would be enough, and
#   denied when even they are not.
# related_resources:
#   - ref: https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/about-protected-branches
#     description: "GitHub protected branches: required reviews, no direct pushes"
# custom:
#   id: PROC-MERGE-HUMAN-APPROVALS-001
#   severity: critical
#   category: process
#   citation: SOC2 CC8.1
#   applies_to:
#     kinds: [merge]
package charter.constitution.process.merge_human_approvals

import rego.v1

approvals := input.approvals if is_array(input.approvals)

else := []

# Distinct humans, other than the author, who approved.
qualifying := {a.by |
	some a in approvals
	is_object(a)
	a.type == "human"
	a.by != input.author.id
}

needed := input.context.parameters.min_human_approvals_for_main

deny contains {"rule": "PROC-MERGE-HUMAN-APPROVALS-001", "msg": msg} if {
	input.kind == "merge"
	input.base in input.context.parameters.protected_branches
	count(qualifying) < needed
	msg := sprintf(
		"merge of %v into %s has %d independent human approval(s) but needs %d; ask a human reviewer other than %s to approve (self-approvals and agent approvals do not count)",
		[object.get(input, "head", "the pull request"), input.base, count(qualifying), needed, input.author.id],
	)
}

ask contains {"rule": "PROC-MERGE-HUMAN-APPROVALS-001", "msg": msg} if {
	input.kind == "merge"
	not is_string(object.get(input, "base", null))
	msg := "merge proposal does not name its target branch (base); set base so its approvals can be checked"
}

# Enough approvals, but only the proposal says they happened: Charter read them from
# GitHub's reviews only when input.context.facts.approvals_verified is true (it alone
# writes input.context). A person confirms them (the runner's approval), or the merge is
# decided from its GitHub event, whose reviews are facts.
ask contains {"rule": "PROC-MERGE-HUMAN-APPROVALS-001", "msg": msg} if {
	input.kind == "merge"
	input.base in input.context.parameters.protected_branches
	not approvals_verified
	count(qualifying) >= needed
	msg := sprintf(
		"merge of %v into %s is approved only in the proposal: %d human approval(s) Charter cannot verify (declared, not read from GitHub's reviews); a person must confirm them, or decide the merge from its GitHub event (charter check --github-event, or the GitHub Action)",
		[object.get(input, "head", "the pull request"), input.base, count(qualifying)],
	)
}

approvals_verified if input.context.facts.approvals_verified == true
