package charter.constitution.environment_profile.profile_file_protected_test

import rego.v1

import data.charter.constitution.environment_profile.profile_file_protected as profile_rule
import data.charter.constitution.testdata.fixtures

profile_edit := {"path": ".charter/profile.toml", "status": "modified", "patch": "@@ -1 +1 @@\n-sbom = [\"syft\"]\n+sbom = [\"syft\", \"homegrown\"]\n"}

pr_editing_profile := object.union(fixtures.pull_request, {"files": [profile_edit]})

test_agent_edits_profile_undeclared_denied if {
	some entry in profile_rule.deny with input as pr_editing_profile
	entry.rule == "ENV-PROFILE-FILE-PROTECTED-001"
}

test_agent_pushes_profile_change_denied if {
	some entry in profile_rule.deny with input as fixtures.with_citation(
		object.union(pr_editing_profile, {"kind": "push", "base": "feature/x"}),
		{"profile_change": true},
	)
	entry.rule == "ENV-PROFILE-FILE-PROTECTED-001"
}

test_agent_renames_profile_away_denied if {
	some entry in profile_rule.deny with input as object.union(fixtures.pull_request, {"files": [{
		"path": "old/profile.toml", "status": "renamed", "previous_path": "./.charter/profile.toml",
	}]})
	entry.rule == "ENV-PROFILE-FILE-PROTECTED-001"
}

test_agent_declared_profile_pull_request_allowed if {
	count(profile_rule.deny) == 0 with input as fixtures.with_citation(pr_editing_profile, {"profile_change": true})
}

test_merge_of_declared_profile_pull_request_allowed if {
	count(profile_rule.deny) == 0 with input as fixtures.with_citation(
		object.union(pr_editing_profile, {"kind": "merge"}),
		{"profile_change": true},
	)
}

test_human_edits_profile_undeclared_asks if {
	some entry in profile_rule.ask with input as object.union(pr_editing_profile, {"author": fixtures.human})
	entry.rule == "ENV-PROFILE-FILE-PROTECTED-001"
}

test_agent_edits_other_files_allowed if {
	count(profile_rule.deny) == 0 with input as fixtures.pull_request
}

# Charter read the profile from git and found it changed, whatever path the diff
# shows (an edit through a linked folder `.charter -> conf`).
linked_edit := object.union(fixtures.pull_request, {
	"files": [{"path": "conf/profile.toml", "status": "modified", "patch": "@@ -1 +1 @@\n-a\n+b\n"}],
	"context": {"profile_file": {"path": ".charter/profile.toml", "present": true, "tools": {}, "proposed": {}}},
})

test_agent_edit_through_a_link_denied if {
	some entry in profile_rule.deny with input as linked_edit
	entry.rule == "ENV-PROFILE-FILE-PROTECTED-001"
}

test_agent_edit_both_ways_one_entry_denied if {
	count(profile_rule.deny) == 1 with input as object.union(linked_edit, {"files": [profile_edit]})
}

test_agent_declared_edit_through_a_link_allowed if {
	count(profile_rule.deny) == 0 with input as fixtures.with_citation(linked_edit, {"profile_change": true})
}

test_human_edit_through_a_link_asks if {
	some entry in profile_rule.ask with input as object.union(linked_edit, {"author": fixtures.human})
	entry.rule == "ENV-PROFILE-FILE-PROTECTED-001"
}

test_unchanged_profile_context_allowed if {
	count(profile_rule.deny) == 0 with input as object.union(fixtures.pull_request, {
		"context": {"profile_file": {"path": ".charter/profile.toml", "present": true, "tools": {}}},
	})
}

test_agent_edit_in_another_case_denied if {
	some entry in profile_rule.deny with input as object.union(fixtures.pull_request, {"files": [{"path": ".Charter/PROFILE.toml", "status": "added", "patch": "+x\n"}]})
	entry.rule == "ENV-PROFILE-FILE-PROTECTED-001"
}
