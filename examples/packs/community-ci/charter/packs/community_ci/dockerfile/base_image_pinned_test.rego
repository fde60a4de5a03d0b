package charter.packs.community_ci.dockerfile.base_image_pinned_test

import rego.v1

import data.charter.packs.community_ci.dockerfile.base_image_pinned as rule
import data.charter.packs.community_ci.lib.fixtures_test.modified_file
import data.charter.packs.community_ci.lib.fixtures_test.new_file

# zizmorcore/zizmor Dockerfile @ adc4819 (MIT), its FROM lines.
zizmor := "FROM cgr.dev/chainguard/wolfi-base:latest AS prep\nARG ZIZMOR_VERSION\nFROM cgr.dev/chainguard/wolfi-base:latest\nCOPY --from=prep /root/.local/bin/zizmor /usr/bin/zizmor"

# CycloneDX/cdxgen ci/Dockerfile-secure (Apache-2.0): tag and digest.
cdxgen := "FROM ghcr.io/cyclonedx/cdxgen:master@sha256:a9b05bce2a320cbe3916645f4feb59a757b95577a47ddd78d96a8e9d89f31e5c"

test_latest_denied if {
	some e in rule.deny with input as {"files": [new_file("Dockerfile", zizmor)]}
	contains(e.msg, "uses :latest")
}

test_untagged_denied if {
	# bridgecrewio/checkov tests/dockerfile/checks/example_RootUser/failure/Dockerfile (Apache-2.0)
	some e in rule.deny with input as {"files": [new_file("docker/Dockerfile", "FROM base\n\nUSER root")]}
	contains(e.msg, "has no tag")
	count(rule.deny) == 1 with input as {"files": [new_file("Dockerfile.prod", "FROM --platform=linux/amd64 localhost:5000/team/app")]}
}

test_tag_digest_stage_scratch_and_arg_allowed if {
	# aquasecurity/trivy integration/testdata/fixtures/repo/dockerfile/Dockerfile (Apache-2.0)
	count(rule.deny) == 0 with input as {"files": [new_file("Dockerfile", "FROM alpine:3.13\n\nHEALTHCHECK NONE")]}
	count(rule.deny) == 0 with input as {"files": [new_file("Dockerfile", cdxgen)]}
	count(rule.deny) == 0 with input as {"files": [new_file("Dockerfile", "FROM golang:1.22 AS build\nFROM build\nFROM scratch\nFROM ${BASE}")]}
}

test_unchanged_from_lines_allowed if {
	count(rule.deny) == 0 with input as {"files": [modified_file("Dockerfile", " FROM base\n-RUN a\n+RUN b")]}
	count(rule.deny) == 1 with input as {"files": [modified_file("Dockerfile", "-FROM alpine:3.19\n+FROM alpine:latest")]}
}

test_dockerfile_by_suffix_denied if {
	count(rule.deny) == 1 with input as {"files": [new_file("images/web.Dockerfile", "FROM base")]}
	count(rule.deny) == 0 with input as {"files": [new_file("docs/build.md", "FROM base")]}
}
