# METADATA
# title: The citation block parses
# description: >-
#   A citation block that is not valid YAML, is not a mapping, or has fields of
#   the wrong type (`rules` not a list of ids, `profile` not a mapping) cannot
#   be checked; the finding carries the parse error as its message. On an
#   agent-authored proposal (any author.type other than exactly `human`) it is
#   denied; on a human-authored one the parameter human_citation decides:
#   `ask` (default) or `deny`.
# related_resources:
#   - ref: https://csrc.nist.gov/pubs/sp/800/218/final
#     description: "NIST SP 800-218 (SSDF) PO.1: document the requirements behind each change"
# custom:
#   id: CITE-BLOCK-VALID-001
#   severity: high
#   category: citation
#   citation: SOC2 CC8.1
package charter.constitution.citation.block_valid

import rego.v1

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

# The test on the error comes first: charter.policy.guards proves the set empty
# for a block that parsed (or no block), and Charter skips it.
deny contains {"rule": "CITE-BLOCK-VALID-001", "msg": msg} if {
	input.context.citation.error != null
	error := input.context.citation.error
	suffix := deny_suffix
	msg := sprintf("%v; fix the ```charter block in the proposal body%s", [error, suffix])
}

ask contains {"rule": "CITE-BLOCK-VALID-001", "msg": msg} if {
	input.author.type == "human" # only a human-authored proposal can ask
	error := input.context.citation.error
	error != null
	input.context.parameters.human_citation == "ask"
	msg := sprintf("%v; fix the ```charter block in the proposal body%s", [error, ask_suffix])
}
