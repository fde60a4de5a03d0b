package charter.packs.soc2.audit_logging_test

import rego.v1

import data.charter.packs.soc2.audit_logging as rule
import data.charter.packs.soc2.lib.fixtures_test.modified_file
import data.charter.packs.soc2.lib.fixtures_test.new_file

trail := "resource \"aws_cloudtrail\" \"main\" {\n  name                       = \"main\"\n  is_multi_region_trail      = true\n  enable_log_file_validation = true\n}"

test_disabling_denied if {
	some e in rule.deny with input as {"files": [modified_file("trail.tf", "-  enable_logging = true\n+  enable_logging = false")]}
	contains(e.msg, "enable_logging = false")
}

test_removing_trail_asks if {
	count(rule.ask) == 1 with input as {"files": [{"path": "trail.tf", "status": "removed", "patch": "@@ -1,2 +0,0 @@\n-resource \"aws_cloudtrail\" \"main\" {\n-}\n"}]}
}

test_enabled_logging_and_moved_resource_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file("trail.tf", trail)]}
	count(rule.ask) == 0 with input as {"files": [modified_file("trail.tf", "-resource \"aws_cloudtrail\" \"main\" {\n+resource \"aws_cloudtrail\" \"main\" {")]}
}
