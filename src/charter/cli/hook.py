"""``charter hook NAME`` and ``charter hook serve``: agent hooks, direct or through the daemon.

``charter hook claude-code`` decides one tool call per process. ``charter hook serve``
runs the decision daemon (:mod:`charter.hookd.server`) that the ``charter-hook``
client starts on demand: it answers each forwarded call with :func:`answer`, the very
function the direct command runs, against a gate it keeps loaded and re-verifies when
any file the gate was loaded from (constitution layers, keys, trust policy and the
keys it names, the pricing file) changes, and at least every ``--reverify-every``
seconds. Each agent's protocol is :func:`charter.actions.hooks.respond`; exit codes are
its own: 0 with the agent's answer on stdout, 2 (blocks the call) with one line on
stderr.
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
from charter.actions import hooks
from charter.actions.gate import Gate, audit_files
from charter.audit import stores as audit_mod
from charter.cli._app import FORMAT_OPTION, OutputFormat, app
from charter.cli.gate import (
    AUDIT,
    BUDGET,
    CONSTITUTION,
    KEY,
    ROLE,
    RUN,
    TRUST,
    budget_app,
    open_gate,
    record,
)
from charter.core import errors, jsonio
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

ASK_AS_DENY = typer.Option(
    False,
    "--ask-as-deny",
    help="answer deny where the gate says ask (agents or modes that run an ask unasked)",
)

#: The agents ``charter hook`` speaks to (each is a command, ``charter hook NAME``, and
#: a name the daemon serves), with the command's help (docs/agents.md). Decisions are
#: recorded with source ``hook:NAME``.
AGENTS: Mapping[str, str] = {
    "claude-code": "Claude Code PreToolUse hook: JSON on stdin, permission decision on stdout.",
    "gemini-cli": "Gemini CLI BeforeTool hook: JSON on stdin, decision on stdout.",
    "cursor": "Cursor beforeShellExecution / beforeMCPExecution / beforeReadFile hook.",
    "codex": "Codex PreToolUse hook (Bash, apply_patch, MCP tools); ask is answered deny.",
}

OpenGate = Callable[[str], tuple[Gate, audit_mod.AuditStore]]


@dataclass(frozen=True)
class HookOptions:
    """The options of one hook configuration (a daemon serves exactly one)."""

    constitution: tuple[Path, ...]
    key: tuple[Path, ...] = ()
    trust: Path | None = None
    model_role: str | None = None
    ask_as_deny: bool = False
    audit: Path | None = None
    budget: Path | None = None
    run: str | None = None
    pricing: Path | None = None

    def pricing_file(self) -> Path | None:
        if self.pricing is not None:
            return self.pricing
        env = os.environ.get(budget_mod.PRICING_ENV)
        return Path(env).expanduser() if env else None

    def audit_location(self) -> str:
        if self.audit is not None:
            return str(self.audit)
        return audit_mod.default_location()

    def audit_file(self) -> Path | None:
        """The local audit log file (None for a PostgreSQL store)."""
        where = self.audit_location()
        return None if where.startswith(audit_mod.POSTGRES_SCHEMES) else Path(where)

    def watched(self, gate: Gate) -> list[str]:
        """The files ``gate`` was loaded from, whose change makes the daemon reload.

        That is the gate's own files (layers, keys, trust policy and the keys it names,
        accepted versions) and the pricing file, without the audit log and the budget
        store, which change with every call.
        """
        spend = budget_mod.Budget(self.budget, self.run).path
        busy = {str(spend), f"{spend}.lock", *audit_files(self.audit_location())}
        files = [p for p in gate.config.protected_paths if p not in busy]
        pricing = self.pricing_file()
        return [*files, *([str(pricing)] if pricing is not None else [])]

    def open(self, source: str) -> tuple[Gate, audit_mod.AuditStore]:
        """The gate and audit store for one decision, exactly as ``charter hook`` opens them."""
        gate, store = open_gate(
            list(self.constitution),
            list(self.key) or None,
            self.audit,
            self.budget,
            self.run,
            source,
            trust=self.trust,
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

    def sandbox_exec(self) -> tuple[str, ...] | None:
        """``charter exec …`` with this hook's layers, keys and trust policy, for a
        ``sandbox_only`` role; None when they do not pair up (such a role's commands are
        then refused rather than run unsandboxed)."""
        paired = len(self.key) == len(self.constitution)
        if not paired and (self.trust is None or self.key):
            return None
        return hooks.exec_prefix(
            hooks.charter_program(),
            self.constitution,
            self.key,
            trust=self.trust,
            audit=self.audit,
            budget=self.budget,
            run=self.run,
        )


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


def answer(agent: str, raw: bytes, options: HookOptions, opener: OpenGate) -> tuple[str, str, int]:
    """One hook call: decide, record, and return (stdout, stderr, exit code).

    Bad input is an answer that blocks (:func:`hooks.respond` never raises for it);
    a constitution that does not verify, an audit log that cannot record, an unpriced
    transcript raise, and the CLI shows them as one line with exit 2.
    """
    if agent not in AGENTS:
        raise InputError(f"unknown agent {agent!r}", hint="one of: " + ", ".join(AGENTS))
    text = _decoded(raw, "hook input")
    gate, store = opener(f"hook:{agent}")
    feed_usage(agent, text, options)
    reply = hooks.respond(
        agent,
        gate,
        text,
        model_role=options.model_role,
        ask_as_deny=options.ask_as_deny,
        sandbox_exec=options.sandbox_exec(),
    )
    record(store, reply.decision, gate.config.source)
    stderr = (
        reply.stderr + "\n" if reply.stderr and not reply.stderr.endswith("\n") else reply.stderr
    )
    return reply.stdout, stderr, reply.exit_code


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
        constitution: list[Path] = CONSTITUTION,
        key: list[Path] | None = KEY,
        trust: Path | None = TRUST,
        model_role: str | None = ROLE,
        ask_as_deny: bool = ASK_AS_DENY,
        audit: Path | None = AUDIT,
        budget: Path | None = BUDGET,
        run: str | None = RUN,
        pricing: Path | None = PRICING,
    ) -> None:
        options = HookOptions(
            tuple(constitution), tuple(key or ()), trust, model_role, ask_as_deny,
            audit, budget, run, pricing,
        )  # fmt: skip
        shown, err, code = answer(agent, _stdin_bytes(), options, options.open)
        write_out(shown)
        if err:
            sys.stderr.write(err)
        raise typer.Exit(code)

    command.__doc__ = AGENTS[agent]
    command.__name__ = "hook_" + agent.replace("-", "_")
    return hook_app.command(agent)(command)


hook_claude_code, hook_gemini_cli, hook_cursor, hook_codex = (_direct(a) for a in AGENTS)


# ------------------------------------------------------------------- the daemon


def _marks(paths: list[str]) -> tuple[object, ...]:
    """What ``stat`` says of each file (ctime included: it cannot be set back)."""
    marks: list[object] = []
    for path in paths:
        try:
            s = os.stat(path)
        except OSError as exc:
            marks.append(("missing", path, exc.errno))
            continue
        marks.append((path, s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns))
    return tuple(marks)


class LoadedGates:
    """The daemon's gates, one per agent source, reloaded when a file they came from changes.

    The files are the first gate's :meth:`HookOptions.watched` (taken right after it
    was loaded and verified); the audit log is reopened when it was removed or replaced.
    """

    def __init__(self, options: HookOptions, reverify_every: float) -> None:
        self.options = options
        self.reverify_every = reverify_every
        self._gates: dict[str, tuple[Gate, audit_mod.AuditStore]] = {}
        self._watched: list[str] = []
        self._seen: tuple[object, ...] = ()
        self._audit: tuple[object, ...] = ()
        self._since = 0.0

    def _audit_mark(self) -> tuple[object, ...]:
        audit = self.options.audit_file()
        if audit is None:
            return ()
        try:
            s = os.stat(audit)
        except OSError as exc:
            return ("missing", exc.errno)
        return (s.st_dev, s.st_ino)

    def _stale(self) -> bool:
        if not self._gates:
            return False
        if time.monotonic() - self._since > self.reverify_every:
            return True
        if _marks(self._watched) != self._seen or self._audit_mark() != self._audit:
            return True
        # A watchdog that latched (the constitution changed under it) needs a reload.
        return any(not getattr(getattr(g.watchdog, "watchdog", None), "healthy", True)
                   for g, _ in self._gates.values())  # fmt: skip

    def __call__(self, source: str) -> tuple[Gate, audit_mod.AuditStore]:
        if self._stale():
            self.drop()
        if source not in self._gates:
            first = not self._gates
            gate, store = self.options.open(source)
            self._gates[source] = (gate, store)
            if first:
                self._watched = self.options.watched(gate)
                self._seen = _marks(self._watched)
                self._audit = self._audit_mark()
                self._since = time.monotonic()
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
            shown, err, code = answer(request.agent, request.stdin, options, gates)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure is an answer that blocks
            return error_reply(exc)
        return Reply(shown, err, code)

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
    constitution: list[Path] = CONSTITUTION,
    key: list[Path] | None = KEY,
    trust: Path | None = TRUST,
    model_role: str | None = ROLE,
    ask_as_deny: bool = ASK_AS_DENY,
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
    options = HookOptions(
        tuple(constitution), tuple(key or ()), trust, model_role, ask_as_deny,
        audit, budget, run, pricing,
    )  # fmt: skip
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


# ------------------------------------------------------------------- budget feed


@budget_app.command("feed")
def budget_feed(
    pricing: Path = typer.Option(
        ..., "--pricing", envvar=budget_mod.PRICING_ENV, help="token prices (TOML, docs/hooks.md)"
    ),
    transcript: Path | None = typer.Option(
        None,
        "--transcript",
        help="a Claude Code transcript (default: transcript_path of the hook payload on stdin)",
    ),
    budget: Path | None = BUDGET,
    run: str | None = RUN,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Record the API cost a transcript gained since the last feed (e.g. as a Stop hook)."""
    if transcript is None:
        payload = jsonio.loads_object(_decoded(_stdin_bytes(), "hook input"), what="hook input")
        named = payload.get("transcript_path")
        if not isinstance(named, str) or not named:
            raise InputError("the hook input names no transcript_path", hint="or pass --transcript")
        transcript = Path(named)
    store = budget_mod.Budget(budget, run)
    cost = store.feed_transcript(transcript, budget_mod.load_pricing(pricing))
    summary = store.summary()
    if fmt is OutputFormat.json:
        render_json.show({"recorded": round(cost, 6), "transcript": str(transcript), **summary})
    else:
        render_text.show(f"recorded {cost:.4f}; spent today {summary['spent_today']:.4f}")
