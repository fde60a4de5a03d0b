# METADATA
# title: Workflows do not grant the token every write permission
# description: >-
#   `permissions: write-all` gives the workflow's GITHUB_TOKEN write access to
#   contents, packages, actions, pull requests and every other scope, so any
#   step (or compromised action) can push code or publish packages. A change that
#   adds it at the workflow or job level is denied: grant only the scopes the
#   job needs. Read from the patch's added lines (new and modified workflows).
# related_resources:
#   - ref: https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/controlling-permissions-for-github_token
#     description: "GitHub Docs: Controlling permissions for GITHUB_TOKEN"
#   - ref: https://cwe.mitre.org/data/definitions/250.html
#     description: "CWE-250: Execution with Unnecessary Privileges"
# custom:
#   id: CI-GHA-WRITE-ALL-001
#   severity: high
#   category: ci
#   citation: CWE-250 (GitHub Docs, GITHUB_TOKEN permissions)
#   applies_to:
#     paths: [".github/workflows/*.yml", ".github/workflows/*.yaml"]
package charter.packs.community_ci.github_actions.write_all

import rego.v1

import data.charter.packs.community_ci.github_actions.workflows
import data.charter.packs.community_ci.lib.patch

deny contains {"rule": "CI-GHA-WRITE-ALL-001", "msg": msg} if {
	some file in workflows.files
	some line in patch.candidates(file, "write-all")
	regex.match(`^\s*["']?permissions["']?\s*:\s*["']?write-all["']?\s*(#.*)?$`, line)
	msg := sprintf("%s: `permissions: write-all` grants the token every write scope; list only the scopes the job needs", [file.path])
}
