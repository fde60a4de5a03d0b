"""``charter gate`` and ``charter exec`` end to end (in-process CLI, real files)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from charter.audit.chain import verify
from charter.audit.stores import open_store
from charter.cli import main
from tests.gate_helpers import constitution_text, write_signed


@pytest.fixture
def signed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("CHARTER_AUDIT", str(tmp_path / "audit.db"))
    monkeypatch.setenv("CHARTER_BUDGET", str(tmp_path / "budget.json"))
    monkeypatch.setenv("CHARTER_STATE_DIR", str(tmp_path / "state"))
    return write_signed(tmp_path / "c")


def gate(signed: tuple[Path, Path], *args: str) -> list[str]:
    return ["gate", "--constitution", str(signed[0]), "--key", str(signed[1]), *args]


def test_exit_codes(signed: tuple[Path, Path]) -> None:
    assert main(gate(signed, "--command", "git status && git diff")) == 0
    assert main(gate(signed, "--command", "git status && rm -rf /")) == 1
    assert main(gate(signed, "--command", "make")) == 3
    assert main(gate(signed, "--read", "/tmp/x")) == 0
    assert main(gate(signed, "--write", str(signed[0]))) == 1
    assert main(gate(signed, "--command", "ls", "--read", "x")) == 2
    assert main(gate(signed)) == 2


def test_json_document_and_audit(
    signed: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(gate(signed, "--command", "sudo -u root rm -rf /", "--format", "json"))
    assert code == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "deny"
    assert doc["commands"][0]["argv"] == ["sudo", "-u", "root", "rm", "-rf", "/"]
    assert doc["commands"][0]["verdict"] == "deny"
    assert doc["stack"][0]["layer"] == "constitution"
    store = open_store(tmp_path / "audit.db")
    records = list(store.records())
    assert records[-1]["decision_id"] == doc["decision_id"]
    assert verify(store).ok


def test_unsigned_or_tampered_constitution_exits_2(
    tmp_path: Path, signed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    unsigned = tmp_path / "unsigned.toml"
    unsigned.write_text(constitution_text())
    assert (
        main(["gate", "--constitution", str(unsigned), "--key", str(signed[1]), "--command", "ls"])
        == 2
    )
    text = signed[0].read_text().replace('"rm -rf /",', "")
    signed[0].write_text(text)
    assert main(gate(signed, "--command", "rm -rf /")) == 2
    err = capsys.readouterr().err
    assert "modified" in err and "Traceback" not in err


def test_audit_failure_exits_2(signed: tuple[Path, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(gate(signed, "--command", "ls", "--audit", str(blocker / "audit.db"))) == 2


def test_exec_runs_allowed_and_refuses_denied(
    signed: tuple[Path, Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    base = ["exec", "--constitution", str(signed[0]), "--key", str(signed[1]), "--"]
    assert main([*base, "echo", "hello-from-exec"]) == 0
    assert "hello-from-exec" in capfd.readouterr().out
    marker = tmp_path / "ran"
    assert main([*base, f"touch {marker} && rm -rf /"]) == 1
    assert not marker.exists()
    # ask without a terminal: exit 3, nothing runs
    assert main([*base, f"touch {marker}"]) == 3
    assert not marker.exists()


def test_exec_enforces_max_execution_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARTER_AUDIT", str(tmp_path / "audit.db"))
    text = constitution_text("[resource_limits]\nmax_execution_time = 1\n").replace(
        '"true",', '"true", "sleep *",'
    )
    c, k = write_signed(tmp_path / "c", text)
    assert main(["exec", "--constitution", str(c), "--key", str(k), "--", "sleep", "30"]) == 124


def test_budget_cli(
    signed: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = constitution_text("[resource_limits]\nmax_api_cost_per_day = 5\n")
    c, k = write_signed(tmp_path / "b", text)
    args = ["gate", "--constitution", str(c), "--key", str(k), "--command", "git status"]
    assert main(args) == 0
    assert main(["budget", "record", "--cost", "3"]) == 0
    assert main(args) == 0
    assert main(["budget", "record", "--cost", "2.5"]) == 0
    assert main(args) == 1
    assert main(["budget", "show", "--format", "json"]) == 0
    assert main(["budget", "record", "--cost", "-1"]) == 2


def test_gate_exec_and_hook_record_every_decision_and_protect_the_log(
    signed: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The gate records nothing itself: each CLI front end records its decision."""
    log = tmp_path / "audit.db"
    assert main(gate(signed, "--write", f"{log}-wal", "--format", "json")) == 1
    denied = json.loads(capsys.readouterr().out)
    assert denied["reasons"][0]["rule"] == "CHARTER-GATE-PROTECTED-FILE"
    assert main(gate(signed, "--command", f"echo x > {log}")) == 1
    exec_argv = ["exec", "--constitution", str(signed[0]), "--key", str(signed[1]), "--"]
    assert main([*exec_argv, "true"]) == 0
    hook = {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(hook)))
    assert (
        main(["hook", "claude-code", "--constitution", str(signed[0]), "--key", str(signed[1])])
        == 0
    )
    capsys.readouterr()
    store = open_store(log)
    records = list(store.records())
    assert [r["source"] for r in records] == ["gate", "gate", "exec", "hook:claude-code"]
    assert records[0]["decision_id"] == denied["decision_id"]
    assert [r["verdict"] for r in records] == ["deny", "deny", "allow", "allow"]
    assert verify(store).ok
