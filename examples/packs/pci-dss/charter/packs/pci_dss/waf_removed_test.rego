package charter.packs.pci_dss.waf_removed_test

import rego.v1

import data.charter.packs.pci_dss.lib.fixtures_test.modified_file
import data.charter.packs.pci_dss.waf_removed as rule

test_removed_association_denied if {
	some e in rule.deny with input as {"files": [{"path": "edge/waf.tf", "status": "removed", "patch": "@@ -1,4 +0,0 @@\n-resource \"aws_wafv2_web_acl_association\" \"checkout\" {\n-  resource_arn = aws_lb.checkout.arn\n-  web_acl_arn  = aws_wafv2_web_acl.main.arn\n-}\n"}]}
	contains(e.msg, "6.4.2")
	count(rule.deny) == 1 with input as {"files": [modified_file("cdn.tf", "   enabled    = true\n-  web_acl_id = aws_wafv2_web_acl.main.arn")]}
}

test_changed_acl_allowed if {
	count(rule.deny) == 0 with input as {"files": [modified_file("cdn.tf", "-  web_acl_id = aws_wafv2_web_acl.old.arn\n+  web_acl_id = aws_wafv2_web_acl.main.arn")]}
	count(rule.deny) == 0 with input as {"files": [modified_file("lb.tf", "-  idle_timeout = 60\n+  idle_timeout = 120")]}
}
