# METADATA
# title: Dependency changes carry a vulnerability scan
# description: >-
#   A proposal whose dependencies changed (`dependencies.changed == true`) must
#   carry the result of a vulnerability scan (`dependencies.scan`, an object
#   naming the scanning `tool`; a scan with no `findings` found nothing). Run a
#   profile scanner (e.g. grype, trivy, osv-scanner) and attach its result.
# related_resources:
#   - ref: https://slsa.dev/spec/v1.0/requirements
#     description: "SLSA v1.0 producer and build requirements"
#   - ref: https://csrc.nist.gov/pubs/sp/800/218/final
#     description: NIST SSDF PW.4.4
# custom:
#   id: SC-DEPENDENCY-SCAN-001
#   severity: high
#   category: supply-chain
#   citation: NIST SSDF PW.4.4
package charter.constitution.supply_chain.dependency_scan

import rego.v1

deny contains {"rule": "SC-DEPENDENCY-SCAN-001", "msg": msg} if {
	is_object(input.dependencies)
	input.dependencies.changed == true
	not scanned
	msg := "dependencies changed but no vulnerability scan is attached; run a profile scanner (e.g. grype) and add its result as dependencies.scan with the tool name and findings"
}

scanned if {
	scan := object.get(input.dependencies, "scan", null)
	is_object(scan)
	is_string(object.get(scan, "tool", null))
	scan.tool != ""
	is_array(object.get(scan, "findings", []))
}
