"""Evidence is bound to the artifact it vouches for by digest, never by file name alone.

The governed agent can write into the evidence directory. Each case is one attempt to
make evidence about something else count (the comment says what it tries). SBOMs and
scans are real tool output (tests/assets/evidence, examples/release-with-evidence; see
their READMEs); signatures are made here with keys generated on the fly (TEST-ONLY).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from charter.facts.evidence import collect
from charter.trust.keys import verifying_key_from_pem
from charter.trust.policy import EvidenceTrust
from tests.cli_helpers import invoke

ROOT = Path(__file__).resolve().parents[1]
EVIDENCE = ROOT / "tests" / "assets" / "evidence"
EXAMPLE = ROOT / "examples" / "release-with-evidence" / "dist"
TARBALL = "billing-cli-2.4.0.tar.gz"
TARBALL_DIGEST = "sha256:5cbfaaaf282bb0c2d82d8d0811fcdd38122bb384734444de540f513f8d4a4831"
#: syft 1.18.1 `scan dir:` output: its subject is a directory, it names no digest.
DIR_SBOM = EVIDENCE / "sbom" / "local-generated" / "syft-1.18.1.cdx-1.6.json"
NOW = "2026-11-20T10:00:00Z"


def _signer(tmp_path: Path) -> tuple[ec.EllipticCurvePrivateKey, EvidenceTrust, Path]:
    """A fresh P-256 key (cosign's kind), its evidence trust and a trust policy file."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "evidence.pub").write_bytes(pem)
    policy = tmp_path / "trust.toml"
    policy.write_text('[evidence]\nkeys = ["evidence.pub"]\nbuilders = ["https://example.com/*"]\n')
    return key, EvidenceTrust(keys=(verifying_key_from_pem(pem, "cosign.pub"),)), policy


def _sign_blob(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    """``cosign sign-blob --key``: base64 DER ECDSA-P256-SHA256 over the file's bytes."""
    signature = key.sign(path.read_bytes(), ec.ECDSA(hashes.SHA256()))
    path.with_name(path.name + ".sig").write_bytes(base64.b64encode(signature))


def _artifact(directory: Path, trust: EvidenceTrust, name: str) -> dict[str, Any]:
    [found] = [a for a in collect(directory, trust).artifacts if a["name"] == name]
    return dict(found)


def _check(tmp_path: Path, document: dict[str, Any], *args: str) -> tuple[int, dict[str, Any]]:
    (tmp_path / "p.json").write_text(json.dumps(document))
    result = invoke(
        "check", str(tmp_path / "p.json"), *args, "--now", NOW, "--format", "json", "--no-audit"
    )  # fmt: skip
    assert result.returncode in (0, 1, 3), result.stderr
    return result.returncode, json.loads(result.stdout)


def _release(name: str) -> dict[str, Any]:
    return {
        "kind": "release",
        "repository": "acme/app",
        "author": {"id": "release-bot", "type": "agent"},
        "artifacts": [{"name": name}],
    }


# ---------------------------------------------------------------- SBOM binding
def test_an_old_signed_sbom_that_names_no_digest_is_not_signed_for_a_new_artifact(
    tmp_path: Path,
) -> None:
    # Replay: a genuinely signed SBOM (made by syft, it names no subject digest) is
    # placed as app.cdx.json next to a new build "app" with its valid signature.
    key, trust, policy = _signer(tmp_path)
    directory = tmp_path / "dist"
    directory.mkdir()
    (directory / "app").write_bytes(b"the agent's new build\n")
    shutil.copyfile(DIR_SBOM, directory / "app.cdx.json")
    _sign_blob(key, directory / "app.cdx.json")
    sbom = _artifact(directory, trust, "app")["sbom"]
    assert sbom["signed"] is False and sbom["signer"] is None
    assert "app.cdx.json: names no subject digest" in sbom["error"]
    assert "does not bind it to app (sha256:" in sbom["error"]
    # End to end: the release is denied, quoting why.
    code, decision = _check(
        tmp_path, _release("app"), "--evidence", str(directory), "--trust", str(policy)
    )
    assert code == 1
    reasons = [r["msg"] for r in decision["reasons"] if r["rule"] == "SC-SIGNED-SBOM-001"]
    assert len(reasons) == 1 and "names no subject digest" in reasons[0]


def test_a_signed_syft_file_sbom_is_bound_by_the_digest_it_names(tmp_path: Path) -> None:
    # Held: syft's `scan file:` SBOM names the file's digest as metadata.component.version.
    key, trust, _ = _signer(tmp_path)
    directory = tmp_path / "dist"
    directory.mkdir()
    for name in (TARBALL, f"{TARBALL}.cdx.json"):
        shutil.copyfile(EXAMPLE / name, directory / name)
    _sign_blob(key, directory / f"{TARBALL}.cdx.json")
    sbom = _artifact(directory, trust, TARBALL)["sbom"]
    assert sbom["signed"] is True and sbom["error"] is None
    # The same signed SBOM under another artifact's name binds to nothing there.
    (directory / TARBALL).write_bytes(b"another build\n")
    sbom = _artifact(directory, trust, TARBALL)["sbom"]
    assert sbom["signed"] is False
    assert f"describes {TARBALL_DIGEST}, not {TARBALL}" in sbom["error"]


def test_a_signed_sbom_naming_a_declared_images_digest_binds_to_it(tmp_path: Path) -> None:
    # Held: an artifact referenced only by digest receives the SBOM that names it.
    key, trust, _ = _signer(tmp_path)
    directory = tmp_path / "dist"
    directory.mkdir()
    shutil.copyfile(EXAMPLE / f"{TARBALL}.cdx.json", directory / "image.cdx.json")
    _sign_blob(key, directory / "image.cdx.json")
    declared = [{"name": "image", "digest": TARBALL_DIGEST}]
    [found] = collect(directory, trust, declared).artifacts
    assert found["sbom"]["signed"] is True
