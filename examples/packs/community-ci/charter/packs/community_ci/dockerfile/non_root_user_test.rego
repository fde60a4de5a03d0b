package charter.packs.community_ci.dockerfile.non_root_user_test

import rego.v1

import data.charter.packs.community_ci.dockerfile.non_root_user as rule
import data.charter.packs.community_ci.lib.fixtures_test.modified_file
import data.charter.packs.community_ci.lib.fixtures_test.new_file

# bridgecrewio/checkov tests/dockerfile/checks/example_AddExists/failure/Dockerfile (Apache-2.0)
checkov_add := "FROM  base\n\nLABEL foo=\"bar baz\"\nADD http://example.com/package.zip /temp\nUSER  me"

test_root_user_asks if {
	# bridgecrewio/checkov tests/dockerfile/checks/example_RootUser/failure/Dockerfile (Apache-2.0)
	some e in rule.ask with input as {"files": [new_file("Dockerfile", "FROM base\n\nUSER root")]}
	contains(e.msg, "ends with USER root")
}

test_no_user_asks if {
	# aquasecurity/trivy integration/testdata/fixtures/repo/dockerfile/Dockerfile (Apache-2.0)
	some e in rule.ask with input as {"files": [new_file("Dockerfile", "FROM alpine:3.13\n\nHEALTHCHECK NONE")]}
	contains(e.msg, "sets no USER")
}

test_user_only_in_build_stage_asks if {
	count(rule.ask) == 1 with input as {"files": [new_file("Dockerfile", "FROM golang:1.22 AS build\nUSER builder\nFROM alpine:3.20\nCOPY --from=build /app /app")]}
}

test_non_root_user_allowed if {
	count(rule.ask) == 0 with input as {"files": [new_file("Dockerfile", checkov_add)]}
	count(rule.ask) == 0 with input as {"files": [new_file("Dockerfile", "FROM alpine:3.20\nUSER 10001:10001")]}
}

test_modified_file_asks_only_for_an_added_root_user if {
	count(rule.ask) == 1 with input as {"files": [modified_file("Dockerfile", " FROM alpine:3.20\n-USER app\n+USER root")]}
	count(rule.ask) == 0 with input as {"files": [modified_file("Dockerfile", "+USER root\n RUN make\n USER app")]}
	count(rule.ask) == 0 with input as {"files": [modified_file("Dockerfile", " FROM alpine:3.20\n+RUN make")]}
}
