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
#   never the secret itself.
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

# Candidate lines: one regular expression over the whole patch returns every
# added line (`+`, not `+++`) that mentions a credential keyword; only those are
# checked against the detailed patterns below.
candidate_lines := `(?mi)^\+[^\n]*(?:PRIVATE KEY|AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|passw|secret|token|api[_-]?key|access[_-]?key)[^\n]*$`

token_patterns := {
	"a private key block": `-----BEGIN[ A-Z0-9]*PRIVATE KEY( BLOCK)?-----`,
	"an AWS access key id": `(^|[^A-Za-z0-9])(AKIA|ASIA)[A-Z0-9]{16}([^A-Za-z0-9]|$)`,
	"a GitHub token": `(^|[^A-Za-z0-9_])(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})`,
	"a GitLab token": `(^|[^A-Za-z0-9_])glpat-[A-Za-z0-9_-]{20,}`,
}

assignment := `(?i)([a-z0-9_.-]*(?:passw(?:or)?d|secret|token|api[_-]?key|apikey|access[_-]?key)[a-z0-9_.-]*)["']?\s*(?::=|=|:)\s*["']?([^\s"',;]+)`

ci_config(path) if regex.match(
	`(^|/)(\.github/workflows/|\.gitlab-ci\.ya?ml$|\.gitlab/ci/|\.circleci/|\.buildkite/|Jenkinsfile$|azure-pipelines\.ya?ml$|bitbucket-pipelines\.ya?ml$|\.travis\.ya?ml$|\.drone\.ya?ml$|cloudbuild\.ya?ml$|buildspec\.ya?ml$)`,
	path,
)

fixture_path(path) if regex.match(`(^|/)(fixtures?|__fixtures__|testdata)/`, path)

# The entropy heuristic uses set operations only (no regular expressions).
chars(text) := {c | some c in split(text, "")}

lower_chars := chars("abcdefghijklmnopqrstuvwxyz")

upper_chars := chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ")

digit_chars := chars("0123456789")

secret_chars := ((lower_chars | upper_chars) | digit_chars) | chars("+/=_.~!@#$%^&*-")

placeholders := ["example", "placeholder", "changeme", "dummy", "redacted", "your_", "your-"]

high_entropy(value) if {
	count(value) >= 16
	not startswith(value, "$")
	used := chars(value)
	count(used - secret_chars) == 0
	count(used) >= 10
	mixed_classes(value, used)
	folded := lower(value)
	not any_placeholder(folded)
}

any_placeholder(folded) if {
	some word in placeholders
	contains(folded, word)
}

mixed_classes(_, used) if {
	count(used & lower_chars) > 0
	count(used & upper_chars) > 0
	count(used & digit_chars) > 0
}

mixed_classes(value, used) if {
	count(value) >= 32
	count(used & (lower_chars | upper_chars)) > 0
	count(used & digit_chars) > 0
}

# Plain substring guards: a pattern's regular expression only runs on lines
# that could match it (regular expressions are the expensive part).
guards := {
	"a private key block": ["PRIVATE KEY"],
	"an AWS access key id": ["AKIA", "ASIA"],
	"a GitHub token": ["ghp_", "gho_", "ghs_", "ghu_", "ghr_", "github_pat_"],
	"a GitLab token": ["glpat-"],
}

assignment_guards := ["passw", "secret", "token", "api_key", "api-key", "apikey", "access_key", "access-key", "accesskey"]

line_kinds(line) := {kind |
	some kind, needles in guards
	some needle in needles
	contains(line, needle)
	regex.match(token_patterns[kind], line)
} | generic(line)

generic(line) := {"a hard-coded secret assignment" |
	folded := lower(line)
	some needle in assignment_guards
	contains(folded, needle)
	some m in regex.find_all_string_submatch_n(assignment, line, -1)
	high_entropy(m[2])
}

# The 1-based patch line of a finding: the line where its text first occurs.
line_number(patch, line) := strings.count(substring(patch, 0, indexof(patch, line)), "\n") + 1

# [kind, patch line, line] for every credential-looking added line of a patch.
findings(patch) := {[kind, line_number(patch, line), line] |
	some line in regex.find_n(candidate_lines, patch, -1)
	not startswith(line, "+++")
	some kind in line_kinds(line)
}

excused(path, kind, line) if {
	fixture_path(path)
	contains(line, marker)
	kind != "a private key block"
	not aws_in_ci(path, kind)
}

aws_in_ci(path, kind) if {
	kind == "an AWS access key id"
	ci_config(path)
}

deny contains {"rule": "CRED-NO-STATIC-SECRETS-001", "msg": msg} if {
	is_array(input.files)
	some file in input.files
	is_object(file)
	is_string(file.path)
	patch := object.get(file, "patch", null)
	is_string(patch)
	some [kind, n, line] in findings(patch)
	not excused(file.path, kind, line)
	msg := sprintf(
		"%s (patch line %d) adds %s; remove it, rotate the credential, and load it at runtime from a secret store or short-lived identity (test fixtures may carry fake values only under a fixtures/ or testdata/ directory with the marker %s on the line)",
		[file.path, n, kind, marker],
	)
}
