"""``charter waiver create / verify / list``: signed, expiring waivers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from charter.cli._app import FORMAT_OPTION, OutputFormat, app
from charter.cli._stack import (
    CONSTITUTION_OPTION,
    OVERLAY_OPTION,
    PACK_OPTION,
    TRUST_OPTION,
    trust_policy,
    verified_stack,
)
from charter.core.decision import parse_now
from charter.policy import waivers
from charter.render import json as render_json
from charter.render import text as render_text
from charter.trust import keys

waiver_app = typer.Typer(
    help="Create, verify and list waivers of pack and overlay rules.", no_args_is_help=True
)
app.add_typer(waiver_app, name="waiver")

WAIVER_KEY_OPTION = typer.Option(
    None,
    "--waiver-key",
    help="LAYER=PUB: a public key trusted to sign waivers of that layer's rules (repeatable)",
)
NOW_OPTION = typer.Option(None, "--now", help="RFC 3339 time to judge expiry at")


@waiver_app.command("create")
def create(
    rule: str = typer.Option(..., "--rule", help="the pack or overlay rule id to waive"),
    scope: list[str] = typer.Option(
        ..., "--scope", help="repo=OWNER/NAME (required), path=GLOB, branch=GLOB (repeatable)"
    ),
    reason: str = typer.Option(..., "--reason", help="why the rule is waived"),
    expires: str | None = typer.Option(None, "--expires", help="YYYY-MM-DD or RFC 3339 time"),
    approver: str = typer.Option(..., "--approver", help="who approved the waiver"),
    key: Path = typer.Option(..., "--key", help="private key that signs the waiver"),
    output: Path = typer.Option(..., "-o", "--output", help="the waiver JSON to write"),
    passphrase_env: str | None = typer.Option(None, "--passphrase-env"),
    overlay: Path | None = OVERLAY_OPTION,
    pack: list[Path] | None = PACK_OPTION,
    constitution: Path | None = CONSTITUTION_OPTION,
    trust: Path | None = TRUST_OPTION,
    now: str | None = NOW_OPTION,
) -> None:
    """Write a signed waiver; refuse constitution rules and expiries beyond the maximum."""
    stack = verified_stack(constitution, pack, overlay, trust_policy(trust), record=False)
    private = keys.load_private(key, keys.passphrase_from_env(passphrase_env))
    waiver = waivers.create_waiver(
        rule=rule,
        scope=waivers.parse_scope(scope),
        reason=reason,
        expires=expires,
        approver=approver,
        key=private,
        stack=stack,
        now=parse_now(now) if now else None,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(waiver.to_json(), encoding="utf-8")
    render_text.show(
        f"Waiver {waiver.id} written to {output}",
        f"Rule: {waiver.rule} ({waiver.layer}); expires {waiver.expires}",
        f"Signed by: {waiver.key_id}",
    )


@waiver_app.command("verify")
def verify(
    file: Path = typer.Argument(..., metavar="FILE"),
    key: list[Path] = typer.Option(..., "--key", help="trusted public key (repeatable)"),
    overlay: Path | None = OVERLAY_OPTION,
    pack: list[Path] | None = PACK_OPTION,
    constitution: Path | None = CONSTITUTION_OPTION,
    trust: Path | None = TRUST_OPTION,
    now: str | None = NOW_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Check signature, rule, duration and expiry: exit 0 active, 1 expired or invalid."""
    stack = verified_stack(constitution, pack, overlay, trust_policy(trust), record=False)
    trusted = [keys.load_public(k) for k in key]
    loaded = waivers.load_file(file)
    result = waivers.status(loaded, stack, {"pack": trusted, "overlay": trusted}, _moment(now))
    if fmt is OutputFormat.json:
        render_json.show(result.to_dict())
    else:
        render_text.show(f"{file}: {result.state} ({result.detail})")
    raise typer.Exit(0 if result.state == "active" else 1)


def _moment(now: str | None) -> datetime:
    return parse_now(now)


@waiver_app.command("list")
def list_waivers(
    directory: Path = typer.Argument(..., metavar="DIR"),
    waiver_key: list[str] | None = WAIVER_KEY_OPTION,
    overlay: Path | None = OVERLAY_OPTION,
    pack: list[Path] | None = PACK_OPTION,
    constitution: Path | None = CONSTITUTION_OPTION,
    trust: Path | None = TRUST_OPTION,
    now: str | None = NOW_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """List the waivers in DIR as active, expired or invalid."""
    stack = verified_stack(constitution, pack, overlay, trust_policy(trust), record=False)
    signers = waivers.parse_trust(waiver_key) if waiver_key else None
    moment = _moment(now)
    rows = [waivers.status(w, stack, signers, moment) for w in waivers.load_directory(directory)]
    if fmt is OutputFormat.json:
        render_json.show([r.to_dict() for r in rows])
        return
    cells = []
    for r in rows:
        w = r.waiver
        scope = " ".join(f"{k}={','.join(v)}" for k, v in w.scope.to_dict().items()) if w else ""
        cells.append(
            (
                r.state,
                w.id if w else r.source,
                w.rule if w else "",
                w.expires if w else "",
                scope,
                r.detail,
            )
        )
    columns = ("Status", "Waiver", "Rule", "Expires", "Scope", "Detail")
    title = f"{len(rows)} waiver(s) in {directory}"
    render_text.show(render_text.table(columns, cells, title=title))
