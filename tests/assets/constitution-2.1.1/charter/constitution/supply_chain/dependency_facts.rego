# METADATA
# title: Every changed dependency file could be read
# description: >-
#   Charter derives dependency changes from the lockfiles and manifests that
#   changed. A file it could not read with certainty (malformed, not UTF-8,
#   duplicate keys, a control character in a name or version, a `resolved`
#   URL that downloads another package, too large, or only a patch available
#   from the GitHub API) is listed in `dependencies.unparsed` as
#   {path, reason}: its dependency change is unknown, so the proposal is
#   paused (`ask`) once per file until a human reviews it. Fix the file, or
#   build the proposal from git (`charter proposal from-git`), where whole
#   files are available. An `unparsed` value that is not a list of
#   {path, reason} objects is also an unknown and asks.
# related_resources:
#   - ref: https://slsa.dev/spec/v1.0/requirements
#     description: "SLSA v1.0 producer and build requirements"
#   - ref: https://csrc.nist.gov/pubs/sp/800/218/final
#     description: NIST SSDF PW.4.4
# custom:
#   id: SC-DEPENDENCY-FACTS-001
#   severity: medium
#   category: supply-chain
#   citation: NIST SSDF PW.4.4
package charter.constitution.supply_chain.dependency_facts

import rego.v1

ask contains {"rule": "SC-DEPENDENCY-FACTS-001", "msg": msg} if {
	unparsed := input.dependencies.unparsed
	is_array(unparsed)
	some entry in unparsed
	msg := sprintf(
		"dependency file %s could not be read with certainty (%s), so its dependency change is unknown; a human must review it, or fix the file / build the proposal from git (`charter proposal from-git`)",
		[path(entry), reason(entry)],
	)
}

ask contains {"rule": "SC-DEPENDENCY-FACTS-001", "msg": msg} if {
	unparsed := input.dependencies.unparsed
	unparsed != null
	not is_array(unparsed)
	msg := sprintf(
		"dependencies.unparsed is %s, not a list of {path, reason}, so the dependency change is unknown; a human must review it, or build the proposal from git (`charter proposal from-git`)",
		[type_name(unparsed)],
	)
}

path(entry) := entry.path if {
	is_string(entry.path)
	trim_space(entry.path) != ""
} else := entry if {
	is_string(entry)
	trim_space(entry) != ""
} else := "(unnamed file)"

reason(entry) := entry.reason if {
	is_string(entry.reason)
	trim_space(entry.reason) != ""
} else := "no reason recorded"
