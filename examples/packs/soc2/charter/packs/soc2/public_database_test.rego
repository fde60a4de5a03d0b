package charter.packs.soc2.public_database_test

import rego.v1

import data.charter.packs.soc2.lib.fixtures_test.modified_file
import data.charter.packs.soc2.lib.fixtures_test.new_file
import data.charter.packs.soc2.public_database as rule

rds := `resource "aws_db_instance" "orders" {
  engine              = "postgres"
  instance_class      = "db.t3.micro"
  publicly_accessible = true
}`

test_public_database_denied if {
	some e in rule.deny with input as {"files": [new_file("db.tf", rds)]}
	contains(e.msg, "publicly_accessible = true")
	count(rule.deny) == 1 with input as {"files": [new_file("db.tf", "  public_network_access_enabled = true")]}
	count(rule.deny) == 1 with input as {"files": [new_file("sql.tf", "    authorized_networks {\n      value = \"0.0.0.0/0\"\n    }")]}
}

test_private_database_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file("db.tf", replace(rds, "= true", "= false"))]}
	count(rule.deny) == 0 with input as {"files": [modified_file("db.tf", "-  publicly_accessible = true\n+  publicly_accessible = false")]}
}
