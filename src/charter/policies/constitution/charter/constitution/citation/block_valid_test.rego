package charter.constitution.citation.block_valid_test

import rego.v1

import data.charter.constitution.citation.block_valid
import data.charter.constitution.testdata.fixtures

test_unparseable_citation_block_denied if {
	some entry in block_valid.deny with input as fixtures.with_citation(
		fixtures.pull_request,
		{"rules": [], "blast_radius": null, "rollback": null, "error": "citation block is not valid YAML: mapping values are not allowed here"},
	)
	entry.rule == "CITE-BLOCK-VALID-001"
	startswith(entry.msg, "citation block is not valid YAML")
}

test_parsed_citation_block_allowed if {
	count(block_valid.deny) == 0 with input as fixtures.pull_request
}
