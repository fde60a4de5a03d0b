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

# Scope (2.0.0): an agent's proposal is denied; a human's gets the verdict of
# the parameter human_citation (default ask); any other author type is an agent.

bad(doc) := fixtures.with_citation(doc, {"rollback": null})

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
	some entry in rollback.deny with input as agent_bad
	entry.rule == "CITE-ROLLBACK-001"
	contains(entry.msg, "no rollback")
	not contains(entry.msg, "human_citation")
	count(rollback.ask) == 0 with input as agent_bad
}

test_human_proposal_with_the_problem_asks if {
	some entry in rollback.ask with input as human_bad
	entry.rule == "CITE-ROLLBACK-001"
	contains(entry.msg, "no rollback")
	contains(entry.msg, "human_citation makes this ask")
	count(rollback.deny) == 0 with input as human_bad
}

test_human_proposal_with_the_problem_under_deny_parameter_denied if {
	some entry in rollback.deny with input as human_bad_deny_parameter
	entry.rule == "CITE-ROLLBACK-001"
	contains(entry.msg, "human_citation makes this deny")
	count(rollback.ask) == 0 with input as human_bad_deny_parameter
}

test_human_proposal_with_unknown_parameter_value_denied if {
	some entry in rollback.deny with input as human_bad_allow_parameter
	entry.rule == "CITE-ROLLBACK-001"
	count(rollback.ask) == 0 with input as human_bad_allow_parameter
}

test_human_proposal_without_the_parameter_denied if {
	some entry in rollback.deny with input as human_bad_without_parameter
	entry.rule == "CITE-ROLLBACK-001"
}

test_capitalised_human_author_type_counts_as_agent_denied if {
	some entry in rollback.deny with input as capitalised_human_bad
	entry.rule == "CITE-ROLLBACK-001"
	count(rollback.ask) == 0 with input as capitalised_human_bad
}

test_empty_author_type_counts_as_agent_denied if {
	some entry in rollback.deny with input as empty_type_bad
	entry.rule == "CITE-ROLLBACK-001"
}

test_null_author_counts_as_agent_denied if {
	some entry in rollback.deny with input as null_author_bad
	entry.rule == "CITE-ROLLBACK-001"
}

test_missing_author_counts_as_agent_denied if {
	some entry in rollback.deny with input as no_author_bad
	entry.rule == "CITE-ROLLBACK-001"
}

test_human_proposal_without_the_problem_allowed if {
	count(rollback.deny) == 0 with input as fixtures.human_pull_request
	count(rollback.ask) == 0 with input as fixtures.human_pull_request
}

test_agent_proposal_without_the_problem_allowed if {
	count(rollback.deny) == 0 with input as fixtures.pull_request
	count(rollback.ask) == 0 with input as fixtures.pull_request
}
