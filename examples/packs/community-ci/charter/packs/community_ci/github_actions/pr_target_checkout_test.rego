package charter.packs.community_ci.github_actions.pr_target_checkout_test

import rego.v1

import data.charter.packs.community_ci.github_actions.pr_target_checkout as rule
import data.charter.packs.community_ci.lib.fixtures_test.modified_file
import data.charter.packs.community_ci.lib.fixtures_test.new_file

# github/codeql actions/ql/test/query-tests/Security/CWE-829/.github/workflows/
# untrusted_checkout.yml @ ee7680d (MIT), first job.
codeql_untrusted := `on:
  pull_request_target:

jobs:
  test1:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v2
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: |
          npm install
          npm run lint`

# The same file's second job: the head reaches the checkout through env.
codeql_untrusted_env := `on:
  pull_request_target:

jobs:
  test2:
    runs-on: ubuntu-latest
    env:
      HEAD: ${{ github.event.pull_request.head.sha }}
    steps:
      - uses: actions/checkout@v2
        with:
          ref: ${{ env.HEAD }}`

# zizmorcore/zizmor crates/zizmor/tests/integration/test-data/dangerous-triggers/
# actions-labeler.yml (MIT): pull_request_target without a checkout.
zizmor_labeler := `on:
  pull_request_target:

permissions: {}

jobs:
  vulnerable:
    runs-on: ubuntu-latest

    steps:
      - uses: actions/labeler@634933edcd8ababfe52f92936142cc22ac488b1b # v6.0.1`

path := ".github/workflows/ci.yml"

test_checkout_of_pr_head_denied if {
	some entry in rule.deny with input as {"files": [new_file(path, codeql_untrusted)]}
	entry.rule == "CI-GHA-PRT-CHECKOUT-001"
	contains(entry.msg, "test1")
}

# Only a text that spells a privileged trigger, or holds a backslash, is parsed: a
# YAML escape spelling the trigger is still parsed and judged.
escaped_trigger := replace(codeql_untrusted, "  pull_request_target:", `  "pull_request\x5ftarget":`)

test_trigger_spelled_with_a_yaml_escape_denied if {
	not contains(escaped_trigger, "pull_request_target")
	some entry in rule.deny with input as {"files": [new_file(path, escaped_trigger)]}
	contains(entry.msg, "pull_request_target")
}

test_checkout_through_env_denied if {
	some entry in rule.deny with input as {"files": [new_file(path, codeql_untrusted_env)]}
	contains(entry.msg, "env.HEAD")
}

workflow_run_head := "on:\n  workflow_run:\n    workflows: [Test]\njobs:\n  b:\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.event.workflow_run.head_sha }}"

head_ref_job := "\njobs:\n  b:\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.head_ref }}"

test_workflow_run_head_denied if {
	count(rule.deny) == 1 with input as {"files": [new_file(path, workflow_run_head)]}
}

test_trigger_as_string_and_list_denied if {
	count(rule.deny) == 1 with input as {"files": [new_file(path, concat("", ["on: pull_request_target", head_ref_job]))]}
	count(rule.deny) == 1 with input as {"files": [new_file(path, concat("", ["on: [push, pull_request_target]", head_ref_job]))]}
}

yaml_1_1_reading := "\"true\": [pull_request_target]\njobs:\n  b:\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.head_ref }}"

test_on_read_as_true_by_a_yaml_1_1_reader_denied if {
	count(rule.deny) == 1 with input as {"files": [new_file(path, yaml_1_1_reading)]}
}

test_labeler_without_checkout_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file(path, zizmor_labeler)]}
}

test_same_checkout_on_pull_request_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file(path, replace(codeql_untrusted, "pull_request_target", "pull_request"))]}
}

test_same_text_outside_workflows_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file("docs/example.yml", codeql_untrusted)]}
}

prt_hunk := " on:\n   pull_request_target:\n       with:\n+          ref: ${{ github.event.pull_request.head.ref }}"

push_hunk := " on: [push]\n       with:\n+          ref: ${{ github.event.pull_request.head.ref }}"

test_modified_workflow_read_from_lines_denied if {
	count(rule.deny) == 1 with input as {"files": [modified_file(path, prt_hunk)]}
	count(rule.deny) == 0 with input as {"files": [modified_file(path, push_hunk)]}
}

test_invalid_yaml_asks if {
	some entry in rule.ask with input as {"files": [new_file(path, "on: [push\njobs: {")]}
	contains(entry.msg, "not valid YAML")
	count(rule.deny) == 0 with input as {"files": [new_file(path, "on: [push\njobs: {")]}
}

odd_shapes := "on: pull_request_target\njobs:\n  a: 3\n  b:\n    steps: oops\n  c:\n    steps:\n      - uses: 7\n      - uses: actions/checkout@v4\n        with: nope"

test_odd_shapes_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file(path, odd_shapes), {"path": path, "patch": null}]}
	count(rule.ask) == 0 with input as {"files": [new_file(path, odd_shapes), {"path": path, "patch": null}]}
}
