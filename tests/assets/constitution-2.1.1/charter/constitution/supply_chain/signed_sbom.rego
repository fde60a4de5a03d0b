# METADATA
# title: Every release artifact has a signed SBOM
# description: >-
#   When the parameter require_signed_sbom is true (the default), every
#   artifact of a `release` must carry an SBOM (`artifacts[].sbom`, CycloneDX
#   or SPDX) whose `signed` flag is exactly true (Charter sets it only when a
#   signature verified against the trust policy). When verification failed,
#   `sbom.error` says why and the message carries it. Generate the SBOM with a
#   profile tool (e.g. syft) and sign or attest it (e.g. cosign attest) before
#   releasing.
# related_resources:
#   - ref: https://slsa.dev/spec/v1.0/requirements
#     description: "SLSA v1.0 producer and build requirements"
#   - ref: https://csrc.nist.gov/pubs/sp/800/218/final
#     description: NIST SSDF PS.3.2
# custom:
#   id: SC-SIGNED-SBOM-001
#   severity: high
#   category: supply-chain
#   citation: NIST SSDF PS.3.2
#   applies_to:
#     kinds: [release]
package charter.constitution.supply_chain.signed_sbom

import rego.v1

artifacts := input.artifacts if is_array(input.artifacts)

else := []

deny contains {"rule": "SC-SIGNED-SBOM-001", "msg": msg} if {
	input.kind == "release"
	input.context.parameters.require_signed_sbom == true
	some artifact in artifacts
	problem := sbom_problem(artifact)
	msg := sprintf("release artifact %v %s; generate an SBOM and sign it (e.g. cosign attest --type cyclonedx) before releasing", [name(artifact), problem])
}

name(artifact) := object.get(artifact, "name", "(unnamed)") if is_object(artifact)

else := "(malformed)"

sbom_problem(artifact) := "has no SBOM" if {
	not is_object(object.get(artifact, "sbom", null))
} else := sprintf("has an unsigned SBOM: %s", [artifact.sbom.error]) if {
	object.get(artifact.sbom, "signed", false) != true
	is_string(object.get(artifact.sbom, "error", null))
	trim_space(artifact.sbom.error) != ""
} else := "has an unsigned SBOM" if {
	object.get(artifact.sbom, "signed", false) != true
}
