"""Sigstore keyless bundles and cosign blob signatures, verified offline."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter.core.errors import VerificationError
from charter.trust import keyless, keys
from charter.trust.keyless import KeylessIdentity, bundled_trusted_root, verify_sigstore_bundle

ASSETS = Path(__file__).parent / "assets" / "sigstore"
STAGING_ROOT = ASSETS / "staging-trusted_root.json"
GITHUB = "https://github.com/login/oauth"
BEACON = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
VECTORS = [
    ("bundle_v3.txt", "bundle_v3.txt.sigstore", "william@yossarian.net", GITHUB),
    ("staging-rekor-v2.txt", "staging-rekor-v2.txt.sigstore.json", "jku@goto.fi", GITHUB),
]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any attempt to leave the machine (e.g. a TUF refresh or a Rekor lookup)."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost") and not str(host).startswith("/"):
            raise AssertionError(f"network access attempted: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError(f"DNS lookup attempted: {a!r}")
    ))  # fmt: skip
    yield


def read(name: str) -> bytes:
    return (ASSETS / name).read_bytes()


@pytest.mark.parametrize(("artifact", "bundle", "identity", "issuer"), VECTORS)
def test_staging_vectors_verify_with_the_right_identity(
    artifact: str, bundle: str, identity: str, issuer: str
) -> None:
    who = verify_sigstore_bundle(
        read(artifact),
        read(bundle),
        identities=[
            KeylessIdentity("someone@else.example", issuer),
            KeylessIdentity(identity, issuer),
        ],
        trusted_root=STAGING_ROOT,
    )
    assert who == KeylessIdentity(identity, issuer)


@pytest.mark.parametrize(("artifact", "bundle", "identity", "issuer"), VECTORS)
def test_wrong_identity_or_issuer_fails(
    artifact: str, bundle: str, identity: str, issuer: str
) -> None:
    for pinned in (
        KeylessIdentity("mallory@example.com", issuer),
        KeylessIdentity(identity, "https://accounts.google.com"),
    ):
        with pytest.raises(VerificationError, match="does not verify for any pinned identity"):
            verify_sigstore_bundle(
                read(artifact), read(bundle), identities=[pinned], trusted_root=STAGING_ROOT
            )


@pytest.mark.parametrize(("artifact", "bundle", "identity", "issuer"), VECTORS)
@pytest.mark.parametrize("position", [0, 17, -1])
def test_changed_artifact_byte_fails(
    artifact: str, bundle: str, identity: str, issuer: str, position: int
) -> None:
    data = bytearray(read(artifact))
    data[position] ^= 0x01
    with pytest.raises(VerificationError):
        verify_sigstore_bundle(
            bytes(data),
            read(bundle),
            identities=[KeylessIdentity(identity, issuer)],
            trusted_root=STAGING_ROOT,
        )


@pytest.mark.parametrize(("artifact", "bundle", "identity", "issuer"), VECTORS)
def test_production_root_rejects_staging_signatures(
    artifact: str, bundle: str, identity: str, issuer: str
) -> None:
    production = bundled_trusted_root("production")
    assert production.is_file()
    with pytest.raises(VerificationError):
        verify_sigstore_bundle(
            read(artifact), read(bundle), identities=[KeylessIdentity(identity, issuer)],
            trusted_root=production,
        )  # fmt: skip


def test_cve_2022_36056_vector_is_rejected() -> None:
    with pytest.raises(VerificationError, match="inconsistent"):
        verify_sigstore_bundle(
            read("bundle_cve_2022_36056.txt"),
            read("bundle_cve_2022_36056.txt.sigstore"),
            identities=[KeylessIdentity("william@yossarian.net", GITHUB)],
            trusted_root=STAGING_ROOT,
        )


def test_dsse_bundle_must_name_the_artifact() -> None:
    # The envelope verifies, but its in-toto subject is another file ("a.txt"),
    # so it is not a signature over this artifact.
    with pytest.raises(VerificationError, match="does not name this artifact"):
        verify_sigstore_bundle(
            read("a.dsse.staging-rekor-v2.txt"),
            read("a.dsse.staging-rekor-v2.txt.sigstore.json"),
            identities=[KeylessIdentity(BEACON, "https://token.actions.githubusercontent.com")],
            trusted_root=STAGING_ROOT,
        )


def test_empty_identity_list_is_rejected() -> None:
    with pytest.raises(VerificationError, match="no keyless identities are pinned"):
        verify_sigstore_bundle(
            read("bundle_v3.txt"), read("bundle_v3.txt.sigstore"), identities=[],
            trusted_root=STAGING_ROOT,
        )  # fmt: skip


def test_garbage_bundle_is_rejected() -> None:
    with pytest.raises(VerificationError, match="not a valid Sigstore bundle"):
        verify_sigstore_bundle(
            read("bundle_v3.txt"), b"{}", identities=[KeylessIdentity("a", GITHUB)],
            trusted_root=STAGING_ROOT,
        )  # fmt: skip


def test_cosign_blob_signature_with_real_cosign_key() -> None:
    cosign_dir = Path(__file__).parent / "assets" / "cosign"
    private = keys.load_private(cosign_dir / "cosign.key", b"")
    public = keys.load_public(cosign_dir / "cosign.pub")
    artifact = b"bundle bytes"
    signature = keyless.cosign_sign_blob(artifact, private)
    assert keyless.verify_cosign_signature(artifact, signature + b"\n", [public]) == keys.key_id(
        public
    )
    with pytest.raises(VerificationError, match="does not verify with any pinned key"):
        keyless.verify_cosign_signature(artifact + b"!", signature, [public])
    with pytest.raises(VerificationError, match="not a base64"):
        keyless.verify_cosign_signature(artifact, b"***", [public])
    with pytest.raises(VerificationError, match="does not verify with any pinned key"):
        keyless.verify_cosign_signature(artifact, signature, [keys.generate("p256").public_key()])


def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )


def test_key_only_trust_never_imports_sigstore(tmp_path: Path) -> None:
    # Before: parsing any trust policy resolved the bundled Sigstore root, which
    # imported sigstore (the optional keyless extra) even with no keyless signer.
    from tests.bundle_helpers import make_key, overlay_bundle

    key, public = make_key(tmp_path / "k")
    bundle = tmp_path / "o.tar.gz"
    bundle.write_bytes(overlay_bundle(tmp_path / "src", key, "1.0.0"))
    (tmp_path / "trust.toml").write_text(f'[layers.overlay]\nkeys = ["{public}"]\n')
    done = _python(
        f"""
        import sys
        from charter.policy.loading import load_layer
        from charter.trust.policy import load_policy
        from charter.trust.versions import VersionState
        policy = load_policy("trust.toml")
        layer = load_layer({str(bundle)!r}, policy, "overlay", state=VersionState("state"))
        print(layer.version, sorted(m for m in sys.modules if m.split(".")[0] == "sigstore"))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1.0.0", "[]"]


def test_keyless_without_the_extra_is_a_one_line_config_error(tmp_path: Path) -> None:
    (tmp_path / "trust.toml").write_text(
        '[layers.overlay]\nkeyless = [{ identity = "a@example.com", issuer = "https://x" }]\n'
    )
    done = _python(
        f"""
        import sys
        sys.modules["sigstore"] = None  # as if charter[keyless] were not installed
        from charter.core.errors import ConfigError
        from charter.trust import keyless
        from charter.trust.policy import load_policy
        for attempt in (
            lambda: load_policy("trust.toml"),
            lambda: keyless.verify_sigstore_bundle(
                b"x", b"{{}}", identities=[keyless.KeylessIdentity("a", "b")],
                trusted_root={str(STAGING_ROOT)!r},
            ),
        ):
            try:
                attempt()
            except ConfigError as exc:
                print(str(exc))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert line.startswith(
            "keyless signature verification needs the sigstore package, which is not installed"
        )
        assert "pip install 'charter[keyless]'" in line
