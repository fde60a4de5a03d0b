# METADATA
# title: Workflow steps do not print secrets
# description: >-
#   A `run:` line that echoes or prints a `${{ secrets.* }}` expression (or
#   `toJSON(secrets)`) writes the secret into the job log; log masking misses
#   transformed, split or multi-line values. The change's added workflow lines
#   are read (new and modified workflows); `::add-mask::` lines, which register
#   a value for masking, are not counted.
# related_resources:
#   - ref: https://docs.github.com/en/actions/reference/security/secure-use#use-secrets-for-sensitive-information
#     description: "GitHub Docs: Secure use reference, using secrets"
#   - ref: https://cwe.mitre.org/data/definitions/532.html
#     description: "CWE-532: Insertion of Sensitive Information into Log File"
# custom:
#   id: CI-GHA-SECRET-ECHO-001
#   severity: high
#   category: ci
#   citation: CWE-532 (GitHub Docs, using secrets)
#   applies_to:
#     paths: [".github/workflows/*.yml", ".github/workflows/*.yaml"]
package charter.packs.community_ci.github_actions.secret_echo

import rego.v1

import data.charter.packs.community_ci.github_actions.workflows
import data.charter.packs.community_ci.lib.patch

printer := `(?i)(^|[\s;|&(]|run:\s*)(echo|printf|print|write-host|write-output|console\.log)\b`

secret := `\$\{\{\s*(secrets\.|secrets\[|toJSON\(\s*secrets\s*\))`

deny contains {"rule": "CI-GHA-SECRET-ECHO-001", "msg": msg} if {
	some file in workflows.files
	some line in patch.candidates(file, "secrets")
	regex.match(secret, line)
	regex.match(printer, line)
	not contains(line, "::add-mask::")
	msg := sprintf("%s: `%s` prints a secret into the job log; pass it to the command through `env:` instead", [file.path, trim_space(line)])
}
