# Shared fixtures for the constitution's Rego tests.
#
# Tests do not go through Charter's context builder, so every test input
# carries its own `context`. The parameters and the Environment Profile here
# are read from the constitution's own data.json declarations, so tests always
# run against the shipped defaults. This module lives in a *_test.rego file so
# that it is never loaded into production decisions.
package charter.constitution.testdata.fixtures

import rego.v1

parameters := {name: decl.value | some name, decl in data.charter.constitution.parameters}

profile := data.charter.constitution.profile

rule_ids := [
	"CITE-BLOCK-REQUIRED-001",
	"CRED-NO-STATIC-SECRETS-001",
	"PROC-MERGE-HUMAN-APPROVALS-001",
	"PROC-NO-DIRECT-PUSH-001",
	"SC-SIGNED-SBOM-001",
]

citation := {
	"present": true,
	"rules": ["PROC-MERGE-HUMAN-APPROVALS-001"],
	"blast_radius": "docs only; no runtime change",
	"rollback": "git revert the merge commit",
	"profile": {},
	"profile_change": false,
	"error": null,
}

context := {
	"now": "2026-11-20T10:00:00.000000Z",
	"now_ns": 1795172400000000000,
	"weekday": "Friday",
	"hour": 10,
	"minute": 0,
	"parameters": parameters,
	"profile": profile,
	"citation": citation,
	"stack": {"rule_ids": rule_ids},
}

agent := {"id": "agent-7", "type": "agent"}

human := {"id": "alice", "type": "human"}

# A compliant pull request by an agent: a docs change with a valid citation.
pull_request := {
	"kind": "pull_request",
	"repository": "acme/platform",
	"base": "main",
	"head": "docs/cm-42-readme",
	"author": agent,
	"title": "docs: explain the billing roll-up",
	"body": "Docs only.",
	"files": [{"path": "docs/billing.md", "status": "modified", "previous_path": null, "patch": "@@ -1,2 +1,3 @@\n # Billing\n+The roll-up runs nightly.\n"}],
	"approvals": [],
	"labels": ["docs"],
	"context": context,
}

# The merge of that pull request, approved by one human who is not the author.
merge := object.union(pull_request, {
	"kind": "merge",
	"approvals": [{"by": "alice", "type": "human", "groups": ["platform"]}],
})

# A release whose artifacts carry a signed SBOM and signed provenance and whose
# tool choices all come from the Environment Profile.
release := object.union(pull_request, {
	"kind": "release",
	"head": "v2.4.0",
	"files": [],
	"artifacts": [{
		"name": "api",
		"digest": "sha256:4d5f0c1e2b3a4968778695a4b3c2d1e0f9e8d7c6b5a4938271605f4e3d2c1b0a",
		"sbom": {"format": "cyclonedx", "signed": true},
		"provenance": {"format": "in-toto", "signed": true},
	}],
	"tools": {"sbom": "syft", "signing": "cosign", "provenance": "slsa-github-generator", "vulnerability-scan": "grype"},
})

# `input` with `context` entries replaced (deep merge).
with_context(doc, overrides) := object.union(doc, {"context": overrides})

with_citation(doc, overrides) := object.union(doc, {"context": {"citation": overrides}})

with_parameters(doc, overrides) := object.union(doc, {"context": {"parameters": overrides}})

# A file entry whose patch adds the given lines.
added_file(path, lines) := {
	"path": path,
	"status": "added",
	"previous_path": null,
	"patch": concat("\n", array.concat([sprintf("@@ -0,0 +1,%d @@", [count(lines)])], [sprintf("+%s", [l]) | some l in lines])),
}

# `doc` with its author replaced by `author` (any JSON value).
with_author(doc, author) := object.union(object.remove(doc, ["author"]), {"author": author})

# The compliant pull request, authored by a human.
human_pull_request := with_author(pull_request, human)

# Authors that are not exactly `{"type": "human"}`: each counts as an agent.
not_exactly_human := [
	{"id": "alice", "type": "Human"},
	{"id": "alice", "type": "HUMAN"},
	{"id": "alice", "type": " human"},
	{"id": "alice", "type": ""},
	{"id": "alice", "type": null},
	{"id": "alice", "type": ["human"]},
	{"id": "alice", "type": true},
	{"id": "alice"},
	"human",
	null,
]

# Values of human_citation that are not exactly "ask": each is read as "deny".
not_exactly_ask := ["allow", "Ask", "", null, 0, false, ["ask"]]

# `doc` whose context carries no human_citation parameter at all.
without_parameter(doc, name) := json.remove(doc, [sprintf("context/parameters/%s", [name])])

# `doc` without an author at all.
without_author(doc) := object.remove(doc, ["author"])
