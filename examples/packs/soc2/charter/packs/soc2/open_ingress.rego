# METADATA
# title: Network rules do not open ingress to the whole internet
# description: >-
#   SOC 2 CC6.6 asks for logical access security measures against threats from
#   outside the system's boundaries. An added Terraform line allowing
#   `0.0.0.0/0` or `::/0` is denied when the nearest block marker the patch
#   shows above it says ingress/inbound (or it is a `source_ranges` line, which
#   is always ingress), silent when it says egress/outbound, and asked about when
#   the patch shows neither (a hunk that starts inside the block).
# related_resources:
#   - ref: https://www.aicpa-cima.com/resources/download/2017-trust-services-criteria-with-revised-points-of-focus-2022
#     description: "AICPA Trust Services Criteria CC6.6: security measures against threats from sources outside system boundaries"
#   - ref: https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html
#     description: "Amazon VPC User Guide: Security group rules"
# custom:
#   id: SOC2-CC6-6-OPEN-INGRESS-001
#   severity: high
#   category: network
#   citation: SOC2 CC6.6
#   applies_to:
#     paths: ["**/*.tf", "**/*.tf.json"]
package charter.packs.soc2.open_ingress

import rego.v1

import data.charter.packs.soc2.lib.patch

files := patch.changed(["**/*.tf", "**/*.tf.json"])

anywhere := `"(0\.0\.0\.0/0|::/0)"`

marker_pattern := `(?i)(ingress|inbound|egress|outbound)`

# The direction the nearest marker above line i names ("ingress", "egress").
direction(lines, i) := d if {
	i > 0
	above := [j | some j in numbers.range(0, i - 1); regex.match(marker_pattern, lines[j].text)]
	count(above) > 0
	word := lower(regex.find_n(marker_pattern, lines[max(above)].text, 1)[0])
	d := {"ingress": "ingress", "inbound": "ingress", "egress": "egress", "outbound": "egress"}[word]
}

verdict(lines, i) := "deny" if regex.match(`(?i)^\s*"?source_ranges"?\s*[:=]`, lines[i].text)

else := "deny" if regex.match(`(?i)(ingress|inbound)`, lines[i].text)

else := "skip" if regex.match(`(?i)(egress|outbound)`, lines[i].text)

else := "deny" if direction(lines, i) == "ingress"

else := "skip" if direction(lines, i) == "egress"

else := "ask"

open_lines contains [file.path, v, trim_space(entry.text)] if {
	some file in files
	found := patch.candidates(file, anywhere)
	count(found) > 0
	lines := patch.post(file)
	some i, entry in lines
	entry.added
	entry.text in found
	v := verdict(lines, i)
}

deny contains {"rule": "SOC2-CC6-6-OPEN-INGRESS-001", "msg": msg} if {
	some [path, "deny", line] in open_lines
	msg := sprintf("%s: `%s` opens ingress to the whole internet; restrict it to known networks or put the service behind a load balancer", [path, line])
}

ask contains {"rule": "SOC2-CC6-6-OPEN-INGRESS-001", "msg": msg} if {
	some [path, "ask", line] in open_lines
	msg := sprintf("%s: `%s` allows the whole internet and the patch does not show whether it is ingress or egress; a reviewer confirms", [path, line])
}
