# METADATA
# title: Stored data stays encrypted
# description: >-
#   45 CFR 164.312(a)(2)(iv), an implementation specification of the access
#   control standard (a)(1), asks for a mechanism to encrypt and decrypt
#   electronic protected health information. An added Terraform line that turns
#   encryption at rest off is denied: `storage_encrypted = false` (RDS, DocumentDB,
#   Neptune), `encrypted = false` (EBS, EFS, Redshift), `at_rest_encryption_enabled
#   = false` (ElastiCache), `encrypt_at_rest { enabled = false }` (OpenSearch, as
#   an `enabled = false` line after `encrypt_at_rest`), `kms_key_id = ""`.
# related_resources:
#   - ref: https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-C/section-164.312#p-164.312(a)(2)(iv)
#     description: "45 CFR 164.312(a)(2)(iv) Encryption and decryption (Addressable)"
# custom:
#   id: HIPAA-164-312-A2IV-ENCRYPTION-001
#   severity: high
#   category: encryption
#   citation: 45 CFR 164.312(a)(2)(iv)
#   applies_to:
#     paths: ["**/*.tf", "**/*.tf.json"]
package charter.packs.hipaa.encryption_at_rest

import rego.v1

import data.charter.packs.hipaa.lib.patch

files := patch.changed(["**/*.tf", "**/*.tf.json"])

off := `(?i)^\s*"?(storage_encrypted|encrypted|at_rest_encryption_enabled|encryption_at_rest_enabled|enable_encryption)"?\s*[:=]\s*false\b`

empty_key := `(?i)^\s*"?kms_key_id"?\s*[:=]\s*""`

disabled(lines, i) if regex.match(off, lines[i].text)

disabled(lines, i) if regex.match(empty_key, lines[i].text)

# `encrypt_at_rest { enabled = false }` over two lines.
disabled(lines, i) if {
	i > 0
	regex.match(`(?i)^\s*"?enabled"?\s*[:=]\s*false\b`, lines[i].text)
	regex.match(`(?i)encrypt_at_rest|encryption_at_rest`, lines[i - 1].text)
}

deny contains {"rule": "HIPAA-164-312-A2IV-ENCRYPTION-001", "msg": msg} if {
	some file in files
	found := patch.candidates(file, `(?i)false|kms_key_id`)
	count(found) > 0
	lines := patch.post(file)
	some i, entry in lines
	entry.added
	entry.text in found
	disabled(lines, i)
	msg := sprintf("%s: `%s` turns encryption at rest off; ePHI must stay encrypted (45 CFR 164.312(a)(2)(iv))", [file.path, trim_space(entry.text)])
}
