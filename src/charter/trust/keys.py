"""Signing keys: Ed25519 (default) and ECDSA P-256 (the key type cosign uses).

Private keys are PKCS#8 PEM written with mode 0600 (optionally encrypted with a
passphrase taken from an environment variable); public keys are SPKI PEM. A
key is named by its *key id*: ``sha256:`` + the SHA-256 of its SPKI DER.

Evidence made outside Charter (cosign attestations, in-toto links) may also be
signed with RSA keys (2048 bits or more, PKCS#1 v1.5 or PSS with SHA-256):
:func:`verifying_key_from_pem` accepts them, as a :data:`VerifyingKey`, for
verification only — Charter itself never signs with RSA.

cosign's own key files are read too: ``cosign.pub`` is plain SPKI PEM, and
``cosign.key`` is a PEM block of type ``ENCRYPTED SIGSTORE PRIVATE KEY`` (older
releases: ``ENCRYPTED COSIGN PRIVATE KEY``) holding JSON with scrypt KDF
parameters and a NaCl secretbox ciphertext of a PKCS#8 DER key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from charter.core import jsonio
from charter.core.errors import InputError, TrustError, VerificationError

KeyType = Literal["ed25519", "p256"]
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
#: A key that may verify evidence signed outside Charter (never used to sign).
VerifyingKey = PublicKey | rsa.RSAPublicKey
MIN_RSA_BITS = 2048

COSIGN_PEM_TYPES = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
_PEM_BLOCK = re.compile(
    rb"-----BEGIN (?P<type>[A-Z0-9 ]+)-----\s*"
    rb"(?P<body>[A-Za-z0-9+/=\s]+?)\s*-----END (?P=type)-----"
)
# cosign's defaults (N = 2**15, r = 8, p = 1); a file may ask for more, but a
# hostile file must not make us allocate gigabytes, so the cost is capped.
_SCRYPT_MAX_N = 2**20

PRIVATE_NAME = "signing.key"
PUBLIC_NAME = "signing.pub"


def key_id(public: VerifyingKey) -> str:
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()


def key_type(key: PrivateKey | PublicKey) -> KeyType:
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "ed25519"
    return "p256"


def generate(kind: KeyType = "ed25519") -> PrivateKey:
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    raise InputError(f"unknown key type {kind!r}", hint="use ed25519 or p256")


def private_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def public_pem(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_private(path: Path, key: PrivateKey, passphrase: bytes | None = None) -> None:
    """Write a private key so that it is never readable by others, not even briefly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, private_pem(key, passphrase))
    finally:
        os.close(fd)


@dataclass(frozen=True)
class GeneratedKey:
    private_path: Path
    public_path: Path
    key_id: str
    kind: KeyType


def generate_to_dir(
    directory: Path,
    kind: KeyType = "ed25519",
    passphrase: bytes | None = None,
    *,
    overwrite: bool = False,
) -> GeneratedKey:
    private_path = directory / PRIVATE_NAME
    public_path = directory / PUBLIC_NAME
    if not overwrite and (private_path.exists() or public_path.exists()):
        raise InputError(
            f"{directory} already holds a key pair", hint="choose another --out directory"
        )
    key = generate(kind)
    write_private(private_path, key, passphrase)
    public_path.write_bytes(public_pem(key.public_key()))
    return GeneratedKey(private_path, public_path, key_id(key.public_key()), kind)


def passphrase_from_env(variable: str | None) -> bytes | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if value is None:
        raise InputError(
            f"environment variable {variable} is not set", hint="export the passphrase"
        )
    return value.encode()


def load_private(path: str | Path, passphrase: bytes | None = None) -> PrivateKey:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read private key ({exc.strerror})") from exc
    if is_cosign_private(data):
        return cosign_private_from_pem(data, passphrase, str(p))
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as exc:
        raise InputError(
            f"{p}: the private key is encrypted",
            hint="pass its passphrase with --passphrase-env VAR",
        ) from exc
    except ValueError as exc:
        raise InputError(f"{p}: not a PEM private key, or wrong passphrase") from exc
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise InputError(f"{p}: unsupported key type", hint="Charter signs with Ed25519 or ECDSA P-256")


def load_public(path: str | Path) -> PublicKey:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read public key ({exc.strerror})") from exc
    return public_from_pem(data, str(p))


def public_from_pem(data: bytes, where: str = "public key") -> PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise InputError(f"{where}: not a PEM public key (SubjectPublicKeyInfo)") from exc
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise InputError(f"{where}: unsupported key type", hint="use Ed25519 or ECDSA P-256")


def verifying_key_from_pem(data: bytes, where: str = "public key") -> VerifyingKey:
    """An Ed25519, ECDSA P-256 or RSA (>= 2048 bits) SPKI PEM key, for verifying evidence."""
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise InputError(f"{where}: not a PEM public key (SubjectPublicKeyInfo)") from exc
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise InputError(
                f"{where}: RSA key of {key.key_size} bits is too short",
                hint=f"use at least {MIN_RSA_BITS} bits",
            )
        return key
    return public_from_pem(data, where)


def _verify_rsa(public: rsa.RSAPublicKey, signature: bytes, message: bytes) -> None:
    """PKCS#1 v1.5 (cosign's RSA scheme) or PSS (in-toto's), both with SHA-256."""
    try:
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
        public.verify(signature, message, pss, hashes.SHA256())


def sign(key: PrivateKey, message: bytes) -> bytes:
    """Ed25519 signature, or DER ECDSA-SHA256 for P-256."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    return key.sign(message, ec.ECDSA(hashes.SHA256()))


def verify(public: VerifyingKey, signature: bytes, message: bytes) -> None:
    """Raise :class:`VerificationError` unless ``signature`` is valid."""
    try:
        if isinstance(public, rsa.RSAPublicKey):
            _verify_rsa(public, signature, message)
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, message)
        else:
            public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise VerificationError("signature does not verify with the given public key") from exc
    except (ValueError, TypeError) as exc:
        raise TrustError(f"malformed signature ({exc})") from exc


def _only_supported(key: object, where: str) -> PrivateKey:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise InputError(
        f"{where}: unsupported key type", hint="Charter signs with Ed25519 or ECDSA P-256"
    )


def is_cosign_private(data: bytes) -> bool:
    match = _PEM_BLOCK.search(data)
    return match is not None and match["type"].decode() in COSIGN_PEM_TYPES


def cosign_private_from_pem(
    data: bytes, password: bytes | None, where: str = "cosign.key"
) -> PrivateKey:
    """Decrypt a cosign ``ENCRYPTED SIGSTORE PRIVATE KEY`` (scrypt + NaCl secretbox)."""
    # PyNaCl is imported here so that plain PKCS#8 users do not pay for it.
    import nacl.exceptions
    import nacl.secret

    match = _PEM_BLOCK.search(data)
    if match is None or match["type"].decode() not in COSIGN_PEM_TYPES:
        raise InputError(f"{where}: not a cosign private key (ENCRYPTED SIGSTORE PRIVATE KEY)")
    try:
        raw = base64.b64decode(b"".join(match["body"].split()), validate=True)
        document = jsonio.loads_object(raw, what=f"{where}: the key document")
        kdf = document["kdf"]
        params = kdf["params"]
        cipher = document["cipher"]
        if kdf["name"] != "scrypt" or cipher["name"] != "nacl/secretbox":
            raise InputError(
                f"{where}: unsupported cosign key encryption {kdf['name']}/{cipher['name']}",
                hint="cosign keys use scrypt and nacl/secretbox",
            )
        n, r, p = int(params["N"]), int(params["r"]), int(params["p"])
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(cipher["nonce"], validate=True)
        ciphertext = base64.b64decode(document["ciphertext"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise InputError(f"{where}: malformed cosign private key ({exc})") from exc
    if n > _SCRYPT_MAX_N or n < 2 or n & (n - 1) or r * p > 64:
        raise InputError(f"{where}: cosign key asks for unreasonable scrypt parameters N={n}")
    if password is None:
        raise InputError(
            f"{where}: the cosign key is encrypted",
            hint="pass its password with --passphrase-env VAR (cosign reads COSIGN_PASSWORD)",
        )
    secret = hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=32, maxmem=2**31 - 1)
    try:
        der = nacl.secret.SecretBox(secret).decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError as exc:
        raise InputError(f"{where}: wrong password for the cosign key") from exc
    try:
        key = serialization.load_der_private_key(der, password=None)
    except ValueError as exc:
        raise InputError(f"{where}: the decrypted cosign key is not PKCS#8") from exc
    return _only_supported(key, where)


def cosign_private_pem(key: PrivateKey, password: bytes, *, n: int = 2**15) -> bytes:
    """Encrypt ``key`` the way ``cosign generate-key-pair`` does (for interop and tests)."""
    import nacl.secret
    import nacl.utils

    salt = os.urandom(32)
    secret = hashlib.scrypt(password, salt=salt, n=n, r=8, p=1, dklen=32, maxmem=2**31 - 1)
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    box = nacl.secret.SecretBox(secret).encrypt(der, nonce)
    document = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": n, "r": 8, "p": 1},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(box.ciphertext).decode(),
    }
    body = base64.b64encode(json.dumps(document).encode()).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    pem = "\n".join(
        ["-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----", *lines,
         "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----", ""]
    )  # fmt: skip
    return pem.encode()


def jwt_algorithm(key: PrivateKey | PublicKey) -> str:
    """The one JWS algorithm a key may be used with (never chosen by the token)."""
    return "EdDSA" if key_type(key) == "ed25519" else "ES256"
