package charter.packs.hipaa.encryption_at_rest_test

import rego.v1

import data.charter.packs.hipaa.encryption_at_rest as rule
import data.charter.packs.hipaa.lib.fixtures_test.modified_file
import data.charter.packs.hipaa.lib.fixtures_test.new_file

opensearch := "resource \"aws_opensearch_domain\" \"records\" {\n  encrypt_at_rest {\n    enabled = false\n  }\n}"

test_encryption_off_denied if {
	some e in rule.deny with input as {"files": [new_file("db.tf", "  storage_encrypted = false")]}
	contains(e.msg, "storage_encrypted = false")
	count(rule.deny) == 1 with input as {"files": [new_file("search.tf", opensearch)]}
	count(rule.deny) == 1 with input as {"files": [new_file("ebs.tf", "  kms_key_id = \"\"")]}
}

test_encryption_on_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file("search.tf", replace(opensearch, "false", "true"))]}
	count(rule.deny) == 0 with input as {"files": [modified_file("db.tf", "-  storage_encrypted = false\n+  storage_encrypted = true")]}
	count(rule.deny) == 0 with input as {"files": [new_file("logging.tf", "  logging {\n    enabled = false\n  }")]}
}
