# Helpers shared by the pack's rules: what a proposal's patch says about a file.
#
# A proposal carries each changed file's unified diff (`files[].patch`), not the
# file itself. For a file the change adds (`status: added`) every line of the new
# file is an added line, so its whole content is known; for a modified file only
# the hunks are: the added lines and up to three lines of context around them.
#
# Every shipped pack carries a copy of this module holding the helpers its rules
# use; a helper present in several packs is the same text in each
# (tests/test_packs.py checks).
#
# Cost: each deny/ask set is evaluated on its own, so nothing here is shared
# between rules; a rule pays for every helper call it makes on every changed file.
# A builtin call costs about a microsecond, a `glob.match` or `regex.match` several
# (the pattern is compiled per call) and a regex over a whole patch about a
# microsecond per hundred bytes. So paths are tested with one suffix test before
# any glob, lines are found with one regex over the patch (never a Rego loop or a
# regex per line), and a file whose patch has no match of a rule's cheap prefilter
# anywhere is skipped before its lines are cut out.
package charter.packs.community_ci.lib.patch

import rego.v1

# The patch as text; a file without one (binary, too large) has none.
text(file) := file.patch if is_string(file.patch)

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

# The lines the change adds, as one text.
added_text(file) := marked_text(file, "+")

# The whole new content, known only for a file the change adds (all its lines
# are added lines).
full_text(file) := added_text(file) if file.status == "added"

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

# The added lines holding a match of `prefilter`, without their mark. `prefilter`
# is a cheap pattern that matches no newline and does not anchor (`^`, `$`, `\A`,
# `\B`): literals, alternations. A file whose whole patch has no match is skipped
# with one regex; otherwise one regex over the patch finds the lines. Rules test
# each candidate line again with their exact pattern.
candidates(file, prefilter) := marked_with(file, "+", prefilter)

marked_with(file, mark, prefilter) := {substring(line, 1, -1) |
	regex.match(prefilter, text(file))
	pattern := concat("", [`(?m)^\`, mark, `[^\n]*(?:`, prefilter, `)[^\n]*`])
	some line in regex.find_n(pattern, body(file), -1)
}

# A path selector for `globs` (`**/` also matches no directory): each glob with
# the literal text every path it matches ends with (what follows its last `*`,
# "" when that holds other glob syntax). Build it once per rule, as a rule of its
# own (`paths := patch.selector([...])`), and test paths with `selected`.
selector(globs) := {
	"globs": {g: tail(g) | some g in globs},
	"tails": [tail(g) | some g in globs],
}

tail(g) := t if {
	parts := split(g, "*")
	t := trim_left(parts[count(parts) - 1], "/")
	not regex.match(`[?\[\]{}\\!]`, t)
} else := ""

# The path matches one of the selector's globs: one suffix test of all their
# tails, then only the globs whose tail the path ends with.
selected(path, paths) if {
	strings.any_suffix_match(path, paths.tails)
	some g, t in paths.globs
	endswith(path, t)
	glob.match(g, ["/"], path)
}
