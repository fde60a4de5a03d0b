# METADATA
# title: The Environment Profile changes only through a declared pull request
# description: >-
#   The Environment Profile file (data.charter.constitution.profile_file,
#   default `.charter/profile.toml`) lists the tools a change may use. An agent
#   may change it (add, modify, remove or rename from/to it) only in a
#   `pull_request` whose citation block declares `profile_change: true`, or in
#   the `merge` of such a pull request (a merge proposal is the PR's merge).
#   Any other change by an agent is denied; the same change by a human is
#   paused (`ask`) until a second person confirms it.
# related_resources:
#   - ref: https://csrc.nist.gov/pubs/sp/800/218/final
#     description: "NIST SP 800-218 (SSDF) PO.3: specify and maintain the toolchain"
# custom:
#   id: ENV-PROFILE-FILE-PROTECTED-001
#   severity: critical
#   category: environment-profile
#   citation: NIST SSDF PO.3.2
#   applies_to:
#     paths: [".charter/profile.toml"]
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
# normalizes to it. Each set tests that itself, in its body (a helper set of
# touched paths costs more in regorus than the test), after the author's type;
# normalize only strips a prefix, so a path that normalizes to the profile file
# ends with it: the cheap test comes first. `file[key]` is undefined for an
# entry that is not an object or has no such key.
deny contains {"rule": "ENV-PROFILE-FILE-PROTECTED-001", "msg": msg} if {
	input.author.type == "agent"
	is_array(input.files)
	profile := profile_file
	some file in input.files
	some key in ["path", "previous_path"]
	path := file[key]
	is_string(path)
	endswith(path, profile)
	normalize(path) == profile
	not declared
	msg := sprintf(
		"agent %s changes the Environment Profile (%s) in a %s; agents may change it only in a pull request whose ```charter block declares `profile_change: true`",
		[input.author.id, profile_file, input.kind],
	)
}

ask contains {"rule": "ENV-PROFILE-FILE-PROTECTED-001", "msg": msg} if {
	input.author.type != "agent"
	is_array(input.files)
	profile := profile_file
	some file in input.files
	some key in ["path", "previous_path"]
	path := file[key]
	is_string(path)
	endswith(path, profile)
	normalize(path) == profile
	not declared
	msg := sprintf(
		"%s changes the Environment Profile (%s) without a pull request declaring `profile_change: true`; a second person must confirm",
		[input.author.id, profile_file],
	)
}
