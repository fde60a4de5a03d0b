package charter.constitution.environment_profile.tools_in_profile_test

import rego.v1

import data.charter.constitution.environment_profile.tools_in_profile
import data.charter.constitution.testdata.fixtures

test_release_with_profile_tools_allowed if {
	count(tools_in_profile.deny) == 0 with input as fixtures.release
}

test_unlisted_sbom_tool_denied if {
	some entry in tools_in_profile.deny with input as object.union(fixtures.release, {"tools": {"sbom": "homegrown-sbom"}})
	entry.rule == "ENV-TOOL-IN-PROFILE-001"
	contains(entry.msg, "homegrown-sbom")
	contains(entry.msg, "syft")
}

test_unlisted_scanner_in_scan_result_denied if {
	some entry in tools_in_profile.deny with input as object.union(fixtures.pull_request, {"dependencies": {"changed": true, "scan": {"tool": "snyk", "findings": []}}})
	contains(entry.msg, "dependencies.scan.tool")
}

test_narrowed_profile_denied if {
	some entry in tools_in_profile.deny with input as fixtures.with_context(fixtures.release, {"profile": {"sbom": ["cdxgen"]}})
	contains(entry.msg, "syft")
}

test_category_outside_required_allowed if {
	count(tools_in_profile.deny) == 0 with input as object.union(fixtures.pull_request, {"tools": {"linter": "ruff"}})
}
