package charter.constitution.environment_profile.cited_profile_test

import rego.v1

import data.charter.constitution.environment_profile.cited_profile
import data.charter.constitution.testdata.fixtures

test_cited_profile_tools_allowed if {
	count(cited_profile.deny) == 0 with input as fixtures.with_citation(fixtures.release, {"profile": {"sbom": "syft", "signing": ["cosign"]}})
}

test_cited_unlisted_tool_denied if {
	some entry in cited_profile.deny with input as fixtures.with_citation(fixtures.pull_request, {"profile": {"signing": "gpg"}})
	entry.rule == "ENV-CITED-PROFILE-001"
	contains(entry.msg, "gpg")
}

test_cited_tool_disagreeing_with_choice_denied if {
	some entry in cited_profile.deny with input as fixtures.with_citation(fixtures.release, {"profile": {"sbom": "cdxgen"}})
	contains(entry.msg, "make them agree")
}

test_cited_category_outside_required_allowed if {
	count(cited_profile.deny) == 0 with input as fixtures.with_citation(fixtures.pull_request, {"profile": {"editor": "vim"}})
}
