package charter.packs.community_ci.dockerfile.curl_pipe_shell_test

import rego.v1

import data.charter.packs.community_ci.dockerfile.curl_pipe_shell as rule
import data.charter.packs.community_ci.lib.fixtures_test.modified_file
import data.charter.packs.community_ci.lib.fixtures_test.new_file

verified := "RUN curl -fsSLo /tmp/i.sh https://get.example.dev/install.sh \\\n && echo \"0f3c  /tmp/i.sh\" | sha256sum -c - \\\n && sh /tmp/i.sh"

test_pipes_into_a_shell_denied if {
	some e in rule.deny with input as {"files": [new_file("Dockerfile", "RUN curl -fsSL https://get.example.dev/install.sh | sh")]}
	contains(e.msg, "| sh")
	count(rule.deny) == 1 with input as {"files": [new_file("Dockerfile", "RUN wget -qO- https://example.dev/i | sudo -E bash -s -- --yes")]}
	count(rule.deny) == 1 with input as {"files": [new_file("Dockerfile", "RUN set -eux && curl -sSL https://x.example/i.sh | /bin/bash")]}
	count(rule.deny) == 1 with input as {"files": [new_file("Dockerfile", "RUN sh -c \"$(curl -fsSL https://x.example/i.sh)\"")]}
	count(rule.deny) == 1 with input as {"files": [new_file("Dockerfile", "RUN bash <(curl -s https://x.example/i.sh)")]}
}

test_verified_download_allowed if {
	count(rule.deny) == 0 with input as {"files": [new_file("Dockerfile", verified)]}
	count(rule.deny) == 0 with input as {"files": [new_file("Dockerfile", "RUN curl -fsSL https://example.dev/key.asc | gpg --dearmor -o /usr/share/keyrings/k.gpg")]}
}

test_removed_pipe_allowed if {
	count(rule.deny) == 0 with input as {"files": [modified_file("Dockerfile", "-RUN curl -s https://x.example/i | sh\n+RUN ./install-verified.sh")]}
}
