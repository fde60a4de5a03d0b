# METADATA
# title: Every changed text file was scanned for secrets
# description: >-
#   The secret scan (CRED-NO-STATIC-SECRETS-001) reads the patch of each
#   changed file. When Charter could not include a text file's patch — larger
#   than the per-file limit, not UTF-8, the proposal's total patch budget
#   spent, or a patch GitHub does not return — the file carries
#   `patch_omitted` with the reason, and its added lines were never scanned.
#   Each such file asks (a human reviews it, or the change is split so the
#   patch fits). Binary files (`patch_omitted: "binary"`) have no lines to scan;
#   credential files among them are judged by name (CRED-NO-CREDENTIAL-FILES-001).
#   A `patch_omitted` that is not a string is an unknown and asks too.
# related_resources:
#   - ref: https://cheatsheetseries.owasp.org/cheatsheets/Secrets_Management_Cheat_Sheet.html
#     description: "OWASP Secrets Management Cheat Sheet"
#   - ref: https://csrc.nist.gov/pubs/sp/800/218/final
#     description: NIST SSDF PS.1 — protect all forms of code
# custom:
#   id: CRED-UNSCANNED-PATCH-001
#   severity: medium
#   category: credential
#   citation: SOC2 CC6.1
package charter.constitution.credential.unscanned_patch

import rego.v1

# The first expression lets charter.policy.guards prove the set empty for a
# proposal without files, and Charter skip it.
ask contains {"rule": "CRED-UNSCANNED-PATCH-001", "msg": msg} if {
	input.files != []
	files := input.files
	is_array(files)
	some file in files
	omitted := object.get(file, "patch_omitted", null)
	omitted != null
	omitted != "binary"
	msg := sprintf(
		"%s was not scanned for secrets: its patch is not in the proposal (%s); review its added lines, or split the change so each file's patch fits",
		[path(file), reason(omitted)],
	)
}

path(file) := file.path if is_string(file.path)

else := "(a file without a path)"

reason(omitted) := omitted if is_string(omitted)

else := "reason not given"
