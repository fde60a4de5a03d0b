package charter.constitution.supply_chain.release_artifacts_listed_test

import rego.v1

import data.charter.constitution.supply_chain.release_artifacts_listed
import data.charter.constitution.testdata.fixtures

test_release_without_artifacts_asks if {
	some entry in release_artifacts_listed.ask with input as object.union(fixtures.release, {"artifacts": []})
	entry.rule == "SC-RELEASE-ARTIFACTS-LISTED-001"
}

test_release_with_artifacts_allowed if {
	count(release_artifacts_listed.ask) == 0 with input as fixtures.release
}

test_pull_request_without_artifacts_allowed if {
	count(release_artifacts_listed.ask) == 0 with input as fixtures.pull_request
}
