# METADATA
# title: Every release artifact has signed provenance
# description: >-
#   When the parameter require_signed_provenance is true (the default), every
#   artifact of a `release` must carry build provenance
#   (`artifacts[].provenance`, e.g. in-toto/SLSA) whose `signed` flag is
#   exactly true (Charter sets it only when a signature verified against the
#   trust policy and its subject matched the artifact's digest). When
#   verification failed, `provenance.error` says why and the message carries
#   it. Produce it with a profile tool (e.g. slsa-github-generator) so
#   consumers can verify where and how the artifact was built.
# related_resources:
#   - ref: https://slsa.dev/spec/v1.0/requirements
#     description: "SLSA v1.0 producer and build requirements"
#   - ref: https://slsa.dev/spec/v1.0/levels
#     description: SLSA Build L3
# custom:
#   id: SC-SIGNED-PROVENANCE-001
#   severity: high
#   category: supply-chain
#   citation: SLSA L3
#   applies_to:
#     kinds: [release]
package charter.constitution.supply_chain.signed_provenance

import rego.v1

artifacts := input.artifacts if is_array(input.artifacts)

else := []

deny contains {"rule": "SC-SIGNED-PROVENANCE-001", "msg": msg} if {
	input.kind == "release"
	input.context.parameters.require_signed_provenance == true
	some artifact in artifacts
	problem := provenance_problem(artifact)
	msg := sprintf("release artifact %v %s; generate signed SLSA provenance (e.g. slsa-github-generator) before releasing", [name(artifact), problem])
}

name(artifact) := object.get(artifact, "name", "(unnamed)") if is_object(artifact)

else := "(malformed)"

provenance_problem(artifact) := "has no provenance" if {
	not is_object(object.get(artifact, "provenance", null))
} else := sprintf("has unsigned provenance: %s", [artifact.provenance.error]) if {
	object.get(artifact.provenance, "signed", false) != true
	is_string(object.get(artifact.provenance, "error", null))
	trim_space(artifact.provenance.error) != ""
} else := "has unsigned provenance" if {
	object.get(artifact.provenance, "signed", false) != true
}
