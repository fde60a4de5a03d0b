"""The trust policy: who may sign each layer (a TOML file).

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

    [evidence]                                # who may sign CI evidence (--evidence DIR)
    keys = ["keys/cosign.pub"]                # Ed25519, ECDSA P-256 or RSA >= 2048 bits
    keyless = [{ identity = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0",
                 issuer = "https://token.actions.githubusercontent.com" }]
    trusted_root = "production"               # as for layers
    builders = ["https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v*"]

Relative paths are relative to the policy file; the key name ``charter:release``
is the project's release public key shipped in the package (the signer of the
shipped constitution and packs, ``charter/release/``), so the shipped trust
policy is ``keys = ["charter:release"]`` and trusting your own signer instead is
one line: ``keys = ["keys/constitution.pub"]``. Each layer has its own
signers, so an overlay key can never sign a constitution. A layer the policy
does not mention cannot be loaded from a signed bundle at all (reject by
default), and with a policy in force unsigned directories are refused.

``[evidence]`` is separate from the layers: a key trusted for evidence signs
attestations and SBOMs, never a layer, and the reverse. ``builders`` lists the
SLSA builder ids a provenance attestation may name (``*`` matches any run of
characters; nothing else is special). A policy without ``[evidence]`` trusts
no evidence at all.

This module only parses the policy; :mod:`charter.policy.loading` loads signed
layers under it. See docs/design.md, 'Trust'.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from charter.core.errors import ConfigError, VerificationError
from charter.trust import keyless, keys

#: The kinds of layer, top (strictest) first; each is also a signing scope.
LAYER_KINDS = ("constitution", "pack", "overlay")
_TOP_KEYS = {"layers", "state_dir", "evidence"}
_LAYER_KEYS = {"keys", "keyless", "trusted_root", "version"}
_EVIDENCE_KEYS = {"keys", "keyless", "trusted_root", "builders"}


@dataclass(frozen=True)
class LayerTrust:
    """The signers (and optional version pin) one layer accepts."""

    layer: str
    keys: tuple[keys.PublicKey, ...]
    keyless: tuple[keyless.KeylessIdentity, ...]
    #: The Sigstore trusted root for the keyless identities (None without any).
    trusted_root: Path | None
    version: str | None = None
    #: The files ``keys`` were read from (an agent must never write them).
    key_files: tuple[Path, ...] = ()

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(keys.key_id(k) for k in self.keys)


@dataclass(frozen=True)
class EvidenceTrust:
    """Who may sign CI evidence (attestations, SBOMs, blob signatures); empty = nobody."""

    keys: tuple[keys.VerifyingKey, ...] = ()
    keyless: tuple[keyless.KeylessIdentity, ...] = ()
    #: The Sigstore trusted root for the keyless identities (None without any).
    trusted_root: Path | None = None
    #: Allowed SLSA builder ids; ``*`` matches any run of characters.
    builders: tuple[str, ...] = ()
    key_files: tuple[Path, ...] = ()

    def builder_allowed(self, builder_id: str) -> bool:
        return any(_glob_match(pattern, builder_id) for pattern in self.builders)


def _glob_match(pattern: str, text: str) -> bool:
    """``*`` matches any run of characters (``/`` too); every other character is literal."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, text, flags=re.DOTALL) is not None


@dataclass(frozen=True)
class TrustPolicy:
    source: str
    layers: Mapping[str, LayerTrust]
    state_dir: Path | None = None
    evidence: EvidenceTrust = EvidenceTrust()

    def for_layer(self, layer: str) -> LayerTrust:
        found = self.layers.get(layer)
        if found is None:
            raise VerificationError(
                f"{self.source}: the trust policy pins no signer for the {layer} layer",
                hint=f"add a [layers.{layer}] table with keys or keyless identities",
            )
        return found


#: The key name that means the release public key shipped in the package.
RELEASE_KEY_NAME = "charter:release"


def release_key_file() -> Path:
    """The project's release public key, as shipped in the package."""
    return Path(str(resources.files("charter").joinpath("release/charter-release.pub")))


def _key_path(base: Path, value: str) -> Path:
    return release_key_file() if value == RELEASE_KEY_NAME else _resolve(base, value)


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _check_table(raw: Any, table: str, known: set[str], where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [{table}] must be a table")
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {table}.{sorted(unknown)[0]}",
            hint=f"known keys: {', '.join(sorted(known))}",
        )
    return raw


def _strings(raw: dict[str, Any], key: str, table: str, where: str, what: str) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: {table}.{key} must be a list of {what}")
    return value


def _identities(raw: dict[str, Any], table: str, where: str) -> tuple[keyless.KeylessIdentity, ...]:
    items = raw.get("keyless", [])
    if not isinstance(items, list):
        raise ConfigError(
            f"{where}: {table}.keyless must be a list of {{ identity, issuer }} tables",
            hint='e.g. keyless = [{ identity = "release@acme.example", issuer = "https://…" }]',
        )
    identities: list[keyless.KeylessIdentity] = []
    for item in items:
        if (
            not isinstance(item, dict)
            or set(item) != {"identity", "issuer"}
            or not all(isinstance(v, str) and v for v in item.values())
        ):
            raise ConfigError(
                f"{where}: each {table}.keyless entry needs exactly identity and issuer",
                hint='e.g. { identity = "release@acme.example", issuer = "https://…" }',
            )
        identities.append(keyless.KeylessIdentity(item["identity"], item["issuer"]))
    return tuple(identities)


def _trusted_root(
    raw: dict[str, Any], identities: tuple[keyless.KeylessIdentity, ...], base: Path,
    table: str, where: str,
) -> Path | None:  # fmt: skip
    root_value = raw.get("trusted_root", "production")
    if not isinstance(root_value, str):
        raise ConfigError(f"{where}: {table}.trusted_root must be a string")
    if not identities:
        return None  # no keyless signer: sigstore (an optional extra) is never needed
    if root_value in ("production", "staging"):
        return keyless.bundled_trusted_root(root_value)
    return _resolve(base, root_value)


def _layer_trust(name: str, raw: Any, base: Path, where: str) -> LayerTrust:
    if name not in LAYER_KINDS:
        raise ConfigError(f"{where}: unknown layer [layers.{name}]", hint=", ".join(LAYER_KINDS))
    table = f"layers.{name}"
    raw = _check_table(raw, table, _LAYER_KEYS, where)
    key_files = tuple(_key_path(base, k) for k in _strings(raw, "keys", table, where, "file paths"))
    public = tuple(keys.load_public(path) for path in key_files)
    identities = _identities(raw, table, where)
    if not public and not identities:
        raise ConfigError(
            f"{where}: [layers.{name}] pins no keys and no keyless identities",
            hint="an empty signer list would trust nobody; add keys = [...] or keyless = [...]",
        )
    root = _trusted_root(raw, identities, base, table, where)
    version = raw.get("version")
    if version is not None and not isinstance(version, str):
        raise ConfigError(f'{where}: layers.{name}.version must be a string like "1.2.0"')
    return LayerTrust(name, public, identities, root, version, key_files)


def _evidence_trust(raw: Any, base: Path, where: str) -> EvidenceTrust:
    raw = _check_table(raw, "evidence", _EVIDENCE_KEYS, where)
    paths = _strings(raw, "keys", "evidence", where, "file paths")
    key_files = tuple(_resolve(base, k) for k in paths)
    public = tuple(keys.verifying_key_from_pem(_read_key(p), str(p)) for p in key_files)
    identities = _identities(raw, "evidence", where)
    builders = _strings(raw, "builders", "evidence", where, "builder id patterns")
    root = _trusted_root(raw, identities, base, "evidence", where)
    return EvidenceTrust(public, identities, root, tuple(builders), key_files)


def _read_key(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read public key ({exc.strerror})") from exc


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
    if not isinstance(layers_raw, dict) or not (layers_raw or "evidence" in raw):
        raise ConfigError(f"{source}: the trust policy has no [layers.*] tables and no [evidence]")
    root = base if base is not None else Path.cwd()
    layers = {name: _layer_trust(name, value, root, source) for name, value in layers_raw.items()}
    state = raw.get("state_dir")
    if state is not None and not isinstance(state, str):
        raise ConfigError(f"{source}: state_dir must be a path string")
    evidence = _evidence_trust(raw["evidence"], root, source) if "evidence" in raw else None
    return TrustPolicy(
        source, layers, _resolve(root, state) if state else None, evidence or EvidenceTrust()
    )


def referenced_files(path: Path) -> list[Path]:
    """The files the trust policy at ``path`` names (keys, trusted roots), resolved as
    :func:`load_policy` resolves them; none when it cannot be read (its loading says why)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    layers = raw.get("layers")
    tables = [*(layers.values() if isinstance(layers, dict) else ()), raw.get("evidence")]
    names: list[str] = []
    for table in tables:
        if isinstance(table, dict):
            keys_value, root = table.get("keys"), table.get("trusted_root")
            names += (
                [k for k in keys_value if isinstance(k, str)]
                if isinstance(keys_value, list)
                else []
            )
            names += (
                [root] if isinstance(root, str) and root not in ("production", "staging") else []
            )
    return [_resolve(path.parent, n) for n in names if n and n != RELEASE_KEY_NAME]


def load_policy(path: str | Path) -> TrustPolicy:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")  # an editor's BOM is not TOML
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such trust policy file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the trust policy ({exc})") from exc
    return parse_policy(text, source=str(p), base=p.parent)
