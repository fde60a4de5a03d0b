package charter.packs.community_ci.github_actions.secret_echo_test

import rego.v1

import data.charter.packs.community_ci.github_actions.secret_echo as rule
import data.charter.packs.community_ci.lib.fixtures_test.modified_file
import data.charter.packs.community_ci.lib.fixtures_test.new_file

path := ".github/workflows/deploy.yml"

# zizmorcore/zizmor test-data/template-injection/false-positive-menagerie.yml
# (MIT): echoes of expressions that are not secrets.
zizmor_not_secrets := `        run: |
          echo "${{ github.action_path }}"
          echo "${{ github.server_url }}"
          echo "${{ github.event.pull_request.head.sha }}"`

echo_block := "    steps:\n      - run: |\n          echo \"token=${{ secrets.DEPLOY_TOKEN }}\""

through_env := "      - env:\n          TOKEN: ${{ secrets.DEPLOY_TOKEN }}\n        run: |\n          echo \"::add-mask::${{ secrets.DEPLOY_TOKEN }}\"\n          ./deploy --token-from-env"

test_echo_of_secret_denied if {
	some entry in rule.deny with input as {"files": [new_file(path, echo_block)]}
	contains(entry.msg, "secrets.DEPLOY_TOKEN")
}

test_one_line_run_and_tojson_denied if {
	count(rule.deny) == 1 with input as {"files": [new_file(path, "      - run: echo ${{ toJSON(secrets) }}")]}
	count(rule.deny) == 1 with input as {"files": [new_file(path, "      - run: printf '%s' \"${{ secrets['NPM'] }}\"")]}
}

test_added_line_of_modified_workflow_denied if {
	count(rule.deny) == 1 with input as {"files": [modified_file(path, "       - run: |\n+          echo ${{ secrets.AWS_SECRET_ACCESS_KEY }} | base64")]}
}

test_expressions_that_are_not_secrets_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file(path, zizmor_not_secrets)]}
}

test_secret_through_env_and_add_mask_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file(path, through_env)]}
}
