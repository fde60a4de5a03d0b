# METADATA
# title: Every proposal carries a citation block
# description: >-
#   The body of a proposal must contain a fenced code block with the info
#   string `charter` holding YAML with `rules` (ids of the rules that
#   motivated the change), `blast_radius` and `rollback`, and optionally
#   `profile` (Environment Profile entries behind tool choices) and
#   `profile_change`. An agent-authored proposal without one is denied; any
#   author.type other than exactly `human` counts as an agent. On a
#   human-authored proposal the parameter human_citation decides: `ask`
#   (default, a reviewer confirms) or `deny`; lower layers may only tighten it
#   to `deny`.
# related_resources:
#   - ref: https://csrc.nist.gov/pubs/sp/800/218/final
#     description: "NIST SP 800-218 (SSDF) PO.1: document the requirements behind each change"
# custom:
#   id: CITE-BLOCK-REQUIRED-001
#   severity: high
#   category: citation
#   citation: SOC2 CC8.1
package charter.constitution.citation.block_required

import rego.v1

message := "the proposal body has no ```charter citation block; add one with `rules: [<rule id>]`, `blast_radius: ...` and `rollback: ...`"

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

# Conditions are written out in each body (not in a shared helper rule): a
# decision evaluates every deny/ask set on its own, and the common case, a
# proposal with a block, must fail at the first expression.
deny contains {"rule": "CITE-BLOCK-REQUIRED-001", "msg": msg} if {
	not input.context.citation.present == true
	suffix := deny_suffix
	msg := concat("", [message, suffix])
}

ask contains {"rule": "CITE-BLOCK-REQUIRED-001", "msg": msg} if {
	input.author.type == "human" # only a human-authored proposal can ask
	not input.context.citation.present == true
	input.context.parameters.human_citation == "ask"
	msg := concat("", [message, ask_suffix])
}
