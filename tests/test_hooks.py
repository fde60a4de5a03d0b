"""The Claude Code PreToolUse hook with real payloads."""

from __future__ import annotations

import io
import json
import shlex
import sys
from pathlib import Path

import pytest

from charter.audit import stores
from charter.cli import main
from tests.gate_helpers import constitution_text, write_signed


def payload(tool: str, tool_input: dict[str, object], cwd: str) -> str:
    # The shape Claude Code sends to PreToolUse hooks.
    return json.dumps(
        {
            "session_id": "eb5b0174-0555-4601-804e-672d68069c89",
            "transcript_path": "/home/u/.claude/projects/p/eb5b0174.jsonl",
            "cwd": cwd,
            "permission_mode": "default",
            "hook_event_name": "PreToolUse",
            "tool_name": tool,
            "tool_input": tool_input,
        }
    )


def run_hook(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    files: tuple[Path, Path],
    stdin: str,
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["hook", "claude-code", "--constitution", str(files[0]), "--key", str(files[1])])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("CHARTER_AUDIT", str(tmp_path / "audit.db"))
    monkeypatch.setenv("CHARTER_BUDGET", str(tmp_path / "budget.json"))
    work = tmp_path / "work"
    (work / "secrets").mkdir(parents=True)
    text = constitution_text(
        f'[resource_limits]\nallowed_directories = ["{work}"]\n'
        f'blocked_directories = ["{work / "secrets"}"]\n'
    )
    return write_signed(tmp_path / "c", text)


def decision(out: str) -> tuple[str, str]:
    doc = json.loads(out)["hookSpecificOutput"]
    assert doc["hookEventName"] == "PreToolUse"
    return doc["permissionDecision"], doc["permissionDecisionReason"]


def test_bash(
    files: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cwd = str(tmp_path / "work")
    cases = {
        "git status && git diff": "allow",
        "git status && rm -rf /": "deny",
        "npm test": "ask",
    }
    for command, want in cases.items():
        body = payload("Bash", {"command": command, "description": "run"}, cwd)
        code, out, _ = run_hook(monkeypatch, capsys, files, body)
        got, reason = decision(out)
        assert (code, got) == (0, want), command
        if want == "deny":
            assert "rm -rf /" in reason


def test_write_and_read(
    files: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = tmp_path / "work"
    cases = [
        ("Write", {"file_path": str(work / "a.py"), "content": "print(1)\n"}, "allow"),
        ("Write", {"file_path": str(work / "secrets/k"), "content": "x"}, "deny"),
        ("Edit", {"file_path": str(files[0]), "old_string": "a", "new_string": "b"}, "deny"),
        (
            "MultiEdit",
            {"file_path": "/etc/passwd", "edits": [{"old_string": "a", "new_string": "b"}]},
            "deny",
        ),
        ("Read", {"file_path": str(work / "a.py")}, "allow"),
        ("Read", {"file_path": str(work / "secrets/k")}, "deny"),
    ]
    for tool, tool_input, want in cases:
        code, out, _ = run_hook(monkeypatch, capsys, files, payload(tool, tool_input, str(work)))
        assert (code, decision(out)[0]) == (0, want), (tool, tool_input)


@pytest.mark.parametrize(
    "body",
    ["", "not json", "[]", json.dumps({"tool_name": "Bash"}),
     json.dumps({"tool_name": "Bash", "tool_input": {}}),
     json.dumps({"tool_name": "Bash", "tool_input": {"command": 3}}),
     json.dumps({"tool_name": "WebFetch", "tool_input": {"url": "x"}})],
)  # fmt: skip
def test_malformed_input_blocks_with_exit_2(
    body: str,
    files: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_hook(monkeypatch, capsys, files, body)
    assert code == 2
    # Blocked by the exit code, with the protocol's deny document too (docs/agents.md).
    assert decision(out)[0] == "deny"
    assert err.startswith("charter: error:")


def test_unverifiable_constitution_blocks(
    files: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files[0].write_text(files[0].read_text().replace("rm -rf /", "rm -rf /nothing"))
    code, out, err = run_hook(
        monkeypatch, capsys, files, payload("Bash", {"command": "ls"}, str(tmp_path))
    )
    assert code == 2 and out == "" and "modified" in err


def test_mcp_tools_are_decided_and_recorded(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CHARTER_AUDIT", str(tmp_path / "audit.db"))
    monkeypatch.setenv("CHARTER_BUDGET", str(tmp_path / "budget.json"))
    text = constitution_text().replace(
        "auto_allowed = [", 'auto_allowed = ["tool:mcp__postgres__query", '
    )
    files = write_signed(tmp_path / "c", text)
    cases = [
        ({"sql": "SELECT 1"}, "allow"),
        ({"sql": "select 1; DROP DATABASE prod"}, "deny"),
    ]
    for tool_input, want in cases:
        body = payload("mcp__postgres__query", tool_input, str(tmp_path))
        code, out, _ = run_hook(monkeypatch, capsys, files, body)
        assert (code, decision(out)[0]) == (0, want)
    body = payload("mcp__slack__post_message", {"text": "hi"}, str(tmp_path))
    assert decision(run_hook(monkeypatch, capsys, files, body)[1])[0] == "ask"
    store = stores.open_store(tmp_path / "audit.db", read_only=True)
    try:
        recorded = [json.dumps(r, sort_keys=True) for r in store.records()]
    finally:
        store.close()
    assert len(recorded) == 3
    assert "mcp__slack__post_message" in recorded[2]
    assert "DROP DATABASE prod" in recorded[1]


def test_sandbox_only_role_is_never_a_plain_allow(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CHARTER_AUDIT", str(tmp_path / "audit.db"))
    monkeypatch.setenv("CHARTER_BUDGET", str(tmp_path / "budget.json"))
    text = constitution_text("[model_permissions]\nboxed = { sandbox_only = true }\n")
    c, k = write_signed(tmp_path / "c", text)
    argv = ["hook", "claude-code", "--constitution", str(c), "--key", str(k)]
    body = payload("Bash", {"command": "git status"}, str(tmp_path))
    monkeypatch.setattr(sys, "stdin", io.StringIO(body))
    code = main([*argv, "--model-role", "boxed"])
    out = json.loads(capsys.readouterr().out)["hookSpecificOutput"]
    assert code == 0
    # Allowed only as rewritten to run under `charter exec` with the role's sandbox.
    assert out["permissionDecision"] == "allow"
    command = out["updatedInput"]["command"]
    assert " -P -m charter exec " in command and "--model-role boxed" in command
    assert command.endswith("-- 'git status'")


def test_sandbox_only_role_under_a_trust_policy_is_rewritten_with_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With --trust (no --key), the rewritten command pins the same trust policy; before,
    such a role's commands were refused because exec had no keys to be given."""
    monkeypatch.setenv("CHARTER_AUDIT", str(tmp_path / "audit.db"))
    monkeypatch.setenv("CHARTER_BUDGET", str(tmp_path / "budget.json"))
    monkeypatch.setenv("CHARTER_STATE_DIR", str(tmp_path / "state"))
    text = constitution_text("[model_permissions]\nboxed = { sandbox_only = true }\n")
    c, k = write_signed(tmp_path / "c", text)
    policy = tmp_path / "trust.toml"
    policy.write_text(f'[layers.constitution]\nkeys = ["{k}"]\n')
    argv = ["hook", "claude-code", "--constitution", str(c), "--trust", str(policy)]
    body = payload("Bash", {"command": "git status"}, str(tmp_path))
    monkeypatch.setattr(sys, "stdin", io.StringIO(body))
    code = main([*argv, "--model-role", "boxed"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)["hookSpecificOutput"]
    assert out["permissionDecision"] == "allow"
    words = shlex.split(out["updatedInput"]["command"])
    assert words[words.index("--trust") + 1] == str(policy.resolve())
    assert "--key" not in words and words[-2:] == ["--", "git status"]
    # A key list that does not pair with the layers blocks (exit 2), never runs unsandboxed.
    other = ["--key", str(k), "--key", str(k)]
    monkeypatch.setattr(sys, "stdin", io.StringIO(body))
    assert main([*argv, *other, "--model-role", "boxed"]) == 2
    assert "updatedInput" not in capsys.readouterr().out
