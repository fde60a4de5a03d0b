"""``charter constitution``: sign, verify, show and watch the constitution TOML."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import typer
from rich.table import Table

from charter.actions import constitution as model
from charter.actions import layers
from charter.cli._app import FORMAT_OPTION, OutputFormat, app, print_json, stdout
from charter.core.digests import sha256_bytes
from charter.render import text as render_text
from charter.trust import keys
from charter.trust.watchdog import DEFAULT_INTERVAL, IntegrityEvent, Watchdog, check_interval

constitution_app = typer.Typer(
    help="Sign, verify, show and watch the agent-runtime constitution TOML.",
    no_args_is_help=True,
)
app.add_typer(constitution_app, name="constitution")


def default_key_dir() -> Path:
    """``~/.charter/keys``, honouring ``$HOME`` (tests and containers set it)."""
    home = os.environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".charter" / "keys"


def _verify_bytes(path: Path, public: keys.PublicKey) -> tuple[bytes, model.VerifyResult]:
    """Verify exactly the bytes that will be watched, so nothing slips in between."""
    data, text = layers.read_bytes(path)
    parsed = model.parse_text(text, str(path))
    return data, model.verify_constitution(parsed, public)


@constitution_app.command("sign")
def sign(
    file: Path = typer.Argument(..., metavar="FILE"),
    key_dir: Path | None = typer.Option(
        None, "--key-dir", help="holds signing.key/signing.pub (default ~/.charter/keys)"
    ),
    passphrase_env: str | None = typer.Option(
        None, "--passphrase-env", help="environment variable holding the key's passphrase"
    ),
) -> None:
    """Write a fresh [identity] checksum and signature into FILE (comments kept)."""
    directory = key_dir if key_dir is not None else default_key_dir()
    passphrase = keys.passphrase_from_env(passphrase_env)
    private_path = directory / keys.PRIVATE_NAME
    generated = False
    if not private_path.exists():
        keys.generate_to_dir(directory, "ed25519", passphrase)
        generated = True
    private = keys.load_private(private_path, passphrase)
    _, text = layers.read_bytes(file)
    signed = model.sign_text(text, private, str(file))
    tmp = file.with_name(f".{file.name}.charter-tmp")
    tmp.write_text(signed, encoding="utf-8")
    os.replace(tmp, file)
    result = model.parse_text(signed, str(file))
    out = stdout()
    if generated:
        out.print(f"Generated key pair in {directory}", markup=False)
    out.print(f"Constitution signed: {file}", markup=False)
    out.print(f"Version: {result.version}", markup=False)
    out.print(f"Checksum: {result.identity.checksum}", markup=False)
    out.print(f"Signed by: {result.identity.signed_by}", markup=False)


@constitution_app.command("verify")
def verify(
    file: Path = typer.Argument(..., metavar="FILE"),
    key: Path = typer.Option(..., "--key", help="the signer's public key"),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Check checksum and signature: exit 0 verified, 1 modified or badly signed."""
    public = keys.load_public(key)
    try:
        _, result = _verify_bytes(file, public)
    except model.ChecksumMismatch as exc:
        if fmt is OutputFormat.json:
            print_json(
                {
                    "verified": False,
                    "error": "Constitution has been modified!",
                    "expected_checksum": exc.expected,
                    "actual_checksum": exc.actual,
                }
            )
        else:
            out = stdout()
            out.print("VERIFICATION FAILED: Constitution has been modified!", markup=False)
            out.print(f"Expected checksum: {exc.expected}", markup=False)
            out.print(f"Actual checksum: {exc.actual}", markup=False)
        raise typer.Exit(1) from None
    if fmt is OutputFormat.json:
        print_json(
            {
                "verified": True,
                "version": result.constitution.version,
                "checksum": result.checksum,
                "signed_by": result.key_id,
            }
        )
        return
    stdout().print("Constitution verified", markup=False)


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _show_document(c: model.Constitution, verified: bool | None) -> dict[str, Any]:
    limits = c.limits
    return {
        "source": c.source,
        "verified": verified,
        "identity": {
            "version": c.identity.version,
            "checksum": c.identity.checksum,
            "signed_by": c.identity.signed_by,
        },
        "boundaries": {
            "forbidden": list(c.forbidden),
            "requires_approval": list(c.requires_approval),
            "auto_allowed": list(c.auto_allowed),
        },
        "resource_limits": {
            "max_api_cost_per_run": limits.max_api_cost_per_run,
            "max_api_cost_per_day": limits.max_api_cost_per_day,
            "max_execution_time": limits.max_execution_time,
            "max_concurrent_workflows": limits.max_concurrent_workflows,
            "max_file_write_size": limits.max_file_write_size,
            "allowed_directories": (
                list(limits.allowed_directories) if limits.allowed_directories is not None else None
            ),
            "blocked_directories": list(limits.blocked_directories),
        },
        "model_permissions": {
            role: {
                "can_execute": p.can_execute,
                "can_read": p.can_read,
                "can_write": p.can_write,
                "sandbox_only": p.sandbox_only,
            }
            for role, p in c.model_permissions.items()
        },
    }


@constitution_app.command("show")
def show(
    file: Path = typer.Argument(..., metavar="FILE"),
    key: Path | None = typer.Option(None, "--key", help="verify with this public key first"),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Render boundaries, resource limits and model permissions as tables."""
    verified: bool | None = None
    if key is not None:
        _, result = _verify_bytes(file, keys.load_public(key))
        c = result.constitution
        verified = True
    else:
        _, text = layers.read_bytes(file)
        c = model.parse_text(text, str(file))
    document = _show_document(c, verified)
    if fmt is OutputFormat.json:
        print_json(document)
        return
    out = stdout()
    state = {True: "verified", None: "not verified (pass --key PUB)"}[verified]
    out.print(f"Constitution {c.source}  version {c.version}  [{state}]", markup=False)
    if c.identity.signed_by:
        out.print(f"Signed by: {c.identity.signed_by}", markup=False)
    bounds = Table(title="Boundaries")
    bounds.add_column("Kind")
    bounds.add_column("Pattern", overflow="fold")
    for kind, style in (
        ("forbidden", "red"),
        ("requires_approval", "yellow"),
        ("auto_allowed", "green"),
    ):
        for pattern in document["boundaries"][kind]:
            bounds.add_row(render_text.styled((kind, style)), render_text.styled(pattern))
    out.print(bounds)
    limits = Table(title="Resource limits")
    limits.add_column("Limit")
    limits.add_column("Value", overflow="fold")
    for name, value in document["resource_limits"].items():
        shown = (
            "unlimited"
            if value is None
            else (", ".join(value) if isinstance(value, list) else str(value))
        )
        limits.add_row(name, shown.replace("[", r"\["))
    out.print(limits)
    perms = Table(title="Model permissions")
    for column in ("Role", "Execute", "Read", "Write", "Sandbox only"):
        perms.add_column(column)
    for role, p in c.model_permissions.items():
        perms.add_row(
            role, _yes(p.can_execute), _yes(p.can_read), _yes(p.can_write), _yes(p.sandbox_only)
        )
    out.print(perms)


@constitution_app.command("watch")
def watch(
    file: Path = typer.Argument(..., metavar="FILE"),
    key: Path = typer.Option(..., "--key", help="the signer's public key"),
    interval: float = typer.Option(DEFAULT_INTERVAL, "--interval", help="seconds between checks"),
) -> None:
    """Verify FILE, then watch it: exit 1 as soon as it changes, 0 on SIGINT/SIGTERM."""
    check_interval(interval, "--interval")  # inf, nan, 0, 1e308: exit 2 before anything
    data, result = _verify_bytes(file, keys.load_public(key))
    watchdog = Watchdog(interval=interval)
    digest = watchdog.watch(file, sha256_bytes(data))
    done = threading.Event()
    out = stdout()

    def report(event: IntegrityEvent) -> None:
        out.print(f"INTEGRITY LOST: {event.reason}", markup=False)
        out.print(f"Expected digest: {event.expected}", markup=False)
        out.print(f"Actual digest: {event.actual or 'missing'}", markup=False)
        done.set()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    watchdog.on_integrity_lost(report)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        out.print(
            f"Constitution verified: {file} (version {result.constitution.version}, {digest})",
            markup=False,
        )
        out.print(f"Watching every {interval:g}s; Ctrl-C to stop", markup=False)
        watchdog.start()
        # A bounded wait keeps the main thread responsive to signals.
        while not done.wait(0.5):
            pass
    finally:
        watchdog.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not watchdog.healthy:
        raise typer.Exit(1)
    out.print("Stopped; constitution unchanged", markup=False)
