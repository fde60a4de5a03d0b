package charter.constitution.process.no_direct_push_test

import rego.v1

import data.charter.constitution.process.no_direct_push

ctx := {"parameters": {"protected_branches": ["main"]}}

test_agent_push_to_main_denied if {
	some entry in no_direct_push.deny with input as {
		"kind": "push", "base": "main", "author": {"id": "agent-7", "type": "agent"}, "context": ctx,
	}
	entry.rule == "PROC-NO-DIRECT-PUSH-001"
}

test_agent_push_to_feature_branch_allowed if {
	count(no_direct_push.deny) == 0 with input as {
		"kind": "push", "base": "feature/x", "author": {"id": "agent-7", "type": "agent"}, "context": ctx,
	}
}

test_agent_push_without_base_asks if {
	some entry in no_direct_push.ask with input as {
		"kind": "push", "author": {"id": "agent-7", "type": "agent"}, "context": ctx,
	}
	entry.rule == "PROC-NO-DIRECT-PUSH-001"
}

test_agent_push_naming_an_unprotected_branch_allowed if {
	count(no_direct_push.ask) == 0 with input as {
		"kind": "push", "base": "feature/x", "author": {"id": "agent-7", "type": "agent"}, "context": ctx,
	}
}
