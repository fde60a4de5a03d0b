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

# Scope (2.0.0): an agent's proposal is denied; a human's gets the verdict of
# the parameter human_citation (default ask); any other author type is an agent.

bad(doc) := fixtures.with_citation(doc, {"rules": [], "blast_radius": null, "rollback": null, "error": "citation block is not valid YAML: mapping values are not allowed here"})

agent_bad := bad(fixtures.pull_request)

human_bad := bad(fixtures.human_pull_request)

human_bad_deny_parameter := fixtures.with_parameters(human_bad, {"human_citation": "deny"})

human_bad_allow_parameter := fixtures.with_parameters(human_bad, {"human_citation": "allow"})

human_bad_without_parameter := fixtures.without_parameter(human_bad, "human_citation")

capitalised_human_bad := bad(fixtures.with_author(fixtures.pull_request, {"id": "alice", "type": "Human"}))

empty_type_bad := bad(fixtures.with_author(fixtures.pull_request, {"id": "alice", "type": ""}))

null_author_bad := bad(fixtures.with_author(fixtures.pull_request, null))

no_author_bad := bad(fixtures.without_author(fixtures.pull_request))

test_agent_proposal_with_the_problem_denied if {
	some entry in block_valid.deny with input as agent_bad
	entry.rule == "CITE-BLOCK-VALID-001"
	contains(entry.msg, "not valid YAML")
	not contains(entry.msg, "human_citation")
	count(block_valid.ask) == 0 with input as agent_bad
}

test_human_proposal_with_the_problem_asks if {
	some entry in block_valid.ask with input as human_bad
	entry.rule == "CITE-BLOCK-VALID-001"
	contains(entry.msg, "not valid YAML")
	contains(entry.msg, "human_citation makes this ask")
	count(block_valid.deny) == 0 with input as human_bad
}

test_human_proposal_with_the_problem_under_deny_parameter_denied if {
	some entry in block_valid.deny with input as human_bad_deny_parameter
	entry.rule == "CITE-BLOCK-VALID-001"
	contains(entry.msg, "human_citation makes this deny")
	count(block_valid.ask) == 0 with input as human_bad_deny_parameter
}

test_human_proposal_with_unknown_parameter_value_denied if {
	some entry in block_valid.deny with input as human_bad_allow_parameter
	entry.rule == "CITE-BLOCK-VALID-001"
	count(block_valid.ask) == 0 with input as human_bad_allow_parameter
}

test_human_proposal_without_the_parameter_denied if {
	some entry in block_valid.deny with input as human_bad_without_parameter
	entry.rule == "CITE-BLOCK-VALID-001"
}

test_capitalised_human_author_type_counts_as_agent_denied if {
	some entry in block_valid.deny with input as capitalised_human_bad
	entry.rule == "CITE-BLOCK-VALID-001"
	count(block_valid.ask) == 0 with input as capitalised_human_bad
}

test_empty_author_type_counts_as_agent_denied if {
	some entry in block_valid.deny with input as empty_type_bad
	entry.rule == "CITE-BLOCK-VALID-001"
}

test_null_author_counts_as_agent_denied if {
	some entry in block_valid.deny with input as null_author_bad
	entry.rule == "CITE-BLOCK-VALID-001"
}

test_missing_author_counts_as_agent_denied if {
	some entry in block_valid.deny with input as no_author_bad
	entry.rule == "CITE-BLOCK-VALID-001"
}

test_human_proposal_without_the_problem_allowed if {
	count(block_valid.deny) == 0 with input as fixtures.human_pull_request
	count(block_valid.ask) == 0 with input as fixtures.human_pull_request
}

test_agent_proposal_without_the_problem_allowed if {
	count(block_valid.deny) == 0 with input as fixtures.pull_request
	count(block_valid.ask) == 0 with input as fixtures.pull_request
}
