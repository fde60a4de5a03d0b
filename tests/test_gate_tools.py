"""Tool calls (MCP) as gate actions: ``tool:`` patterns, SQL in arguments, roles."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter.actions.constitution import parse_text
from charter.actions.gate import Gate
from charter.actions.lint import lint_constitution_toml
from charter.actions.tools import compile_tool_patterns, strings
from charter.core.errors import InputError
from charter.core.verdict import Verdict
from tests.gate_helpers import constitution_text

TEXT = (
    constitution_text(
        "[model_permissions]\n"
        "reader = { can_execute = false }\n"
        "boxed = { sandbox_only = true }\n"
        "coder = { can_execute = true }\n"
    )
    .replace(
        "forbidden = [",
        'forbidden = ["tool:mcp__shell__*", "DROP DATABASE *", "TRUNCATE TABLE *", '
        '"tool:mcp__db__drop_*", ',
    )
    .replace(
        "requires_approval = [",
        'requires_approval = ["tool:mcp__github__create_*", "DELETE FROM *", ',
    )
    .replace(
        "auto_allowed = [",
        'auto_allowed = ["tool:mcp__postgres__query", "tool:mcp__github__get_*", '
        '"tool:mcp__github__create_issue", "tool:mcp__docs__search extra", ',
    )
)


@pytest.fixture(scope="module")
def gate() -> Gate:
    return Gate(parse_text(TEXT))


def tool(gate: Gate, name: str, arguments: Any = None, **more: Any) -> Verdict:
    action: dict[str, Any] = {"kind": "tool", "tool": name, **more}
    if arguments is not None:
        action["arguments"] = arguments
    return gate.decide_action(action).verdict


@pytest.mark.parametrize(
    ("name", "arguments", "want"),
    [
        ("mcp__postgres__query", {"sql": "SELECT id FROM users"}, Verdict.ALLOW),
        # SQL patterns apply to the SQL arguments, however they are spelled
        ("mcp__postgres__query", {"sql": "DROP DATABASE prod"}, Verdict.DENY),
        ("mcp__postgres__query", {"sql": "drop   database prod"}, Verdict.DENY),
        ("mcp__postgres__query", {"sql": "DROP/**/DATABASE prod"}, Verdict.DENY),
        ("mcp__postgres__query", {"sql": "DROP -- hi\nDATABASE prod"}, Verdict.DENY),
        ("mcp__postgres__query", {"sql": "SELECT 1; DROP DATABASE prod;"}, Verdict.DENY),
        ("mcp__postgres__query", {"sql": "truncate table users"}, Verdict.DENY),
        ("mcp__postgres__query", {"sql": "DELETE FROM users"}, Verdict.ASK),
        # ... at any depth and under any key
        ("mcp__postgres__query", {"batch": [{"q": ["DROP DATABASE x"]}]}, Verdict.DENY),
        ("mcp__postgres__query", {"sql": "SELECT 'DROP DATABASE' AS t"}, Verdict.DENY),
        # globs name tools
        ("mcp__github__get_issue", {"number": 3}, Verdict.ALLOW),
        ("mcp__shell__run", {"cmd": "ls"}, Verdict.DENY),
        # forbidden and approval globs match any case; the strictest pattern wins
        ("MCP__SHELL__RUN", {}, Verdict.DENY),
        ("mcp__github__create_issue", {"title": "x"}, Verdict.ASK),
        ("mcp__github__create_pull_request", {}, Verdict.ASK),
        # allow matches exactly as written
        ("mcp__postgres__QUERY", {"sql": "SELECT 1"}, Verdict.ASK),
        # a tool no pattern names is unresolved: ask
        ("mcp__slack__post_message", {"text": "hi"}, Verdict.ASK),
        # a multi-word tool: entry is not a tool pattern (never read more broadly)
        ("mcp__docs__search", {"q": "x"}, Verdict.ASK),
    ],
)
def test_tool_verdicts(gate: Gate, name: str, arguments: dict[str, Any], want: Verdict) -> None:
    assert tool(gate, name, arguments) == want


def test_rules_and_messages(gate: Gate) -> None:
    d = gate.decide_action(
        {"kind": "tool", "tool": "mcp__postgres__query", "arguments": {"sql": "DROP DATABASE prod"}}
    )
    deny = [r for r in d.reasons if r.verdict is Verdict.DENY]
    assert [r.rule for r in deny] == ["boundaries.forbidden[1]", "boundaries.forbidden[14]"]
    assert "DROP DATABASE prod" in deny[0].msg
    assert d.extra["action"] == {
        "kind": "tool",
        "tool": "mcp__postgres__query",
        "arguments": {"sql": "DROP DATABASE prod"},
    }
    unknown = gate.decide_action({"kind": "tool", "tool": "mcp__x__y"})
    assert [r.rule for r in unknown.reasons] == ["CHARTER-GATE-DEFAULT-ASK"]
    assert "unresolved" in unknown.reasons[0].msg


def test_roles(gate: Gate) -> None:
    args = {"sql": "SELECT 1"}
    assert tool(gate, "mcp__postgres__query", args, model_role="coder") is Verdict.ALLOW
    assert tool(gate, "mcp__postgres__query", args, model_role="reader") is Verdict.DENY
    # a tool runs in its server, outside any sandbox: refused for sandbox_only roles
    boxed = gate.decide_action(
        {"kind": "tool", "tool": "mcp__postgres__query", "arguments": args, "model_role": "boxed"}
    )
    assert boxed.verdict is Verdict.DENY
    assert boxed.reasons[0].rule == "CHARTER-GATE-TOOL-OUTSIDE-SANDBOX"
    assert tool(gate, "mcp__postgres__query", args, model_role="nobody") is Verdict.ASK


def test_server_unknown_only_tightens(gate: Gate) -> None:
    # Cursor names the tool without its server: forbidden/approval patterns still
    # reach it by its last part, an allow never does.
    assert tool(gate, "drop_table", {}, server_known=False) is Verdict.DENY
    assert tool(gate, "drop_table", {}, server_known=True) is Verdict.ASK
    # ``mcp__shell__*`` names a server, which Cursor does not give: no match, ask
    assert tool(gate, "run", {}, server_known=False) is Verdict.ASK
    assert tool(gate, "create_issue", {}, server_known=False) is Verdict.ASK
    assert tool(gate, "query", {"sql": "SELECT 1"}, server_known=False) is Verdict.ASK
    assert tool(gate, "query", {"sql": "SELECT 1"}, server_known=True) is Verdict.ASK


@pytest.mark.parametrize(
    "action",
    [
        {"kind": "tool"},
        {"kind": "tool", "tool": ""},
        {"kind": "tool", "tool": 3},
        {"kind": "tool", "tool": "a b"},
        {"kind": "tool", "tool": "x" * 300},
        {"kind": "tool", "tool": "mcp__a__b", "arguments": ["DROP DATABASE x"]},
        {"kind": "tool", "tool": "mcp__a__b", "arguments": "{}"},
        {"kind": "tool", "tool": "mcp__a__b", "server_known": "no"},
    ],
)
def test_malformed_tool_actions_are_input_errors(gate: Gate, action: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        gate.decide_action(action)


def test_tool_patterns_compile_only_single_words() -> None:
    got = compile_tool_patterns(
        ("tool:a*", "rm -rf /", "tool:"), ("tool:b c",), (" tool:mcp__x__y ",)
    )
    assert [(p.kind, p.glob) for p in got] == [("forbidden", "a*"), ("auto_allowed", "mcp__x__y")]


def test_tool_patterns_do_not_change_command_decisions(gate: Gate) -> None:
    assert gate.decide_command("git status").verdict is Verdict.ALLOW
    assert gate.decide_command("rm -rf /").verdict is Verdict.DENY
    assert gate.decide_command("tool:mcp__shell__run").verdict is Verdict.DENY


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(
    json_values, st.sampled_from(["DROP DATABASE prod", "drop database x", "DROP/**/DATABASE y"])
)
def test_a_forbidden_statement_anywhere_denies(value: Any, statement: str) -> None:
    gate = Gate(parse_text(TEXT))
    arguments = {"args": [value, {"deep": statement}]}
    assert statement in list(strings(arguments))
    assert tool(gate, "mcp__postgres__query", arguments) is Verdict.DENY


@given(json_values)
def test_tool_decisions_are_never_looser_than_the_name_alone(value: Any) -> None:
    gate = Gate(parse_text(TEXT))
    arguments = {"v": value}
    got = tool(gate, "mcp__slack__post", arguments)
    assert got in (Verdict.ASK, Verdict.DENY)


SQL_WORDS = ["DROP", "drop", "DaTaBaSe", "DATABASE", "TABLE", "truncate", "/**/", "--x\n",
             "DELETE", "FROM", "prod", ";", " ", "\n", "'", "ſ", "K"]  # fmt: skip


@given(st.lists(st.sampled_from(SQL_WORDS), max_size=8).map(" ".join))
def test_the_fast_filter_never_changes_an_sql_verdict(text: str) -> None:
    gate = Gate(parse_text(TEXT))
    brute = [
        p for p in gate.patterns.sql if p.kind != "auto_allowed" and p.sql and p.sql.search(text)
    ]
    d = gate.decide_action(
        {"kind": "tool", "tool": "mcp__postgres__query", "arguments": {"q": text}}
    )
    found = {r.rule for r in d.reasons if r.msg.startswith("tool 'mcp__postgres__query': pattern")}
    assert found == {p.rule for p in brute}


def test_linter_and_runtime_agree_on_tool_patterns() -> None:
    # A lower layer may narrow the upper layer's auto-allowed tools, never widen them.
    upper = parse_text(
        constitution_text().replace("auto_allowed = [", 'auto_allowed = ["tool:mcp__github__*", ')
    )

    def lower(pattern: str) -> list[str]:
        text = constitution_text().replace("auto_allowed = [", f'auto_allowed = ["{pattern}", ')
        return [f.code for f in lint_constitution_toml(parse_text(text), upper)]

    assert lower("tool:mcp__github__get_*") == []
    assert lower("tool:mcp__shell__*") == ["CHARTER-L030"]
    assert Gate(upper).decide_action({"kind": "tool", "tool": "mcp__shell__x"}).verdict is (
        Verdict.ASK
    )
