# METADATA
# title: A human direct push to a protected branch needs confirmation
# description: >-
#   Every change reaches a protected branch (parameter protected_branches,
#   default ["main"]) through a reviewed pull request. Agents are denied
#   outright (PROC-NO-DIRECT-PUSH-001); a human pushing directly bypasses review
#   as well, so the push is paused (`ask`) until a second person confirms it,
#   e.g. for a break-glass fix. Open a pull request to avoid the pause.
# related_resources:
#   - ref: https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/about-protected-branches
#     description: "GitHub protected branches: required reviews, no direct pushes"
# custom:
#   id: PROC-HUMAN-PUSH-PROTECTED-001
#   severity: high
#   category: process
#   citation: SOC2 CC8.1
#   applies_to:
#     kinds: [push]
package charter.constitution.process.human_push_protected

import rego.v1

ask contains {"rule": "PROC-HUMAN-PUSH-PROTECTED-001", "msg": msg} if {
	input.kind == "push"
	input.author.type == "human"
	input.base in input.context.parameters.protected_branches
	msg := sprintf(
		"%s pushed directly to protected branch %s without a pull request; a second person must confirm this break-glass push, or open a pull request instead",
		[input.author.id, input.base],
	)
}
