package charter.packs.pci_dss.code_review_test

import rego.v1

import data.charter.packs.pci_dss.code_review as rule

code := [{"path": "payments/capture.py", "status": "modified"}]

commits := [{"sha": "a1", "author": {"name": "Bob Builder", "email": "bob@example.com"}}]

test_unreviewed_merge_denied if {
	some e in rule.deny with input as {"kind": "merge", "author": {"id": "alice", "type": "human"}, "files": code, "commits": commits}
	contains(e.msg, "6.2.3.1")
}

test_commit_author_and_agent_approvals_denied if {
	count(rule.deny) == 1 with input as {"kind": "merge", "author": {"id": "alice", "type": "human"}, "files": code, "commits": commits, "approvals": [{"by": " BOB@example.com", "type": "human"}, {"by": "Alice", "type": "human"}, {"by": "review-bot", "type": "agent"}]}
}

verified := {"facts": {"derived": [], "contradictions": [], "approvals_verified": true}}

test_independent_review_allows if {
	reviewed := {"kind": "merge", "author": {"id": "alice", "type": "human"}, "files": code, "commits": commits, "approvals": [{"by": "carol", "type": "human"}], "context": verified}
	count(rule.deny) == 0 with input as reviewed
	count(rule.ask) == 0 with input as reviewed
}

# 2.0.0: a review only the proposal declares is confirmed by a person.
test_independent_review_only_declared_asks if {
	declared := {"kind": "merge", "author": {"id": "alice", "type": "human"}, "files": code, "commits": commits, "approvals": [{"by": "carol", "type": "human"}]}
	count(rule.deny) == 0 with input as declared
	some e in rule.ask with input as declared
	contains(e.msg, "only declared in the proposal")
}

test_without_any_review_no_ask_but_denied if {
	count(rule.ask) == 0 with input as {"kind": "merge", "author": {"id": "alice", "type": "human"}, "files": code, "commits": commits}
}

test_docs_and_pull_requests_allowed if {
	count(rule.deny) == 0 with input as {"kind": "merge", "author": {"id": "alice", "type": "human"}, "files": [{"path": "docs/runbook.md"}], "commits": commits}
	count(rule.deny) == 0 with input as {"kind": "pull_request", "author": {"id": "alice", "type": "human"}, "files": code, "commits": commits}
}
