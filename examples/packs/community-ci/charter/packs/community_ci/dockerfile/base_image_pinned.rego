# METADATA
# title: Base images are pinned by tag or digest, never latest
# description: >-
#   `FROM image` without a tag means `image:latest`, and `:latest` moves: the
#   build's base changes under a reviewed Dockerfile. Every `FROM` line the
#   change adds must name a tag other than `latest`, or a digest (`@sha256:`;
#   a digest pins any tag). `scratch`, an earlier stage of the same file
#   (`FROM build`) and a reference built from an `ARG` (`FROM ${BASE}`, which
#   the patch cannot resolve) are not judged. Read from the patch's added
#   lines; stage names from the lines the patch shows.
# related_resources:
#   - ref: https://docs.docker.com/build/building/best-practices/#pin-base-image-versions
#     description: "Docker Docs: Building best practices, pin base image versions"
#   - ref: https://github.com/hadolint/hadolint/wiki/DL3007
#     description: "hadolint DL3006/DL3007: always tag the image version; using latest is prone to errors"
#   - ref: https://cwe.mitre.org/data/definitions/829.html
#     description: "CWE-829: Inclusion of Functionality from Untrusted Control Sphere"
# custom:
#   id: CI-DOCKER-BASE-PINNED-001
#   severity: medium
#   category: containers
#   citation: CWE-829 (hadolint DL3006, DL3007)
#   applies_to:
#     paths: ["**/Dockerfile", "**/Dockerfile.*", "**/*.Dockerfile", "**/Containerfile", "**/Containerfile.*"]
package charter.packs.community_ci.dockerfile.base_image_pinned

import rego.v1

import data.charter.packs.community_ci.dockerfile.dockerfiles
import data.charter.packs.community_ci.lib.patch

# The tag of a reference without a digest: after the last `:` of its last
# path segment (a registry port sits in the first one).
tag(image) := t if {
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	t := split(last, ":")[1]
}

judged(image, file) if {
	lower(image) != "scratch"
	not contains(image, "$")
	not lower(image) in dockerfiles.stages(file)
	not contains(image, "@sha256:")
}

problem(image) := "has no tag, which means :latest" if not tag(image)

problem(image) := "uses :latest" if lower(tag(image)) == "latest"

deny contains {"rule": "CI-DOCKER-BASE-PINNED-001", "msg": msg} if {
	some file in dockerfiles.files
	some line in patch.candidates(file, `(?i)from`)
	image := dockerfiles.from_line(line).image
	judged(image, file)
	msg := sprintf("%s: `FROM %s` %s; pin a version tag or a digest (@sha256:…)", [file.path, image, problem(image)])
}
