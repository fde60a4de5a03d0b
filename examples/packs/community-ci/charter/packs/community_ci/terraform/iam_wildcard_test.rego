package charter.packs.community_ci.terraform.iam_wildcard_test

import rego.v1

import data.charter.packs.community_ci.lib.fixtures_test.modified_file
import data.charter.packs.community_ci.lib.fixtures_test.new_file
import data.charter.packs.community_ci.terraform.iam_wildcard as rule

hcl_list := `data "aws_iam_policy_document" "ci" {
  statement {
    effect = "Allow"
    actions = [
      "s3:GetObject",
      "s3:*",
    ]
    resources = ["*"]
  }
}`

hcl_partial := replace(hcl_list, `"s3:*",`, `"s3:Get*",`)

test_inline_wildcards_denied if {
	some e in rule.deny with input as {"files": [new_file("iam.tf", `  actions = ["*"]`)]}
	contains(e.msg, "allows every action")
	count(rule.deny) == 1 with input as {"files": [new_file("iam.tf", `      Action   = ["s3:GetObject", "iam:*"]`)]}
	count(rule.deny) == 1 with input as {"files": [new_file("policy.tf.json", `        "Action": "*",`)]}
}

test_wildcard_item_of_a_multiline_actions_list_denied if {
	count(rule.deny) == 1 with input as {"files": [new_file("modules/ci/iam.tf", hcl_list)]}
}

test_wildcard_resources_and_partial_wildcards_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file("iam.tf", hcl_partial)]}
	count(rule.deny) == 0 with input as {"files": [new_file("iam.tf", "  resources = [\n    \"*\",\n  ]")]}
}

test_removed_wildcard_allowed if {
	count(rule.deny) == 0 with input as {"files": [modified_file("iam.tf", "-    actions = [\"s3:*\"]\n+    actions = [\"s3:GetObject\"]")]}
}

test_other_files_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file("docs/iam.md", `actions = ["*"]`)]}
}
