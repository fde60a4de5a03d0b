# Helpers of the GitHub Actions rules: which files are workflows, and the
# parsed YAML of a workflow the change adds.
package charter.packs.community_ci.github_actions.workflows

import rego.v1

import data.charter.packs.community_ci.lib.patch

globs := [".github/workflows/*.yml", ".github/workflows/*.yaml"]

is_workflow(file) if patch.matches(file.path, globs)

# The parsed workflow, for a workflow file the change adds and that is valid
# YAML (regorus `yaml.is_valid` first: `yaml.unmarshal` of invalid text is an
# evaluation error, and an error fails the whole decision closed).
document(file) := yaml.unmarshal(text) if {
	text := patch.full_text(file)
	yaml.is_valid(text)
}

# An added workflow whose text is not YAML: nothing in it can be checked.
unparseable(file) if {
	text := patch.full_text(file)
	not yaml.is_valid(text)
}
