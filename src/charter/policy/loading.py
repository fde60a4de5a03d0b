"""Loading signed layers under a trust policy.

:func:`load_layer` is the one way a signed bundle becomes a :class:`Layer`
(:func:`check_bundle` is its first half, for callers that record versions
themselves):
read the archive bytes → verify a signature (a sidecar ``FILE.sigstore.json``
keyless bundle, a sidecar ``FILE.sig`` cosign signature, or the embedded
``.signatures.json``) → check the manifest's layer, the pinned version and the
accepted-version state → only then parse Rego and data → record the version.

The trust policy itself (who may sign which layer) is parsed by
:mod:`charter.trust.policy`. See docs/design.md, 'Trust'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from charter.core.digests import sha256_bytes
from charter.core.errors import RollbackError, VerificationError
from charter.policy.bundle import (
    ArchiveLimits,
    Layer,
    VerifiedBundle,
    accept_files,
    files_digest,
    read_archive,
    read_tarball_file,
    verify_tarball,
)
from charter.policy.release import shipped_constitution_bundle
from charter.policy.stack import Stack, load_stack
from charter.trust import keyless
from charter.trust.policy import LayerTrust, TrustPolicy
from charter.trust.versions import VersionState, layer_key

SIDE_SIGSTORE = (".sigstore.json", ".sigstore")
SIDE_COSIGN = ".sig"


def _sidecar(path: Path, suffixes: Sequence[str]) -> Path | None:
    for suffix in suffixes:
        candidate = path.with_name(path.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def verify_bundle_file(
    path: str | Path, trust: LayerTrust, *, limits: ArchiveLimits | None = None
) -> VerifiedBundle:
    """Verify a bundle file with whichever signature the layer's signers made.

    Nothing in the archive is parsed until a signature has covered it.
    """
    p = Path(path)
    if p.is_dir():
        raise VerificationError(
            f"{p}: is an unsigned bundle directory, but a trust policy is in force",
            hint="build a signed bundle with `charter bundle build DIR -o FILE.tar.gz --key KEY`",
        )
    data = read_tarball_file(p, limits)
    source = str(p)
    failures: list[VerificationError] = []
    # Only a layer with keyless signers looks for (and imports sigstore to check) a sidecar.
    sigstore_file = _sidecar(p, SIDE_SIGSTORE) if trust.keyless else None
    if sigstore_file is not None and trust.trusted_root is not None:
        try:
            who = keyless.verify_sigstore_bundle(
                data,
                sigstore_file.read_bytes(),
                identities=trust.keyless,
                trusted_root=trust.trusted_root,
                where=source,
            )
        except VerificationError as exc:
            failures.append(exc)
        else:
            files = read_archive(data, limits=limits, source=source)
            return accept_files(
                files,
                layer=trust.layer,
                digest=sha256_bytes(data),
                signer=str(who),
                source=source,
            )
    cosign_file = _sidecar(p, (SIDE_COSIGN,)) if trust.keys else None
    if cosign_file is not None:
        try:
            kid = keyless.verify_cosign_signature(
                data, cosign_file.read_bytes(), trust.keys, where=source
            )
        except VerificationError as exc:
            failures.append(exc)
        else:
            files = read_archive(data, limits=limits, source=source)
            return accept_files(
                files, layer=trust.layer, digest=sha256_bytes(data), signer=kid, source=source
            )
    if trust.keys:
        try:
            return verify_tarball(data, trust.keys, layer=trust.layer, source=source, limits=limits)
        except VerificationError as exc:
            failures.append(exc)
    if not failures:
        raise VerificationError(
            f"{source}: no signature found for the {trust.layer} layer",
            hint=f"keyless signers need {p.name}.sigstore.json next to the bundle",
        )
    if len(failures) == 1:
        raise failures[0]
    raise VerificationError(
        "; ".join(f.message for f in failures), hint="no signature verified with a pinned signer"
    ) from failures[-1]


@dataclass(frozen=True)
class CheckedBundle:
    """A bundle whose signature, version pin and version transition all passed.

    Nothing in it has been parsed and nothing has been recorded yet: parse with
    ``verified.to_layer()``, then :meth:`accept` once the layer is in use.
    """

    verified: VerifiedBundle
    key: str
    version: str
    content_digest: str

    def accept(self, state: VersionState, *, allow_major: bool = False) -> None:
        state.accept(self.key, self.version, self.content_digest, allow_major=allow_major)


def check_bundle(
    path: str | Path,
    trust: LayerTrust,
    *,
    state: VersionState,
    allow_major: bool = False,
    limits: ArchiveLimits | None = None,
    pin_hint: str | None = None,
) -> CheckedBundle:
    """Verify one signed layer and check its version; parse nothing, record nothing.

    The shared first half of :func:`load_layer` for callers (the runner) that
    decide themselves when a version counts as accepted.
    """
    verified = verify_bundle_file(path, trust, limits=limits)
    return check_verified(verified, trust, state=state, allow_major=allow_major, pin_hint=pin_hint)


def check_verified(
    verified: VerifiedBundle,
    trust: LayerTrust,
    *,
    state: VersionState,
    allow_major: bool = False,
    pin_hint: str | None = None,
) -> CheckedBundle:
    """The version checks of :func:`check_bundle` for a bundle already verified."""
    manifest = verified.manifest
    if trust.version is not None and manifest.version != trust.version:
        raise RollbackError(
            f"{verified.source}: {trust.layer} version {manifest.version} is not the pinned "
            f"{trust.version}",
            hint=pin_hint or f"update layers.{trust.layer}.version to move on purpose",
        )
    key = layer_key(manifest.layer, manifest.name)
    content = files_digest(verified.files)
    state.check(key, manifest.version, content, allow_major=allow_major)
    return CheckedBundle(verified, key, manifest.version, content)


def load_layer(
    path: str | Path,
    policy: TrustPolicy,
    expected_layer: str,
    *,
    state: VersionState | None = None,
    allow_major: bool = False,
    record: bool = True,
    limits: ArchiveLimits | None = None,
) -> Layer:
    """Verify, version-check, then parse one signed layer; record its version.

    ``state`` defaults to the policy's ``state_dir`` or :func:`default_state_dir`.
    With ``record=False`` the version is checked but not recorded (inspection).
    """
    store = state if state is not None else VersionState(policy.state_dir)
    checked = check_bundle(
        path,
        policy.for_layer(expected_layer),
        state=store,
        allow_major=allow_major,
        limits=limits,
        pin_hint=f"update layers.{expected_layer}.version in {policy.source} to move on purpose",
    )
    layer = checked.verified.to_layer()
    if record:
        checked.accept(store, allow_major=allow_major)
    return layer


def load_trusted_stack(
    policy: TrustPolicy | None,
    *,
    constitution: str | Path | None = None,
    packs: Sequence[str | Path] = (),
    overlay: str | Path | None = None,
    state: VersionState | None = None,
    allow_major: bool = False,
    record: bool = True,
) -> Stack:
    """Compose a stack whose archives are verified under ``policy``.

    Without a policy, directories load unsigned (authoring) and an archive is
    refused, since there is nothing to check it against. With a policy, every
    given layer must be a signed archive; a policy that pins the constitution
    and is given none verifies the shipped, release-signed bundle under its own
    constitution signers (so it loads when they include ``charter:release``
    and is refused when the policy trusts only another signer).
    """

    def one(item: str | Path, kind: str) -> Layer | str | Path:
        path = Path(item)
        if policy is None:
            if path.is_file():
                raise VerificationError(
                    f"{path}: a bundle archive needs a trust policy to be verified",
                    hint="pass --trust POLICY.toml naming the keys allowed to sign it",
                )
            return item
        return load_layer(path, policy, kind, state=state, allow_major=allow_major, record=record)

    top: Layer | str | Path | None = (
        one(constitution, "constitution") if constitution is not None else None
    )
    if policy is not None and constitution is None and "constitution" in policy.layers:
        try:
            top = one(shipped_constitution_bundle(), "constitution")
        except VerificationError as exc:
            raise VerificationError(
                f"{policy.source}: the shipped constitution is not signed by a constitution "
                f"signer this policy trusts ({exc.message})",
                hint="pass --constitution-bundle FILE.tar.gz signed by your key, or trust the "
                'release key: keys = ["charter:release"]',
            ) from exc
    return load_stack(
        constitution=top,
        packs=[one(p, "pack") for p in packs],
        overlay=one(overlay, "overlay") if overlay is not None else None,
    )
