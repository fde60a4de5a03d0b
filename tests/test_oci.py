"""OCI distribution against a real registry (CNCF distribution on loopback)."""

from __future__ import annotations

import base64
import http.server
import json
import os
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from charter.cli import main
from charter.core.digests import sha256_bytes
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
    assert pushed.blob_digest == sha256_bytes(data)
    raw = httpx.get(
        f"http://{registry.host}/v2/rt/constitution/manifests/1.0.0",
        headers={"Accept": oci.MANIFEST_MEDIA_TYPE},
    )
    assert sha256_bytes(raw.content) == pushed.manifest_digest
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


def test_the_manifest_is_what_earlier_releases_pushed(signed: tuple[bytes, Path]) -> None:
    """Canonical JSON (jsonio) gives the bytes of the old ASCII-escaped writer."""
    data, _ = signed
    config, body = oci.image_manifest(data)
    meta = {"layer": "constitution", "name": "charter-constitution", "version": "1.0.0"}
    assert config == json.dumps({"charter": meta}, sort_keys=True, separators=(",", ":")).encode()
    expected = {
        "schemaVersion": 2,
        "mediaType": oci.MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": oci.CONFIG_MEDIA_TYPE,
            "digest": sha256_bytes(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": oci.LAYER_MEDIA_TYPE,
                "digest": sha256_bytes(data),
                "size": len(data),
                "annotations": {"org.opencontainers.image.title": "bundle.tar.gz"},
            }
        ],
        "annotations": {
            "org.opencontainers.image.title": "charter-constitution-1.0.0.tar.gz",
            "org.opencontainers.image.version": "1.0.0",
            "dev.charter.layer": "constitution",
        },
    }
    assert body == json.dumps(expected, sort_keys=True, separators=(",", ":")).encode()


#: bcrypt of "secret" (distribution's htpasswd accepts only bcrypt).
HTPASSWD = "alice:$2y$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a\n"
ALICE = base64.b64encode(b"alice:secret").decode()


def _docker_config(directory: Path, document: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(document))
    return directory


@pytest.fixture
def basic_registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    root = tmp_path / "basic-registry"
    root.mkdir()
    (root / "htpasswd").write_text(HTPASSWD)
    reg = LocalRegistry(root, auth=f"  htpasswd:\n    realm: charter\n    path: {root}/htpasswd\n")
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()


def test_basic_auth_uses_docker_login_credentials(
    basic_registry: LocalRegistry,
    signed: tuple[bytes, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, _ = signed
    ref = basic_registry.ref("auth/basic", "1.0.0")
    monkeypatch.setenv("DOCKER_CONFIG", str(_docker_config(tmp_path / "none", {})))
    with pytest.raises(RegistryError, match="failed with HTTP 401"):
        oci.push_bundle(data, ref)
    config = {"auths": {basic_registry.host: {"auth": ALICE}}}
    monkeypatch.setenv("DOCKER_CONFIG", str(_docker_config(tmp_path / "docker", config)))
    pushed = oci.push_bundle(data, ref)
    assert oci.pull_bundle(ref).manifest_digest == pushed.manifest_digest


def test_credential_helpers_are_asked(
    basic_registry: LocalRegistry,
    signed: tuple[bytes, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-charter-test"
    asked = tmp_path / "asked"
    helper.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = get ] || exit 1\ncat > "{asked}"\n'
        'echo \'{"ServerURL": "x", "Username": "alice", "Secret": "secret"}\'\n'
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    config = {"credsStore": "charter-test"}
    monkeypatch.setenv("DOCKER_CONFIG", str(_docker_config(tmp_path / "docker", config)))
    data, _ = signed
    ref = basic_registry.ref("auth/helper", "1.0.0")
    oci.push_bundle(data, ref)
    assert oci.pull_bundle(ref).data == data
    assert asked.read_text() == basic_registry.host


class _TokenService:
    """A token endpoint (distribution's token auth) that records what it was asked."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                service.requests.append((self.path, self.headers.get("Authorization")))
                body = json.dumps({"token": "opaque-token"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_bearer_challenges_fetch_a_token_for_the_scope(
    signed: tuple[bytes, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # distribution's "silly" auth sends a real Bearer challenge and accepts any token.
    tokens = _TokenService()
    root = tmp_path / "bearer-registry"
    root.mkdir()
    reg = LocalRegistry(root, auth=f"  silly:\n    realm: {tokens.url}\n    service: charter\n")
    reg.start()
    try:
        config = {"auths": {reg.host: {"auth": ALICE}}}
        monkeypatch.setenv("DOCKER_CONFIG", str(_docker_config(tmp_path / "docker", config)))
        data, _ = signed
        ref = reg.ref("auth/bearer", "1.0.0")
        oci.push_bundle(data, ref)
        assert oci.pull_bundle(ref).data == data
    finally:
        reg.stop()
        tokens.close()
    # One token per operation (push, then pull), asked with the docker-login
    # credentials for the service and scope the challenge named.
    assert len(tokens.requests) == 2
    for path, authorization in tokens.requests:
        assert authorization == f"Basic {ALICE}"
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        assert query == {"service": ["charter"], "scope": ["repository:auth/bearer:pull"]}
