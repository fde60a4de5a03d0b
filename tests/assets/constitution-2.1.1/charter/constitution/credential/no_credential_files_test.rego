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

# A credential path among ordinary ones: the pre-check over all paths passes and
# each path is then matched on its own.
test_credential_path_among_ordinary_files_denied if {
	denied([file("src/app.py"), file("deploy/.kube/config"), file("docs/a.md")])
}

# Paths that hold a pattern's literal but match no pattern.
test_literal_without_a_pattern_match_allowed if {
	count(no_credential_files.deny) == 0 with input as pr_with([file("docs/kube-intro.md"), file("src/id_card.py")])
}

# Joined by newlines, the pre-check sees a line `.aws/credentials`; the path
# itself matches no pattern.
test_newline_in_a_path_allowed if {
	count(no_credential_files.deny) == 0 with input as pr_with([file("notes\n.aws/credentials\n.txt")])
}
