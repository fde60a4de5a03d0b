"""``charter gate --tool NAME --arguments JSON``: a tool (MCP) call decided from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.audit.stores import open_store
from charter.cli import main
from tests.gate_helpers import constitution_text, write_signed

TOOLS = (
    constitution_text()
    .replace('"find * -name *",', '"find * -name *", "tool:mcp__docs__*",')
    .replace('"pip install *"]', '"pip install *", "tool:mcp__github__create_*"]')
)


@pytest.fixture
def signed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("CHARTER_AUDIT", str(tmp_path / "audit.db"))
    monkeypatch.setenv("CHARTER_BUDGET", str(tmp_path / "budget.json"))
    monkeypatch.setenv("CHARTER_STATE_DIR", str(tmp_path / "state"))
    return write_signed(tmp_path / "c", TOOLS)


def gate(signed: tuple[Path, Path], *args: str) -> list[str]:
    return ["gate", "--constitution", str(signed[0]), "--key", str(signed[1]), *args]


def test_tool_calls_exit_with_their_verdict(signed: tuple[Path, Path]) -> None:
    assert main(gate(signed, "--tool", "mcp__docs__search", "--arguments", '{"q": "x"}')) == 0
    assert main(gate(signed, "--tool", "mcp__docs__search")) == 0  # no arguments: {}
    assert main(gate(signed, "--tool", "mcp__github__create_issue")) == 3
    assert main(gate(signed, "--tool", "mcp__unknown__thing")) == 3  # no pattern names it
    # the SQL patterns of the boundary lists apply to every string of the arguments
    sql = json.dumps({"query": {"text": ["SELECT 1;", "drop   database prod"]}})
    assert main(gate(signed, "--tool", "mcp__docs__search", "--arguments", sql)) == 1


def test_the_json_document_and_the_audit_name_the_tool(
    signed: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("--tool", "mcp__github__create_issue", "--arguments", '{"title": "t"}')
    assert main(gate(signed, *args, "--format", "json", "--cwd", str(tmp_path))) == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "ask"
    assert doc["action"] == {
        "kind": "tool", "tool": "mcp__github__create_issue", "arguments": {"title": "t"},
        "cwd": str(tmp_path),
    }  # fmt: skip
    records = list(open_store(tmp_path / "audit.db").records())
    assert records[-1]["decision_id"] == doc["decision_id"]


@pytest.mark.parametrize(
    "extra",
    [
        ("--tool", "mcp__docs__search", "--arguments", "{not json"),
        ("--tool", "mcp__docs__search", "--arguments", '["a list"]'),
        ("--tool", "mcp__docs__search", "--arguments", '{"q": NaN}'),
        # which copy would the server read? refused, not guessed
        ("--tool", "mcp__docs__search", "--arguments", '{"q": "SELECT 1", "q": "DROP DATABASE x"}'),
        ("--tool", "not a tool name"),
        ("--tool", ""),
        ("--arguments", "{}"),  # arguments without a tool
        ("--tool", "mcp__docs__search", "--command", "ls"),  # one action at a time
    ],
)
def test_bad_tool_input_exits_2(signed: tuple[Path, Path], extra: tuple[str, ...]) -> None:
    assert main(gate(signed, *extra)) == 2


def test_a_role_that_may_not_execute_may_not_call_tools(tmp_path: Path) -> None:
    text = TOOLS + "\n[model_permissions]\nreader = { can_execute = false, can_write = false }\n"
    signed = write_signed(tmp_path / "c", text)
    args = ("--tool", "mcp__docs__search", "--model-role", "reader")
    assert main(gate(signed, *args, "--audit", str(tmp_path / "a.db"))) == 1
