# METADATA
# title: Dependency changes carry a vulnerability scan that audited them
# description: >-
#   A proposal whose dependencies changed (`dependencies.changed == true`, or a
#   non-empty `dependencies.changes`) must carry the result of a vulnerability
#   scan (`dependencies.scan`, an object naming the scanning `tool`; a scan
#   with no `findings` found nothing). A scan that audited nothing is not a
#   scan: when `scan.audited` is present it must be exactly true, and a scan
#   with `audited: false` (e.g. pip-audit offline, which skips every package
#   and still reports "No known vulnerabilities found") is denied with the
#   first reasons of `scan.not_audited`. Charter counts only the scans it
#   read from the scanner's own output (evidence): a scan the proposal merely
#   declares is `audited: false` with that reason. Run a profile scanner (e.g.
#   grype, trivy, osv-scanner) with its vulnerability database and attach its
#   output as evidence.
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

#: How many not_audited reasons a message shows.
shown := 3

scan := object.get(input, ["dependencies", "scan"], null)

# The set judges the scan when dependencies changed: `dependencies.changed` is
# true, or `dependencies.changes` is a non-empty list. Each problem has one body
# per way, that way first: charter.policy.guards proves the set empty for a
# decision whose dependencies did not change, and Charter skips it.
deny contains {"rule": "SC-DEPENDENCY-SCAN-001", "msg": no_scan} if {
	input.dependencies.changed == true
	not scanned
}

deny contains {"rule": "SC-DEPENDENCY-SCAN-001", "msg": no_scan} if {
	changes := input.dependencies.changes
	is_array(changes)
	count(changes) > 0
	not scanned
}

# `scan.audited` is defined when the scan is an object with that key (null too).
deny contains {"rule": "SC-DEPENDENCY-SCAN-001", "msg": audited_nothing} if {
	input.dependencies.changed == true
	input.dependencies.scan.audited != true
	scanned
}

deny contains {"rule": "SC-DEPENDENCY-SCAN-001", "msg": audited_nothing} if {
	changes := input.dependencies.changes
	is_array(changes)
	count(changes) > 0
	input.dependencies.scan.audited != true
	scanned
}

no_scan := "dependencies changed but no vulnerability scan is attached; run a profile scanner (e.g. grype) and add its result as dependencies.scan with the tool name and findings"

audited_nothing := sprintf(
	"dependencies changed but the attached %s scan audited nothing (audited: %s; %s); attach the scanner's own JSON output as evidence (--evidence, or the runner's evidence) from a run that audited the packages, its vulnerability database available (e.g. grype, trivy, osv-scanner, or pip-audit online)",
	[scan.tool, json.marshal(scan.audited), reasons],
)

# An attached scan names its tool and lists its findings (or none). `tool` is
# undefined unless the scan is an object with that key.
scanned if {
	tool := input.dependencies.scan.tool
	is_string(tool)
	tool != ""
	is_array(object.get(input.dependencies.scan, "findings", []))
}

not_audited := [clipped(reason_text(r)) | some r in scan.not_audited] if is_array(scan.not_audited)

else := []

reasons := "no reason recorded" if {
	count(not_audited) == 0
} else := concat("; ", not_audited) if {
	count(not_audited) <= shown
} else := sprintf("%s; and %d more", [concat("; ", array.slice(not_audited, 0, shown)), count(not_audited) - shown])

reason_text(r) := r if {
	is_string(r)
} else := sprintf("%s: %s", [label(r), r.reason]) if {
	is_object(r)
	is_string(r.reason)
} else := json.marshal(r)

label(r) := r.package if is_string(r.package)

else := r.name if is_string(r.name)

else := "(unnamed package)"

# Reasons come from tool output: a message shows at most `limit` characters of each.
limit := 200

clipped(value) := value if {
	count(value) <= limit
} else := sprintf("%s… (%d characters)", [substring(value, 0, limit), count(value)])
