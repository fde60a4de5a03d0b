# METADATA
# title: Critical and high vulnerabilities with a fix are fixed
# description: >-
#   PCI DSS v4.0 6.3.3: system components are protected from known
#   vulnerabilities by installing patches; critical ones within one month of
#   release. Whenever the proposal carries a dependency scan (a pull request,
#   merge, push or release; whether or not its dependencies changed), a
#   `critical` or `high` finding that names a fixed version (`fixed_in`) is
#   denied: the fix exists, take it. Findings without a fix are left to the
#   constitution's threshold rule.
# related_resources:
#   - ref: https://docs-prv.pcisecuritystandards.org/PCI%20DSS/Standard/PCI-DSS-v4_0.pdf
#     description: "PCI DSS v4.0, Requirement 6.3.3 (known vulnerabilities patched; critical within one month)"
# custom:
#   id: PCI-6-3-3-FIXABLE-VULN-001
#   severity: high
#   category: vulnerability-management
#   citation: PCI DSS v4.0 6.3.3
package charter.packs.pci_dss.fixable_vulnerabilities

import rego.v1

blocking := {"critical", "high"}

deny contains {"rule": "PCI-6-3-3-FIXABLE-VULN-001", "msg": msg} if {
	findings := input.dependencies.scan.findings
	is_array(findings)
	some f in findings
	is_object(f)
	is_string(f.severity)
	lower(trim_space(f.severity)) in blocking
	is_string(f.fixed_in)
	trim_space(f.fixed_in) != ""
	msg := sprintf("%s (%s) in %v %v is fixed in %s; upgrade before this change goes out (PCI DSS 6.3.3)", [f.id, lower(f.severity), object.get(f, "package", "a dependency"), object.get(f, "version", ""), f.fixed_in])
}
