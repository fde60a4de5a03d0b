package charter.constitution.process.no_self_approval_test

import rego.v1

import data.charter.constitution.process.no_self_approval
import data.charter.constitution.testdata.fixtures

test_agent_self_approved_merge_denied if {
	some entry in no_self_approval.deny with input as object.union(fixtures.merge, {"approvals": [{"by": "agent-7", "type": "agent"}]})
	entry.rule == "PROC-NO-SELF-APPROVAL-001"
}

test_self_approval_claimed_as_human_denied if {
	some entry in no_self_approval.deny with input as object.union(fixtures.merge, {"approvals": [
		{"by": "alice", "type": "human"},
		{"by": "agent-7", "type": "human"},
	]})
	entry.rule == "PROC-NO-SELF-APPROVAL-001"
}

test_approved_by_someone_else_allowed if {
	count(no_self_approval.deny) == 0 with input as fixtures.merge
}

test_pull_request_without_approvals_allowed if {
	count(no_self_approval.deny) == 0 with input as object.union(fixtures.pull_request, {"approvals": null})
}
