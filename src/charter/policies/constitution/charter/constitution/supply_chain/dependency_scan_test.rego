package charter.constitution.supply_chain.dependency_scan_test

import rego.v1

import data.charter.constitution.supply_chain.dependency_scan
import data.charter.constitution.testdata.fixtures

pr_deps(deps) := object.union(fixtures.pull_request, {"dependencies": deps})

test_dependency_change_without_scan_denied if {
	some entry in dependency_scan.deny with input as pr_deps({"changed": true})
	entry.rule == "SC-DEPENDENCY-SCAN-001"
}

test_dependency_change_with_null_scan_denied if {
	some entry in dependency_scan.deny with input as pr_deps({"changed": true, "scan": null})
	entry.rule == "SC-DEPENDENCY-SCAN-001"
}

test_dependency_change_scan_without_tool_denied if {
	some entry in dependency_scan.deny with input as pr_deps({"changed": true, "scan": {"findings": []}})
	entry.rule == "SC-DEPENDENCY-SCAN-001"
}

test_dependency_change_with_scan_allowed if {
	count(dependency_scan.deny) == 0 with input as pr_deps({"changed": true, "scan": {"tool": "grype", "findings": []}})
}

test_unchanged_dependencies_allowed if {
	count(dependency_scan.deny) == 0 with input as pr_deps({"changed": false})
}

# 2.0.0: listed changes count as a change, whatever `changed` declares.

listed_change := {"ecosystem": "npm", "name": "left-pad", "old": "1.0.0", "new": "1.3.0", "file": "package-lock.json", "direct": true}

test_listed_changes_without_scan_denied if {
	some entry in dependency_scan.deny with input as pr_deps({"changed": false, "changes": [listed_change]})
	entry.rule == "SC-DEPENDENCY-SCAN-001"
	contains(entry.msg, "no vulnerability scan is attached")
}

test_empty_change_list_allowed if {
	count(dependency_scan.deny) == 0 with input as pr_deps({"changed": false, "changes": []})
}

# 2.0.0: a scan that audited nothing is not a scan.

pip_audit_offline := {
	"tool": "pip-audit",
	"findings": [],
	"audited": false,
	"not_audited": [
		{"package": "requests", "reason": "Dependency not found on PyPI and could not be audited"},
		{"package": "urllib3", "reason": "Dependency not found on PyPI and could not be audited"},
		"idna: skipped",
		{"name": "certifi", "reason": "offline"},
		{"package": "charset-normalizer", "reason": "offline"},
	],
}

unaudited := pr_deps({"changed": true, "scan": pip_audit_offline})

unaudited_without_reasons := pr_deps({"changed": true, "scan": {"tool": "pip-audit", "findings": [], "audited": false}})

audited_not_boolean := pr_deps({"changed": true, "scan": {"tool": "grype", "findings": [], "audited": "yes", "not_audited": [7]}})

audited_null := pr_deps({"changed": true, "scan": {"tool": "grype", "findings": [], "audited": null}})

audited_true := pr_deps({"changed": true, "scan": {"tool": "grype", "findings": [], "audited": true, "not_audited": []}})

test_scan_that_audited_nothing_denied if {
	some entry in dependency_scan.deny with input as unaudited
	entry.rule == "SC-DEPENDENCY-SCAN-001"
	contains(entry.msg, "the attached pip-audit scan audited nothing (audited: false; requests: Dependency not found on PyPI and could not be audited; urllib3: ")
	contains(entry.msg, "; idna: skipped; and 2 more)")
	not contains(entry.msg, "certifi")
	count(dependency_scan.deny) == 1 with input as unaudited
}

test_scan_that_audited_nothing_without_reasons_denied if {
	some entry in dependency_scan.deny with input as unaudited_without_reasons
	contains(entry.msg, "audited: false; no reason recorded")
}

test_scan_with_audited_not_a_boolean_denied if {
	some entry in dependency_scan.deny with input as audited_not_boolean
	contains(entry.msg, "audited: \"yes\"; 7)")
}

test_scan_with_audited_null_denied if {
	some entry in dependency_scan.deny with input as audited_null
	contains(entry.msg, "audited: null")
}

test_scan_that_audited_allowed if {
	count(dependency_scan.deny) == 0 with input as audited_true
}

test_unaudited_scan_without_dependency_change_allowed if {
	count(dependency_scan.deny) == 0 with input as pr_deps({"changed": false, "scan": pip_audit_offline})
}

long_reason := pr_deps({"changed": true, "scan": {
	"tool": "pip-audit",
	"findings": [],
	"audited": false,
	"not_audited": [concat("", ["x" | some _ in numbers.range(1, 5000)])],
}})

test_long_not_audited_reason_is_clipped_denied if {
	some entry in dependency_scan.deny with input as long_reason
	contains(entry.msg, "… (5000 characters)")
	count(entry.msg) < 700
}

# 3.0.0: a scan the proposal only declares is not one Charter read (charter.facts.reconcile
# marks it `audited: false` with this reason); the message says to attach the output.
declared_scan := pr_deps({"changed": true, "scan": {
	"tool": "grype",
	"findings": [],
	"audited": false,
	"not_audited": ["the scan is declared in the proposal, not read from the scanner's output (declared scans are not believed: pass the scanner's JSON with --evidence)"],
}})

test_a_declared_scan_is_told_to_attach_the_output_denied if {
	some entry in dependency_scan.deny with input as declared_scan
	contains(entry.msg, "the attached grype scan audited nothing (audited: false; the scan is declared in the proposal")
	endswith(entry.msg, "; attach the scanner's own JSON output as evidence (--evidence, or the runner's evidence) from a run that audited the packages, its vulnerability database available (e.g. grype, trivy, osv-scanner, or pip-audit online)")
}
