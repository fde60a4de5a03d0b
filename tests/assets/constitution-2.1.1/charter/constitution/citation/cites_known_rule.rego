# METADATA
# title: The citation block cites rules of the active stack
# description: >-
#   A parsed citation block must list at least one rule id in `rules`, and
#   every id it lists must be a rule of the active stack
#   (input.context.stack.rule_ids). Citing nothing, or an id that does not
#   exist, is a finding; run `charter rule list` to find the right id. On an
#   agent-authored proposal (any author.type other than exactly `human`) it is
#   denied; on a human-authored one the parameter human_citation decides:
#   `ask` (default) or `deny`.
# related_resources:
#   - ref: https://csrc.nist.gov/pubs/sp/800/218/final
#     description: "NIST SP 800-218 (SSDF) PO.1: document the requirements behind each change"
# custom:
#   id: CITE-RULE-KNOWN-001
#   severity: medium
#   category: citation
#   citation: SOC2 CC8.1
package charter.constitution.citation.cites_known_rule

import rego.v1

no_rule := "the citation block cites no rule; list the id(s) of the rule(s) that motivated this change under `rules:` (see `charter rule list`)"

unknown(id) := sprintf("the citation block cites %v, which is not a rule of the active stack; cite an existing id (see `charter rule list`)", [id])

cites_some if {
	rules := input.context.citation.rules
	is_array(rules)
	count(rules) > 0
}

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

# Two problems: a block (present, parsed) that cites no rule, and each cited id
# that is not a rule of the stack. Each set tests them in its own bodies, the
# block's presence first: charter.policy.guards proves the deny set empty
# without a block, and Charter skips it.
deny contains {"rule": "CITE-RULE-KNOWN-001", "msg": msg} if {
	input.context.citation.present == true
	input.context.citation.error == null
	not cites_some
	suffix := deny_suffix
	msg := concat("", [no_rule, suffix])
}

deny contains {"rule": "CITE-RULE-KNOWN-001", "msg": msg} if {
	input.context.citation.present == true
	input.context.citation.error == null
	rules := input.context.citation.rules
	is_array(rules)
	some id in rules
	not id in input.context.stack.rule_ids
	suffix := deny_suffix
	msg := concat("", [unknown(id), suffix])
}

ask contains {"rule": "CITE-RULE-KNOWN-001", "msg": msg} if {
	input.author.type == "human" # only a human-authored proposal can ask
	input.context.citation.present == true
	input.context.citation.error == null
	not cites_some
	input.context.parameters.human_citation == "ask"
	msg := concat("", [no_rule, ask_suffix])
}

ask contains {"rule": "CITE-RULE-KNOWN-001", "msg": msg} if {
	input.author.type == "human" # only a human-authored proposal can ask
	input.context.citation.present == true
	input.context.citation.error == null
	rules := input.context.citation.rules
	is_array(rules)
	some id in rules
	not id in input.context.stack.rule_ids
	input.context.parameters.human_citation == "ask"
	msg := concat("", [unknown(id), ask_suffix])
}
