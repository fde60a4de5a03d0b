package charter.packs.community_ci.github_actions.write_all_test

import rego.v1

import data.charter.packs.community_ci.github_actions.write_all as rule
import data.charter.packs.community_ci.lib.fixtures_test.modified_file
import data.charter.packs.community_ci.lib.fixtures_test.new_file

# zizmorcore/zizmor crates/zizmor/tests/integration/test-data/
# several-vulnerabilities.yml (MIT): workflow and job level.
zizmor_several := `name: several vulnerabilities
on:
  pull_request_target:

permissions: write-all

jobs:
  hackme:
    name: hackme
    runs-on: ubuntu-latest
    permissions: write-all`

path := ".github/workflows/w.yml"

test_write_all_denied_at_both_levels if {
	count(rule.deny) == 1 with input as {"files": [new_file(path, zizmor_several)]}
	some entry in rule.deny with input as {"files": [new_file(path, zizmor_several)]}
	entry.rule == "CI-GHA-WRITE-ALL-001"
}

test_quoted_and_commented_denied if {
	count(rule.deny) == 1 with input as {"files": [new_file(path, "permissions: 'write-all' # lazy")]}
}

test_scoped_permissions_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file(path, "permissions:\n  contents: read\n  pull-requests: write")]}
	count(rule.deny) == 0 with input as {"files": [new_file(path, "permissions: read-all")]}
}

test_removing_write_all_allowed if {
	count(rule.deny) == 0 with input as {"files": [modified_file(path, "-permissions: write-all\n+permissions: {}")]}
}
