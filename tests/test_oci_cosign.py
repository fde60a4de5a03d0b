"""The registry as a cosign user sees it, against a real registry on loopback.

Several tags in one push, channels and version ranges, cosign's ``.sig`` tag
layout (checked field by field and with ``cryptography`` directly, as
``cosign verify --key`` would), Sigstore bundles as OCI referrers verified with
the real staging vectors, and the attacks on all of it.
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from charter.cli import main
from charter.core.digests import sha256_bytes
from charter.core.errors import (
    ArchiveError,
    InputError,
    RegistryError,
    VerificationError,
)
from charter.policy.bundle import SIGNATURES, build_tarball, files_digest, read_archive
from charter.registry import channels, cosign, oci
from charter.trust import keyless, keys
from charter.trust.keyless import KeylessIdentity
from charter.trust.policy import LayerTrust
from charter.trust.versions import VersionState
from tests.bundle_helpers import constitution_bundle, make_key
from tests.fixtures_registry import LocalRegistry, registry

__all__ = ["registry"]

ASSETS = Path(__file__).parent / "assets"
COSIGN_KEY = ASSETS / "cosign" / "cosign.key"
COSIGN_PUB = ASSETS / "cosign" / "cosign.pub"
SIGSTORE = ASSETS / "sigstore"
STAGING_ROOT = SIGSTORE / "staging-trusted_root.json"
GITHUB = "https://github.com/login/oauth"


def cosign_key() -> keys.PrivateKey:
    return keys.load_private(COSIGN_KEY, b"")


def unsigned(data: bytes) -> bytes:
    """The same bundle without its embedded ``.signatures.json``."""
    files = read_archive(data, source="test")
    return build_tarball({n: b for n, b in files.items() if n != SIGNATURES})


def manifest_json(reg: LocalRegistry, repo: str, target: str, accept: str) -> dict[str, Any]:
    response = httpx.get(
        f"http://{reg.host}/v2/{repo}/manifests/{target}", headers={"Accept": accept}
    )
    assert response.status_code == 200, response.text
    return json.loads(response.content)  # type: ignore[no-any-return]


def blob(reg: LocalRegistry, repo: str, digest: str) -> bytes:
    response = httpx.get(f"http://{reg.host}/v2/{repo}/blobs/{digest}")
    assert response.status_code == 200
    return response.content


def put_manifest(reg: LocalRegistry, repo: str, target: str, body: bytes, media: str) -> None:
    response = httpx.put(
        f"http://{reg.host}/v2/{repo}/manifests/{target}",
        content=body,
        headers={"Content-Type": media},
    )
    assert response.status_code == 201, response.text


def trust_keys(*public: Path) -> LayerTrust:
    return LayerTrust("constitution", tuple(keys.load_public(p) for p in public), (), None)


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("cosign-bundles")
    key, _ = make_key(root / "embedded")
    return {v: unsigned(constitution_bundle(root, key, v)) for v in ("1.0.0", "1.1.0", "1.2.0")}


# --------------------------------------------------------------- tags & ranges
def test_one_push_many_tags_same_digest(
    registry: LocalRegistry, versions: dict[str, bytes]
) -> None:
    ref = registry.ref("cosign/tags", "1.1.0")
    pushed = oci.push_bundle(versions["1.1.0"], ref, tags=["1.1", "1", "1.1"])
    assert pushed.tags == ("1.1.0", "1.1", "1")
    for tag in pushed.tags:
        assert oci.pull_bundle(registry.ref("cosign/tags", tag)).manifest_digest == (
            pushed.manifest_digest
        )
    client = oci.OciClient(oci.Reference.parse(ref))
    with client.open() as session:
        assert sorted(client.list_tags(session)) == ["1", "1.1", "1.1.0"]


def test_cli_push_without_a_tag_in_the_reference_uses_the_tags_only(
    registry: LocalRegistry, versions: dict[str, bytes], tmp_path: Path
) -> None:
    bundle = tmp_path / "b.tar.gz"
    bundle.write_bytes(versions["1.0.0"])
    base = f"oci://{registry.host}/cosign/notag"
    assert main(["bundle", "push", str(bundle), base, "--tag", "1.0.0", "--tag", "1"]) == 0
    client = oci.OciClient(oci.Reference.parse(base))
    with client.open() as session:
        assert sorted(client.list_tags(session)) == ["1", "1.0.0"]  # no implicit "latest"


@pytest.mark.parametrize("tag", ["sha256-" + "a" * 64 + ".sig", "sha256-" + "b" * 64, "bad tag"])
def test_reserved_or_invalid_tags_are_refused(
    registry: LocalRegistry, versions: dict[str, bytes], tag: str
) -> None:
    with pytest.raises(RegistryError, match="not a tag"):
        oci.push_bundle(versions["1.0.0"], registry.ref("cosign/reserved", "1.0.0"), tags=[tag])


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("1", "1.10.0"),
        ("1.x", "1.10.0"),
        ("1.2", "1.2.1"),
        ("~1.2", "1.2.1"),
        ("^1.2.1", "1.10.0"),
        (">=1.2.0,<1.10.0", "1.2.1"),
        ("1.2.0", "1.2.0"),
        ("2", "2.0.0"),
        ("3", None),
    ],
)
def test_newest_in_range(spec: str, expected: str | None) -> None:
    tags = ["1.2.0", "1.2.1", "1.10.0", "1.11.0-rc.1", "2.0.0", "1", "1.2", "latest",
            "sha256-" + "c" * 64 + ".sig"]  # fmt: skip
    assert channels.newest_in_range(tags, spec) == expected


@pytest.mark.parametrize("spec", ["", "banana", ">=1.0", "^^1", "1.2.3.4"])
def test_bad_ranges_are_refused(spec: str) -> None:
    with pytest.raises(InputError):
        channels.parse_range(spec)


def test_pull_follows_a_channel_and_a_range(
    registry: LocalRegistry, versions: dict[str, bytes], tmp_path: Path
) -> None:
    repo = "cosign/channels"
    for version in ("1.0.0", "1.1.0"):
        major_minor = version.rsplit(".", 1)[0]
        oci.push_bundle(versions[version], registry.ref(repo, version), tags=[major_minor, "1"])
    out = tmp_path / "b.tar.gz"
    base = f"oci://{registry.host}/{repo}"
    assert main(["bundle", "pull", base, "--tag", "1.0", "-o", str(out)]) == 0
    assert out.read_bytes() == versions["1.0.0"]
    assert main(["bundle", "pull", base, "--tag", "1", "-o", str(out)]) == 0
    assert out.read_bytes() == versions["1.1.0"]
    assert main(["bundle", "pull", base, "--version", "<1.1.0", "-o", str(out)]) == 0
    assert out.read_bytes() == versions["1.0.0"]
    assert main(["bundle", "pull", base, "--version", "2", "-o", str(out)]) != 0


# --------------------------------------------------------------- cosign .sig
def test_sig_tag_is_cosign_layout_and_verifies_independently(
    registry: LocalRegistry, versions: dict[str, bytes], tmp_path: Path
) -> None:
    repo = "cosign/layout"
    bundle = tmp_path / "c.tar.gz"
    bundle.write_bytes(versions["1.0.0"])
    ref = registry.ref(repo, "1.0.0")
    code = main(["bundle", "push", str(bundle), ref, "--tag", "1", "--sign-key", str(COSIGN_KEY),
                 "--passphrase-env", "EMPTY_PASSWORD", "--format", "json"])  # fmt: skip
    assert code == 0
    digest = oci.pull_bundle(ref).manifest_digest
    sig = manifest_json(registry, repo, f"sha256-{digest[7:]}.sig", oci.MANIFEST_MEDIA_TYPE)
    assert sig["schemaVersion"] == 2 and sig["mediaType"] == oci.MANIFEST_MEDIA_TYPE
    assert sig["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    [layer] = sig["layers"]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    payload = blob(registry, repo, layer["digest"])
    assert json.loads(payload) == {
        "critical": {
            "identity": {"docker-reference": f"{registry.host}/{repo}"},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    # What cosign verify --key does: ECDSA-P256/SHA-256 over the payload bytes.
    public = keys.load_public(COSIGN_PUB)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    public.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    # The config lists the payload as the image's only diff id.
    config = json.loads(blob(registry, repo, sig["config"]["digest"]))
    assert config["rootfs"] == {"type": "layers", "diff_ids": [layer["digest"]]}
    # Charter's pull verifies the same objects (the bundle has no embedded signature).
    out = tmp_path / "pulled.tar.gz"
    assert main(["bundle", "pull", ref, "-o", str(out), "--key", str(COSIGN_PUB)]) == 0
    assert out.read_bytes() == versions["1.0.0"]


@pytest.fixture(autouse=True)
def _empty_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMPTY_PASSWORD", "")


def _signed_pair(reg: LocalRegistry, repo: str, versions: dict[str, bytes]) -> tuple[str, str]:
    a = oci.push_bundle(versions["1.0.0"], reg.ref(repo, "1.0.0"))
    b = oci.push_bundle(versions["1.1.0"], reg.ref(repo, "1.1.0"))
    client = oci.OciClient(oci.Reference.parse(reg.ref(repo, "1.0.0")))
    cosign.sign_manifest(client, a.manifest_digest, cosign_key())
    return a.manifest_digest, b.manifest_digest


def _verify(reg: LocalRegistry, repo: str, tag: str, trust: LayerTrust) -> str:
    pulled = oci.pull_bundle(reg.ref(repo, tag))
    found = cosign.fetch_signatures(pulled.reference, pulled.manifest_digest)
    return cosign.verify_pulled(pulled, found, trust).signer


def test_valid_cosign_signature_and_unsigned_neighbour(
    registry: LocalRegistry, versions: dict[str, bytes]
) -> None:
    repo = "cosign/valid"
    _signed_pair(registry, repo, versions)
    trust = trust_keys(COSIGN_PUB)
    assert _verify(registry, repo, "1.0.0", trust) == keys.key_id(keys.load_public(COSIGN_PUB))
    with pytest.raises(VerificationError, match="no signature found"):
        _verify(registry, repo, "1.1.0", trust)
    other, other_pub = make_key(Path(registry.root) / "other-key")
    with pytest.raises(VerificationError, match="does not verify with any pinned key"):
        _verify(registry, repo, "1.0.0", trust_keys(other_pub))


def test_sig_tag_copied_to_another_digest_is_refused(
    registry: LocalRegistry, versions: dict[str, bytes]
) -> None:
    repo = "cosign/copied"
    a, b = _signed_pair(registry, repo, versions)
    sig = manifest_json(registry, repo, cosign.signature_tag(a), oci.MANIFEST_MEDIA_TYPE)
    put_manifest(registry, repo, cosign.signature_tag(b), json.dumps(sig).encode(),
                 oci.MANIFEST_MEDIA_TYPE)  # fmt: skip
    with pytest.raises(VerificationError, match=f"is for manifest {a}, not {b}"):
        _verify(registry, repo, "1.1.0", trust_keys(COSIGN_PUB))


def test_signed_payload_naming_another_digest_is_refused(
    registry: LocalRegistry, versions: dict[str, bytes]
) -> None:
    # A correctly signed payload (trusted key) whose docker-manifest-digest is not B's.
    repo = "cosign/otherdigest"
    _, b = _signed_pair(registry, repo, versions)
    payload = json.dumps(
        {"critical": {"identity": {"docker-reference": "x"},
                      "image": {"docker-manifest-digest": "sha256:" + "0" * 64},
                      "type": "cosign container image signature"}, "optional": None}
    ).encode()  # fmt: skip
    layer = cosign.simple_signing_layer(payload, base64.b64encode(keys.sign(cosign_key(), payload)))
    client = oci.OciClient(oci.Reference.parse(registry.ref(repo, "1.1.0")))
    config, body = cosign.signature_manifest([layer])
    with client.open() as session:
        client.upload_blob(session, payload)
        client.upload_blob(session, config)
        client.put_manifest(session, cosign.signature_tag(b), body, oci.MANIFEST_MEDIA_TYPE)
    with pytest.raises(VerificationError, match="is for manifest sha256:0000"):
        _verify(registry, repo, "1.1.0", trust_keys(COSIGN_PUB))


def test_swapped_signature_layer_is_refused(
    registry: LocalRegistry, versions: dict[str, bytes]
) -> None:
    # B's own payload, but the signature annotation lifted from A's layer.
    repo = "cosign/swapped"
    a, b = _signed_pair(registry, repo, versions)
    stolen = manifest_json(registry, repo, cosign.signature_tag(a), oci.MANIFEST_MEDIA_TYPE)
    signature = stolen["layers"][0]["annotations"][cosign.SIGNATURE_ANNOTATION].encode()
    payload = keyless.simple_signing_payload(f"{registry.host}/{repo}", b)
    client = oci.OciClient(oci.Reference.parse(registry.ref(repo, "1.1.0")))
    config, body = cosign.signature_manifest([cosign.simple_signing_layer(payload, signature)])
    with client.open() as session:
        client.upload_blob(session, payload)
        client.upload_blob(session, config)
        client.put_manifest(session, cosign.signature_tag(b), body, oci.MANIFEST_MEDIA_TYPE)
    with pytest.raises(VerificationError, match="does not verify with any pinned key"):
        _verify(registry, repo, "1.1.0", trust_keys(COSIGN_PUB))


def test_tampered_payload_blob_is_a_digest_mismatch(
    registry: LocalRegistry, versions: dict[str, bytes]
) -> None:
    repo = "cosign/tampered"
    a, _ = _signed_pair(registry, repo, versions)
    sig = manifest_json(registry, repo, cosign.signature_tag(a), oci.MANIFEST_MEDIA_TYPE)
    path = registry.blob_path(sig["layers"][0]["digest"])
    original = path.read_bytes()
    path.write_bytes(original.replace(b"cosign container", b"cosign CONTAINER"))
    try:
        with pytest.raises(VerificationError, match="blob digest mismatch"):
            _verify(registry, repo, "1.0.0", trust_keys(COSIGN_PUB))
    finally:
        path.write_bytes(original)


def test_tag_moved_to_an_older_signed_version_is_rollback(
    registry: LocalRegistry, versions: dict[str, bytes], tmp_path: Path
) -> None:
    repo = "cosign/rollback"
    client = oci.OciClient(oci.Reference.parse(registry.ref(repo, "1")))
    for version in ("1.0.0", "1.1.0"):
        pushed = oci.push_bundle(versions[version], registry.ref(repo, version))
        cosign.sign_manifest(client, pushed.manifest_digest, cosign_key())
    state = tmp_path / "state"
    meta = oci.bundle_metadata(versions["1.1.0"])
    key = f"{meta['layer']}/{meta['name']}"
    accepted = read_archive(versions["1.1.0"], source="t")
    VersionState(state).accept(key, "1.1.0", files_digest(accepted))
    oci.push_bundle(versions["1.0.0"], registry.ref(repo, "stable"))  # the tag moved back
    out = tmp_path / "b.tar.gz"
    args = ["bundle", "pull", registry.ref(repo, "stable"), "-o", str(out),
            "--key", str(COSIGN_PUB), "--state-dir", str(state)]  # fmt: skip
    assert main(args) != 0
    assert not out.exists()
    # The same pull against the accepted version itself is fine.
    args[2] = registry.ref(repo, "1.1.0")
    assert main(args) == 0


# --------------------------------------------------------------- Sigstore referrers
def _push_artifact(reg: LocalRegistry, repo: str, data: bytes, tag: str = "v") -> oci.PulledBundle:
    """An OCI manifest whose one layer is ``data`` (a staging vector's artifact)."""
    client = oci.OciClient(oci.Reference.parse(reg.ref(repo, tag)))
    config = b'{"charter":{}}'
    manifest = {
        "schemaVersion": 2,
        "mediaType": oci.MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": oci.CONFIG_MEDIA_TYPE, "digest": sha256_bytes(config),
                   "size": len(config)},
        "layers": [{"mediaType": oci.LAYER_MEDIA_TYPE, "digest": sha256_bytes(data),
                    "size": len(data)}],
    }  # fmt: skip
    with client.open() as session:
        client.upload_blob(session, config)
        client.upload_blob(session, data)
        client.put_manifest(session, tag, json.dumps(manifest).encode(), oci.MANIFEST_MEDIA_TYPE)
    return oci.pull_bundle(reg.ref(repo, tag))


def _keyless(identity: str, issuer: str = GITHUB) -> LayerTrust:
    return LayerTrust("constitution", (), (KeylessIdentity(identity, issuer),), STAGING_ROOT)


def test_sigstore_bundle_as_referrer_verifies_keyless_over_oci(registry: LocalRegistry) -> None:
    artifact, bundle = "bundle_v3.txt", "bundle_v3.txt.sigstore"
    identity, issuer = "william@yossarian.net", GITHUB
    repo = "cosign/keyless"
    pulled = _push_artifact(registry, repo, (SIGSTORE / artifact).read_bytes())
    client = oci.OciClient(pulled.reference)
    referrer = cosign.attach_sigstore_bundle(
        client, pulled.manifest_digest, (SIGSTORE / bundle).read_bytes()
    )
    # docker-registry 2.8 has no referrers API: the referrers tag schema index is used.
    index = manifest_json(
        registry, repo, cosign.referrers_tag(pulled.manifest_digest), cosign.INDEX_MEDIA_TYPE
    )
    assert [m["digest"] for m in index["manifests"]] == [referrer]
    assert index["manifests"][0]["artifactType"] == cosign.SIGSTORE_BUNDLE_MEDIA_TYPE
    stored = manifest_json(registry, repo, referrer, oci.MANIFEST_MEDIA_TYPE)
    assert stored["subject"]["digest"] == pulled.manifest_digest
    assert stored["artifactType"] == cosign.SIGSTORE_BUNDLE_MEDIA_TYPE
    assert stored["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert stored["annotations"] == {"dev.sigstore.bundle.content": "message-signature"}
    found = cosign.fetch_signatures(pulled.reference, pulled.manifest_digest)
    assert found.sigstore == ((SIGSTORE / bundle).read_bytes(),)
    # The keyless signature verifies; only then is the archive read (and this
    # artifact is a text file, not a bundle).
    with pytest.raises(ArchiveError):
        cosign.verify_pulled(pulled, found, _keyless(identity, issuer))
    with pytest.raises(VerificationError, match="does not verify for any pinned identity"):
        cosign.verify_pulled(pulled, found, _keyless("mallory@example.com", issuer))


def test_dsse_bundle_for_another_subject_is_refused(registry: LocalRegistry) -> None:
    # A genuine staging DSSE bundle by the pinned identity, whose in-toto statement
    # names another artifact (a.txt): it does not sign what the manifest carries.
    pulled = _push_artifact(
        registry, "cosign/dsse", (SIGSTORE / "a.dsse.staging-rekor-v2.txt").read_bytes()
    )
    sidecar = (SIGSTORE / "a.dsse.staging-rekor-v2.txt.sigstore.json").read_bytes()
    cosign.attach_sigstore_bundle(oci.OciClient(pulled.reference), pulled.manifest_digest, sidecar)
    found = cosign.fetch_signatures(pulled.reference, pulled.manifest_digest)
    assert found.sigstore == (sidecar,)
    beacon = (
        "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
        ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
    )
    trust = _keyless(beacon, "https://token.actions.githubusercontent.com")
    with pytest.raises(VerificationError, match="names neither this manifest nor this bundle"):
        cosign.verify_pulled(pulled, found, trust)
    [listed] = manifest_json(
        registry, "cosign/dsse", cosign.referrers_tag(pulled.manifest_digest),
        cosign.INDEX_MEDIA_TYPE,
    )["manifests"]  # fmt: skip
    stored = manifest_json(registry, "cosign/dsse", listed["digest"], oci.MANIFEST_MEDIA_TYPE)
    assert stored["annotations"] == {
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1",
    }


def test_referrer_with_the_wrong_subject_is_ignored(registry: LocalRegistry) -> None:
    # A genuine referrer of A, listed in B's referrers index: it does not sign B.
    repo = "cosign/wrongsubject"
    a = _push_artifact(registry, repo, (SIGSTORE / "bundle_v3.txt").read_bytes(), "a")
    b = _push_artifact(registry, repo, (SIGSTORE / "bundle_v3.txt").read_bytes() + b" ", "b")
    client = oci.OciClient(a.reference)
    sidecar = (SIGSTORE / "bundle_v3.txt.sigstore").read_bytes()
    referrer = cosign.attach_sigstore_bundle(client, a.manifest_digest, sidecar)
    index = manifest_json(
        registry, repo, cosign.referrers_tag(a.manifest_digest), cosign.INDEX_MEDIA_TYPE
    )
    assert index["manifests"][0]["digest"] == referrer
    put_manifest(registry, repo, cosign.referrers_tag(b.manifest_digest),
                 json.dumps(index).encode(), cosign.INDEX_MEDIA_TYPE)  # fmt: skip
    found = cosign.fetch_signatures(b.reference, b.manifest_digest)
    assert found.sigstore == ()
    assert any("subject" in why for why in found.ignored)
    with pytest.raises(VerificationError, match="no signature found"):
        cosign.verify_pulled(b, found, _keyless("william@yossarian.net"))
    # A itself still finds it.
    assert cosign.fetch_signatures(a.reference, a.manifest_digest).sigstore == (sidecar,)


def test_signatures_for_another_manifest_are_refused(
    registry: LocalRegistry, versions: dict[str, bytes]
) -> None:
    repo = "cosign/mixup"
    a, _ = _signed_pair(registry, repo, versions)
    pulled_b = oci.pull_bundle(registry.ref(repo, "1.1.0"))
    found_a = cosign.fetch_signatures(pulled_b.reference, a)
    with pytest.raises(VerificationError, match="another manifest"):
        cosign.verify_pulled(pulled_b, found_a, trust_keys(COSIGN_PUB))


def test_cli_push_attaches_a_sigstore_bundle(
    registry: LocalRegistry, versions: dict[str, bytes], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    bundle = tmp_path / "c.tar.gz"
    bundle.write_bytes(versions["1.2.0"])
    sidecar = SIGSTORE / "bundle_v3.txt.sigstore"
    ref = registry.ref("cosign/cli-referrer", "1.2.0")
    args = ["bundle", "push", str(bundle), ref, "--sigstore-bundle", str(sidecar),
            "--format", "json"]  # fmt: skip
    assert main(args) == 0
    document = json.loads(capsys.readouterr().out)
    found = cosign.fetch_signatures(ref, document["manifest_digest"])
    assert found.sigstore == (sidecar.read_bytes(),)
    # That bundle signs another artifact: keyless verification of this bundle fails.
    pulled = oci.pull_bundle(ref)
    with pytest.raises(VerificationError):
        cosign.verify_pulled(pulled, found, _keyless("william@yossarian.net"))


def test_payload_reader_is_strict() -> None:
    with pytest.raises(VerificationError, match="critical.type"):
        keyless.signed_manifest_digest(b'{"critical": {"type": "atomic"}}')
    with pytest.raises(VerificationError, match="docker-manifest-digest"):
        keyless.signed_manifest_digest(
            b'{"critical": {"type": "cosign container image signature", "image": {}}}'
        )
    with pytest.raises(VerificationError):
        keyless.signed_manifest_digest(b"[]")


HOP = ("content-length", "content-encoding", "transfer-encoding", "connection")


class ReferrersShim:
    """The OCI 1.1 referrers API in front of the real registry (distribution 2.8 lacks it).

    Every request is forwarded to the registry; manifests PUT through the shim with a
    ``subject`` are indexed, and ``GET /v2/REPO/referrers/DIGEST`` answers from that
    index — what a registry implementing the API does. ``extra`` lets a test list a
    descriptor the registry would not (an attacker-controlled answer).
    """

    def __init__(self, backend: LocalRegistry) -> None:
        self.index: dict[str, list[dict[str, Any]]] = {}
        self.extra: list[dict[str, Any]] = []
        shim = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                found = re.match(r"^/v2/(.+)/referrers/(sha256:[0-9a-f]{64})$", self.path)
                if self.command == "GET" and found:
                    listed = shim.index.get(found[2], []) + shim.extra
                    document = {"schemaVersion": 2, "mediaType": cosign.INDEX_MEDIA_TYPE,
                                "manifests": listed}  # fmt: skip
                    self._answer(200, {"Content-Type": cosign.INDEX_MEDIA_TYPE},
                                 json.dumps(document).encode())  # fmt: skip
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = httpx.request(
                    self.command, f"http://{backend.host}{self.path}", headers=headers,
                    content=body, follow_redirects=False,
                )  # fmt: skip
                if (
                    self.command == "PUT"
                    and "/manifests/" in self.path
                    and answer.status_code < 300
                ):
                    manifest = json.loads(body)
                    subject = manifest.get("subject")
                    if isinstance(subject, dict):
                        shim.index.setdefault(subject["digest"], []).append({
                            "mediaType": manifest["mediaType"],
                            "digest": sha256_bytes(body), "size": len(body),
                            "artifactType": manifest.get("artifactType"),
                        })  # fmt: skip
                keep = {k: v for k, v in answer.headers.items() if k.lower() not in HOP}
                self._answer(answer.status_code, keep, answer.content)

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_HEAD = do_PATCH = _forward  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_referrers_api_is_used_when_the_registry_has_it(registry: LocalRegistry) -> None:
    shim = ReferrersShim(registry)
    try:
        repo = "cosign/api"
        artifact = (SIGSTORE / "bundle_v3.txt").read_bytes()
        direct = _push_artifact(registry, repo, artifact)
        ref = oci.Reference(shim.host, repo, "v")
        sidecar = (SIGSTORE / "bundle_v3.txt.sigstore").read_bytes()
        referrer = cosign.attach_sigstore_bundle(
            oci.OciClient(ref), direct.manifest_digest, sidecar
        )
        assert [d["digest"] for d in shim.index[direct.manifest_digest]] == [referrer]
        # With the API, no referrers tag schema index is written.
        tag = cosign.referrers_tag(direct.manifest_digest)
        answer = httpx.get(f"http://{registry.host}/v2/{repo}/manifests/{tag}")
        assert answer.status_code == 404
        pulled = oci.pull_bundle(ref)
        found = cosign.fetch_signatures(ref, pulled.manifest_digest)
        assert found.sigstore == (sidecar,)
        with pytest.raises(ArchiveError):  # the signature verified; the text is no bundle
            cosign.verify_pulled(pulled, found, _keyless("william@yossarian.net"))
        # An API answer listing another manifest's referrer is not believed.
        other = _push_artifact(registry, repo, b"another\n", "w")
        shim.extra = list(shim.index[direct.manifest_digest])
        found = cosign.fetch_signatures(ref, other.manifest_digest)
        assert found.sigstore == () and "subject" in " ".join(found.ignored)
    finally:
        shim.close()
