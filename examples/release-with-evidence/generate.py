#!/usr/bin/env python3
"""Sign the example release's evidence with a fresh, throw-away key (TEST-ONLY).

Run from the repository root: ``python examples/release-with-evidence/generate.py``.
It signs ``dist/billing-cli-2.4.0.tar.gz.cdx.json`` (the SBOM syft wrote) the way
``cosign sign-blob --key`` does (base64 DER ECDSA-SHA256), builds an in-toto Statement
v1 with an SLSA provenance v1 predicate for ``dist/billing-cli-2.4.0.tar.gz`` and signs
it as a DSSE envelope, and writes the public key. The private key only ever exists in
memory: every run makes a new one, so the signatures change from run to run. The
provenance statement is written by this script (an example, not the output of a build
platform); the SBOM is real syft output (see README.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from charter.facts.attestations import pae
from charter.trust import keys

HERE = Path(__file__).resolve().parent
DIST = HERE / "dist"
ARTIFACT = DIST / "billing-cli-2.4.0.tar.gz"
SBOM = DIST / "billing-cli-2.4.0.tar.gz.cdx.json"
BUILDER = "https://example.com/charter-examples/builder@v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"


def statement(digest: str) -> dict[str, object]:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": ARTIFACT.name, "digest": {"sha256": digest}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://example.com/charter-examples/tarball/v1",
                "externalParameters": {"source": "git+https://example.com/acme/billing@v2.4.0"},
                "internalParameters": {},
                "resolvedDependencies": [],
            },
            "runDetails": {
                "builder": {"id": BUILDER},
                "metadata": {"invocationId": "example-release-2.4.0"},
            },
        },
    }


def main() -> None:
    key = keys.generate("p256")
    digest = hashlib.sha256(ARTIFACT.read_bytes()).hexdigest()
    payload = json.dumps(statement(digest), sort_keys=True).encode()
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [
            {
                "keyid": "",
                "sig": base64.b64encode(keys.sign(key, pae(PAYLOAD_TYPE, payload))).decode(),
            }
        ],
    }
    (DIST / f"{ARTIFACT.name}.intoto.jsonl").write_text(json.dumps(envelope) + "\n")
    signature = base64.b64encode(keys.sign(key, SBOM.read_bytes()))
    (DIST / f"{SBOM.name}.sig").write_bytes(signature + b"\n")
    (HERE / "evidence-signer.pub").write_bytes(keys.public_pem(key.public_key()))
    print(f"signed {ARTIFACT.name} (sha256:{digest}) and {SBOM.name}")


if __name__ == "__main__":
    main()
