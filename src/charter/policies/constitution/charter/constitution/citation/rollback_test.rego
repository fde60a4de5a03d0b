package charter.constitution.citation.rollback_test

import rego.v1

import data.charter.constitution.citation.rollback
import data.charter.constitution.testdata.fixtures

test_missing_rollback_denied if {
	some entry in rollback.deny with input as fixtures.with_citation(fixtures.pull_request, {"rollback": null})
	entry.rule == "CITE-ROLLBACK-001"
}

test_stated_rollback_allowed if {
	count(rollback.deny) == 0 with input as fixtures.pull_request
}
