package charter.packs.hipaa.authentication_test

import rego.v1

import data.charter.packs.hipaa.authentication as rule
import data.charter.packs.hipaa.lib.fixtures_test.new_file

open_method := "resource \"aws_api_gateway_method\" \"records\" {\n  http_method   = \"GET\"\n  authorization = \"NONE\"\n}"

test_no_authentication_denied if {
	some e in rule.deny with input as {"files": [new_file("api.tf", open_method)]}
	contains(e.msg, "authorization = \"NONE\"")
	count(rule.deny) == 1 with input as {"files": [new_file("auth.tf", "  mfa_configuration = \"OFF\"")]}
	count(rule.deny) == 1 with input as {"files": [new_file("search.tf", "    anonymous_auth_enabled = true")]}
}

test_authenticated_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file("api.tf", replace(open_method, "\"NONE\"", "\"AWS_IAM\""))]}
	count(rule.deny) == 0 with input as {"files": [new_file("auth.tf", "  mfa_configuration = \"ON\"")]}
}
