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

import data.charter.constitution.citation.authorship

deny contains {"rule": "CITE-BLOCK-VALID-001", "msg": msg} if {
	error := input.context.citation.error
	error != null
	authorship.verdict == "deny"
	msg := sprintf("%v; fix the ```charter block in the proposal body%s", [error, authorship.suffix])
}

ask contains {"rule": "CITE-BLOCK-VALID-001", "msg": msg} if {
	input.author.type == "human" # only a human-authored proposal can ask
	error := input.context.citation.error
	error != null
	authorship.verdict == "ask"
	msg := sprintf("%v; fix the ```charter block in the proposal body%s", [error, authorship.suffix])
}
