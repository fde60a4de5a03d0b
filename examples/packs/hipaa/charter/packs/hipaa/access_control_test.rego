package charter.packs.hipaa.access_control_test

import rego.v1

import data.charter.packs.hipaa.access_control as rule
import data.charter.packs.hipaa.lib.fixtures_test.modified_file
import data.charter.packs.hipaa.lib.fixtures_test.new_file

scoped := "data \"aws_iam_policy_document\" \"reader\" {\n  statement {\n    actions   = [\"s3:GetObject\"]\n    resources = [\"${aws_s3_bucket.records.arn}/*\"]\n  }\n}"

test_open_access_denied if {
	some e in rule.deny with input as {"files": [new_file("iam.tf", `    actions = ["s3:*"]`)]}
	contains(e.msg, "allows every action")
	count(rule.deny) == 1 with input as {"files": [new_file("bucket.tf", `  acl = "public-read"`)]}
	count(rule.deny) == 1 with input as {"files": [new_file("policy.tf", `      Principal = "*"`)]}
	count(rule.deny) == 1 with input as {"files": [new_file("gcs.tf", `  member = "allUsers"`)]}
}

test_scoped_access_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file("iam.tf", scoped)]}
	count(rule.deny) == 0 with input as {"files": [modified_file("bucket.tf", "-  acl = \"public-read\"\n+  acl = \"private\"")]}
}
