"""The signed release: the bundles Charter ships, how they are made and re-checked.

A release of Charter carries, in ``charter/release/`` (package data):

- ``charter-release.pub``: the project's release public key (Ed25519, SPKI PEM);
- ``constitution.tar.gz``: the constitution bundle (``charter/policies/constitution``),
  signed for the constitution layer;
- ``pack-<name>.tar.gz``: each specialist pack (``examples/packs/<name>``), signed
  for the pack layer;
- ``agent-constitution.toml``: the default agent-runtime constitution
  (``charter/defaults/constitution.toml``) with its ``[identity]`` signature;
- ``trust.toml``: a trust policy pinning the release key for the constitution and
  pack layers (replace the key line with your own signer to trust yours instead).

Bundles are reproducible (:func:`charter.policy.bundle.build_tarball`: sorted
members, mtime 0, owner 0/0, empty gzip name and mtime) and Ed25519 signatures
are deterministic, so :func:`check_release_bundle` can rebuild a shipped bundle
from the sources with the shipped ``.signatures.json`` and demand the same
archive: a source changed since the release was signed fails, with the command
that re-signs it. The private key is never in the repository:
``scripts/release-sign --key PATH`` (docs/release.md) signs with it.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from charter.core.errors import ConfigError, PolicyError, VerificationError
from charter.policy.bundle import (
    SIGNATURES,
    build_tarball,
    read_archive,
    read_directory_files,
    verify_tarball,
)
from charter.trust import keys

RELEASE_DIR = "release"
RELEASE_KEY = "charter-release.pub"
CONSTITUTION_BUNDLE = "constitution.tar.gz"
AGENT_CONSTITUTION = "agent-constitution.toml"
TRUST_POLICY = "trust.toml"
#: What to run when a shipped artefact no longer matches its sources.
RESIGN_HINT = (
    "the sources changed since the release was signed: re-sign with "
    "`scripts/release-sign --key /path/to/charter-release.key` (docs/release.md) "
    "and commit src/charter/release/"
)


def release_path() -> Path:
    """The directory of the signed release artefacts inside the installed package."""
    return Path(str(resources.files("charter").joinpath(RELEASE_DIR)))


def release_key_path() -> Path:
    return release_path() / RELEASE_KEY


def shipped_constitution_bundle() -> Path:
    """The signed constitution bundle that ships with Charter."""
    return release_path() / CONSTITUTION_BUNDLE


def shipped_agent_constitution() -> Path:
    """The signed default agent-runtime constitution that ships with Charter."""
    return release_path() / AGENT_CONSTITUTION


def shipped_trust_policy() -> Path:
    """The trust policy pinning the release key for the constitution and pack layers."""
    return release_path() / TRUST_POLICY


#: How a config names a shipped artefact: ``charter:constitution``,
#: ``charter:pack-soc2``, ``charter:agent-constitution``, ``charter:release`` (the key).
SHIPPED_PREFIX = "charter:"
_SHIPPED_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_SHIPPED_FILES = {
    "constitution": CONSTITUTION_BUNDLE,
    "agent-constitution": AGENT_CONSTITUTION,
    "release": RELEASE_KEY,
}


def is_shipped_name(text: str) -> bool:
    return text.startswith(SHIPPED_PREFIX)


def shipped_artefact(text: str) -> Path:
    """The file a ``charter:NAME`` reference names in the shipped release.

    Known names: ``constitution``, ``agent-constitution``, ``release`` (the public
    key) and ``pack-<name>`` for each shipped pack; anything else is a
    configuration error, never a path.
    """
    name = text.removeprefix(SHIPPED_PREFIX)
    file = _SHIPPED_FILES.get(name)
    if file is None and _SHIPPED_NAME.fullmatch(name) and name.startswith("pack-"):
        file = f"{name}.tar.gz"
    path = release_path() / file if file is not None else None
    if path is None or not path.is_file():
        packs = sorted(p.name.removesuffix(".tar.gz") for p in release_path().glob("pack-*.tar.gz"))
        known = [*(f"{SHIPPED_PREFIX}{n}" for n in (*_SHIPPED_FILES, *packs))]
        raise ConfigError(f"{text!r}: Charter ships no such artefact", hint=", ".join(known))
    return path


@dataclass(frozen=True)
class ReleaseBundle:
    """One shipped bundle: its file name, layer and source directory."""

    name: str
    layer: str
    source: Path


def release_bundles(repo: Path) -> tuple[ReleaseBundle, ...]:
    """The bundles a release ships, from a checkout at ``repo`` (constitution first)."""
    constitution = repo / "src" / "charter" / "policies" / "constitution"
    packs = sorted(p for p in (repo / "examples" / "packs").iterdir() if p.is_dir())
    return (
        ReleaseBundle(CONSTITUTION_BUNDLE, "constitution", constitution),
        *(ReleaseBundle(f"pack-{p.name}.tar.gz", "pack", p) for p in packs),
    )


def _sources(directory: Path) -> dict[str, bytes]:
    return {n: d for n, d in read_directory_files(directory).items() if n != SIGNATURES}


def rebuild_with(directory: Path, signatures: bytes) -> bytes:
    """The archive ``directory`` makes with ``signatures`` as its ``.signatures.json``."""
    return build_tarball({**_sources(directory), SIGNATURES: signatures})


def _tar_bytes(data: bytes, where: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise VerificationError(f"{where}: not a gzip archive ({exc})", hint=RESIGN_HINT) from exc


def check_release_bundle(shipped: Path, bundle: ReleaseBundle, public: keys.PublicKey) -> None:
    """Raise unless ``shipped`` verifies with ``public`` and is what its sources build.

    The comparison is of the tar stream (every member, header and byte) and of
    the gzip header; the deflate stream itself may differ between zlib builds.
    """
    data = shipped.read_bytes()
    verify_tarball(data, [public], layer=bundle.layer, source=str(shipped))
    signatures = read_archive(data, source=str(shipped))[SIGNATURES]
    rebuilt = rebuild_with(bundle.source, signatures)
    if _tar_bytes(rebuilt, "rebuilt") != _tar_bytes(data, str(shipped)):
        raise PolicyError(
            f"{shipped}: does not match a rebuild of {bundle.source}", hint=RESIGN_HINT
        )
    if rebuilt[:10] != data[:10]:
        raise PolicyError(
            f"{shipped}: its gzip header is not the reproducible one", hint=RESIGN_HINT
        )


__all__ = [
    "AGENT_CONSTITUTION",
    "CONSTITUTION_BUNDLE",
    "RELEASE_KEY",
    "RESIGN_HINT",
    "TRUST_POLICY",
    "ReleaseBundle",
    "SHIPPED_PREFIX",
    "check_release_bundle",
    "is_shipped_name",
    "shipped_artefact",
    "rebuild_with",
    "release_bundles",
    "release_key_path",
    "release_path",
    "shipped_agent_constitution",
    "shipped_constitution_bundle",
    "shipped_trust_policy",
]
