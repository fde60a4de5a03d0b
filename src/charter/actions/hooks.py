"""Adapters from agent hook payloads to gate actions (docs/claude-code.md).

Claude Code runs a ``PreToolUse`` hook with a JSON document on stdin::

    {"session_id": …, "transcript_path": …, "cwd": "/repo", "permission_mode": …,
     "hook_event_name": "PreToolUse", "tool_name": "Bash",
     "tool_input": {"command": "git status", "description": …}}

and reads ``hookSpecificOutput.permissionDecision`` (allow | deny | ask) from
stdout. A hook that exits 1 or times out lets the tool call *proceed*, so every
failure here raises :class:`HookInputError` and the CLI exits 2, which blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from charter.actions.gate import Gate
from charter.core import jsonio
from charter.core.decision import Decision
from charter.core.errors import InputError
from charter.core.verdict import Verdict

WRITE_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
READ_TOOLS = frozenset({"Read", "NotebookRead"})
SEARCH_TOOLS = frozenset({"Grep", "Glob", "LS"})


class HookInputError(InputError):
    """The hook payload is malformed: the tool call is blocked (exit 2)."""


def parse_payload(text: str) -> dict[str, Any]:
    # The one strict reader: a duplicate key (which ``tool_input`` would the gate
    # see?), 1e999, a lone surrogate or absurd nesting is refused, not guessed at.
    payload = jsonio.loads_object(text, what="hook input")
    event = payload.get("hook_event_name", "PreToolUse")
    if event != "PreToolUse":
        raise HookInputError(f"charter hook claude-code handles PreToolUse, not {event!r}")
    if not isinstance(payload.get("tool_name"), str):
        raise HookInputError("hook input has no tool_name")
    if not isinstance(payload.get("tool_input"), dict):
        raise HookInputError("hook input has no tool_input object")
    cwd = payload.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise HookInputError("hook input cwd must be a string")
    return payload


def _field(tool_input: Mapping[str, Any], key: str, tool: str) -> str:
    value = tool_input.get(key)
    if not isinstance(value, str) or not value:
        raise HookInputError(f"{tool} hook input has no tool_input.{key}")
    return value


def _write_size(tool: str, tool_input: Mapping[str, Any]) -> int | None:
    if tool == "Write" and isinstance(tool_input.get("content"), str):
        return len(tool_input["content"].encode("utf-8"))
    if tool == "Edit" and isinstance(tool_input.get("new_string"), str):
        return len(tool_input["new_string"].encode("utf-8"))
    if tool == "MultiEdit" and isinstance(tool_input.get("edits"), list):
        return sum(
            len(e.get("new_string", "").encode("utf-8"))
            for e in tool_input["edits"]
            if isinstance(e, dict) and isinstance(e.get("new_string"), str)
        )
    return None


def action_from_claude_code(
    payload: Mapping[str, Any], model_role: str | None = None
) -> dict[str, Any]:
    """The gate Action (docs/design.md, 'Action gate') for one PreToolUse payload."""
    tool = str(payload["tool_name"])
    tool_input: Mapping[str, Any] = payload["tool_input"]
    cwd = payload.get("cwd")
    action: dict[str, Any]
    if tool == "Bash":
        action = {"kind": "command", "command": _field(tool_input, "command", tool)}
    elif tool in WRITE_TOOLS:
        key = "notebook_path" if tool == "NotebookEdit" else "file_path"
        action = {"kind": "file_write", "path": _field(tool_input, key, tool)}
        size = _write_size(tool, tool_input)
        if size is not None:
            action["size"] = size
    elif tool in READ_TOOLS:
        key = "notebook_path" if tool == "NotebookRead" else "file_path"
        action = {"kind": "file_read", "path": _field(tool_input, key, tool)}
    elif tool in SEARCH_TOOLS:
        path = tool_input.get("path")
        action = {
            "kind": "file_read",
            "path": path if isinstance(path, str) and path else (cwd or "."),
        }
    else:
        raise HookInputError(
            f"tool {tool!r} is not one Charter gates",
            hint="limit the hook matcher to Bash|Write|Edit|MultiEdit|Read",
        )
    if cwd:
        action["cwd"] = cwd
    if model_role:
        action["model_role"] = model_role
    if isinstance(payload.get("session_id"), str):
        action["agent"] = {"id": payload["session_id"], "type": "claude-code"}
    return action


def claude_code_output(decision: Decision) -> dict[str, Any]:
    """The hook's stdout document for one decision."""
    deciding = [r for r in decision.reasons if r.verdict == decision.verdict]
    if deciding:
        top = deciding[0]
        reason = f"Charter {decision.verdict}: {top.rule}: {top.msg}"
    else:
        reason = f"Charter {decision.verdict}"
    if decision.verdict is Verdict.ALLOW:
        reason = (
            "Charter allow: " + "; ".join(dict.fromkeys(r.rule for r in deciding))
            if deciding
            else reason
        )
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": str(decision.verdict),
            "permissionDecisionReason": reason + f" (decision {decision.decision_id})",
        }
    }


def handle_claude_code(
    gate: Gate, text: str, model_role: str | None = None
) -> tuple[dict[str, Any], Decision]:
    payload = parse_payload(text)
    action = action_from_claude_code(payload, model_role)
    decision = gate.decide_action(action)
    return claude_code_output(decision), decision
