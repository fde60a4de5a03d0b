package charter.packs.community_ci.dockerfile.add_url_test

import rego.v1

import data.charter.packs.community_ci.dockerfile.add_url as rule
import data.charter.packs.community_ci.lib.fixtures_test.new_file

# bridgecrewio/checkov tests/dockerfile/checks/example_AddExists/failure/Dockerfile (Apache-2.0)
checkov_add := "FROM  base\n\nLABEL foo=\"bar baz\"\nADD http://example.com/package.zip /temp\nUSER  me"

test_add_of_url_denied if {
	some e in rule.deny with input as {"files": [new_file("Dockerfile", checkov_add)]}
	contains(e.msg, "ADD http://example.com/package.zip /temp")
	count(rule.deny) == 1 with input as {"files": [new_file("build/Containerfile", "ADD --chown=1000 https://example.com/a.tgz /opt/")]}
	count(rule.deny) == 1 with input as {"files": [new_file("Dockerfile", "add git@github.com:moby/buildkit.git#v0.10.1 /buildkit")]}
}

test_checksum_and_local_add_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file("Dockerfile", "ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/a.tgz /")]}
	count(rule.deny) == 0 with input as {"files": [new_file("Dockerfile", "ADD ./vendor /app/vendor\nCOPY app.py /app/")]}
	count(rule.deny) == 0 with input as {"files": [new_file("README.md", checkov_add)]}
}
