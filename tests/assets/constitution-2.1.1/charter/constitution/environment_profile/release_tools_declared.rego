# METADATA
# title: A release declares a tool for every required category
# description: >-
#   A `release` must name, in `tools`, the tool it used for every category in
#   required_tool_categories (default sbom, signing, provenance,
#   vulnerability-scan), so that each choice can be checked against the
#   Environment Profile. A missing choice is denied rather than asked: the
#   release author always knows which tools built and signed it, and an
#   unverifiable release must not ship on a human's say-so alone.
# related_resources:
#   - ref: https://csrc.nist.gov/pubs/sp/800/218/final
#     description: "NIST SP 800-218 (SSDF) PO.3: specify and maintain the toolchain"
# custom:
#   id: ENV-RELEASE-TOOLS-DECLARED-001
#   severity: high
#   category: environment-profile
#   citation: NIST SSDF PO.3.2
#   applies_to:
#     kinds: [release]
package charter.constitution.environment_profile.release_tools_declared

import rego.v1

# The categories the release declares a tool for (a non-blank string), gathered
# once in the body: a function called per category costs more in regorus.
deny contains {"rule": "ENV-RELEASE-TOOLS-DECLARED-001", "msg": msg} if {
	input.kind == "release"
	declared := {name |
		is_object(input.tools)
		some name, choice in input.tools
		is_string(choice)
		trim_space(choice) != ""
	}
	some category in input.context.parameters.required_tool_categories
	not category in declared
	msg := sprintf(
		"release does not declare its %s tool; set tools.%s to one of [%s] from the Environment Profile",
		[category, category, concat(", ", [t | some t in object.get(input.context.profile, category, []); is_string(t)])],
	)
}
