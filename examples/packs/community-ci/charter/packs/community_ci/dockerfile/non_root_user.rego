# METADATA
# title: Container images do not run as root
# description: >-
#   A container whose final stage sets no `USER`, or sets `root`/`0`, runs its
#   process as root, so an escape from the application is root in the container.
#   For a Dockerfile the change adds (its whole text is in the patch) the last
#   stage must set a non-root `USER`; for a modified Dockerfile only the patch
#   is known, so an added `USER root`/`USER 0` that is the last `USER` the patch
#   shows is asked about. An ask, not a deny: some images (build tools, init
#   containers) have a reason, and a reviewer decides.
# related_resources:
#   - ref: https://docs.docker.com/build/building/best-practices/#user
#     description: "Docker Docs: Building best practices, USER"
#   - ref: https://cwe.mitre.org/data/definitions/250.html
#     description: "CWE-250: Execution with Unnecessary Privileges"
# custom:
#   id: CI-DOCKER-NON-ROOT-001
#   severity: medium
#   category: containers
#   citation: CWE-250 (CIS Docker Benchmark 4.1, hadolint DL3002)
#   applies_to:
#     paths: ["**/Dockerfile", "**/Dockerfile.*", "**/*.Dockerfile", "**/Containerfile", "**/Containerfile.*"]
package charter.packs.community_ci.dockerfile.non_root_user

import rego.v1

import data.charter.packs.community_ci.dockerfile.dockerfiles
import data.charter.packs.community_ci.lib.patch

user_of(line) := lower(m[1]) if {
	m := regex.find_all_string_submatch_n(`(?i)^\s*USER\s+(\S+)`, line, 1)[0]
}

root(user) if regex.match(`^(root|0)(:.*)?$`, user)

# The text of the last stage of a whole file (after its last FROM line).
last_stage(text) := parts[count(parts) - 1] if {
	parts := regex.split(`(?im)^[ \t]*FROM[ \t]`, text)
	count(parts) > 1
}

ask contains {"rule": "CI-DOCKER-NON-ROOT-001", "msg": msg} if {
	some file in dockerfiles.files
	text := patch.full_text(file)
	stage := last_stage(text)
	users := [lower(m[1]) | some m in regex.find_all_string_submatch_n(`(?im)^[ \t]*USER[ \t]+(\S+)`, stage, -1)]
	problem := final_user_problem(users)
	msg := sprintf("%s: the final stage %s, so the container runs as root; add `USER <non-root>`", [file.path, problem])
}

final_user_problem(users) := "sets no USER" if count(users) == 0

final_user_problem(users) := sprintf("ends with USER %s", [users[count(users) - 1]]) if {
	count(users) > 0
	root(users[count(users) - 1])
}

ask contains {"rule": "CI-DOCKER-NON-ROOT-001", "msg": msg} if {
	some file in dockerfiles.files
	not patch.full_text(file)
	entries := [e | some e in patch.post(file); contains(upper(e.text), "USER"); user_of(e.text)]
	count(entries) > 0
	last := entries[count(entries) - 1]
	last.added
	root(user_of(last.text))
	msg := sprintf("%s: adds `%s` as the last USER the change shows, so the container runs as root", [file.path, trim_space(last.text)])
}
