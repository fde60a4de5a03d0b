package charter.packs.hipaa.plaintext_transport_test

import rego.v1

import data.charter.packs.hipaa.lib.fixtures_test.new_file
import data.charter.packs.hipaa.plaintext_transport as rule

http_only := "resource \"aws_lb_listener\" \"web\" {\n  port     = 80\n  protocol = \"HTTP\"\n  default_action {\n    type             = \"forward\"\n    target_group_arn = aws_lb_target_group.web.arn\n  }\n}"

http_redirect := "resource \"aws_lb_listener\" \"web\" {\n  port     = 80\n  protocol = \"HTTP\"\n  default_action {\n    type = \"redirect\"\n    redirect {\n      port        = \"443\"\n      protocol    = \"HTTPS\"\n      status_code = \"HTTP_301\"\n    }\n  }\n}"

test_plaintext_denied if {
	some e in rule.deny with input as {"files": [new_file("lb.tf", http_only)]}
	contains(e.msg, "protocol = \"HTTP\"")
	count(rule.deny) == 1 with input as {"files": [new_file("cdn.tf", "    viewer_protocol_policy = \"allow-all\"")]}
	count(rule.deny) == 1 with input as {"files": [new_file("db.tf", "  minimum_tls_version = \"TLS1_0\"")]}
	count(rule.deny) == 1 with input as {"files": [new_file("redis.tf", "  transit_encryption_enabled = false")]}
}

test_redirect_and_tls_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file("lb.tf", http_redirect)]}
	count(rule.deny) == 0 with input as {"files": [new_file("cdn.tf", "    viewer_protocol_policy = \"redirect-to-https\"\n  minimum_tls_version = \"TLS1_2\"")]}
}
