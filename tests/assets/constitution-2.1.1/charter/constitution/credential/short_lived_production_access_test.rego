package charter.constitution.credential.short_lived_production_access_test

import rego.v1

import data.charter.constitution.credential.short_lived_production_access as access_rule
import data.charter.constitution.testdata.fixtures

pr_granting(grants) := object.union(fixtures.pull_request, {"access": grants})

test_production_grant_without_duration_denied if {
	some entry in access_rule.deny with input as pr_granting([{"principal": "agent-7", "environment": "production", "role": "db-admin"}])
	entry.rule == "CRED-SHORT-LIVED-PROD-ACCESS-001"
	contains(entry.msg, "no duration")
}

test_production_grant_null_duration_denied if {
	some entry in access_rule.deny with input as pr_granting([{"principal": "oncall", "environment": "Production", "role": "admin", "duration_hours": null}])
	entry.rule == "CRED-SHORT-LIVED-PROD-ACCESS-001"
}

test_production_grant_too_long_denied if {
	some entry in access_rule.deny with input as pr_granting([{"principal": "oncall", "environment": "production", "role": "admin", "duration_hours": 24}])
	contains(entry.msg, "lasts 24 hours")
}

test_production_grant_above_tightened_limit_denied if {
	some entry in access_rule.deny with input as fixtures.with_parameters(
		pr_granting([{"principal": "oncall", "environment": "prod", "role": "admin", "duration_hours": 4}]),
		{"max_production_access_hours": 2},
	)
	entry.rule == "CRED-SHORT-LIVED-PROD-ACCESS-001"
}

test_short_production_grant_allowed if {
	count(access_rule.deny) == 0 with input as pr_granting([{"principal": "oncall", "environment": "production", "role": "admin", "duration_hours": 8}])
}

test_standing_staging_grant_allowed if {
	count(access_rule.deny) == 0 with input as pr_granting([{"principal": "agent-7", "environment": "staging", "role": "deployer"}])
}
