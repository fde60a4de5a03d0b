# METADATA
# title: The citation block states the blast radius
# description: >-
#   A parsed citation block must state a non-empty `blast_radius`: what the
#   change can affect if it goes wrong (services, data, users). On an
#   agent-authored proposal (any author.type other than exactly `human`) a
#   missing one is denied; on a human-authored one the parameter
#   human_citation decides: `ask` (default) or `deny`.
# related_resources:
#   - ref: https://csrc.nist.gov/pubs/sp/800/218/final
#     description: "NIST SP 800-218 (SSDF) PO.1: document the requirements behind each change"
# custom:
#   id: CITE-BLAST-RADIUS-001
#   severity: medium
#   category: citation
#   citation: SOC2 CC8.1
package charter.constitution.citation.blast_radius

import rego.v1

import data.charter.constitution.citation.authorship

message := "the citation block has no blast_radius; state what the change can affect if it goes wrong, e.g. `blast_radius: \"billing-rollup only; no schema change\"`"

deny contains {"rule": "CITE-BLAST-RADIUS-001", "msg": msg} if {
	input.context.citation.present == true
	input.context.citation.error == null
	not stated(input.context.citation.blast_radius)
	authorship.verdict == "deny"
	msg := concat("", [message, authorship.suffix])
}

ask contains {"rule": "CITE-BLAST-RADIUS-001", "msg": msg} if {
	input.author.type == "human" # only a human-authored proposal can ask
	input.context.citation.present == true
	input.context.citation.error == null
	not stated(input.context.citation.blast_radius)
	authorship.verdict == "ask"
	msg := concat("", [message, authorship.suffix])
}

stated(text) if {
	is_string(text)
	trim_space(text) != ""
}
