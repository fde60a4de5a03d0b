"""Keys: generation (file modes, formats, encryption) and cosign key files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from charter.cli import main
from charter.core.errors import InputError
from charter.trust import keys

COSIGN = Path(__file__).parent / "assets" / "cosign"


@pytest.mark.parametrize(("kind", "alg"), [("ed25519", "EdDSA"), ("p256", "ES256")])
def test_cli_generates_pkcs8_0600_and_spki(
    tmp_path: Path, kind: str, alg: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["key", "generate", "--out", str(tmp_path / "k"), "--type", kind]) == 0
    private = tmp_path / "k" / "signing.key"
    public = tmp_path / "k" / "signing.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    key = keys.load_private(private)
    assert keys.key_type(key) == kind and keys.jwt_algorithm(key) == alg
    assert keys.key_id(keys.load_public(public)) in capsys.readouterr().out


def test_cli_refuses_to_overwrite_and_bad_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["key", "generate", "--out", str(tmp_path)]) == 0
    assert main(["key", "generate", "--out", str(tmp_path)]) == 2
    assert "already holds a key pair" in capsys.readouterr().err
    assert main(["key", "generate", "--out", str(tmp_path / "x"), "--type", "rsa"]) == 2


def test_passphrase_from_env_encrypts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KEY_PASS", "correct horse")
    assert main(["key", "generate", "--out", str(tmp_path), "--passphrase-env", "KEY_PASS"]) == 0
    pem = (tmp_path / "signing.key").read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(InputError, match="encrypted"):
        keys.load_private(tmp_path / "signing.key")
    with pytest.raises(InputError, match="wrong passphrase"):
        keys.load_private(tmp_path / "signing.key", b"wrong")
    assert keys.load_private(tmp_path / "signing.key", b"correct horse")
    monkeypatch.delenv("KEY_PASS")
    assert (
        main(["key", "generate", "--out", str(tmp_path / "y"), "--passphrase-env", "KEY_PASS"]) == 2
    )
    assert "KEY_PASS is not set" in capsys.readouterr().err


def test_real_cosign_key_is_read() -> None:
    key = keys.load_private(COSIGN / "cosign.key", b"")
    assert keys.key_type(key) == "p256"
    assert keys.key_id(key.public_key()) == keys.key_id(keys.load_public(COSIGN / "cosign.pub"))
    with pytest.raises(InputError, match="wrong password"):
        keys.load_private(COSIGN / "cosign.key", b"not the password")
    with pytest.raises(InputError, match="cosign key is encrypted"):
        keys.load_private(COSIGN / "cosign.key")


def test_cosign_key_round_trip(tmp_path: Path) -> None:
    original = keys.generate("p256")
    path = tmp_path / "cosign.key"
    path.write_bytes(keys.cosign_private_pem(original, b"pw", n=2**10))
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    loaded = keys.load_private(path, b"pw")
    assert keys.key_id(loaded.public_key()) == keys.key_id(original.public_key())


def test_cosign_key_with_hostile_scrypt_cost_is_refused(tmp_path: Path) -> None:
    import base64
    import json

    doc = {
        "kdf": {"name": "scrypt", "params": {"N": 2**30, "r": 8, "p": 1}, "salt": "AA=="},
        "cipher": {"name": "nacl/secretbox", "nonce": "AA=="},
        "ciphertext": "AA==",
    }
    body = base64.b64encode(json.dumps(doc).encode()).decode()
    kind = "ENCRYPTED SIGSTORE PRIVATE KEY"
    pem = f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"
    (tmp_path / "k").write_text(pem)
    with pytest.raises(InputError, match="unreasonable scrypt parameters"):
        keys.load_private(tmp_path / "k", b"pw")


def test_key_id_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["key", "id", str(COSIGN / "cosign.pub")]) == 0
    assert capsys.readouterr().out.strip() == keys.key_id(keys.load_public(COSIGN / "cosign.pub"))


def _sigstore_key_by_hand(key: keys.PrivateKey, password: bytes, n: int = 2**10) -> bytes:
    """cosign's key format built independently of Charter's writer (go-tuf ``encrypted``).

    JSON ``{"kdf": {name: scrypt, params: {N, r, p}, salt}, "cipher": {name:
    nacl/secretbox, nonce}, "ciphertext"}`` (binary fields standard base64): the
    secretbox key is scrypt(password, salt, N, r=8, p=1, 32 bytes) and the
    plaintext is the PKCS#8 DER of the private key.
    """
    import base64
    import hashlib
    import json
    import os

    import nacl.secret
    from cryptography.hazmat.primitives import serialization

    salt, nonce = os.urandom(32), os.urandom(24)
    secret = hashlib.scrypt(password, salt=salt, n=n, r=8, p=1, dklen=32, maxmem=2**26)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    box = nacl.secret.SecretBox(secret).encrypt(der, nonce).ciphertext
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    document = {
        "kdf": {"name": "scrypt", "params": {"N": n, "r": 8, "p": 1}, "salt": b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": b64(nonce)},
        "ciphertext": b64(box),
    }
    body = base64.encodebytes(json.dumps(document).encode()).decode()
    kind = "ENCRYPTED SIGSTORE PRIVATE KEY"
    return f"-----BEGIN {kind}-----\n{body}-----END {kind}-----\n".encode()


@pytest.mark.parametrize("password", [b"", b"correct horse"])
def test_sigstore_key_built_by_hand_is_read(tmp_path: Path, password: bytes) -> None:
    original = keys.generate("p256")
    path = tmp_path / "cosign.key"
    path.write_bytes(_sigstore_key_by_hand(original, password))
    loaded = keys.load_private(path, password)
    assert keys.key_id(loaded.public_key()) == keys.key_id(original.public_key())
    with pytest.raises(InputError, match="wrong password"):
        keys.load_private(path, password + b"x")
    # What it signs verifies with the public key (cosign.pub's role).
    signature = keys.sign(loaded, b"bundle bytes")
    keys.verify(original.public_key(), signature, b"bundle bytes")
    # And Charter's own writer produces a file the hand-built reader logic agrees on.
    written = keys.cosign_private_pem(original, password, n=2**10)
    assert keys.key_id(keys.cosign_private_from_pem(written, password).public_key()) == keys.key_id(
        original.public_key()
    )
