package charter.constitution.supply_chain.signed_provenance_test

import rego.v1

import data.charter.constitution.supply_chain.signed_provenance
import data.charter.constitution.testdata.fixtures

release_with(artifact) := object.union(fixtures.release, {"artifacts": [artifact]})

artifact := fixtures.release.artifacts[0]

test_signed_release_allowed if {
	count(signed_provenance.deny) == 0 with input as fixtures.release
}

test_unsigned_provenance_denied if {
	some entry in signed_provenance.deny with input as release_with(object.union(artifact, {"provenance": {"format": "in-toto", "signed": false}}))
	entry.rule == "SC-SIGNED-PROVENANCE-001"
	contains(entry.msg, "unsigned provenance")
}

test_missing_provenance_denied if {
	some entry in signed_provenance.deny with input as release_with(object.remove(artifact, ["provenance"]))
	contains(entry.msg, "has no provenance")
}

test_unsigned_provenance_when_not_required_allowed if {
	count(signed_provenance.deny) == 0 with input as fixtures.with_parameters(
		release_with(object.union(artifact, {"provenance": {"format": "in-toto", "signed": false}})),
		{"require_signed_provenance": false},
	)
}

# 2.0.0: the verification error is in the message; only exactly true is signed.

tampered_provenance := release_with(object.union(artifact, {"provenance": {
	"format": "in-toto",
	"signed": false,
	"error": "subject sha256:0f1e… does not match the artifact digest",
}}))

signed_as_string_provenance := release_with(object.union(artifact, {"provenance": {"format": "in-toto", "signed": "true"}}))

provenance_not_an_object := release_with(object.union(artifact, {"provenance": "in-toto"}))

test_provenance_with_verification_error_denied if {
	some entry in signed_provenance.deny with input as tampered_provenance
	entry.rule == "SC-SIGNED-PROVENANCE-001"
	contains(entry.msg, "release artifact api has unsigned provenance: subject sha256:0f1e… does not match the artifact digest; generate signed SLSA provenance")
}

test_provenance_signed_as_string_denied if {
	some entry in signed_provenance.deny with input as signed_as_string_provenance
	contains(entry.msg, "has unsigned provenance; generate")
}

test_provenance_that_is_not_an_object_denied if {
	some entry in signed_provenance.deny with input as provenance_not_an_object
	contains(entry.msg, "has no provenance")
}
