# METADATA
# title: No live card numbers in code, configuration or test data
# description: >-
#   PCI DSS v4.0 6.5.5: live PANs are not used in pre-production environments
#   (and the repository is one). An added line holding a 13-19 digit number,
#   contiguous or grouped by spaces or dashes, that starts like a card of a
#   major brand (Visa, Mastercard, American Express, Discover, JCB, Diners) and
#   passes the Luhn check is denied, unless it is one of the brands' published
#   test numbers. The message shows only the first six and last four digits.
# related_resources:
#   - ref: https://docs-prv.pcisecuritystandards.org/PCI%20DSS/Standard/PCI-DSS-v4_0.pdf
#     description: "PCI DSS v4.0, Requirement 6.5.5 (live PANs are not used in pre-production environments)"
# custom:
#   id: PCI-6-5-5-LIVE-PAN-001
#   severity: critical
#   category: data-protection
#   citation: PCI DSS v4.0 6.5.5
package charter.packs.pci_dss.live_pan

import rego.v1

import data.charter.packs.pci_dss.lib.patch

candidate := `(?:^|[^0-9])[0-9](?:[ -]?[0-9]){12,18}(?:[^0-9]|$)`

brand := `^(4[0-9]{12}([0-9]{3}){0,2}|5[1-5][0-9]{14}|2(2[2-9]|[3-6][0-9]|7[01])[0-9]{13}|2720[0-9]{12}|3[47][0-9]{13}|6(011|5[0-9][0-9])[0-9]{12,15}|35(2[89]|[3-8][0-9])[0-9]{12,15}|3(0[0-5]|[68][0-9])[0-9]{11,16})$`

# Published test numbers of the card brands and payment processors.
known_test_pans := {
	"4111111111111111", "4242424242424242", "4012888888881881", "4000056655665556",
	"4000000000000002", "4222222222222", "5555555555554444", "5105105105105100",
	"5200828282828210", "2223003122003222", "378282246310005", "371449635398431",
	"378734493671000", "6011111111111117", "6011000990139424", "3530111333300000",
	"3566002020360505", "30569309025904", "38520000023237",
}

digits(s) := [to_number(c) | some c in split(s, "")]

luhn_term(d, pos) := d if pos % 2 == 0

luhn_term(d, pos) := v if {
	pos % 2 == 1
	v := ((2 * d) % 10) + floor((2 * d) / 10)
}

luhn(number) if {
	ds := digits(number)
	n := count(ds)
	sum([luhn_term(d, n - 1 - i) | some i, d in ds]) % 10 == 0
}

pans(text) := {pan |
	some found in regex.find_n(candidate, text, -1)
	pan := regex.replace(found, `[^0-9]`, "")
	regex.match(brand, pan)
	not pan in known_test_pans
	luhn(pan)
}

deny contains {"rule": "PCI-6-5-5-LIVE-PAN-001", "msg": msg} if {
	some file in input.files
	regex.match(candidate, patch.text(file)) # no candidate anywhere in the patch: skip the file
	some pan in pans(patch.added_text(file))
	masked := concat("", [substring(pan, 0, 6), "…", substring(pan, count(pan) - 4, 4)])
	msg := sprintf("%s: adds what looks like a live card number (%s, Luhn-valid); use the brands' test numbers (PCI DSS 6.5.5)", [file.path, masked])
}
