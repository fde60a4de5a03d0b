# METADATA
# title: Agents never push to a protected branch directly
# description: >-
#   Every change reaches a protected branch (main by default) through a reviewed
#   pull request. A direct push by an agent bypasses review and is denied; an
#   agent push that does not name its target branch is paused (`ask`).
# related_resources:
#   - ref: https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/about-protected-branches
#     description: "GitHub protected branches: required reviews, no direct pushes"
# custom:
#   id: PROC-NO-DIRECT-PUSH-001
#   severity: critical
#   category: process
#   citation: SOC2 CC8.1
#   applies_to:
#     kinds: [push]
package charter.constitution.process.no_direct_push

import rego.v1

deny contains {"rule": "PROC-NO-DIRECT-PUSH-001", "msg": msg} if {
	input.kind == "push"
	input.author.type == "agent"
	input.base in input.context.parameters.protected_branches
	msg := sprintf("agent %s pushed directly to %s; open a pull request instead", [input.author.id, input.base])
}

# A push that does not name its target branch cannot be checked against the
# protected branches, so it is paused rather than allowed (unknown → ask).
ask contains {"rule": "PROC-NO-DIRECT-PUSH-001", "msg": msg} if {
	input.kind == "push"
	input.author.type == "agent"
	not names_branch
	msg := sprintf("agent %s pushed without naming the target branch (`base`); Charter cannot tell whether it is protected", [input.author.id])
}

names_branch if {
	is_string(input.base)
	input.base != ""
}
