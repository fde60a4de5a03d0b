# METADATA
# title: Production access is short-lived
# description: >-
#   A change that grants access (`access[]`) to the production environment
#   (environment `production` or `prod`, any case) must bound it:
#   duration_hours must be a positive number no greater than the parameter
#   max_production_access_hours (default 8). A grant without a duration is a
#   standing grant and is denied. Use just-in-time access that expires.
# related_resources:
#   - ref: https://cheatsheetseries.owasp.org/cheatsheets/Secrets_Management_Cheat_Sheet.html
#     description: "OWASP Secrets Management Cheat Sheet"
# custom:
#   id: CRED-SHORT-LIVED-PROD-ACCESS-001
#   severity: high
#   category: credential
#   citation: SOC2 CC6.2
package charter.constitution.credential.short_lived_production_access

import rego.v1

max_hours := input.context.parameters.max_production_access_hours

production(grant) if {
	is_object(grant)
	is_string(grant.environment)
	lower(grant.environment) in {"production", "prod"}
}

who(grant) := sprintf("%v as %v", [object.get(grant, "principal", "(unnamed principal)"), object.get(grant, "role", "(unnamed role)")])

# Each body reads input.access itself, first: charter.policy.guards proves the
# set empty for a decision without access grants, and Charter skips it.
deny contains {"rule": "CRED-SHORT-LIVED-PROD-ACCESS-001", "msg": msg} if {
	access := input.access
	is_array(access)
	some grant in access
	production(grant)
	not is_number(object.get(grant, "duration_hours", null))
	msg := sprintf(
		"production access for %s has no duration; standing production access is not allowed: set duration_hours to at most %v",
		[who(grant), max_hours],
	)
}

deny contains {"rule": "CRED-SHORT-LIVED-PROD-ACCESS-001", "msg": msg} if {
	access := input.access
	is_array(access)
	some grant in access
	production(grant)
	hours := object.get(grant, "duration_hours", null)
	is_number(hours)
	not valid_duration(hours)
	msg := sprintf(
		"production access for %s lasts %v hours; grants must be positive and at most %v hours (max_production_access_hours)",
		[who(grant), hours, max_hours],
	)
}

valid_duration(hours) if {
	hours > 0
	hours <= max_hours
}
