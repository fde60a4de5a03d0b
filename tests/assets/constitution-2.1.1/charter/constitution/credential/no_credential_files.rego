# METADATA
# title: Agents never add cluster, cloud or production credential files
# description: >-
#   A change by an agent must not add or modify (any status but `removed`)
#   files that hold cluster, cloud or production credentials: kubeconfigs
#   (`.kube/config`, `kubeconfig`, `kubeconfig.yaml`, `*.kubeconfig`), AWS
#   shared credentials (`.aws/credentials`), gcloud credentials
#   (`.config/gcloud/`, `application_default_credentials.json`), anything under
#   `.azure/`, Docker registry auth (`.docker/config.json`), `.netrc`,
#   `.git-credentials`, `.pgpass`, and SSH private keys (`id_rsa`,
#   `id_ed25519`, ...). Content counts too: an added line with a GCP
#   service-account key (`"type": "service_account"`) or embedded kubeconfig
#   client credentials (`client-key-data:`) is a credentials file whatever its
#   name. Agents are denied; a human adding such a file is paused (`ask`)
#   until a second person confirms it. Use workload identity or a secret store.
# related_resources:
#   - ref: https://cheatsheetseries.owasp.org/cheatsheets/Secrets_Management_Cheat_Sheet.html
#     description: "OWASP Secrets Management Cheat Sheet"
# custom:
#   id: CRED-NO-CREDENTIAL-FILES-001
#   severity: critical
#   category: credential
#   citation: SOC2 CC6.1
package charter.constitution.credential.no_credential_files

import rego.v1

path_patterns := {
	"a kubeconfig": `(^|/)(\.kube/config|kubeconfig(\.ya?ml|\.json)?|[^/]+\.kubeconfig)$`,
	"AWS shared credentials": `(^|/)\.aws/credentials$`,
	"gcloud credentials": `(^|/)(\.config/gcloud/|application_default_credentials\.json$)`,
	"Azure CLI credentials": `(^|/)\.azure/`,
	"Docker registry credentials": `(^|/)\.docker/config\.json$`,
	"a netrc/git/pg credentials file": `(^|/)(\.netrc|_netrc|\.git-credentials|\.pgpass)$`,
	"an SSH private key": `(^|/)id_(rsa|dsa|ecdsa|ed25519)$`,
}

content_patterns := {
	"a GCP service-account key": `"type"\s*:\s*"service_account"`,
	"embedded kubeconfig client credentials": `^\+\s*-?\s*(client-key-data|client-certificate-data)\s*:\s*\S`,
}

# One combined test first: most paths match none of the patterns. The path
# patterns as one alternation, written out (a test keeps it equal to
# path_patterns; building it at every evaluation cost more than the rest).
any_path := `((^|/)\.aws/credentials$)|((^|/)\.azure/)|((^|/)\.docker/config\.json$)|((^|/)(\.kube/config|kubeconfig(\.ya?ml|\.json)?|[^/]+\.kubeconfig)$)|((^|/)(\.netrc|_netrc|\.git-credentials|\.pgpass)$)|((^|/)id_(rsa|dsa|ecdsa|ed25519)$)|((^|/)(\.config/gcloud/|application_default_credentials\.json$))`

content_guards := {
	"a GCP service-account key": "service_account",
	"embedded kubeconfig client credentials": "-data",
}

kinds(file) := path_kinds(file.path) | content_kinds(file)

path_kinds(path) := {kind | some kind, pattern in path_patterns; regex.match(pattern, path)} if {
	regex.match(any_path, path)
} else := set()

content_kinds(file) := {kind |
	patch := object.get(file, "patch", null)
	is_string(patch)
	some kind, guard in content_guards
	some raw in content_lines(patch, guard)
	regex.match(content_patterns[kind], raw)
}

content_lines(patch, guard) := [raw |
	contains(patch, guard)
	some raw in split(patch, "\n")
	startswith(raw, "+")
	not startswith(raw, "+++")
	contains(raw, guard)
]

# The files the rule judges, by index.
judged contains i if {
	is_array(input.files)
	some i, file in input.files
	is_object(file)
	is_string(file.path)
	object.get(file, "status", "modified") != "removed"
}

# Every alternative of a path pattern holds one of these literals: a path with
# none cannot match, and when no path has one no pattern runs. In regorus a
# simple pattern like this costs about as much as one loop step, a pattern
# with classes or anchors ten times more.
path_literals := `kube|netrc|id_|\.aws/credentials|\.azure/|\.docker/config\.json|\.git-credentials|\.pgpass|\.config/gcloud/|application_default_credentials\.json`

# Likewise the content guards (the values of content_guards), over all patches.
content_literals := `service_account|-data`

# What the rule finds is {[file.path, kind] | some file judged; some kind in
# kinds(file)}. Each set computes it in two bodies, by path and by content,
# each starting (after the author's type) with one test of all paths or all
# patches for the literals: a proposal with no credential-like path or content
# pays for that and no regular expression or function call per file, and no
# helper rule in between (each reference to one costs a few microseconds, so
# path_literals and content_literals are written out; a test keeps them equal).
deny contains {"rule": "CRED-NO-CREDENTIAL-FILES-001", "msg": agent_adds(path, kind)} if {
	input.author.type == "agent"
	regex.match(`kube|netrc|id_|\.aws/credentials|\.azure/|\.docker/config\.json|\.git-credentials|\.pgpass|\.config/gcloud/|application_default_credentials\.json`, concat("\n", [path | some file in input.files; path := file.path; is_string(path)]))
	some i in judged
	path := input.files[i].path
	some kind in path_kinds(path)
}

deny contains {"rule": "CRED-NO-CREDENTIAL-FILES-001", "msg": agent_adds(file.path, kind)} if {
	input.author.type == "agent"
	regex.match(`service_account|-data`, concat("\n", [patch | some file in input.files; patch := file.patch; is_string(patch)]))
	some i in judged
	file := input.files[i]
	patch := object.get(file, "patch", null)
	is_string(patch)
	some guard in content_guards
	contains(patch, guard)
	some kind in content_kinds(file)
}

ask contains {"rule": "CRED-NO-CREDENTIAL-FILES-001", "msg": someone_adds(path, kind)} if {
	input.author.type != "agent"
	regex.match(`kube|netrc|id_|\.aws/credentials|\.azure/|\.docker/config\.json|\.git-credentials|\.pgpass|\.config/gcloud/|application_default_credentials\.json`, concat("\n", [path | some file in input.files; path := file.path; is_string(path)]))
	some i in judged
	path := input.files[i].path
	some kind in path_kinds(path)
}

ask contains {"rule": "CRED-NO-CREDENTIAL-FILES-001", "msg": someone_adds(file.path, kind)} if {
	input.author.type != "agent"
	regex.match(`service_account|-data`, concat("\n", [patch | some file in input.files; patch := file.patch; is_string(patch)]))
	some i in judged
	file := input.files[i]
	patch := object.get(file, "patch", null)
	is_string(patch)
	some guard in content_guards
	contains(patch, guard)
	some kind in content_kinds(file)
}

agent_adds(path, kind) := sprintf(
	"agent %s adds %s (%s); agents never commit cluster, cloud or production credentials: drop the file and use workload identity or a secret store",
	[input.author.id, kind, path],
)

someone_adds(path, kind) := sprintf(
	"%s adds %s (%s); a second person must confirm that no real credential is committed, or drop the file",
	[input.author.id, kind, path],
)
