"""Evidence directories (charter.facts.evidence): real tool outputs read, verified and attached."""

from __future__ import annotations

import base64
import hashlib
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from charter.core.errors import InputError
from charter.facts.evidence import collect
from charter.trust.keyless import KeylessIdentity
from charter.trust.keys import verifying_key_from_pem
from charter.trust.policy import EvidenceTrust

ASSETS = Path(__file__).parent / "assets" / "evidence"
LOCAL = ASSETS / "attestations" / "local-dsse-test-vectors"
COSIGN = ASSETS / "attestations" / "cosign-keyed-sbom-attestation"
BCR = ASSETS / "attestations" / "slsa-verifier" / "github-attestation-bundle-v0.3"
FULCIO = ASSETS / "attestations" / "slsa-verifier" / "slsa-v0.2-dsse-fulcio"
ROOT = ASSETS / "attestations" / "sigstore-trust" / "production-trusted_root.json"
RELEASE = Path(__file__).resolve().parents[1] / "examples" / "release-with-evidence" / "dist"
HELLO_DIGEST = "sha256:37441ff5890982bc9e9427441fefcfed33d39ec3e0f8f221c35a43c1ca9088c0"


def _key(path: Path) -> EvidenceTrust:
    return EvidenceTrust(
        keys=(verifying_key_from_pem(path.read_bytes(), str(path)),), builders=("*",)
    )


def _dir(tmp_path: Path, *files: Path | tuple[Path, str]) -> Path:
    target = tmp_path / "evidence"
    target.mkdir(parents=True)
    for item in files:
        source, name = item if isinstance(item, tuple) else (item, item.name)
        shutil.copyfile(source, target / name)
    return target


def _one(evidence_artifacts: tuple[dict[str, object], ...], name: str) -> dict[str, object]:
    [found] = [a for a in evidence_artifacts if a["name"] == name]
    return found


@pytest.mark.parametrize("key", ["ed25519", "ecdsa-p256"])
def test_signed_slsa_provenance_attaches_to_the_artifact_it_names(tmp_path: Path, key: str) -> None:
    directory = _dir(tmp_path, LOCAL / "hello-artifact.txt", LOCAL / f"provenance.{key}.dsse.json")
    evidence = collect(directory, _key(LOCAL / f"TEST-ONLY-{key}.pub.pem"))
    artifact = _one(evidence.artifacts, "hello-artifact.txt")
    assert artifact["digest"] == HELLO_DIGEST
    provenance = artifact["provenance"]
    assert isinstance(provenance, dict)
    assert provenance["signed"] is True and provenance["error"] is None
    assert provenance["format"] == "slsa-provenance-v1"
    assert provenance["source"] == f"provenance.{key}.dsse.json"
    assert "sbom" not in artifact
    # The attestation itself is evidence, not an artifact.
    assert [a["name"] for a in evidence.artifacts] == ["hello-artifact.txt"]


@pytest.mark.parametrize("key", ["ed25519", "ecdsa-p256"])
def test_a_one_byte_tampered_attestation_leaves_the_artifact_unsigned_with_the_reason(
    tmp_path: Path, key: str
) -> None:
    directory = _dir(
        tmp_path,
        LOCAL / "hello-artifact.txt",
        LOCAL / f"provenance.{key}.dsse.TAMPERED.json",
    )
    evidence = collect(directory, _key(LOCAL / f"TEST-ONLY-{key}.pub.pem"))
    provenance = _one(evidence.artifacts, "hello-artifact.txt")["provenance"]
    assert isinstance(provenance, dict)
    assert provenance["signed"] is False
    assert f"provenance.{key}.dsse.TAMPERED.json" in str(provenance["error"])


def test_the_wrong_key_verifies_nothing(tmp_path: Path) -> None:
    directory = _dir(tmp_path, LOCAL / "hello-artifact.txt", LOCAL / "provenance.ed25519.dsse.json")
    evidence = collect(directory, _key(LOCAL / "TEST-ONLY-ecdsa-p256.pub.pem"))
    provenance = _one(evidence.artifacts, "hello-artifact.txt")["provenance"]
    assert isinstance(provenance, dict) and provenance["signed"] is False
    assert provenance["error"]


def test_no_trusted_signer_means_nothing_is_signed(tmp_path: Path) -> None:
    directory = _dir(tmp_path, LOCAL / "hello-artifact.txt", LOCAL / "provenance.ed25519.dsse.json")
    provenance = _one(collect(directory, EvidenceTrust()).artifacts, "hello-artifact.txt")[
        "provenance"
    ]
    assert isinstance(provenance, dict) and provenance["signed"] is False


def test_a_cosign_sbom_attestation_attaches_to_a_declared_artifact_by_digest(
    tmp_path: Path,
) -> None:
    directory = _dir(tmp_path, COSIGN / "alpine.cdx.att.json")
    digest = "sha256:4edbd2beb5f78b1014028f4fbb99f3237d9561100b6881aabbf5acce2c4f9454"
    evidence = collect(
        directory, _key(COSIGN / "cosign.pub"), [{"name": "alpine:latest", "digest": digest}]
    )
    artifact = _one(evidence.artifacts, "alpine:latest")
    sbom = artifact["sbom"]
    assert isinstance(sbom, dict)
    assert sbom["signed"] is True and sbom["format"] == "cyclonedx"
    assert sbom["components"] == 15  # syft 0.43.2's SBOM of alpine:latest
    assert evidence.unattached == ()


def test_the_tampered_cosign_attestation_and_the_wrong_key_are_refused(tmp_path: Path) -> None:
    digest = "sha256:4edbd2beb5f78b1014028f4fbb99f3237d9561100b6881aabbf5acce2c4f9454"
    declared = [{"name": "alpine", "digest": digest}]
    tampered = _dir(tmp_path, COSIGN / "alpine-tampered.cdx.att.json")
    sbom = _one(collect(tampered, _key(COSIGN / "cosign.pub"), declared).artifacts, "alpine")[
        "sbom"
    ]
    assert isinstance(sbom, dict) and sbom["signed"] is False and sbom["error"]
    other = _dir(tmp_path / "other", COSIGN / "alpine.cdx.att.json")
    sbom = _one(collect(other, _key(COSIGN / "another_cosign.pub"), declared).artifacts, "alpine")[
        "sbom"
    ]
    assert isinstance(sbom, dict) and sbom["signed"] is False


def test_keyless_github_attestation_verifies_offline_against_the_pinned_identity(
    tmp_path: Path,
) -> None:
    pytest.importorskip("sigstore")
    identity = KeylessIdentity(
        "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml@refs/tags/v0.0.1",
        "https://token.actions.githubusercontent.com",
    )
    trust = EvidenceTrust(keyless=(identity,), trusted_root=ROOT, builders=("*",))
    directory = _dir(tmp_path, BCR / "MODULE.bazel", BCR / "MODULE.bazel.intoto.jsonl")
    provenance = _one(collect(directory, trust).artifacts, "MODULE.bazel")["provenance"]
    assert isinstance(provenance, dict)
    assert provenance["signed"] is True, provenance["error"]
    wrong = _dir(
        tmp_path / "w",
        (BCR / "MODULE-wrong-signer.bazel", "MODULE.bazel"),
        BCR / "MODULE-wrong-signer.bazel.intoto.jsonl",
    )
    provenance = _one(collect(wrong, trust).artifacts, "MODULE.bazel")["provenance"]
    assert isinstance(provenance, dict) and provenance["signed"] is False


def test_an_inline_certificate_without_a_log_proof_never_verifies_offline(tmp_path: Path) -> None:
    directory = _dir(
        tmp_path,
        FULCIO / "binary-linux-amd64-multi-subject-first",
        FULCIO / "binary-linux-amd64-multi-subject-first.intoto.jsonl",
    )
    trust = EvidenceTrust(trusted_root=ROOT, builders=("*",))
    artifact = _one(collect(directory, trust).artifacts, "binary-linux-amd64-multi-subject-first")
    provenance = artifact["provenance"]
    assert isinstance(provenance, dict) and provenance["signed"] is False
    assert provenance["error"]


def test_an_unsigned_sbom_next_to_its_artifact_is_present_but_not_signed(tmp_path: Path) -> None:
    sbom_file = ASSETS / "sbom" / "local-generated" / "syft-1.18.1.cdx-1.6.json"
    directory = _dir(tmp_path, (LOCAL / "hello-artifact.txt", "app"), (sbom_file, "app.cdx.json"))
    sbom = _one(collect(directory, EvidenceTrust()).artifacts, "app")["sbom"]
    assert isinstance(sbom, dict)
    assert sbom["signed"] is False and sbom["format"] == "cyclonedx"
    assert sbom["components"] == 10
    assert "no signature" in str(sbom["error"])


def test_scans_are_merged_and_a_run_that_audited_nothing_is_not_clean(tmp_path: Path) -> None:
    vuln = ASSETS / "vuln"
    directory = _dir(
        tmp_path,
        vuln / "trivy" / "aquasecurity-trivy" / "pip.json.golden",
        vuln / "pip-audit" / "local-offline" / "pip-audit-2.10.1.offline.json",
    )
    evidence = collect(directory, EvidenceTrust())
    scan = evidence.scan
    assert scan is not None
    ids = {f["id"]: f["severity"] for f in scan["findings"]}
    assert ids["CVE-2019-14806"] == "high" and ids["CVE-2020-28724"] == "medium"
    assert scan["audited"] is False and scan["not_audited"]
    assert evidence.artifacts == ()


def test_an_artifact_is_hashed_whatever_it_contains(tmp_path: Path) -> None:
    directory = tmp_path / "e"
    directory.mkdir()
    (directory / "data.json").write_bytes(b'{"not": "evidence"}')
    (directory / "bin").write_bytes(bytes(range(256)) * 10)
    found = {a["name"]: a["digest"] for a in collect(directory, EvidenceTrust()).artifacts}
    assert found == {
        "bin": "sha256:" + hashlib.sha256(bytes(range(256)) * 10).hexdigest(),
        "data.json": "sha256:" + hashlib.sha256(b'{"not": "evidence"}').hexdigest(),
    }


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("app.cdx.json", b'{"bomFormat": "CycloneDX"', "app.cdx.json"),
        ("app.intoto.jsonl", b'{"payload": 1}\n', "app.intoto.jsonl"),
        ("prov.att.json", b'{"hello": "world"}', "named like evidence"),
        ("app.sig", b"MEUCIQ==", "app.sig: signs app"),
    ],
)
def test_evidence_that_cannot_be_read_is_an_input_error(
    tmp_path: Path, name: str, content: bytes, needle: str
) -> None:
    directory = tmp_path / "e"
    directory.mkdir()
    (directory / name).write_bytes(content)
    with pytest.raises(InputError) as caught:
        collect(directory, EvidenceTrust())
    assert needle in caught.value.message


def test_links_and_missing_directories_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="No such file"):
        collect(tmp_path / "missing", EvidenceTrust())
    directory = tmp_path / "e"
    directory.mkdir()
    (directory / "sbom.cdx.json").symlink_to("/etc/passwd")
    with pytest.raises(InputError, match="symbolic link"):
        collect(directory, EvidenceTrust())


def test_an_sbom_signed_with_cosign_sign_blob_is_signed_and_one_flipped_byte_is_not(
    tmp_path: Path,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    trust = EvidenceTrust(keys=(verifying_key_from_pem(pem, "cosign.pub"),))
    # syft's SBOM of the example tarball, which names the tarball's digest.
    sbom_bytes = (RELEASE / "billing-cli-2.4.0.tar.gz.cdx.json").read_bytes()
    directory = _dir(tmp_path, (RELEASE / "billing-cli-2.4.0.tar.gz", "app"))
    (directory / "app.cdx.json").write_bytes(sbom_bytes)
    signature = base64.b64encode(key.sign(sbom_bytes, ec.ECDSA(hashes.SHA256())))
    (directory / "app.cdx.json.sig").write_bytes(signature)
    sbom = _one(collect(directory, trust).artifacts, "app")["sbom"]
    assert isinstance(sbom, dict) and sbom["signed"] is True and sbom["error"] is None
    # One changed byte of the SBOM (a space inside the JSON) and the signature fails.
    tampered = sbom_bytes.replace(b'"components"', b'"components" ', 1)
    (directory / "app.cdx.json").write_bytes(tampered)
    sbom = _one(collect(directory, trust).artifacts, "app")["sbom"]
    assert isinstance(sbom, dict) and sbom["signed"] is False and sbom["error"]


def nested(top: Path, depth: int) -> list[Path]:
    """``depth`` folders ``top/a/a/…``, made one at a time (``mkdir(parents=True)``
    recurses once per folder, as ``os.walk`` and ``shutil.rmtree`` do on Python 3.11)."""
    folders = []
    for _ in range(depth):
        top = top / "a"
        top.mkdir()
        folders.append(top)
    return folders


def remove_nested(folders: list[Path]) -> None:
    """Remove what :func:`nested` made, deepest first: pytest's clean-up of its temporary
    folders would fail on the tree (shutil.rmtree recurses)."""
    for folder in reversed(folders):
        for entry in folder.iterdir():
            if not entry.is_dir() or entry.is_symlink():
                entry.unlink()
        folder.rmdir()


def test_evidence_nested_deeper_than_the_recursion_limit_is_read(tmp_path: Path) -> None:
    # os.walk recursed once per folder (Python 3.11): 1,200 nested folders, a path of
    # 2,400 characters, ended in RecursionError — "internal error" on the command line,
    # an HTTP 500 for inline evidence at the runner.
    directory = tmp_path / "e"
    directory.mkdir()
    folders = nested(directory, 1200)
    try:
        (folders[-1] / "app.tgz").write_bytes(b"artifact")
        (directory / "top.bin").write_bytes(b"top")
        evidence = collect(directory, EvidenceTrust())
    finally:
        remove_nested(folders)
    names = [a["name"] for a in evidence.artifacts]
    assert names == sorted(["/".join(["a"] * 1200 + ["app.tgz"]), "top.bin"])


def test_too_many_folders_are_an_input_error(tmp_path: Path) -> None:
    directory = tmp_path / "e"
    directory.mkdir()
    for n in range(10_001):
        (directory / f"d{n}").mkdir()
    with pytest.raises(InputError, match="more than 10000 files"):
        collect(directory, EvidenceTrust())
