# METADATA
# title: Changes to who may approve code are reviewed by another person
# description: >-
#   SOC 2 CC6.1 covers the registration and authorisation of users and the
#   management of access rights. CODEOWNERS and repository settings files
#   (`.github/settings.yml`) decide who must approve which code and who has
#   access; a change to them is an access change. It is asked about unless a
#   human other than the author has approved it (agent approvals never count),
#   in approvals Charter read from GitHub's reviews
#   (`input.context.facts.approvals_verified`; since 2.0.0): an approval the
#   proposal only declares is its own word.
# related_resources:
#   - ref: https://www.aicpa-cima.com/resources/download/2017-trust-services-criteria-with-revised-points-of-focus-2022
#     description: "AICPA Trust Services Criteria CC6.1: logical access security, user registration and access rights"
#   - ref: https://docs.github.com/en/repositories/managing-your-repositorys-settings-and-features/customizing-your-repository/about-code-owners
#     description: "GitHub Docs: About code owners"
# custom:
#   id: SOC2-CC6-1-ACCESS-FILES-REVIEWED-001
#   severity: medium
#   category: access-control
#   citation: SOC2 CC6.1
#   applies_to:
#     kinds: [pull_request, merge, push]
#     paths: ["CODEOWNERS", ".github/CODEOWNERS", "docs/CODEOWNERS", ".github/settings.yml", ".gitlab/CODEOWNERS"]
package charter.packs.soc2.access_control_files

import rego.v1

import data.charter.packs.soc2.lib.patch

globs := patch.selector(["CODEOWNERS", ".github/CODEOWNERS", "docs/CODEOWNERS", ".github/settings.yml", ".gitlab/CODEOWNERS"])

touched contains path if {
	some file in input.files
	some path in [file.path, object.get(file, "previous_path", null)]
	is_string(path)
	patch.selected(path, globs)
}

approvals := input.approvals if is_array(input.approvals)

else := []

independent_human_approval if {
	input.context.facts.approvals_verified == true
	some a in approvals
	is_object(a)
	a.type == "human"
	is_string(a.by)
	lower(trim_space(a.by)) != lower(trim_space(input.author.id))
}

ask contains {"rule": "SOC2-CC6-1-ACCESS-FILES-REVIEWED-001", "msg": msg} if {
	input.kind in {"pull_request", "merge", "push"}
	count(touched) > 0
	not independent_human_approval
	msg := sprintf("%s decide(s) who approves code and who has access; a human other than the author must review this access change", [concat(", ", sort(touched))])
}
