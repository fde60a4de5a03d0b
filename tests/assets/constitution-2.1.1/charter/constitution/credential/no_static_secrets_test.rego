package charter.constitution.credential.no_static_secrets_test

import rego.v1

import data.charter.constitution.credential.no_static_secrets
import data.charter.constitution.testdata.fixtures

pr_adding(path, lines) := object.union(fixtures.pull_request, {"files": [fixtures.added_file(path, lines)]})

denied(path, lines) if {
	some entry in no_static_secrets.deny with input as pr_adding(path, lines)
	entry.rule == "CRED-NO-STATIC-SECRETS-001"
	contains(entry.msg, path)
}

test_aws_key_in_workflow_denied if {
	denied(".github/workflows/deploy.yml", ["      AWS_ACCESS_KEY_ID: AKIAZ4Q7XK2MBN5TRW3P"])
}

test_private_key_block_denied if {
	denied("deploy/key.pem", ["-----BEGIN OPENSSH PRIVATE KEY-----"])
}

test_github_token_denied if {
	denied("scripts/release.sh", ["export GH=ghp_R2d4Xk9LmQw3ZpT7vYb1NcHs6JfUe8GaKo0i"])
}

test_github_fine_grained_pat_denied if {
	denied("scripts/release.sh", ["GH=github_pat_11ABCDEFG0123456789_abcdefghijklmnop"])
}

test_gitlab_token_denied if {
	denied(".gitlab-ci.yml", ["  PRIVATE_TOKEN: glpat-x7Rk2LmQ9vTz4NbW8sYc"])
}

test_generic_password_assignment_denied if {
	denied("src/app/settings.py", [`DB_PASSWORD = "Xy9kLm2Qw8pRt5ZsVb"`])
}

test_generic_api_key_yaml_denied if {
	denied("config/prod.yaml", ["api_key: 7f3a9c2e41b84d06a5e19f7c3b2d8e4a90c1f6b7"])
}

test_private_key_in_fixture_with_marker_still_denied if {
	denied("tests/fixtures/key.pem", ["-----BEGIN RSA PRIVATE KEY----- # charter:example-credential"])
}

test_aws_key_in_ci_fixture_with_marker_still_denied if {
	denied("tests/fixtures/.github/workflows/ci.yml", ["AWS_ACCESS_KEY_ID: AKIAZ4Q7XK2MBN5TRW3P # charter:example-credential"])
}

test_fixture_without_marker_denied if {
	denied("tests/fixtures/aws.env", ["AWS_ACCESS_KEY_ID=AKIAZ4Q7XK2MBN5TRW3P"])
}

test_marker_outside_fixture_path_denied if {
	denied("src/aws.py", [`KEY = "AKIAZ4Q7XK2MBN5TRW3P"  # charter:example-credential`])
}

test_fixture_with_marker_allowed if {
	count(no_static_secrets.deny) == 0 with input as pr_adding(
		"tests/fixtures/aws.env",
		[
			"AWS_ACCESS_KEY_ID=AKIAZ4Q7XK2MBN5TRW3P # charter:example-credential",
			"GITHUB_TOKEN=ghp_R2d4Xk9LmQw3ZpT7vYb1NcHs6JfUe8GaKo0i # charter:example-credential",
		],
	)
}

test_removed_secret_line_allowed if {
	count(no_static_secrets.deny) == 0 with input as object.union(fixtures.pull_request, {"files": [{
		"path": ".github/workflows/deploy.yml",
		"status": "modified",
		"patch": "@@ -3,2 +3,2 @@\n-      AWS_ACCESS_KEY_ID: AKIAZ4Q7XK2MBN5TRW3P\n+      AWS_ACCESS_KEY_ID: ${{ secrets.AWS_ACCESS_KEY_ID }}\n",
	}]})
}

test_secret_references_and_low_entropy_values_allowed if {
	count(no_static_secrets.deny) == 0 with input as pr_adding("src/app/settings.py", [
		`password = os.environ["DB_PASSWORD"]`,
		"token: ${{ secrets.GITHUB_TOKEN }}",
		"api_key = settings.API_KEY_VALUE",
		`secret = "hunter2"`,
		"PASSWORD_MIN_LENGTH = 16",
		`api_key = "your_api_key_here_1234"`,
	])
}

test_patch_header_lines_allowed if {
	count(no_static_secrets.deny) == 0 with input as object.union(fixtures.pull_request, {"files": [{
		"path": "docs/token.md",
		"status": "modified",
		"patch": "+++ b/docs/token_AKIAZ4Q7XK2MBN5TRW3P.md\n+Rotate tokens every 90 days.\n",
	}]})
}

test_null_patch_allowed if {
	count(no_static_secrets.deny) == 0 with input as object.union(fixtures.pull_request, {"files": [{"path": "bin/tool", "status": "added", "patch": null}]})
}

test_reason_names_patch_line_without_the_secret_denied if {
	some entry in no_static_secrets.deny with input as pr_adding(".github/workflows/deploy.yml", [
		"env:",
		"  AWS_ACCESS_KEY_ID: AKIAZ4Q7XK2MBN5TRW3P",
	])
	contains(entry.msg, ".github/workflows/deploy.yml (patch line 3) adds an AWS access key id")
	not contains(entry.msg, "AKIAZ4Q7XK2MBN5TRW3P")
}

test_crlf_patch_denied if {
	some entry in no_static_secrets.deny with input as object.union(fixtures.pull_request, {"files": [{
		"path": "deploy/run.sh",
		"status": "added",
		"patch": "@@ -0,0 +1,2 @@\r\n+#!/bin/sh\r\n+export GITLAB_TOKEN=glpat-x7Rk2LmQ9vTz4NbW8sYc\r\n",
	}]})
	contains(entry.msg, "(patch line 3) adds a GitLab token")
}

# The scan looks at all files at once; each file still gets its own findings
# with its own patch line numbers.

msgs(proposal) := {entry.msg | some entry in no_static_secrets.deny with input as proposal}

test_same_secret_in_two_files_denied_in_each if {
	found := msgs(object.union(fixtures.pull_request, {"files": [
		fixtures.added_file("a/settings.py", ["import os", `DB_PASSWORD = "Xy9kLm2Qw8pRt5ZsVb"`]),
		fixtures.added_file("b/settings.py", [`DB_PASSWORD = "Xy9kLm2Qw8pRt5ZsVb"`]),
	]}))
	count(found) == 2
	some a in found
	startswith(a, "a/settings.py (patch line 3) adds a hard-coded secret assignment")
	some b in found
	startswith(b, "b/settings.py (patch line 2) adds a hard-coded secret assignment")
}

test_secret_line_only_inside_a_longer_line_of_another_file_denied_once if {
	found := msgs(object.union(fixtures.pull_request, {"files": [
		fixtures.added_file("flagged.sh", ["export GH=ghp_R2d4Xk9LmQw3ZpT7vYb1NcHs6JfUe8GaKo0i"]),
		{"path": "context.sh", "status": "modified", "patch": "@@ -1 +1 @@\n #+export GH=ghp_R2d4Xk9LmQw3ZpT7vYb1NcHs6JfUe8GaKo0i"},
	]}))
	count(found) == 1
	some msg in found
	startswith(msg, "flagged.sh (patch line 2) adds a GitHub token")
}

test_repeated_secret_line_denied_once_at_its_first_line if {
	found := msgs(pr_adding("deploy/env.sh", [
		"set -e",
		"git clone https://oauth2:glpat-x7Rk2LmQ9vTz4NbW8sYc@gitlab.example.com/acme/app.git",
		"echo ok",
		"git clone https://oauth2:glpat-x7Rk2LmQ9vTz4NbW8sYc@gitlab.example.com/acme/app.git",
	]))
	found == {sprintf("deploy/env.sh (patch line 3) adds a GitLab token; remove it, rotate the credential, and load it at runtime from a secret store or short-lived identity (test fixtures may carry fake values only under a fixtures/ or testdata/ directory with the marker %s on the line)", [no_static_secrets.marker])}
}

test_line_with_two_kinds_denied_for_both if {
	found := msgs(pr_adding("ci/env.sh", ["echo ghp_R2d4Xk9LmQw3ZpT7vYb1NcHs6JfUe8GaKo0i AKIAZ4Q7XK2MBN5TRW3P"]))
	count(found) == 2
	some a in found
	contains(a, "adds a GitHub token")
	some b in found
	contains(b, "adds an AWS access key id")
}

# More than four candidate lines take the path that first narrows the
# assignments down with one regular expression over all of them.
test_secret_among_many_keyword_lines_denied if {
	found := msgs(pr_adding("src/auth.py", [
		"def refresh_token(session):",
		"    token = session.token",
		"    secret_name = 'db'",
		"    password_hint = None",
		"    api_key_header = 'X-Api-Key'",
		"    access_key_rotation_days = 90",
		`    fallback_secret = "Xy9kLm2Qw8pRt5ZsVb"`,
	]))
	found == {sprintf("src/auth.py (patch line 8) adds a hard-coded secret assignment; remove it, rotate the credential, and load it at runtime from a secret store or short-lived identity (test fixtures may carry fake values only under a fixtures/ or testdata/ directory with the marker %s on the line)", [no_static_secrets.marker])}
}

test_many_keyword_lines_without_a_secret_allowed if {
	count(no_static_secrets.deny) == 0 with input as pr_adding("src/auth.py", [
		"def refresh_token(session):",
		"    token = session.token",
		"    secret_name = 'db'",
		"    password_hint = None",
		"    api_key_header = 'X-Api-Key'",
		"    token_count = 12345678901234567890",
		`    api_key = "aaaaaaaaaaaaaaaaaaaaaaaa"`,
	])
}

# Keywords match case-insensitively, including Unicode case folding (the
# Kelvin sign folds to k), and whitespace around `=` may be any Unicode space.
test_unicode_folded_keyword_and_no_break_space_denied if {
	denied("src/app.py", ["TO\u212aEN\u00a0=\u00a0Xy9kLm2Qw8pRt5ZsVb"])
}

test_files_that_are_not_objects_allowed if {
	count(no_static_secrets.deny) == 0 with input as object.union(fixtures.pull_request, {"files": ["+password = Xy9kLm2Qw8pRt5ZsVb", 7, null]})
}

test_files_not_an_array_allowed if {
	count(no_static_secrets.deny) == 0 with input as object.union(fixtures.pull_request, {"files": {"path": "a.py", "patch": "+password = Xy9kLm2Qw8pRt5ZsVb"}})
}

# The patch line is where the line's text first occurs, even inside an
# earlier line.
test_patch_line_is_first_occurrence_of_the_text_denied if {
	found := msgs(object.union(fixtures.pull_request, {"files": [{
		"path": "notes.md",
		"status": "modified",
		"patch": "@@ -1,2 +1,3 @@\n quoted: +AKIAZ4Q7XK2MBN5TRW3P\n+AKIAZ4Q7XK2MBN5TRW3P\n",
	}]}))
	count(found) == 1
	some msg in found
	startswith(msg, "notes.md (patch line 2) adds an AWS access key id")
}

# Charter's scan (input.context.secret_scan), trusted only where Charter
# evaluates: data.charter_internal.secret_scan, which no bundle can write.

token_patch := pr_adding("scripts/release.sh", ["export GH=ghp_R2d4Xk9LmQw3ZpT7vYb1NcHs6JfUe8GaKo0i"])

charter_scanned(doc, scan) := object.union(doc, {"context": object.union(doc.context, {"secret_scan": scan})})

token_scanned := charter_scanned(token_patch, {"findings": [["scripts/release.sh", 2, "a GitHub token"]], "marked": []})

token_forged_clean := charter_scanned(token_patch, {"findings": [], "marked": []})

fixture_scanned := charter_scanned(
	pr_adding("tests/fixtures/app.env", [`DB_PASSWORD = "Xy9kLm2Qw8pRt5ZsVb" # charter:example-credential`]),
	{"findings": [], "marked": [["tests/fixtures/app.env", 2, "a hard-coded secret assignment"]]},
)

fixture_key_scanned := charter_scanned(
	pr_adding("tests/fixtures/key.pem", ["-----BEGIN RSA PRIVATE KEY----- # charter:example-credential"]),
	{"findings": [], "marked": [["tests/fixtures/key.pem", 2, "a private key block"]]},
)

test_charter_scan_finding_denied if {
	some entry in no_static_secrets.deny with input as token_scanned with data.charter_internal.secret_scan as true
	entry.msg == "scripts/release.sh (patch line 2) adds a GitHub token; remove it, rotate the credential, and load it at runtime from a secret store or short-lived identity (test fixtures may carry fake values only under a fixtures/ or testdata/ directory with the marker charter:example-credential on the line)"
}

test_charter_scan_marked_fixture_allowed if {
	count(no_static_secrets.deny) == 0 with input as fixture_scanned with data.charter_internal.secret_scan as true
}

test_charter_scan_marked_private_key_denied if {
	some entry in no_static_secrets.deny with input as fixture_key_scanned with data.charter_internal.secret_scan as true
	contains(entry.msg, "adds a private key block")
}

# Anywhere else (plain OPA, conftest) a scan in the input is ignored: the rule scans.
test_scan_in_the_input_without_charter_denied if {
	some entry in no_static_secrets.deny with input as token_forged_clean
	contains(entry.msg, "adds a GitHub token")
}
