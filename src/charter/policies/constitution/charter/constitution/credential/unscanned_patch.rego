# METADATA
# title: Every changed text file was scanned for secrets
# description: >-
#   The secret scan (CRED-NO-STATIC-SECRETS-001) reads the patch of each
#   changed file. When Charter could not include a text file's patch — larger
#   than the per-file limit, not UTF-8, the proposal's total patch budget
#   spent, or a patch GitHub does not return — the file carries
#   `patch_omitted` with the reason, and its added lines were never scanned.
#   Each such file asks (a human reviews it, or the change is split so the
#   patch fits). A binary file has no lines; Charter scans its new bytes for
#   credentials instead: `patch_omitted: "binary"` means the scan found none,
#   and the file passes (credential files are also judged by name,
#   CRED-NO-CREDENTIAL-FILES-001). `"binary; …"` says why the scan could not
#   clear the file (it holds a credential, is a compressed archive whose
#   members were not scanned, or did not fit the scan budget), and it asks
#   with that reason. A `patch_omitted` that is not a string is an unknown and
#   asks too.
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
	msg := message(path(file), omitted)
}

message(name, omitted) := sprintf(
	"%s is a binary file Charter could not clear of credentials (%s); remove what it holds, or have a person review the file",
	[name, trim_prefix(omitted, "binary; ")],
) if {
	is_string(omitted)
	startswith(omitted, "binary; ")
} else := sprintf(
	"%s was not scanned for secrets: its patch is not in the proposal (%s); review its added lines, or split the change so each file's patch fits",
	[name, reason(omitted)],
)

path(file) := file.path if is_string(file.path)

else := "(a file without a path)"

reason(omitted) := omitted if is_string(omitted)

else := "reason not given"
