# METADATA
# title: Terraform IAM policies do not allow every action
# description: >-
#   An IAM policy statement whose actions are `*` or a whole service (`s3:*`,
#   `iam:*`) grants far more than any one role needs; with `iam:*` it grants the
#   power to grant anything. The change's added Terraform lines are read (new and
#   modified files): HCL `actions = [...]`, `jsonencode` `Action = ...` and JSON
#   `"Action": ...`, including a wildcard on its own line inside an `actions`
#   list the patch shows opening. Partial wildcards (`s3:Get*`) are not judged.
# related_resources:
#   - ref: https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege
#     description: "AWS IAM User Guide: apply least-privilege permissions"
#   - ref: https://cwe.mitre.org/data/definitions/732.html
#     description: "CWE-732: Incorrect Permission Assignment for Critical Resource"
# custom:
#   id: CI-TF-IAM-WILDCARD-001
#   severity: high
#   category: infrastructure
#   citation: CWE-732 (AWS IAM best practices, least privilege)
#   applies_to:
#     paths: ["**/*.tf", "**/*.tf.json"]
package charter.packs.community_ci.terraform.iam_wildcard

import rego.v1

import data.charter.packs.community_ci.lib.patch

files := patch.changed(["**/*.tf", "**/*.tf.json"])

wildcard := `"(\*|[A-Za-z0-9-]+:\*)"`

# `actions = ["s3:*"]`, `Action = "*"`, `"Action": ["iam:*", ...]` on one line.
inline(line) if regex.match(concat("", [`(?i)^\s*"?actions?"?\s*[:=]\s*\[?[^\]]*`, wildcard]), line)

# A list item alone on its line.
item(line) if regex.match(concat("", [`^\s*`, wildcard, `\s*,?\s*$`]), line)

opener(line) if regex.match(`(?i)^\s*"?actions?"?\s*[:=]\s*\[\s*$`, line)

# The nearest list opener above line i, with no list closed in between.
in_actions_list(lines, i) if {
	i > 0
	above := [j | some j in numbers.range(0, i - 1); regex.match(`[\[\]]`, lines[j].text)]
	count(above) > 0
	opener(lines[max(above)].text)
}

deny contains {"rule": "CI-TF-IAM-WILDCARD-001", "msg": msg} if {
	some file in files
	some line in patch.candidates(file, wildcard)
	inline(line)
	msg := sprintf("%s: `%s` allows every action; list the actions the role needs", [file.path, trim_space(line)])
}

deny contains {"rule": "CI-TF-IAM-WILDCARD-001", "msg": msg} if {
	some file in files
	found := patch.candidates(file, wildcard)
	count(found) > 0
	lines := patch.post(file)
	some i, entry in lines
	entry.added
	entry.text in found
	item(entry.text)
	in_actions_list(lines, i)
	msg := sprintf("%s: `%s` in an actions list allows every action; list the actions the role needs", [file.path, trim_space(entry.text)])
}
