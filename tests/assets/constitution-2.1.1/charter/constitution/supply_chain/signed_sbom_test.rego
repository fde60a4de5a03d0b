package charter.constitution.supply_chain.signed_sbom_test

import rego.v1

import data.charter.constitution.supply_chain.signed_sbom
import data.charter.constitution.testdata.fixtures

release_with(artifact) := object.union(fixtures.release, {"artifacts": [artifact]})

artifact := fixtures.release.artifacts[0]

test_signed_release_allowed if {
	count(signed_sbom.deny) == 0 with input as fixtures.release
}

test_unsigned_sbom_denied if {
	some entry in signed_sbom.deny with input as release_with(object.union(artifact, {"sbom": {"format": "spdx", "signed": false}}))
	entry.rule == "SC-SIGNED-SBOM-001"
	contains(entry.msg, "unsigned SBOM")
}

test_missing_sbom_denied if {
	some entry in signed_sbom.deny with input as release_with(object.union(artifact, {"sbom": null}))
	contains(entry.msg, "has no SBOM")
}

test_sbom_without_signed_flag_denied if {
	some entry in signed_sbom.deny with input as release_with(object.union(object.remove(artifact, ["sbom"]), {"sbom": {"format": "cyclonedx"}}))
	entry.rule == "SC-SIGNED-SBOM-001"
}

test_unsigned_sbom_when_not_required_allowed if {
	count(signed_sbom.deny) == 0 with input as fixtures.with_parameters(
		release_with(object.union(artifact, {"sbom": {"format": "spdx", "signed": false}})),
		{"require_signed_sbom": false},
	)
}

test_pull_request_with_unsigned_sbom_allowed if {
	count(signed_sbom.deny) == 0 with input as object.union(
		fixtures.pull_request,
		{"artifacts": [object.union(artifact, {"sbom": {"format": "spdx", "signed": false}})]},
	)
}

# 2.0.0: the verification error is in the message; only exactly true is signed.

tampered_sbom := release_with(object.union(artifact, {"sbom": {
	"format": "cyclonedx",
	"signed": false,
	"error": "signature does not verify: the DSSE payload digest does not match",
}}))

blank_error_sbom := release_with(object.union(artifact, {"sbom": {"format": "cyclonedx", "signed": false, "error": "  "}}))

signed_as_string_sbom := release_with(object.union(artifact, {"sbom": {"format": "cyclonedx", "signed": "true"}}))

signed_as_number_sbom := release_with(object.union(artifact, {"sbom": {"format": "cyclonedx", "signed": 1}}))

test_sbom_with_verification_error_denied if {
	some entry in signed_sbom.deny with input as tampered_sbom
	entry.rule == "SC-SIGNED-SBOM-001"
	contains(entry.msg, "release artifact api has an unsigned SBOM: signature does not verify: the DSSE payload digest does not match; generate an SBOM")
}

test_sbom_with_blank_error_denied if {
	some entry in signed_sbom.deny with input as blank_error_sbom
	contains(entry.msg, "has an unsigned SBOM; generate")
}

test_sbom_signed_as_string_denied if {
	some entry in signed_sbom.deny with input as signed_as_string_sbom
	entry.rule == "SC-SIGNED-SBOM-001"
}

test_sbom_signed_as_number_denied if {
	some entry in signed_sbom.deny with input as signed_as_number_sbom
	entry.rule == "SC-SIGNED-SBOM-001"
}
