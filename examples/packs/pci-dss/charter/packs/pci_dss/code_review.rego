# METADATA
# title: Code is reviewed by someone other than its authors before merge
# description: >-
#   PCI DSS v4.0 6.2.3 and 6.2.3.1: bespoke and custom software is reviewed
#   before release, by individuals other than the originating code author. A
#   merge (into any branch) that changes source code needs an approval by a
#   human (`type` exactly `human`) who is neither the proposal's author nor the
#   author of any of its commits (by id, name or e-mail, compared without case
#   or surrounding spaces); agent approvals never count. Since 2.0.0 only
#   approvals Charter read from GitHub's reviews are a review
#   (`input.context.facts.approvals_verified`): a merge whose independent
#   approval the proposal only declares is paused (`ask`) for a person to
#   confirm it; one without any is denied.
# related_resources:
#   - ref: https://docs-prv.pcisecuritystandards.org/PCI%20DSS/Standard/PCI-DSS-v4_0.pdf
#     description: "PCI DSS v4.0, Requirement 6.2.3 and 6.2.3.1 (code review before release, by others than the author)"
# custom:
#   id: PCI-6-2-3-INDEPENDENT-REVIEW-001
#   severity: high
#   category: change-management
#   citation: PCI DSS v4.0 6.2.3.1
#   applies_to:
#     kinds: [merge]
package charter.packs.pci_dss.code_review

import rego.v1

source := `\.(py|js|jsx|ts|tsx|go|java|kt|rb|rs|cs|php|scala|swift|c|cc|cpp|h|hpp|sql|html|vue)$`

norm(x) := lower(trim_space(x)) if is_string(x)

code_changed if {
	some file in input.files
	regex.match(source, file.path)
}

authors contains norm(input.author.id)

authors contains norm(who) if {
	some c in input.commits
	some who in [c.author.name, c.author.email]
}

independent contains norm(a.by) if {
	some a in input.approvals
	a.type == "human"
	not norm(a.by) in authors
}

deny contains {"rule": "PCI-6-2-3-INDEPENDENT-REVIEW-001", "msg": msg} if {
	input.kind == "merge"
	code_changed
	count(independent) == 0
	msg := "this merge changes code and no human other than its authors approved it; PCI DSS 6.2.3.1 needs a review by someone other than the code's author"
}

ask contains {"rule": "PCI-6-2-3-INDEPENDENT-REVIEW-001", "msg": msg} if {
	input.kind == "merge"
	code_changed
	count(independent) > 0
	not input.context.facts.approvals_verified == true
	msg := "this merge changes code and its independent review is only declared in the proposal, not read from GitHub's reviews; a person must confirm the review (PCI DSS 6.2.3.1), or decide the merge from its GitHub event"
}
