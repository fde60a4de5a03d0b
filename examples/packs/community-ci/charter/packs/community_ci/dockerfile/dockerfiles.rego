# Helpers of the Dockerfile rules: which files are Dockerfiles, and their
# instructions.
package charter.packs.community_ci.dockerfile.dockerfiles

import rego.v1

import data.charter.packs.community_ci.lib.patch

files := patch.changed(["**/Dockerfile", "**/Dockerfile.*", "**/*.Dockerfile", "**/Containerfile", "**/Containerfile.*"])

# `FROM [--flag ...] image [AS name]`: the image reference and the stage name.
from_line(line) := {"image": m[1], "stage": lower(m[3])} if {
	m := regex.find_all_string_submatch_n(`(?i)^\s*FROM\s+(?:--\S+\s+)*(\S+)(\s+AS\s+(\S+))?\s*$`, line, 1)[0]
}

# Stage names the visible lines define (`FROM … AS name`), by one regex over them.
stages(file) := {lower(m[1]) |
	text := patch.post_text(file)
	some m in regex.find_all_string_submatch_n(`(?im)^[ \t]*FROM[ \t].*[ \t]AS[ \t]+(\S+)[ \t]*$`, text, -1)
}
