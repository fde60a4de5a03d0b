package charter.packs.hipaa.audit_controls_test

import rego.v1

import data.charter.packs.hipaa.audit_controls as rule
import data.charter.packs.hipaa.lib.fixtures_test.modified_file
import data.charter.packs.hipaa.lib.fixtures_test.new_file

flow_log := "resource \"aws_flow_log\" \"vpc\" {\n  log_destination = aws_cloudwatch_log_group.flow.arn\n  traffic_type    = \"ALL\"\n}"

test_logging_off_denied if {
	some e in rule.deny with input as {"files": [modified_file("trail.tf", "-  enable_log_file_validation = true\n+  enable_log_file_validation = false")]}
	contains(e.msg, "164.312(b)")
	count(rule.deny) == 1 with input as {"files": [new_file("logs.tf", "  retention_in_days = 0")]}
}

test_removed_flow_log_asks if {
	count(rule.ask) == 1 with input as {"files": [{"path": "vpc.tf", "status": "removed", "patch": "@@ -1,4 +0,0 @@\n-resource \"aws_flow_log\" \"vpc\" {\n-  traffic_type = \"ALL\"\n-}\n"}]}
}

test_new_flow_log_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file("vpc.tf", flow_log)]}
	count(rule.ask) == 0 with input as {"files": [new_file("vpc.tf", flow_log)]}
}
