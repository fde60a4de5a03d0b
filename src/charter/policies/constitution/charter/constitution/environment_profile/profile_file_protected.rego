# METADATA
# title: The Environment Profile changes only through a declared pull request
# description: >-
#   The Environment Profile file (data.charter.constitution.profile_file,
#   default `.charter/profile.toml`) lists the tools a change may use. An agent
#   may change it (add, modify, remove or rename from/to it) only in a
#   `pull_request` whose citation block declares `profile_change: true`, or in
#   the `merge` of such a pull request (a merge proposal is the PR's merge).
#   Any other change by an agent is denied; the same change by a human is
#   paused (`ask`) until a second person confirms it. A change touches the
#   file when a changed file's path or previous path is the profile path, or
#   when Charter, reading the change from git, found the file's contents
#   changed as the repository resolves the path (through a linked folder or
#   file: `input.context.profile_file.proposed` is present; since 3.0.0), and
#   paths compare without case (a case-insensitive file system opens
#   `.charter/PROFILE.toml` as the profile; since 3.0.0).
#   A link can route any path to the file, so the rule declares no
#   `applies_to` paths.
# related_resources:
#   - ref: https://csrc.nist.gov/pubs/sp/800/218/final
#     description: "NIST SP 800-218 (SSDF) PO.3: specify and maintain the toolchain"
# custom:
#   id: ENV-PROFILE-FILE-PROTECTED-001
#   severity: critical
#   category: environment-profile
#   citation: NIST SSDF PO.3.2
package charter.constitution.environment_profile.profile_file_protected

import rego.v1

# Read the data path directly, and once: object.get on data.charter.constitution
# would evaluate every rule package under it (and recurse into this one), and
# regorus looks through every module of the stack at each reference to data.
profile_file := normalize(file) if {
	file := data.charter.constitution.profile_file
	is_string(file)
} else := ".charter/profile.toml"

normalize(path) := trim_left(trim_prefix(path, "./"), "/")

declared if {
	input.kind in {"pull_request", "merge"}
	input.context.citation.error == null
	input.context.citation.profile_change == true
}

# A change touches the profile file when a file's path or previous path
# normalizes to it, in any case (since 3.0.0): on a case-insensitive file
# system (macOS, Windows) `.charter/PROFILE.toml` is the profile file for
# every reader of the work tree. Each set tests that itself, in its body (a helper set of
# touched paths costs more in regorus than the test), after the author's type;
# normalize only strips a prefix, so a path that normalizes to the profile file
# ends with it: the cheap test comes first. `file[key]` is undefined for an
# entry that is not an object or has no such key.
deny contains {"rule": "ENV-PROFILE-FILE-PROTECTED-001", "msg": msg} if {
	input.author.type == "agent"
	is_array(input.files)
	profile := lower(profile_file)
	some file in input.files
	some key in ["path", "previous_path"]
	path := file[key]
	is_string(path)
	endswith(lower(path), profile)
	lower(normalize(path)) == profile
	not declared
	msg := sprintf(
		"agent %s changes the Environment Profile (%s) in a %s; agents may change it only in a pull request whose ```charter block declares `profile_change: true`",
		[input.author.id, profile_file, input.kind],
	)
}

# The same change, seen where Charter derived it: the profile read from git
# differs between the base and the head, whatever path the diff shows (an edit
# through a linked folder `.charter -> conf` shows as conf/profile.toml).
# Charter sets `proposed` only then (it replaces any declared context).
deny contains {"rule": "ENV-PROFILE-FILE-PROTECTED-001", "msg": msg} if {
	input.author.type == "agent"
	is_object(input.context.profile_file.proposed)
	not declared
	msg := sprintf(
		"agent %s changes the Environment Profile (%s) in a %s; agents may change it only in a pull request whose ```charter block declares `profile_change: true`",
		[input.author.id, profile_file, input.kind],
	)
}

ask contains {"rule": "ENV-PROFILE-FILE-PROTECTED-001", "msg": msg} if {
	input.author.type != "agent"
	is_array(input.files)
	profile := lower(profile_file)
	some file in input.files
	some key in ["path", "previous_path"]
	path := file[key]
	is_string(path)
	endswith(lower(path), profile)
	lower(normalize(path)) == profile
	not declared
	msg := sprintf(
		"%s changes the Environment Profile (%s) without a pull request declaring `profile_change: true`; a second person must confirm",
		[input.author.id, profile_file],
	)
}

ask contains {"rule": "ENV-PROFILE-FILE-PROTECTED-001", "msg": msg} if {
	input.author.type != "agent"
	is_object(input.context.profile_file.proposed)
	not declared
	msg := sprintf(
		"%s changes the Environment Profile (%s) without a pull request declaring `profile_change: true`; a second person must confirm",
		[input.author.id, profile_file],
	)
}
