# METADATA
# title: ADD does not fetch remote URLs unchecked
# description: >-
#   `ADD https://…` downloads at build time with no integrity check (and, for an
#   archive, no control over what is unpacked); the file can change between two
#   builds. Use `ADD --checksum=sha256:… URL` or `COPY` a verified download. Read
#   from the patch's added lines (new and modified Dockerfiles).
# related_resources:
#   - ref: https://docs.docker.com/reference/dockerfile/#add---checksum
#     description: "Dockerfile reference: ADD --checksum"
#   - ref: https://cwe.mitre.org/data/definitions/494.html
#     description: "CWE-494: Download of Code Without Integrity Check"
# custom:
#   id: CI-DOCKER-ADD-URL-001
#   severity: medium
#   category: containers
#   citation: CWE-494 (CIS Docker Benchmark 4.9, hadolint DL3020)
#   applies_to:
#     paths: ["**/Dockerfile", "**/Dockerfile.*", "**/*.Dockerfile", "**/Containerfile", "**/Containerfile.*"]
package charter.packs.community_ci.dockerfile.add_url

import rego.v1

import data.charter.packs.community_ci.dockerfile.dockerfiles
import data.charter.packs.community_ci.lib.patch

deny contains {"rule": "CI-DOCKER-ADD-URL-001", "msg": msg} if {
	some file in dockerfiles.files
	some line in patch.candidates(file, `(?i)ADD`)
	regex.match(`(?i)^\s*ADD\s+((--\S+)\s+)*["']?(https?://|ftp://|git@)`, line)
	not regex.match(`(?i)^\s*ADD\s+(--\S+\s+)*--checksum=sha256:[0-9a-f]{64}\s`, line)
	msg := sprintf("%s: `%s` downloads without an integrity check; add --checksum=sha256:… or COPY a verified file", [file.path, trim_space(line)])
}
