package charter.overlay.change_management.ticket_required_test

import rego.v1

import data.charter.overlay.change_management.ticket_required

test_production_merge_without_ticket_denied if {
	some entry in ticket_required.deny with input as {
		"kind": "merge",
		"environment": "production",
		"head": "feature/billing",
		"body": "Roll up billing.",
	}
	entry.rule == "CM-TICKET-REQUIRED-001"
}

test_ticket_in_body_allowed if {
	count(ticket_required.deny) == 0 with input as {
		"kind": "merge",
		"environment": "production",
		"head": "feature/billing",
		"body": "Roll up billing. Ticket: CM-1234",
	}
}

test_ticket_in_branch_allowed if {
	count(ticket_required.deny) == 0 with input as {
		"kind": "merge",
		"environment": "production",
		"head": "feature/cm-42-billing",
		"body": "Roll up billing.",
	}
}

test_staging_merge_without_ticket_allowed if {
	count(ticket_required.deny) == 0 with input as {
		"kind": "merge",
		"environment": "staging",
		"head": "feature/billing",
		"body": "",
	}
}

test_pull_request_without_ticket_allowed if {
	count(ticket_required.deny) == 0 with input as {
		"kind": "pull_request",
		"environment": "production",
		"head": "feature/billing",
		"body": "",
	}
}
