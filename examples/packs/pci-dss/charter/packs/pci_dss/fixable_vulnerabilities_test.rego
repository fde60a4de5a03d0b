package charter.packs.pci_dss.fixable_vulnerabilities_test

import rego.v1

import data.charter.packs.pci_dss.fixable_vulnerabilities as rule

log4shell := {"id": "CVE-2021-44228", "severity": "critical", "package": "log4j-core", "version": "2.14.1", "fixed_in": "2.15.0"}

test_fixable_critical_denied_on_a_release if {
	some e in rule.deny with input as {"kind": "release", "dependencies": {"changed": false, "scan": {"findings": [log4shell]}}}
	contains(e.msg, "fixed in 2.15.0")
	count(rule.deny) == 1 with input as {"kind": "release", "dependencies": {"scan": {"findings": [object.union(log4shell, {"severity": " HIGH "})]}}}
}

test_unfixable_low_and_malformed_allowed if {
	count(rule.deny) == 0 with input as {"kind": "release", "dependencies": {"scan": {"findings": [object.union(log4shell, {"fixed_in": null}), object.union(log4shell, {"severity": "low"}), "junk", {"id": "X", "severity": 3}]}}}
	count(rule.deny) == 0 with input as {"kind": "release"}
}
