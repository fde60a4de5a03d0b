"""``charter bundle``: build, verify and inspect signed OPA-format bundles.

``bundle_app`` is shared: the OCI verbs (``push``/``pull``) register on it from
their own module.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from charter.cli._app import FORMAT_OPTION, OutputFormat, app, print_json, stdout
from charter.core.errors import CharterError, InputError, VerificationError
from charter.policy.build import DEFAULT_VALIDATORS, build_bundle
from charter.policy.bundle import (
    MANIFEST,
    SIGNATURES,
    layer_from_files,
    parse_manifest,
    read_archive,
    read_tarball_file,
    tarball_digest,
    verify_tarball,
)
from charter.policy.lint import build_validator
from charter.trust import keys, signing
from charter.trust.policy import LAYER_KINDS

bundle_app = typer.Typer(help="Build, verify and inspect signed bundles.", no_args_is_help=True)
app.add_typer(bundle_app, name="bundle")

PASSPHRASE_OPTION = typer.Option(
    None, "--passphrase-env", help="environment variable holding the private key's passphrase"
)


@bundle_app.command("build")
def build(
    directory: Path = typer.Argument(..., metavar="DIR"),
    output: Path = typer.Option(..., "-o", "--output", help="the .tar.gz to write"),
    key: Path = typer.Option(..., "--key", help="private key (signing.key or cosign.key)"),
    passphrase_env: str | None = PASSPHRASE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Validate DIR (rules load, ids unique, tests pass), sign it and write a tarball."""
    private = keys.load_private(key, keys.passphrase_from_env(passphrase_env))
    # The policy linter runs after the bundle's own tests; nothing is written on failure.
    built = build_bundle(directory, private, validators=(*DEFAULT_VALIDATORS, build_validator))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(built.data)
    m = built.manifest
    if fmt is OutputFormat.json:
        print_json(
            {
                "bundle": str(output),
                "digest": built.digest,
                "layer": m.layer,
                "name": m.name,
                "version": m.version,
                "signer": built.key_id,
                "files": list(built.files),
            }
        )
        return
    out = stdout()
    out.print(f"Built {output} ({m.layer} {m.name} {m.version})", markup=False)
    out.print(f"Digest: {built.digest}", markup=False)
    out.print(f"Signed by: {built.key_id}", markup=False)
    out.print(f"Files: {len(built.files)}", markup=False)


@bundle_app.command("verify")
def verify(
    bundle_file: Path = typer.Argument(..., metavar="FILE"),
    key: list[Path] = typer.Option(..., "--key", help="trusted public key (repeatable)"),
    layer: str | None = typer.Option(
        None, "--layer", help="the layer it must be signed for (default: the manifest's)"
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Verify signature and every file hash without parsing any Rego (exit 1 on failure)."""
    trusted = [keys.load_public(k) for k in key]
    data = read_tarball_file(bundle_file)
    if layer is not None and layer not in LAYER_KINDS:
        raise InputError(f"--layer {layer!r} is not a layer", hint=", ".join(LAYER_KINDS))
    if layer is None:
        # The layer the token claims is only a hint for which check to run; the
        # verification below still binds it to the signature and the manifest.
        files = read_archive(data, source=str(bundle_file))
        if SIGNATURES not in files:
            raise VerificationError(
                f"{bundle_file}: the bundle is not signed (no .signatures.json)"
            )
        claimed = signing.unverified_info(files[SIGNATURES]).scope
        if claimed not in LAYER_KINDS:
            raise VerificationError(f"{bundle_file}: the signature names no valid layer scope")
        layer = claimed
    verified = verify_tarball(data, trusted, layer=layer, source=str(bundle_file))
    m = verified.manifest
    if fmt is OutputFormat.json:
        print_json(
            {
                "verified": True,
                "bundle": str(bundle_file),
                "layer": m.layer,
                "name": m.name,
                "version": m.version,
                "digest": verified.digest,
                "signer": verified.signer,
                "files": len(verified.files),
            }
        )
        return
    out = stdout()
    out.print(f"Bundle verified: {m.layer} {m.name} {m.version}", markup=False)
    out.print(f"Digest: {verified.digest}", markup=False)
    out.print(f"Signed by: {verified.signer}", markup=False)
    out.print(f"Files: {len(verified.files)} (all hashes match)", markup=False)


@bundle_app.command("inspect")
def inspect(
    bundle_file: Path = typer.Argument(..., metavar="FILE"),
    key: list[Path] | None = typer.Option(
        None, "--key", help="verify with this public key before listing rules"
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Show manifest, signer, files and rules of a bundle archive."""
    data = read_tarball_file(bundle_file)
    source = str(bundle_file)
    files = read_archive(data, source=source)
    info = signing.unverified_info(files[SIGNATURES]) if SIGNATURES in files else None
    verified = False
    problem: str | None = None
    if key:
        layer = info.scope if info is not None and info.scope in LAYER_KINDS else "overlay"
        verify_tarball(data, [keys.load_public(k) for k in key], layer=layer, source=source)
        verified = True
    manifest = (
        parse_manifest(files[MANIFEST], f"{source}/{MANIFEST}") if MANIFEST in files else None
    )
    rules: list[dict[str, Any]] = []
    try:
        layer_obj = layer_from_files(
            {n: d for n, d in files.items() if n != SIGNATURES},
            source=source,
            digest=tarball_digest(data),
        )
        rules = [r.to_dict() for r in layer_obj.rules]
    except CharterError as exc:
        problem = str(exc)
    rows: list[dict[str, Any]] = []
    for name in sorted(files):
        signed = info.files.get(name) if info is not None else None
        actual = signing.file_hash(name, files[name]) if name != SIGNATURES else None
        rows.append(
            {
                "name": name,
                "size": len(files[name]),
                "sha256": actual or hashlib.sha256(files[name]).hexdigest(),
                "signed": None if name == SIGNATURES else (signed == actual),
            }
        )
    document = {
        "bundle": source,
        "digest": tarball_digest(data),
        "verified": verified,
        "manifest": manifest.raw if manifest else None,
        "signer": (
            {"key_id": info.key_id, "algorithm": info.algorithm, "scope": info.scope}
            if info
            else None
        ),
        "files": rows,
        "rules": rules,
        "error": problem,
    }
    if fmt is OutputFormat.json:
        print_json(document)
        return
    out = stdout()
    status = "verified" if verified else "NOT VERIFIED (pass --key PUB to verify)"
    out.print(f"Bundle {source}  [{status}]", markup=False)
    out.print(f"Digest: {document['digest']}", markup=False)
    if manifest:
        out.print(f"Manifest: {json.dumps(manifest.raw, sort_keys=True)}", markup=False)
    if info:
        out.print(f"Signer: {info.key_id} ({info.algorithm}, scope {info.scope})", markup=False)
    else:
        out.print("Signer: none (unsigned)", markup=False)
    table = Table(title="Files")
    for column in ("File", "Size", "SHA-256", "Matches signature"):
        table.add_column(column, overflow="fold")
    for row in rows:
        mark = "-" if row["signed"] is None else ("yes" if row["signed"] else "NO")
        table.add_row(row["name"], str(row["size"]), row["sha256"][:16] + "…", mark)
    out.print(table)
    rule_table = Table(title=f"{len(rules)} rule(s)")
    for column in ("ID", "Severity", "Category", "Title"):
        rule_table.add_column(column)
    for rule in rules:
        rule_table.add_row(rule["id"], rule["severity"], rule["category"], rule["title"])
    out.print(rule_table)
    if problem:
        out.print(f"Could not read rules: {problem}", markup=False)
