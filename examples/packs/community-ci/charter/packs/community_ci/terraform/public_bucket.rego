# METADATA
# title: Terraform storage buckets are not made public
# description: >-
#   A storage bucket readable by anyone is the most common way data leaks from
#   the cloud. The change's added Terraform lines are read (new and modified
#   files) for: a public canned ACL (`acl = "public-read"`,
#   `"public-read-write"`, `"authenticated-read"`; GCS `predefined_acl =
#   "publicRead"`…), an S3 public access block setting turned off
#   (`block_public_acls`, `block_public_policy`, `ignore_public_acls`,
#   `restrict_public_buckets = false`), a GCS binding to `allUsers` or
#   `allAuthenticatedUsers`, an Azure container or account opened to anonymous
#   reads, and a policy statement whose principal is `*`.
# related_resources:
#   - ref: https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html
#     description: "Amazon S3 User Guide: Blocking public access to your Amazon S3 storage"
#   - ref: https://cloud.google.com/storage/docs/public-access-prevention
#     description: "Cloud Storage: Public access prevention"
#   - ref: https://cwe.mitre.org/data/definitions/284.html
#     description: "CWE-284: Improper Access Control"
# custom:
#   id: CI-TF-PUBLIC-BUCKET-001
#   severity: critical
#   category: infrastructure
#   citation: CWE-284 (CIS AWS Foundations 2.1.4, S3 Block Public Access)
#   applies_to:
#     paths: ["**/*.tf", "**/*.tf.json"]
package charter.packs.community_ci.terraform.public_bucket

import rego.v1

import data.charter.packs.community_ci.lib.patch

files := patch.changed(["**/*.tf", "**/*.tf.json"])

patterns := {
	"a public canned ACL": `(?i)^\s*"?(acl|predefined_acl|default_acl)"?\s*[:=]\s*"(public-read|public-read-write|authenticated-read|publicRead|publicReadWrite|authenticatedRead)"`,
	"public access blocking turned off": `(?i)^\s*"?(block_public_acls|block_public_policy|ignore_public_acls|restrict_public_buckets)"?\s*[:=]\s*false\b`,
	"a binding to everyone": `"(allUsers|allAuthenticatedUsers)"`,
	"anonymous container access": `(?i)^\s*"?container_access_type"?\s*[:=]\s*"(blob|container)"`,
	"nested items allowed to be public": `(?i)^\s*"?allow_nested_items_to_be_public"?\s*[:=]\s*true\b`,
	"a policy principal of everyone": `(?i)"?principals?"?\s*[:=]\s*(\{\s*"?aws"?\s*[:=]\s*)?\[?\s*"\*"`,
}

deny contains {"rule": "CI-TF-PUBLIC-BUCKET-001", "msg": msg} if {
	some file in files
	some line in patch.candidates(file, `(?i)acl|block_public|ignore_public|restrict_public|allUsers|allAuthenticatedUsers|container_access_type|allow_nested_items_to_be_public|principal`)
	some what, pattern in patterns
	regex.match(pattern, line)
	msg := sprintf("%s: `%s` is %s, which makes stored data public; keep buckets private and serve through an authenticated path", [file.path, trim_space(line), what])
}
