# METADATA
# title: The Environment Profile meets every requirement of the stack
# description: >-
#   Layers require attributes of the Environment Profile's tools with the
#   parameter profile_requirements, texts `CATEGORY.ATTRIBUTE = VALUE` (e.g.
#   `vulnerability-scan.fips_validated = true`, or `sbom.tool = "syft"` to pin
#   a tool); packs and overlays may add requirements, never remove one. A
#   proposal that uses a tool of a category with requirements (`tools.<category>`,
#   `dependencies.scan.tool` for vulnerability-scan, every required category of
#   a release) is denied while the profile file's entry for that category does
#   not meet them (no profile file, no entry or a missing attribute does not
#   meet a requirement). A proposal that changes the profile file is denied
#   when the profile it proposes misses a required category or a requirement.
#   Fix the entry in `.charter/profile.toml` (itself a declared pull request).
# related_resources:
#   - ref: https://csrc.nist.gov/pubs/sp/800/218/final
#     description: "NIST SP 800-218 (SSDF) PO.3: specify and maintain the toolchain"
# custom:
#   id: ENV-PROFILE-REQUIREMENTS-001
#   severity: high
#   category: environment-profile
#   citation: NIST SSDF PO.3.2
package charter.constitution.environment_profile.profile_requirements

import rego.v1

profile_file := file if {
	file := input.context.profile_file
	is_object(file)
} else := {}

entries := object.get(profile_file, "tools", {})

used contains category if {
	is_object(input.tools)
	some category, tool in input.tools
	is_string(tool)
}

used contains "vulnerability-scan" if {
	is_object(input.dependencies)
	scan := object.get(input.dependencies, "scan", null)
	is_object(scan)
	is_string(object.get(scan, "tool", null))
}

used contains category if {
	input.kind == "release"
	some category in input.context.parameters.required_tool_categories
}

met(entry, req) if {
	is_object(entry)
	object.get(entry, req.attribute, null) == req.value
	type_name(object.get(entry, req.attribute, null)) == type_name(req.value)
}

found(entry, req) := sprintf("%v has %s = %v", [entry.tool, req.attribute, entry[req.attribute]]) if {
	is_object(entry)
	req.attribute in object.keys(entry)
} else := sprintf("%v does not state %s", [entry.tool, req.attribute]) if {
	is_object(entry)
} else := sprintf("the profile names no %s tool", [req.category])

# Each body reads the requirements or the proposed profile itself, first (not
# through helper rules): charter.policy.guards proves the set empty for a
# decision without requirements and without a proposed profile (almost all of
# them), and Charter skips it.
deny contains {"rule": "ENV-PROFILE-REQUIREMENTS-001", "msg": msg} if {
	input.context.profile_requirements != []
	requirements := input.context.profile_requirements
	is_array(requirements)
	some req in requirements
	req.category in used
	entry := object.get(entries, req.category, null)
	not met(entry, req)
	msg := sprintf(
		"this proposal uses a %s tool, but the Environment Profile does not meet `%s`: %s; fix [%s] in %v",
		[req.category, req.text, found(entry, req), req.category, object.get(profile_file, "path", ".charter/profile.toml")],
	)
}

deny contains {"rule": "ENV-PROFILE-REQUIREMENTS-001", "msg": msg} if {
	input.context.profile_requirements != []
	requirements := input.context.profile_requirements
	is_array(requirements)
	some req in requirements
	proposed := input.context.profile_file.proposed
	is_object(proposed)
	entry := object.get(proposed, req.category, null)
	not met(entry, req)
	msg := sprintf(
		"the proposed Environment Profile does not meet `%s`: %s",
		[req.text, found(entry, req)],
	)
}

deny contains {"rule": "ENV-PROFILE-REQUIREMENTS-001", "msg": msg} if {
	proposed := input.context.profile_file.proposed
	is_object(proposed)
	some category in input.context.parameters.required_tool_categories
	not is_object(object.get(proposed, category, null))
	msg := sprintf(
		"the proposed Environment Profile names no tool for the required category %s; add a [%s] table with its tool",
		[category, category],
	)
}
