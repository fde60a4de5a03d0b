# METADATA
# title: Databases are not reachable from the internet
# description: >-
#   SOC 2 CC6.6: data stores sit inside the system boundary. An added Terraform
#   line making a database or data warehouse publicly reachable is denied:
#   `publicly_accessible = true` (RDS, Redshift, DMS),
#   `public_network_access_enabled = true` (Azure SQL, PostgreSQL, Cosmos DB…)
#   or a Cloud SQL `authorized_networks` value of `0.0.0.0/0`.
# related_resources:
#   - ref: https://www.aicpa-cima.com/resources/download/2017-trust-services-criteria-with-revised-points-of-focus-2022
#     description: "AICPA Trust Services Criteria CC6.6: security measures against threats from sources outside system boundaries"
#   - ref: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_VPC.WorkingWithRDSInstanceinaVPC.html#USER_VPC.Hiding
#     description: "Amazon RDS User Guide: Hiding a DB instance in a VPC from the internet"
# custom:
#   id: SOC2-CC6-6-PUBLIC-DATABASE-001
#   severity: critical
#   category: network
#   citation: SOC2 CC6.6
#   applies_to:
#     paths: ["**/*.tf", "**/*.tf.json"]
package charter.packs.soc2.public_database

import rego.v1

import data.charter.packs.soc2.lib.patch

files := patch.changed(["**/*.tf", "**/*.tf.json"])

patterns := [
	`(?i)^\s*"?(publicly_accessible|public_network_access_enabled)"?\s*[:=]\s*true\b`,
	`(?i)^\s*"?value"?\s*[:=]\s*"0\.0\.0\.0/0"`,
]

deny contains {"rule": "SOC2-CC6-6-PUBLIC-DATABASE-001", "msg": msg} if {
	some file in files
	some line in patch.candidates(file, `(?i)publicly_accessible|public_network_access_enabled|0\.0\.0\.0/0`)
	some p in patterns
	regex.match(p, line)
	msg := sprintf("%s: `%s` makes a data store reachable from the internet; keep it private and connect through the VPC", [file.path, trim_space(line)])
}
