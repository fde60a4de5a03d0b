# METADATA
# title: The citation block states how to roll back
# description: >-
#   A parsed citation block must state a non-empty `rollback`: how to undo the
#   change (revert, redeploy the previous image, restore a backup). On an
#   agent-authored proposal (any author.type other than exactly `human`) a
#   missing one is denied; on a human-authored one the parameter
#   human_citation decides: `ask` (default) or `deny`.
# related_resources:
#   - ref: https://csrc.nist.gov/pubs/sp/800/218/final
#     description: "NIST SP 800-218 (SSDF) PO.1: document the requirements behind each change"
# custom:
#   id: CITE-ROLLBACK-001
#   severity: medium
#   category: citation
#   citation: SOC2 CC8.1
package charter.constitution.citation.rollback

import rego.v1

message := "the citation block has no rollback; state how to undo the change, e.g. `rollback: \"git revert the merge commit; redeploy previous image\"`"

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

deny contains {"rule": "CITE-ROLLBACK-001", "msg": msg} if {
	input.context.citation.present == true
	input.context.citation.error == null
	not stated(input.context.citation.rollback)
	suffix := deny_suffix
	msg := concat("", [message, suffix])
}

ask contains {"rule": "CITE-ROLLBACK-001", "msg": msg} if {
	input.author.type == "human" # only a human-authored proposal can ask
	input.context.citation.present == true
	input.context.citation.error == null
	not stated(input.context.citation.rollback)
	input.context.parameters.human_citation == "ask"
	msg := concat("", [message, ask_suffix])
}

stated(text) if {
	is_string(text)
	trim_space(text) != ""
}
