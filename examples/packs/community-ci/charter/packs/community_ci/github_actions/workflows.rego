# Helpers of the GitHub Actions rules: which files are workflows, and the
# parsed YAML of a workflow the change adds.
package charter.packs.community_ci.github_actions.workflows

import rego.v1

import data.charter.packs.community_ci.lib.patch

files := patch.changed([".github/workflows/*.yml", ".github/workflows/*.yaml"])

# The parsed workflows the change adds, by their index in input.files: only a
# valid YAML text is parsed (regorus `yaml.is_valid` first: `yaml.unmarshal` of
# invalid text is an evaluation error, which fails the whole decision closed).
documents[i] := yaml.unmarshal(text) if {
	some i, file in files
	text := patch.full_text(file)
	yaml.is_valid(text)
}

# The indices of added workflows whose text is not YAML: nothing in them can be checked.
unparseable contains i if {
	some i, file in files
	text := patch.full_text(file)
	not yaml.is_valid(text)
}
