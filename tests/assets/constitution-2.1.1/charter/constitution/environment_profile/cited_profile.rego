# METADATA
# title: Profile entries cited in the citation block are real
# description: >-
#   The citation block's `profile` names the Environment Profile entries behind
#   a proposal's tool choices (`profile: {sbom: syft}`). For every category in
#   required_tool_categories, each tool it names (a string, or a list of
#   strings) must be listed in the Environment Profile for that category, and
#   must agree with the proposal's own choice in `tools.<category>` when there
#   is one.
# related_resources:
#   - ref: https://csrc.nist.gov/pubs/sp/800/218/final
#     description: "NIST SP 800-218 (SSDF) PO.3: specify and maintain the toolchain"
# custom:
#   id: ENV-CITED-PROFILE-001
#   severity: medium
#   category: environment-profile
#   citation: NIST SSDF PO.3.2
package charter.constitution.environment_profile.cited_profile

import rego.v1

# Each body reads the cited profile itself, first (no helper set of citations):
# charter.policy.guards proves the set empty for a decision whose block cites no
# profile (almost all of them), and Charter skips it.
deny contains {"rule": "ENV-CITED-PROFILE-001", "msg": msg} if {
	input.context.citation.profile != {}
	profile := input.context.citation.profile
	is_object(profile)
	input.context.citation.error == null
	some category, value in profile
	category in input.context.parameters.required_tool_categories
	some tool in as_list(value)
	not listed(category, tool)
	msg := sprintf(
		"the citation block cites %v as the %s entry of the Environment Profile, but the profile lists only [%s]; cite a listed tool",
		[tool, category, concat(", ", [t | some t in allowed(category); is_string(t)])],
	)
}

deny contains {"rule": "ENV-CITED-PROFILE-001", "msg": msg} if {
	input.context.citation.profile != {}
	profile := input.context.citation.profile
	is_object(profile)
	input.context.citation.error == null
	some category, value in profile
	category in input.context.parameters.required_tool_categories
	some tool in as_list(value)
	is_object(input.tools)
	chosen := input.tools[category]
	chosen != tool
	not chosen in as_list(value)
	msg := sprintf(
		"the citation block cites %v for %s but the proposal chooses %v (tools.%s); make them agree",
		[tool, category, chosen, category],
	)
}

as_list(value) := value if is_array(value)

else := [value]

listed(category, tool) if {
	tools := input.context.profile[category]
	is_array(tools)
	tool in tools
}

allowed(category) := tools if {
	tools := input.context.profile[category]
	is_array(tools)
} else := []
