package charter.constitution.process.human_push_protected_test

import rego.v1

import data.charter.constitution.process.human_push_protected
import data.charter.constitution.testdata.fixtures

human_push := object.union(fixtures.pull_request, {"kind": "push", "head": "main", "author": fixtures.human})

test_human_push_to_main_asks if {
	some entry in human_push_protected.ask with input as human_push
	entry.rule == "PROC-HUMAN-PUSH-PROTECTED-001"
	contains(entry.msg, "open a pull request")
}

test_human_push_to_extra_protected_branch_asks if {
	some entry in human_push_protected.ask with input as fixtures.with_parameters(
		object.union(human_push, {"base": "release/2.x"}),
		{"protected_branches": ["main", "release/2.x"]},
	)
	entry.rule == "PROC-HUMAN-PUSH-PROTECTED-001"
}

test_human_push_to_feature_branch_allowed if {
	count(human_push_protected.ask) == 0 with input as object.union(human_push, {"base": "feature/x"})
}

test_human_pull_request_to_main_allowed if {
	count(human_push_protected.ask) == 0 with input as object.union(fixtures.pull_request, {"author": fixtures.human})
}
