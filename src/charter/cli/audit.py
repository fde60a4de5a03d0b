"""``charter audit verify`` / ``audit export``: the audit log, offline."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import TextIO

import typer

from charter.audit import redact
from charter.audit import stores as audit_mod
from charter.audit.chain import verify as verify_chain
from charter.cli._app import FORMAT_OPTION, OutputFormat, app, print_json, stdout
from charter.core.errors import InputError

audit_app = typer.Typer(help="Verify and export the audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

STORE_OPTION = typer.Option(
    None,
    "--store",
    help="SQLite path or postgresql:// URL (default $CHARTER_AUDIT or ~/.charter/audit.db)",
)
_HEAD = re.compile(r"^(\d+):([0-9a-f]{64})$")


def store_location(store: str | None) -> str:
    return store or os.environ.get("CHARTER_AUDIT") or str(audit_mod.default_location())


@audit_app.command("verify")
def verify(
    store: str | None = STORE_OPTION,
    expect_head: str | None = typer.Option(
        None,
        "--expect-head",
        help="SEQ:HASH of a head recorded earlier elsewhere; the log must still contain it",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Check the hash chain: exit 0 intact, 1 modified/deleted/inserted/reordered."""
    expected: tuple[int, str] | None = None
    if expect_head is not None:
        match = _HEAD.match(expect_head.strip())
        if not match:
            raise InputError(f"--expect-head {expect_head!r} is not SEQ:SHA256HEX")
        expected = (int(match[1]), match[2])
    location = store_location(store)
    # Read-only: verifying never creates a file, schema, table or anchor.
    handle = audit_mod.open_store(location, read_only=True)
    try:
        report = verify_chain(handle, expected_head=expected)
    finally:
        handle.close()
    if fmt is OutputFormat.json:
        print_json({"store": handle.location, **report.to_dict()})
    elif report.ok:
        stdout().print(
            f"Audit log {handle.location}: OK, {report.count} record(s) chained, "
            f"head {report.head_seq}:{report.head_hash}",
            markup=False,
        )
    else:
        sys.stderr.write(
            f"charter: audit log {handle.location} is NOT intact: first bad record "
            f"{report.first_bad_seq}: {report.problem}\n"
        )
    raise typer.Exit(0 if report.ok else 1)


@audit_app.command("export")
def export(
    store: str | None = STORE_OPTION,
    redact_policy: Path | None = typer.Option(
        None,
        "--redact",
        help="export policy TOML; without it code, patches, inputs and secrets are removed",
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="file (default stdout)"),
) -> None:
    """Write the log as JSON lines, redacted per policy (data residency)."""
    policy = redact.load_policy(redact_policy)
    location = store_location(store)
    handle = audit_mod.open_store(location, read_only=True)
    sink: TextIO = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        for record in redact.export(handle.records(), policy):
            sink.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
    finally:
        handle.close()
        if output:
            sink.close()
