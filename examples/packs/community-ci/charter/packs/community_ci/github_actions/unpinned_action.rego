# METADATA
# title: Third-party actions are pinned to a full commit SHA
# description: >-
#   A tag or branch of someone else's action can be moved to other code after
#   review (the tj-actions/changed-files compromise, March 2025). Every `uses:`
#   the change adds to a workflow must name a third-party action or reusable
#   workflow by a full 40-hex commit SHA, and a `docker://` image by an
#   `@sha256:` digest. Actions of GitHub's own `actions` and `github`
#   organisations and local `./` actions are exempt. Read from the patch's added
#   lines, so it works for new and modified workflows alike.
# related_resources:
#   - ref: https://docs.github.com/en/actions/reference/security/secure-use#using-third-party-actions
#     description: "GitHub Docs: Secure use reference, using third-party actions (pin to a full-length commit SHA)"
#   - ref: https://cwe.mitre.org/data/definitions/829.html
#     description: "CWE-829: Inclusion of Functionality from Untrusted Control Sphere"
# custom:
#   id: CI-GHA-UNPINNED-ACTION-001
#   severity: high
#   category: ci
#   citation: CWE-829 (GitHub Docs, secure use of third-party actions)
#   applies_to:
#     paths: [".github/workflows/*.yml", ".github/workflows/*.yaml"]
package charter.packs.community_ci.github_actions.unpinned_action

import rego.v1

import data.charter.packs.community_ci.github_actions.workflows
import data.charter.packs.community_ci.lib.patch

first_party_owners := {"actions", "github"}

# The `uses:` references the change adds, by one regex over the added text.
uses_refs(file) := {m[1] |
	some m in regex.find_all_string_submatch_n(`(?m)^[ \t]*(?:-[ \t]+)?["']?uses["']?[ \t]*:[ \t]*["']?([^\s"'#]+)`, patch.added_text(file), -1)
}

# A local action, an image by digest, or an action or workflow by full commit SHA.
pinned(ref) if regex.match(`^(\./.*|docker://[^@\s]+@sha256:[0-9a-f]{64}|[^@\s]+@[0-9a-f]{40})$`, ref)

first_party(ref) if {
	not startswith(ref, "docker://")
	split(ref, "/")[0] in first_party_owners
}

deny contains {"rule": "CI-GHA-UNPINNED-ACTION-001", "msg": msg} if {
	some file in workflows.files
	some ref in uses_refs(file)
	not pinned(ref)
	not first_party(ref)
	msg := sprintf("%s: `uses: %s` is not pinned to a full commit SHA (or image digest); pin it, e.g. owner/action@<40-hex sha> # vX.Y", [file.path, ref])
}
