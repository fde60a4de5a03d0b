package charter.packs.pci_dss.script_integrity_test

import rego.v1

import data.charter.packs.pci_dss.lib.fixtures_test.new_file
import data.charter.packs.pci_dss.script_integrity as rule

test_external_script_without_sri_denied if {
	some e in rule.deny with input as {"files": [new_file("templates/checkout.html", "  <script src=\"https://cdn.example.net/widget.js\"></script>")]}
	contains(e.msg, "6.4.3")
	count(rule.deny) == 1 with input as {"files": [new_file("web/Pay.jsx", "      <script async src='//js.example.com/v3'></script>")]}
}

test_sri_and_same_origin_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file("templates/checkout.html", "  <script src=\"https://cdn.example.net/widget.js\" integrity=\"sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC\" crossorigin=\"anonymous\"></script>")]}
	count(rule.deny) == 0 with input as {"files": [new_file("templates/checkout.html", "  <script src=\"/static/app.js\"></script>")]}
	count(rule.deny) == 0 with input as {"files": [new_file("docs/embed.md", "  <script src=\"https://cdn.example.net/widget.js\"></script>")]}
}
