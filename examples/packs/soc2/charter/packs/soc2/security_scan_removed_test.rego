package charter.packs.soc2.security_scan_removed_test

import rego.v1

import data.charter.packs.soc2.lib.fixtures_test.modified_file
import data.charter.packs.soc2.security_scan_removed as rule

dropped := "       - uses: actions/checkout@v4\n-      - uses: github/codeql-action/init@v3\n-      - uses: github/codeql-action/analyze@v3\n       - run: make test"

bumped := "-      - uses: github/codeql-action/init@v2\n+      - uses: github/codeql-action/init@v3"

test_removed_scanner_asks if {
	some e in rule.ask with input as {"files": [modified_file(".github/workflows/ci.yml", dropped)]}
	contains(e.msg, "codeql")
}

test_deleted_dependabot_config_asks if {
	count(rule.ask) == 1 with input as {"files": [{"path": ".github/dependabot.yml", "status": "removed", "patch": "@@ -1,2 +0,0 @@\n-version: 2\n-updates: []\n"}]}
}

test_upgraded_scanner_allowed if {
	count(rule.ask) == 0 with input as {"files": [modified_file(".github/workflows/ci.yml", bumped)]}
	count(rule.ask) == 0 with input as {"files": [modified_file("docs/ci.md", dropped)]}
}
