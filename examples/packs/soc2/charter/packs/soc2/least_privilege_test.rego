package charter.packs.soc2.least_privilege_test

import rego.v1

import data.charter.packs.soc2.least_privilege

test_wildcard_action_in_terraform_denied if {
	some entry in least_privilege.deny with input as {"files": [{
		"path": "infra/iam.tf",
		"status": "modified",
		"patch": "@@ -1 +1 @@\n+  actions = [\"s3:*\"]\n",
	}]}
	entry.rule == "SOC2-CC6-1-LEAST-PRIVILEGE-001"
}

test_scoped_action_allowed if {
	count(least_privilege.deny) == 0 with input as {"files": [{
		"path": "infra/iam.tf",
		"status": "modified",
		"patch": "+  actions = [\"s3:GetObject\"]\n",
	}]}
}

test_removed_wildcard_line_allowed if {
	count(least_privilege.deny) == 0 with input as {"files": [{
		"path": "policy.json",
		"status": "modified",
		"patch": "-  \"Action\": \"*\",\n+  \"Action\": \"s3:GetObject\",\n",
	}]}
}

test_file_without_patch_allowed if {
	count(least_privilege.deny) == 0 with input as {"files": [{"path": "big.json", "status": "added", "patch": null, "patch_omitted": "too large"}]}
}
