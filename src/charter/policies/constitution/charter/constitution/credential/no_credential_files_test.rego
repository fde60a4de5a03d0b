package charter.constitution.credential.no_credential_files_test

import rego.v1

import data.charter.constitution.credential.no_credential_files
import data.charter.constitution.testdata.fixtures

pr_with(files) := object.union(fixtures.pull_request, {"files": files})

file(path) := {"path": path, "status": "added", "patch": "+placeholder\n"}

denied(files) if {
	some entry in no_credential_files.deny with input as pr_with(files)
	entry.rule == "CRED-NO-CREDENTIAL-FILES-001"
}

test_agent_adds_kubeconfig_denied if {
	denied([file("deploy/.kube/config")])
}

test_agent_adds_named_kubeconfig_denied if {
	denied([file("clusters/prod-eu.kubeconfig")])
}

test_agent_adds_aws_credentials_denied if {
	denied([file("home/.aws/credentials")])
}

test_agent_adds_docker_config_denied if {
	denied([file(".docker/config.json")])
}

test_agent_adds_azure_profile_denied if {
	denied([file(".azure/azureProfile.json")])
}

test_agent_adds_gcp_service_account_json_denied if {
	denied([fixtures.added_file("deploy/sa.json", [
		"{",
		`  "type": "service_account",`,
		`  "project_id": "acme-prod",`,
		"}",
	])])
}

test_agent_adds_embedded_kube_client_key_denied if {
	denied([fixtures.added_file("deploy/cluster.yaml", ["    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQ=="])])
}

test_human_adds_kubeconfig_asks if {
	some entry in no_credential_files.ask with input as object.union(pr_with([file("deploy/.kube/config")]), {"author": fixtures.human})
	entry.rule == "CRED-NO-CREDENTIAL-FILES-001"
}

test_agent_removes_kubeconfig_allowed if {
	count(no_credential_files.deny) == 0 with input as pr_with([{"path": "deploy/.kube/config", "status": "removed", "patch": "-apiVersion: v1\n"}])
}

test_agent_adds_ordinary_config_allowed if {
	count(no_credential_files.deny) == 0 with input as pr_with([
		file("deploy/config.yaml"),
		file("docs/kubeconfig.md"),
		fixtures.added_file("deploy/sa.json", [`{"type": "user_account_docs"}`]),
	])
}

test_any_path_is_the_alternation_of_path_patterns if {
	no_credential_files.any_path == concat("|", [sprintf("(%s)", [p]) | some p in no_credential_files.path_patterns])
}

test_credential_path_among_many_files_denied if {
	files := [
		{"path": "src/app.py", "status": "modified", "patch": "+x = 1"},
		{"path": "deploy/.kube/config", "status": "added", "patch": "+apiVersion: v1"},
		{"path": "docs/a.md", "status": "added", "patch": "+# A"},
	]
	some entry in no_credential_files.deny with input as object.union(fixtures.pull_request, {"files": files})
	contains(entry.msg, "deploy/.kube/config")
}

test_every_path_pattern_alternative_holds_a_path_literal if {
	paths := [
		".kube/config", "a/kubeconfig", "kubeconfig.yaml", "kubeconfig.json", "x.kubeconfig",
		".aws/credentials", ".config/gcloud/x", "application_default_credentials.json", ".azure/x",
		".docker/config.json", ".netrc", "_netrc", ".git-credentials", ".pgpass",
		"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519",
	]
	every path in paths {
		regex.match(no_credential_files.any_path, path)
		regex.match(no_credential_files.path_literals, path)
	}
}

test_content_literals_are_the_content_guards if {
	every guard in no_credential_files.content_guards {
		regex.match(no_credential_files.content_literals, guard)
	}
	count(no_credential_files.content_guards) == count(split(no_credential_files.content_literals, "|"))
}

test_literal_without_a_pattern_match_is_no_finding if {
	count(no_credential_files.deny) == 0 with input as pr_with([file("docs/kube-intro.md"), file("src/id_card.py")])
}

test_newline_in_another_path_does_not_make_a_path_credential if {
	files := [{"path": "notes\n.aws/credentials\n.txt", "status": "added", "patch": "+x"}]
	count(no_credential_files.deny) == 0 with input as object.union(fixtures.pull_request, {"files": files})
}
