"""Keys: generation (file modes, formats, encryption) and cosign key files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from charter import keys
from charter.cli import main
from charter.errors import InputError

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
