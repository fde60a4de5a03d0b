"""Signatures in the registry, in cosign's layout, and their verification.

Two published layouts, so that ``cosign verify`` finds what Charter writes and
Charter verifies what cosign writes:

* **Key signatures** (cosign ``SIGNATURE_SPEC.md``, tag-based discovery): the
  tag ``sha256-<hex>.sig`` next to the bundle holds an OCI image manifest whose
  layers are simple-signing payloads
  (``application/vnd.dev.cosign.simplesigning.v1+json``) naming the bundle
  manifest's digest in ``critical.image.docker-manifest-digest``; each layer's
  annotation ``dev.cosignproject.cosign/signature`` is the base64 signature
  over the payload's exact bytes. ``cosign verify --key cosign.pub
  --insecure-ignore-tlog=true REPO@DIGEST`` checks the same objects.
* **Sigstore bundles** (keyless): an OCI 1.1 *referrer* — an image manifest
  with ``artifactType`` ``application/vnd.dev.sigstore.bundle.v0.3+json``, the
  empty config, one layer holding the bundle JSON and ``subject`` the bundle
  manifest — found through the referrers API
  (``GET /v2/REPO/referrers/DIGEST``) or, on registries without it, through the
  referrers tag schema (tag ``sha256-<hex>`` → an image index listing them).

Nothing fetched here is trusted: every blob is digest-checked on the way in,
every signature is checked against the pinned signers by
:mod:`charter.trust.keyless`, a referrer whose ``subject`` is another digest is
ignored, and an unverifiable signature never counts.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from charter.core import jsonio
from charter.core.digests import sha256_bytes
from charter.core.errors import InputError, RegistryError, VerificationError
from charter.policy.bundle import (
    SIGNATURES,
    ArchiveLimits,
    VerifiedBundle,
    accept_files,
    read_archive,
    verify_tarball,
)
from charter.registry.oci import (
    MANIFEST_MEDIA_TYPE,
    Connection,
    OciClient,
    PulledBundle,
    Reference,
)
from charter.trust import keyless, keys
from charter.trust.policy import LayerTrust

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIGSTORE_BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
IMAGE_CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_BLOB = b"{}"
#: At most this many signatures of each kind are looked at (a registry may list more).
MAX_SIGNATURES = 16
MAX_SIGSTORE_BUNDLE_BYTES = 1024 * 1024


def signature_tag(manifest_digest: str) -> str:
    """cosign's tag for the signatures of ``manifest_digest``: ``sha256-<hex>.sig``."""
    return manifest_digest.replace(":", "-", 1) + ".sig"


def referrers_tag(manifest_digest: str) -> str:
    """The OCI 1.1 referrers tag schema fallback: ``sha256-<hex>``."""
    return manifest_digest.replace(":", "-", 1)


def docker_reference(reference: Reference) -> str:
    """``HOST/REPO``: what cosign writes as ``critical.identity.docker-reference``."""
    return f"{reference.registry}/{reference.repository}"


@dataclass(frozen=True)
class SimpleSignature:
    payload: bytes
    signature: bytes


@dataclass(frozen=True)
class OciSignatures:
    """What the registry holds next to one manifest (nothing verified yet)."""

    manifest_digest: str
    simple: tuple[SimpleSignature, ...] = ()
    sigstore: tuple[bytes, ...] = ()
    #: Objects found but ignored (wrong subject, malformed), for error messages.
    ignored: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest_digest": self.manifest_digest,
            "cosign_signatures": len(self.simple),
            "sigstore_bundles": len(self.sigstore),
            "ignored": list(self.ignored),
        }


# ------------------------------------------------------------------ objects
def _image_config(layer_digests: Sequence[str]) -> bytes:
    """The config cosign gives a signature image (empty platform, one diff id per layer)."""
    return jsonio.canonical_bytes(
        {
            "architecture": "",
            "config": {},
            "os": "",
            "rootfs": {"diff_ids": list(layer_digests), "type": "layers"},
        }
    )


def signature_manifest(layers: Sequence[Mapping[str, Any]]) -> tuple[bytes, bytes]:
    """The config blob and image manifest of a ``.sig`` tag holding ``layers``."""
    config = _image_config([str(x["digest"]) for x in layers])
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": IMAGE_CONFIG_MEDIA_TYPE,
            "digest": sha256_bytes(config),
            "size": len(config),
        },
        "layers": list(layers),
    }
    return config, jsonio.canonical_bytes(manifest)


def simple_signing_layer(payload: bytes, signature: bytes) -> dict[str, Any]:
    return {
        "mediaType": SIMPLE_SIGNING_MEDIA_TYPE,
        "digest": sha256_bytes(payload),
        "size": len(payload),
        "annotations": {SIGNATURE_ANNOTATION: signature.decode("ascii")},
    }


def _bundle_annotations(bundle_json: bytes) -> dict[str, str]:
    """cosign's referrer annotations: what the bundle holds (and, for DSSE, its predicate)."""
    try:
        document = jsonio.loads_object(bundle_json, what="the Sigstore bundle")
    except InputError as exc:
        raise RegistryError(f"not a Sigstore bundle ({exc.message})") from None
    if isinstance(document.get("messageSignature"), dict):
        return {"dev.sigstore.bundle.content": "message-signature"}
    envelope = document.get("dsseEnvelope")
    if not isinstance(envelope, dict):
        raise RegistryError("not a Sigstore bundle: no messageSignature or dsseEnvelope")
    notes = {"dev.sigstore.bundle.content": "dsse-envelope"}
    try:
        statement = jsonio.loads_object(
            base64.b64decode(str(envelope.get("payload", "")), validate=True), what="statement"
        )
    except (InputError, ValueError):
        return notes
    if isinstance(statement.get("predicateType"), str):
        notes["dev.sigstore.bundle.predicateType"] = statement["predicateType"]
    return notes


def referrer_manifest(subject: Mapping[str, Any], bundle_json: bytes) -> bytes:
    """An OCI 1.1 artifact manifest carrying a Sigstore bundle for ``subject``."""
    manifest = {
        "annotations": _bundle_annotations(bundle_json),
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": SIGSTORE_BUNDLE_MEDIA_TYPE,
        "config": {
            "mediaType": EMPTY_MEDIA_TYPE,
            "digest": sha256_bytes(EMPTY_BLOB),
            "size": len(EMPTY_BLOB),
        },
        "layers": [
            {
                "mediaType": SIGSTORE_BUNDLE_MEDIA_TYPE,
                "digest": sha256_bytes(bundle_json),
                "size": len(bundle_json),
            }
        ],
        "subject": dict(subject),
    }
    return jsonio.canonical_bytes(manifest)


# ------------------------------------------------------------------ writing
def _loads(body: bytes, what: str) -> dict[str, Any]:
    try:
        return jsonio.loads_object(body, what=what)
    except InputError as exc:
        raise RegistryError(f"{what} is not a JSON object ({exc.message})") from None


def _subject(client: OciClient, session: httpx.Client, digest: str) -> dict[str, Any]:
    found = client.get_manifest(session, digest, [MANIFEST_MEDIA_TYPE])
    if found is None:
        raise RegistryError(f"{client.reference}: no manifest {digest} to sign")
    body, _ = found
    return {"mediaType": MANIFEST_MEDIA_TYPE, "digest": digest, "size": len(body)}


def sign_manifest(client: OciClient, manifest_digest: str, key: keys.PrivateKey) -> tuple[str, str]:
    """Sign ``manifest_digest`` as ``cosign sign --key`` does; (tag, signature manifest digest).

    An existing ``.sig`` manifest keeps its layers (several signers may sign
    one bundle); the same payload and signature are not added twice.
    """
    tag = signature_tag(manifest_digest)
    payload = keyless.simple_signing_payload(docker_reference(client.reference), manifest_digest)
    signature = keyless.cosign_sign_blob(payload, key)
    layer = simple_signing_layer(payload, signature)
    with client.open() as session:
        _subject(client, session, manifest_digest)
        layers: list[dict[str, Any]] = []
        existing = client.get_manifest(session, tag, [MANIFEST_MEDIA_TYPE])
        if existing is not None:
            old = _loads(existing[0], f"{client.reference}: {tag}")
            layers = [x for x in old.get("layers") or [] if isinstance(x, dict)]
        if layer not in layers:
            layers.append(layer)
        config, body = signature_manifest(layers)
        client.upload_blob(session, payload)
        client.upload_blob(session, config)
        digest = client.put_manifest(session, tag, body, MANIFEST_MEDIA_TYPE)
    return tag, digest


def attach_sigstore_bundle(client: OciClient, manifest_digest: str, bundle_json: bytes) -> str:
    """Store a Sigstore bundle as a referrer of ``manifest_digest``; its manifest digest.

    The referrer is pushed by digest. When the registry has no referrers API
    the referrers tag schema index (tag ``sha256-<hex>``) is updated too.
    """
    if len(bundle_json) > MAX_SIGSTORE_BUNDLE_BYTES:
        raise RegistryError("the Sigstore bundle is too large to attach")
    with client.open() as session:
        subject = _subject(client, session, manifest_digest)
        body = referrer_manifest(subject, bundle_json)
        client.upload_blob(session, EMPTY_BLOB)
        client.upload_blob(session, bundle_json)
        digest = sha256_bytes(body)
        client.put_manifest(session, digest, body, MANIFEST_MEDIA_TYPE)
        if _referrers_api(client, session, manifest_digest) is None:
            _add_to_referrers_tag(client, session, manifest_digest, digest, len(body))
    return digest


def _add_to_referrers_tag(
    client: OciClient, session: httpx.Client, subject: str, digest: str, size: int
) -> None:
    tag = referrers_tag(subject)
    manifests: list[dict[str, Any]] = []
    existing = client.get_manifest(session, tag, [INDEX_MEDIA_TYPE])
    if existing is not None:
        old = _loads(existing[0], f"{client.reference}: {tag}")
        manifests = [m for m in old.get("manifests") or [] if isinstance(m, dict)]
    entry = {
        "mediaType": MANIFEST_MEDIA_TYPE,
        "digest": digest,
        "size": size,
        "artifactType": SIGSTORE_BUNDLE_MEDIA_TYPE,
    }
    if any(m.get("digest") == digest for m in manifests):
        return
    manifests.append(entry)
    index = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": manifests}
    client.put_manifest(session, tag, jsonio.canonical_bytes(index), INDEX_MEDIA_TYPE)


# ------------------------------------------------------------------ reading
def _referrers_api(
    client: OciClient, session: httpx.Client, subject: str
) -> list[dict[str, Any]] | None:
    """The referrers API answer, or None when the registry does not implement it."""
    found = client.get_referrers(session, subject)
    if found is None:
        return None
    index = _loads(found, f"{client.reference}: referrers of {subject}")
    if index.get("mediaType") not in (None, INDEX_MEDIA_TYPE):
        return None
    return [m for m in index.get("manifests") or [] if isinstance(m, dict)]


def _referrer_descriptors(
    client: OciClient, session: httpx.Client, subject: str
) -> list[dict[str, Any]]:
    listed = _referrers_api(client, session, subject)
    if listed is not None:
        return listed
    fallback = client.get_manifest(session, referrers_tag(subject), [INDEX_MEDIA_TYPE])
    if fallback is None:
        return []
    index = _loads(fallback[0], f"{client.reference}: {referrers_tag(subject)}")
    return [m for m in index.get("manifests") or [] if isinstance(m, dict)]


def _simple_signatures(
    client: OciClient, session: httpx.Client, manifest_digest: str, ignored: list[str]
) -> list[SimpleSignature]:
    tag = signature_tag(manifest_digest)
    found = client.get_manifest(session, tag, [MANIFEST_MEDIA_TYPE])
    if found is None:
        return []
    manifest = _loads(found[0], f"{client.reference}: {tag}")
    out: list[SimpleSignature] = []
    for layer in (manifest.get("layers") or [])[:MAX_SIGNATURES]:
        if not isinstance(layer, dict) or layer.get("mediaType") != SIMPLE_SIGNING_MEDIA_TYPE:
            ignored.append(f"{tag}: a layer that is not a simple-signing payload")
            continue
        notes = layer.get("annotations")
        signature = notes.get(SIGNATURE_ANNOTATION) if isinstance(notes, dict) else None
        if not isinstance(signature, str) or not signature:
            ignored.append(f"{tag}: a payload without {SIGNATURE_ANNOTATION}")
            continue
        payload = client.get_blob(session, layer, keyless.MAX_SIMPLE_SIGNING_BYTES)
        out.append(SimpleSignature(payload, signature.encode("ascii", "replace")))
    return out


def _sigstore_bundles(
    client: OciClient, session: httpx.Client, manifest_digest: str, ignored: list[str]
) -> list[bytes]:
    out: list[bytes] = []
    descriptors = _referrer_descriptors(client, session, manifest_digest)
    wanted = [d for d in descriptors if d.get("artifactType") == SIGSTORE_BUNDLE_MEDIA_TYPE]
    for descriptor in wanted[:MAX_SIGNATURES]:
        digest = descriptor.get("digest")
        if not isinstance(digest, str) or not digest.startswith("sha256:"):
            continue
        found = client.get_manifest(session, digest, [MANIFEST_MEDIA_TYPE])
        if found is None:
            ignored.append(f"referrer {digest}: listed but absent")
            continue
        manifest = _loads(found[0], f"{client.reference}: referrer {digest}")
        subject = manifest.get("subject")
        if not isinstance(subject, dict) or subject.get("digest") != manifest_digest:
            ignored.append(f"referrer {digest}: its subject is not {manifest_digest}")
            continue
        layers = [
            x
            for x in manifest.get("layers") or []
            if isinstance(x, dict) and x.get("mediaType") == SIGSTORE_BUNDLE_MEDIA_TYPE
        ]
        if len(layers) != 1:
            ignored.append(f"referrer {digest}: not exactly one Sigstore bundle layer")
            continue
        out.append(client.get_blob(session, layers[0], MAX_SIGSTORE_BUNDLE_BYTES))
    return out


def fetch_signatures(
    reference: str | Reference,
    manifest_digest: str,
    *,
    connection: Connection | None = None,
) -> OciSignatures:
    """Every cosign signature and Sigstore bundle stored for ``manifest_digest``."""
    ref = reference if isinstance(reference, Reference) else Reference.parse(reference)
    client = OciClient(ref, connection=connection)
    ignored: list[str] = []
    try:
        with client.open() as session:
            simple = _simple_signatures(client, session, manifest_digest, ignored)
            bundles = _sigstore_bundles(client, session, manifest_digest, ignored)
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistryError(f"{ref}: unexpected registry answer ({exc})") from exc
    return OciSignatures(manifest_digest, tuple(simple), tuple(bundles), tuple(ignored))


# ------------------------------------------------------------------ verifying
def _accept(
    pulled: PulledBundle, trust: LayerTrust, signer: str, limits: ArchiveLimits | None
) -> VerifiedBundle:
    source = str(pulled.resolved)
    files = read_archive(pulled.data, limits=limits, source=source)
    return accept_files(
        files, layer=trust.layer, digest=sha256_bytes(pulled.data), signer=signer, source=source
    )


def verify_pulled(
    pulled: PulledBundle,
    signatures: OciSignatures,
    trust: LayerTrust,
    *,
    limits: ArchiveLimits | None = None,
) -> VerifiedBundle:
    """Verify a pulled bundle with whichever signature its pinned signers made.

    In order: a Sigstore bundle (referrer) for a pinned keyless identity; a
    cosign ``.sig`` signature by a pinned key over a payload naming *this*
    manifest digest; the bundle's own ``.signatures.json``. The manifest digest
    binds the blob (checked on pull), so a signed manifest signs the bundle.
    Nothing in the archive is parsed before one of them verified.
    """
    source = str(pulled.resolved)
    if signatures.manifest_digest != pulled.manifest_digest:
        raise VerificationError(f"{source}: the signatures were fetched for another manifest")
    failures: list[str] = []
    if trust.keyless and trust.trusted_root is not None:
        for bundle_json in signatures.sigstore:
            try:
                who = keyless.verify_sigstore_for_subjects(
                    bundle_json,
                    pulled.data,
                    [pulled.manifest_digest, pulled.blob_digest],
                    identities=trust.keyless,
                    trusted_root=trust.trusted_root,
                    where=source,
                )
            except VerificationError as exc:
                failures.append(exc.message)
            else:
                return _accept(pulled, trust, str(who), limits)
    if trust.keys:
        for item in signatures.simple:
            try:
                kid = keyless.verify_simple_signing(
                    item.payload,
                    item.signature,
                    pulled.manifest_digest,
                    trust.keys,
                    where=f"{source} ({signature_tag(pulled.manifest_digest)})",
                )
            except VerificationError as exc:
                failures.append(exc.message)
            else:
                return _accept(pulled, trust, kid, limits)
        try:
            return verify_tarball(
                pulled.data, trust.keys, layer=trust.layer, source=source, limits=limits
            )
        except VerificationError as exc:
            unsigned = SIGNATURES in exc.message and "not signed" in exc.message
            if not (unsigned and not signatures.simple and not signatures.sigstore):
                failures.append(exc.message)
    if not failures:
        raise VerificationError(
            f"{source}: no signature found for the {trust.layer} layer (no cosign "
            f"{signature_tag(pulled.manifest_digest)[:15]}….sig tag, no Sigstore referrer "
            "for a pinned signer, no .signatures.json)",
            hint="sign it in the registry (charter bundle push --sign-key / "
            "--sigstore-bundle) or embed .signatures.json",
        )
    raise VerificationError(
        f"{source}: no signature verified with a pinned signer: " + "; ".join(failures),
        hint="check the pinned keys / keyless identities for this layer",
    )
