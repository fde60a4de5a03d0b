# METADATA
# title: Audit logs of ePHI systems are kept
# description: >-
#   45 CFR 164.312(b) (Audit controls) requires mechanisms that record and
#   examine activity in systems containing electronic protected health
#   information. An added Terraform line turning audit logging off
#   (`enable_logging`, `enable_log_file_validation`, `logging_enabled`,
#   `enable_audit_logging` = false; `log_retention_days`/`retention_in_days` = 0)
#   is denied; removing a CloudTrail trail, VPC flow log, S3 access logging,
#   RDS/Azure diagnostic or GCP audit-config resource is asked about.
# related_resources:
#   - ref: https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-C/section-164.312#p-164.312(b)
#     description: "45 CFR 164.312(b) Standard: Audit controls"
# custom:
#   id: HIPAA-164-312-B-AUDIT-CONTROLS-001
#   severity: high
#   category: monitoring
#   citation: 45 CFR 164.312(b)
#   applies_to:
#     paths: ["**/*.tf", "**/*.tf.json"]
package charter.packs.hipaa.audit_controls

import rego.v1

import data.charter.packs.hipaa.lib.patch

files := patch.changed(["**/*.tf", "**/*.tf.json"])

disabling := [
	`(?i)^\s*"?(enable_logging|enable_log_file_validation|logging_enabled|enable_audit_logging|is_multi_region_trail)"?\s*[:=]\s*false\b`,
	`(?i)^\s*"?(log_retention_days|retention_in_days)"?\s*[:=]\s*0\b`,
]

resources := `aws_cloudtrail|aws_flow_log|aws_s3_bucket_logging|aws_db_instance_automated_backups_replication|azurerm_monitor_diagnostic_setting|google_project_iam_audit_config|google_logging_project_sink`

logging_resource := concat("", [`^\s*resource\s+"(`, resources, `)"`])

deny contains {"rule": "HIPAA-164-312-B-AUDIT-CONTROLS-001", "msg": msg} if {
	some file in files
	some line in patch.candidates(file, `(?i)enable_logging|enable_log_file_validation|logging_enabled|enable_audit_logging|is_multi_region_trail|log_retention_days|retention_in_days`)
	some p in disabling
	regex.match(p, line)
	msg := sprintf("%s: `%s` turns audit logging off; ePHI systems must record activity (45 CFR 164.312(b))", [file.path, trim_space(line)])
}

ask contains {"rule": "HIPAA-164-312-B-AUDIT-CONTROLS-001", "msg": msg} if {
	some file in files
	some line in patch.removed_candidates(file, resources)
	regex.match(logging_resource, line)
	not line in patch.candidates(file, resources)
	msg := sprintf("%s: removes `%s`; a reviewer confirms the audit trail is still recorded (45 CFR 164.312(b))", [file.path, trim_space(line)])
}
