"""Signed evidence from CI: DSSE envelopes, Sigstore bundles and blob signatures.

What CI writes next to a release is a claim until its signature verifies under
the trust policy's ``[evidence]`` table (:class:`~charter.trust.policy.EvidenceTrust`):

* **DSSE envelopes** (``*.intoto.jsonl``, ``*.att.json``, in-toto ``*.link``):
  the signature covers the DSSE pre-authentication encoding (:func:`pae`) of
  the payload and is checked with the pinned ``keys`` (Ed25519, ECDSA P-256,
  RSA). An envelope that carries only a Fulcio certificate inline has no
  transparency-log proof of *when* it was signed, and a Fulcio certificate is
  valid for ten minutes, so offline it is never verified.
* **Sigstore bundles** holding a DSSE envelope (GitHub artifact attestations,
  ``cosign attest --bundle``, slsa-github-generator ``.build.slsa``): verified
  offline with ``sigstore`` against the pinned ``keyless`` identities and the
  trusted root (:func:`charter.trust.keyless.verify_sigstore_dsse`). A bundle
  whose transparency-log entry is of a type sigstore-python cannot check
  offline (e.g. ``intoto`` 0.0.2) is refused naming that type. A bundle with a
  ``publicKey`` hint instead of a certificate is checked with the pinned keys.
* **Blob signatures** (:func:`verify_blob_signature`): a ``cosign sign-blob``
  base64 signature, or a Sigstore bundle over the blob.

The signed payload must be an in-toto Statement (v0.1 or v1) or an in-toto
link; what it says becomes a :class:`Statement`. A SLSA provenance must name a
builder id the policy's ``builders`` allow. Which artifact a statement's
subjects name is the caller's business (``charter.facts.evidence``).

Errors: every problem a changed byte, a wrong key or the policy can cause is a
:class:`Verified` with ``error`` set (one line naming the file) — never a
verified result. Only a document whose JSON shape is not an envelope, bundle or
signature at all (wrong types, missing fields) raises :class:`InputError`; a
trust policy whose keyless configuration cannot be used (the ``keyless`` extra
is missing, the trusted root is unreadable) raises :class:`ConfigError`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from charter.core import digests, jsonio
from charter.core.errors import InputError, TrustError, VerificationError
from charter.trust import keyless, keys
from charter.trust.policy import EvidenceTrust

IN_TOTO_PAYLOAD = keyless.IN_TOTO_PAYLOAD
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle"
#: The bundle versions sigstore-python reads.
BUNDLE_MEDIA_TYPES = frozenset(
    {
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "application/vnd.dev.sigstore.bundle.v0.3+json",
    }
)
STATEMENT_TYPES = frozenset(
    {"https://in-toto.io/Statement/v0.1", "https://in-toto.io/Statement/v1"}
)
#: ``_type`` of in-toto (v0.9 layout model) link metadata; used as its predicate type too.
LINK_TYPE = "link"
LINK_PREDICATE = "https://in-toto.io/attestation/link/"
PROVENANCE_PREDICATE = "https://slsa.dev/provenance/"
SBOM_PREDICATES = ("https://cyclonedx.org/bom", "https://spdx.dev/Document")
#: Transparency-log entry types whose signing time sigstore-python checks offline.
SUPPORTED_TLOG_ENTRIES = frozenset(
    {("dsse", "0.0.1"), ("hashedrekord", "0.0.1"), ("dsse", "0.0.2"), ("hashedrekord", "0.0.2")}
)
_HEX = frozenset("0123456789abcdef")
#: Subject digest algorithms matched against artifacts (name -> hex length).
SUBJECT_DIGESTS = {"sha256": 64, "sha384": 96, "sha512": 128}


@dataclass(frozen=True)
class Statement:
    """What a signed in-toto statement (or link) says."""

    type: str
    predicate_type: str
    #: ``(name, "sha256:<hex>")`` of every subject with a SHA-256 digest (a
    #: link's products); subjects with only other digests are left out.
    subjects: tuple[tuple[str, str], ...]
    predicate: Any
    #: Every SHA-2 digest (``sha256:``, ``sha384:``, ``sha512:`` + hex) of each subject,
    #: in subject order: an artifact matches a subject only when every algorithm both
    #: know agrees (``charter.facts.evidence``).
    digest_sets: tuple[frozenset[str], ...] = ()


@dataclass(frozen=True)
class Verified:
    """The outcome of checking one piece of evidence; verified only when ``error`` is None."""

    path: str
    #: provenance | sbom | link | signature | attestation
    kind: str
    #: The signed statement; with ``error`` set, the *unverified* claim when the
    #: payload could be read (so the error can be attached to the artifacts it
    #: names); None for a blob signature or an unreadable payload.
    statement: Statement | None
    #: Blob signatures: ``sha256:<hex>`` of the blob the signature was checked against.
    signed_digest: str | None
    #: Key id (``sha256:…``) or ``identity (issuer)`` whose signature verified —
    #: also when the statement was then refused (a builder not allowed).
    signer: str | None
    #: SLSA provenance only: ``builder.id`` (v0.1/v0.2) or ``runDetails.builder.id`` (v1).
    builder_id: str | None
    error: str | None


@dataclass(frozen=True)
class _Signature:
    sig: bytes | None  # None: not base64
    cert: str | None


@dataclass(frozen=True)
class _Envelope:
    payload_type: str
    payload: bytes | None  # None: not base64
    signatures: tuple[_Signature, ...]


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what a DSSE signature covers."""
    kind = payload_type.encode("utf-8", "surrogatepass")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _is_bundle(document: object) -> bool:
    return isinstance(document, Mapping) and str(document.get("mediaType", "")).startswith(
        BUNDLE_MEDIA_TYPE
    )


def sniff_attestation(document: object) -> bool:
    """A DSSE envelope, or a Sigstore bundle that holds one (not a bundle over a blob)."""
    if not isinstance(document, Mapping):
        return False
    if _is_bundle(document):
        return "dsseEnvelope" in document
    return {"payloadType", "payload", "signatures"} <= set(document)


def _b64(text: str) -> bytes | None:
    """Standard or URL-safe base64, padded or not (DSSE allows both); None when neither."""
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.b64decode(padded, altchars=b"-_", validate=True)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


def _read_envelope(document: object, path: str) -> _Envelope:
    """The envelope's fields, checked for shape (InputError), decoded where possible."""
    if not isinstance(document, Mapping):
        raise InputError(f"{path}: a DSSE envelope must be a JSON object")
    payload_type, payload, signatures = (
        document.get("payloadType"),
        document.get("payload"),
        document.get("signatures"),
    )
    if not isinstance(payload_type, str) or not isinstance(payload, str):
        raise InputError(
            f"{path}: a DSSE envelope needs payloadType and payload strings",
            hint="expected {payloadType, payload (base64), signatures: [{sig, keyid}]}",
        )
    if not isinstance(signatures, list) or not signatures:
        raise InputError(f"{path}: the DSSE envelope has no signatures list")
    read: list[_Signature] = []
    for number, item in enumerate(signatures, 1):
        sig = item.get("sig") if isinstance(item, Mapping) else None
        cert = item.get("cert") if isinstance(item, Mapping) else None
        keyid = item.get("keyid", "") if isinstance(item, Mapping) else None
        if not (
            isinstance(sig, str) and isinstance(keyid, str | None) and isinstance(cert, str | None)
        ):
            raise InputError(
                f"{path}: DSSE signature {number} needs a sig string (keyid and cert: strings)"
            )
        read.append(_Signature(_b64(sig), cert or None))
    return _Envelope(payload_type, _b64(payload), tuple(read))


def _hex_digest(value: object, where: str, algorithm: str = "sha256") -> str:
    length = SUBJECT_DIGESTS[algorithm]
    if not isinstance(value, str) or len(value) != length or not set(value) <= _HEX:
        raise VerificationError(f"{where}: {algorithm} digest is not {length} lowercase hex digits")
    return f"{algorithm}:{value}"


def _digest_set(digest: Mapping[str, Any], where: str) -> frozenset[str]:
    """The subject's SHA-2 digests; a malformed one is a refusal, other algorithms are skipped."""
    return frozenset(
        _hex_digest(digest[name], where, name) for name in SUBJECT_DIGESTS if name in digest
    )


def _read_subjects(
    items: object, path: str
) -> tuple[tuple[tuple[str, str], ...], tuple[frozenset[str], ...]]:
    if not isinstance(items, list):
        raise VerificationError(f"{path}: the statement's subject is not a list")
    found: list[tuple[str, str]] = []
    sets: list[frozenset[str]] = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, Mapping) or not isinstance(item.get("digest"), Mapping):
            raise VerificationError(f"{path}: subject {number} has no digest object")
        name = item.get("name", "")
        if not isinstance(name, str):
            raise VerificationError(f"{path}: subject {number} has a name that is not a string")
        digests = _digest_set(item["digest"], f"{path}: subject {number}")
        sets.append(digests)
        found.extend((name, d) for d in sorted(digests) if d.startswith("sha256:"))
    return tuple(found), tuple(sets)


def _products(
    link: Mapping[str, Any], path: str
) -> tuple[tuple[tuple[str, str], ...], tuple[frozenset[str], ...]]:
    products = link.get("products", {})
    if not isinstance(products, Mapping):
        raise VerificationError(f"{path}: the link's products are not an object")
    items = [{"name": name, "digest": digest} for name, digest in products.items()]
    return _read_subjects(items, path)


def _statement(payload_type: str, payload: bytes | None, path: str) -> Statement:
    """Read the signed payload; VerificationError when it is not a statement or link."""
    if payload_type != IN_TOTO_PAYLOAD:
        raise VerificationError(
            f"{path}: payload type {payload_type[:80]!r} is not an in-toto statement"
        )
    if payload is None:
        raise VerificationError(f"{path}: the DSSE payload is not base64")
    try:
        document = jsonio.loads(payload, what=f"{path}: the DSSE payload")
    except InputError as exc:
        raise VerificationError(str(exc)) from exc
    if not isinstance(document, Mapping):
        raise VerificationError(f"{path}: the DSSE payload is not a JSON object")
    kind = document.get("_type")
    if kind == LINK_TYPE:
        subjects, sets = _products(document, path)
        return Statement(LINK_TYPE, LINK_TYPE, subjects, dict(document), sets)
    if kind not in STATEMENT_TYPES:
        raise VerificationError(
            f"{path}: the DSSE payload is not an in-toto statement (_type {str(kind)[:80]!r})"
        )
    predicate_type = document.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type:
        raise VerificationError(f"{path}: the statement has no predicateType")
    subjects, sets = _read_subjects(document.get("subject"), path)
    return Statement(str(kind), predicate_type, subjects, document.get("predicate"), sets)


def _kind(statement: Statement | None) -> str:
    if statement is None:
        return "attestation"
    predicate = statement.predicate_type
    if statement.type == LINK_TYPE or predicate.startswith(LINK_PREDICATE):
        return "link"
    if predicate.startswith(PROVENANCE_PREDICATE):
        return "provenance"
    if predicate.startswith(SBOM_PREDICATES):
        return "sbom"
    return "attestation"


def _builder_id(statement: Statement) -> str | None:
    """SLSA v0.1/v0.2 ``predicate.builder.id``; v1 ``predicate.runDetails.builder.id``."""
    predicate = statement.predicate if isinstance(statement.predicate, Mapping) else {}
    holder = predicate.get("runDetails", predicate)
    builder = holder.get("builder") if isinstance(holder, Mapping) else None
    found = builder.get("id") if isinstance(builder, Mapping) else None
    return found if isinstance(found, str) and found else None


def _builder_problem(statement: Statement, trust: EvidenceTrust, path: str) -> str | None:
    builder = _builder_id(statement)
    if builder is None:
        return f"{path}: the provenance names no builder id"
    if not trust.builder_allowed(builder):
        return f"{path}: builder {builder} is not allowed by the trust policy's [evidence] builders"
    return None


def _certificate_problem(signatures: tuple[_Signature, ...], message: bytes, path: str) -> str:
    """Why an envelope signed only with an inline (Fulcio) certificate is not verified."""
    for signature in signatures:
        if signature.cert is None or signature.sig is None:
            continue
        try:
            cert = x509.load_pem_x509_certificate(signature.cert.encode("utf-8"))
            public = cert.public_key()
        except ValueError:
            return f"{path}: the signature's certificate is not a PEM X.509 certificate"
        if not isinstance(
            public, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
        ):
            continue
        try:
            keys.verify(public, signature.sig, message)
        except TrustError:
            continue
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        minutes = round(lifetime.total_seconds() / 60)
        return (
            f"{path}: no transparency-log proof of signing time; "
            f"the certificate was valid for {minutes} minutes"
        )
    return f"{path}: the DSSE signature does not verify with its certificate"


def _verify_with_keys(envelope: _Envelope, trust: EvidenceTrust, path: str) -> str:
    """The key id of a pinned key that verifies a signature of the envelope."""
    if envelope.payload is None:
        raise VerificationError(f"{path}: the DSSE payload is not base64")
    message = pae(envelope.payload_type, envelope.payload)
    for signature in envelope.signatures:
        if signature.sig is None:
            continue
        for key in trust.keys:
            try:
                keys.verify(key, signature.sig, message)
            except TrustError:
                continue
            return keys.key_id(key)
    if any(s.cert for s in envelope.signatures):
        raise VerificationError(_certificate_problem(envelope.signatures, message, path))
    if not trust.keys:
        raise VerificationError(f"{path}: the trust policy's [evidence] pins no keys")
    if all(s.sig is None for s in envelope.signatures):
        raise VerificationError(f"{path}: the DSSE signature is not base64")
    raise VerificationError(f"{path}: the DSSE signature does not verify with any pinned key")


def _unsupported_tlog(material: Mapping[str, Any], path: str) -> None:
    entries = material.get("tlogEntries", [])
    for entry in entries if isinstance(entries, list) else []:
        kind_version = entry.get("kindVersion") if isinstance(entry, Mapping) else None
        if not isinstance(kind_version, Mapping):
            continue
        found = (str(kind_version.get("kind")), str(kind_version.get("version")))
        if found not in SUPPORTED_TLOG_ENTRIES:
            raise VerificationError(
                f"{path}: transparency-log entry type {found[0][:40]} {found[1][:20]} "
                "is not supported for offline verification (dsse and hashedrekord are)"
            )


def _verify_keyless(
    document: Mapping[str, Any], trust: EvidenceTrust, path: str
) -> tuple[str, str, bytes]:
    """The identity that verified the bundle, and the payload type and payload it signed."""
    if not trust.keyless:
        raise VerificationError(f"{path}: the trust policy's [evidence] pins no keyless identities")
    identity, payload_type, payload = keyless.verify_sigstore_dsse(
        jsonio.canonical_bytes(dict(document)),
        identities=trust.keyless,
        trusted_root=trust.trusted_root or keyless.bundled_trusted_root("production"),
        where=path,
    )
    return str(identity), payload_type, payload


def _bundle_material(document: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    if document.get("mediaType") not in BUNDLE_MEDIA_TYPES:
        raise InputError(
            f"{path}: unsupported Sigstore bundle media type {str(document['mediaType'])[:80]}",
            hint="bundle versions 0.1 to 0.3 are read",
        )
    material = document.get("verificationMaterial")
    if not isinstance(material, Mapping):
        raise InputError(f"{path}: the Sigstore bundle has no verificationMaterial object")
    return material


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _joined(problems: list[str], path: str) -> str | None:
    """One line: the problems in order, the file named once."""
    if not problems:
        return None
    first, *rest = problems
    return _one_line(first + "".join("; " + p.removeprefix(f"{path}: ") for p in rest))


def verify_attestation(document: Mapping[str, Any], path: str, trust: EvidenceTrust) -> Verified:
    """Verify one DSSE envelope or Sigstore DSSE bundle (as read by ``jsonio``) under ``trust``.

    Returns a :class:`Verified` whose ``error`` says why not when anything failed;
    raises :class:`InputError` only when ``document`` is not shaped like either.
    """
    material: Mapping[str, Any] | None = None
    if _is_bundle(document):
        material = _bundle_material(document, path)
        if "dsseEnvelope" not in document:
            raise InputError(
                f"{path}: the Sigstore bundle signs a blob, not an attestation",
                hint="check it with the blob it signs (FILE.sigstore.json next to FILE)",
            )
        envelope = _read_envelope(document["dsseEnvelope"], path)
    else:
        envelope = _read_envelope(document, path)
    problems: list[str] = []
    signer: str | None = None
    payload_type, payload = envelope.payload_type, envelope.payload
    try:
        if material is not None and "publicKey" not in material:
            _unsupported_tlog(material, path)
            # the statement is read from the very bytes sigstore verified
            signer, payload_type, payload = _verify_keyless(document, trust, path)
        else:
            signer = _verify_with_keys(envelope, trust, path)
    except VerificationError as exc:
        problems.append(str(exc))
    statement: Statement | None = None
    try:
        statement = _statement(payload_type, payload, path)
    except VerificationError as exc:
        problems.append(str(exc))
    kind = _kind(statement)
    builder = _builder_id(statement) if statement is not None and kind == "provenance" else None
    if statement is not None and kind == "provenance":
        builder_problem = _builder_problem(statement, trust, path)
        if builder_problem:
            problems.append(builder_problem)
    return Verified(path, kind, statement, None, signer, builder, _joined(problems, path))


def _documents(text: str, path: str) -> list[tuple[str, Any]]:
    try:  # one (possibly pretty-printed) document
        return [(path, jsonio.loads(text, what=path))]
    except InputError:
        pass
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if len(lines) < 2:
        jsonio.loads(text, what=path)  # raises the InputError of the whole text
    return [(f"{path} line {n}", jsonio.loads(line, what=f"{path} line {n}")) for n, line in lines]


def verify_attestations(text: str, path: str, trust: EvidenceTrust) -> list[Verified]:
    """Every envelope or bundle of a JSON Lines file (``*.intoto.jsonl``), in line order.

    A file that is one JSON document (even across lines) is one attestation.
    Each result carries ``path`` as given; an error names the file.
    """
    results: list[Verified] = []
    for where, document in _documents(text, path):
        if not sniff_attestation(document):
            raise InputError(f"{where}: not a DSSE envelope or Sigstore bundle")
        results.append(verify_attestation(document, path, trust))
    return results


def _blob_bundle(bundle: Mapping[str, Any], path: str, blob: bytes, trust: EvidenceTrust) -> str:
    """Verify a Sigstore bundle over ``blob``'s bytes (message signature); return the signer."""
    material = _bundle_material(bundle, path)
    if "publicKey" in material:
        signature = bundle.get("messageSignature")
        sig = signature.get("signature") if isinstance(signature, Mapping) else None
        if not isinstance(sig, str):
            raise InputError(f"{path}: the Sigstore bundle has no messageSignature.signature")
        return keyless.verify_cosign_signature(blob, sig.encode(), trust.keys, where=path)
    _unsupported_tlog(material, path)
    if not trust.keyless:
        raise VerificationError(f"{path}: the trust policy's [evidence] pins no keyless identities")
    identity = keyless.verify_sigstore_bundle(
        blob,
        jsonio.canonical_bytes(dict(bundle)),
        identities=trust.keyless,
        trusted_root=trust.trusted_root or keyless.bundled_trusted_root("production"),
        where=path,
    )
    return str(identity)


def _attested_blob(
    bundle: Mapping[str, Any], path: str, blob: bytes, trust: EvidenceTrust
) -> Verified:
    """A DSSE bundle over a blob: the attestation's result, and it must name the blob."""
    digest = digests.sha256_bytes(blob)
    result = replace(verify_attestation(bundle, path, trust), signed_digest=digest)
    if result.statement is None or digest in (d for _, d in result.statement.subjects):
        return result  # an unreadable statement already is an error
    problem = f"{path}: the attestation does not name {digest} as a subject"
    return replace(result, error=_joined([problem, *filter(None, [result.error])], path))


def verify_blob_signature(
    signature: bytes, path: str, blob: bytes, trust: EvidenceTrust
) -> Verified:
    """Verify a signature file over ``blob``: cosign ``sign-blob`` base64, or a Sigstore bundle.

    A bundle holding a DSSE envelope is checked as an attestation (its kind and
    statement are returned) that must name the blob's SHA-256 as a subject;
    otherwise the result's kind is ``signature``.
    """
    digest = digests.sha256_bytes(blob)
    bundle: Any = None
    if signature.lstrip()[:1] == b"{":
        bundle = jsonio.loads(signature, what=path)
        if not _is_bundle(bundle):
            raise InputError(f"{path}: a JSON signature file must be a Sigstore bundle")
        if "dsseEnvelope" in bundle:
            return _attested_blob(bundle, path, blob, trust)
    try:
        if bundle is not None:
            signer = _blob_bundle(bundle, path, blob, trust)
        else:
            signer = keyless.verify_cosign_signature(blob, signature, trust.keys, where=path)
    except VerificationError as exc:
        return Verified(path, "signature", None, digest, None, None, _one_line(str(exc)))
    return Verified(path, "signature", None, digest, signer, None, None)
