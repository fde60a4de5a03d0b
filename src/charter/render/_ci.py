"""What the CI formats (SARIF, JUnit, GitHub, Markdown) share about a decision.

Renderers depend only on core and plain data: the rule metadata they read is
described by :class:`RuleMeta` (a :class:`charter.policy.rules.Rule` fits), the
proposal's files by a mapping of path to patch text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from charter.core.decision import Reason

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_PATCH_LINE = re.compile(r"\(patch line (\d+)\)")


class RuleMeta(Protocol):
    """What the CI formats read of one rule of the stack."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def layer(self) -> str: ...
    @property
    def layer_name(self) -> str: ...
    @property
    def citation(self) -> str | None: ...
    @property
    def links(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Location:
    """A file of the proposal a reason names, and the line in the new file if known."""

    path: str
    line: int | None = None


def proposal_files(document: Mapping[str, Any]) -> dict[str, str | None]:
    """Path → patch text (``None`` when absent) of each file a proposal changes."""
    files: dict[str, str | None] = {}
    for entry in document.get("files") or ():
        if isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
            patch = entry.get("patch")
            files[entry["path"]] = patch if isinstance(patch, str) else None
    return files


def new_file_line(patch: str, patch_line: int) -> int | None:
    """The new file's line number of the 1-based ``patch_line``, or ``None``.

    Only lines a change keeps or adds have a line in the new file; a hunk header
    or a removed line has none.
    """
    lines = patch.splitlines()
    if not 1 <= patch_line <= len(lines):
        return None
    current: int | None = None
    for number, text in enumerate(lines, start=1):
        hunk = _HUNK.match(text)
        if hunk:
            current = int(hunk[1])
            if number == patch_line:
                return None
            continue
        if current is None:
            continue
        if text.startswith("-"):
            if number == patch_line:
                return None
            continue
        if text.startswith("\\"):  # "\ No newline at end of file"
            if number == patch_line:
                return None
            continue
        if number == patch_line:
            return current
        current += 1
    return None


def locate(reason: Reason, files: Mapping[str, str | None]) -> Location | None:
    """The proposal file ``reason``'s message names (the longest path that occurs in it).

    A message that starts with the path and names a ``(patch line N)`` gets the
    matching line of the new file.
    """
    named = [path for path in files if path and path in reason.msg]
    if not named:
        return None
    path = max(named, key=len)
    line = None
    patch = files[path]
    found = _PATCH_LINE.search(reason.msg)
    if patch is not None and found and reason.msg.startswith(path):
        line = new_file_line(patch, int(found[1]))
    return Location(path, line)


def failing(reasons: Iterable[Reason]) -> list[Reason]:
    """The reasons that deny or ask, in order."""
    return [r for r in reasons if str(r.verdict) in ("deny", "ask")]


def rule_ids(reasons: Sequence[Reason], rules: Mapping[str, RuleMeta]) -> list[str]:
    """Every rule of the stack, then any rule a reason names that the stack does not list."""
    ids = list(rules)
    ids += sorted({r.rule for r in reasons} - set(rules))
    return ids


__all__ = [
    "Location",
    "RuleMeta",
    "failing",
    "locate",
    "new_file_line",
    "proposal_files",
    "rule_ids",
]
