package charter.constitution.data_residency.no_source_export_test

import rego.v1

import data.charter.constitution.data_residency.no_source_export
import data.charter.constitution.testdata.fixtures

exporting := object.union(fixtures.pull_request, {"export": {"source_code": true, "destination": "s3://partner-bucket/review"}})

test_source_code_export_denied if {
	some entry in no_source_export.deny with input as exporting
	entry.rule == "DATA-NO-SOURCE-EXPORT-001"
	contains(entry.msg, "s3://partner-bucket/review")
}

test_source_code_export_without_destination_denied if {
	some entry in no_source_export.deny with input as object.union(fixtures.pull_request, {"export": {"source_code": true, "destination": null}})
	contains(entry.msg, "an unnamed destination")
}

test_source_code_export_opted_in_allowed if {
	count(no_source_export.deny) == 0 with input as fixtures.with_parameters(exporting, {"allow_source_code_export": true})
}

test_metadata_only_export_allowed if {
	count(no_source_export.deny) == 0 with input as object.union(fixtures.pull_request, {"export": {"source_code": false, "destination": "s3://audit"}})
}
