"""Evidence is bound to the artifact it vouches for by digest, never by file name alone.

The governed agent can write into the evidence directory. Each case is one attempt to
make evidence about something else count (the comment says what it tries). SBOMs and
scans are real tool output (tests/assets/evidence, examples/release-with-evidence; see
their READMEs); signatures are made here with keys generated on the fly (TEST-ONLY).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from charter.facts.attestations import IN_TOTO_PAYLOAD, pae
from charter.facts.evidence import collect
from charter.facts.reconcile import Facts, reconcile
from charter.facts.scan_coverage import required_files
from charter.facts.scans import parse_scan
from charter.trust.keyless import KeylessIdentity
from charter.trust.keys import verifying_key_from_pem
from charter.trust.policy import EvidenceTrust
from tests.cli_helpers import invoke
from tests.test_facts_git import commit, git

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


def _messages(reasons: list[dict[str, Any]], rule: str) -> list[str]:
    """The messages of the reasons citing ``rule``."""
    return [r["msg"] for r in reasons if r["rule"] == rule]


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
    reasons = _messages(decision["reasons"], "SC-SIGNED-SBOM-001")
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


# ---------------------------------------------------------------- attestation subjects
BUILDER = "https://example.com/TEST-ONLY-builder"
SLSA_V1 = "https://slsa.dev/provenance/v1"


def _ed25519() -> tuple[ed25519.Ed25519PrivateKey, EvidenceTrust]:
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, EvidenceTrust(keys=(verifying_key_from_pem(pem, "k"),), builders=(BUILDER,))


def _statement(*subjects: dict[str, str], predicate_type: str = SLSA_V1) -> bytes:
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": f"s{n}", "digest": d} for n, d in enumerate(subjects)],
        "predicateType": predicate_type,
        "predicate": {"runDetails": {"builder": {"id": BUILDER}}},
    }
    return json.dumps(statement).encode()


def _envelope(
    payload: bytes, *keys: ed25519.Ed25519PrivateKey | bytes, payload_type: str = IN_TOTO_PAYLOAD
) -> str:
    """A DSSE envelope with one signature per key (bytes: that signature as is)."""
    signatures = [k if isinstance(k, bytes) else k.sign(pae(payload_type, payload)) for k in keys]
    return json.dumps(
        {
            "payloadType": payload_type,
            "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": "", "sig": base64.b64encode(s).decode()} for s in signatures],
        }
    )


def _digests(data: bytes) -> dict[str, str]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "sha512": hashlib.sha512(data).hexdigest()}


def _dist(tmp_path: Path, envelope: str, **files: bytes) -> Path:
    directory = tmp_path / "dist"
    directory.mkdir(parents=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    (directory / "build.intoto.json").write_text(envelope)
    return directory


@pytest.mark.parametrize("algorithm", ["sha512", "sha384"])
def test_a_sha512_subject_attaches_to_the_file_it_names(tmp_path: Path, algorithm: str) -> None:
    key, trust = _ed25519()
    subject = {algorithm: hashlib.new(algorithm, b"app\n").hexdigest()}
    directory = _dist(tmp_path, _envelope(_statement(subject), key), app=b"app\n")
    provenance = _artifact(directory, trust, "app")["provenance"]
    assert provenance["signed"] is True, provenance["error"]


def test_each_of_several_subjects_receives_the_statement(tmp_path: Path) -> None:
    key, trust = _ed25519()
    payload = _statement(
        {"sha256": _digests(b"a\n")["sha256"]},
        {"sha512": _digests(b"b\n")["sha512"]},
        {"sha256": "0" * 64},  # an artifact not in the directory
    )
    directory = _dist(tmp_path, _envelope(payload, key), a=b"a\n", b=b"b\n", c=b"c\n")
    found = {a["name"]: a for a in collect(directory, trust).artifacts}
    assert found["a"]["provenance"]["signed"] is True
    assert found["b"]["provenance"]["signed"] is True
    assert "provenance" not in found["c"]


def test_a_subject_whose_digests_disagree_attaches_to_nothing_signed(tmp_path: Path) -> None:
    # The sha256 is the agent's build, the sha512 another file's: which one was built?
    key, trust = _ed25519()
    subject = {"sha256": _digests(b"app\n")["sha256"], "sha512": _digests(b"other\n")["sha512"]}
    directory = _dist(tmp_path, _envelope(_statement(subject), key), app=b"app\n")
    provenance = _artifact(directory, trust, "app")["provenance"]
    assert provenance["signed"] is False
    assert "disagrees with app's digests" in provenance["error"]


def test_a_malformed_sha512_subject_is_refused(tmp_path: Path) -> None:
    key, trust = _ed25519()
    subject = {"sha256": _digests(b"app\n")["sha256"], "sha512": "ab" * 32}
    directory = _dist(tmp_path, _envelope(_statement(subject), key), app=b"app\n")
    provenance = _artifact(directory, trust, "app")["provenance"]
    assert provenance["signed"] is False
    assert "sha512 digest is not 128 lowercase hex digits" in provenance["error"]


def test_an_attestation_of_another_artifact_counts_for_nothing(tmp_path: Path) -> None:
    key, trust = _ed25519()
    (tmp_path / "evidence.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    policy = tmp_path / "trust.toml"
    policy.write_text(f'[evidence]\nkeys = ["evidence.pub"]\nbuilders = ["{BUILDER}"]\n')
    subject = {"sha256": _digests(b"last week's build\n")["sha256"]}
    directory = _dist(tmp_path, _envelope(_statement(subject), key), app=b"new build\n")
    evidence = collect(directory, trust)
    assert "provenance" not in _artifact(directory, trust, "app")
    assert evidence.unattached == ("build.intoto.json",)
    code, decision = _check(
        tmp_path, _release("app"), "--evidence", str(directory), "--trust", str(policy)
    )
    assert code == 1
    reasons = _messages(decision["reasons"], "SC-SIGNED-PROVENANCE-001")
    assert len(reasons) == 1 and "has no provenance" in reasons[0]


def test_one_good_signature_of_two_verifies_as_dsse_specifies(tmp_path: Path) -> None:
    # DSSE: an envelope is verified when a signature verifies with a trusted key; a
    # signature by an unknown key, or garbage, beside it is ignored — in either order.
    key, trust = _ed25519()
    stranger = ed25519.Ed25519PrivateKey.generate()
    payload = _statement({"sha256": _digests(b"app\n")["sha256"]})
    pairs = ((stranger, key), (key, b"\x00" * 64), (b"not a signature", key))
    for number, signers in enumerate(pairs):
        directory = _dist(tmp_path / str(number), _envelope(payload, *signers), app=b"app\n")
        assert _artifact(directory, trust, "app")["provenance"]["signed"] is True
    # Two signatures, none by a pinned key: refused.
    directory = _dist(tmp_path / "none", _envelope(payload, stranger, b"\x00" * 64), app=b"app\n")
    provenance = _artifact(directory, trust, "app")["provenance"]
    assert provenance["signed"] is False
    assert "does not verify with any pinned key" in provenance["error"]


def test_a_signed_payload_that_is_not_in_toto_is_refused(tmp_path: Path) -> None:
    key, trust = _ed25519()
    payload = _statement({"sha256": _digests(b"app\n")["sha256"]})
    envelope = _envelope(payload, key, payload_type="application/vnd.example+json")
    directory = _dist(tmp_path, envelope, app=b"app\n")
    evidence = collect(directory, trust)
    # The statement cannot be read as one: nothing attaches as signed, the error shows.
    provenance = _artifact(directory, trust, "app")["provenance"]
    assert provenance["signed"] is False
    assert (
        "payload type 'application/vnd.example+json' is not an in-toto statement"
        in (provenance["error"])
    )
    assert evidence.unattached == ()


def _certificate(key: ed25519.Ed25519PrivateKey, start: datetime.datetime) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TEST-ONLY")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(minutes=10))
        .sign(key, None)
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_a_certificate_expired_or_not_yet_valid_without_log_proof_never_verifies(
    tmp_path: Path,
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    trust = EvidenceTrust(builders=(BUILDER,))  # no pinned key: only the certificate
    payload = _statement({"sha256": _digests(b"app\n")["sha256"]})
    now = datetime.datetime.now(datetime.UTC)
    for start in (now - datetime.timedelta(days=30), now + datetime.timedelta(days=30)):
        envelope = json.loads(_envelope(payload, key))
        envelope["signatures"][0]["cert"] = _certificate(key, start)
        directory = _dist(tmp_path / start.isoformat()[:10], json.dumps(envelope), app=b"app\n")
        provenance = _artifact(directory, trust, "app")["provenance"]
        assert provenance["signed"] is False
        assert "no transparency-log proof of signing time" in provenance["error"]


# ---------------------------------------------------------------- what a scan is about
VULN = EVIDENCE / "vuln"
TRIVY_POETRY = VULN / "trivy" / "aquasecurity-trivy" / "poetry.json.golden"
TRIVY_ALPINE = VULN / "trivy" / "aquasecurity-trivy" / "alpine-39-high-critical.json.golden"
OSV_YARN = VULN / "osv-scanner" / "defectdojo" / "some_findings.json"
GRYPE_BUSYBOX = VULN / "grype" / "defectdojo" / "many_vulns_with_epss_values.json"
PIP_AUDIT = VULN / "pip-audit" / "defectdojo" / "many_vulns_new.json"
#: busybox:1.32.1's manifest digest, as grype recorded it.
BUSYBOX = "sha256:123b1fd3a44eaaf7322e08e9175d9ca57d49ebf2955d4fa1f5607e99dc31bcbb"


def _change(path: str, name: str = "werkzeug", new: str = "0.14") -> dict[str, Any]:
    return {"ecosystem": "pypi", "name": name, "old": None, "new": new, "file": path}


def _scan(
    tmp_path: Path, document: dict[str, Any], *reports: Path, root: str | None = None
) -> dict[str, Any]:
    """``dependencies.scan`` as reconciled from an evidence directory of ``reports``
    (``root``: the judged work tree's top)."""
    directory = tmp_path / "scans"
    directory.mkdir(parents=True)
    for report in reports:
        shutil.copyfile(report, directory / report.name)
    found = collect(directory, EvidenceTrust())
    facts = Facts(scan=found.scan, root=root)
    scan: dict[str, Any] = reconcile(document, facts).document["dependencies"]["scan"]
    assert "reports" not in scan
    return scan


def _pr(*changes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "kind": "pull_request",
        "repository": "acme/app",
        "author": {"id": "coder@agents.example", "type": "agent"},
        "dependencies": {"changed": True, "changes": list(changes)},
        **extra,
    }


def test_an_image_scan_does_not_stand_in_for_a_lockfile_scan(tmp_path: Path) -> None:
    # The change bumps poetry.lock; the agent attaches trivy's clean-looking scan of
    # an alpine image instead (its two findings are about musl, not the change).
    scan = _scan(tmp_path, _pr(_change("poetry.lock")), TRIVY_ALPINE)
    assert scan["audited"] is False and scan["findings"] == []
    assert "alpine-39-high-critical.json.golden: trivy scanned" in scan["not_audited"][0]
    assert "not poetry.lock (its 2 findings are not used)" in scan["not_audited"][0]
    assert scan["not_audited"][1] == "no scan covers poetry.lock"


def test_a_lockfile_scan_covers_the_lockfile_it_names(tmp_path: Path) -> None:
    # Held: trivy's poetry.lock scan is about the changed poetry.lock (any folder depth).
    for path in ("poetry.lock", "testdata/fixtures/repo/poetry/poetry.lock"):
        scan = _scan(tmp_path / path.replace("/", "_"), _pr(_change(path)), TRIVY_POETRY)
        assert scan["audited"] is True and scan["not_audited"] == []
        assert [f["id"] for f in scan["findings"]] == ["CVE-2019-14806"]
    # ... and not about another lockfile, or a poetry.lock in another folder.
    for path in ("services/api/poetry.lock", "yarn.lock"):
        scan = _scan(tmp_path / path.replace("/", "_"), _pr(_change(path)), TRIVY_POETRY)
        assert scan["audited"] is False and scan["findings"] == []


GRYPE_DIR = VULN / "grype" / "anchore-grype" / "TestJsonDirsPresenter.golden"


def test_an_absolute_directory_scan_covers_the_work_tree_it_scanned(tmp_path: Path) -> None:
    """grype's directory source names the folder it scanned absolutely (``/some/path``,
    as `grype dir:$GITHUB_WORKSPACE` does): it covers the change when that folder is the
    judged checkout's top, or holds the changed file; never by a guess without one."""
    document = _pr(_change("poetry.lock"), _change("web/poetry.lock"))
    for root, audited in (
        ("/some/path", True),  # the checkout itself
        ("/some/path/", True),
        ("/some", False),  # it scanned /some/path only: poetry.lock is /some/poetry.lock
        ("/some/pathology", False),  # a prefix of the name is not a parent folder
        (None, False),  # no work tree known: an absolute folder is nobody's
    ):
        scan = _scan(tmp_path / str(root).replace("/", "_"), document, GRYPE_DIR, root=root)
        assert scan["audited"] is audited, (root, scan["not_audited"])
    inner = _pr(_change("path/poetry.lock"), _change("path/sub/go.sum"))
    scan = _scan(tmp_path / "inner", inner, GRYPE_DIR, root="/some")
    assert scan["audited"] is True  # /some/path is the repository's folder path/


def test_an_absolute_lockfile_path_is_read_against_the_work_tree(tmp_path: Path) -> None:
    """OSV-Scanner names the lockfile it read absolutely (/tmp/components/yarn.lock):
    under the judged work tree it is that repository path, matched exactly; elsewhere
    (a scan run where the checkout had another path) it matches by its suffix, as
    without a root."""
    cases = (
        ("components/yarn.lock", "/tmp", True),
        ("yarn.lock", "/tmp/components", True),
        (
            "components/yarn.lock",
            "/tmp/components",
            False,
        ),  # that would be .../components/components
        ("components/yarn.lock", "/work/checkout", True),  # outside: by its suffix
        ("components/yarn.lock", None, True),
    )
    for index, (path, root, audited) in enumerate(cases):
        document = _pr(_change(path, "flot-axis", "1"))
        scan = _scan(tmp_path / str(index), document, OSV_YARN, root=root)
        assert scan["audited"] is audited, (path, root, scan["not_audited"])


def test_only_the_scans_about_the_change_judge_it(tmp_path: Path) -> None:
    # Two lockfiles changed; OSV-Scanner scanned components/yarn.lock, trivy poetry.lock,
    # grype an unrelated image: the image's 15 findings are not the judgement.
    document = _pr(_change("poetry.lock"), _change("components/yarn.lock", "flot-axis", "1"))
    scan = _scan(tmp_path, document, TRIVY_POETRY, OSV_YARN, GRYPE_BUSYBOX)
    assert scan["audited"] is True
    assert {f["source"] for f in scan["findings"]} == {TRIVY_POETRY.name, OSV_YARN.name}
    # Without the OSV scan, components/yarn.lock is covered by nothing.
    scan = _scan(tmp_path / "two", document, TRIVY_POETRY, GRYPE_BUSYBOX)
    assert scan["audited"] is False
    assert scan["not_audited"][-1] == "no scan covers components/yarn.lock"


def test_an_image_scan_covers_the_change_when_it_is_a_built_artifacts(tmp_path: Path) -> None:
    # The image's digest has signed provenance from the trusted builder: its scan counts.
    key, trust = _ed25519()
    payload = _statement({"sha256": BUSYBOX.removeprefix("sha256:")})
    directory = _dist(tmp_path, _envelope(payload, key))
    shutil.copyfile(GRYPE_BUSYBOX, directory / "grype.json")
    declared = [{"name": "busybox", "digest": BUSYBOX}]
    found = collect(directory, trust, declared)
    document = _pr(_change("poetry.lock"), artifacts=declared)
    facts = Facts(artifacts=found.artifacts, scan=found.scan)
    scan = reconcile(document, facts).document["dependencies"]["scan"]
    assert scan["audited"] is True and len(scan["findings"]) == 15
    # A digest the document merely declares (no verified provenance) is any image's.
    scan = reconcile(document, Facts(scan=found.scan)).document["dependencies"]["scan"]
    assert scan["audited"] is False and scan["findings"] == []
    unsigned = _pr(
        _change("poetry.lock"), artifacts=[{**declared[0], "provenance": {"signed": True}}]
    )
    scan = reconcile(unsigned, Facts(scan=found.scan)).document["dependencies"]["scan"]
    assert scan["audited"] is False


def test_pip_audit_covers_a_file_whose_changed_packages_it_audited(tmp_path: Path) -> None:
    # pip-audit names no file: it covers requirements.txt when it audited the changed
    # packages at their new versions (names compared as PyPI normalises them).
    audited = _pr(
        _change("requirements.txt", "Django", "3.2.9"), _change("requirements.txt", "lxml", "4.6.4")
    )
    scan = _scan(tmp_path, audited, PIP_AUDIT)
    assert scan["audited"] is True and scan["findings"]
    for change in (
        _change("requirements.txt", "django", "4.0"),  # another version than it audited
        _change("requirements.txt", "azure-devops", "0.17.0"),  # skipped
        _change("requirements.txt", "requests", "2.32.3"),  # not audited at all
    ):
        scan = _scan(tmp_path / change["name"] / change["new"], _pr(change), PIP_AUDIT)
        assert scan["audited"] is False and scan["findings"] == []


def test_a_change_that_names_no_dependency_file_cannot_be_shown_covered(tmp_path: Path) -> None:
    scan = _scan(tmp_path, _pr(), TRIVY_POETRY)
    assert scan["audited"] is False
    assert scan["not_audited"][-1].startswith("the change names no dependency file")


def test_a_scan_about_something_else_denies_end_to_end(tmp_path: Path) -> None:
    directory = tmp_path / "ci"
    directory.mkdir()
    shutil.copyfile(TRIVY_ALPINE, directory / "scan.json")
    document = _pr(files=[{"path": "poetry.lock", "status": "modified"}])
    document["dependencies"] = {"changed": True}
    code, decision = _check(tmp_path, document, "--evidence", str(directory))
    assert code == 1
    [reason] = _messages(decision["reasons"], "SC-DEPENDENCY-SCAN-001")
    assert "no scan covers poetry.lock" in reason
    # The image's findings are not the judgement.
    assert not [r for r in decision["reasons"] if r["rule"] == "SC-VULN-THRESHOLD-001"]
    # Held: the scan of the changed lockfile judges it (its HIGH finding denies).
    shutil.copyfile(TRIVY_POETRY, directory / "scan.json")
    code, decision = _check(tmp_path, document, "--evidence", str(directory))
    rules = {r["rule"] for r in decision["reasons"]}
    assert "SC-DEPENDENCY-SCAN-001" not in rules and "SC-VULN-THRESHOLD-001" in rules


def test_required_files_are_lockfiles_and_manifests_only_alone() -> None:
    files = [
        {"path": "package.json", "status": "modified"},
        {"path": "package-lock.json", "status": "modified"},
        {"path": "go.sum", "status": "modified"},
        {"path": "old/yarn.lock", "status": "removed"},
        {"path": "README.md", "status": "modified"},
    ]
    assert required_files({"files": files}) == ["package-lock.json"]
    assert required_files({"files": files[:1]}) == ["package.json"]


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (TRIVY_POETRY, {"files": ("testdata/fixtures/repo/poetry/poetry.lock",)}),
        (
            TRIVY_ALPINE,
            {
                "digests": (
                    "sha256:055936d3920576da37aa9bc460d70c5f212028bda1c08c0879aedf03d7a66ea1",
                )
            },
        ),
        (OSV_YARN, {"files": ("/tmp/components/yarn.lock",)}),
        (
            VULN / "grype" / "anchore-grype" / "TestJsonDirsPresenter.golden",
            {"directories": ("/some/path",)},
        ),
        (
            GRYPE_BUSYBOX,
            {
                "digests": (
                    "sha256:388056c9a6838deea3792e8f00705b35b439cf57b3c9c2634fb4e95cfc896de6",
                    BUSYBOX,
                    "sha256:ae39a6f5c07297d7ab64dbd4f82c77c874cc6a94cea29fdec309d0992574b4f7",
                )
            },
        ),
        (VULN / "pip-audit" / "local-offline" / "pip-audit-2.10.1.offline.json", {}),
    ],
)
def test_what_each_real_report_says_it_scanned(report: Path, expected: dict[str, Any]) -> None:
    about = parse_scan(json.loads(report.read_text()), report.name).about
    for key in ("files", "directories", "digests"):
        assert getattr(about, key) == expected.get(key, ())
    assert about.packages == ()  # pip-audit offline audited none of them


# ---------------------------------------------------------------- Sigstore bundles
BCR = EVIDENCE / "attestations" / "slsa-verifier" / "github-attestation-bundle-v0.3"
TRUSTED_ROOT = EVIDENCE / "attestations" / "sigstore-trust" / "production-trusted_root.json"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        # a second (bad) signature beside the good one, either order
        (
            lambda b: b["dsseEnvelope"]["signatures"].append({"sig": "AAAA"}),
            "exactly one signature",
        ),
        (
            lambda b: b["dsseEnvelope"]["signatures"].insert(0, {"sig": "AAAA"}),
            "exactly one signature",
        ),
        # the transparency-log entry (the proof of signing time) removed
        (lambda b: b["verificationMaterial"].pop("tlogEntries"), "tlogEntries"),
        # another payload type than in-toto
        (
            lambda b: b["dsseEnvelope"].update(payloadType="application/json"),
            "payload type 'application/json' is not an in-toto statement",
        ),
    ],
)
def test_a_changed_github_attestation_bundle_is_refused(
    tmp_path: Path, change: Any, needle: str
) -> None:
    pytest.importorskip("sigstore")
    identity = KeylessIdentity(
        "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml@refs/tags/v0.0.1",
        "https://token.actions.githubusercontent.com",
    )
    trust = EvidenceTrust(keyless=(identity,), trusted_root=TRUSTED_ROOT, builders=("*",))
    directory = tmp_path / "dist"
    directory.mkdir()
    shutil.copyfile(BCR / "MODULE.bazel", directory / "MODULE.bazel")
    bundle = json.loads((BCR / "MODULE.bazel.intoto.jsonl").read_text())
    assert _bundle_verifies(directory, bundle, trust)  # control: the real bundle verifies
    change(bundle)
    provenance = _artifact_with(directory, bundle, trust)
    assert provenance["signed"] is False and needle in provenance["error"]


def _artifact_with(directory: Path, bundle: dict[str, Any], trust: EvidenceTrust) -> Any:
    (directory / "MODULE.bazel.intoto.jsonl").write_text(json.dumps(bundle) + "\n")
    return _artifact(directory, trust, "MODULE.bazel")["provenance"]


def _bundle_verifies(directory: Path, bundle: dict[str, Any], trust: EvidenceTrust) -> bool:
    return bool(_artifact_with(directory, bundle, trust)["signed"])


def test_a_pip_audit_run_that_audited_nothing_still_says_so(tmp_path: Path) -> None:
    # Held (real pip-audit 2.10.1 offline: every dependency skipped, exit 0).
    offline = VULN / "pip-audit" / "local-offline" / "pip-audit-2.10.1.offline.json"
    scan = _scan(tmp_path, _pr(_change("requirements.txt")), offline)
    assert scan["audited"] is False
    assert "Dependency not found on PyPI" in scan["not_audited"][0]
    assert scan["not_audited"][-1] == "no scan covers requirements.txt"


def test_a_pinned_keys_signature_counts_whatever_certificate_rides_beside_it(
    tmp_path: Path,
) -> None:
    # Defined answer: the pin is the trust; an expired certificate beside it changes nothing.
    key, trust = _ed25519()
    envelope = json.loads(_envelope(_statement({"sha256": _digests(b"app\n")["sha256"]}), key))
    expired = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=400)
    envelope["signatures"][0]["cert"] = _certificate(key, expired)
    directory = _dist(tmp_path, json.dumps(envelope), app=b"app\n")
    assert _artifact(directory, trust, "app")["provenance"]["signed"] is True


def test_a_cyclonedx_sbom_whose_hashes_disagree_binds_to_nothing(tmp_path: Path) -> None:
    # The SBOM's subject carries the tarball's sha256 and another file's sha512.
    key, trust, _ = _signer(tmp_path)
    directory = tmp_path / "dist"
    directory.mkdir()
    shutil.copyfile(EXAMPLE / TARBALL, directory / TARBALL)
    document = json.loads((EXAMPLE / f"{TARBALL}.cdx.json").read_text())
    other = hashlib.sha512(b"another build\n").hexdigest()
    document["metadata"]["component"]["hashes"] = [{"alg": "SHA-512", "content": other}]
    (directory / f"{TARBALL}.cdx.json").write_text(json.dumps(document))
    _sign_blob(key, directory / f"{TARBALL}.cdx.json")
    sbom = _artifact(directory, trust, TARBALL)["sbom"]
    assert sbom["signed"] is False and "describes" in sbom["error"]
    # Control: the tarball's own sha512 agrees, and the SBOM is bound.
    own = hashlib.sha512((EXAMPLE / TARBALL).read_bytes()).hexdigest()
    document["metadata"]["component"]["hashes"] = [{"alg": "SHA-512", "content": own}]
    (directory / f"{TARBALL}.cdx.json").write_text(json.dumps(document))
    _sign_blob(key, directory / f"{TARBALL}.cdx.json")
    assert _artifact(directory, trust, TARBALL)["sbom"]["signed"] is True


def test_a_change_built_from_git_is_judged_by_the_scan_of_its_own_lockfile(
    tmp_path: Path,
) -> None:
    # The CI path: the change adds trivy's poetry.lock fixture, the very input of the
    # trivy report; an image scan of alpine beside it does not count instead.
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("app\n")
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "feature")
    lock = ROOT / "tests" / "assets" / "lockfiles" / "trivy-poetry" / "poetry.lock"
    shutil.copyfile(lock, root / "poetry.lock")
    commit(root, "Lock werkzeug", author="Coder Bot <coder@agents.example>")
    evidence = tmp_path / "ci"
    evidence.mkdir()
    args = ("--git", "main..feature", "--repo", str(root), "--evidence", str(evidence))
    shutil.copyfile(TRIVY_ALPINE, evidence / "scan.json")
    result = invoke("check", *args, "--now", NOW, "--format", "json", "--no-audit")
    reasons = json.loads(result.stdout)["reasons"]
    [scan] = _messages(reasons, "SC-DEPENDENCY-SCAN-001")
    assert "no scan covers poetry.lock" in scan
    shutil.copyfile(TRIVY_POETRY, evidence / "scan.json")
    result = invoke("check", *args, "--now", NOW, "--format", "json", "--no-audit")
    reasons = json.loads(result.stdout)["reasons"]
    assert not [r for r in reasons if r["rule"] == "SC-DEPENDENCY-SCAN-001"]
    [vuln] = _messages(reasons, "SC-VULN-THRESHOLD-001")
    assert "CVE-2019-14806 with severity high" in vuln


def test_the_cli_reads_scans_against_the_checkout_it_judges(tmp_path: Path) -> None:
    """``charter check``'s facts carry the judged work tree's top when the evidence holds
    a scan (git is asked only then)."""
    from charter.cli._facts import gather
    from charter.facts.at_base import WorkTree
    from tests.test_facts_git import git

    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    shutil.copyfile(OSV_YARN, evidence / OSV_YARN.name)
    declared = _pr(_change("components/yarn.lock", "flot-axis", "1"))
    facts = gather(
        built=None, identities=None, evidence=evidence, policy=None, declared=declared,
        tree=WorkTree(repo / "sub"),
    )  # fmt: skip
    assert facts.root == str(repo.resolve())
    (evidence / OSV_YARN.name).unlink()
    (evidence / "app.bin").write_bytes(b"app\n")
    tree = WorkTree(repo)
    facts = gather(
        built=None, identities=None, evidence=evidence, policy=None, declared=declared, tree=tree
    )
    assert facts.root is None and facts.scan is None
