package charter.constitution.process.merge_human_approvals_test

import rego.v1

import data.charter.constitution.process.merge_human_approvals
import data.charter.constitution.testdata.fixtures

merge_with(approvals) := object.union(fixtures.merge, {"approvals": approvals})

test_merge_with_one_human_reviewer_allowed if {
	count(merge_human_approvals.deny) == 0 with input as verified(fixtures.merge)
	count(merge_human_approvals.ask) == 0 with input as verified(fixtures.merge)
}

test_merge_without_approvals_denied if {
	some entry in merge_human_approvals.deny with input as merge_with([])
	entry.rule == "PROC-MERGE-HUMAN-APPROVALS-001"
	contains(entry.msg, "has 0 independent human approval(s) but needs 1")
}

test_merge_self_approved_denied if {
	some entry in merge_human_approvals.deny with input as merge_with([{"by": "agent-7", "type": "human", "groups": []}])
	entry.rule == "PROC-MERGE-HUMAN-APPROVALS-001"
}

test_merge_approved_only_by_agents_denied if {
	some entry in merge_human_approvals.deny with input as merge_with([{"by": "agent-9", "type": "agent", "groups": []}])
	entry.rule == "PROC-MERGE-HUMAN-APPROVALS-001"
}

test_merge_same_human_twice_below_two_denied if {
	some entry in merge_human_approvals.deny with input as fixtures.with_parameters(
		merge_with([{"by": "alice", "type": "human"}, {"by": "alice", "type": "human"}]),
		{"min_human_approvals_for_main": 2},
	)
	contains(entry.msg, "needs 2")
}

test_merge_two_distinct_humans_allowed if {
	two := verified(fixtures.with_parameters(
		merge_with([{"by": "alice", "type": "human"}, {"by": "bob", "type": "human"}]),
		{"min_human_approvals_for_main": 2},
	))
	count(merge_human_approvals.deny) == 0 with input as two
	count(merge_human_approvals.ask) == 0 with input as two
}

test_merge_into_unprotected_branch_allowed if {
	count(merge_human_approvals.deny) == 0 with input as object.union(merge_with([]), {"base": "develop"})
}

test_merge_without_base_asks if {
	some entry in merge_human_approvals.ask with input as object.union(fixtures.merge, {"base": null})
	entry.rule == "PROC-MERGE-HUMAN-APPROVALS-001"
}

# 3.0.0: approvals are facts only when Charter read them from GitHub's reviews.
verified(doc) := object.union(doc, {"context": {"facts": {"derived": [], "contradictions": [], "approvals_verified": true}}})

test_merge_with_reviews_read_from_github_allowed if {
	count(merge_human_approvals.deny) == 0 with input as verified(fixtures.merge)
	count(merge_human_approvals.ask) == 0 with input as verified(fixtures.merge)
}

test_merge_whose_approvals_are_only_declared_asks if {
	found := merge_human_approvals.ask with input as fixtures.merge
	count(found) == 1
	some entry in found
	entry.rule == "PROC-MERGE-HUMAN-APPROVALS-001"
	contains(entry.msg, "is approved only in the proposal: 1 human approval(s) Charter cannot verify")
}

test_merge_declaring_approvals_verified_itself_asks if {
	# The document's own context is discarded by Charter; here the flag is not true.
	some entry in merge_human_approvals.ask with input as object.union(fixtures.merge, {"context": {"facts": {"approvals_verified": "true"}}})
	entry.rule == "PROC-MERGE-HUMAN-APPROVALS-001"
}

test_merge_with_too_few_declared_approvals_denied if {
	some entry in merge_human_approvals.deny with input as merge_with([])
	entry.rule == "PROC-MERGE-HUMAN-APPROVALS-001"
	count(merge_human_approvals.ask) == 0 with input as merge_with([])
}

test_merge_into_an_unprotected_branch_allowed if {
	count(merge_human_approvals.ask) == 0 with input as object.union(fixtures.merge, {"base": "feature/x"})
}
