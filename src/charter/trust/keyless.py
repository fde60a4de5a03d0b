"""Signatures made outside Charter: Sigstore keyless bundles and cosign blobs.

* **Keyless** — a Sigstore bundle (``FILE.sigstore.json``, as ``cosign sign-blob
  --bundle`` or ``sigstore sign`` write it) is verified with the ``sigstore``
  library against a pinned identity (certificate SAN) and OIDC issuer, using a
  trusted-root *file*. Nothing here refreshes TUF metadata or talks to Rekor:
  the trust root is read from disk and inclusion proofs come from the bundle.
* **cosign key pair** — ``cosign sign-blob --key cosign.key FILE`` prints a
  base64 DER ECDSA-SHA256 signature over the file's bytes; it is checked
  against a pinned ``cosign.pub``.

``sigstore`` is the optional ``charter[keyless]`` extra, and heavy to import:
it is imported inside the functions that verify a keyless signature, so only a
trust policy that pins keyless identities ever loads it (cosign key pairs need
only ``cryptography``). Without the extra, those functions raise a one-line
:class:`ConfigError` saying how to install it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from charter.core import extras, jsonio
from charter.core.errors import ConfigError, InputError, TrustError, VerificationError
from charter.trust import keys

IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"
#: sigstore-python ships the production and staging trusted roots it was
#: released with; Charter reads them as plain files (never through TUF).
_STORE = "sigstore._store"
_PRODUCTION_ROOT = "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev/trusted_root.json"
_STAGING_ROOT = "https%3A%2F%2Ftuf-repo-cdn.sigstage.dev/trusted_root.json"


@dataclass(frozen=True)
class KeylessIdentity:
    """One pinned keyless signer: certificate identity (SAN) and OIDC issuer."""

    identity: str
    issuer: str

    def __str__(self) -> str:
        return f"{self.identity} ({self.issuer})"


def _missing_extra(exc: ImportError) -> ConfigError:
    return extras.missing("keyless signature verification", "sigstore")


def bundled_trusted_root(instance: str = "production") -> Path:
    """Path of the trusted root sigstore-python ships for ``production`` or ``staging``."""
    name = {"production": _PRODUCTION_ROOT, "staging": _STAGING_ROOT}.get(instance)
    if name is None:
        raise ConfigError(f"unknown Sigstore instance {instance!r}", hint="production or staging")
    try:
        return Path(str(resources.files(_STORE).joinpath(name)))
    except ImportError as exc:  # the optional keyless extra is not installed
        raise _missing_extra(exc) from None


def _load_trusted_root(path: Path) -> Any:
    try:  # the optional keyless extra (see the module docstring)
        from sigstore.errors import Error as SigstoreError
        from sigstore.models import TrustedRoot
    except ImportError as exc:
        raise _missing_extra(exc) from None

    try:
        return TrustedRoot.from_file(str(path))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such trusted root file") from exc
    except (SigstoreError, ValueError, OSError) as exc:
        raise ConfigError(f"{path}: not a Sigstore trusted root ({exc})") from exc


def _subject_matches(payload: bytes, artifact_sha256: str) -> bool:
    try:
        statement = jsonio.loads(payload, what="in-toto statement")
    except InputError:
        return False
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    if not isinstance(subjects, list):
        return False
    return any(
        isinstance(s, dict)
        and isinstance(s.get("digest"), dict)
        and s["digest"].get("sha256") == artifact_sha256
        for s in subjects
    )


#: What one pinned identity's check returns: the DSSE (payload type, payload),
#: or None for a bundle over an artifact's bytes.
_Checked = tuple[str, bytes] | None


def _verify_for_identities(
    bundle_json: bytes,
    identities: Sequence[KeylessIdentity],
    trusted_root: Path,
    where: str,
    artifact: bytes | None,
) -> tuple[KeylessIdentity, _Checked]:
    """Try each pinned identity in turn; the first that verifies, and what it verified."""
    try:  # the optional keyless extra (see the module docstring)
        from sigstore.errors import Error as SigstoreError
        from sigstore.errors import VerificationError as SigstoreVerificationError
        from sigstore.models import Bundle
        from sigstore.verify import Verifier
        from sigstore.verify.policy import Identity
    except ImportError as exc:
        raise _missing_extra(exc) from None

    if not identities:
        # Reject by default: an empty allow-list must never mean "anyone".
        raise VerificationError(f"{where}: no keyless identities are pinned")
    root = _load_trusted_root(trusted_root)
    try:
        bundle = Bundle.from_json(bundle_json)
        # the envelope is checked (one non-empty signature) when it is first read
        is_dsse = bundle._dsse_envelope is not None  # noqa: SLF001 - public API has no accessor
    except (SigstoreError, ValueError, KeyError, TypeError) as exc:
        raise VerificationError(f"{where}: not a valid Sigstore bundle ({exc})") from exc
    try:
        verifier = Verifier(trusted_root=root)
    except SigstoreError as exc:
        raise ConfigError(f"{trusted_root}: unusable trusted root ({exc})") from exc
    if artifact is None and not is_dsse:
        raise VerificationError(f"{where}: the Sigstore bundle holds no DSSE envelope")
    failures: list[str] = []
    for pinned in identities:
        policy = Identity(identity=pinned.identity, issuer=pinned.issuer)
        try:
            if is_dsse:
                return pinned, verifier.verify_dsse(bundle, policy)
            verifier.verify_artifact(artifact or b"", bundle, policy)
            return pinned, None
        except SigstoreVerificationError as exc:
            failures.append(f"{pinned}: {exc}")
        except SigstoreError as exc:
            raise VerificationError(f"{where}: Sigstore verification failed ({exc})") from exc
    raise VerificationError(
        f"{where}: the Sigstore bundle does not verify for any pinned identity "
        f"({'; '.join(failures)})",
        hint="check the signer identity, the OIDC issuer and the trusted root",
    )


def verify_sigstore_bundle(
    artifact: bytes,
    bundle_json: bytes,
    *,
    identities: Sequence[KeylessIdentity],
    trusted_root: Path,
    where: str = "artifact",
) -> KeylessIdentity:
    """Verify a Sigstore bundle over ``artifact``; return the identity that matched.

    A DSSE bundle is accepted when its in-toto statement names the artifact's
    SHA-256 as a subject. Raises :class:`VerificationError` on any failure.
    """
    pinned, checked = _verify_for_identities(bundle_json, identities, trusted_root, where, artifact)
    if checked is not None:
        payload_type, payload = checked
        digest = hashlib.sha256(artifact).hexdigest()
        if payload_type != IN_TOTO_PAYLOAD or not _subject_matches(payload, digest):
            raise VerificationError(
                f"{where}: the DSSE statement does not name this artifact's sha256"
            )
    return pinned


def verify_sigstore_dsse(
    bundle_json: bytes,
    *,
    identities: Sequence[KeylessIdentity],
    trusted_root: Path,
    where: str = "attestation",
) -> tuple[KeylessIdentity, str, bytes]:
    """Verify a Sigstore bundle holding a DSSE envelope (an attestation), on its own.

    Returns the identity that matched, the payload type and the payload the
    signature covers; which artifacts the payload names is the caller's
    business. Raises :class:`VerificationError` on any failure.
    """
    pinned, checked = _verify_for_identities(bundle_json, identities, trusted_root, where, None)
    if checked is None:  # unreachable: a bundle without an envelope was refused above
        raise VerificationError(f"{where}: the Sigstore bundle holds no DSSE envelope")
    payload_type, payload = checked
    return pinned, payload_type, payload


def decode_cosign_signature(text: bytes, where: str = "signature") -> bytes:
    try:
        return base64.b64decode(b"".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(f"{where}: not a base64 cosign signature") from exc


def verify_cosign_signature(
    artifact: bytes,
    signature: bytes,
    trusted: Sequence[keys.VerifyingKey],
    *,
    where: str = "artifact",
) -> str:
    """Check a detached ``cosign sign-blob`` signature; return the matching key id."""
    if not trusted:
        raise VerificationError(f"{where}: no public keys are pinned for the cosign signature")
    raw = decode_cosign_signature(signature, where)
    for key in trusted:
        try:
            keys.verify(key, raw, artifact)
        except TrustError:
            continue
        return keys.key_id(key)
    raise VerificationError(
        f"{where}: the cosign signature does not verify with any pinned key",
        hint="sign with `cosign sign-blob --key cosign.key FILE` using a pinned key",
    )


def cosign_sign_blob(artifact: bytes, key: keys.PrivateKey) -> bytes:
    """What ``cosign sign-blob --key`` prints: base64 of the DER signature."""
    return base64.b64encode(keys.sign(key, artifact))


# ---------------------------------------------------------------- cosign images
#: cosign's simple-signing payload (containers-signature(5) JSON, cosign's type).
SIMPLE_SIGNING_TYPE = "cosign container image signature"
#: The in-toto predicate of a cosign v3 image signature (``cosign sign`` with the
#: new bundle format): a DSSE statement whose subject is the manifest digest.
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
MAX_SIMPLE_SIGNING_BYTES = 64 * 1024


def simple_signing_payload(docker_reference: str, manifest_digest: str) -> bytes:
    """The payload ``cosign sign`` signs for the manifest ``manifest_digest``.

    Compact JSON in cosign's field order; ``optional`` is null (no annotations).
    """
    document = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": manifest_digest},
            "type": SIMPLE_SIGNING_TYPE,
        },
        "optional": None,
    }
    return jsonio.canonical_bytes(document)


def signed_manifest_digest(payload: bytes, where: str = "simple-signing payload") -> str:
    """The ``critical.image.docker-manifest-digest`` of a payload (checked for shape).

    Call only on a payload whose signature has verified.
    """
    try:
        document = jsonio.loads_object(payload, what=where)
    except InputError as exc:
        raise VerificationError(f"{where}: not a JSON object ({exc.message})") from None
    critical = document.get("critical")
    if not isinstance(critical, dict) or critical.get("type") != SIMPLE_SIGNING_TYPE:
        raise VerificationError(
            f"{where}: critical.type is not {SIMPLE_SIGNING_TYPE!r}",
            hint="only cosign simple-signing payloads are accepted",
        )
    image = critical.get("image")
    digest = image.get("docker-manifest-digest") if isinstance(image, dict) else None
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        raise VerificationError(f"{where}: critical.image.docker-manifest-digest is missing")
    return digest


def verify_simple_signing(
    payload: bytes,
    signature: bytes,
    manifest_digest: str,
    trusted: Sequence[keys.VerifyingKey],
    *,
    where: str = "image",
) -> str:
    """Check a cosign image signature (``sha256-….sig`` layer); return the key id.

    The base64 ``signature`` must verify over the exact ``payload`` bytes with a
    pinned key, and only then is the payload read: its
    ``docker-manifest-digest`` must be ``manifest_digest`` (a valid signature
    for another manifest is refused). ``docker-reference`` is ignored, as the
    cosign specification says.
    """
    if len(payload) > MAX_SIMPLE_SIGNING_BYTES:
        raise VerificationError(f"{where}: the simple-signing payload is too large")
    kid = verify_cosign_signature(payload, signature, trusted, where=where)
    signed = signed_manifest_digest(payload, f"{where}: simple-signing payload")
    if signed != manifest_digest:
        raise VerificationError(
            f"{where}: the signature is for manifest {signed}, not {manifest_digest}",
            hint="a signature copied from another version does not sign this one",
        )
    return kid


def verify_sigstore_for_subjects(
    bundle_json: bytes,
    artifact: bytes,
    subjects: Sequence[str],
    *,
    identities: Sequence[KeylessIdentity],
    trusted_root: Path,
    where: str = "artifact",
) -> KeylessIdentity:
    """Verify a Sigstore bundle found next to an OCI artifact.

    A message-signature bundle (``cosign sign-blob --bundle``) must sign
    ``artifact``'s bytes; a DSSE bundle (``cosign sign --new-bundle-format``)
    must carry an in-toto statement of predicate type
    :data:`COSIGN_SIGN_PREDICATE` naming one of ``subjects`` (``sha256:…``
    digests: the manifest or the bundle blob). An attestation (SLSA provenance,
    an SBOM…) about the artifact is not a signature of it and is refused.
    """
    pinned, checked = _verify_for_identities(bundle_json, identities, trusted_root, where, artifact)
    if checked is None:
        return pinned
    payload_type, payload = checked
    named = [s.split(":", 1)[1] for s in subjects if s.startswith("sha256:")]
    if payload_type != IN_TOTO_PAYLOAD or not any(_subject_matches(payload, d) for d in named):
        raise VerificationError(
            f"{where}: the DSSE statement names neither this manifest nor this bundle",
            hint="a Sigstore bundle for another artifact does not sign this one",
        )
    predicate = _predicate_type(payload)
    if predicate != COSIGN_SIGN_PREDICATE:
        raise VerificationError(
            f"{where}: the DSSE statement is an attestation ({predicate!r}), not a signature",
            hint=f"an image signature's predicateType is {COSIGN_SIGN_PREDICATE}",
        )
    return pinned


def _predicate_type(payload: bytes) -> str | None:
    try:
        statement = jsonio.loads_object(payload, what="in-toto statement")
    except InputError:
        return None
    kind = statement.get("predicateType")
    return kind if isinstance(kind, str) else None
