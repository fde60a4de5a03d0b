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

import data.charter.constitution.citation.authorship

problems contains "the citation block cites no rule; list the id(s) of the rule(s) that motivated this change under `rules:` (see `charter rule list`)" if {
	input.context.citation.present == true
	input.context.citation.error == null
	not cites_some
}

problems contains msg if {
	input.context.citation.present == true
	input.context.citation.error == null
	rules := input.context.citation.rules
	is_array(rules)
	some id in rules
	not id in input.context.stack.rule_ids
	msg := sprintf("the citation block cites %v, which is not a rule of the active stack; cite an existing id (see `charter rule list`)", [id])
}

cites_some if {
	rules := input.context.citation.rules
	is_array(rules)
	count(rules) > 0
}

deny contains {"rule": "CITE-RULE-KNOWN-001", "msg": msg} if {
	some problem in problems
	authorship.verdict == "deny"
	msg := concat("", [problem, authorship.suffix])
}

ask contains {"rule": "CITE-RULE-KNOWN-001", "msg": msg} if {
	input.author.type == "human" # only a human-authored proposal can ask
	some problem in problems
	authorship.verdict == "ask"
	msg := concat("", [problem, authorship.suffix])
}
