# METADATA
# title: Source code never leaves unless the operator opted in
# description: >-
#   A proposal that exports source code (`export.source_code == true`, e.g. to
#   an external model provider, a third-party review service or an audit
#   export) is denied unless the operator set the parameter
#   allow_source_code_export to true. Lower layers can only keep it false.
# related_resources:
#   - ref: https://csrc.nist.gov/pubs/sp/800/53/r5/upd1/final
#     description: "NIST SP 800-53 Rev. 5 AC-4: information flow enforcement"
# custom:
#   id: DATA-NO-SOURCE-EXPORT-001
#   severity: high
#   category: data-residency
#   citation: SOC2 C1.1
package charter.constitution.data_residency.no_source_export

import rego.v1

deny contains {"rule": "DATA-NO-SOURCE-EXPORT-001", "msg": msg} if {
	# First: charter.policy.guards proves the set empty unless it holds, and
	# Charter skips it (input.export is an object when it does).
	input.export.source_code == true
	is_object(input.export)
	input.context.parameters.allow_source_code_export != true
	destination := object.get(input.export, "destination", null)
	msg := sprintf(
		"the proposal exports source code to %v, but allow_source_code_export is false; keep the code in place or have the operator opt in",
		[destination_text(destination)],
	)
}

destination_text(d) := d if is_string(d)

else := "an unnamed destination"
