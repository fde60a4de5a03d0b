# METADATA
# title: A release lists the artifacts it publishes
# description: >-
#   SBOM and provenance checks apply per artifact, so a `release` that lists no
#   artifacts cannot be checked. It is paused (`ask`) until a human confirms
#   that it publishes nothing (e.g. a tag-only release), or the artifacts are
#   listed.
# related_resources:
#   - ref: https://slsa.dev/spec/v1.0/requirements
#     description: "SLSA v1.0 producer and build requirements"
# custom:
#   id: SC-RELEASE-ARTIFACTS-LISTED-001
#   severity: medium
#   category: supply-chain
#   citation: NIST SSDF PS.3.1
#   applies_to:
#     kinds: [release]
package charter.constitution.supply_chain.release_artifacts_listed

import rego.v1

ask contains {"rule": "SC-RELEASE-ARTIFACTS-LISTED-001", "msg": msg} if {
	input.kind == "release"
	not has_artifacts
	msg := "release lists no artifacts, so SBOM and provenance cannot be verified; list every published artifact with its digest, or have a human confirm it publishes nothing"
}

has_artifacts if {
	is_array(input.artifacts)
	count(input.artifacts) > 0
}
