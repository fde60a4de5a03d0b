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

message := "the citation block has no blast_radius; state what the change can affect if it goes wrong, e.g. `blast_radius: \"billing-rollup only; no schema change\"`"

# Who gets which verdict (authorship.verdict_for and suffix_for, written out
# here: in regorus a reference to another package's rule costs more than this
# whole set). A finding is denied when the author's type is not exactly "human"
# (no suffix), or when it is but the parameter human_citation is not exactly
# "ask" (`deny_suffix` is then the suffix); otherwise it is asked.
deny_suffix := "" if {
	not input.author.type == "human"
} else := " (human-authored proposal: parameter human_citation makes this deny)" if {
	not input.context.parameters.human_citation == "ask"
}

ask_suffix := " (human-authored proposal: parameter human_citation makes this ask)"

deny contains {"rule": "CITE-BLAST-RADIUS-001", "msg": msg} if {
	input.context.citation.present == true
	input.context.citation.error == null
	not stated(input.context.citation.blast_radius)
	suffix := deny_suffix
	msg := concat("", [message, suffix])
}

ask contains {"rule": "CITE-BLAST-RADIUS-001", "msg": msg} if {
	input.author.type == "human" # only a human-authored proposal can ask
	input.context.citation.present == true
	input.context.citation.error == null
	not stated(input.context.citation.blast_radius)
	input.context.parameters.human_citation == "ask"
	msg := concat("", [message, ask_suffix])
}

stated(text) if {
	is_string(text)
	trim_space(text) != ""
}
