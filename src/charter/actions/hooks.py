"""Agent hook protocols → gate actions → the agent's answer (docs/agents.md).

One entry point, :func:`respond`, serves every front end (``charter hook NAME``, the
decision daemon): it reads one hook payload in the agent's format, decides it with
the :class:`~charter.actions.gate.Gate`, and returns the answer in the agent's
protocol as a :class:`HookAnswer` (stdout, exit code, and the decision to record).

=============  ==============================  =======================================
agent          events                          answer
=============  ==============================  =======================================
claude-code    ``PreToolUse``                  ``hookSpecificOutput.permissionDecision``
                                               allow/deny/ask (+ ``updatedInput``)
gemini-cli     ``BeforeTool``                  ``decision`` allow/deny/ask
                                               (+ ``hookSpecificOutput.tool_input``)
cursor         ``beforeShellExecution``,       ``permission`` allow/deny/ask
               ``beforeMCPExecution``,         (reads: allow/deny only)
               ``beforeReadFile``,
               ``beforeTabFileRead``
codex          ``PreToolUse`` (Bash,           ``{}`` or ``permissionDecision: deny``
               apply_patch, ``mcp__*``)        (no ask: ask is answered deny)
=============  ==============================  =======================================

Failing closed: every agent lets a tool call *run* when its hook crashes, exits 1 or
times out, so nothing here raises for bad input. A payload that does not parse, an
event or tool Charter does not gate, a field of the wrong type: the answer is the
protocol's block (exit 2, which all four agents treat as "blocked", plus the deny
document) and the decision recorded is a deny. ``sandbox_only`` roles never run a
command unsandboxed: the command is rewritten to run under ``charter exec`` (Claude
Code ``updatedInput``, Gemini CLI ``tool_input``) or refused.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from charter.actions.gate import Gate
from charter.core import jsonio
from charter.core.decision import Decision, Reason, input_digest
from charter.core.errors import InputError
from charter.core.verdict import Verdict, strictest

AGENTS = ("claude-code", "gemini-cli", "cursor", "codex")

#: Claude Code's file tools (every one that writes a file is a file write).
WRITE_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
READ_TOOLS = frozenset({"Read", "NotebookRead"})
SEARCH_TOOLS = frozenset({"Grep", "Glob", "LS"})

#: The hook matchers to configure: every tool Charter decides, and nothing it refuses.
RECOMMENDED_MATCHERS: Mapping[str, str] = {
    "claude-code": "Bash|Write|Edit|MultiEdit|NotebookEdit|Read|NotebookRead|Grep|Glob|LS|mcp__.*",
    "gemini-cli": (
        "run_shell_command|write_file|replace|save_memory|read_file|read_many_files"
        "|list_directory|glob|search_file_content|grep_search|mcp__.*"
    ),
    "codex": "Bash|apply_patch|Edit|Write|mcp__.*",
}

#: Claude Code permission modes in which a hook's ask is not shown to anyone.
BYPASS_MODES = frozenset({"bypassPermissions"})

HOOK_INVALID = "CHARTER-HOOK-INVALID-INPUT"
HOOK_ASK_AS_DENY = "CHARTER-HOOK-ASK-AS-DENY"
HOOK_NO_SANDBOX = "CHARTER-HOOK-NO-SANDBOX"
HOOK_SANDBOXED = "CHARTER-HOOK-SANDBOXED"

#: The exit code every supported agent reads as "block this call" (stderr: why).
BLOCK_EXIT = 2


class HookInputError(InputError):
    """The hook payload is malformed: the tool call is blocked (exit 2)."""


@dataclass(frozen=True)
class HookAnswer:
    """What to print (stdout), how to exit, and the decision to record first."""

    stdout: str
    exit_code: int
    decision: Decision
    #: one line for stderr when the answer blocks by exit code ("" otherwise)
    stderr: str = ""


@dataclass(frozen=True)
class _Call:
    """One hook payload, read: the gate actions it stands for and how to answer."""

    event: str
    actions: tuple[dict[str, Any], ...]
    #: for a shell command: the input document that runs ``new_command`` instead
    rewrite: Callable[[str], dict[str, Any]] | None = None
    reads_only_allow_deny: bool = False
    #: why this call's ask would not reach a person ("" when it would)
    no_ask: str = ""


# ------------------------------------------------------------------ helpers


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise HookInputError(f"hook input has no {what} object")
    return value


def _text(mapping: Mapping[str, Any], key: str, what: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise HookInputError(f"{what} has no {key} (a non-empty string)")
    return value


def _optional_text(mapping: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = mapping.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise HookInputError(f"hook input {key} must be a string")
        if value:
            return value
    return None


def _texts(mapping: Mapping[str, Any], *keys: str) -> list[str]:
    """Every distinct non-empty value of ``keys`` (two spellings of one field that
    disagree are both decided: which one the tool uses is not for the hook to guess)."""
    found: list[str] = []
    for key in keys:
        value = _optional_text(mapping, key)
        if value is not None and value not in found:
            found.append(value)
    return found


def _cwd(payload: Mapping[str, Any]) -> str | None:
    cwd = payload.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise HookInputError("hook input cwd must be a string")
    return cwd or None


def _size(value: Any) -> int | None:
    return len(value.encode("utf-8", "surrogatepass")) if isinstance(value, str) else None


def _with(action: dict[str, Any], cwd: str | None, size: int | None = None) -> dict[str, Any]:
    if size is not None:
        action["size"] = size
    if cwd:
        action["cwd"] = cwd
    return action


def _tool_action(
    name: str, arguments: Any, cwd: str | None, server_known: bool = True
) -> dict[str, Any]:
    if not isinstance(arguments, dict):
        raise HookInputError(f"tool {name!r}: its input must be an object")
    action: dict[str, Any] = {"kind": "tool", "tool": name, "arguments": arguments}
    if not server_known:
        action["server_known"] = False
    return _with(action, cwd)


def _under(cwd: str | None, path: str) -> str:
    if cwd is None or path.startswith(("/", "~")):
        return path
    return posixpath.normpath(posixpath.join(cwd, path))


# ------------------------------------------------------------------ claude code


def parse_payload(text: str) -> dict[str, Any]:
    """A Claude Code PreToolUse payload, strictly (:class:`HookInputError` otherwise)."""
    # The one strict reader: a duplicate key (which ``tool_input`` would the gate
    # see?), 1e999, a lone surrogate or absurd nesting is refused, not guessed at.
    payload = jsonio.loads_object(text, what="hook input")
    event = payload.get("hook_event_name", "PreToolUse")
    if event != "PreToolUse":
        raise HookInputError(f"charter hook claude-code handles PreToolUse, not {event!r}")
    if not isinstance(payload.get("tool_name"), str):
        raise HookInputError("hook input has no tool_name")
    _object(payload.get("tool_input"), "tool_input")
    _cwd(payload)
    return payload


def _claude_write_size(tool: str, tool_input: Mapping[str, Any]) -> int | None:
    if tool == "Write":
        return _size(tool_input.get("content"))
    if tool == "Edit":
        return _size(tool_input.get("new_string"))
    if tool == "NotebookEdit":
        return _size(tool_input.get("new_source"))
    if tool == "MultiEdit" and isinstance(tool_input.get("edits"), list):
        return sum(
            len(e["new_string"].encode("utf-8", "surrogatepass"))
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
    cwd = _cwd(payload)
    action: dict[str, Any]
    if tool == "Bash":
        action = {"kind": "command", "command": _text(tool_input, "command", "tool_input")}
    elif tool in WRITE_TOOLS:
        key = "notebook_path" if tool == "NotebookEdit" else "file_path"
        action = {"kind": "file_write", "path": _text(tool_input, key, "tool_input")}
        size = _claude_write_size(tool, tool_input)
        if size is not None:
            action["size"] = size
    elif tool in READ_TOOLS:
        key = "notebook_path" if tool == "NotebookRead" else "file_path"
        action = {"kind": "file_read", "path": _text(tool_input, key, "tool_input")}
    elif tool in SEARCH_TOOLS:
        path = _optional_text(tool_input, "path")
        action = {"kind": "file_read", "path": path or cwd or "."}
    elif tool.startswith("mcp__"):
        action = {"kind": "tool", "tool": tool, "arguments": dict(tool_input)}
    else:
        raise HookInputError(
            f"tool {tool!r} is not one Charter gates",
            hint=f"limit the hook matcher to {RECOMMENDED_MATCHERS['claude-code']}",
        )
    if cwd:
        action["cwd"] = cwd
    if model_role:
        action["model_role"] = model_role
    if isinstance(payload.get("session_id"), str):
        action["agent"] = {"id": payload["session_id"], "type": "claude-code"}
    return action


def _read_claude(payload: dict[str, Any]) -> _Call:
    event = payload.get("hook_event_name", "PreToolUse")
    if event != "PreToolUse":
        raise HookInputError(f"charter hook claude-code handles PreToolUse, not {event!r}")
    if not isinstance(payload.get("tool_name"), str):
        raise HookInputError("hook input has no tool_name")
    tool_input = _object(payload.get("tool_input"), "tool_input")
    action = action_from_claude_code(payload)
    rewrite = None
    if action["kind"] == "command":

        def rewrite(command: str) -> dict[str, Any]:
            return {**tool_input, "command": command}

    # anthropics/claude-code#77212: under bypassPermissions a hook's ask runs unasked
    mode = payload.get("permission_mode")
    no_ask = f"Claude Code runs an ask unasked in {mode} mode" if mode in BYPASS_MODES else ""
    return _Call("PreToolUse", (action,), rewrite, no_ask=no_ask)


def claude_code_output(
    decision: Decision, updated: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The hook's stdout document for one decision."""
    out: dict[str, Any] = {
        "hookEventName": "PreToolUse",
        "permissionDecision": str(decision.verdict),
        "permissionDecisionReason": summary(decision),
    }
    if updated is not None:
        out["updatedInput"] = dict(updated)
    return {"hookSpecificOutput": out}


def handle_claude_code(
    gate: Gate, text: str, model_role: str | None = None
) -> tuple[dict[str, Any], Decision]:
    """The wave-1 entry point over :func:`respond`: malformed input raises
    :class:`HookInputError` (exit 2); a ``sandbox_only`` command is refused, as there is
    no ``charter exec`` to rewrite it to. New front ends call :func:`respond`."""
    answer = respond("claude-code", gate, text, model_role=model_role)
    if answer.exit_code == BLOCK_EXIT:
        raise HookInputError(answer.decision.reasons[0].msg)
    return jsonio.loads_object(answer.stdout, what="hook answer"), answer.decision


# ------------------------------------------------------------------ gemini cli

_GEMINI_WRITES = {"write_file": "content", "replace": "new_string"}
_GEMINI_SEARCH = frozenset({"list_directory", "glob", "search_file_content", "grep_search", "grep"})
#: Where ``save_memory`` appends (Gemini CLI's global context file).
GEMINI_MEMORY = "~/.gemini/GEMINI.md"


def _read_gemini(payload: dict[str, Any]) -> _Call:
    event = payload.get("hook_event_name")
    if event != "BeforeTool":
        raise HookInputError(f"charter hook gemini-cli handles BeforeTool, not {event!r}")
    tool = _text(payload, "tool_name", "hook input")
    tool_input = _object(payload.get("tool_input"), "tool_input")
    cwd = _cwd(payload)
    if tool == "run_shell_command":
        command = _text(tool_input, "command", "tool_input")
        run_in: list[str | None] = [
            _under(cwd, w) for w in _texts(tool_input, "dir_path", "directory")
        ]

        def rewrite(new: str) -> dict[str, Any]:
            return {"command": new}

        actions = tuple(_with({"kind": "command", "command": command}, d) for d in run_in or [cwd])
        return _Call("BeforeTool", actions, rewrite)
    if tool in _GEMINI_WRITES:
        path = _text(tool_input, "file_path", "tool_input")
        size = _size(tool_input.get(_GEMINI_WRITES[tool]))
        return _Call("BeforeTool", (_with({"kind": "file_write", "path": path}, cwd, size),))
    if tool == "save_memory":
        size = _size(tool_input.get("fact"))
        return _Call(
            "BeforeTool", (_with({"kind": "file_write", "path": GEMINI_MEMORY}, cwd, size),)
        )
    if tool == "read_file":
        found = _texts(tool_input, "file_path", "absolute_path")
        if not found:
            raise HookInputError("read_file hook input has no file_path")
        return _Call(
            "BeforeTool", tuple(_with({"kind": "file_read", "path": p}, cwd) for p in found)
        )
    if tool == "read_many_files":
        return _Call("BeforeTool", _many_reads(tool_input, cwd))
    if tool in _GEMINI_SEARCH:
        where = _texts(tool_input, "dir_path", "path") or [cwd or "."]
        return _Call(
            "BeforeTool", tuple(_with({"kind": "file_read", "path": w}, cwd) for w in where)
        )
    name = _gemini_mcp_name(tool, payload.get("mcp_context"))
    if name is not None:
        return _Call("BeforeTool", (_tool_action(name, tool_input, cwd),))
    raise HookInputError(
        f"tool {tool!r} is not one Charter gates",
        hint=f"limit the hook matcher to {RECOMMENDED_MATCHERS['gemini-cli']}",
    )


def _many_reads(tool_input: Mapping[str, Any], cwd: str | None) -> tuple[dict[str, Any], ...]:
    paths = tool_input.get("paths", tool_input.get("include"))
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
        raise HookInputError("read_many_files hook input has no paths (a list of strings)")
    return tuple(_with({"kind": "file_read", "path": p}, cwd) for p in paths)


def _gemini_mcp_name(tool: str, context: Any) -> str | None:
    if tool.startswith("mcp__"):
        return tool
    if isinstance(context, dict):
        server, name = context.get("server_name"), context.get("tool_name")
        if isinstance(server, str) and server and isinstance(name, str) and name:
            return f"mcp__{server}__{name}"
    return None


def _gemini_output(
    verdict: Verdict, reason: str, updated: Mapping[str, Any] | None
) -> dict[str, Any]:
    out: dict[str, Any] = {"decision": str(verdict), "reason": reason}
    if verdict is Verdict.ASK:
        out["systemMessage"] = reason
    if updated is not None:
        out["hookSpecificOutput"] = {"hookEventName": "BeforeTool", "tool_input": dict(updated)}
    return out


# ------------------------------------------------------------------ cursor

CURSOR_EVENTS = (
    "beforeShellExecution",
    "beforeMCPExecution",
    "beforeReadFile",
    "beforeTabFileRead",
)


def _read_cursor(payload: dict[str, Any]) -> _Call:
    event = payload.get("hook_event_name")
    cwd = _cwd(payload)
    roots = payload.get("workspace_roots")
    if cwd is None and isinstance(roots, list) and roots and isinstance(roots[0], str):
        cwd = roots[0] or None
    if event == "beforeShellExecution":
        command = _text(payload, "command", "hook input")
        return _Call(event, (_with({"kind": "command", "command": command}, cwd),))
    if event == "beforeMCPExecution":
        tool = _text(payload, "tool_name", "hook input")
        arguments = payload.get("tool_input")
        if isinstance(arguments, str):  # some Cursor versions send the JSON as a string
            arguments = jsonio.loads(arguments, what="beforeMCPExecution tool_input")
        if arguments is None:
            arguments = {}
        return _Call(event, (_tool_action(tool, arguments, cwd, tool.startswith("mcp__")),))
    if event in ("beforeReadFile", "beforeTabFileRead"):
        path = _text(payload, "file_path", "hook input")
        return _Call(
            event,
            (_with({"kind": "file_read", "path": path}, cwd),),
            reads_only_allow_deny=True,
            no_ask=f"cursor cannot ask in {event}",
        )
    raise HookInputError(
        f"charter hook cursor handles {', '.join(CURSOR_EVENTS)}, not {event!r}",
        hint="configure charter only for those events in hooks.json",
    )


def _cursor_output(verdict: Verdict, reason: str, reads_only: bool) -> dict[str, Any]:
    if reads_only:  # beforeReadFile answers allow or deny, nothing else
        return {"permission": "allow" if verdict is Verdict.ALLOW else "deny"}
    return {"permission": str(verdict), "user_message": reason, "agent_message": reason}


# ------------------------------------------------------------------ codex

_PATCH_FILE = ("*** Add File: ", "*** Update File: ", "*** Delete File: ", "*** Move to: ")
_PATCH_MARKS = frozenset({"*** End Patch", "*** End of File"})


def patch_files(patch: str) -> list[tuple[str, int | None]]:
    """The files an ``apply_patch`` body writes (path, bytes added for new files)."""
    # Lines as Codex reads them (Rust's ``str::lines``: at ``\n``, a ``\r`` before it
    # dropped), not ``splitlines``: a ``\r``, ``\x1c`` or U+2028 inside a header line
    # would cut ``x\x1c/../.git/hooks/pre-commit`` down to ``x`` here, not in Codex.
    lines = [line.removesuffix("\r") for line in patch.split("\n")]
    if not lines or lines[0].strip() != "*** Begin Patch":
        raise HookInputError("apply_patch input is not a patch (no '*** Begin Patch')")
    files: list[tuple[str, int | None]] = []
    adding: int | None = None
    for line in lines[1:]:
        # a header with leading blanks still counts (stricter); an unknown one is refused
        bare = line.lstrip()
        head = next((h for h in _PATCH_FILE if bare.startswith(h)), None)
        if head is None and line.startswith("*** ") and line.rstrip() not in _PATCH_MARKS:
            raise HookInputError(f"apply_patch: unknown patch line {line[:60]!r}")
        if head is not None:
            path = bare[len(head) :].strip()
            if not path:
                raise HookInputError(f"apply_patch: {head.strip()} names no file")
            adding = 0 if head == _PATCH_FILE[0] else None
            files.append((path, adding))
        elif adding is not None and line.startswith("+"):
            adding += len(line[1:].encode("utf-8", "surrogatepass")) + 1
            files[-1] = (files[-1][0], adding)
    if not files:
        raise HookInputError("apply_patch: the patch names no file")
    return files


def _read_codex(payload: dict[str, Any]) -> _Call:
    event = payload.get("hook_event_name")
    if event != "PreToolUse":
        raise HookInputError(f"charter hook codex handles PreToolUse, not {event!r}")
    tool = _text(payload, "tool_name", "hook input")
    tool_input = _object(payload.get("tool_input"), "tool_input")
    cwd = _cwd(payload)
    if tool == "Bash":
        command = tool_input.get("command")
        if isinstance(command, list) and command and all(isinstance(w, str) for w in command):
            command = shlex.join(command)
        if not isinstance(command, str) or not command:
            raise HookInputError("Bash hook input has no tool_input.command")
        return _Call(event, (_with({"kind": "command", "command": command}, cwd),))
    if tool in ("apply_patch", "Edit", "Write"):
        bodies = _texts(tool_input, "command", "input", "patch")
        if not bodies:
            raise HookInputError("apply_patch hook input has no patch (tool_input.command)")
        files = [f for body in bodies for f in patch_files(body)]
        return _Call(
            event, tuple(_with({"kind": "file_write", "path": p}, cwd, n) for p, n in files)
        )
    if tool.startswith("mcp__"):
        return _Call(event, (_tool_action(tool, tool_input, cwd),))
    raise HookInputError(
        f"tool {tool!r} is not one Charter gates",
        hint=f"limit the hook matcher to {RECOMMENDED_MATCHERS['codex']}",
    )


def _codex_output(verdict: Verdict, reason: str) -> dict[str, Any]:
    if verdict is Verdict.ALLOW:
        return {}  # exactly: Codex treats an unknown field as a failed hook (and runs)
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": reason,
        }
    }


# ------------------------------------------------------------------ protocols


@dataclass(frozen=True)
class _Protocol:
    read: Callable[[dict[str, Any]], _Call]
    #: whether the agent can hold a call for a person (an ask); if not, ask → deny
    asks: bool
    #: whether the agent runs a rewritten command (sandbox_only roles need it)
    rewrites: bool
    default_event: str


_PROTOCOLS: Mapping[str, _Protocol] = {
    "claude-code": _Protocol(_read_claude, True, True, "PreToolUse"),
    "gemini-cli": _Protocol(_read_gemini, True, True, "BeforeTool"),
    "cursor": _Protocol(_read_cursor, True, False, "beforeShellExecution"),
    "codex": _Protocol(_read_codex, False, False, "PreToolUse"),
}


def _render(
    agent: str, call: _Call | None, decision: Decision, updated: Mapping[str, Any] | None
) -> str:
    reason = summary(decision)
    verdict = decision.verdict
    doc: dict[str, Any]
    if agent == "claude-code":
        doc = claude_code_output(decision, updated)
    elif agent == "gemini-cli":
        doc = _gemini_output(verdict, reason, updated)
    elif agent == "cursor":
        doc = _cursor_output(verdict, reason, call is not None and call.reads_only_allow_deny)
    else:
        doc = _codex_output(verdict, reason)
    return jsonio.compact(doc) + "\n"


def summary(decision: Decision) -> str:
    """One line for the agent and the person: the verdict, the deciding rule, the id."""
    deciding = [r for r in decision.reasons if r.verdict == decision.verdict]
    if decision.verdict is Verdict.ALLOW and deciding:
        text = "Charter allow: " + "; ".join(dict.fromkeys(r.rule for r in deciding))
    elif deciding:
        text = f"Charter {decision.verdict}: {deciding[0].rule}: {deciding[0].msg}"
    else:
        text = f"Charter {decision.verdict}"
    return f"{text} (decision {decision.decision_id})"


# ------------------------------------------------------------------ decisions


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_id() -> str:
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def _one_line(text: str, limit: int = 400) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _reason(rule: str, severity: str, verdict: Verdict, msg: str) -> Reason:
    return Reason(rule=rule, layer="hook", severity=severity, msg=msg, verdict=verdict)


def refusal(gate: Gate, agent: str, message: str, model_role: str | None = None) -> Decision:
    """The deny recorded for a payload that could not be read (nothing was decided)."""
    action: dict[str, Any] = {"kind": "hook_input", "agent": {"type": agent}}
    if model_role:
        action["model_role"] = model_role
    return Decision(
        decision_id=_new_id(),
        verdict=Verdict.DENY,
        reasons=(_reason(HOOK_INVALID, "high", Verdict.DENY, message),),
        stack=gate.stack,
        input_digest=input_digest(action),
        time=_stamp(),
        extra={"action": action},
    )


def _tightened(decision: Decision, reason: Reason, **extra: Any) -> Decision:
    """``decision`` made stricter by ``reason`` (a hook never loosens a gate decision)."""
    verdict = strictest((decision.verdict, reason.verdict))
    first = reason.verdict == verdict
    reasons = (reason, *decision.reasons) if first else (*decision.reasons, reason)
    return dataclasses.replace(
        decision, verdict=verdict, reasons=reasons, extra={**decision.extra, **extra}
    )


def _decide(gate: Gate, call: _Call, agent: Mapping[str, Any], model_role: str | None) -> Decision:
    decisions = []
    for action in call.actions:
        doc = {**action, "agent": dict(agent)}
        if model_role:
            doc["model_role"] = model_role
        decisions.append(gate.decide_action(doc))
    order = {Verdict.DENY: 0, Verdict.ASK: 1, Verdict.ALLOW: 2}
    worst = min(decisions, key=lambda d: order[d.verdict])
    if len(decisions) > 1:  # one patch, several files: keep the others' verdicts too
        others = [
            {
                "decision_id": d.decision_id,
                "verdict": str(d.verdict),
                "action": d.extra.get("action"),
            }
            for d in decisions
            if d is not worst
        ]
        worst = dataclasses.replace(worst, extra={**worst.extra, "with": others})
    return worst


def _agent_id(agent: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    for key in ("session_id", "conversation_id"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return {"id": value, "type": agent}
    return {"type": agent}


def sandboxed_command(
    prefix: Sequence[str], command: str, cwd: str | None, model_role: str | None
) -> str:
    """The shell command that runs ``command`` under ``charter exec`` (one bash word each).

    ``prefix`` is :func:`exec_prefix`'s result. ``charter exec`` decides the command
    again and runs ``bash -c COMMAND`` inside the role's sandbox and limits.
    """
    if "\x00" in command:
        raise HookInputError("a command with a NUL byte cannot be passed to charter exec")
    argv = [*prefix]
    if model_role:
        argv += ["--model-role", model_role]
    if cwd:
        argv += ["--cwd", cwd]
    return shlex.join([*argv, "--", command])


def charter_program() -> tuple[str, ...]:
    """How a shell starts this Charter: this interpreter running ``-m charter``, with
    ``-P`` so the agent's working directory (its repository, where a ``charter/``
    directory could stand in for Charter) is not on ``sys.path``."""
    return (sys.executable, "-P", "-m", "charter")


def exec_prefix(
    program: Sequence[str],
    constitutions: Sequence[str | Path],
    keys: Sequence[str | Path],
    *,
    trust: str | Path | None = None,
    audit: str | Path | None = None,
    budget: str | Path | None = None,
    run: str | None = None,
) -> tuple[str, ...]:
    """``PROGRAM exec --constitution C --key K …`` with absolute paths, for :func:`respond`.

    ``program`` is how the agent's shell starts Charter (e.g. ``("/usr/bin/charter",)``
    or :func:`charter_program`); constitutions and keys pair up, upper
    layer first, exactly as the hook itself was given them — or, with ``trust``, the
    trust policy names each layer's signers and ``keys`` is empty.
    """
    paired = len(constitutions) == len(keys) or (trust is not None and not keys)
    if not program or not constitutions or not paired:
        raise InputError(
            "exec_prefix needs the program and one key per constitution (or a trust policy)"
        )
    argv = [*program, "exec"]
    for i, c in enumerate(constitutions):
        argv += ["--constitution", os.path.abspath(c)]
        if keys:
            argv += ["--key", os.path.abspath(keys[i])]
    if trust is not None:
        argv += ["--trust", os.path.abspath(trust)]
    if audit is not None:
        text = str(audit)
        argv += ["--audit", text if "://" in text else os.path.abspath(text)]
    if budget is not None:
        argv += ["--budget", os.path.abspath(budget)]
    if run is not None:
        argv += ["--run", run]
    return tuple(argv)


def _sandbox(
    protocol: _Protocol,
    call: _Call,
    decision: Decision,
    sandbox_exec: Sequence[str] | None,
    model_role: str | None,
) -> tuple[Decision, dict[str, Any] | None]:
    """A sandbox_only role's shell command: rewritten to run sandboxed, or refused."""
    action = call.actions[0]
    if decision.verdict is Verdict.DENY or action["kind"] != "command":
        return decision, None

    def refuse(msg: str) -> tuple[Decision, None]:
        return _tightened(decision, _reason(HOOK_NO_SANDBOX, "high", Verdict.DENY, msg)), None

    role = repr(model_role)
    if len(call.actions) != 1:
        return refuse("the command names two working directories: which would exec use?")
    if decision.verdict is Verdict.ASK:
        return refuse(
            f"model role {role} is sandbox_only and the command needs approval: charter exec "
            "would ask again with no terminal (run it yourself with charter exec)"
        )
    if not protocol.rewrites or call.rewrite is None:
        return refuse(f"model role {role} is sandbox_only and this agent cannot rewrite a command")
    if sandbox_exec is None:
        return refuse(f"model role {role} is sandbox_only and the hook has no charter exec to use")
    try:
        new = sandboxed_command(sandbox_exec, action["command"], action.get("cwd"), model_role)
    except HookInputError as exc:
        return refuse(str(exc))
    note = _reason(HOOK_SANDBOXED, "info", Verdict.ALLOW, "runs under charter exec (sandbox_only)")
    sandboxed = dataclasses.replace(
        decision,
        reasons=(*decision.reasons, note),
        extra={**decision.extra, "sandbox": True, "rewritten_command": new},
    )
    return sandboxed, call.rewrite(new)


def respond(
    agent: str,
    gate: Gate,
    text: str,
    *,
    model_role: str | None = None,
    ask_as_deny: bool = False,
    sandbox_exec: Sequence[str] | None = None,
) -> HookAnswer:
    """Decide one hook payload of ``agent`` and answer in its protocol; never raises for input.

    ``ask_as_deny`` answers deny where the gate says ask (for agents or modes that
    run an ``ask`` without asking: Cursor's auto-review, Gemini CLI's YOLO mode);
    Codex's PreToolUse cannot ask, so its asks are always denied. ``sandbox_exec``
    (from :func:`exec_prefix`) lets a ``sandbox_only`` role's commands run under
    ``charter exec``; without it they are refused. The caller records
    ``answer.decision`` before printing ``answer.stdout``.
    """
    protocol = _PROTOCOLS.get(agent)
    if protocol is None:
        raise HookInputError(f"unknown agent {agent!r}", hint=f"one of {', '.join(AGENTS)}")
    call: _Call | None = None
    try:
        payload = jsonio.loads_object(text, what="hook input")
        call = protocol.read(payload)
        decision = _decide(gate, call, _agent_id(agent, payload), model_role)
    except Exception as exc:  # noqa: BLE001 - whatever fails, the call is blocked, never run
        message = _one_line(str(exc) or type(exc).__name__)
        decision = refusal(gate, agent, message, model_role)
        stdout = _render(agent, call, decision, None)
        return HookAnswer(stdout, BLOCK_EXIT, decision, f"charter: error: {message}")
    updated: dict[str, Any] | None = None
    if gate.sandbox_required(model_role):
        decision, updated = _sandbox(protocol, call, decision, sandbox_exec, model_role)
    if decision.verdict is Verdict.ASK and (ask_as_deny or not protocol.asks or call.no_ask):
        why = (
            "--ask-as-deny is set" if ask_as_deny else call.no_ask or f"{agent} cannot ask a person"
        )
        decision = _tightened(
            decision,
            _reason(
                HOOK_ASK_AS_DENY,
                "medium",
                Verdict.DENY,
                f"Charter would ask for approval and {why}: "
                + next((r.msg for r in decision.reasons if r.verdict is Verdict.ASK), "ask"),
            ),
        )
    return HookAnswer(_render(agent, call, decision, updated), 0, decision)
