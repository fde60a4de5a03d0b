package charter.constitution.supply_chain.dependency_facts_test

import rego.v1

import data.charter.constitution.supply_chain.dependency_facts
import data.charter.constitution.testdata.fixtures

pr_deps(deps) := object.union(fixtures.pull_request, {"dependencies": deps})

two_unparsed := pr_deps({
	"changed": true,
	"changes": [],
	"unparsed": [
		{"path": "yarn.lock", "reason": "entry left-pad@^1: resolved URL downloads evil 6.6.6, not left-pad 1.0.0"},
		{"path": "services/api/requirements.txt", "reason": "not UTF-8 text"},
	],
})

unparsed_without_change_flag := pr_deps({"unparsed": [{"path": "go.sum", "reason": "malformed line 3"}]})

unparsed_entry_malformed := pr_deps({"changed": true, "unparsed": ["yarn.lock", {"path": "", "reason": 7}]})

unparsed_not_a_list := pr_deps({"changed": true, "unparsed": {"path": "yarn.lock", "reason": "x"}})

unparsed_empty := pr_deps({"changed": true, "changes": [], "unparsed": []})

unparsed_null := pr_deps({"changed": false, "unparsed": null})

no_dependencies := object.remove(fixtures.pull_request, ["dependencies"])

dependencies_not_an_object := pr_deps("package-lock.json")

test_each_unparsed_file_asks if {
	count(dependency_facts.ask) == 2 with input as two_unparsed
	some entry in dependency_facts.ask with input as two_unparsed
	entry.rule == "SC-DEPENDENCY-FACTS-001"
	contains(entry.msg, "dependency file yarn.lock could not be read with certainty (entry left-pad@^1: resolved URL downloads evil 6.6.6")
	contains(entry.msg, "a human must review it")
}

test_unparsed_file_asks_even_when_changed_is_not_declared if {
	some entry in dependency_facts.ask with input as unparsed_without_change_flag
	contains(entry.msg, "go.sum")
}

test_malformed_unparsed_entries_ask if {
	count(dependency_facts.ask) == 2 with input as unparsed_entry_malformed
	some entry in dependency_facts.ask with input as unparsed_entry_malformed
	contains(entry.msg, "(unnamed file) could not be read with certainty (no reason recorded)")
	some other in dependency_facts.ask with input as unparsed_entry_malformed
	contains(other.msg, "dependency file yarn.lock could not be read with certainty (no reason recorded)")
}

test_unparsed_that_is_not_a_list_asks if {
	some entry in dependency_facts.ask with input as unparsed_not_a_list
	contains(entry.msg, "dependencies.unparsed is object")
}

test_no_unparsed_files_allowed if {
	count(dependency_facts.ask) == 0 with input as unparsed_empty
	count(dependency_facts.ask) == 0 with input as unparsed_null
}

test_proposal_without_dependencies_allowed if {
	count(dependency_facts.ask) == 0 with input as no_dependencies
	count(dependency_facts.ask) == 0 with input as dependencies_not_an_object
	count(dependency_facts.ask) == 0 with input as fixtures.pull_request
}
