"""``charter gate``, ``exec`` and ``budget``: the action gate CLI (hooks: :mod:`charter.cli.hook`).

Parse, call :mod:`charter.actions.gate`, render. Exit codes: 0 allow, 1 deny, 3 ask,
2 bad input or an unverifiable constitution (nothing is evaluated).
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import typer

from charter.actions import sandbox
from charter.actions.budget import Budget
from charter.actions.gate import Gate, GateConfig, Loaded, audit_files, load_layers
from charter.audit import stores as audit_mod
from charter.cli._app import FORMAT_OPTION, OutputFormat, app
from charter.core.decision import Decision
from charter.core.errors import AuditError, InputError, IntegrityLost, Rejected
from charter.core.verdict import Verdict
from charter.render import json as render_json
from charter.render import text as render_text
from charter.render import write as write_out
from charter.trust.versions import VersionState, default_state_dir
from charter.trust.watchdog import Watchdog

CONSTITUTION = typer.Option(
    ...,
    "--constitution",
    metavar="FILE",
    help="a signed constitution TOML; repeat for lower layers (packs, then an overlay), "
    "upper first: they compose, and a lower layer only tightens",
)
KEY = typer.Option(
    None,
    "--key",
    metavar="PUB",
    help="public key of each --constitution's signer, repeated in the same order",
)
TRUST = typer.Option(
    None,
    "--trust",
    metavar="POLICY",
    help="trust policy pinning each layer's signers (instead of --key)",
)
AUDIT = typer.Option(
    None, "--audit", help="audit log (default $CHARTER_AUDIT or ~/.charter/audit.db)"
)
ROLE = typer.Option(None, "--model-role", help="the agent's role in [model_permissions]")
BUDGET = typer.Option(
    None, "--budget", help="budget store (default $CHARTER_BUDGET or ~/.charter/budget.json)"
)
RUN = typer.Option(None, "--run", help="run id for max_api_cost_per_run (default $CHARTER_RUN_ID)")


class _CheckingWatchdog:
    """Re-hash the verified constitution right before each decision."""

    def __init__(self, watchdog: Watchdog) -> None:
        self.watchdog = watchdog

    def guard(self) -> None:
        self.watchdog.check_now()
        self.watchdog.guard()


def _audit_location(audit: Path | None) -> str:
    if audit is not None:
        return str(audit)
    return audit_mod.default_location()


def load_gate_constitution(
    constitution: Path | Sequence[Path], key: Path | Sequence[Path] | None, trust: Path | None
) -> tuple[Loaded, tuple[str, ...]]:
    """Every layer verified against its own signer and composed, its versions checked
    against (and recorded in) the state directory; and the files it was read from.

    One ``Path`` is the one-layer case of a list of them (for ``constitution`` and ``key``).
    """
    constitution = [constitution] if isinstance(constitution, Path) else list(constitution)
    key = [key] if isinstance(key, Path) else key
    policy = None
    if trust is not None:
        from charter.trust.policy import load_policy  # only with --trust (hook start-up)

        policy = load_policy(trust)
    state = VersionState(policy.state_dir if policy and policy.state_dir else None)
    loaded = load_layers(constitution, key, trust=policy, state=state, record=True)
    files = [*map(str, constitution), *map(str, key or ())]
    if policy is not None:
        files += [str(trust), *(str(f) for t in policy.layers.values() for f in t.key_files)]
    files += [str(state.path), str(state.directory / ".lock")]
    return loaded, tuple(files)


def open_gate(
    constitution: Path | Sequence[Path],
    key: Path | Sequence[Path] | None,
    audit: Path | None,
    budget: Path | None,
    run: str | None,
    source: str,
    *,
    trust: Path | None = None,
) -> tuple[Gate, audit_mod.AuditStore]:
    """The gate for one CLI call and the audit store its decisions are recorded in.

    ``constitution`` lists the layers upper first, each verified against its own
    ``key`` (same order) or the ``trust`` policy's signers for its layer.
    """
    loaded, files = load_gate_constitution(constitution, key, trust)
    watchdog = Watchdog({Path(p): digest for p, digest in loaded.files.items()})
    store = audit_mod.open_store(_audit_location(audit))
    spend = Budget(budget, run)
    own = (*files, str(spend.path), f"{spend.path}.lock")
    gate = Gate(
        loaded.constitution,
        watchdog=_CheckingWatchdog(watchdog),
        budget=spend,
        config=GateConfig(
            protected_paths=(*own, *audit_files(store.location)),
            source=source,
            run_id=spend.run_id,
        ),
    )
    return gate, store


def record(store: audit_mod.AuditStore, decision: Decision, source: str) -> Decision:
    """Record ``decision`` before anything acts on it; a failure to record fails closed."""
    try:
        store.append(decision.to_dict(), source=source)
    except AuditError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to record fails closed
        raise AuditError(f"cannot record the decision in the audit log ({exc})") from exc
    return decision


def rendered(decision: Decision, subject: str, fmt: OutputFormat) -> str:
    """The output for ``decision``, rendered in full before it is recorded.

    Rendering first means a rendering failure leaves nothing recorded, and a
    recorded decision is shown exactly as recorded.
    """
    if fmt is OutputFormat.json:
        return render_json.document(decision.to_dict())
    return render_text.render(render_text.action_decision(decision, subject))


@app.command("gate")
def gate_command(
    constitution: list[Path] = CONSTITUTION,
    key: list[Path] | None = KEY,
    trust: Path | None = TRUST,
    command: str | None = typer.Option(None, "--command", help="a shell command string"),
    write: str | None = typer.Option(None, "--write", help="a file the agent will write"),
    size: int | None = typer.Option(None, "--size", help="bytes to write (with --write)"),
    read: str | None = typer.Option(None, "--read", help="a file the agent will read"),
    tool: str | None = typer.Option(
        None, "--tool", help="a tool (MCP) call the agent will make: its name (mcp__pg__query)"
    ),
    arguments: str | None = typer.Option(
        None, "--arguments", help="the tool call's arguments, a JSON object (with --tool)"
    ),
    cwd: str | None = typer.Option(None, "--cwd", help="working directory of the action"),
    model_role: str | None = ROLE,
    audit: Path | None = AUDIT,
    budget: Path | None = BUDGET,
    run: str | None = RUN,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Decide one action: exit 0 allow, 1 deny, 3 ask, 2 bad input."""
    chosen = [x for x in (command, write, read, tool) if x is not None]
    if len(chosen) != 1:
        raise InputError("pass exactly one of --command, --write, --read, --tool")
    if size is not None and write is None:
        raise InputError("--size goes with --write")
    if arguments is not None and tool is None:
        raise InputError("--arguments goes with --tool")
    call = None if tool is None else tool_action(tool, arguments, cwd, model_role)
    gate, store = open_gate(constitution, key, audit, budget, run, "gate", trust=trust)
    if call is not None:
        decision = gate.decide_action(call)
        subject = f"tool {tool}"
    elif command is not None:
        decision = gate.decide_command(command, cwd, model_role)
        subject = command
    elif write is not None:
        decision = gate.decide_write(write, size, cwd, model_role)
        subject = f"write {write}"
    else:
        assert read is not None  # noqa: S101 - narrowed by the check above
        decision = gate.decide_read(read, cwd, model_role)
        subject = f"read {read}"
    shown = rendered(decision, subject, fmt)
    record(store, decision, gate.config.source)
    write_out(shown)
    raise typer.Exit(decision.exit_code)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise InputError("--arguments: a key is given twice", hint="each key once")
    return dict(pairs)


def _no_constant(name: str) -> object:
    raise InputError(f"--arguments: {name} is not JSON")


def tool_action(
    name: str, arguments: str | None, cwd: str | None, model_role: str | None
) -> dict[str, object]:
    """The gate's tool action for ``charter gate --tool NAME --arguments JSON``.

    The arguments must be one JSON object; a key given twice (which copy would the
    server read?) and NaN/Infinity are refused, not guessed.
    """
    try:
        args = (
            {}
            if arguments is None
            else json.loads(arguments, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
        )
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InputError(
            f"--arguments is not JSON: {exc}", hint='e.g. --arguments \'{"sql": "SELECT 1"}\''
        ) from exc
    if not isinstance(args, dict):
        raise InputError("--arguments must be a JSON object", hint='e.g. {"sql": "SELECT 1"}')
    action: dict[str, object] = {"kind": "tool", "tool": name, "arguments": args}
    if cwd is not None:
        action["cwd"] = cwd
    if model_role is not None:
        action["model_role"] = model_role
    return action


# ------------------------------------------------------------------- exec


@contextmanager
def _slot(limit: int | None) -> Iterator[None]:
    """Hold one of ``limit`` concurrent-workflow slots (flock), or refuse."""
    if limit is None:
        yield
        return
    directory = default_state_dir() / "slots"
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(limit):
        fd = os.open(directory / f"slot-{i}", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        try:
            yield
        finally:
            os.close(fd)
        return
    raise _Refused(f"max_concurrent_workflows ({limit}) are already running")


class _Refused(Rejected):
    """The run was refused before it started (exit 1)."""


def _approve(decision: Decision) -> bool:
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    sys.stderr.write("Charter asks for approval:\n")
    for r in decision.reasons:
        if r.verdict is Verdict.ASK:
            render_text.note(f"  - {r.rule}: {r.msg}")
    sys.stderr.write("Approve? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


@app.command(
    "exec",
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
def exec_command(
    argv: list[str] = typer.Argument(..., metavar="-- CMD…", help="the command to run"),
    constitution: list[Path] = CONSTITUTION,
    key: list[Path] | None = KEY,
    trust: Path | None = TRUST,
    model_role: str | None = ROLE,
    audit: Path | None = AUDIT,
    budget: Path | None = BUDGET,
    run: str | None = RUN,
    cwd: str | None = typer.Option(None, "--cwd", help="working directory to run in"),
) -> None:
    """Decide, ask if needed, then run within the limits (exit: the command's own)."""
    gate, store = open_gate(constitution, key, audit, budget, run, "exec", trust=trust)
    where = os.path.abspath(cwd or os.getcwd())
    if len(argv) == 1:
        text = argv[0]
        run_argv = ["/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh", "-c", text]
    else:
        text = shlex.join(argv)
        run_argv = list(argv)
    decision = record(store, gate.decide_command(text, where, model_role), gate.config.source)
    if decision.verdict is Verdict.DENY:
        render_text.note(render_text.decision_summary(decision))
        raise typer.Exit(1)
    if decision.verdict is Verdict.ASK:
        if not _approve(decision):
            render_text.note(render_text.decision_summary(decision))
            raise typer.Exit(3)
        store.append(
            {
                "decision_id": decision.decision_id,
                "verdict": "allow",
                "input_digest": decision.input_digest,
                "approvals": [{"by": os.environ.get("USER", "unknown"), "type": "human"}],
                "event": {"approved": decision.decision_id},
            },
            source="exec",
            kind="approval",
        )
    limits = gate.constitution.limits
    if gate.sandbox_required(model_role):
        probe = sandbox.probe()
        if not probe.ok:
            raise sandbox.SandboxError(
                f"sandbox_only is set but the sandbox cannot run: {probe.reason}"
            )
        run_argv = sandbox.wrap(
            run_argv,
            writable=limits.allowed_directories or (),
            hidden=limits.blocked_directories,
            cwd=where,
        )
    with _slot(limits.max_concurrent_workflows):
        # Re-check integrity right before running: a change since the decision denies.
        if gate.watchdog is not None:
            try:
                gate.watchdog.guard()
            except IntegrityLost as exc:
                raise _Refused(str(exc)) from exc
        code = _run(run_argv, where, limits.max_execution_time)
    raise typer.Exit(code)


def _run(argv: list[str], cwd: str, timeout: int | None) -> int:
    try:
        proc = subprocess.Popen(argv, cwd=cwd, start_new_session=True)
    except OSError as exc:
        raise InputError(f"cannot run {argv[0]}: {exc.strerror}") from exc
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        sys.stderr.write(f"charter: killed after max_execution_time ({timeout}s)\n")
        return 124


# ------------------------------------------------------------------- budget

budget_app = typer.Typer(
    help="Track API spend against the constitution's limits.", no_args_is_help=True
)
app.add_typer(budget_app, name="budget")


@budget_app.command("record")
def budget_record(
    cost: float = typer.Option(..., "--cost", help="cost of one API call or run step"),
    budget: Path | None = BUDGET,
    run: str | None = RUN,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Record a spend."""
    store = Budget(budget, run)
    spend = store.record(cost)
    summary = store.summary()
    if fmt is OutputFormat.json:
        render_json.show(
            {"recorded": {"time": spend.time, "cost": spend.cost, "run": spend.run}, **summary}
        )
    else:
        render_text.show(f"recorded {spend.cost:.4f}; spent today {summary['spent_today']:.4f}")


@budget_app.command("show")
def budget_show(
    budget: Path | None = BUDGET,
    run: str | None = RUN,
    constitution: list[Path] | None = typer.Option(
        None, "--constitution", help="show the (composed) limits too; repeat for layers"
    ),
    key: list[Path] | None = typer.Option(
        None, "--key", help="public key of each --constitution, same order"
    ),
    trust: Path | None = TRUST,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Show what was spent today and in this run (and the limits)."""
    store = Budget(budget, run)
    summary = store.summary()
    if constitution:
        if not key and trust is None:
            raise InputError("--constitution needs --key (or --trust)")
        limits = load_gate_constitution(constitution, key, trust)[0].constitution.limits
        summary["max_api_cost_per_day"] = limits.max_api_cost_per_day
        summary["max_api_cost_per_run"] = limits.max_api_cost_per_run
    if fmt is OutputFormat.json:
        render_json.show(summary)
    else:
        render_text.show(*(f"{k}: {v}" for k, v in summary.items()))
