package charter.packs.pci_dss.sql_injection_test

import rego.v1

import data.charter.packs.pci_dss.lib.fixtures_test.modified_file
import data.charter.packs.pci_dss.lib.fixtures_test.new_file
import data.charter.packs.pci_dss.sql_injection as rule

test_formatted_sql_asks if {
	some e in rule.ask with input as {"files": [modified_file("app/orders.py", " def find(cur, oid):\n+    cur.execute(f\"SELECT * FROM orders WHERE id = {oid}\")")]}
	contains(e.msg, "6.2.4")
	count(rule.ask) == 1 with input as {"files": [new_file("app/orders.py", "    cur.execute(\"SELECT * FROM orders WHERE id = %s\" % oid)")]}
	count(rule.ask) == 1 with input as {"files": [new_file("web/db.js", "  return db.query(`SELECT * FROM cards WHERE owner = '${user}'`);")]}
	count(rule.ask) == 1 with input as {"files": [new_file("store/db.go", "\tq := fmt.Sprintf(\"DELETE FROM carts WHERE id = %d\", id)")]}
}

test_bound_parameters_allowed if {
	count(rule.ask) == 0 with input as {"files": [new_file("app/orders.py", "    cur.execute(\"SELECT * FROM orders WHERE id = %s\", (oid,))")]}
	count(rule.ask) == 0 with input as {"files": [new_file("web/db.js", "  return db.query('SELECT * FROM cards WHERE owner = $1', [user]);")]}
	count(rule.ask) == 0 with input as {"files": [new_file("tests/test_orders.py", "    cur.execute(f\"SELECT * FROM orders WHERE id = {oid}\")")]}
}
