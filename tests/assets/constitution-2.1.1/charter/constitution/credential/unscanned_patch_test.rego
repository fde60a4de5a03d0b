package charter.constitution.credential.unscanned_patch_test

import rego.v1

import data.charter.constitution.credential.unscanned_patch

pr(files) := {"kind": "pull_request", "files": files}

test_a_too_large_patch_asks if {
	found := unscanned_patch.ask with input as pr([{"path": "dump.sql", "patch": null, "patch_omitted": "too large (more than 1048576 bytes)"}])
	count(found) == 1
	some finding in found
	contains(finding.msg, "dump.sql")
	contains(finding.msg, "too large")
}

test_not_utf8_and_budget_spent_each_ask if {
	found := unscanned_patch.ask with input as pr([
		{"path": "a.txt", "patch_omitted": "not UTF-8 text"},
		{"path": "b.txt", "patch_omitted": "total patch budget spent (16777216 bytes)"},
		{"path": "c.txt", "patch": "+ok\n"},
	])
	count(found) == 2
}

test_binary_files_are_left_to_the_credential_file_rule_allowed if {
	count(unscanned_patch.ask) == 0 with input as pr([{"path": "logo.png", "patch_omitted": "binary"}])
}

test_scanned_files_and_no_files_allowed if {
	count(unscanned_patch.ask) == 0 with input as pr([{"path": "a.py", "patch": "+x\n"}])
	count(unscanned_patch.ask) == 0 with input as {"kind": "pull_request"}
	count(unscanned_patch.ask) == 0 with input as {"kind": "pull_request", "files": "nope"}
}

test_a_malformed_reason_or_path_still_asks if {
	found := unscanned_patch.ask with input as pr([{"path": 7, "patch_omitted": 42}])
	count(found) == 1
	some finding in found
	contains(finding.msg, "(a file without a path)")
	contains(finding.msg, "reason not given")
}
