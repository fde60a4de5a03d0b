# Helpers of the GitHub Actions rules: which changed files are workflows. Only
# that: regorus evaluates every rule of a package another package reads a rule of,
# so the YAML parse lives with the one rule that needs it (pr_target_checkout).
package charter.packs.community_ci.github_actions.workflows

import rego.v1

import data.charter.packs.community_ci.lib.patch

files := patch.changed([".github/workflows/*.yml", ".github/workflows/*.yaml"])
