"""Agent tool calls (MCP tools and the like) as gate actions (docs/design.md, 'Action gate').

A tool call is the action ``{"kind": "tool", "tool": "mcp__postgres__query",
"arguments": {...}}``. Constitution patterns name tools with the prefix ``tool:``
(``tool:mcp__postgres__query``, ``tool:mcp__github__*``: one word, a glob over the
whole tool name), and the SQL patterns of the boundary lists (``DROP DATABASE *``)
are searched in every string the arguments hold, at any depth: which argument of
which server carries SQL is the server's business, so all of them count.

Per call: a ``forbidden`` tool pattern or SQL pattern → deny, ``requires_approval``
→ ask, an ``auto_allowed`` tool pattern → allow; a tool no ``tool:`` pattern names
→ ask. SQL patterns never allow. A role that may not execute (``can_execute =
false``) may not call tools, and a ``sandbox_only`` role is refused: a tool runs in
its server's process, outside Charter's sandbox.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from charter.actions.constitution import ModelPermission
from charter.actions.patterns import CONNECTORS, Pattern, tokenise
from charter.core.decision import Reason
from charter.core.errors import InputError
from charter.core.verdict import Verdict

TOOL_PREFIX = "tool:"
#: The rule of a tool no ``tool:`` pattern names (the gate's default-ask rule).
TOOL_DEFAULT_ASK = "CHARTER-GATE-DEFAULT-ASK"
TOOL_SANDBOX = "CHARTER-GATE-TOOL-OUTSIDE-SANDBOX"
#: The longest tool name accepted (MCP clients cap names far below this).
MAX_TOOL_NAME = 256
_NAME = re.compile(r"^[A-Za-z0-9_.:/@-]+$")
_KINDS = ("forbidden", "requires_approval", "auto_allowed")
_VERDICT = {
    "forbidden": Verdict.DENY,
    "requires_approval": Verdict.ASK,
    "auto_allowed": Verdict.ALLOW,
}


@dataclass(frozen=True)
class ToolPattern:
    """One ``tool:GLOB`` entry of a boundary list."""

    text: str
    kind: str
    index: int
    glob: str

    @property
    def rule(self) -> str:
        return f"boundaries.{self.kind}[{self.index}]"

    def matches(self, name: str, server_known: bool) -> bool:
        if self.kind == "auto_allowed":
            # allowing matches exactly as written
            return fnmatch.fnmatchcase(name, self.glob)
        if fnmatch.fnmatchcase(name.lower(), self.glob.lower()):
            return True
        # A client that does not say which server a tool belongs to (Cursor):
        # a pattern naming ``mcp__SERVER__TOOL`` still denies or asks for TOOL.
        # (``mcp__shell__*`` names a server, not a tool: nothing to match then)
        if not server_known and "__" in self.glob:
            last = self.glob.rsplit("__", 1)[1].lower()
            return bool(last.strip("*?")) and fnmatch.fnmatchcase(name.lower(), last)
        return False


@functools.lru_cache(maxsize=32)
def compile_tool_patterns(
    forbidden: tuple[str, ...], approval: tuple[str, ...], auto: tuple[str, ...]
) -> tuple[ToolPattern, ...]:
    """The ``tool:`` patterns of the three boundary lists (other entries are commands).

    Only a single word counts: ``tool:NAME extra`` is not a tool pattern (an allow
    must never be read more broadly than written).
    """
    out: list[ToolPattern] = []
    for kind, texts in zip(_KINDS, (forbidden, approval, auto), strict=True):
        for i, text in enumerate(texts):
            stripped = text.strip()
            if not stripped.startswith(TOOL_PREFIX) or len(stripped.split()) != 1:
                continue
            glob = stripped[len(TOOL_PREFIX) :]
            if glob:
                out.append(ToolPattern(text, kind, i, glob))
    return tuple(out)


def tool_call(action: Mapping[str, Any]) -> tuple[str, dict[str, Any], bool]:
    """The tool name, its arguments and whether the name says its server, or InputError."""
    name = action.get("tool")
    if not isinstance(name, str) or not name:
        raise InputError("a tool action needs a tool name", hint='e.g. "mcp__postgres__query"')
    if len(name) > MAX_TOOL_NAME or not _NAME.fullmatch(name):
        raise InputError(f"tool name {name[:80]!r} is not a tool name")
    arguments = action.get("arguments")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        raise InputError("a tool action's arguments must be an object")
    server = action.get("server_known", True)
    if not isinstance(server, bool):
        raise InputError("server_known must be true or false")
    return name, dict(arguments), server


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value (keys excluded), depth first."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


@functools.lru_cache(maxsize=1024)
def _first_word(pattern: str) -> str:
    """The first word of an SQL pattern, lower-cased (as the pattern compiler splits it)."""
    return next(t for t in tokenise(pattern) if t not in CONNECTORS).lower()


def _reason(rule: str, severity: str, verdict: Verdict, msg: str) -> Reason:
    return Reason(rule=rule, layer="constitution", severity=severity, msg=msg, verdict=verdict)


def _short(text: str, limit: int = 120) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def tool_reasons(
    name: str,
    arguments: Mapping[str, Any],
    *,
    server_known: bool,
    tool_patterns: Sequence[ToolPattern],
    sql_patterns: Sequence[Pattern],
    permission: ModelPermission | None,
    role: str | None,
    sandboxed: bool,
) -> list[Reason]:
    """Every reason that bears on one tool call (the gate takes the strictest)."""
    reasons: list[Reason] = []
    named = False
    for p in tool_patterns:
        if not p.matches(name, server_known):
            continue
        named = True
        verdict = _VERDICT[p.kind]
        severity = {"forbidden": "critical", "requires_approval": "medium"}.get(p.kind, "info")
        word = {"forbidden": "forbidden", "requires_approval": "needs approval"}.get(
            p.kind, "is auto-allowed"
        )
        msg = (
            f"tool {name!r} is auto-allowed ({p.text!r})"
            if verdict is Verdict.ALLOW
            else f"tool {name!r} {word}: pattern {p.text!r}"
        )
        reasons.append(_reason(p.rule, severity, verdict, msg))
    if not named:
        reasons.append(
            _reason(
                TOOL_DEFAULT_ASK,
                "low",
                Verdict.ASK,
                f"tool {name!r} matches no tool: pattern (unresolved)",
            )
        )
    texts = [(t, t.lower() if t.isascii() else None) for t in strings(arguments)]
    for sp in sql_patterns:
        if sp.kind == "auto_allowed" or sp.sql is None:
            continue
        sql, first = sp.sql, _first_word(sp.text)
        # ASCII text cannot match unless it holds the first word (a fast, exact filter)
        hit = next((t for t, low in texts if (low is None or first in low) and sql.search(t)), None)
        if hit is not None:
            verdict = Verdict.DENY if sp.kind == "forbidden" else Verdict.ASK
            reasons.append(
                _reason(
                    sp.rule,
                    "critical" if verdict is Verdict.DENY else "medium",
                    verdict,
                    f"tool {name!r}: pattern {sp.text!r} matches its argument `{_short(hit)}`",
                )
            )
    if permission is not None and not permission.can_execute:
        reasons.append(
            _reason(
                f"model_permissions.{role or '*'}.can_execute",
                "high",
                Verdict.DENY,
                f"model role {role!r} may not call tools (can_execute = false)",
            )
        )
    if sandboxed:
        reasons.append(
            _reason(
                TOOL_SANDBOX,
                "high",
                Verdict.DENY,
                f"model role {role!r} is sandbox_only and tool {name!r} runs outside the sandbox",
            )
        )
    return reasons
