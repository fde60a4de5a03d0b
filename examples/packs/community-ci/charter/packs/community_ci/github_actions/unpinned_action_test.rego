package charter.packs.community_ci.github_actions.unpinned_action_test

import rego.v1

import data.charter.packs.community_ci.github_actions.unpinned_action as rule
import data.charter.packs.community_ci.lib.fixtures_test.modified_file
import data.charter.packs.community_ci.lib.fixtures_test.new_file

# zizmorcore/zizmor crates/zizmor/tests/integration/test-data/unpinned-uses/
# menagerie-of-uses.yml (MIT), steps.
zizmor_menagerie := `    steps:
      - uses: actions/setup-python@v4

      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
        with:
          persist-credentials: false

      - uses: pypa/gh-action-pypi-publish@release/v1

      - uses: github/codeql-action/init@v3`

# github/codeql .../CWE-829/.github/workflows/unpinned_tags.yml @ 4fd7aec (MIT).
codeql_unpinned := `    steps:
    - uses: foo/bar
    - uses: foo/bar@v1
    - uses: foo/bar@25b062c917b0c75f8b47d8469aff6c94ffd89abb`

path := ".github/workflows/release.yaml"

docker_digest := "      - uses: docker://alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000"

repin_hunk := "-      - uses: foo/bar@v1\n+      - uses: foo/bar@25b062c917b0c75f8b47d8469aff6c94ffd89abb\n       - uses: other/thing@v2"

test_third_party_branch_ref_denied if {
	count(rule.deny) == 1 with input as {"files": [new_file(path, zizmor_menagerie)]}
	some e in rule.deny with input as {"files": [new_file(path, zizmor_menagerie)]}
	contains(e.msg, "pypa/gh-action-pypi-publish@release/v1")
}

test_sha_pin_kept_no_ref_and_tag_denied if {
	count(rule.deny) == 2 with input as {"files": [new_file(path, codeql_unpinned)]}
	some e in rule.deny with input as {"files": [new_file(path, codeql_unpinned)]}
	contains(e.msg, "`uses: foo/bar`")
	count([m | some m in rule.deny with input as {"files": [new_file(path, codeql_unpinned)]}; contains(m.msg, "25b062c9")]) == 0
}

test_docker_image_without_digest_denied if {
	count(rule.deny) == 1 with input as {"files": [new_file(path, "      - uses: docker://alpine:3.20")]}
	count(rule.deny) == 0 with input as {"files": [new_file(path, docker_digest)]}
}

test_reusable_workflow_and_quoted_uses_denied if {
	count(rule.deny) == 1 with input as {"files": [new_file(path, "    uses: \"octo-org/ci/.github/workflows/build.yml@main\"")]}
}

test_local_and_first_party_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file(path, "      - uses: ./.github/actions/setup\n      - uses: actions/cache@v4")]}
}

test_repinned_action_allowed if {
	count(rule.deny) == 0 with input as {"files": [modified_file(path, repin_hunk)]}
}

test_short_sha_denied if {
	count(rule.deny) == 1 with input as {"files": [new_file(path, "      - uses: foo/bar@25b062c")]}
}
