package charter.constitution.environment_profile.release_tools_declared_test

import rego.v1

import data.charter.constitution.environment_profile.release_tools_declared
import data.charter.constitution.testdata.fixtures

test_release_declaring_all_tools_allowed if {
	count(release_tools_declared.deny) == 0 with input as fixtures.release
}

test_release_missing_provenance_tool_denied if {
	some entry in release_tools_declared.deny with input as object.union(
		object.remove(fixtures.release, ["tools"]),
		{"tools": {"sbom": "syft", "signing": "cosign", "vulnerability-scan": "grype"}},
	)
	entry.rule == "ENV-RELEASE-TOOLS-DECLARED-001"
	contains(entry.msg, "tools.provenance")
}

test_release_without_tools_denied if {
	count(release_tools_declared.deny) == 4 with input as object.union(fixtures.release, {"tools": null})
}

test_pull_request_without_tools_allowed if {
	count(release_tools_declared.deny) == 0 with input as fixtures.pull_request
}
