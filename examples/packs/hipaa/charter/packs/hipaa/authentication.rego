# METADATA
# title: Infrastructure changes do not turn authentication off
# description: >-
#   45 CFR 164.312(d) (Person or entity authentication) requires procedures to
#   verify that a person or entity seeking access to electronic protected health
#   information is the one claimed. An added Terraform line that lets callers in
#   without authenticating is denied: an API Gateway method or route, or a
#   Lambda function URL, with authorization `NONE`; `mfa_configuration = "OFF"`
#   (Cognito); `anonymous_auth_enabled = true` (OpenSearch);
#   `iam_database_authentication_enabled = false` or
#   `local_authentication_disabled = false`.
# related_resources:
#   - ref: https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-C/section-164.312#p-164.312(d)
#     description: "45 CFR 164.312(d) Standard: Person or entity authentication"
# custom:
#   id: HIPAA-164-312-D-AUTHENTICATION-001
#   severity: critical
#   category: authentication
#   citation: 45 CFR 164.312(d)
#   applies_to:
#     paths: ["**/*.tf", "**/*.tf.json"]
package charter.packs.hipaa.authentication

import rego.v1

import data.charter.packs.hipaa.lib.patch

files := patch.changed(["**/*.tf", "**/*.tf.json"])

patterns := [
	`(?i)^\s*"?(authorization|authorization_type|auth_type)"?\s*[:=]\s*"NONE"`,
	`(?i)^\s*"?mfa_configuration"?\s*[:=]\s*"OFF"`,
	`(?i)^\s*"?anonymous_auth_enabled"?\s*[:=]\s*true\b`,
	`(?i)^\s*"?(iam_database_authentication_enabled|local_authentication_disabled)"?\s*[:=]\s*false\b`,
]

deny contains {"rule": "HIPAA-164-312-D-AUTHENTICATION-001", "msg": msg} if {
	some file in files
	some line in patch.candidates(file, `(?i)authorization|auth_type|mfa_configuration|anonymous_auth_enabled|iam_database_authentication_enabled|local_authentication_disabled`)
	some p in patterns
	regex.match(p, line)
	msg := sprintf("%s: `%s` lets callers in without authenticating; ePHI access must verify who is asking (45 CFR 164.312(d))", [file.path, trim_space(line)])
}
