package charter.constitution.environment_profile.profile_requirements_test

import rego.v1

import data.charter.constitution.environment_profile.profile_requirements
import data.charter.constitution.testdata.fixtures

fips := {"category": "vulnerability-scan", "attribute": "fips_validated", "value": true, "text": "vulnerability-scan.fips_validated = true"}

fips_tools := {
	"sbom": {"tool": "syft"},
	"signing": {"tool": "cosign"},
	"provenance": {"tool": "witness"},
	"vulnerability-scan": {"tool": "grype-fips", "fips_validated": true},
}

# object.union merges deeply: replace the scanner's entry whole.
plain_tools := object.union(object.remove(fips_tools, ["vulnerability-scan"]), {"vulnerability-scan": {"tool": "grype"}})

scanned_pr := object.union(fixtures.pull_request, {"dependencies": {"changed": true, "scan": {"tool": "grype-fips", "findings": []}}})

requiring(doc, tools) := fixtures.with_context(doc, {
	"profile_requirements": [fips],
	"profile_file": {"path": ".charter/profile.toml", "present": true, "tools": tools},
})

test_no_requirements_allowed if {
	count(profile_requirements.deny) == 0 with input as fixtures.release
}

test_requirement_met_allowed if {
	count(profile_requirements.deny) == 0 with input as requiring(scanned_pr, fips_tools)
}

test_scanner_without_attribute_denied if {
	some entry in profile_requirements.deny with input as requiring(scanned_pr, plain_tools)
	entry.rule == "ENV-PROFILE-REQUIREMENTS-001"
	contains(entry.msg, "grype does not state fips_validated")
}

false_tools := object.union(fips_tools, {"vulnerability-scan": {"tool": "grype-fips", "fips_validated": false}})

string_tools := object.union(plain_tools, {"vulnerability-scan": {"tool": "grype-fips", "fips_validated": "true"}})

test_attribute_false_denied if {
	some entry in profile_requirements.deny with input as requiring(scanned_pr, false_tools)
	contains(entry.msg, "fips_validated = false")
}

test_attribute_string_true_denied if {
	some entry in profile_requirements.deny with input as requiring(scanned_pr, string_tools)
	entry.rule == "ENV-PROFILE-REQUIREMENTS-001"
}

test_release_without_profile_file_denied if {
	some entry in profile_requirements.deny with input as requiring(fixtures.release, {})
	contains(entry.msg, "names no vulnerability-scan tool")
}

test_pr_not_using_the_category_allowed if {
	count(profile_requirements.deny) == 0 with input as requiring(fixtures.pull_request, plain_tools)
}

proposing_plain := fixtures.with_context(fixtures.pull_request, {
		"profile_requirements": [fips],
		"profile_file": {"path": ".charter/profile.toml", "present": true, "tools": fips_tools, "proposed": plain_tools},
	})

test_proposed_profile_missing_requirement_denied if {
	some entry in profile_requirements.deny with input as proposing_plain
	contains(entry.msg, "proposed Environment Profile does not meet")
}

proposing_no_signing := fixtures.with_context(fixtures.pull_request, {"profile_file": {
	"path": ".charter/profile.toml", "present": true, "tools": fips_tools,
	"proposed": object.remove(fips_tools, ["signing"]),
}})

test_proposed_profile_missing_category_denied if {
	some entry in profile_requirements.deny with input as proposing_no_signing
	contains(entry.msg, "required category signing")
}

proposing_fips := fixtures.with_context(fixtures.pull_request, {
	"profile_requirements": [fips],
	"profile_file": {"path": ".charter/profile.toml", "present": true, "tools": plain_tools, "proposed": fips_tools},
})

test_proposed_profile_complete_allowed if {
	count(profile_requirements.deny) == 0 with input as proposing_fips
}
