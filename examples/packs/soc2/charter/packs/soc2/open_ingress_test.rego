package charter.packs.soc2.open_ingress_test

import rego.v1

import data.charter.packs.soc2.lib.fixtures_test.modified_file
import data.charter.packs.soc2.lib.fixtures_test.new_file
import data.charter.packs.soc2.open_ingress as rule

security_group := `resource "aws_security_group" "web" {
  name = "web"
  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    from_port        = 0
    to_port          = 0
    protocol         = "-1"
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = ["::/0"]
  }
}`

test_open_egress_allowed_open_ingress_denied if {
	count(rule.deny) == 1 with input as {"files": [new_file("network/sg.tf", security_group)]}
	some e in rule.deny with input as {"files": [new_file("network/sg.tf", security_group)]}
	contains(e.msg, "0.0.0.0/0")
	count(rule.ask) == 0 with input as {"files": [new_file("network/sg.tf", security_group)]}
}

test_gcp_source_ranges_and_ingress_rule_resource_denied if {
	count(rule.deny) == 1 with input as {"files": [new_file("fw.tf", `  source_ranges = ["0.0.0.0/0"]`)]}
	count(rule.deny) == 1 with input as {"files": [new_file("sg.tf", "resource \"aws_vpc_security_group_ingress_rule\" \"ssh\" {\n  cidr_ipv4 = \"0.0.0.0/0\"\n}")]}
}

test_direction_not_shown_asks if {
	count(rule.ask) == 1 with input as {"files": [modified_file("sg.tf", "     to_port     = 443\n-    cidr_blocks = [\"10.0.0.0/8\"]\n+    cidr_blocks = [\"0.0.0.0/0\"]")]}
}

test_private_ranges_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file("sg.tf", replace(security_group, `["0.0.0.0/0"]`, `["10.0.0.0/8"]`))]}
	count(rule.ask) == 0 with input as {"files": [new_file("sg.tf", replace(security_group, `["0.0.0.0/0"]`, `["10.0.0.0/8"]`))]}
}
