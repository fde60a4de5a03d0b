# METADATA
# title: Builds do not pipe downloaded scripts into a shell
# description: >-
#   `curl … | sh` (or `wget -O- … | bash`, `sh -c "$(curl …)"`) runs whatever the
#   server returns at build time, unreviewed and unverified; the script can change
#   between two builds of the same Dockerfile. Download to a file, check its
#   checksum or signature, then run it. Read from the patch's added lines (new
#   and modified Dockerfiles); a pipe split over a `\` continuation is seen when
#   the download and the pipe are on one line.
# related_resources:
#   - ref: https://cwe.mitre.org/data/definitions/494.html
#     description: "CWE-494: Download of Code Without Integrity Check"
#   - ref: https://docs.docker.com/build/building/best-practices/#add-or-copy
#     description: "Docker Docs: Building best practices, ADD or COPY (verify remote downloads)"
# custom:
#   id: CI-DOCKER-CURL-PIPE-SHELL-001
#   severity: high
#   category: containers
#   citation: CWE-494
#   applies_to:
#     paths: ["**/Dockerfile", "**/Dockerfile.*", "**/*.Dockerfile", "**/Containerfile", "**/Containerfile.*"]
package charter.packs.community_ci.dockerfile.curl_pipe_shell

import rego.v1

import data.charter.packs.community_ci.dockerfile.dockerfiles
import data.charter.packs.community_ci.lib.patch

patterns := [
	`(?i)\b(curl|wget)\b[^|;&]*\|\s*(sudo\s+(-\S+\s+)*)?(env\s+(\S+=\S*\s+)*)?(/usr)?(/bin/)?(ba|z|k|da|a)?sh\b`,
	`(?i)\b(ba|z|k|da|a)?sh\s+-c\s+["']?\$\(\s*(curl|wget)\b`,
	`(?i)\b(ba|z|k|da|a)?sh\s+<\(\s*(curl|wget)\b`,
]

deny contains {"rule": "CI-DOCKER-CURL-PIPE-SHELL-001", "msg": msg} if {
	some file in dockerfiles.files
	some line in patch.candidates(file, `(?i)curl|wget`)
	some p in patterns
	regex.match(p, line)
	msg := sprintf("%s: `%s` runs a downloaded script without checking it; download, verify a checksum, then run", [file.path, trim_space(line)])
}
