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
