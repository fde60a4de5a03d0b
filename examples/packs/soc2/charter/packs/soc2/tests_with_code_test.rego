package charter.packs.soc2.tests_with_code_test

import rego.v1

import data.charter.packs.soc2.tests_with_code as rule

code_only := [{"path": "src/app/orders.py", "status": "modified"}, {"path": "README.md", "status": "modified"}]

test_code_without_tests_asks if {
	some e in rule.ask with input as {"kind": "pull_request", "files": code_only}
	contains(e.msg, "src/app/orders.py")
}

test_code_with_tests_allowed if {
	count(rule.ask) == 0 with input as {"kind": "pull_request", "files": array.concat(code_only, [{"path": "tests/test_orders.py", "status": "modified"}])}
	count(rule.ask) == 0 with input as {"kind": "merge", "files": [{"path": "web/cart.ts", "status": "added"}, {"path": "web/cart.spec.ts", "status": "added"}]}
}

test_docs_only_deletions_and_pushes_allowed if {
	count(rule.ask) == 0 with input as {"kind": "pull_request", "files": [{"path": "docs/a.md", "status": "modified"}, {"path": "src/old.py", "status": "removed"}]}
	count(rule.ask) == 0 with input as {"kind": "push", "files": code_only}
}
