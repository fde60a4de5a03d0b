"""``charter bundle``: build, verify and inspect signed OPA-format bundles.

``bundle_app`` is shared: the OCI verbs (``push``/``pull``) register on it from
their own module.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import typer

from charter.cli._app import FORMAT_OPTION, OutputFormat, app
from charter.core import jsonio
from charter.core.digests import sha256_bytes
from charter.core.errors import CharterError, InputError, VerificationError
from charter.policy.build import (
    DEFAULT_VALIDATORS,
    build_bundle,
    validate_tests,
    validate_version,
)
from charter.policy.bundle import (
    MANIFEST,
    SIGNATURES,
    layer_from_files,
    load_directory,
    parse_manifest,
    read_archive,
    read_tarball_file,
    verify_tarball,
)
from charter.policy.lint import build_validator
from charter.render import json as render_json
from charter.render import text as render_text
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
    since: Path | None = typer.Option(
        None,
        "--since",
        help="the previous release's bundle directory: the version must move as far as the "
        "content did (default for a constitution: the shipped one)",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Validate DIR (rules load, ids unique, tests pass, version fits the content), sign it
    and write a tarball."""
    private = keys.load_private(key, keys.passphrase_from_env(passphrase_env))
    checks = (
        DEFAULT_VALIDATORS
        if since is None
        else (validate_tests, validate_version(load_directory(since)))
    )
    # The policy linter runs after the bundle's own tests; nothing is written on failure.
    built = build_bundle(directory, private, validators=(*checks, build_validator))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(built.data)
    m = built.manifest
    if fmt is OutputFormat.json:
        render_json.show(
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
    render_text.show(
        f"Built {output} ({m.layer} {m.name} {m.version})",
        f"Digest: {built.digest}",
        f"Signed by: {built.key_id}",
        f"Files: {len(built.files)}",
    )


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
        render_json.show(
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
    render_text.show(
        f"Bundle verified: {m.layer} {m.name} {m.version}",
        f"Digest: {verified.digest}",
        f"Signed by: {verified.signer}",
        f"Files: {len(verified.files)} (all hashes match)",
    )


def _file_rows(files: dict[str, bytes], info: signing.SignatureInfo | None) -> list[dict[str, Any]]:
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
    return rows


def _rules(
    data: bytes, files: dict[str, bytes], source: str
) -> tuple[list[dict[str, Any]], str | None]:
    try:
        layer = layer_from_files(
            {n: d for n, d in files.items() if n != SIGNATURES},
            source=source,
            digest=sha256_bytes(data),
        )
    except CharterError as exc:
        return [], str(exc)
    return [r.to_dict() for r in layer.rules], None


def inspection(bundle_file: Path, key: list[Path] | None) -> dict[str, Any]:
    """What ``bundle inspect`` shows: manifest, signer, files and rules (verified with ``key``)."""
    data = read_tarball_file(bundle_file)
    source = str(bundle_file)
    files = read_archive(data, source=source)
    info = signing.unverified_info(files[SIGNATURES]) if SIGNATURES in files else None
    if key:
        layer = info.scope if info is not None and info.scope in LAYER_KINDS else "overlay"
        verify_tarball(data, [keys.load_public(k) for k in key], layer=layer, source=source)
    manifest = (
        parse_manifest(files[MANIFEST], f"{source}/{MANIFEST}") if MANIFEST in files else None
    )
    rules, problem = _rules(data, files, source)
    return {
        "bundle": source,
        "digest": sha256_bytes(data),
        "verified": bool(key),
        "manifest": manifest.raw if manifest else None,
        "signer": (
            {"key_id": info.key_id, "algorithm": info.algorithm, "scope": info.scope}
            if info
            else None
        ),
        "files": _file_rows(files, info),
        "rules": rules,
        "error": problem,
    }


def inspection_text(document: dict[str, Any]) -> list[render_text.Item]:
    """The text view of an :func:`inspection` document."""
    status = "verified" if document["verified"] else "NOT VERIFIED (pass --key PUB to verify)"
    lines: list[render_text.Item] = [
        f"Bundle {document['bundle']}  [{status}]",
        f"Digest: {document['digest']}",
    ]
    if document["manifest"] is not None:
        lines.append(f"Manifest: {jsonio.canonical(document['manifest'])}")
    signer = document["signer"]
    if signer:
        lines.append(f"Signer: {signer['key_id']} ({signer['algorithm']}, scope {signer['scope']})")
    else:
        lines.append("Signer: none (unsigned)")
    marks = {None: "-", True: "yes", False: "NO"}
    files = [
        (row["name"], row["size"], row["sha256"][:16] + "…", marks[row["signed"]])
        for row in document["files"]
    ]
    lines.append(
        render_text.table(("File", "Size", "SHA-256", "Matches signature"), files, title="Files")
    )
    rules = [(r["id"], r["severity"], r["category"], r["title"]) for r in document["rules"]]
    title = f"{len(rules)} rule(s)"
    lines.append(render_text.table(("ID", "Severity", "Category", "Title"), rules, title=title))
    if document["error"]:
        lines.append(f"Could not read rules: {document['error']}")
    return lines


@bundle_app.command("inspect")
def inspect(
    bundle_file: Path = typer.Argument(..., metavar="FILE"),
    key: list[Path] | None = typer.Option(
        None, "--key", help="verify with this public key before listing rules"
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Show manifest, signer, files and rules of a bundle archive."""
    document = inspection(bundle_file, key)
    if fmt is OutputFormat.json:
        render_json.show(document)
    else:
        render_text.show(*inspection_text(document))
