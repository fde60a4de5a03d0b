"""OCI distribution against a real registry (CNCF distribution on loopback)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from charter.cli import main
from charter.core.errors import RegistryError, VerificationError
from charter.registry import oci
from tests.bundle_helpers import constitution_bundle, make_key
from tests.fixtures_registry import LocalRegistry, own_registry, registry

__all__ = ["own_registry", "registry"]


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path]:
    root = tmp_path_factory.mktemp("oci-bundle")
    key, public = make_key(root / "key")
    return constitution_bundle(root, key, "1.0.0"), public


@pytest.mark.parametrize(
    ("text", "registry_", "repo", "tag", "digest"),
    [
        ("oci://127.0.0.1:5000/charter/constitution:1.2.0", "127.0.0.1:5000",
         "charter/constitution", "1.2.0", None),
        ("oci://localhost/acme", "localhost", "acme", "latest", None),
        ("oci://reg.example/a/b@sha256:" + "a" * 64, "reg.example", "a/b", None,
         "sha256:" + "a" * 64),
        ("oci://reg.example:443/a:v1@sha256:" + "b" * 64, "reg.example:443", "a", "v1",
         "sha256:" + "b" * 64),
    ],
)  # fmt: skip
def test_reference_parse(
    text: str, registry_: str, repo: str, tag: str | None, digest: str | None
) -> None:
    ref = oci.Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry_, repo, tag, digest)
    assert oci.Reference.parse(str(ref)) == ref


@pytest.mark.parametrize(
    "text",
    [
        "127.0.0.1:5000/charter:1",
        "oci://host-only",
        "oci://h/UPPER:1",
        "oci://h/a@sha256:short",
        "oci://h/a@md5:" + "a" * 32,
        "oci://h/a:bad tag",
    ],
)
def test_reference_rejects(text: str) -> None:
    with pytest.raises(RegistryError):
        oci.Reference.parse(text)


@pytest.mark.parametrize(
    ("text", "loopback"),
    [
        ("oci://127.0.0.1:5000/a", True),
        ("oci://localhost:5000/a", True),
        ("oci://[::1]:5000/a", True),
        ("oci://10.0.0.1:5000/a", False),
        ("oci://registry.example/a", False),
    ],
)
def test_plain_http_only_on_loopback_or_insecure(text: str, loopback: bool) -> None:
    ref = oci.Reference.parse(text)
    assert ref.is_loopback is loopback
    assert oci.OciClient(ref).scheme == ("http" if loopback else "https")
    assert oci.OciClient(ref, insecure=True).scheme == "http"


def test_push_pull_round_trip_with_media_types(
    registry: LocalRegistry, signed: tuple[bytes, Path]
) -> None:
    data, _ = signed
    ref = registry.ref("rt/constitution", "1.0.0")
    pushed = oci.push_bundle(data, ref)
    assert pushed.blob_digest == oci.sha256_digest(data)
    raw = httpx.get(
        f"http://{registry.host}/v2/rt/constitution/manifests/1.0.0",
        headers={"Accept": oci.MANIFEST_MEDIA_TYPE},
    )
    assert oci.sha256_digest(raw.content) == pushed.manifest_digest
    manifest = json.loads(raw.content)
    assert manifest["mediaType"] == oci.MANIFEST_MEDIA_TYPE
    assert manifest["config"]["mediaType"] == "application/vnd.charter.config.v1+json"
    assert [x["mediaType"] for x in manifest["layers"]] == [
        "application/vnd.oci.image.layer.v1.tar+gzip"
    ]
    pulled = oci.pull_bundle(ref)
    assert pulled.data == data
    assert pulled.manifest_digest == pushed.manifest_digest
    assert pulled.resolved.digest == pushed.manifest_digest
    assert pulled.config == {
        "charter": {"layer": "constitution", "name": "charter-constitution", "version": "1.0.0"}
    }
    pinned = oci.pull_bundle(str(pulled.resolved))
    assert pinned.data == data


def test_wrong_pinned_digest_is_refused(
    registry: LocalRegistry, signed: tuple[bytes, Path]
) -> None:
    data, _ = signed
    ref = registry.ref("pin/constitution", "1.0.0")
    oci.push_bundle(data, ref)
    wrong = f"oci://{registry.host}/pin/constitution:1.0.0@sha256:" + "0" * 64
    with pytest.raises((VerificationError, RegistryError)):
        oci.pull_bundle(wrong)


def test_tampered_blob_is_refused(tmp_path: Path, own_registry: LocalRegistry) -> None:
    key, _ = make_key(tmp_path / "k")
    data = constitution_bundle(tmp_path, key, "1.0.0", revision="-tamper")
    ref = own_registry.ref("tamper/constitution", "1.0.0")
    pushed = oci.push_bundle(data, ref)
    blob = own_registry.blob_path(pushed.blob_digest)
    content = bytearray(blob.read_bytes())
    content[len(content) // 2] ^= 0xFF
    blob.write_bytes(bytes(content))
    with pytest.raises(VerificationError, match="blob digest mismatch"):
        oci.pull_bundle(ref)


def test_registry_down_fails_fast_with_registry_error(own_registry: LocalRegistry) -> None:
    ref = own_registry.ref("down/constitution", "1.0.0")
    own_registry.stop()
    with pytest.raises(RegistryError, match="unreachable"):
        oci.pull_bundle(ref, timeout=5)


def test_missing_tag_and_non_bundle(registry: LocalRegistry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no such manifest"):
        oci.pull_bundle(registry.ref("nothing/here", "9.9.9"))
    with pytest.raises(Exception, match="gzip|bundle"):
        oci.push_bundle(b"not a tarball", registry.ref("nothing/here", "1"))


def test_cli_push_and_pull(
    registry: LocalRegistry,
    signed: tuple[bytes, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, public = signed
    source = tmp_path / "c.tar.gz"
    source.write_bytes(data)
    ref = registry.ref("cli/constitution", "1.0.0")
    assert main(["bundle", "push", str(source), ref, "--format", "json"]) == 0
    pushed = json.loads(capsys.readouterr().out)
    out = tmp_path / "out" / "pulled.tar.gz"
    code = main(
        ["bundle", "pull", pushed["reference"], "-o", str(out), "--key", str(public),
         "--format", "json"]
    )  # fmt: skip
    assert code == 0
    pulled = json.loads(capsys.readouterr().out)
    assert out.read_bytes() == data
    assert pulled["manifest_digest"] == pushed["manifest_digest"]
    assert pulled["signer"]
    # A registry that is down: one line on stderr, exit 2, no traceback.
    code = main(["bundle", "pull", "oci://127.0.0.1:1/x:1", "-o", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2
    assert "unreachable" in err
    assert "Traceback" not in err
