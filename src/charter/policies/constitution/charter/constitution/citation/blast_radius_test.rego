package charter.constitution.citation.blast_radius_test

import rego.v1

import data.charter.constitution.citation.blast_radius
import data.charter.constitution.testdata.fixtures

test_missing_blast_radius_denied if {
	some entry in blast_radius.deny with input as fixtures.with_citation(fixtures.pull_request, {"blast_radius": null})
	entry.rule == "CITE-BLAST-RADIUS-001"
}

test_blank_blast_radius_denied if {
	some entry in blast_radius.deny with input as fixtures.with_citation(fixtures.pull_request, {"blast_radius": "   "})
	entry.rule == "CITE-BLAST-RADIUS-001"
}

test_stated_blast_radius_allowed if {
	count(blast_radius.deny) == 0 with input as fixtures.pull_request
}
