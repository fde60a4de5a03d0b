"""``charter hook NAME`` and ``charter hook serve``: agent hooks, direct or through the daemon.

``charter hook claude-code`` decides one tool call per process. ``charter hook serve``
runs the decision daemon (:mod:`charter.hookd.server`) that the ``charter-hook``
client starts on demand: it answers each forwarded call with :func:`answer`, the very
function the direct command runs, against a gate it keeps loaded and re-verifies when
the constitution, key, trust or pricing files change (and at least every
``--reverify-every`` seconds). Exit codes are the direct hook's: 0 with the agent's
answer on stdout, 2 (blocks the call) with one line on stderr for anything else.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import typer

from charter.actions import budget as budget_mod
from charter.actions.gate import Gate
from charter.actions.hooks import handle_claude_code
from charter.audit import stores as audit_mod
from charter.cli._app import app
from charter.cli.gate import AUDIT, BUDGET, CONSTITUTION, KEY, ROLE, RUN, open_gate, record
from charter.core import errors, jsonio
from charter.core.decision import Decision
from charter.core.errors import CharterError, InputError
from charter.hookd import protocol
from charter.hookd.server import Daemon, Reply, Request, failure
from charter.render import json as render_json
from charter.render import text as render_text
from charter.render import write as write_out

hook_app = typer.Typer(help="Adapters for agent hooks.", no_args_is_help=True)
app.add_typer(hook_app, name="hook")

PRICING = typer.Option(
    None,
    "--pricing",
    help="token prices (TOML, docs/hooks.md): feed the API-cost budget from the agent's "
    "transcript (default $CHARTER_PRICING)",
)

#: The agents ``charter hook`` speaks to (each is a command, ``charter hook NAME``, and
#: a name the daemon serves), with the command's help. Decisions are recorded with
#: source ``hook:NAME``; :func:`respond` speaks each one's protocol.
AGENTS: Mapping[str, str] = {
    "claude-code": "Claude Code PreToolUse hook: JSON on stdin, permission decision on stdout.",
}

OpenGate = Callable[[str], tuple[Gate, audit_mod.AuditStore]]


@dataclass(frozen=True)
class HookOptions:
    """The options of one hook configuration (a daemon serves exactly one)."""

    constitution: Path
    key: Path
    model_role: str | None = None
    audit: Path | None = None
    budget: Path | None = None
    run: str | None = None
    pricing: Path | None = None

    def pricing_file(self) -> Path | None:
        if self.pricing is not None:
            return self.pricing
        env = os.environ.get(budget_mod.PRICING_ENV)
        return Path(env).expanduser() if env else None

    def watched(self) -> list[Path]:
        """The files whose change makes the daemon reload and re-verify."""
        return [p for p in (self.constitution, self.key, self.pricing_file()) if p is not None]

    def audit_file(self) -> Path | None:
        """The local audit log file (None for a PostgreSQL store)."""
        where = (
            str(self.audit)
            if self.audit is not None
            else os.environ.get("CHARTER_AUDIT") or str(audit_mod.default_location())
        )
        return None if where.startswith(audit_mod.POSTGRES_SCHEMES) else Path(where)

    def open(self, source: str) -> tuple[Gate, audit_mod.AuditStore]:
        """The gate and audit store for one decision, exactly as ``charter hook`` opens them."""
        gate, store = open_gate(
            self.constitution, self.key, self.audit, self.budget, self.run, source
        )
        pricing = self.pricing_file()
        if pricing is not None:  # the prices are the gate's own file: never writable
            config = replace(
                gate.config, protected_paths=(*gate.config.protected_paths, str(pricing))
            )
            gate = Gate(
                gate.constitution, watchdog=gate.watchdog, budget=gate.budget, config=config
            )
        return gate, store


def _decoded(raw: bytes, what: str) -> str:
    """``raw`` as UTF-8 text; undecodable bytes are bad input, not a crash."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _stdin_bytes() -> bytes:
    if hasattr(sys.stdin, "buffer"):
        return sys.stdin.buffer.read()
    return sys.stdin.read().encode("utf-8", "surrogateescape")


def feed_usage(agent: str, text: str, options: HookOptions) -> None:
    """Record the API cost the agent's transcript shows since the last call (if priced)."""
    pricing = options.pricing_file()
    if pricing is None or agent != "claude-code":
        return
    try:
        payload = jsonio.loads_object(text, what="hook input")
    except CharterError:
        return  # the adapter refuses the payload itself, with its own message
    transcript = payload.get("transcript_path")
    if isinstance(transcript, str) and transcript:
        store = budget_mod.Budget(options.budget, options.run)
        store.feed_transcript(transcript, budget_mod.load_pricing(pricing))


def respond(agent: str, gate: Gate, text: str, model_role: str | None) -> tuple[str, int, Decision]:
    """(stdout, exit code, decision) of ``agent``'s hook protocol for one payload."""
    if agent == "claude-code":
        output, decision = handle_claude_code(gate, text, model_role)
        return render_json.document(output), 0, decision
    raise InputError(f"unknown agent {agent!r}", hint="one of: " + ", ".join(AGENTS))


def answer(agent: str, raw: bytes, options: HookOptions, opener: OpenGate) -> tuple[str, int]:
    """One hook call: decide, record, and return (stdout, exit code). Errors raise."""
    if agent not in AGENTS:
        raise InputError(f"unknown agent {agent!r}", hint="one of: " + ", ".join(AGENTS))
    text = _decoded(raw, "hook input")
    gate, store = opener(f"hook:{agent}")
    feed_usage(agent, text, options)
    shown, code, decision = respond(agent, gate, text, options.model_role)
    record(store, decision, gate.config.source)
    return shown, code


def error_reply(exc: BaseException) -> Reply:
    """What ``charter.cli.main`` prints and returns for ``exc``, as a daemon reply."""
    if isinstance(exc, CharterError):
        message, code = str(exc), errors.exit_code(exc)
    elif type(exc).__name__ == "PanicException":
        message, code = f"the Rego engine panicked, nothing was decided: {exc}", 2
    else:
        message = f"internal error: {type(exc).__name__}: {exc} (run with --verbose for details)"
        code = 2
    line = " ".join(render_text.literal(message, multiline=True).split())
    return Reply("", f"charter: error: {line}\n", code)


def _direct(agent: str) -> Callable[..., None]:
    """The ``charter hook AGENT`` command: one call decided in this process."""

    def command(
        constitution: Path = CONSTITUTION,
        key: Path = KEY,
        model_role: str | None = ROLE,
        audit: Path | None = AUDIT,
        budget: Path | None = BUDGET,
        run: str | None = RUN,
        pricing: Path | None = PRICING,
    ) -> None:
        options = HookOptions(constitution, key, model_role, audit, budget, run, pricing)
        shown, code = answer(agent, _stdin_bytes(), options, options.open)
        write_out(shown)
        raise typer.Exit(code)

    command.__doc__ = AGENTS[agent]
    command.__name__ = "hook_" + agent.replace("-", "_")
    return hook_app.command(agent)(command)


hook_claude_code = _direct("claude-code")


# ------------------------------------------------------------------- the daemon


class LoadedGates:
    """The daemon's gates, one per agent source, reloaded when a watched file changes."""

    def __init__(self, options: HookOptions, reverify_every: float) -> None:
        self.options = options
        self.reverify_every = reverify_every
        self._gates: dict[str, tuple[Gate, audit_mod.AuditStore]] = {}
        self._seen: tuple[object, ...] | None = None
        self._since = 0.0

    def _fingerprint(self) -> tuple[object, ...]:
        marks: list[object] = []
        for path in self.options.watched():
            try:
                s = os.stat(path)
            except OSError as exc:
                marks.append(("missing", str(path), exc.errno))
                continue
            marks.append((str(path), s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns))
        audit = self.options.audit_file()
        if audit is not None:  # a removed or replaced log is reopened, as the direct hook would
            try:
                s = os.stat(audit)
                marks.append((str(audit), s.st_dev, s.st_ino))
            except OSError as exc:
                marks.append(("missing", str(audit), exc.errno))
        return tuple(marks)

    def __call__(self, source: str) -> tuple[Gate, audit_mod.AuditStore]:
        seen = self._fingerprint()
        now = time.monotonic()
        if seen != self._seen or now - self._since > self.reverify_every:
            self.drop()
            self._seen, self._since = seen, now
        if source not in self._gates:
            self._gates[source] = self.options.open(source)
        return self._gates[source]

    def drop(self) -> None:
        for _, store in self._gates.values():
            try:
                store.close()
            except Exception:  # noqa: BLE001, S110 - a store that cannot close is dropped anyway
                pass
        self._gates.clear()


def daemon_handler(options: HookOptions, gates: LoadedGates) -> Callable[[Request], Reply]:
    """The daemon's handler: :func:`answer` in the caller's cwd, errors as the CLI shows them."""

    def handle(request: Request) -> Reply:
        try:
            os.chdir(request.cwd)
        except OSError as exc:
            return failure(f"cannot enter the hook's working directory {request.cwd} ({exc})")
        try:
            shown, code = answer(request.agent, request.stdin, options, gates)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure is an answer that blocks
            return error_reply(exc)
        return Reply(shown, "", code)

    return handle


@hook_app.command("serve")
def hook_serve(
    socket_path: Path = typer.Option(..., "--socket", help="the Unix socket to listen on"),
    identity: str = typer.Option(..., "--identity", help="the identity clients ask for"),
    idle_timeout: float = typer.Option(
        900.0,
        "--idle-timeout",
        envvar="CHARTER_HOOKD_IDLE",
        help="exit after this many seconds without a request ($CHARTER_HOOKD_IDLE)",
    ),
    reverify_every: float = typer.Option(
        300.0, "--reverify-every", help="reload and re-verify at least this often (seconds)"
    ),
    constitution: Path = CONSTITUTION,
    key: Path = KEY,
    model_role: str | None = ROLE,
    audit: Path | None = AUDIT,
    budget: Path | None = BUDGET,
    run: str | None = RUN,
    pricing: Path | None = PRICING,
) -> None:
    """Run the decision daemon that charter-hook starts on demand (docs/hooks.md)."""
    for name, value in (("--idle-timeout", idle_timeout), ("--reverify-every", reverify_every)):
        if not 0 < value <= 7 * 24 * 3600:
            raise InputError(f"{name} must be seconds from 0 to 7 days, got {value!r}")
    if not str(socket_path).endswith(".sock") or not socket_path.is_absolute():
        raise InputError(f"--socket {socket_path}: an absolute path ending in .sock")
    options = HookOptions(constitution, key, model_role, audit, budget, run, pricing)
    gates = LoadedGates(options, reverify_every)
    handler = daemon_handler(options, gates)

    def warm() -> None:  # load and verify before the first call, so it is fast too
        gates("hook:claude-code")

    daemon = Daemon(str(socket_path), identity, handler, idle_timeout=idle_timeout, warm=warm)
    render_text.note(f"charter hook serve: pid {os.getpid()} serving {socket_path}")
    try:
        daemon.serve()
    except (protocol.HookdError, OSError) as exc:
        raise InputError(f"hook daemon: {exc}") from None
    finally:
        gates.drop()
