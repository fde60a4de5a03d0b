package charter.constitution.process.declared_facts_match_test

import rego.v1

import data.charter.constitution.process.declared_facts_match
import data.charter.constitution.testdata.fixtures

with_facts(facts) := fixtures.with_context(fixtures.pull_request, {"facts": facts})

lockfile_contradiction := {
	"field": "dependencies.changed",
	"declared": false,
	"derived": true,
	"source": "package-lock.json changed",
}

author_contradiction := {
	"field": "author.type",
	"declared": "human",
	"derived": "agent",
	"source": "identity map: agent-7[bot] is an agent",
}

one_contradiction := with_facts({
	"derived": ["author.type", "dependencies.changed", "dependencies.changes"],
	"contradictions": [lockfile_contradiction],
})

two_contradictions := with_facts({
	"derived": ["author.type", "dependencies.changed"],
	"contradictions": [lockfile_contradiction, author_contradiction],
})

no_contradiction := with_facts({
	"derived": ["author.type", "dependencies.changed", "dependencies.changes", "artifacts[api].sbom.signed"],
	"contradictions": [],
})

derived_without_contradictions_key := with_facts({"derived": ["author.type"]})

null_facts := with_facts(null)

facts_not_an_object := with_facts("dependencies.changed")

contradictions_not_an_array := with_facts({"derived": [], "contradictions": {"field": "author.type"}})

contradiction_not_an_object := with_facts({"derived": [], "contradictions": ["author.type"]})

contradiction_without_details := with_facts({"derived": [], "contradictions": [{}]})

test_declared_dependency_fact_contradicting_lockfile_denied if {
	some entry in declared_facts_match.deny with input as one_contradiction
	entry.rule == "PROC-DECLARED-FACTS-MATCH-001"
	contains(entry.msg, "declares dependencies.changed = false")
	contains(entry.msg, "Charter derived true from package-lock.json changed")
	contains(entry.msg, "Stop declaring dependencies.changed")
	count(declared_facts_match.deny) == 1 with input as one_contradiction
}

test_each_contradiction_denied_once if {
	count(declared_facts_match.deny) == 2 with input as two_contradictions
	some entry in declared_facts_match.deny with input as two_contradictions
	contains(entry.msg, "declares author.type = \"human\", but Charter derived \"agent\"")
}

test_facts_without_contradictions_allowed if {
	count(declared_facts_match.deny) == 0 with input as no_contradiction
}

test_facts_without_contradictions_key_allowed if {
	count(declared_facts_match.deny) == 0 with input as derived_without_contradictions_key
}

test_absent_facts_allowed if {
	count(declared_facts_match.deny) == 0 with input as fixtures.pull_request
}

test_null_facts_allowed if {
	count(declared_facts_match.deny) == 0 with input as null_facts
}

test_facts_that_are_not_an_object_denied if {
	some entry in declared_facts_match.deny with input as facts_not_an_object
	contains(entry.msg, "are not an object")
}

test_contradictions_that_are_not_an_array_denied if {
	some entry in declared_facts_match.deny with input as contradictions_not_an_array
	contains(entry.msg, "not an array")
}

test_contradiction_that_is_not_an_object_denied if {
	some entry in declared_facts_match.deny with input as contradiction_not_an_object
	contains(entry.msg, "contradiction 0, which is not an object")
}

test_contradiction_without_details_still_denied if {
	some entry in declared_facts_match.deny with input as contradiction_without_details
	contains(entry.msg, "declares (unnamed field) = null, but Charter derived null from (source not recorded)")
}

long_declared_digest := with_facts({"derived": ["artifacts[api].digest"], "contradictions": [{
	"field": "artifacts[api].digest",
	"declared": concat("", ["sha256:", concat("", ["ab" | some _ in numbers.range(1, 300)])]),
	"derived": "sha256:4d5f",
	"source": "evidence file",
}]})

test_long_declared_value_is_clipped_denied if {
	some entry in declared_facts_match.deny with input as long_declared_digest
	contains(entry.msg, "… (609 characters), but Charter derived \"sha256:4d5f\" from evidence file")
	count(entry.msg) < 800
}
