package charter.packs.hipaa.tls_verification_test

import rego.v1

import data.charter.packs.hipaa.lib.fixtures_test.modified_file
import data.charter.packs.hipaa.lib.fixtures_test.new_file
import data.charter.packs.hipaa.tls_verification as rule

test_verification_off_denied if {
	some e in rule.deny with input as {"files": [modified_file("app/client.py", " def fetch(url):\n+    return requests.get(url, verify=False)")]}
	contains(e.msg, "verify=False")
	count(rule.deny) == 1 with input as {"files": [new_file("cmd/sync/main.go", "\tcfg := &tls.Config{InsecureSkipVerify: true}")]}
	count(rule.deny) == 1 with input as {"files": [new_file("web/api.js", "const agent = new https.Agent({ rejectUnauthorized: false });")]}
	count(rule.deny) == 1 with input as {"files": [new_file("deploy.sh", "curl -sk https://records.internal/export")]}
	count(rule.deny) == 1 with input as {"files": [new_file(".env.production", "DATABASE_URL=postgres://app@db/records?sslmode=disable")]}
}

test_verified_tls_and_tests_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file("app/client.py", "    return requests.get(url, verify=\"/etc/ssl/certs/ca.pem\")")]}
	count(rule.deny) == 0 with input as {"files": [new_file("tests/test_client.py", "    requests.get(url, verify=False)")]}
	count(rule.deny) == 0 with input as {"files": [modified_file("app/client.py", "-    return requests.get(url, verify=False)\n+    return requests.get(url)")]}
}
