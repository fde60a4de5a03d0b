# Test fixtures: proposal files built from file text, as `charter proposal
# from-git` writes them (a unified diff per file).
package charter.packs.community_ci.lib.fixtures_test

import rego.v1

# A file the change adds: every line is an added line.
new_file(path, text) := {
	"path": path,
	"status": "added",
	"patch": concat("", [
		sprintf("diff --git a/%s b/%s\nnew file mode 100644\n--- /dev/null\n+++ b/%s\n@@ -0,0 +1 @@\n", [path, path, path]),
		concat("\n", [sprintf("+%s", [line]) | some line in split(text, "\n")]),
		"\n",
	]),
}

# A modified file: `hunk` is the hunk's lines, already marked ` `, `+` or `-`.
modified_file(path, hunk) := {
	"path": path,
	"status": "modified",
	"patch": sprintf("diff --git a/%s b/%s\n--- a/%s\n+++ b/%s\n@@ -1,4 +1,4 @@\n%s\n", [path, path, path, path, hunk]),
}
