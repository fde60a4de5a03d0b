"""Signed bundles for the OCI and runner tests, built on the fly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from charter.policy.build import build_bundle
from charter.policy.stack import shipped_constitution_path
from charter.trust import keys
from tests.conftest import overlay_rule, write_bundle


def make_key(directory: Path) -> tuple[keys.PrivateKey, Path]:
    """A fresh Ed25519 key; returns it and the path of its public PEM."""
    directory.mkdir(parents=True, exist_ok=True)
    key = keys.generate()
    public = directory / "signing.pub"
    public.write_bytes(keys.public_pem(key.public_key()))
    return key, public


def constitution_bundle(
    directory: Path, key: keys.PrivateKey, version: str = "1.0.0", *, revision: str = ""
) -> bytes:
    """The shipped constitution, re-versioned and signed with ``key``."""
    target = directory / f"constitution-{version}{revision}"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(shipped_constitution_path(), target)
    manifest_path = target / ".manifest"
    manifest = json.loads(manifest_path.read_text())
    manifest["revision"] = f"{version}{revision}"
    manifest["metadata"]["charter"]["version"] = version
    manifest_path.write_text(json.dumps(manifest))
    return build_bundle(target, key, validators=()).data


def overlay_bundle(
    directory: Path,
    key: keys.PrivateKey,
    version: str = "1.0.0",
    *,
    rule_id: str = "ACME-NO-DOCKERFILE-001",
    condition: str = 'some f in input.files\n\tendswith(f.path, "Dockerfile")',
    kind: str = "ask",
) -> bytes:
    """A one-rule overlay (by default: asks about any Dockerfile change)."""
    target = write_bundle(
        directory / f"overlay-{version}-{rule_id}",
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        version=version,
        files={"rules/r.rego": overlay_rule(rule_id, condition, kind=kind)},
    )
    return build_bundle(target, key, validators=()).data
