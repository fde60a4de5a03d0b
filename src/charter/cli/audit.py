"""``charter audit verify`` / ``audit export``: the audit log, offline."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TextIO

import typer

from charter.audit import checkpoint as checkpoints
from charter.audit import redact
from charter.audit import stores as audit_mod
from charter.audit.chain import verify as verify_chain
from charter.cli._app import FORMAT_OPTION, OutputFormat, app, print_json, stdout
from charter.core.errors import InputError
from charter.trust import keys

audit_app = typer.Typer(help="Verify and export the audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

STORE_OPTION = typer.Option(
    None,
    "--store",
    help="SQLite path or postgresql:// URL (default $CHARTER_AUDIT or ~/.charter/audit.db)",
)
_HEAD = re.compile(r"^(\d+):([0-9a-f]{64})$")
ORIGIN_OPTION = typer.Option(
    None,
    "--origin",
    help="the log's checkpoint name (default charter.audit/ + record 1's hash prefix)",
)


def store_location(store: str | None) -> str:
    return store or audit_mod.default_location()


@audit_app.command("verify")
def verify(
    store: str | None = STORE_OPTION,
    expect_head: str | None = typer.Option(
        None,
        "--expect-head",
        help="SEQ:HASH of a head recorded earlier elsewhere; the log must still contain it",
    ),
    checkpoint_file: Path | None = typer.Option(
        None,
        "--checkpoint",
        help="a signed checkpoint (charter audit checkpoint); the log must extend it",
    ),
    public_key: Path | None = typer.Option(
        None, "--key", help="public key that signed --checkpoint (PEM, Ed25519 or P-256)"
    ),
    origin: str | None = ORIGIN_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Check the hash chain: exit 0 intact, 1 modified/deleted/inserted/reordered.

    With --checkpoint and --key, also check the log still holds the records a
    signed checkpoint names, unchanged (keep the newest checkpoint: an older
    one only covers a prefix of the log).
    """
    expected: tuple[int, str] | None = None
    if expect_head is not None:
        match = _HEAD.match(expect_head.strip())
        if not match:
            raise InputError(f"--expect-head {expect_head!r} is not SEQ:SHA256HEX")
        expected = (int(match[1]), match[2])
    if (checkpoint_file is None) != (public_key is None):
        raise InputError("--checkpoint and --key go together", hint="pass both, or neither")
    note: bytes | None = None
    public: keys.PublicKey | None = None
    if checkpoint_file is not None and public_key is not None:
        note = checkpoints.read_note(checkpoint_file)
        public = keys.load_public(public_key)
        if origin is not None:
            checkpoints.check_origin(origin)
    location = store_location(store)
    # Read-only: verifying never creates a file, schema, table or anchor.
    handle = audit_mod.open_store(location, read_only=True)
    try:
        if note is not None and public is not None:
            # The checkpoint's check walks the whole chain too.
            report = checkpoints.verify_checkpoint(handle, note, public, origin=origin)
            if report.ok and expected is not None:
                report = verify_chain(handle, expected_head=expected)
        else:
            report = verify_chain(handle, expected_head=expected)
    finally:
        handle.close()
    signed = f", consistent with the signed checkpoint {checkpoint_file}" if note else ""
    if fmt is OutputFormat.json:
        extra = {"checkpoint": str(checkpoint_file)} if note else {}
        print_json({"store": handle.location, **report.to_dict(), **extra})
    elif report.ok:
        stdout().print(
            f"Audit log {handle.location}: OK, {report.count} record(s) chained, "
            f"head {report.head_seq}:{report.head_hash}{signed}",
            markup=False,
        )
    else:
        where = f"first bad record {report.first_bad_seq}: " if report.first_bad_seq else ""
        sys.stderr.write(
            f"charter: audit log {handle.location} is NOT intact: {where}{report.problem}\n"
        )
    raise typer.Exit(0 if report.ok else 1)


@audit_app.command("checkpoint")
def checkpoint(
    key: Path = typer.Option(..., "--key", help="private key to sign with (Ed25519 or P-256)"),
    passphrase_env: str | None = typer.Option(
        None, "--passphrase-env", help="environment variable holding the key's passphrase"
    ),
    store: str | None = STORE_OPTION,
    origin: str | None = ORIGIN_OPTION,
    output: Path | None = typer.Option(
        None, "-o", "--output", help="write the checkpoint to this file (default stdout)"
    ),
) -> None:
    """Print a signed checkpoint of the log's head, to keep where the store's writers cannot.

    The chain is verified first: a log that is not intact is never vouched for
    (exit 1). Verify later with: charter audit verify --checkpoint FILE --key PUB.
    """
    private = keys.load_private(key, keys.passphrase_from_env(passphrase_env))
    if origin is not None:
        checkpoints.check_origin(origin)
    handle = audit_mod.open_store(store_location(store), read_only=True)
    try:
        note = checkpoints.make(handle, private, origin=origin)
    finally:
        handle.close()
    if output is not None:
        checkpoints.write_atomic(output, note.encode())
    else:
        sys.stdout.write(note)


@audit_app.command("export")
def export(
    store: str | None = STORE_OPTION,
    redact_policy: Path | None = typer.Option(
        None,
        "--redact",
        help="export policy TOML; without it all free text (messages, commands, paths, code, "
        "identities, inputs) is removed",
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
