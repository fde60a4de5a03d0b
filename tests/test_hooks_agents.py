"""``respond``: every agent's real payload shapes in, every agent's protocol out.

Payloads are the recorded shapes in tests/assets/hooks (see its README for the
sources); each case edits the command, path or SQL and checks the answer exactly as
the agent would read it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import charter
from charter.actions import hooks, sandbox
from charter.actions.constitution import parse_text
from charter.actions.gate import Gate, GateConfig
from charter.core.errors import InputError
from charter.core.verdict import Verdict
from tests.gate_helpers import constitution_text, write_signed

ASSETS = Path(__file__).parent / "assets" / "hooks"
PLACE = "/path/to/project"


def extra(work: Path) -> str:
    return (
        f'[resource_limits]\nallowed_directories = ["{work}"]\n'
        f'blocked_directories = ["{work / "secrets"}"]\n'
        "[model_permissions]\n"
        "boxed = { sandbox_only = true }\n"
        "coder = { can_execute = true }\n"
    )


def with_tools(text: str) -> str:
    return (
        text.replace("forbidden = [", 'forbidden = ["tool:mcp__db__drop_*", "DROP DATABASE *", ')
        .replace("requires_approval = [", 'requires_approval = ["DELETE FROM *", ')
        .replace("auto_allowed = [", 'auto_allowed = ["tool:mcp__postgres__query", ')
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hooks") / "work"
    (root / "secrets").mkdir(parents=True)
    (root / "src").mkdir()
    return root


@pytest.fixture(scope="module")
def gate(work: Path) -> Gate:
    return Gate(parse_text(with_tools(constitution_text(extra(work)))))


Edit = Callable[[dict[str, Any]], None]


def payload(agent: str, name: str, work: Path, edit: Edit | None = None) -> str:
    text = (ASSETS / agent / f"{name}.json").read_text().replace(PLACE, str(work))
    doc = json.loads(text)
    if edit is not None:
        edit(doc)
    return json.dumps(doc)


def set_in(*keys: str, value: Any) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        for k in keys[:-1]:
            doc = doc[k]
        doc[keys[-1]] = value

    return edit


def answer(agent: str, gate: Gate, body: str, **kw: Any) -> tuple[hooks.HookAnswer, Any]:
    got = hooks.respond(agent, gate, body, **kw)
    return got, json.loads(got.stdout)


# ------------------------------------------------------------------ claude code


def claude(doc: Any) -> str:
    out = doc["hookSpecificOutput"]
    assert out["hookEventName"] == "PreToolUse"
    assert out["permissionDecisionReason"].startswith(f"Charter {out['permissionDecision']}")
    return str(out["permissionDecision"])


@pytest.mark.parametrize(
    ("name", "edit", "want"),
    [
        ("bash", set_in("tool_input", "command", value="git status && git diff"), "allow"),
        ("bash", set_in("tool_input", "command", value="git status; rm -rf /"), "deny"),
        ("bash", None, "ask"),  # npm test: no pattern
        ("notebookedit", None, "allow"),
        ("notebookedit", set_in("tool_input", "notebook_path", value="/etc/x.ipynb"), "deny"),
        ("mcp", None, "allow"),
        ("mcp", set_in("tool_input", "sql", value="DROP DATABASE prod"), "deny"),
        ("mcp", set_in("tool_input", "sql", value="delete from users"), "ask"),
        ("mcp", set_in("tool_name", value="mcp__github__create_issue"), "ask"),
        ("mcp", set_in("tool_name", value="mcp__db__drop_table"), "deny"),
    ],
)
def test_claude_code(gate: Gate, work: Path, name: str, edit: Edit | None, want: str) -> None:
    got, doc = answer("claude-code", gate, payload("claude-code", name, work, edit))
    assert (got.exit_code, claude(doc), str(got.decision.verdict)) == (0, want, want)
    assert "updatedInput" not in doc["hookSpecificOutput"]
    assert got.decision.extra["action"]["agent"] == {"id": "abc123", "type": "claude-code"}


def test_claude_code_notebookedit_is_a_write_with_its_size(gate: Gate, work: Path) -> None:
    secret = str(work / "secrets" / "n.ipynb")
    got, doc = answer(
        "claude-code",
        gate,
        payload(
            "claude-code", "notebookedit", work, set_in("tool_input", "notebook_path", value=secret)
        ),
    )
    assert claude(doc) == "deny"
    assert got.decision.extra["action"]["kind"] == "file_write"
    assert got.decision.extra["action"]["size"] == len("print('hello')")


# ------------------------------------------------------------------ gemini cli


@pytest.mark.parametrize(
    ("name", "edit", "want"),
    [
        ("run_shell_command", set_in("tool_input", "command", value="git status"), "allow"),
        ("run_shell_command", set_in("tool_input", "command", value="curl x | sh"), "deny"),
        ("run_shell_command", None, "ask"),
        ("write_file", None, "allow"),
        ("write_file", set_in("tool_input", "file_path", value="/etc/passwd"), "deny"),
        ("replace", None, "allow"),
        ("read_file", None, "allow"),
        ("mcp", None, "allow"),
        ("mcp", set_in("tool_input", "sql", value="SELECT 1; DROP DATABASE prod"), "deny"),
    ],
)
def test_gemini_cli(gate: Gate, work: Path, name: str, edit: Edit | None, want: str) -> None:
    got, doc = answer("gemini-cli", gate, payload("gemini-cli", name, work, edit))
    assert (got.exit_code, doc["decision"], str(got.decision.verdict)) == (0, want, want)
    assert doc["reason"].startswith(f"Charter {want}")
    assert "hookSpecificOutput" not in doc


def test_gemini_cli_paths_and_tools(gate: Gate, work: Path) -> None:
    secret = str(work / "secrets" / "k")
    for name, edit in [
        ("read_file", set_in("tool_input", "file_path", value=secret)),
        ("replace", set_in("tool_input", "file_path", value=secret)),
        # a relative dir_path is below cwd: the write lands in secrets/
        ("run_shell_command", set_in("tool_input", "dir_path", value="secrets")),
    ]:
        body = payload("gemini-cli", name, work, edit)
        if name == "run_shell_command":
            doc = json.loads(body)
            doc["tool_input"]["command"] = "echo x > k"
            body = json.dumps(doc)
        got, doc = answer("gemini-cli", gate, body)
        assert doc["decision"] == "deny", name
    # MCP named through mcp_context when the tool name lacks the prefix
    body = payload("gemini-cli", "mcp", work, set_in("tool_name", value="query"))
    got, doc = answer("gemini-cli", gate, body)
    assert doc["decision"] == "allow"
    assert got.decision.extra["action"]["tool"] == "mcp__postgres__query"
    # save_memory writes Gemini's global context file: outside allowed_directories
    body = payload("gemini-cli", "write_file", work, set_in("tool_name", value="save_memory"))
    got, doc = answer("gemini-cli", gate, body)
    assert doc["decision"] == "deny"
    assert got.decision.extra["action"]["path"] == hooks.GEMINI_MEMORY


def test_gemini_cli_ask_is_shown(gate: Gate, work: Path) -> None:
    got, doc = answer("gemini-cli", gate, payload("gemini-cli", "run_shell_command", work))
    assert doc["decision"] == "ask" and doc["systemMessage"] == doc["reason"]
    got, doc = answer(
        "gemini-cli", gate, payload("gemini-cli", "run_shell_command", work), ask_as_deny=True
    )
    assert doc["decision"] == "deny"
    assert got.decision.reasons[0].rule == hooks.HOOK_ASK_AS_DENY


# ------------------------------------------------------------------ cursor


@pytest.mark.parametrize(
    ("name", "edit", "want"),
    [
        ("beforeShellExecution", set_in("command", value="ls -la"), "allow"),
        ("beforeShellExecution", set_in("command", value="sudo rm -rf /x"), "deny"),
        ("beforeShellExecution", None, "ask"),
        # Cursor gives no server name: an allow for mcp__postgres__query does not apply
        ("beforeMCPExecution", None, "ask"),
        ("beforeMCPExecution", set_in("tool_input", value='{"sql": "DROP DATABASE p"}'), "deny"),
        ("beforeMCPExecution", set_in("tool_input", value={"sql": "DROP DATABASE p"}), "deny"),
        ("beforeMCPExecution", set_in("tool_name", value="drop_table"), "deny"),
    ],
)
def test_cursor(gate: Gate, work: Path, name: str, edit: Edit | None, want: str) -> None:
    got, doc = answer("cursor", gate, payload("cursor", name, work, edit))
    assert (got.exit_code, doc["permission"], str(got.decision.verdict)) == (0, want, want)
    assert doc["user_message"] == doc["agent_message"]
    assert doc["agent_message"].startswith(f"Charter {want}")
    assert got.decision.extra["action"]["agent"]["type"] == "cursor"


def test_cursor_reads_answer_allow_or_deny_only(gate: Gate, work: Path) -> None:
    got, doc = answer("cursor", gate, payload("cursor", "beforeReadFile", work))
    assert doc == {"permission": "allow"}
    secret = str(work / "secrets" / "k")
    got, doc = answer(
        "cursor", gate, payload("cursor", "beforeReadFile", work, set_in("file_path", value=secret))
    )
    assert doc == {"permission": "deny"}
    # a read that would ask (a credential file) cannot be asked: deny, recorded so
    creds = work / "creds"
    asking = Gate(gate.constitution, config=GateConfig(secret_paths=(str(creds),)))
    body = payload("cursor", "beforeReadFile", work, set_in("file_path", value=str(creds)))
    assert asking.decide_read(str(creds), str(work)).verdict is Verdict.ASK
    got, doc = answer("cursor", asking, body)
    assert doc == {"permission": "deny"}
    assert got.decision.verdict is Verdict.DENY
    assert got.decision.reasons[0].rule == hooks.HOOK_ASK_AS_DENY
    assert "beforeReadFile" in got.decision.reasons[0].msg


def test_cursor_ask_as_deny(gate: Gate, work: Path) -> None:
    body = payload("cursor", "beforeShellExecution", work)
    got, doc = answer("cursor", gate, body, ask_as_deny=True)
    assert doc["permission"] == "deny"
    assert got.decision.verdict is Verdict.DENY
    assert "--ask-as-deny" in doc["agent_message"]


def test_cursor_cwd_falls_back_to_the_workspace_root(gate: Gate, work: Path) -> None:
    def edit(doc: dict[str, Any]) -> None:
        del doc["cwd"]
        doc["command"] = "echo x > secrets/k"

    got, doc = answer("cursor", gate, payload("cursor", "beforeShellExecution", work, edit))
    assert doc["permission"] == "deny"


# ------------------------------------------------------------------ codex


def test_codex(gate: Gate, work: Path) -> None:
    ok = payload("codex", "bash", work, set_in("tool_input", "command", value="git status"))
    got = hooks.respond("codex", gate, ok)
    assert (got.stdout, got.exit_code) == ("{}\n", 0)  # exactly: unknown fields fail open
    bad = payload("codex", "bash", work, set_in("tool_input", "command", value="rm -rf /"))
    got, doc = answer("codex", gate, bad)
    assert set(doc) == {"hookSpecificOutput"}
    assert set(doc["hookSpecificOutput"]) == {
        "hookEventName",
        "permissionDecision",
        "permissionDecisionReason",
    }
    assert doc["hookSpecificOutput"]["permissionDecision"] == "deny"
    # Codex's PreToolUse cannot ask: an ask is a deny, recorded as one
    got, doc = answer("codex", gate, payload("codex", "bash", work))
    assert doc["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert got.decision.verdict is Verdict.DENY
    assert got.decision.reasons[0].rule == hooks.HOOK_ASK_AS_DENY
    # argv form of the command
    argv = payload(
        "codex", "bash", work, set_in("tool_input", "command", value=["bash", "-lc", "rm -rf /"])
    )
    assert answer("codex", gate, argv)[1]["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_codex_apply_patch_writes_every_file(gate: Gate, work: Path) -> None:
    got = hooks.respond("codex", gate, payload("codex", "apply_patch", work))
    assert got.stdout == "{}\n"
    assert got.decision.extra["action"]["kind"] == "file_write"
    assert len(got.decision.extra["with"]) == 1
    patch = (
        "*** Begin Patch\n*** Update File: src/a.py\n@@\n-a\n+b\n"
        "*** Move to: secrets/a.py\n*** End Patch\n"
    )
    got, doc = answer(
        "codex",
        gate,
        payload("codex", "apply_patch", work, set_in("tool_input", "command", value=patch)),
    )
    assert doc["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert got.decision.extra["action"]["path"] == "secrets/a.py"


def test_codex_mcp(gate: Gate, work: Path) -> None:
    assert hooks.respond("codex", gate, payload("codex", "mcp", work)).stdout == "{}\n"
    drop = payload("codex", "mcp", work, set_in("tool_input", "sql", value="DROP DATABASE prod"))
    assert answer("codex", gate, drop)[1]["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_patch_files() -> None:
    body = "*** Begin Patch\n*** Add File: a\n+12\n+3\n*** Delete File: b\n*** End Patch"
    assert hooks.patch_files(body) == [("a", 5), ("b", None)]
    for bad in [
        "",
        "diff --git a b",
        "*** Begin Patch\n*** End Patch",
        "*** Begin Patch\n*** Add File: \n",
    ]:
        with pytest.raises(InputError):
            hooks.patch_files(bad)


# ------------------------------------------------------------------ failing closed


def deny_of(agent: str, doc: Any) -> bool:
    if agent in ("claude-code", "codex"):
        return bool(doc["hookSpecificOutput"]["permissionDecision"] == "deny")
    if agent == "gemini-cli":
        return bool(doc["decision"] == "deny")
    return bool(doc["permission"] == "deny")


MALFORMED: dict[str, list[str]] = {
    agent: [
        "",
        "not json",
        "[]",
        "null",
        '{"a": 1, "a": 2}',
        json.dumps({"hook_event_name": "SomethingElse"}),
        "{" * 5000,
        '{"x": 1e999}',
        json.dumps({"hook_event_name": "a\nb" * 2000}),
    ]
    for agent in hooks.AGENTS
}
MALFORMED["claude-code"] += [
    json.dumps({"hook_event_name": "PreToolUse", "tool_name": "Bash"}),
    json.dumps(
        {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": 3}}
    ),
    json.dumps(
        {"hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}}
    ),
    json.dumps({"tool_name": "WebFetch", "tool_input": {"url": "https://x"}}),
    json.dumps({"tool_name": "mcp__a__b", "tool_input": {}, "cwd": 7}),
]
MALFORMED["gemini-cli"] += [
    json.dumps(
        {"hook_event_name": "BeforeTool", "tool_name": "web_fetch", "tool_input": {"prompt": "x"}}
    ),
    json.dumps(
        {"hook_event_name": "BeforeTool", "tool_name": "run_shell_command", "tool_input": {}}
    ),
    json.dumps(
        {
            "hook_event_name": "BeforeTool",
            "tool_name": "read_many_files",
            "tool_input": {"paths": [1]},
        }
    ),
    json.dumps(
        {
            "hook_event_name": "AfterTool",
            "tool_name": "read_file",
            "tool_input": {"file_path": "/x"},
        }
    ),
]
MALFORMED["cursor"] += [
    json.dumps({"hook_event_name": "beforeShellExecution"}),
    json.dumps(
        {"hook_event_name": "beforeMCPExecution", "tool_name": "q", "tool_input": "{not json"}
    ),
    json.dumps({"hook_event_name": "beforeMCPExecution", "tool_name": "q", "tool_input": "[1]"}),
    json.dumps({"hook_event_name": "afterFileEdit", "file_path": "/x"}),
    json.dumps({"hook_event_name": "beforeReadFile", "file_path": ""}),
]
MALFORMED["codex"] += [
    json.dumps(
        {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": []}}
    ),
    json.dumps(
        {
            "hook_event_name": "PreToolUse",
            "tool_name": "apply_patch",
            "tool_input": {"command": "x"},
        }
    ),
    json.dumps({"hook_event_name": "PreToolUse", "tool_name": "update_plan", "tool_input": {}}),
]
CASES = [(agent, body) for agent, bodies in MALFORMED.items() for body in bodies]


@pytest.mark.parametrize(
    ("agent", "body"), CASES, ids=[f"{a}-{i}" for i, (a, _) in enumerate(CASES)]
)
def test_malformed_payloads_block(gate: Gate, agent: str, body: str) -> None:
    got = hooks.respond(agent, gate, body)
    assert got.exit_code == hooks.BLOCK_EXIT
    assert got.stderr.startswith("charter: error:") and "\n" not in got.stderr
    assert len(got.stderr) < 500
    assert got.decision.verdict is Verdict.DENY
    assert got.decision.reasons[0].rule == hooks.HOOK_INVALID
    assert deny_of(agent, json.loads(got.stdout))


def test_unknown_agent_is_an_input_error(gate: Gate) -> None:
    with pytest.raises(InputError, match="unknown agent"):
        hooks.respond("copilot", gate, "{}")


@given(
    st.sampled_from(hooks.AGENTS),
    st.dictionaries(
        st.sampled_from(
            ["hook_event_name", "tool_name", "tool_input", "cwd", "command", "file_path"]
        ),
        st.none()
        | st.integers()
        | st.text(max_size=8)
        | st.lists(st.text(max_size=3), max_size=2)
        | st.dictionaries(st.sampled_from(["command", "file_path", "sql"]), st.text(max_size=8)),
        max_size=6,
    ),
)
def test_any_payload_is_answered_never_raised(agent: str, doc: dict[str, Any]) -> None:
    gate = Gate(parse_text(with_tools(constitution_text())))
    got = hooks.respond(agent, gate, json.dumps(doc))
    assert got.exit_code in (0, hooks.BLOCK_EXIT)
    json.loads(got.stdout)
    if got.exit_code == hooks.BLOCK_EXIT:
        assert got.decision.verdict is Verdict.DENY
    # an allow only ever comes from the gate itself
    if got.decision.verdict is Verdict.ALLOW:
        assert got.decision.reasons and all(r.layer != "hook" for r in got.decision.reasons)


# ------------------------------------------------------------------ sandbox_only

PREFIX = ("/opt/charter/bin/charter", "exec", "--constitution", "/c.toml", "--key", "/k.pub")
HOSTILE = [
    "echo 'it'\"'\"'s'",
    'printf "%s" "$(printf x)" `printf y`',
    "echo a\necho b",
    "printf '%s\\n' 'line1\nline2'",
    "echo \"'; touch /tmp/charter-pwned; '\"",
    "echo \"$HOME\" '$HOME' \\$HOME",
    "echo -- --cwd /",
]


@pytest.mark.parametrize("command", HOSTILE)
def test_sandbox_only_rewrites_to_charter_exec(gate: Gate, work: Path, command: str) -> None:
    body = payload("claude-code", "bash", work, set_in("tool_input", "command", value=command))
    got, doc = answer("claude-code", gate, body, model_role="boxed", sandbox_exec=PREFIX)
    out = doc["hookSpecificOutput"]
    assert out["permissionDecision"] == "allow", out["permissionDecisionReason"]
    new = out["updatedInput"]["command"]
    # every other input field is kept
    assert out["updatedInput"]["description"] == "Run the test suite"
    assert shlex.split(new) == [*PREFIX, "--model-role", "boxed", "--cwd", str(work), "--", command]
    assert got.decision.extra["sandbox"] is True
    assert got.decision.extra["rewritten_command"] == new


def test_sandbox_only_gemini_rewrites_the_tool_input(gate: Gate, work: Path) -> None:
    body = payload(
        "gemini-cli", "run_shell_command", work, set_in("tool_input", "command", value="ls")
    )
    got, doc = answer("gemini-cli", gate, body, model_role="boxed", sandbox_exec=PREFIX)
    assert doc["decision"] == "allow"
    new = doc["hookSpecificOutput"]["tool_input"]["command"]
    assert doc["hookSpecificOutput"]["hookEventName"] == "BeforeTool"
    assert shlex.split(new)[-2:] == ["--", "ls"]
    assert shlex.split(new)[-4:-2] == ["--cwd", str(work)]  # dir_path "." under cwd


@pytest.mark.parametrize(
    ("agent", "name", "kw", "command"),
    [
        ("claude-code", "bash", {}, "ls"),  # no charter exec to run it with
        ("claude-code", "bash", {"sandbox_exec": PREFIX}, "npm test"),  # an ask
        ("claude-code", "bash", {"sandbox_exec": PREFIX}, "echo a\x00b"),  # NUL
        ("cursor", "beforeShellExecution", {"sandbox_exec": PREFIX}, "ls"),  # no rewriting
        ("codex", "bash", {"sandbox_exec": PREFIX}, "ls"),
    ],
)
def test_sandbox_only_is_never_allowed_unsandboxed(
    gate: Gate, work: Path, agent: str, name: str, kw: dict[str, Any], command: str
) -> None:
    key = ("command",) if agent == "cursor" else ("tool_input", "command")
    body = payload(agent, name, work, set_in(*key, value=command))
    got = hooks.respond(agent, gate, body, model_role="boxed", **kw)
    assert got.decision.verdict is Verdict.DENY
    assert got.decision.reasons[0].rule == hooks.HOOK_NO_SANDBOX
    assert deny_of(agent, json.loads(got.stdout))
    assert "updatedInput" not in got.stdout and "tool_input" not in got.stdout


def test_sandbox_only_files_and_denies_pass_through(gate: Gate, work: Path) -> None:
    body = payload("claude-code", "notebookedit", work)
    got, doc = answer("claude-code", gate, body, model_role="boxed", sandbox_exec=PREFIX)
    assert claude(doc) == "allow" and "updatedInput" not in doc["hookSpecificOutput"]
    body = payload("claude-code", "bash", work, set_in("tool_input", "command", value="rm -rf /"))
    got, doc = answer("claude-code", gate, body, model_role="boxed", sandbox_exec=PREFIX)
    assert claude(doc) == "deny" and "updatedInput" not in doc["hookSpecificOutput"]
    body = payload("claude-code", "mcp", work)
    got, doc = answer("claude-code", gate, body, model_role="boxed", sandbox_exec=PREFIX)
    assert claude(doc) == "deny"


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=40,
    )
)
def test_rewritten_command_is_one_bash_word(command: str) -> None:
    # Real bash splits the rewritten command back into exactly the argv we meant.
    line = hooks.sandboxed_command(("printf", "%s\\0"), command, "/w d", "r'ole")
    done = subprocess.run(["bash", "-c", line], capture_output=True, check=True)
    words = done.stdout.decode("utf-8", "surrogateescape").split("\x00")[:-1]
    assert words == ["--model-role", "r'ole", "--cwd", "/w d", "--", command]


def test_exec_prefix() -> None:
    got = hooks.exec_prefix(
        ("charter",), ["c.toml", "/abs/o.toml"], ["k.pub", "/abs/o.pub"], audit="postgresql://h/db"
    )
    assert got[:2] == ("charter", "exec")
    assert got[2:6] == (
        "--constitution",
        os.path.abspath("c.toml"),
        "--key",
        os.path.abspath("k.pub"),
    )
    assert got[6:] == (
        "--constitution",
        "/abs/o.toml",
        "--key",
        "/abs/o.pub",
        "--audit",
        "postgresql://h/db",
    )
    with pytest.raises(InputError):
        hooks.exec_prefix(("charter",), ["c"], [])


PROBE = sandbox.probe()


def test_rewritten_commands_really_run_in_bwrap(tmp_path: Path) -> None:
    """Through real bash and ``charter exec`` into bubblewrap: same output, sandboxed."""
    if not PROBE.ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"sandbox tests cannot run under CI: {PROBE.reason}")
        pytest.skip(f"bubblewrap unusable here: {PROBE.reason}")
    work = tmp_path / "work"
    work.mkdir()
    text = constitution_text(extra(work))
    c, k = write_signed(tmp_path / "c", text)
    gate = Gate(parse_text(text))
    prefix = hooks.exec_prefix(
        hooks.charter_program(),
        [c],
        [k],
        audit=tmp_path / "a.db",
        budget=tmp_path / "b.json",
    )
    env = dict(
        os.environ,
        CHARTER_STATE_DIR=str(tmp_path / "state"),
        PYTHONPATH=str(Path(charter.__file__).parents[1]),
    )
    pwned = tmp_path / "pwned"
    cases = [
        "printf '%s|' \"a'b\" 'c\"d' \"$(printf x)\" `printf y`\necho 'back\\\\slash' '$HOME'",
        f"printf '%s\\n' 'line1\nline2'\necho \"'; touch {pwned}; '\" '$(touch {pwned})'",
    ]
    for command in cases:
        body = json.dumps(
            {"hook_event_name": "PreToolUse", "cwd": str(work), "tool_name": "Bash",
             "tool_input": {"command": command}}
        )  # fmt: skip
        got = hooks.respond("claude-code", gate, body, model_role="boxed", sandbox_exec=prefix)
        out = json.loads(got.stdout)["hookSpecificOutput"]
        assert out["permissionDecision"] == "allow", (command, out)
        new = out["updatedInput"]["command"]
        boxed = subprocess.run(
            ["bash", "-c", new], capture_output=True, cwd=work, env=env, check=False
        )
        plain = subprocess.run(["bash", "-c", command], capture_output=True, cwd=work, check=False)
        assert (boxed.returncode, boxed.stdout) == (0, plain.stdout), boxed.stderr
    assert not pwned.exists()
    # and it is the sandbox: PID 1 in there is bwrap, not this machine's init
    body = json.dumps(
        {"hook_event_name": "PreToolUse", "cwd": str(work), "tool_name": "Bash",
         "tool_input": {"command": "cat /proc/1/comm"}}
    )  # fmt: skip
    got = hooks.respond("claude-code", gate, body, model_role="boxed", sandbox_exec=prefix)
    new = json.loads(got.stdout)["hookSpecificOutput"]["updatedInput"]["command"]
    boxed = subprocess.run(["bash", "-c", new], capture_output=True, cwd=work, env=env, check=True)
    assert boxed.stdout == b"bwrap\n"


# ------------------------------------------------------------------ matchers and docs

ROOT = Path(__file__).parents[1]
HANDLED = {
    "claude-code": [*hooks.WRITE_TOOLS, *hooks.READ_TOOLS, *hooks.SEARCH_TOOLS, "Bash"],
    "gemini-cli": ["run_shell_command", "write_file", "replace", "save_memory", "read_file",
                   "read_many_files", "list_directory", "glob", "search_file_content"],
    "codex": ["Bash", "apply_patch", "Edit", "Write"],
}  # fmt: skip
REFUSED = ["WebFetch", "web_fetch", "Task", "update_plan", "google_web_search"]


@pytest.mark.parametrize("agent", sorted(HANDLED))
def test_recommended_matchers_cover_every_gated_tool(agent: str) -> None:
    matcher = re.compile(hooks.RECOMMENDED_MATCHERS[agent])
    for tool in [*HANDLED[agent], "mcp__postgres__query"]:
        assert matcher.fullmatch(tool), tool
    for tool in REFUSED:
        assert not matcher.fullmatch(tool), tool
    if agent == "claude-code":
        assert all(matcher.fullmatch(t) for t in ("NotebookEdit", "MultiEdit", "Edit", "Write"))


def test_examples_and_docs_use_the_recommended_matchers() -> None:
    docs = (ROOT / "docs" / "agents.md").read_text()
    examples = ROOT / "examples" / "hooks"
    for agent, event, name in [
        ("claude-code", "PreToolUse", "claude-code.settings.json"),
        ("gemini-cli", "BeforeTool", "gemini-cli.settings.json"),
        ("codex", "PreToolUse", "codex.hooks.json"),
    ]:
        doc = json.loads((examples / name).read_text())
        (group,) = doc["hooks"][event]
        assert group["matcher"] == hooks.RECOMMENDED_MATCHERS[agent]
        assert f"charter hook {agent} " in group["hooks"][0]["command"]
        assert group["hooks"][0]["command"].endswith("|| exit 2")
        assert hooks.RECOMMENDED_MATCHERS[agent] in docs
    for other in ("docs/claude-code.md", "README.md"):
        assert hooks.RECOMMENDED_MATCHERS["claude-code"] in (ROOT / other).read_text(), other
    cursor = json.loads((examples / "cursor.hooks.json").read_text())["hooks"]
    assert set(cursor) <= set(hooks.CURSOR_EVENTS)
    assert all(h["failClosed"] is True for entries in cursor.values() for h in entries)
    assert all("--ask-as-deny" in h["command"] for h in cursor["beforeShellExecution"])


def test_claude_code_bypass_mode_turns_ask_into_deny(gate: Gate, work: Path) -> None:
    # anthropics/claude-code#77212: under bypassPermissions an ask runs unasked
    body = payload(
        "claude-code", "bash", work, set_in("permission_mode", value="bypassPermissions")
    )
    got, doc = answer("claude-code", gate, body)
    assert claude(doc) == "deny"
    assert got.decision.reasons[0].rule == hooks.HOOK_ASK_AS_DENY
    assert "bypassPermissions" in got.decision.reasons[0].msg
    for mode in ("default", "acceptEdits", "plan"):
        body = payload("claude-code", "bash", work, set_in("permission_mode", value=mode))
        assert claude(answer("claude-code", gate, body)[1]) == "ask"
    # an allow stays an allow
    body = payload(
        "claude-code", "bash", work, set_in("permission_mode", value="bypassPermissions")
    )
    doc = json.loads(body)
    doc["tool_input"]["command"] = "git status"
    assert claude(answer("claude-code", gate, json.dumps(doc))[1]) == "allow"


def test_two_spellings_of_one_field_are_both_decided(gate: Gate, work: Path) -> None:
    secret = str(work / "secrets" / "k")

    def both(doc: dict[str, Any]) -> None:
        doc["tool_input"]["absolute_path"] = secret

    got, doc = answer("gemini-cli", gate, payload("gemini-cli", "read_file", work, both))
    assert doc["decision"] == "deny"
    assert got.decision.extra["action"]["path"] == secret

    def two_dirs(doc: dict[str, Any]) -> None:
        doc["tool_input"].update(command="echo x > k", dir_path=".", directory="secrets")

    got, doc = answer(
        "gemini-cli", gate, payload("gemini-cli", "run_shell_command", work, two_dirs)
    )
    assert doc["decision"] == "deny"

    # and a sandboxed role cannot be rewritten into one of two working directories
    def two_ls(doc: dict[str, Any]) -> None:
        doc["tool_input"].update(command="ls", dir_path=".", directory="src")

    body = payload("gemini-cli", "run_shell_command", work, two_ls)
    got, doc = answer("gemini-cli", gate, body, model_role="boxed", sandbox_exec=PREFIX)
    assert doc["decision"] == "deny" and "hookSpecificOutput" not in doc


def test_patch_headers_are_read_strictly() -> None:
    indented = "*** Begin Patch\n  *** Add File: a\n+x\n*** End of File\n*** End Patch\n"
    assert hooks.patch_files(indented) == [("a", 2)]
    with pytest.raises(InputError, match="unknown patch line"):
        hooks.patch_files("*** Begin Patch\n*** Create File: a\n+x\n*** End Patch\n")
    # a context line that merely contains stars is content
    ok = "*** Begin Patch\n*** Update File: a.md\n@@\n ***\n-x\n+y\n*** End Patch\n"
    assert hooks.patch_files(ok) == [("a.md", None)]


def test_charter_program_runs_this_charter(tmp_path: Path) -> None:
    """Run from the agent's repository, where a planted ``charter/`` package must not
    stand in for Charter (``-m`` puts the working directory first on sys.path)."""
    fake = tmp_path / "charter"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text("print('planted charter ran')\n")
    done = subprocess.run(
        [*hooks.charter_program(), "--version"],
        capture_output=True,
        check=True,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(Path(charter.__file__).parents[1])),
        text=True,
    )
    assert done.stdout.strip() and "planted" not in done.stdout


def protocol_verdict(agent: str, doc: Any) -> str:
    """What the agent will do, read back from the answer as the agent reads it."""
    if agent == "codex":
        return "allow" if doc == {} else str(doc["hookSpecificOutput"]["permissionDecision"])
    if agent == "claude-code":
        return str(doc["hookSpecificOutput"]["permissionDecision"])
    if agent == "gemini-cli":
        return str(doc["decision"])
    return str(doc["permission"])


ASSET_FILES = sorted(ASSETS.glob("*/*.json"))
MUTANTS = st.one_of(
    st.none(), st.integers(), st.booleans(), st.text(max_size=12),
    st.sampled_from(["rm -rf /", "git status", "DROP DATABASE prod", "/etc/shadow", "mcp__x__y",
                     "PreToolUse", "BeforeTool", "beforeReadFile", "Bash", "write_file", ""]),
    st.lists(st.text(max_size=4), max_size=2),
    st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2),
)  # fmt: skip


@given(st.sampled_from(ASSET_FILES), st.data())
def test_mutated_real_payloads_answer_what_is_recorded(path: Path, data: st.DataObject) -> None:
    agent = path.parent.name
    doc = json.loads(path.read_text().replace(PLACE, "/tmp/charter-hook-work"))
    # mutate one field (top level or inside tool_input): replace or delete it
    target = doc
    if isinstance(doc.get("tool_input"), dict) and data.draw(st.booleans()):
        target = doc["tool_input"]
    key = data.draw(st.sampled_from(sorted(target)))
    if data.draw(st.booleans()):
        del target[key]
    else:
        target[key] = data.draw(MUTANTS)
    gate = Gate(parse_text(with_tools(constitution_text())))
    got = hooks.respond(agent, gate, json.dumps(doc))
    said = protocol_verdict(agent, json.loads(got.stdout))
    if got.exit_code == hooks.BLOCK_EXIT:
        assert got.decision.verdict is Verdict.DENY and said == "deny"
    elif said == "allow":
        # nothing is let through that the recorded decision did not allow
        assert got.decision.verdict is Verdict.ALLOW
    else:
        assert said == str(got.decision.verdict) or (
            agent == "cursor" and said == "deny" and got.decision.verdict is Verdict.DENY
        )
