package charter.packs.community_ci.lib.patch_test

import rego.v1

import data.charter.packs.community_ci.lib.patch

git_patch := "diff --git a/x b/x\nindex 1..2 100644\n--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n keep\n-old\n+new\n+++tricky\n\\ No newline at end of file\n"

modified := {"path": "x", "status": "modified", "patch": git_patch}

test_candidates_skip_header_lines_allowed if {
	patch.candidates(modified, "new|tricky|b") == {"new", "++tricky"}
	patch.candidates(modified, "absent") == set()
	patch.candidates({"path": "x", "patch": null}, "new") == set()
}

test_added_text_skips_header_lines_allowed if {
	patch.added_text(modified) == "new\n++tricky"
}

test_full_text_only_for_added_files_allowed if {
	patch.full_text({"path": "x", "status": "added", "patch": "@@ -0,0 +1,2 @@\n+a\n+b\n"}) == "a\nb"
	not patch.full_text(modified)
}

test_post_text_keeps_context_allowed if {
	patch.post_text(modified) == "keep\nnew\n++tricky"
}

test_post_image_keeps_context_allowed if {
	[e.text | some e in patch.post(modified)] == ["keep", "new", "++tricky"]
	[e.added | some e in patch.post(modified)] == [false, true, true]
}

test_changed_files_by_index_allowed if {
	files := [{"path": "a/main.tf"}, {"path": "README.md"}, {"path": "b/x.tf.json"}, {"path": "Dockerfile.dev"}]
	patch.changed(["**/*.tf", "**/*.tf.json"]) == {0: files[0], 2: files[2]} with input.files as files
	patch.changed(["**/Dockerfile.*"]) == {3: files[3]} with input.files as files
	patch.changed([]) == {} with input.files as files
}

edge_paths := [
	"a/main.tf", "README.md", "b/x.tf.json", "Dockerfile.dev", "Dockerfile", "x/y/Dockerfile",
	"main.tfx", "a.Dockerfile", "c", "d/e.tf", ".tf", "x.ts", "Dockerfile/x", "a/NotDockerfile",
	"x/c.yaml", "c.yml", "x.yaml.txt", ".github/workflows/ci.yml", "x/.github/workflows/ci.yml",
	".github/workflows/a/ci.yml", "CODEOWNERS", "docs/CODEOWNERS",
]

edge_globs := [
	"**/*.tf", "**/Dockerfile.*", "**/Dockerfile", "**/*.Dockerfile", "**/*.t?", "**/*a/b",
	"**/*.{yml,yaml}", ".github/workflows/*.yml", "CODEOWNERS",
]

globbed_by_hand(files) := {i: f | some i, f in files; some g in edge_globs; glob.match(g, ["/"], f.path)}

# Many files go through the selector, a few through the globs: both agree with the globs.
test_changed_agrees_with_globs_allowed if {
	files := [{"path": p} | some p in edge_paths]
	count(globbed_by_hand(files)) == 14
	patch.changed(edge_globs) == globbed_by_hand(files) with input.files as files
	few := array.slice(files, 0, 6)
	patch.changed(edge_globs) == globbed_by_hand(few) with input.files as few
}
