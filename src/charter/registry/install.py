"""Pull, verify, then write: what an init container does before a runner starts.

``charter bundle pull REF --trust trust.toml -o DIR/NAME.tar.gz`` runs
:func:`install`: it writes nothing until every check passed, so a directory the
runner reads holds verified bundles or nothing.

1. **pull**: manifest and blob digests checked (:mod:`charter.registry.oci`);
2. **verify** under the trust policy's signers for the layer, with the
   signatures stored next to the bundle (cosign ``.sig`` tag, Sigstore
   referrers) or embedded (:func:`charter.registry.cosign.verify_pulled`);
   nothing in the archive is parsed before;
3. **version check**: the policy's version pin and the accepted-version state
   (no rollback);
4. **stage** the archive, with the Sigstore bundle that signs it for a keyless
   signer, in a private directory next to the output, and verify the staged
   file exactly as the runner does at every refresh
   (:func:`charter.policy.loading.verify_bundle_file`). A bundle signed only in
   the registry (a cosign signature of the manifest, with no signature over the
   archive itself) cannot be re-verified from the file, so it is refused here,
   not later by the runner;
5. **rename** into place, the signature first and the archive last.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from charter.core.errors import InputError, VerificationError
from charter.policy.bundle import VerifiedBundle
from charter.policy.loading import SIDE_SIGSTORE, CheckedBundle, check_verified, verify_bundle_file
from charter.registry import cosign, oci
from charter.trust.policy import LayerTrust
from charter.trust.versions import VersionState


@dataclass(frozen=True)
class Installed:
    """A bundle written after it verified, as the runner will verify it again."""

    pulled: oci.PulledBundle
    checked: CheckedBundle
    output: Path
    #: The Sigstore bundle written next to the archive (keyless signers), if any.
    sidecar: Path | None
    #: Who signed it, as the file alone proves (what the runner will report).
    signer: str


def install(
    reference: oci.Reference,
    trust: LayerTrust,
    output: Path,
    *,
    connection: oci.Connection,
    state: VersionState,
) -> Installed:
    """Pull ``reference``, verify it under ``trust`` and only then write ``output``."""
    if output.is_dir():
        raise InputError(f"{output}: is a directory", hint="-o names the archive to write")
    pulled = oci.pull_bundle(reference, connection=connection)
    found = cosign.fetch_signatures(reference, pulled.manifest_digest, connection=connection)
    verified = cosign.verify_pulled(pulled, found, trust)
    checked = check_verified(verified, trust, state=state)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}."))
    try:
        staged = staging / output.name
        staged.write_bytes(pulled.data)
        local, sidecar = _reverify(staged, trust, found.sigstore, str(pulled.resolved))
        _check_same(verified, local)
        target_sidecar = None
        for old in SIDE_SIGSTORE:  # a stale signature must not sit next to a new archive
            output.with_name(output.name + old).unlink(missing_ok=True)
        if sidecar is not None:
            target_sidecar = output.with_name(output.name + SIDE_SIGSTORE[0])
            os.replace(sidecar, target_sidecar)
        os.replace(staged, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Installed(pulled, checked, output, target_sidecar, local.signer)


def _reverify(
    staged: Path, trust: LayerTrust, sigstore: tuple[bytes, ...], where: str
) -> tuple[VerifiedBundle, Path | None]:
    """The staged archive verified as the runner will verify it: on its own
    (embedded signature) or with one of the registry's Sigstore bundles beside it."""
    failures: list[str] = []
    if trust.keys:
        try:
            return verify_bundle_file(staged, trust), None
        except VerificationError as exc:
            failures.append(exc.message)
    sidecar = staged.with_name(staged.name + SIDE_SIGSTORE[0])
    if trust.keyless and trust.trusted_root is not None:
        for bundle_json in sigstore:
            sidecar.write_bytes(bundle_json)
            try:
                return verify_bundle_file(staged, trust), sidecar
            except VerificationError as exc:
                failures.append(exc.message)
        sidecar.unlink(missing_ok=True)
    raise VerificationError(
        f"{where}: verified in the registry, but the archive carries no signature the "
        f"runner can verify again at a refresh ({'; '.join(failures) or 'none found'})",
        hint="sign the archive itself: `charter bundle build --key` (embedded "
        ".signatures.json) or a Sigstore bundle over it (`bundle push --sigstore-bundle`)",
    )


def _check_same(registry: VerifiedBundle, local: VerifiedBundle) -> None:
    if registry.digest != local.digest or registry.manifest.version != local.manifest.version:
        raise VerificationError(f"{local.source}: the staged archive is not the one verified")


__all__ = ["Installed", "install"]
