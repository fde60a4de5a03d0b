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

Relative paths are relative to the policy file. Each layer has its own
signers, so an overlay key can never sign a constitution. A layer the policy
does not mention cannot be loaded from a signed bundle at all (reject by
default), and with a policy in force unsigned directories are refused.

This module only parses the policy; :mod:`charter.policy.loading` loads signed
layers under it. See docs/design.md, 'Trust'.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter.core.errors import ConfigError, VerificationError
from charter.trust import keyless, keys

#: The kinds of layer, top (strictest) first; each is also a signing scope.
LAYER_KINDS = ("constitution", "pack", "overlay")
_TOP_KEYS = {"layers", "state_dir"}
_LAYER_KEYS = {"keys", "keyless", "trusted_root", "version"}


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
    key_files = tuple(_resolve(base, k) for k in key_paths)
    public = tuple(keys.load_public(path) for path in key_files)
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
    root: Path | None = None
    if not identities:
        pass  # no keyless signer: sigstore (an optional extra) is never needed
    elif root_value in ("production", "staging"):
        root = keyless.bundled_trusted_root(root_value)
    else:
        root = _resolve(base, root_value)
    version = raw.get("version")
    if version is not None and not isinstance(version, str):
        raise ConfigError(f'{where}: layers.{name}.version must be a string like "1.2.0"')
    return LayerTrust(name, public, tuple(identities), root, version, key_files)


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
        text = p.read_text(encoding="utf-8-sig")  # an editor's BOM is not TOML
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such trust policy file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the trust policy ({exc})") from exc
    return parse_policy(text, source=str(p), base=p.parent)
