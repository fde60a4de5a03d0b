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

# The changed files whose path matches one of `globs` (`**/` also matches no
# directory), by their index in input.files. Call it once per module, as a rule of
# its own (`files := patch.changed(["**/*.tf"])`): a rule is evaluated once per
# decision, a function at every call. A few files are matched glob by glob; more
# through a selector, which costs about as much to build as globbing ten paths.
changed(globs) := {i: file |
	some i, file in input.files
	globbed(file.path, globs)
} if {
	count(input.files) < 10
} else := chosen(selector(globs))

# The same test as `selected`, written out: a function call per file costs more than
# the tests inside it.
chosen(paths) := object.union_n([
	{i: file | some i, file in input.files; strings.any_suffix_match(file.path, paths.exact)},
	{i: file |
		some i, file in input.files
		strings.any_suffix_match(file.path, paths.tails)
		some g, t in paths.suffixed
		endswith(file.path, t)
		glob.match(g, ["/"], file.path)
	},
	{i: file |
		some g, p in paths.others
		some i, file in input.files
		contains(file.path, p)
		glob.match(g, ["/"], file.path)
	},
])

globbed(path, globs) if {
	some g in globs
	glob.match(g, ["/"], path)
}

# A path selector for `globs`. A glob `**/*X` (X literal, no `/`) matches exactly
# the paths ending in X: one suffix test of all such X decides. Every other glob
# comes with a literal text each path it matches holds, so that most paths are
# refused by a suffix or substring test before any glob: the text after its last
# `*` (which such a path ends with) or, when that is empty, the longest text
# between two `*`s (which it contains).
selector(globs) := {
	"exact": [t | some g, t in exact],
	"suffixed": {g: t | some g, t in tails},
	"tails": [t | some t in tails],
	"others": {g: part(g) | some g in globs; not exact[g]; not tails[g]},
} if {
	exact := {g: t |
		some g in globs
		startswith(g, "**/*")
		t := substring(g, 4, -1)
		t != ""
		literal(t)
		strings.replace_n({"*": "", "/": ""}, t) == t
	}
	tails := {g: t | some g in globs; not exact[g]; t := tail(g); t != ""}
}

# The literal parts of a glob: what lies between its `*`s, without the `/`s a
# `**/` may match as nothing; a part holding other glob syntax is left out.
literals(g) := [t |
	some p in split(g, "*")
	t := trim(p, "/")
	literal(t)
]

literal(t) if strings.replace_n({"?": "", "[": "", "]": "", "{": "", "}": "", "\\": "", "!": ""}, t) == t

tail(g) := t if {
	parts := split(g, "*")
	t := trim_left(parts[count(parts) - 1], "/")
	literal(t)
} else := ""

part(g) := [t | some t in ts; count(t) == longest][0] if {
	ts := literals(g)
	longest := max([count(t) | some t in ts])
} else := ""
