# METADATA
# title: Tool choices come from the Environment Profile
# description: >-
#   For every category in the parameter required_tool_categories (default
#   sbom, signing, provenance, vulnerability-scan), the tool a proposal chose
#   (`tools.<category>`; for vulnerability-scan also `dependencies.scan.tool`)
#   must be one of the tools the Environment Profile lists for that category
#   (input.context.profile: the tool the repository's `.charter/profile.toml`
#   names, or the bundle's default list when there is no file). A category the
#   profile does not list allows no tool. Use a listed tool, or change the
#   profile in a pull request declaring `profile_change: true`.
# related_resources:
#   - ref: https://csrc.nist.gov/pubs/sp/800/218/final
#     description: "NIST SP 800-218 (SSDF) PO.3: specify and maintain the toolchain"
# custom:
#   id: ENV-TOOL-IN-PROFILE-001
#   severity: high
#   category: environment-profile
#   citation: NIST SSDF PO.3.2
package charter.constitution.environment_profile.tools_in_profile

import rego.v1

# Written out in the two bodies below rather than gathered in a helper set of
# choices first, and the profile's list read in a comprehension rather than a
# function: in regorus each reference to a rule or call of a function costs a
# few microseconds, and this set is evaluated on every decision. The list is
# the profile's entry for the category when that is an array, else empty.
deny contains {"rule": "ENV-TOOL-IN-PROFILE-001", "msg": msg} if {
	is_object(input.tools)
	some category, tool in input.tools
	category in input.context.parameters.required_tool_categories
	not tool in [t | tools := input.context.profile[category]; is_array(tools); some t in tools]
	msg := message(category, tool, "tools")
}

deny contains {"rule": "ENV-TOOL-IN-PROFILE-001", "msg": msg} if {
	tool := input.dependencies.scan.tool
	is_string(tool)
	"vulnerability-scan" in input.context.parameters.required_tool_categories
	not tool in [t | tools := input.context.profile["vulnerability-scan"]; is_array(tools); some t in tools]
	msg := message("vulnerability-scan", tool, "dependencies.scan.tool")
}

allowed(category) := tools if {
	tools := input.context.profile[category]
	is_array(tools)
} else := []

message(category, tool, where) := sprintf(
	"%s chooses %v for %s, which the Environment Profile does not list; use one of [%s]",
	[where, tool, category, concat(", ", [t | some t in allowed(category); is_string(t)])],
)
