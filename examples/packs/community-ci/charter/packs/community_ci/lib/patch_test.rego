package charter.packs.community_ci.lib.patch_test

import rego.v1

import data.charter.packs.community_ci.lib.patch

git_patch := "diff --git a/x b/x\nindex 1..2 100644\n--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n keep\n-old\n+new\n+++tricky\n\\ No newline at end of file\n"

test_header_lines_are_not_added_lines_allowed if {
	patch.added({"path": "x", "patch": git_patch}) == ["new", "++tricky"]
	patch.removed({"path": "x", "patch": git_patch}) == ["old"]
}

test_post_image_keeps_context_allowed if {
	[e.text | some e in patch.post({"path": "x", "patch": git_patch})] == ["keep", "new", "++tricky"]
}

test_full_text_only_for_added_files_allowed if {
	patch.full_text({"path": "x", "status": "added", "patch": "@@ -0,0 +1,2 @@\n+a\n+b\n"}) == "a\nb"
	not patch.full_text({"path": "x", "status": "modified", "patch": git_patch})
}

test_null_patch_has_no_lines_allowed if {
	patch.added({"path": "x", "patch": null}) == []
}
