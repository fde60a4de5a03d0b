# METADATA
# title: Infrastructure changes do not open access to everyone
# description: >-
#   45 CFR 164.312(a)(1) (Access control) requires technical policies and
#   procedures that allow access to systems holding electronic protected health
#   information only to persons or software programs granted access rights. An
#   added Terraform line that grants everyone access is denied: an IAM
#   statement allowing every action (`"*"`, `"s3:*"`), a policy principal of
#   `*`, a public canned ACL, S3 public access blocking turned off, or a GCS
#   binding to `allUsers`/`allAuthenticatedUsers`. Read from the patches' added
#   lines.
# related_resources:
#   - ref: https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-C/section-164.312#p-164.312(a)(1)
#     description: "45 CFR 164.312(a)(1) Standard: Access control"
# custom:
#   id: HIPAA-164-312-A1-ACCESS-CONTROL-001
#   severity: critical
#   category: access-control
#   citation: 45 CFR 164.312(a)(1)
#   applies_to:
#     paths: ["**/*.tf", "**/*.tf.json"]
package charter.packs.hipaa.access_control

import rego.v1

import data.charter.packs.hipaa.lib.patch

files := patch.changed(["**/*.tf", "**/*.tf.json"])

patterns := {
	"allows every action": `(?i)^\s*"?actions?"?\s*[:=]\s*\[?[^\]]*"(\*|[a-z0-9-]+:\*)"`,
	"grants a principal of everyone": `(?i)"?principals?"?\s*[:=]\s*(\{\s*"?aws"?\s*[:=]\s*)?\[?\s*"\*"`,
	"is a public canned ACL": `(?i)^\s*"?(acl|predefined_acl)"?\s*[:=]\s*"(public-read|public-read-write|authenticated-read|publicRead|publicReadWrite|authenticatedRead)"`,
	"turns public access blocking off": `(?i)^\s*"?(block_public_acls|block_public_policy|ignore_public_acls|restrict_public_buckets)"?\s*[:=]\s*false\b`,
	"binds everyone": `"(allUsers|allAuthenticatedUsers)"`,
}

deny contains {"rule": "HIPAA-164-312-A1-ACCESS-CONTROL-001", "msg": msg} if {
	some file in files
	some line in patch.candidates(file, `(?i)action|principal|acl|block_public|ignore_public|restrict_public|allUsers|allAuthenticatedUsers`)
	some what, p in patterns
	regex.match(p, line)
	msg := sprintf("%s: `%s` %s; access to ePHI systems must be limited to those granted it (45 CFR 164.312(a)(1))", [file.path, trim_space(line), what])
}
