package charter.packs.hipaa.integrity_test

import rego.v1

import data.charter.packs.hipaa.integrity as rule
import data.charter.packs.hipaa.lib.fixtures_test.modified_file
import data.charter.packs.hipaa.lib.fixtures_test.new_file

unprotected := "resource \"aws_db_instance\" \"records\" {\n  deletion_protection = false\n  skip_final_snapshot = true\n}"

protected := "resource \"aws_db_instance\" \"records\" {\n  deletion_protection     = true\n  backup_retention_period = 35\n}"

test_production_denied if {
	count(rule.deny) == 2 with input as {"environment": "production", "files": [new_file("db.tf", unprotected)]}
	count(rule.ask) == 0 with input as {"environment": "production", "files": [new_file("db.tf", unprotected)]}
}

test_other_environments_ask if {
	count(rule.ask) == 1 with input as {"environment": "staging", "files": [modified_file("s3.tf", "   versioning_configuration {\n-    status = \"Enabled\"\n+    status = \"Suspended\"")]}
	count(rule.deny) == 0 with input as {"files": [new_file("db.tf", unprotected)]}
}

test_protected_allowed if {
	count(rule.deny) == 0 with input as {"environment": "production", "files": [new_file("db.tf", protected)]}
	count(rule.ask) == 0 with input as {"files": [new_file("db.tf", protected)]}
}
