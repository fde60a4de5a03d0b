# METADATA
# title: Public-facing web applications keep their web application firewall
# description: >-
#   PCI DSS v4.0 6.4.2: public-facing web applications are protected by an
#   automated technical solution that detects and prevents web-based attacks
#   (a WAF). A Terraform change that removes a WAF association — an
#   `aws_wafv2_web_acl_association`, `aws_wafregional_web_acl_association`,
#   `azurerm_web_application_firewall_policy` or `google_compute_security_policy`
#   resource, or a `web_acl_id`, `web_acl_arn`, `firewall_policy_id` or
#   `security_policy` attribute — that no added line of the same file restores
#   is denied.
# related_resources:
#   - ref: https://docs-prv.pcisecuritystandards.org/PCI%20DSS/Standard/PCI-DSS-v4_0.pdf
#     description: "PCI DSS v4.0, Requirement 6.4.2 (automated technical solution for public-facing web applications)"
# custom:
#   id: PCI-6-4-2-WAF-REMOVED-001
#   severity: high
#   category: web-protection
#   citation: PCI DSS v4.0 6.4.2
#   applies_to:
#     paths: ["**/*.tf", "**/*.tf.json"]
package charter.packs.pci_dss.waf_removed

import rego.v1

import data.charter.packs.pci_dss.lib.patch

files := patch.changed(["**/*.tf", "**/*.tf.json"])

names := `aws_wafv2_web_acl_association|aws_wafregional_web_acl_association|azurerm_web_application_firewall_policy|google_compute_security_policy|web_acl_id|web_acl_arn|firewall_policy_id|security_policy`

waf := `^\s*(resource\s+"(aws_wafv2_web_acl_association|aws_wafregional_web_acl_association|azurerm_web_application_firewall_policy|google_compute_security_policy)"|"?(web_acl_id|web_acl_arn|firewall_policy_id|security_policy)"?\s*[:=])`

key(line) := regex.find_n(waf, line, 1)[0]

deny contains {"rule": "PCI-6-4-2-WAF-REMOVED-001", "msg": msg} if {
	some file in files
	restored := {trim_space(key(l)) | some l in patch.candidates(file, names); regex.match(waf, l)}
	some line in patch.removed_candidates(file, names)
	regex.match(waf, line)
	not trim_space(key(line)) in restored
	msg := sprintf("%s: removes `%s`, the web application firewall of a public-facing application (PCI DSS 6.4.2)", [file.path, trim_space(line)])
}
