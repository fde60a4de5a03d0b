package charter.packs.community_ci.terraform.public_bucket_test

import rego.v1

import data.charter.packs.community_ci.lib.fixtures_test.modified_file
import data.charter.packs.community_ci.lib.fixtures_test.new_file
import data.charter.packs.community_ci.terraform.public_bucket as rule

private_bucket := "resource \"aws_s3_bucket_public_access_block\" \"logs\" {\n  bucket                  = aws_s3_bucket.logs.id\n  block_public_acls       = true\n  block_public_policy     = true\n  ignore_public_acls      = true\n  restrict_public_buckets = true\n}\nresource \"aws_s3_bucket_acl\" \"logs\" {\n  acl = \"private\"\n}"

test_public_settings_denied if {
	some e in rule.deny with input as {"files": [new_file("s3.tf", `  acl    = "public-read"`)]}
	contains(e.msg, "a public canned ACL")
	count(rule.deny) == 2 with input as {"files": [new_file("s3.tf", "  block_public_acls   = false\n  block_public_policy = false")]}
	count(rule.deny) == 1 with input as {"files": [new_file("gcs.tf", `  members = ["allUsers"]`)]}
	count(rule.deny) == 1 with input as {"files": [new_file("gcs.tf", `  predefined_acl = "publicRead"`)]}
	count(rule.deny) == 1 with input as {"files": [new_file("az.tf", `  container_access_type = "blob"`)]}
	count(rule.deny) == 1 with input as {"files": [new_file("policy.tf", `      Principal = "*"`)]}
	count(rule.deny) == 1 with input as {"files": [new_file("policy.tf.json", `        "Principal": {"AWS": "*"},`)]}
}

test_private_settings_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file("s3.tf", private_bucket)]}
	count(rule.deny) == 0 with input as {"files": [new_file("policy.tf", `      Principal = { AWS = "arn:aws:iam::123456789012:root" }`)]}
}

test_turning_blocking_back_on_allowed if {
	count(rule.deny) == 0 with input as {"files": [modified_file("s3.tf", "-  block_public_acls = false\n+  block_public_acls = true")]}
}
