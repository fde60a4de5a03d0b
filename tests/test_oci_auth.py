"""Registry authentication and TLS against the real registry, for real.

* Basic (htpasswd) with ``--username``/``--password-stdin`` and ``REGISTRY_AUTH_FILE``;
* distribution's **token** auth: the registry answers 401 with a Bearer
  challenge, the client asks a token server running here on loopback, which
  issues an ES256 JWT (``x5c`` chain to the registry's ``rootcertbundle``) for
  exactly the scope asked — the registry verifies it;
* TLS with a self-signed CA made here, trusted with ``--ca-file``.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import io
import ipaddress
import json
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from charter.cli import main
from charter.core.errors import RegistryError
from charter.registry import oci
from tests.bundle_helpers import constitution_bundle, make_key
from tests.fixtures_registry import LocalRegistry
from tests.test_oci import HTPASSWD

ALICE = base64.b64encode(b"alice:secret").decode()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    root = tmp_path_factory.mktemp("auth-bundle")
    key, _ = make_key(root / "key")
    return constitution_bundle(root, key, "1.0.0")


def _started(reg: LocalRegistry) -> Iterator[LocalRegistry]:
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def basic_registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    root = tmp_path / "basic"
    root.mkdir()
    (root / "htpasswd").write_text(HTPASSWD)
    auth = f"  htpasswd:\n    realm: charter\n    path: {root}/htpasswd\n"
    yield from _started(LocalRegistry(root, auth=auth))


@pytest.fixture
def no_saved_logins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-docker"
    empty.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(empty))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


@pytest.mark.usefixtures("no_saved_logins")
def test_username_and_password_stdin(
    basic_registry: LocalRegistry, data: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "b.tar.gz"
    bundle.write_bytes(data)
    ref = basic_registry.ref("auth/flags", "1.0.0")
    push = ["bundle", "push", str(bundle), ref, "--username", "alice", "--password-stdin"]
    _stdin(monkeypatch, "wrong\n")
    assert main(push) != 0
    _stdin(monkeypatch, "secret\n")
    assert main(push) == 0
    out = tmp_path / "out.tar.gz"
    assert main(["bundle", "pull", ref, "-o", str(out)]) != 0  # anonymous: 401
    _stdin(monkeypatch, "secret\n")
    pull = ["bundle", "pull", ref, "-o", str(out), "-u", "alice", "--password-stdin"]
    assert main(pull) == 0
    assert out.read_bytes() == data
    # A username without a password (or the reverse) is a usage error, not a prompt.
    assert main(["bundle", "pull", ref, "-o", str(out), "-u", "alice"]) == 2


@pytest.mark.usefixtures("no_saved_logins")
def test_registry_auth_file_wins(
    basic_registry: LocalRegistry, data: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = basic_registry.ref("auth/file", "1.0.0")
    with pytest.raises(RegistryError, match="HTTP 401"):
        oci.push_bundle(data, ref)
    auth_file = tmp_path / "containers-auth.json"
    auth_file.write_text(json.dumps({"auths": {basic_registry.host: {"auth": ALICE}}}))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file))
    assert oci.pull_bundle(oci.push_bundle(data, ref).reference).data == data


# ------------------------------------------------------------------ TLS
def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None = None,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    root = tmp_path / "tls"
    root.mkdir()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Charter test CA", ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate("127.0.0.1", server_key, ("Charter test CA", ca_key), ca=False)
    (root / "ca.pem").write_bytes(_pem(ca))
    (root / "server.pem").write_bytes(_pem(server))
    (root / "server.key").write_bytes(_key_pem(server_key))
    tls = (root / "server.pem", root / "server.key", root / "ca.pem")
    yield from _started(LocalRegistry(root, tls=tls))


def test_tls_with_a_custom_ca(tls_registry: LocalRegistry, data: bytes, tmp_path: Path) -> None:
    assert tls_registry.tls is not None
    ca_file = tls_registry.tls[2]
    ref = tls_registry.ref("tls/bundle", "1.0.0")
    # Loopback without --ca-file means plain HTTP, which this registry refuses.
    with pytest.raises(RegistryError, match="HTTP 400"):
        oci.push_bundle(data, ref)
    bundle = tmp_path / "b.tar.gz"
    bundle.write_bytes(data)
    assert main(["bundle", "push", str(bundle), ref, "--ca-file", str(ca_file)]) == 0
    out = tmp_path / "o.tar.gz"
    assert main(["bundle", "pull", ref, "-o", str(out), "--ca-file", str(ca_file)]) == 0
    assert out.read_bytes() == data
    # Another CA does not vouch for this registry.
    other = tmp_path / "other-ca.pem"
    other_key = ec.generate_private_key(ec.SECP256R1())
    other.write_bytes(_pem(_certificate("Other CA", other_key, ca=True)))
    with pytest.raises(RegistryError, match="TLS failed"):
        oci.pull_bundle(ref, connection=oci.Connection(ca_file=other))
    assert main(["bundle", "pull", ref, "-o", str(out), "--ca-file", str(other)]) != 0
    assert main(["bundle", "pull", ref, "-o", str(out), "--ca-file", str(tmp_path / "no")]) == 2


def test_tls_scheme_follows_ca_file() -> None:
    ref = oci.Reference.parse("oci://127.0.0.1:5000/a:1")
    assert oci.OciClient(ref).scheme == "http"
    with pytest.raises(RegistryError, match="cannot read the CA"):
        oci.OciClient(ref, connection=oci.Connection(ca_file=Path("/nonexistent.pem")))


# ------------------------------------------------------------------ token auth
class TokenServer:
    """distribution's token flow: Basic credentials in, a signed JWT for the scope out."""

    def __init__(self, root: Path) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = _certificate("charter token issuer", self.key, ca=True)
        self.bundle = root / "token-root.pem"
        self.bundle.write_bytes(_pem(self.cert))
        self.asked: list[dict[str, Any]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                who = self.headers.get("Authorization")
                server.asked.append({"query": query, "authorization": who})
                if who != f"Basic {ALICE}":
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": server.token(query)}).encode()
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

    def token(self, query: dict[str, list[str]]) -> str:
        access = []
        for scope in query.get("scope", []):
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {
            "iss": "charter-test-issuer",
            "sub": "alice",
            "aud": query["service"][0],
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "access": access,
        }
        der = self.cert.public_bytes(serialization.Encoding.DER)
        headers = {"x5c": [base64.b64encode(der).decode()]}
        return jwt.encode(claims, self.key, algorithm="ES256", headers=headers)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_bearer_token_flow_against_distribution_token_auth(
    tmp_path: Path, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "token"
    root.mkdir()
    tokens = TokenServer(root)
    auth = (
        f"  token:\n    realm: {tokens.url}\n    service: charter-registry\n"
        f"    issuer: charter-test-issuer\n    rootcertbundle: {tokens.bundle}\n"
    )
    reg = LocalRegistry(root, auth=auth)
    reg.start()
    try:
        empty = tmp_path / "empty"
        empty.mkdir()
        monkeypatch.setenv("DOCKER_CONFIG", str(empty))
        monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
        ref = reg.ref("auth/token", "1.0.0")
        with pytest.raises(RegistryError, match="token service refused"):
            oci.push_bundle(data, ref)
        conn = oci.Connection(username="alice", password="secret")
        pushed = oci.push_bundle(data, ref, tags=["1"], connection=conn)
        assert oci.pull_bundle(reg.ref("auth/token", "1"), connection=conn).data == data
        assert pushed.tags == ("1.0.0", "1")
        # A token for another repository does not open this one.
        other = oci.Connection(username="alice", password="secret")
        client = oci.OciClient(oci.Reference.parse(reg.ref("auth/token", "1")), connection=other)
        client._authorization = "Bearer " + tokens.token(  # noqa: SLF001 - forged on purpose
            {"service": ["charter-registry"], "scope": ["repository:someone/else:pull,push"]}
        )
        with client.open() as session:
            response = session.get(client._url("manifests/1"), headers={  # noqa: SLF001
                "Authorization": client._authorization,  # noqa: SLF001
                "Accept": oci.MANIFEST_MEDIA_TYPE,
            })  # fmt: skip
        assert response.status_code == 401
    finally:
        reg.stop()
        tokens.close()
    scopes = {s for asked in tokens.asked for s in asked["query"].get("scope", [])}
    # The registry's challenge names the actions in no fixed order (pull,push or
    # push,pull); Charter asks for what the challenge names.
    actions = {
        frozenset(s.rsplit(":", 1)[1].split(","))
        for s in scopes
        if s.startswith("repository:auth/token:")
    }
    assert frozenset({"pull", "push"}) in actions
    assert all(a["query"]["service"] == ["charter-registry"] for a in tokens.asked)


@pytest.mark.parametrize("realm", ["http://10.255.255.1/token", "ftp://127.0.0.1/token"])
def test_credentials_never_go_to_a_plain_http_realm(
    tmp_path: Path, data: bytes, realm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # distribution's "silly" auth sends whatever realm it is configured with.
    root = tmp_path / "realm"
    root.mkdir()
    reg = LocalRegistry(root, auth=f"  silly:\n    realm: {realm}\n    service: charter\n")
    reg.start()
    try:
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
        conn = oci.Connection(username="alice", password="secret")
        with pytest.raises(RegistryError, match="refusing the token realm"):
            oci.push_bundle(data, reg.ref("auth/realm", "1.0.0"), connection=conn)
    finally:
        reg.stop()
