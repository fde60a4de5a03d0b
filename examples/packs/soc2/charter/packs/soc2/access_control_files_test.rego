package charter.packs.soc2.access_control_files_test

import rego.v1

import data.charter.packs.soc2.access_control_files as rule

codeowners := {"path": ".github/CODEOWNERS", "status": "modified", "patch": "@@ -1 +1 @@\n-/infra/ @org/platform\n+/infra/ @org/everyone\n"}

test_codeowners_change_without_review_asks if {
	some e in rule.ask with input as {"kind": "pull_request", "author": {"id": "bot", "type": "agent"}, "files": [codeowners]}
	contains(e.msg, ".github/CODEOWNERS")
}

test_self_and_agent_approvals_asked if {
	count(rule.ask) == 1 with input as {"kind": "merge", "author": {"id": "alice", "type": "human"}, "files": [codeowners], "approvals": [{"by": " Alice ", "type": "human"}, {"by": "reviewer-bot", "type": "agent"}]}
}

test_rename_out_of_codeowners_asks if {
	count(rule.ask) == 1 with input as {"kind": "pull_request", "author": {"id": "bot", "type": "agent"}, "files": [{"path": "OLD_CODEOWNERS", "previous_path": "CODEOWNERS", "status": "renamed"}]}
}

verified := {"facts": {"derived": [], "contradictions": [], "approvals_verified": true}}

test_independent_human_approval_allows if {
	count(rule.ask) == 0 with input as {"kind": "merge", "author": {"id": "alice", "type": "human"}, "files": [codeowners], "approvals": [{"by": "bob", "type": "human"}], "context": verified}
}

# 2.0.0: an approval the proposal only declares is not one Charter read from GitHub.
test_independent_human_approval_only_declared_asks if {
	count(rule.ask) == 1 with input as {"kind": "merge", "author": {"id": "alice", "type": "human"}, "files": [codeowners], "approvals": [{"by": "bob", "type": "human"}]}
	count(rule.ask) == 1 with input as {"kind": "merge", "author": {"id": "alice", "type": "human"}, "files": [codeowners], "approvals": [{"by": "bob", "type": "human"}], "context": {"facts": {"approvals_verified": "true"}}}
}

test_other_files_and_releases_allowed if {
	count(rule.ask) == 0 with input as {"kind": "pull_request", "author": {"id": "bot", "type": "agent"}, "files": [{"path": "src/app.py", "status": "modified"}]}
	count(rule.ask) == 0 with input as {"kind": "release", "author": {"id": "bot", "type": "agent"}, "files": [codeowners]}
}
