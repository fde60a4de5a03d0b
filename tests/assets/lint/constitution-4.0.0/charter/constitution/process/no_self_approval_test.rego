package charter.constitution.process.no_self_approval_test

import rego.v1

import data.charter.constitution.process.no_self_approval

test_self_approval_denied if {
	some e in no_self_approval.deny with input as {"author": {"id": "a"}, "approvals": [{"by": "a"}]}
	e.rule == "PROC-NO-SELF-APPROVAL-002"
}

test_other_approval_allowed if {
	count(no_self_approval.deny) == 0 with input as {"author": {"id": "a"}, "approvals": [{"by": "b"}]}
}
