# METADATA
# title: Security scanning is not removed from CI unreviewed
# description: >-
#   SOC 2 CC7.1 asks for detection and monitoring procedures that identify
#   configuration changes introducing vulnerabilities and newly discovered
#   vulnerabilities. A change that removes a security scanner from a workflow
#   (a removed line naming CodeQL, Trivy, Grype, Snyk, Semgrep, zizmor,
#   gitleaks, OSV-Scanner, pip-audit, npm audit or the dependency-review action
#   that no added line of the same file names again) or deletes the Dependabot
#   or Renovate configuration is asked about: a reviewer confirms the
#   detection moved elsewhere. Read from the patches.
# related_resources:
#   - ref: https://www.aicpa-cima.com/resources/download/2017-trust-services-criteria-with-revised-points-of-focus-2022
#     description: "AICPA Trust Services Criteria CC7.1: detection and monitoring procedures"
# custom:
#   id: SOC2-CC7-1-SCAN-REMOVED-001
#   severity: medium
#   category: monitoring
#   citation: SOC2 CC7.1
#   applies_to:
#     paths: [".github/workflows/*.yml", ".github/workflows/*.yaml", ".github/dependabot.yml", ".github/dependabot.yaml", "renovate.json", ".github/renovate.json", ".gitlab-ci.yml"]
package charter.packs.soc2.security_scan_removed

import rego.v1

import data.charter.packs.soc2.lib.patch

ci_files := patch.changed([".github/workflows/*.yml", ".github/workflows/*.yaml", ".gitlab-ci.yml"])

config_files := patch.changed([".github/dependabot.yml", ".github/dependabot.yaml", "renovate.json", ".github/renovate.json"])

scanner := `(?i)(codeql|trivy|grype|snyk|semgrep|zizmor|gitleaks|osv-scanner|pip-audit|npm audit|dependency-review-action)`

named(text) := {lower(m) | some m in regex.find_n(scanner, text, -1)}

ask contains {"rule": "SOC2-CC7-1-SCAN-REMOVED-001", "msg": msg} if {
	some file in ci_files
	removed := patch.removed_text(file)
	removed != ""
	gone := named(removed) - named(patch.added_text(file))
	count(gone) > 0
	msg := sprintf("%s: removes security scanning (%s); a reviewer confirms the detection still runs elsewhere", [file.path, concat(", ", sort(gone))])
}

ask contains {"rule": "SOC2-CC7-1-SCAN-REMOVED-001", "msg": msg} if {
	some file in config_files
	file.status == "removed"
	msg := sprintf("%s: deletes automated dependency updates; a reviewer confirms vulnerable dependencies are still found and updated", [file.path])
}
