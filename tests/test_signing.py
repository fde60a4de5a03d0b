"""``.signatures.json``: OPA-compatible file hashing and the JWT itself."""

from __future__ import annotations

import hashlib
import json

import jwt
import pytest

from charter.core.errors import VerificationError
from charter.trust import keys, signing

FILES = {
    ".manifest": b'{"roots": ["charter/overlay"], "revision": "1"}',
    "charter/overlay/data.json": b'{"b": 1, "a": {"y": 2, "x": [1, 2]}}',
    "charter/overlay/x.yaml": b"b: 1\na: 2\n",
    "charter/overlay/r.rego": b"package charter.overlay.r\n",
}


def test_json_and_yaml_are_hashed_canonically_rego_raw() -> None:
    assert signing.file_hash("d/data.json", b'{"b":1,"a":2}') == signing.file_hash(
        "d/data.json", b'{\n  "a": 2,\n  "b": 1\n}'
    )
    assert (
        signing.file_hash("x.yaml", b"b: 1\na: 2\n") == hashlib.sha256(b'{"a":2,"b":1}').hexdigest()
    )
    assert (
        signing.file_hash(".manifest", b'{"z": 0, "a": 1}')
        == hashlib.sha256(b'{"a":1,"z":0}').hexdigest()
    )
    assert signing.file_hash("r.rego", b"package x\n") == hashlib.sha256(b"package x\n").hexdigest()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("data.json", b'{"a": 1, "a": 2}', "duplicate key"),
        ("data.json", b'{"a": NaN}', "NaN is not valid JSON"),
        ("data.json", b'{"a": 1e999}', "does not fit a 64-bit float"),
        ("data.json", b'{"a": "\\udc00"}', "lone surrogate"),
        ("data.yaml", b"a: 2026-01-01\n", "not a valid YAML document"),
        ("data.json", b"{", "not a valid JSON"),
        ("data.yaml", b"a: &x [1]\nb: *x\n", "aliases are not allowed"),
    ],
)
def test_ambiguous_documents_cannot_be_hashed(name: str, data: bytes, message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        signing.file_hash(name, data)


@pytest.mark.parametrize(("kind", "alg"), [("ed25519", "EdDSA"), ("p256", "ES256")])
def test_token_header_and_payload(kind: str, alg: str) -> None:
    key = keys.generate(kind)  # type: ignore[arg-type]
    document = json.loads(signing.sign_files(FILES, key, scope="overlay"))
    (token,) = document["signatures"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == alg and header["kid"] == keys.key_id(key.public_key())
    payload = jwt.decode(token, key.public_key(), algorithms=[alg])
    assert payload["scope"] == "overlay" and payload["keyid"] == header["kid"]
    assert [f["name"] for f in payload["files"]] == sorted(FILES)
    assert {f["algorithm"] for f in payload["files"]} == {"SHA-256"}
    info = signing.verify_files(
        {**FILES, signing.SIGNATURES: signing.sign_files(FILES, key, scope="overlay")},
        [key.public_key()],
        scope="overlay",
    )
    assert info.key_id == header["kid"] and info.algorithm == alg


def test_ed25519_signing_is_deterministic() -> None:
    key = keys.generate()
    assert signing.sign_files(FILES, key, scope="pack") == signing.sign_files(
        FILES, key, scope="pack"
    )


def test_no_trusted_keys_is_rejected() -> None:
    key = keys.generate()
    files = {**FILES, signing.SIGNATURES: signing.sign_files(FILES, key, scope="overlay")}
    with pytest.raises(VerificationError, match="no trusted keys"):
        signing.verify_files(files, [], scope="overlay")


def test_non_sha256_entries_are_rejected() -> None:
    key = keys.generate()
    entries = [dict(f, algorithm="MD5") for f in signing.file_list(FILES)]
    token = jwt.encode({"files": entries, "scope": "overlay"}, key, algorithm="EdDSA")
    files = {**FILES, signing.SIGNATURES: json.dumps({"signatures": [token]}).encode()}
    with pytest.raises(VerificationError, match="hashed with 'MD5'"):
        signing.verify_files(files, [key.public_key()], scope="overlay")


def test_sign_entries_is_what_sign_files_signs() -> None:
    key = keys.generate("ed25519")
    files = {".manifest": b'{"b": 1, "a": 2}', "x/r.rego": b"package x\n"}
    entries = {item["name"]: item["hash"] for item in signing.file_list(files)}
    assert signing.sign_entries(entries, key, scope="pack") == signing.sign_files(
        files, key, scope="pack"
    )
    document = signing.sign_entries(entries, key, scope="pack")
    assert signing.signed_entries(document, key.public_key(), scope="pack") == entries
    assert signing.signed_entries(document, key.public_key(), scope="overlay") is None
    assert signing.signed_entries(document, keys.generate().public_key()) is None
    assert signing.signed_entries(b"not json", key.public_key()) is None


def test_non_canonical_base64_in_the_token_is_rejected() -> None:
    # base64url of 64 signature bytes ends in a character with two unused bits;
    # a lenient decoder maps two spellings to the same signature. Only one counts.
    import base64

    key = keys.generate("ed25519")
    files = {".manifest": b"{}", "r.rego": b"package r\n"}
    document = signing.sign_files(files, key, scope="overlay")
    token = json.loads(document)["signatures"][0]
    head, body, sig = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = sig[:-1] + alphabet[alphabet.index(sig[-1]) ^ 1]
    lenient = base64.urlsafe_b64decode
    assert lenient(twin + "==") == lenient(sig + "==")  # the same bytes, another spelling
    forged = json.dumps({"signatures": [f"{head}.{body}.{twin}"]}).encode()
    with pytest.raises(VerificationError, match="malformed"):
        signing.verify_files({**files, signing.SIGNATURES: forged}, [key.public_key()],
                             scope="overlay")  # fmt: skip
    assert signing.verify_files({**files, signing.SIGNATURES: document}, [key.public_key()],
                                scope="overlay").scope == "overlay"  # fmt: skip


def test_signatures_of_a_fixed_bundle_are_byte_identical_to_earlier_releases() -> None:
    """Non-ASCII JSON and YAML hash and sign exactly as before the jsonio move."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from charter.policy.bundle import build_tarball

    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    files = {
        ".manifest": (
            '{"roots": ["charter/overlay"], "metadata": {"charter": '
            '{"layer": "overlay", "name": "é", "version": "1.0.0"}}}'
        ).encode(),
        "charter/overlay/data.json": '{"b": "ß", "a": [1, 2.5, "日本"]}'.encode(),
        "charter/overlay/x.yaml": "a: ü\nb: [1, 2]\n".encode(),
        "charter/overlay/r.rego": b"package charter.overlay\n",
    }
    signatures = signing.sign_files(files, key, scope="overlay")
    assert hashlib.sha256(signatures).hexdigest() == (
        "c445f60445bbea3381e79e91aeec9f43206ecea7c6d8780d480acd42c3ef4e65"
    )
    archive = build_tarball({**files, ".signatures.json": signatures})
    assert hashlib.sha256(archive).hexdigest() == (
        "23199a7187f2a3f4bbf9cc4465b996376f55c4f743228d0e6a9a78c1c635bf16"
    )
