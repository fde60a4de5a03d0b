# METADATA
# title: IAM policies grant least privilege
# description: >-
#   SOC 2 CC6.1 asks that logical access is restricted to what a role needs.
#   A change that adds an IAM policy statement allowing every action ("*") or
#   every action of a service ("s3:*") on every resource is denied. Read from
#   the added lines of the patch of each Terraform, JSON or YAML file (a file
#   without a patch, e.g. too large, is not read here).
# related_resources:
#   - ref: https://www.aicpa-cima.com/resources/download/2017-trust-services-criteria-with-revised-points-of-focus-2022
#     description: AICPA Trust Services Criteria CC6.1
# custom:
#   id: SOC2-CC6-1-LEAST-PRIVILEGE-001
#   severity: high
#   category: access-control
#   citation: SOC2 CC6.1
#   applies_to:
#     paths: ["**/*.tf", "**/*.json", "**/*.yaml", "**/*.yml"]
package charter.packs.soc2.least_privilege

import rego.v1

import data.charter.packs.soc2.lib.patch

# Infrastructure files where IAM statements live.
iam_files := patch.changed(["**/*.tf", "**/*.json", "**/*.yaml", "**/*.yml"])

wildcard_action(line) if regex.match(`(?i)"?actions?"?\s*[:=]\s*\[?\s*"(\*|[a-z0-9-]+:\*)"`, line)

deny contains {"rule": "SOC2-CC6-1-LEAST-PRIVILEGE-001", "msg": msg} if {
	some file in iam_files
	some line in patch.candidates(file, `\*"`)
	wildcard_action(line)
	msg := sprintf("%s adds a wildcard IAM action (%s); grant only the actions the role needs", [file.path, trim_space(line)])
}
