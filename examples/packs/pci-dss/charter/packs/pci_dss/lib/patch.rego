# Helpers shared by the pack's rules: what a proposal's patch says about a file.
#
# A proposal carries each changed file's unified diff (`files[].patch`), not the
# file itself. For a file the change adds (`status: added`) every line of the new
# file is an added line, so its whole content is known; for a modified file only
# the hunks are: the added lines and up to three lines of context around them.
package charter.packs.pci_dss.lib.patch

import rego.v1

# The patch as text; a file without one (binary, too large) has none.
text(file) := file.patch if is_string(file.patch)

else := ""

# The lines from the first hunk header on (git's `diff --git`, `---`, `+++`
# header lines are not content); a patch without a hunk header is all hunk lines.
hunk_lines(file) := array.slice(lines, starts[0], count(lines)) if {
	lines := split(text(file), "\n")
	starts := [i | some i, line in lines; startswith(line, "@@")]
	count(starts) > 0
} else := split(text(file), "\n")

# The file's lines after the change that the patch shows, in order, each with
# whether the change added it.
post(file) := [{"text": substring(line, 1, -1), "added": startswith(line, "+")} |
	some line in hunk_lines(file)
	substring(line, 0, 1) in {"+", " "}
]

# The lines the change adds.
added(file) := [substring(line, 1, -1) | some line in hunk_lines(file); startswith(line, "+")]

# The added lines that may match `pattern`, found by one regex over the file's
# added text (a regex per line costs a compilation each); every match is made of
# whole lines. Rules test each candidate line again with their own pattern.
candidates(file, pattern) := {line |
	some found in regex.find_n(concat("", [`(?m)^.*(?:`, pattern, `).*$`]), concat("\n", added(file)), -1)
	some line in split(found, "\n")
}

# The removed lines that may match `pattern` (as candidates, for removed lines).
removed_candidates(file, pattern) := {line |
	some found in regex.find_n(concat("", [`(?m)^.*(?:`, pattern, `).*$`]), concat("\n", removed(file)), -1)
	some line in split(found, "\n")
}

# The lines the change removes.
removed(file) := [substring(line, 1, -1) | some line in hunk_lines(file); startswith(line, "-")]

# The whole new content, known only for a file the change adds (all its lines
# are added lines).
full_text(file) := concat("\n", added(file)) if file.status == "added"

# The path matches one of the globs (`**/` also matches no directory).
matches(path, globs) if {
	some g in globs
	glob.match(g, ["/"], path)
}
