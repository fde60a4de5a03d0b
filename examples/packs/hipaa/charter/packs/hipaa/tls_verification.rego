# METADATA
# title: Code does not turn TLS certificate verification off
# description: >-
#   45 CFR 164.312(e)(1) (Transmission security) requires technical security
#   measures against unauthorised access to electronic protected health
#   information transmitted over a network. Turning off certificate
#   verification makes TLS open to interception. Added source lines are denied
#   when they do: Python `verify=False`, `ssl._create_unverified_context`,
#   `CERT_NONE`; Go `InsecureSkipVerify: true`; Node `rejectUnauthorized: false`,
#   `NODE_TLS_REJECT_UNAUTHORIZED=0`; curl `-k`/`--insecure`; PostgreSQL
#   `sslmode=disable`; Java `TrustAllCerts`/`NoopHostnameVerifier`. Test files are
#   not judged.
# related_resources:
#   - ref: https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-C/section-164.312#p-164.312(e)(1)
#     description: "45 CFR 164.312(e)(1) Standard: Transmission security"
#   - ref: https://cwe.mitre.org/data/definitions/295.html
#     description: "CWE-295: Improper Certificate Validation"
# custom:
#   id: HIPAA-164-312-E1-TLS-VERIFY-001
#   severity: high
#   category: transmission-security
#   citation: 45 CFR 164.312(e)(1)
package charter.packs.hipaa.tls_verification

import rego.v1

import data.charter.packs.hipaa.lib.patch

patterns := [
	`\bverify\s*=\s*False\b`,
	`ssl\._create_unverified_context|\bCERT_NONE\b`,
	`InsecureSkipVerify\s*:\s*true`,
	`rejectUnauthorized\s*:\s*false`,
	`NODE_TLS_REJECT_UNAUTHORIZED\s*[=:]\s*["']?0`,
	`\bcurl\b.*\s(-[a-zA-Z]*k[a-zA-Z]*|--insecure)\b`,
	`(?i)sslmode\s*=\s*disable`,
	`TrustAllCerts|NoopHostnameVerifier|ALLOW_ALL_HOSTNAME_VERIFIER`,
]

spec_or_test_file := `(^|/)(tests?|spec|__tests__|testdata)/|(^|/)test_[^/]*$|_test\.[a-z]+$|\.(test|spec)\.[a-z]+$`

# What every pattern's match holds, within one line (`[^\S\n]` is `\s` without the
# newline).
prefilter := `verify[^\S\n]*=[^\S\n]*False|_create_unverified_context|CERT_NONE|InsecureSkipVerify|rejectUnauthorized|NODE_TLS_REJECT_UNAUTHORIZED|curl.*[^\S\n](-[a-zA-Z]*k|--insecure)|(?i:sslmode)|TrustAllCerts|NoopHostnameVerifier|ALLOW_ALL_HOSTNAME_VERIFIER`

deny contains {"rule": "HIPAA-164-312-E1-TLS-VERIFY-001", "msg": msg} if {
	some file in input.files
	not regex.match(spec_or_test_file, file.path)
	some line in patch.within(patch.candidates(file, prefilter), concat("|", patterns))
	some p in patterns
	regex.match(p, line)
	msg := sprintf("%s: `%s` turns TLS certificate verification off; ePHI in transit must be protected (45 CFR 164.312(e)(1))", [file.path, trim_space(line)])
}
