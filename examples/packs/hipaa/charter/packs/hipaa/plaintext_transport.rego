# METADATA
# title: Infrastructure does not serve or accept plaintext connections
# description: >-
#   45 CFR 164.312(e)(1) (Transmission security), with its encryption
#   specification (e)(2)(ii). An added Terraform line is denied when it lets
#   data travel unencrypted: a load balancer listener with `protocol = "HTTP"`
#   (unless the listener block the patch shows redirects to HTTPS), CloudFront
#   `viewer_protocol_policy = "allow-all"`, `ssl_enforcement_enabled = false`,
#   `https_only = false`, `enable_https_traffic_only = false`,
#   `transit_encryption_enabled = false`, or a minimum TLS version below 1.2.
# related_resources:
#   - ref: https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-C/section-164.312#p-164.312(e)(1)
#     description: "45 CFR 164.312(e)(1) Standard: Transmission security"
#   - ref: https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-C/section-164.312#p-164.312(e)(2)(ii)
#     description: "45 CFR 164.312(e)(2)(ii) Encryption (Addressable)"
# custom:
#   id: HIPAA-164-312-E1-PLAINTEXT-001
#   severity: high
#   category: transmission-security
#   citation: 45 CFR 164.312(e)(1)
#   applies_to:
#     paths: ["**/*.tf", "**/*.tf.json"]
package charter.packs.hipaa.plaintext_transport

import rego.v1

import data.charter.packs.hipaa.lib.patch

files := patch.changed(["**/*.tf", "**/*.tf.json"])

patterns := [
	`(?i)^\s*"?viewer_protocol_policy"?\s*[:=]\s*"allow-all"`,
	`(?i)^\s*"?(ssl_enforcement_enabled|https_only|enable_https_traffic_only|https_traffic_only_enabled|transit_encryption_enabled)"?\s*[:=]\s*false\b`,
	`(?i)^\s*"?(min_tls_version|minimum_tls_version|minimal_tls_version|tls_version)"?\s*[:=]\s*"(TLS_?1_[01]|1\.[01]|TLSv1(\.[01])?|TLS1_[01])"`,
]

http_listener := `^\s*"?protocol"?\s*[:=]\s*"HTTP"`

redirects_to_https(file) if {
	some line in regex.find_n(`[^\n]*"HTTPS"[^\n]*`, patch.post_text(file), -1)
	regex.match(`(?i)^\s*"?protocol"?\s*[:=]\s*"HTTPS"`, line)
}

findings contains [file.path, trim_space(line)] if {
	some file in files
	some line in patch.candidates(file, `(?i)viewer_protocol_policy|ssl_enforcement_enabled|https_only|https_traffic_only|transit_encryption_enabled|tls_version`)
	some p in patterns
	regex.match(p, line)
}

findings contains [file.path, trim_space(line)] if {
	some file in files
	some line in patch.candidates(file, `"HTTP"`)
	regex.match(http_listener, line)
	not redirects_to_https(file)
}

deny contains {"rule": "HIPAA-164-312-E1-PLAINTEXT-001", "msg": msg} if {
	some [path, line] in findings
	msg := sprintf("%s: `%s` lets data travel unencrypted; require TLS 1.2 or later (45 CFR 164.312(e)(1))", [path, line])
}
