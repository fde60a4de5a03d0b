package charter.constitution.citation.block_required_test

import rego.v1

import data.charter.constitution.citation.block_required
import data.charter.constitution.testdata.fixtures

test_proposal_without_citation_block_denied if {
	some entry in block_required.deny with input as fixtures.with_citation(fixtures.pull_request, {"present": false, "rules": []})
	entry.rule == "CITE-BLOCK-REQUIRED-001"
}

test_proposal_with_citation_block_allowed if {
	count(block_required.deny) == 0 with input as fixtures.pull_request
}
