package charter.packs.pci_dss.live_pan_test

import rego.v1

import data.charter.packs.pci_dss.lib.fixtures_test.new_file
import data.charter.packs.pci_dss.live_pan as rule

# 4539 1488 0343 6467 is Luhn-valid and not a published test number.
test_luhn_valid_card_number_denied_and_masked if {
	some e in rule.deny with input as {"files": [new_file("tests/fixtures/orders.json", "  \"card\": \"4539148803436467\",")]}
	contains(e.msg, "453914…6467")
	not contains(e.msg, "4539148803436467")
	count(rule.deny) == 1 with input as {"files": [new_file("seed.sql", "INSERT INTO cards VALUES ('4539 1488 0343 6467');")]}
}

test_test_numbers_invalid_checksums_and_other_numbers_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file("tests/fixtures/orders.json", "  \"card\": \"4242424242424242\",")]}
	count(rule.deny) == 0 with input as {"files": [new_file("seed.sql", "INSERT INTO cards VALUES ('4539148803436468');")]}
	count(rule.deny) == 0 with input as {"files": [new_file("ids.txt", "order 1732986000000000123 at 1732986000")]}
}
