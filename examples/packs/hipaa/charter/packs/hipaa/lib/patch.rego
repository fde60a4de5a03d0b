# Helpers shared by the pack's rules: what a proposal's patch says about a file.
#
# A proposal carries each changed file's unified diff (`files[].patch`), not the
# file itself. For a file the change adds (`status: added`) every line of the new
# file is an added line, so its whole content is known; for a modified file only
# the hunks are: the added lines and up to three lines of context around them.
#
# Lines are cut out of the patch with regex replacements over the whole text, not
# with a Rego loop over its lines: a loop costs microseconds per line, and a
# megabyte of patch has tens of thousands of lines.
package charter.packs.hipaa.lib.patch

import rego.v1

# The patch as text; a file without one (binary, too large) has none.
text(file) := file.patch if is_string(file.patch)

else := ""

# The patch from its first hunk header on, ending in a newline (git's `diff --git`,
# `---`, `+++` header lines are not content); a patch without a hunk header is
# all hunk lines.
body(file) := concat("", [substring(t, i + 1, -1), "\n"]) if {
	t := text(file)
	not startswith(t, "@@")
	i := indexof(t, "\n@@")
	i >= 0
} else := concat("", [text(file), "\n"])

# The lines marked `mark` (`+`, `-`), without the mark, as one text.
marked_text(file, mark) := trim_suffix(x, "\n") if {
	kept := regex.replace(body(file), concat("", [`(?m)^(?:[^`, mark, `\n][^\n]*)?\n`]), "")
	x := regex.replace(kept, concat("", [`(?m)^\`, mark]), "")
}

# The lines the change adds, as one text and as a list.
added_text(file) := marked_text(file, "+")

added(file) := split(added_text(file), "\n") if added_text(file) != ""

else := []

# The lines the change removes, as one text and as a list.
removed_text(file) := marked_text(file, "-")

removed(file) := split(removed_text(file), "\n") if removed_text(file) != ""

else := []

# The file's lines after the change that the patch shows (context and added), as
# one text.
post_text(file) := trim_suffix(x, "\n") if {
	kept := regex.replace(body(file), `(?m)^(?:[^+ \n][^\n]*)?\n`, "")
	x := regex.replace(kept, `(?m)^[+ ]`, "")
}

# The same lines in order, each with whether the change added it (a Rego loop:
# rules call it only for the few files their paths and a prefilter selected).
post(file) := [{"text": substring(line, 1, -1), "added": startswith(line, "+")} |
	some line in split(body(file), "\n")
	substring(line, 0, 1) in {"+", " "}
]

# The added lines holding a match of `prefilter`, by one regex over the added
# text. `prefilter` is a cheap pattern that matches no newline (literals,
# alternations): each match is one whole line, `[^\n]*` on both sides. Rules
# test each candidate line again with their exact pattern.
candidates(file, prefilter) := lines_with(added_text(file), prefilter)

# The same for the removed lines.
removed_candidates(file, prefilter) := lines_with(removed_text(file), prefilter)

# Of the set `lines`, those holding a match of `pattern`, by one regex over them
# all (`pattern` must not anchor with `^`/`$` nor match a newline).
within(lines, pattern) := lines_with(concat("\n", lines), pattern)

lines_with(text, prefilter) := {line |
	some line in regex.find_n(concat("", [`[^\n]*(?:`, prefilter, `)[^\n]*`]), text, -1)
}

# The whole new content, known only for a file the change adds (all its lines
# are added lines).
full_text(file) := added_text(file) if file.status == "added"

# The path matches one of the globs (`**/` also matches no directory).
matches(path, globs) if {
	some g in globs
	glob.match(g, ["/"], path)
}
