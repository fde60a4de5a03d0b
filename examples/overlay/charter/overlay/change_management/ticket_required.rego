# METADATA
# title: Production merges reference a change ticket
# description: >-
#   Acme's change-management process needs every merge that deploys to
#   production to name its change ticket (CM-<number>) in the pull request body
#   or in the branch name, so that the change can be traced to its approval.
#   A production merge without one is denied.
# related_resources:
#   - ref: https://acme.example/policies/change-management#tickets
#     description: Acme change-management policy, section 3 (tickets)
# custom:
#   id: CM-TICKET-REQUIRED-001
#   severity: high
#   category: change-management
#   citation: SOC2 CC8.1
package charter.overlay.change_management.ticket_required

import rego.v1

ticket_pattern := `(?i)\bCM-[0-9]+\b`

production_merge if {
	input.kind == "merge"
	input.environment == "production"
}

has_ticket if regex.match(ticket_pattern, object.get(input, "body", ""))

has_ticket if regex.match(ticket_pattern, object.get(input, "head", ""))

deny contains {"rule": "CM-TICKET-REQUIRED-001", "msg": msg} if {
	production_merge
	not has_ticket
	msg := sprintf(
		"production merge of %s names no change ticket; add CM-<number> to the PR body or the branch name",
		[object.get(input, "head", "the branch")],
	)
}
