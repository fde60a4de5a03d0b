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

required := input.context.parameters.required_tool_categories

choices contains [category, tool, "tools"] if {
	is_object(input.tools)
	some category, tool in input.tools
	category in required
}

choices contains ["vulnerability-scan", tool, "dependencies.scan.tool"] if {
	"vulnerability-scan" in required
	is_object(input.dependencies)
	scan := object.get(input.dependencies, "scan", null)
	is_object(scan)
	tool := object.get(scan, "tool", null)
	is_string(tool)
}

allowed(category) := tools if {
	tools := input.context.profile[category]
	is_array(tools)
} else := []

deny contains {"rule": "ENV-TOOL-IN-PROFILE-001", "msg": msg} if {
	some [category, tool, where] in choices
	not tool in allowed(category)
	msg := sprintf(
		"%s chooses %v for %s, which the Environment Profile does not list; use one of [%s]",
		[where, tool, category, concat(", ", [t | some t in allowed(category); is_string(t)])],
	)
}
