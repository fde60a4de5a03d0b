package charter.constitution.citation.cites_known_rule_test

import rego.v1

import data.charter.constitution.citation.cites_known_rule
import data.charter.constitution.testdata.fixtures

test_citing_no_rule_denied if {
	some entry in cites_known_rule.deny with input as fixtures.with_citation(fixtures.pull_request, {"rules": []})
	entry.rule == "CITE-RULE-KNOWN-001"
	contains(entry.msg, "cites no rule")
}

test_citing_unknown_rule_denied if {
	some entry in cites_known_rule.deny with input as fixtures.with_citation(fixtures.pull_request, {"rules": ["PROC-MERGE-HUMAN-APPROVALS-001", "NOPE-001"]})
	contains(entry.msg, "NOPE-001")
}

test_citing_existing_rule_allowed if {
	count(cites_known_rule.deny) == 0 with input as fixtures.pull_request
}

test_missing_block_left_to_block_rule_allowed if {
	count(cites_known_rule.deny) == 0 with input as fixtures.with_citation(fixtures.pull_request, {"present": false, "rules": []})
}
