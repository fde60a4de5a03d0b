# METADATA
# title: Third-party scripts in web pages carry an integrity hash
# description: >-
#   PCI DSS v4.0 6.4.3: scripts loaded and executed in payment pages are
#   authorised and their integrity assured. An added `<script src=…>` that loads
#   from another origin (`https://`, `http://` or `//`) without an `integrity=`
#   attribute (Subresource Integrity) on the same line is denied. Read from the
#   added lines of web page and template files; a tag split over several lines
#   is judged on the line holding `src`.
# related_resources:
#   - ref: https://docs-prv.pcisecuritystandards.org/PCI%20DSS/Standard/PCI-DSS-v4_0.pdf
#     description: "PCI DSS v4.0, Requirement 6.4.3 (payment page scripts authorised, integrity assured)"
#   - ref: https://developer.mozilla.org/en-US/docs/Web/Security/Subresource_Integrity
#     description: "MDN: Subresource Integrity"
# custom:
#   id: PCI-6-4-3-SCRIPT-INTEGRITY-001
#   severity: high
#   category: web-protection
#   citation: PCI DSS v4.0 6.4.3
#   applies_to:
#     paths: ["**/*.html", "**/*.htm", "**/*.j2", "**/*.jinja", "**/*.jinja2", "**/*.hbs", "**/*.ejs", "**/*.erb", "**/*.php", "**/*.vue", "**/*.jsx", "**/*.tsx", "**/*.svelte", "**/*.twig", "**/*.cshtml"]
package charter.packs.pci_dss.script_integrity

import rego.v1

import data.charter.packs.pci_dss.lib.patch

files := patch.changed(["**/*.html", "**/*.htm", "**/*.j2", "**/*.jinja", "**/*.jinja2", "**/*.hbs", "**/*.ejs", "**/*.erb", "**/*.php", "**/*.vue", "**/*.jsx", "**/*.tsx", "**/*.svelte", "**/*.twig", "**/*.cshtml"])

external := `(?i)<script\b[^>]*\bsrc\s*=\s*["']?(https?:)?//`

deny contains {"rule": "PCI-6-4-3-SCRIPT-INTEGRITY-001", "msg": msg} if {
	some file in files
	some line in patch.candidates(file, `(?i)<script`)
	regex.match(external, line)
	not regex.match(`(?i)\bintegrity\s*=`, line)
	msg := sprintf("%s: `%s` loads a third-party script without an integrity hash; add integrity=\"sha384-…\" crossorigin=\"anonymous\" (PCI DSS 6.4.3)", [file.path, trim_space(line)])
}
