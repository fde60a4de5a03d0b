"""OPA's ``.signatures.json``: one JWT that lists every file of a bundle.

Format (OPA "bundle signing")::

    .signatures.json  {"signatures": ["<JWS compact serialisation>"]}
    JWT header        {"alg": "EdDSA" | "ES256", "kid": "sha256:…", "typ": "JWT"}
    JWT payload       {"files": [{"name": "a/b.rego", "hash": "<hex>", "algorithm": "SHA-256"}],
                       "keyid": "sha256:…", "scope": "<layer>"}

File hashes are SHA-256 of the raw bytes, except for JSON and YAML documents
(``*.json``, ``*.yaml``, ``*.yml`` and ``.manifest``), which OPA hashes after
parsing and re-serialising with sorted object keys so that formatting does not
change the hash. The algorithm is never taken from the token: it is pinned
from the type of the trusted key (``EdDSA`` for Ed25519, ``ES256`` for P-256),
so ``alg: none`` and algorithm confusion are rejected before any key is used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
import yaml
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from charter.core import jsonio
from charter.core.errors import InputError, VerificationError
from charter.trust import keys

SIGNATURES = ".signatures.json"
HASH_ALGORITHM = "SHA-256"
_STRUCTURED = (".json", ".yaml", ".yml")
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors/aliases: an alias bomb must not expand while hashing."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases are not allowed in signed bundles"
            )
        return super().compose_node(parent, index)


def is_structured(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base == ".manifest" or base.endswith(_STRUCTURED)


def file_hash(name: str, data: bytes) -> str:
    """The hex SHA-256 OPA records for one file (JSON/YAML canonicalised)."""
    if not is_structured(name):
        return hashlib.sha256(data).hexdigest()
    hint = "the file was altered or was never part of a signed bundle"
    if not name.endswith((".yaml", ".yml")):
        # The same strict reader that later parses the file (duplicate keys, NaN,
        # 1e999 and lone surrogates are refused), so what is hashed is what loads.
        try:
            value = jsonio.loads(data, what=name)
        except InputError as exc:
            raise VerificationError(
                f"{name}: cannot be hashed: not a valid JSON document ({exc.message})", hint=hint
            ) from None
        return hashlib.sha256(jsonio.canonical_bytes(value)).hexdigest()
    try:
        value = yaml.load(data.decode("utf-8"), Loader=_NoAliasLoader)  # noqa: S506 - SafeLoader
        return hashlib.sha256(jsonio.canonical_bytes(value)).hexdigest()
    except (ValueError, TypeError, yaml.YAMLError, RecursionError) as exc:
        # TypeError: a YAML value JSON cannot express (a date, a set...).
        raise VerificationError(
            f"{name}: cannot be hashed: not a valid YAML document ({exc})", hint=hint
        ) from exc


def file_list(files: Mapping[str, bytes]) -> list[dict[str, str]]:
    return [
        {"name": name, "hash": file_hash(name, files[name]), "algorithm": HASH_ALGORITHM}
        for name in sorted(files)
        if name != SIGNATURES
    ]


def sign_entries(entries: Mapping[str, str], key: keys.PrivateKey, *, scope: str) -> bytes:
    """The ``.signatures.json`` document for precomputed ``name → hex SHA-256`` entries.

    The one place a bundle token is made (deterministic for Ed25519): whole
    bundles (:func:`sign_files`) and single rules (``charter rule sign``) both
    come through here.
    """
    kid = keys.key_id(key.public_key())
    payload = {
        "files": [
            {"name": name, "hash": entries[name], "algorithm": HASH_ALGORITHM}
            for name in sorted(entries)
            if name != SIGNATURES
        ],
        "keyid": kid,
        "scope": scope,
    }
    token = jwt.encode(payload, key, algorithm=keys.jwt_algorithm(key), headers={"kid": kid})
    return jsonio.canonical_bytes({"signatures": [token]}) + b"\n"


def sign_files(files: Mapping[str, bytes], key: keys.PrivateKey, *, scope: str) -> bytes:
    """The ``.signatures.json`` document for ``files`` (deterministic for Ed25519)."""
    return sign_entries({item["name"]: item["hash"] for item in file_list(files)}, key, scope=scope)


@dataclass(frozen=True)
class SignatureInfo:
    """What a verified (or, from :func:`unverified_info`, merely read) token says."""

    key_id: str
    algorithm: str
    scope: str | None
    files: dict[str, str]


def _token(signatures: bytes) -> str:
    try:
        document = jsonio.loads(signatures, what=SIGNATURES)
    except InputError as exc:
        raise VerificationError(f"{SIGNATURES} is not valid JSON ({exc.message})") from None
    tokens = document.get("signatures") if isinstance(document, dict) else None
    if not isinstance(tokens, list) or not tokens:
        raise VerificationError(f"{SIGNATURES} holds no signature")
    if len(tokens) != 1 or not isinstance(tokens[0], str):
        raise VerificationError(f"{SIGNATURES} must hold exactly one JWT, found {len(tokens)}")
    return tokens[0]


def _b64url(segment: str) -> bytes:
    """Strict base64url: a segment has exactly one encoding (no stray padding bits)."""
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != segment:
        raise binascii.Error("non-canonical base64url encoding")
    return raw


@dataclass(frozen=True)
class _Token:
    header: dict[str, Any]
    payload_segment: str
    signing_input: bytes
    signature: bytes


def _parse(token: str) -> _Token:
    """Split a compact JWS strictly (PyJWT's own parser is slow on 1,000-file payloads)."""
    if not _COMPACT_JWS.fullmatch(token):
        raise VerificationError(f"{SIGNATURES}: the JWT is malformed (not a compact JWS)")
    head, body, sig = token.split(".")
    try:
        header = jsonio.loads(_b64url(head), what="the JWT header")
        signature = _b64url(sig)
    except (InputError, binascii.Error, ValueError) as exc:
        raise VerificationError(
            f"{SIGNATURES}: the JWT header or signature is malformed ({exc})"
        ) from exc
    if not isinstance(header, dict):
        raise VerificationError(f"{SIGNATURES}: the JWT header is not an object")
    return _Token(header, body, f"{head}.{body}".encode("ascii"), signature)


def _header(token: str) -> dict[str, Any]:
    return _parse(token).header


def _payload(parsed: _Token) -> dict[str, Any]:
    try:
        payload = jsonio.loads(_b64url(parsed.payload_segment), what="the JWT payload")
    except (InputError, binascii.Error, ValueError) as exc:
        raise VerificationError(f"{SIGNATURES}: the JWT payload is not JSON ({exc})") from exc
    if not isinstance(payload, dict):
        raise VerificationError(f"{SIGNATURES}: the JWT payload is not an object")
    return payload


def _signature_valid(parsed: _Token, key: keys.PublicKey) -> bool:
    # PyJWT's algorithm objects do the crypto (including ES256's raw r||s form);
    # the algorithm is chosen from the key, never from the token.
    if keys.key_type(key) == "ed25519":
        return bool(OKPAlgorithm().verify(parsed.signing_input, key, parsed.signature))  # type: ignore[arg-type]
    return bool(
        ECAlgorithm(ECAlgorithm.SHA256).verify(parsed.signing_input, key, parsed.signature)  # type: ignore[arg-type]
    )


def _payload_files(payload: Any) -> dict[str, str]:
    entries = payload.get("files") if isinstance(payload, dict) else None
    if not isinstance(entries, list):
        raise VerificationError(f"{SIGNATURES}: the JWT payload has no 'files' list")
    out: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise VerificationError(f"{SIGNATURES}: a 'files' entry has no name")
        name = entry["name"].lstrip("/")
        if entry.get("algorithm", HASH_ALGORITHM) != HASH_ALGORITHM:
            raise VerificationError(
                f"{SIGNATURES}: {name} is hashed with {entry.get('algorithm')!r}",
                hint="Charter accepts SHA-256 file hashes only",
            )
        if not isinstance(entry.get("hash"), str):
            raise VerificationError(f"{SIGNATURES}: {name} has no hash")
        if name in out:
            raise VerificationError(f"{SIGNATURES}: {name} is listed twice")
        out[name] = entry["hash"].lower()
    return out


def unverified_info(signatures: bytes) -> SignatureInfo:
    """Read a token without checking it, for ``bundle inspect`` (say so when printing)."""
    parsed = _parse(_token(signatures))
    header = parsed.header
    payload = _payload(parsed)
    return SignatureInfo(
        key_id=str(header.get("kid") or payload.get("keyid") or "?"),
        algorithm=str(header.get("alg")),
        scope=payload.get("scope") if isinstance(payload.get("scope"), str) else None,
        files=_payload_files(payload),
    )


def _signing_key(parsed: Any, trusted: Sequence[keys.PublicKey], scope: str) -> tuple[Any, str]:
    """The trusted key whose signature verifies, and the algorithm it pins."""
    alg = parsed.header.get("alg")
    if alg not in ("EdDSA", "ES256"):
        raise VerificationError(
            f"{SIGNATURES}: JWT algorithm {alg!r} is not allowed",
            hint="Charter accepts EdDSA (Ed25519) and ES256 (ECDSA P-256) only",
        )
    by_id = {keys.key_id(k): k for k in trusted}
    kid = parsed.header.get("kid")
    if isinstance(kid, str) and kid:
        if kid not in by_id:
            raise VerificationError(
                f"signed by key {kid}, which is not trusted for the {scope} layer",
                hint="pin the signer's public key for this layer in the trust policy",
            )
        candidates = [by_id[kid]]
    else:
        candidates = list(trusted)
    candidates = [key for key in candidates if keys.jwt_algorithm(key) == alg]
    if not candidates:
        raise VerificationError(
            f"{SIGNATURES}: JWT algorithm {alg} does not match the type of the trusted key",
            hint="the algorithm is pinned by the key: EdDSA for Ed25519, ES256 for P-256",
        )
    used = next((key for key in candidates if _signature_valid(parsed, key)), None)
    if used is None:
        raise VerificationError(
            f"{SIGNATURES}: the signature does not verify with any key trusted for the "
            f"{scope} layer",
            hint="the bundle was signed by another key or the signature was altered",
        )
    return used, alg


def _check_claims(payload: Any, scope: str) -> None:
    """Time claims, when present, hold now; the token's scope is the layer loaded."""
    for claim in ("exp", "nbf"):
        value = payload.get(claim)
        if value is not None and not isinstance(value, (int, float)):
            raise VerificationError(f"{SIGNATURES}: JWT claim {claim} is not a number")
    now = time.time()
    if isinstance(payload.get("exp"), (int, float)) and payload["exp"] < now:
        raise VerificationError(f"{SIGNATURES}: the signature has expired (exp)")
    if isinstance(payload.get("nbf"), (int, float)) and payload["nbf"] > now:
        raise VerificationError(f"{SIGNATURES}: the signature is not valid yet (nbf)")
    token_scope = payload.get("scope") if isinstance(payload, dict) else None
    if token_scope != scope:
        raise VerificationError(
            f"signature scope is {token_scope!r}, but the bundle is loaded as the {scope} layer",
            hint="a key signs one layer only; an overlay signature cannot stand for a constitution",
        )


def _check_file_list(files: Mapping[str, bytes], signed: Mapping[str, str]) -> None:
    """The signed list equals the files present, hash for hash."""
    present = {name for name in files if name != SIGNATURES}
    for name in sorted(set(signed) - present):
        raise VerificationError(f"{name}: listed in the signature but missing from the bundle")
    for name in sorted(present - set(signed)):
        raise VerificationError(
            f"{name}: not covered by the signature (file added after signing)",
            hint="rebuild and re-sign the bundle",
        )
    for name in sorted(present):
        actual = file_hash(name, files[name])
        if actual != signed[name]:
            raise VerificationError(
                f"{name}: has been modified: expected sha256 {signed[name]}, actual {actual}",
                hint="the bundle was tampered with after signing; fetch it again",
            )


def verify_files(
    files: Mapping[str, bytes],
    trusted: Sequence[keys.PublicKey],
    *,
    scope: str,
) -> SignatureInfo:
    """Verify ``.signatures.json`` in ``files`` against ``trusted`` keys.

    Checks, in order: one JWT; an allowed algorithm; a trusted key named by
    ``kid`` whose type pins that algorithm; the signature; the ``scope`` (the
    layer); and that the signed file list equals the files present, hash for
    hash. Raises :class:`VerificationError` naming the first check that failed.
    """
    if SIGNATURES not in files:
        raise VerificationError(
            "the bundle is not signed (no .signatures.json)",
            hint="build it with `charter bundle build DIR -o FILE --key KEY`",
        )
    if not trusted:
        raise VerificationError(f"no trusted keys are configured for the {scope} layer")
    parsed = _parse(_token(files[SIGNATURES]))
    used, alg = _signing_key(parsed, trusted, scope)
    payload = _payload(parsed)
    _check_claims(payload, scope)
    signed = _payload_files(payload)
    _check_file_list(files, signed)
    return SignatureInfo(key_id=keys.key_id(used), algorithm=alg, scope=scope, files=signed)


def signed_entries(
    signatures: bytes, key: keys.PublicKey, *, scope: str | None = None
) -> dict[str, str] | None:
    """The ``name → hash`` entries of ``signatures`` if its token verifies with ``key``.

    ``None`` when it does not (another signer, altered, malformed, or another
    ``scope``): callers that extend a previous signature start afresh then.
    """
    try:
        parsed = _parse(_token(signatures))
        if parsed.header.get("alg") != keys.jwt_algorithm(key):
            return None
        if not _signature_valid(parsed, key):
            return None
        payload = _payload(parsed)
        if scope is not None and payload.get("scope") != scope:
            return None
        return _payload_files(payload)
    except (VerificationError, ValueError, TypeError):
        return None
