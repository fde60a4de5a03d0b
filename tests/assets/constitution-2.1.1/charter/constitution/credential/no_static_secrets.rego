# METADATA
# title: No long-lived static credentials in added lines
# description: >-
#   Lines a change ADDS (patch lines starting with `+`, except `+++` headers)
#   must not carry long-lived static credentials: private key blocks
#   (`-----BEGIN ... PRIVATE KEY-----`), AWS access key ids (AKIA/ASIA + 16
#   upper-case letters or digits), GitHub tokens (ghp_, gho_, ghs_, ghu_, ghr_,
#   github_pat_), GitLab tokens (glpat-), and generic assignments to a name
#   containing password, passwd, secret, token, api_key/apikey or access_key
#   (`=`, `:=` or `:`) whose value looks random. Entropy heuristic (Rego has no
#   Shannon entropy): the value is at least 16 characters of secret-like
#   characters (letters, digits, + / = _ . ~ ! @ # $ % ^ & * -), does not start
#   with `$` (a variable reference), has at least 10 distinct characters, and
#   mixes upper case, lower case and digits, or is at least 32 characters of
#   letters and digits (hex/base32 keys). Values naming a placeholder (example,
#   placeholder, changeme, dummy, redacted, your_...) are ignored.
#   Fixture escape hatch: a finding is excused only when the file lies in a
#   test-fixture directory (a path component named fixtures, fixture,
#   __fixtures__ or testdata) AND the line itself carries the marker
#   `charter:example-credential`. Private keys are never excused, and AWS
#   access key ids in CI configuration (.github/workflows/, .gitlab-ci.yml,
#   .gitlab/ci/, .circleci/, .buildkite/, Jenkinsfile, azure-pipelines.yml,
#   bitbucket-pipelines.yml, .travis.yml, .drone.yml, cloudbuild.yaml,
#   buildspec.yml) are never excused. Messages name the file and patch line,
#   never the secret itself. Charter finds the lines itself (the same
#   definitions, in Python) and passes them as input.context.secret_scan; an
#   evaluator without that fact (plain OPA, conftest) runs the scan in Rego.
# related_resources:
#   - ref: https://cheatsheetseries.owasp.org/cheatsheets/Secrets_Management_Cheat_Sheet.html
#     description: "OWASP Secrets Management Cheat Sheet"
#   - ref: https://csrc.nist.gov/pubs/sp/800/218/final
#     description: NIST SSDF PS.1 — protect all forms of code
# custom:
#   id: CRED-NO-STATIC-SECRETS-001
#   severity: critical
#   category: credential
#   citation: SOC2 CC6.1
package charter.constitution.credential.no_static_secrets

import rego.v1

marker := "charter:example-credential"

# ------------------------------------------------------------------ detection
#
# What counts as a finding, line by line, on an added line (it starts with `+`
# and not with `+++`). The token patterns match within one line: no class
# matches a newline, and `^`/`$` are the line's ends.
token_patterns := {
	"a private key block": `-----BEGIN[ A-Z0-9]*PRIVATE KEY( BLOCK)?-----`,
	"an AWS access key id": `(^|[^A-Za-z0-9\n])(AKIA|ASIA)[A-Z0-9]{16}([^A-Za-z0-9\n]|$)`,
	"a GitHub token": `(^|[^A-Za-z0-9_\n])(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})`,
	"a GitLab token": `(^|[^A-Za-z0-9_\n])glpat-[A-Za-z0-9_-]{20,}`,
}

# A literal every match of the token pattern contains.
token_literals := {
	"a private key block": "PRIVATE KEY",
	"an AWS access key id": "AKIA|ASIA",
	"a GitHub token": "gh[pousr]_|github_pat_",
	"a GitLab token": "glpat-",
}

generic_kind := "a hard-coded secret assignment"

# A generic assignment: a name containing a keyword, then `=`, `:=` or `:`,
# then a value. Every match on the line counts. Only a line whose lower-cased
# text contains one of `assignment_keywords` is considered.
assignment := `(?i)([a-z0-9_.-]*(?:passw(?:or)?d|secret|token|api[_-]?key|apikey|access[_-]?key)[a-z0-9_.-]*)["']?\s*(?::=|=|:)\s*["']?([^\s"',;]+)`

assignment_keywords := `passw|secret|token|api_key|api-key|apikey|access_key|access-key|accesskey`

# The entropy heuristic for an assignment's value (Rego has no Shannon
# entropy): at least 16 characters, all of them secret-like, not a `$`
# reference, digits and letters of both cases (or of either case when the
# value has at least 32 characters: hex/base32 keys), no placeholder word, and
# at least 10 distinct characters. The value is ASCII once `secret_value`
# matched, so it has a lower-case letter exactly when upper-casing changes it.
secret_value := `^[A-Za-z0-9+/=_.~!@#$%^&*-]+$`

placeholders := `example|placeholder|changeme|dummy|redacted|your_|your-`

high_entropy(value) if {
	count(value) >= 16
	not startswith(value, "$")
	regex.match(secret_value, value)
	regex.match(`[0-9]`, value)
	folded := lower(value)
	letter_cases := count([true | some changed in [folded != value, upper(value) != value]; changed])
	long := count([true | count(value) >= 32])
	letter_cases >= 1
	letter_cases + long >= 2
	not regex.match(placeholders, folded)
	count({c | some c in split(value, "")}) >= 10
}

generic(line) if {
	regex.match(assignment_keywords, lower(line))
	some m in regex.find_all_string_submatch_n(assignment, line, -1)
	high_entropy(m[2])
}

ci_config(path) if regex.match(
	`(^|/)(\.github/workflows/|\.gitlab-ci\.ya?ml$|\.gitlab/ci/|\.circleci/|\.buildkite/|Jenkinsfile$|azure-pipelines\.ya?ml$|bitbucket-pipelines\.ya?ml$|\.travis\.ya?ml$|\.drone\.ya?ml$|cloudbuild\.ya?ml$|buildspec\.ya?ml$)`,
	path,
)

fixture_path(path) if regex.match(`(^|/)(fixtures?|__fixtures__|testdata)/`, path)

excused(path, kind, line) if {
	contains(line, marker)
	excusable(path, kind)
}

excusable(path, kind) if {
	fixture_path(path)
	kind != "a private key block"
	not aws_in_ci(path, kind)
}

aws_in_ci(path, kind) if {
	kind == "an AWS access key id"
	ci_config(path)
}

# ------------------------------------------------------------ Charter's scan
#
# Charter applies the definitions above itself, before evaluation
# (charter.policy.secrets), and passes every finding as [path, patch line,
# kind] in input.context.secret_scan: under `findings` when the line does not
# carry the marker (never excused), under `marked` when it does. Charter alone
# writes input.context (a document's own `context` is discarded), and it marks
# its evaluations with data.charter_internal.secret_scan, a root no bundle may
# write: an input cannot switch the Rego scan below off. A scan in another
# shape falls back to it.
charter_scan := input.context.secret_scan if {
	data.charter_internal.secret_scan == true
	is_object(input.context.secret_scan)
	is_array(input.context.secret_scan.findings)
	is_array(input.context.secret_scan.marked)
}

# The message and the marker are written out in these two heads (`message`,
# `marker`): in regorus a reference to a rule, even a constant one, costs a few
# microseconds on every evaluation, and these bodies run on every decision.
deny contains {"rule": "CRED-NO-STATIC-SECRETS-001", "msg": sprintf("%s (patch line %d) adds %s; remove it, rotate the credential, and load it at runtime from a secret store or short-lived identity (test fixtures may carry fake values only under a fixtures/ or testdata/ directory with the marker charter:example-credential on the line)", [path, n, kind])} if {
	some [path, n, kind] in charter_scan.findings
}

deny contains {"rule": "CRED-NO-STATIC-SECRETS-001", "msg": sprintf("%s (patch line %d) adds %s; remove it, rotate the credential, and load it at runtime from a secret store or short-lived identity (test fixtures may carry fake values only under a fixtures/ or testdata/ directory with the marker charter:example-credential on the line)", [path, n, kind])} if {
	some [path, n, kind] in charter_scan.marked
	not excusable(path, kind)
}

message := "%s (patch line %d) adds %s; remove it, rotate the credential, and load it at runtime from a secret store or short-lived identity (test fixtures may carry fake values only under a fixtures/ or testdata/ directory with the marker %s on the line)"

# ----------------------------------------------------------------------- scan
#
# Without Charter's scan (plain OPA or conftest on the bundle), the rule scans.
# How the definitions above are applied. In regorus a regular expression is
# cheap per byte but dear per call (every call starts with an empty matching
# cache), a loop step costs about a microsecond and a built-in call a few, so
# the proposal is scanned in a few calls over all its patches at once, however
# many files and lines it has:
#
# 1. The patches, joined by newlines, are checked for the literals a finding
#    needs. A proposal without any is done (one call).
# 2. One regular expression returns the added lines holding a literal (the
#    keywords case-insensitively): the candidates, each distinct line once.
# 3. Each token pattern whose literal occurs among the candidates runs once
#    over all of them, joined by newlines. The generic check runs per
#    candidate line; when there are many, only on those where a keyword is
#    assigned 16 or more secret characters not starting with `$` (what
#    `high_entropy` needs), found by one regular expression over all of them.
# 4. A file has a finding for every flagged line that is one of its lines.
#
# Steps 1-3 only ever pass on a superset of the lines the definitions flag.
patches := [patch |
	is_array(input.files)
	some file in input.files
	is_object(file)
	patch := object.get(file, "patch", null)
	is_string(patch)
]

all_text := concat("\n", patches)

any_literal := `PRIVATE KEY|AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|(?i:passw|secret|token|api[_-]?key|access[_-]?key)`

candidate_line := `(?m)^\+.*(?:PRIVATE KEY|AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|(?i:passw|secret|token|api[_-]?key|access[_-]?key)).*$`

generic_line := `(?m)^.*(?i:(?:passw|secret|token|api[_-]?key|access[_-]?key)[a-z0-9_.-]*)["']?[^\S\n]*(?::=|=|:)[^\S\n]*["']?[A-Za-z0-9+/=_.~!@#%^&*-][A-Za-z0-9+/=_.~!@#$%^&*-]{15}.*$`

candidates := {line |
	regex.match(any_literal, all_text)
	some line in regex.find_n(candidate_line, all_text, -1)
	not startswith(line, "+++")
}

candidate_text := concat("\n", candidates)

generic_candidates := candidates if count(candidates) <= 4

generic_candidates := regex.find_n(generic_line, candidate_text, -1) if count(candidates) > 4

flagged[kind] contains line if {
	some kind, literal in token_literals
	regex.match(literal, candidate_text)
	some line in regex.find_n(concat("", [`(?m)^.*(?:`, token_patterns[kind], `).*$`]), candidate_text, -1)
}

flagged[generic_kind] contains line if {
	some line in generic_candidates
	generic(line)
}

# Every flagged line with its kinds, keyed by the line wrapped in newlines: a
# patch wrapped the same way contains the key exactly when the line is one of
# its lines.
flagged_lines[wrapped] contains kind if {
	some kind, lines in flagged
	some line in lines
	wrapped := concat("", ["\n", line, "\n"])
}

# The patch line of a finding is the 1-based line where its text first occurs.
deny contains {"rule": "CRED-NO-STATIC-SECRETS-001", "msg": sprintf(message, [file.path, n, kind, marker])} if {
	not charter_scan
	# Every finding comes from a candidate line: without one, nothing below is built.
	candidate_text != ""
	count(flagged_lines) > 0
	is_array(input.files)
	some file in input.files
	is_object(file)
	is_string(file.path)
	patch := object.get(file, "patch", null)
	is_string(patch)
	wrapped_patch := concat("", ["\n", patch, "\n"])
	some wrapped, kinds in flagged_lines
	contains(wrapped_patch, wrapped)
	line := substring(wrapped, 1, count(wrapped) - 2)
	n := strings.count(substring(patch, 0, indexof(patch, line)), "\n") + 1
	some kind in kinds
	not excused(file.path, kind, line)
}
