# METADATA
# title: Stored ePHI is protected from improper destruction
# description: >-
#   45 CFR 164.312(c)(1) (Integrity) requires policies and procedures to protect
#   electronic protected health information from improper alteration or
#   destruction. An added Terraform line that removes a safeguard against losing
#   stored data — `deletion_protection = false`, `skip_final_snapshot = true`,
#   `force_destroy = true`, `prevent_destroy = false`, `backup_retention_period
#   = 0`, S3 versioning `status = "Suspended"`/`"Disabled"` — is denied for a
#   proposal to the `production` environment and asked about otherwise (a
#   scratch environment may have a reason; a reviewer decides).
# related_resources:
#   - ref: https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-C/section-164.312#p-164.312(c)(1)
#     description: "45 CFR 164.312(c)(1) Standard: Integrity"
# custom:
#   id: HIPAA-164-312-C1-INTEGRITY-001
#   severity: high
#   category: data-protection
#   citation: 45 CFR 164.312(c)(1)
#   applies_to:
#     paths: ["**/*.tf", "**/*.tf.json"]
package charter.packs.hipaa.integrity

import rego.v1

import data.charter.packs.hipaa.lib.patch

files := patch.changed(["**/*.tf", "**/*.tf.json"])

patterns := [
	`(?i)^\s*"?(deletion_protection|prevent_destroy|deletion_protection_enabled)"?\s*[:=]\s*false\b`,
	`(?i)^\s*"?(skip_final_snapshot|force_destroy)"?\s*[:=]\s*true\b`,
	`(?i)^\s*"?backup_retention_period"?\s*[:=]\s*0\b`,
	`(?i)^\s*"?status"?\s*[:=]\s*"(Suspended|Disabled)"`,
]

findings contains [file.path, trim_space(line)] if {
	some file in files
	some line in patch.candidates(file, `(?i)deletion_protection|prevent_destroy|skip_final_snapshot|force_destroy|backup_retention_period|status`)
	some p in patterns
	regex.match(p, line)
}

production if input.environment == "production"

deny contains {"rule": "HIPAA-164-312-C1-INTEGRITY-001", "msg": msg} if {
	production
	some [path, line] in findings
	msg := sprintf("%s: `%s` lets stored ePHI be destroyed or overwritten without recovery in production (45 CFR 164.312(c)(1))", [path, line])
}

ask contains {"rule": "HIPAA-164-312-C1-INTEGRITY-001", "msg": msg} if {
	not production
	some [path, line] in findings
	msg := sprintf("%s: `%s` removes a safeguard against destroying stored data; a reviewer confirms no ePHI lives there (45 CFR 164.312(c)(1))", [path, line])
}
