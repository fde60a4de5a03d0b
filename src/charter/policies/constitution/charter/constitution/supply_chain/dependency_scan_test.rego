package charter.constitution.supply_chain.dependency_scan_test

import rego.v1

import data.charter.constitution.supply_chain.dependency_scan
import data.charter.constitution.testdata.fixtures

pr_deps(deps) := object.union(fixtures.pull_request, {"dependencies": deps})

test_dependency_change_without_scan_denied if {
	some entry in dependency_scan.deny with input as pr_deps({"changed": true})
	entry.rule == "SC-DEPENDENCY-SCAN-001"
}

test_dependency_change_with_null_scan_denied if {
	some entry in dependency_scan.deny with input as pr_deps({"changed": true, "scan": null})
	entry.rule == "SC-DEPENDENCY-SCAN-001"
}

test_dependency_change_scan_without_tool_denied if {
	some entry in dependency_scan.deny with input as pr_deps({"changed": true, "scan": {"findings": []}})
	entry.rule == "SC-DEPENDENCY-SCAN-001"
}

test_dependency_change_with_scan_allowed if {
	count(dependency_scan.deny) == 0 with input as pr_deps({"changed": true, "scan": {"tool": "grype", "findings": []}})
}

test_unchanged_dependencies_allowed if {
	count(dependency_scan.deny) == 0 with input as pr_deps({"changed": false})
}
