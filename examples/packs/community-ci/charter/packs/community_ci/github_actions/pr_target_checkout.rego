# METADATA
# title: pull_request_target workflows do not check out the pull request's code
# description: >-
#   A workflow triggered by `pull_request_target` or `workflow_run` runs with the
#   base repository's secrets and a write token. Checking out the pull request's
#   head (`github.event.pull_request.head.sha|ref`, `github.head_ref`,
#   `github.event.workflow_run.head_sha|head_branch`), directly or through a
#   job or workflow `env` variable, runs the contributor's code with them (a
#   "pwn request"): denied. A workflow the change adds is parsed as YAML
#   (regorus `yaml.unmarshal`); one that is not valid YAML is asked about. For a
#   modified workflow the proposal carries only the patch, so the rule reads its
#   lines: an added line referencing the head in a file whose visible lines name
#   one of the triggers is denied (an `env` indirection outside the hunks is not
#   seen).
# related_resources:
#   - ref: https://securitylab.github.com/resources/github-actions-preventing-pwn-requests/
#     description: "GitHub Security Lab: Preventing pwn requests"
#   - ref: https://docs.github.com/en/actions/reference/workflows-and-actions/events-that-trigger-workflows#pull_request_target
#     description: "GitHub Docs: the pull_request_target event"
#   - ref: https://cwe.mitre.org/data/definitions/829.html
#     description: "CWE-829: Inclusion of Functionality from Untrusted Control Sphere"
# custom:
#   id: CI-GHA-PRT-CHECKOUT-001
#   severity: critical
#   category: ci
#   citation: CWE-829 (GitHub Security Lab, pwn requests)
#   applies_to:
#     paths: [".github/workflows/*.yml", ".github/workflows/*.yaml"]
package charter.packs.community_ci.github_actions.pr_target_checkout

import rego.v1

import data.charter.packs.community_ci.github_actions.workflows
import data.charter.packs.community_ci.lib.patch

privileged := {"pull_request_target", "workflow_run"}

head_pattern := `github\.event\.pull_request\.head\.(sha|ref)|github\.head_ref|github\.event\.workflow_run\.head(_sha|_branch|\.sha)`

# The `on:` value. A YAML 1.1 reader (OPA's yaml.unmarshal) reads the key `on` as
# the boolean true, which becomes the key "true"; regorus keeps "on".
on_value(doc) := doc.on

on_value(doc) := doc["true"] if not "on" in object.keys(doc)

triggers(doc) := {on} if {
	on := on_value(doc)
	is_string(on)
}

triggers(doc) := {t | some t in on_value(doc)} if is_array(on_value(doc))

triggers(doc) := object.keys(on_value(doc)) if is_object(on_value(doc))

# The names of env variables (workflow or job level) holding the head ref.
head_vars(doc, job) := {name |
	some scope in [object.get(doc, "env", {}), object.get(job, "env", {})]
	is_object(scope)
	some name, value in scope
	is_string(value)
	regex.match(head_pattern, value)
}

tainted(ref, _, _) if regex.match(head_pattern, ref)

tainted(ref, doc, job) if {
	some name in head_vars(doc, job)
	contains(ref, sprintf("env.%s", [name]))
}

# The parsed workflows the change adds that may name a privileged trigger, by their
# index in input.files: only a valid YAML text is parsed (regorus `yaml.is_valid`
# first: `yaml.unmarshal` of invalid text is an evaluation error, which fails the
# whole decision closed).
documents[i] := yaml.unmarshal(text) if {
	some i, file in workflows.files
	text := patch.full_text(file)
	may_name_privileged(text)
	yaml.is_valid(text)
}

# Parsing costs more than the rest of the rule: a text that spells no privileged
# trigger can hold one only through a YAML escape, which needs a backslash.
may_name_privileged(text) if {
	some marker in ["pull_request_target", "workflow_run", "\\"]
	contains(text, marker)
}

# The indices of added workflows whose text is not YAML: nothing in them can be checked.
unparseable contains i if {
	some i, file in workflows.files
	text := patch.full_text(file)
	not yaml.is_valid(text)
}

deny contains {"rule": "CI-GHA-PRT-CHECKOUT-001", "msg": msg} if {
	some i, doc in documents
	file := input.files[i]
	is_object(doc)
	some trigger in triggers(doc)
	trigger in privileged
	is_object(doc.jobs)
	some job_name, job in doc.jobs
	is_object(job)
	is_array(job.steps)
	some step in job.steps
	is_object(step)
	is_string(step.uses)
	startswith(step.uses, "actions/checkout")
	is_object(step["with"])
	ref := step["with"].ref
	is_string(ref)
	tainted(ref, doc, job)
	msg := sprintf("%s: job %s checks out the pull request's code (ref: %s) in a %s workflow, which runs with the repository's secrets; check out the base, or use `pull_request`", [file.path, job_name, ref, trigger])
}

deny contains {"rule": "CI-GHA-PRT-CHECKOUT-001", "msg": msg} if {
	some file in workflows.files
	not patch.full_text(file)
	some line in patch.candidates(file, head_pattern)
	regex.match(`^\s*ref:`, line)
	privileged_trigger_named(patch.post_text(file))
	msg := sprintf("%s: adds a checkout of the pull request's code (%s) to a workflow triggered by pull_request_target or workflow_run", [file.path, trim_space(line)])
}

privileged_trigger_named(text) if contains(text, "pull_request_target")

privileged_trigger_named(text) if contains(text, "workflow_run")

ask contains {"rule": "CI-GHA-PRT-CHECKOUT-001", "msg": msg} if {
	some i in unparseable
	file := input.files[i]
	msg := sprintf("%s: the new workflow is not valid YAML, so its triggers and checkouts cannot be checked", [file.path])
}
