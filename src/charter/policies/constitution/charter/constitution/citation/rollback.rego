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

import data.charter.constitution.citation.authorship

problem := "the citation block has no rollback; state how to undo the change, e.g. `rollback: \"git revert the merge commit; redeploy previous image\"`" if {
	citation := input.context.citation
	citation.present == true
	citation.error == null
	not stated(object.get(citation, "rollback", null))
}

stated(text) if {
	is_string(text)
	trim_space(text) != ""
}

deny contains {"rule": "CITE-ROLLBACK-001", "msg": msg} if {
	authorship.verdict == "deny"
	msg := concat("", [problem, authorship.suffix])
}

ask contains {"rule": "CITE-ROLLBACK-001", "msg": msg} if {
	authorship.verdict == "ask"
	msg := concat("", [problem, authorship.suffix])
}
