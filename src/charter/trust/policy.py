"""The trust policy: who may sign each layer, and loading layers under it.

A trust policy is a TOML file::

    state_dir = "/var/lib/charter"            # optional; accepted-version record

    [layers.constitution]
    keys = ["keys/constitution.pub"]          # SPKI PEM (Ed25519, P-256, cosign.pub)
    version = "1.2.0"                         # optional pin: exactly this version
    trusted_root = "production"               # keyless: "production", "staging" or a file
    keyless = [{ identity = "release@acme.example", issuer = "https://accounts.google.com" }]

    [layers.pack]
    keys = ["keys/packs.pub"]

    [layers.overlay]
    keys = ["keys/acme-overlay.pub"]

Relative paths are relative to the policy file. Each layer has its own
signers, so an overlay key can never sign a constitution. A layer the policy
does not mention cannot be loaded from a signed bundle at all (reject by
default), and with a policy in force unsigned directories are refused.

:func:`load_layer` is the one way a signed bundle becomes a :class:`Layer`
(:func:`check_bundle` is its first half, for callers that record versions
themselves):
read the archive bytes → verify a signature (a sidecar ``FILE.sigstore.json``
keyless bundle, a sidecar ``FILE.sig`` cosign signature, or the embedded
``.signatures.json``) → check the manifest's layer, the pinned version and the
accepted-version state → only then parse Rego and data → record the version.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter.core.errors import ConfigError, RollbackError, VerificationError
from charter.policy.bundle import (
    LAYER_KINDS,
    ArchiveLimits,
    Layer,
    VerifiedBundle,
    accept_files,
    files_digest,
    read_archive,
    read_tarball_file,
    tarball_digest,
    verify_tarball,
)
from charter.policy.stack import Stack, load_stack
from charter.trust import keyless, keys
from charter.trust.versions import VersionState, layer_key

_TOP_KEYS = {"layers", "state_dir"}
_LAYER_KEYS = {"keys", "keyless", "trusted_root", "version"}
SIDE_SIGSTORE = (".sigstore.json", ".sigstore")
SIDE_COSIGN = ".sig"


@dataclass(frozen=True)
class LayerTrust:
    """The signers (and optional version pin) one layer accepts."""

    layer: str
    keys: tuple[keys.PublicKey, ...]
    keyless: tuple[keyless.KeylessIdentity, ...]
    trusted_root: Path
    version: str | None = None

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(keys.key_id(k) for k in self.keys)


@dataclass(frozen=True)
class TrustPolicy:
    source: str
    layers: Mapping[str, LayerTrust]
    state_dir: Path | None = None

    def for_layer(self, layer: str) -> LayerTrust:
        found = self.layers.get(layer)
        if found is None:
            raise VerificationError(
                f"{self.source}: the trust policy pins no signer for the {layer} layer",
                hint=f"add a [layers.{layer}] table with keys or keyless identities",
            )
        return found


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _layer_trust(name: str, raw: Any, base: Path, where: str) -> LayerTrust:
    if name not in LAYER_KINDS:
        raise ConfigError(f"{where}: unknown layer [layers.{name}]", hint=", ".join(LAYER_KINDS))
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [layers.{name}] must be a table")
    unknown = set(raw) - _LAYER_KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key layers.{name}.{sorted(unknown)[0]}",
            hint=f"known keys: {', '.join(sorted(_LAYER_KEYS))}",
        )
    key_paths = raw.get("keys", [])
    if not isinstance(key_paths, list) or not all(isinstance(k, str) for k in key_paths):
        raise ConfigError(f"{where}: layers.{name}.keys must be a list of file paths")
    public = tuple(keys.load_public(_resolve(base, k)) for k in key_paths)
    identities: list[keyless.KeylessIdentity] = []
    for item in raw.get("keyless", []):
        if (
            not isinstance(item, dict)
            or set(item) != {"identity", "issuer"}
            or not all(isinstance(v, str) and v for v in item.values())
        ):
            raise ConfigError(
                f"{where}: each layers.{name}.keyless entry needs exactly identity and issuer",
                hint='e.g. { identity = "release@acme.example", issuer = "https://…" }',
            )
        identities.append(keyless.KeylessIdentity(item["identity"], item["issuer"]))
    if not public and not identities:
        raise ConfigError(
            f"{where}: [layers.{name}] pins no keys and no keyless identities",
            hint="an empty signer list would trust nobody; add keys = [...] or keyless = [...]",
        )
    root_value = raw.get("trusted_root", "production")
    if not isinstance(root_value, str):
        raise ConfigError(f"{where}: layers.{name}.trusted_root must be a string")
    root = (
        keyless.bundled_trusted_root(root_value)
        if root_value in ("production", "staging")
        else _resolve(base, root_value)
    )
    version = raw.get("version")
    if version is not None and not isinstance(version, str):
        raise ConfigError(f'{where}: layers.{name}.version must be a string like "1.2.0"')
    return LayerTrust(name, public, tuple(identities), root, version)


def parse_policy(
    text: str, *, source: str = "<trust policy>", base: Path | None = None
) -> TrustPolicy:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: malformed TOML: {exc}") from exc
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {sorted(unknown)[0]}",
            hint=f"known keys: {', '.join(sorted(_TOP_KEYS))}",
        )
    layers_raw = raw.get("layers", {})
    if not isinstance(layers_raw, dict) or not layers_raw:
        raise ConfigError(f"{source}: the trust policy has no [layers.*] tables")
    root = base if base is not None else Path.cwd()
    layers = {name: _layer_trust(name, value, root, source) for name, value in layers_raw.items()}
    state = raw.get("state_dir")
    if state is not None and not isinstance(state, str):
        raise ConfigError(f"{source}: state_dir must be a path string")
    return TrustPolicy(source, layers, _resolve(root, state) if state else None)


def load_policy(path: str | Path) -> TrustPolicy:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such trust policy file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the trust policy ({exc})") from exc
    return parse_policy(text, source=str(p), base=p.parent)


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
    sigstore_file = _sidecar(p, SIDE_SIGSTORE) if trust.keyless else None
    if sigstore_file is not None:
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
                digest=tarball_digest(data),
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
                files, layer=trust.layer, digest=tarball_digest(data), signer=kid, source=source
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
    given layer must be a signed archive, and a policy that pins the
    constitution requires one to be given (the shipped one is not signed).
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

    if policy is not None and constitution is None and "constitution" in policy.layers:
        raise VerificationError(
            f"{policy.source}: the trust policy pins the constitution, but no signed "
            "constitution bundle was given",
            hint="pass --constitution-bundle FILE.tar.gz",
        )
    return load_stack(
        constitution=one(constitution, "constitution") if constitution is not None else None,
        packs=[one(p, "pack") for p in packs],
        overlay=one(overlay, "overlay") if overlay is not None else None,
    )
