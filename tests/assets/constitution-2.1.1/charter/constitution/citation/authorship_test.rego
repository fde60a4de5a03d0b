package charter.constitution.citation.authorship_test

import rego.v1

import data.charter.constitution.citation.authorship
import data.charter.constitution.testdata.fixtures

ask := {"human_citation": "ask"}

deny := {"human_citation": "deny"}

test_human_author_under_ask_parameter_asks if {
	authorship.verdict_for(fixtures.human, ask) == "ask"
}

test_human_author_under_deny_parameter_denied if {
	authorship.verdict_for(fixtures.human, deny) == "deny"
}

test_agent_author_under_either_parameter_denied if {
	authorship.verdict_for(fixtures.agent, ask) == "deny"
	authorship.verdict_for(fixtures.agent, deny) == "deny"
}

test_author_not_exactly_human_counts_as_agent_denied if {
	every author in fixtures.not_exactly_human {
		not authorship.human_author(author)
		authorship.verdict_for(author, ask) == "deny"
	}
}

test_parameter_other_than_ask_denied if {
	every value in fixtures.not_exactly_ask {
		authorship.verdict_for(fixtures.human, {"human_citation": value}) == "deny"
	}
	authorship.verdict_for(fixtures.human, {}) == "deny"
	authorship.verdict_for(fixtures.human, null) == "deny"
	authorship.verdict_for(fixtures.human, "ask") == "deny"
}

test_suffix_of_an_agent_is_empty_and_it_is_denied if {
	authorship.suffix_for(fixtures.agent, ask) == ""
	authorship.suffix_for({"id": "alice", "type": "Human"}, ask) == ""
}

test_suffix_of_a_human_names_the_parameter_that_asks if {
	authorship.suffix_for(fixtures.human, ask) == " (human-authored proposal: parameter human_citation makes this ask)"
}

test_suffix_of_a_human_under_deny_parameter_says_denied if {
	authorship.suffix_for(fixtures.human, deny) == " (human-authored proposal: parameter human_citation makes this deny)"
	authorship.suffix_for(fixtures.human, {}) == " (human-authored proposal: parameter human_citation makes this deny)"
}
