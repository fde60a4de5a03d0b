# METADATA
# title: Audit logging is not turned off
# description: >-
#   SOC 2 CC7.2 asks that system components are monitored for anomalies, which
#   needs their logs. An added Terraform line that turns audit logging off
#   (`enable_logging = false`, `enable_log_file_validation = false`,
#   `is_multi_region_trail = false`, `enable_log_delivery`/`logging_enabled =
#   false`) is denied; removing a CloudTrail trail, VPC flow log, S3 access
#   logging, Azure diagnostic setting or GCP logging sink resource is asked
#   about. Read from the patches of `.tf` files.
# related_resources:
#   - ref: https://www.aicpa-cima.com/resources/download/2017-trust-services-criteria-with-revised-points-of-focus-2022
#     description: "AICPA Trust Services Criteria CC7.2: monitoring system components for anomalies"
#   - ref: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/best-practices-security.html
#     description: "AWS CloudTrail User Guide: security best practices"
# custom:
#   id: SOC2-CC7-2-AUDIT-LOGGING-001
#   severity: high
#   category: monitoring
#   citation: SOC2 CC7.2
#   applies_to:
#     paths: ["**/*.tf", "**/*.tf.json"]
package charter.packs.soc2.audit_logging

import rego.v1

import data.charter.packs.soc2.lib.patch

files := patch.changed(["**/*.tf", "**/*.tf.json"])

disabling := `(?i)^\s*"?(enable_logging|enable_log_file_validation|is_multi_region_trail|enable_log_delivery|logging_enabled|enable_audit_logging)"?\s*[:=]\s*false\b`

resources := `aws_cloudtrail|aws_flow_log|aws_s3_bucket_logging|azurerm_monitor_diagnostic_setting|google_logging_project_sink|google_project_iam_audit_config`

logging_resource := concat("", [`^\s*resource\s+"(`, resources, `)"`])

deny contains {"rule": "SOC2-CC7-2-AUDIT-LOGGING-001", "msg": msg} if {
	some file in files
	some line in patch.candidates(file, `(?i)enable_logging|enable_log_file_validation|is_multi_region_trail|enable_log_delivery|logging_enabled|enable_audit_logging`)
	regex.match(disabling, line)
	msg := sprintf("%s: `%s` turns audit logging off; keep it on (monitoring needs the logs)", [file.path, trim_space(line)])
}

ask contains {"rule": "SOC2-CC7-2-AUDIT-LOGGING-001", "msg": msg} if {
	some file in files
	some line in patch.removed_candidates(file, resources)
	regex.match(logging_resource, line)
	not line in patch.candidates(file, resources)
	msg := sprintf("%s: removes `%s`; a reviewer confirms the logs are still collected", [file.path, trim_space(line)])
}
