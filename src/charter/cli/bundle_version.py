"""``charter bundle version bump``: move every field that carries a bundle's version."""

from __future__ import annotations

from pathlib import Path

import typer

from charter.cli._app import FORMAT_OPTION, OutputFormat
from charter.cli.bundle import bundle_app
from charter.core.digests import sha256_bytes
from charter.core.errors import InputError
from charter.policy.bundle import (
    SIGNATURES,
    Layer,
    layer_from_files,
    load_directory,
    read_archive,
    read_tarball_file,
)
from charter.policy.compat import LEVELS
from charter.policy.versioning import bump_directory
from charter.render import json as render_json
from charter.render import text as render_text

version_app = typer.Typer(help="Bundle versions.", no_args_is_help=True)
bundle_app.add_typer(version_app, name="version")


def _baseline(path: Path) -> Layer:
    """The previous release, for comparison only (a directory or an archive)."""
    if path.is_dir():
        return load_directory(path)
    data = read_tarball_file(path)
    files = read_archive(data, source=str(path))
    content = {n: b for n, b in files.items() if n != SIGNATURES}
    return layer_from_files(content, source=str(path), digest=sha256_bytes(data))


@version_app.command("bump")
def bump(
    level: str = typer.Argument(..., metavar="patch|minor|major"),
    directory: Path = typer.Argument(..., metavar="DIR"),
    since: Path | None = typer.Option(
        None, "--since", help="the previous release (DIR or .tar.gz): refuse a too-small bump"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the change, write nothing"),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Bump revision and metadata.charter.version together (judged by content with --since)."""
    if level not in LEVELS:
        raise InputError(f"{level!r} is not a bump level", hint="patch, minor or major")
    if not directory.is_dir():
        raise InputError(f"{directory}: not a bundle directory")
    before = _baseline(since) if since is not None else None
    current = load_directory(directory) if before is not None else None
    result = bump_directory(directory, level, since=before, current=current, write=not dry_run)
    if fmt is OutputFormat.json:
        render_json.show(result.to_dict())
        return
    verb = "Would bump" if dry_run else "Bumped"
    lines = [f"{verb} {directory}: {result.old} → {result.new} ({', '.join(result.fields)})"]
    if result.change is not None:
        reasons = result.change.reasons() or ["no rule added, removed or re-graded"]
        lines.append(f"Content since {since} requires {result.change.level}: {'; '.join(reasons)}")
    render_text.show(*lines)
