"""``charter runner`` (serve decisions), ``runner pin``, ``runner token`` and ``charter status``."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.table import Table

from charter.cli._app import FORMAT_OPTION, OutputFormat, app, print_json, stdout
from charter.core import extras
from charter.core.errors import CharterError, ConfigError, InputError
from charter.policy.release import SHIPPED_PREFIX, shipped_agent_constitution
from charter.render import text as render_text
from charter.runner.auth import ROLES, TokenEntry, new_secret, parse_token_hash, scrypt_hash
from charter.runner.auth import sha256_hex as token_sha256
from charter.runner.config import Listen, RunnerConfig, Source, load_config, parse_listen
from charter.trust import keys
from charter.trust.policy import release_key_file

runner_app = typer.Typer(
    help="The decision service: `charter runner --config FILE` or `charter runner --dev`.",
    invoke_without_command=True,
)
app.add_typer(runner_app, name="runner")


class RunnerUnreachable(CharterError):
    """``charter status`` could not talk to the runner."""


def _serve(config: RunnerConfig, *, dev: bool, banner: list[str]) -> None:
    extras.require("charter runner", "fastapi", "uvicorn", "prometheus_client")
    import uvicorn

    from charter.runner.app import create_app
    from charter.runner.service import RunnerService

    service = RunnerService(config, dev=dev, manage_gc=True).start()
    err = sys.stderr
    if not service.ready:
        err.write(
            f"charter: error: the stack did not load, decisions are refused until it does: "
            f"{service.load_error}\n"
        )
    elif service.degraded_reason:
        err.write(f"charter: warning: degraded: {service.degraded_reason}\n")
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(service),
            host=config.listen.host,
            port=config.listen.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
    )
    service.settle_gc()  # the app and the server are long-lived too
    for line in banner:
        err.write(line + "\n")
    err.write(f"charter runner: listening on http://{config.listen} ({service.health})\n")
    err.flush()
    try:
        server.run()
    finally:
        service.stop()


def _dev_config(
    listen: Listen, tokens: list[str], audit: Path | None
) -> tuple[RunnerConfig, list[str]]:
    if not listen.is_loopback:
        raise ConfigError(
            f"--dev refuses to listen on {listen}: it is not a loopback address",
            hint="dev mode has throw-away tokens; use --config for a real deployment",
        )
    work = Path(tempfile.mkdtemp(prefix="charter-dev-"))
    # The shipped, release-signed constitutions: no key of your own is needed.
    release_key = keys.load_public(release_key_file())
    banner = [
        f"charter runner --dev: throw-away tokens and state in {work}",
        f"  serving the shipped constitutions signed by {keys.key_id(release_key)}",
    ]
    entries: list[TokenEntry] = []
    given = tokens or [f"{role}:{new_secret()}" for role in ROLES]
    for index, item in enumerate(given):
        role, sep, secret = item.partition(":")
        if not sep or role not in ROLES or not secret:
            raise InputError(f"--token {item!r} is not ROLE:SECRET", hint=", ".join(ROLES))
        name = f"dev-{role}-{index}"
        entries.append(parse_token_hash(name, role, "sha256", token_sha256(secret), "--token"))
        if not tokens:
            banner.append(f"  token for {role}: {secret}")
    store = audit if audit is not None else work / "audit.db"
    banner.append(f"  audit store: {store}")
    config = RunnerConfig(
        listen=listen,
        refresh_interval=3600.0,
        state_dir=work / "state",
        constitution=Source(SHIPPED_PREFIX + "constitution"),
        action_constitution=shipped_agent_constitution(),
        action_key=release_key_file(),
        audit_store=str(store),
        tokens=tuple(entries),
        source="--dev",
    )
    return config, banner


@runner_app.callback()
def runner(
    ctx: typer.Context,
    config: Path | None = typer.Option(None, "--config", help="runner config TOML"),
    dev: bool = typer.Option(
        False,
        "--dev",
        help="serve the shipped, release-signed constitutions with throw-away tokens "
        "(loopback only)",
    ),
    listen: str | None = typer.Option(None, "--listen", help="HOST:PORT (overrides the config)"),
    token: list[str] | None = typer.Option(
        None, "--token", help="--dev only: ROLE:SECRET (repeatable; default one per role)"
    ),
    audit: Path | None = typer.Option(None, "--audit", help="--dev only: audit store path"),
) -> None:
    """Serve decisions over HTTP (see docs/runner.md)."""
    if ctx.invoked_subcommand is not None:
        return
    if dev == (config is not None):
        raise InputError("give exactly one of --config FILE or --dev")
    where = parse_listen(listen, "--listen") if listen else None
    if dev:
        cfg, banner = _dev_config(where or parse_listen("127.0.0.1:8080"), token or [], audit)
    else:
        if token or audit is not None:
            raise InputError("--token and --audit are for --dev; put them in the config file")
        cfg = load_config(config)  # type: ignore[arg-type]  # checked above
        if where is not None:
            from dataclasses import replace

            cfg = replace(cfg, listen=where)
        if not cfg.tokens:
            raise ConfigError(
                f"{cfg.source}: no [[tokens]]: nobody could call the runner",
                hint="`charter runner token --role agent` prints a secret and its hash",
            )
        banner = []
    _serve(cfg, dev=dev, banner=banner)


@runner_app.command("pin")
def pin(
    layer: str = typer.Argument(..., help="constitution, pack, overlay, or LAYER/NAME"),
    version: str = typer.Argument(..., help="the exact version the runner may move to"),
    config: Path = typer.Option(..., "--config", help="the runner config TOML"),
) -> None:
    """Allow the runner to move to a new major version of a layer (read at the next refresh)."""
    from charter.runner.loading import Pins
    from charter.trust.policy import load_policy
    from charter.trust.versions import default_state_dir

    cfg = load_config(config)
    state = cfg.state_dir
    if state is None and cfg.trust_policy is not None:
        state = load_policy(cfg.trust_policy).state_dir
    Pins(Path(state) if state else default_state_dir()).pin(layer, version)
    stdout().print(
        f"Pinned {layer} to {version}; the runner moves at its next refresh.", markup=False
    )


@runner_app.command("token")
def token_cmd(
    role: str = typer.Option(..., "--role", help=", ".join(ROLES)),
    name: str | None = typer.Option(None, "--name", help="token name (default ROLE-1)"),
    scrypt: bool = typer.Option(False, "--scrypt", help="store an scrypt hash instead of sha256"),
) -> None:
    """Print a new secret and the [[tokens]] entry (with its hash) for the config."""
    if role not in ROLES:
        raise InputError(f"--role {role!r} is not one of {', '.join(ROLES)}")
    secret = new_secret()
    stored = f'scrypt = "{scrypt_hash(secret)}"' if scrypt else f'sha256 = "{token_sha256(secret)}"'
    out = stdout()
    out.print(f"secret (give it to the client, it is not stored): {secret}", markup=False)
    out.print("", markup=False)
    out.print("[[tokens]]", markup=False)
    out.print(f'name = "{name or role + "-1"}"', markup=False)
    out.print(f'role = "{role}"', markup=False)
    out.print(stored, markup=False)


@app.command("status")
def status(
    runner_url: str = typer.Option(..., "--runner", help="e.g. http://127.0.0.1:8080"),
    token: str | None = typer.Option(
        None, "--token", help="API token (default $CHARTER_TOKEN)", show_default=False
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Health report of a runner: exit 0 healthy, 1 degraded or not ready."""
    secret = token or os.environ.get("CHARTER_TOKEN")
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    url = runner_url.rstrip("/") + "/v1/status"
    try:
        response = httpx.get(url, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise RunnerUnreachable(f"{runner_url}: runner unreachable ({type(exc).__name__})") from exc
    if response.status_code in (401, 403):
        raise InputError(
            f"{runner_url}: HTTP {response.status_code}: {_message(response)}",
            hint="pass --token or set CHARTER_TOKEN",
        )
    if response.status_code != 200:
        raise RunnerUnreachable(f"{runner_url}: HTTP {response.status_code}: {_message(response)}")
    doc = response.json()
    healthy = doc.get("health") == "ok"
    if fmt is OutputFormat.json:
        print_json(doc)
    else:
        _render_status(runner_url, doc)
    raise typer.Exit(0 if healthy else 1)


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text[:200]))
    except ValueError:
        return response.text[:200]


def _render_status(url: str, doc: dict[str, Any]) -> None:
    out = stdout()
    health = str(doc.get("health"))
    style = {"ok": "green", "degraded": "yellow"}.get(health, "red")
    out.print(render_text.styled(f"Runner {url}: ", (health.upper(), f"bold {style}")))
    if doc.get("reason"):
        out.print(f"Reason: {doc['reason']}", markup=False)
    table = Table(title="Layers")
    for column in ("Layer", "Name", "Version", "Digest", "Source", "Signer"):
        table.add_column(column, overflow="fold")
    layers = list(doc.get("layers") or [])
    if doc.get("actions"):
        layers.append(doc["actions"])
    for layer in layers:
        table.add_row(
            str(layer.get("layer")),
            str(layer.get("name")),
            str(layer.get("version")),
            str(layer.get("digest")),
            str(layer.get("resolved") or layer.get("source") or ""),
            str(layer.get("signer") or "-"),
        )
    out.print(table)
    last = doc.get("last_refresh") or {}
    out.print(
        f"Last refresh: {last.get('at', '-')} ({'ok' if last.get('ok') else 'FAILED'})"
        + (f": {last['error']}" if last.get("error") else ""),
        markup=False,
    )
    out.print(f"Last good refresh: {doc.get('last_good_refresh') or '-'}", markup=False)
    out.print(f"Degraded: {'yes' if doc.get('degraded') else 'no'}", markup=False)
    integrity = doc.get("integrity") or {}
    out.print(f"Integrity: {'ok' if integrity.get('ok') else 'LOST'}", markup=False)
    out.print(f"Audit store: {(doc.get('audit') or {}).get('store')}", markup=False)
    evaluators = doc.get("evaluators")
    if evaluators:
        out.print(
            f"Evaluators: {evaluators.get('processes')} processes "
            f"({evaluators.get('process_restarts')} restarted), "
            f"{evaluators.get('threads')} threads",
            markup=False,
        )
    waivers = doc.get("waivers")
    if waivers:
        out.print(
            f"Waivers: {waivers.get('count')} ({waivers.get('active')} active, "
            f"{waivers.get('expired')} expired, {waivers.get('invalid')} invalid) "
            f"from {waivers.get('directory')}, digest {waivers.get('digest') or '-'}",
            markup=False,
        )
        if waivers.get("error"):
            out.print(f"Waivers problem: {waivers['error']}", markup=False)
