"""``charter bundle push`` / ``bundle pull``: OCI distribution of signed bundles."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer

from charter.cli._app import FORMAT_OPTION, OutputFormat
from charter.cli.bundle import bundle_app
from charter.policy.bundle import read_tarball_file, verify_tarball
from charter.registry import oci
from charter.render import json as render_json
from charter.render import text as render_text
from charter.trust import keys

INSECURE_OPTION = typer.Option(
    False, "--insecure", help="allow plain HTTP to a registry that is not on loopback"
)


@bundle_app.command("push")
def push(
    bundle_file: Path = typer.Argument(..., metavar="FILE"),
    reference: str = typer.Argument(..., metavar="oci://HOST[:PORT]/REPO:TAG"),
    insecure: bool = INSECURE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Push a signed bundle archive to an OCI registry; print the manifest digest."""
    data = read_tarball_file(bundle_file)
    result = oci.push_bundle(data, reference, insecure=insecure)
    if fmt is OutputFormat.json:
        render_json.show(result.to_dict())
        return
    render_text.show(
        f"Pushed {bundle_file} to {result.reference}",
        f"Digest: {result.manifest_digest}",
        f"Pinned: {result.reference.with_digest(result.manifest_digest)}",
    )


@bundle_app.command("pull")
def pull(
    reference: str = typer.Argument(..., metavar="oci://HOST[:PORT]/REPO[:TAG][@sha256:…]"),
    output: Path = typer.Option(..., "-o", "--output", help="the .tar.gz to write"),
    key: list[Path] | None = typer.Option(
        None, "--key", help="verify the signature with this public key before writing"
    ),
    layer: str = typer.Option("constitution", "--layer", help="the layer to verify it as"),
    insecure: bool = INSECURE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Pull a bundle, check manifest and blob digests, and write the archive."""
    pulled = oci.pull_bundle(reference, insecure=insecure)
    signer = None
    if key:
        verified = verify_tarball(
            pulled.data, [keys.load_public(k) for k in key], layer=layer, source=str(reference)
        )
        signer = verified.signer
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(pulled.data)
    os.replace(tmp, output)
    document = pulled.to_dict() | {"output": str(output), "signer": signer}
    if fmt is OutputFormat.json:
        render_json.show(document)
        return
    lines = [
        f"Pulled {pulled.resolved} to {output}",
        f"Digest: {pulled.manifest_digest}",
        f"Blob: {pulled.blob_digest} ({len(pulled.data)} bytes, digest checked)",
    ]
    if signer:
        lines.append(f"Signed by: {signer}")
    render_text.show(*lines)
