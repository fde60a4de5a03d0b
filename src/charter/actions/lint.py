"""The ratchet linter for agent-runtime constitutions: a lower TOML only tightens.

``charter rule lint LOWER.toml --against UPPER.toml`` proves that a lower
constitution (a team's, a repository's) only adds and only tightens what the
layer above it allows — see docs/design.md, 'Layers and the ratchet'. Every
finding has a stable code, a ``file:line`` location, an explanation and a fix
hint; any ``error`` finding fails the lint.

Codes
-----
==============  ===============================================================
CHARTER-L000    a constitution TOML cannot be read, parsed or a pattern compiled
CHARTER-L030    an ``auto_allowed`` pattern is not contained in the upper language
CHARTER-L034    a unioned list (forbidden, requires_approval, blocked dirs) drops
                an upper entry
CHARTER-L035    an upper ``forbidden``/``requires_approval`` pattern is demoted
CHARTER-L036    a resource limit is larger than the upper layer's
CHARTER-L037    an allowed directory is not inside an upper allowed directory
CHARTER-L038    a model permission is looser than the upper layer's
==============  ===============================================================

``auto_allowed`` containment (L030) is decided on automata
(:mod:`charter.actions.automata`) built from the same tokeniser and program
catalogue the gate matches with, so what the linter proves is what the gate
enforces.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from charter.actions import automata
from charter.actions import constitution as model
from charter.actions.constitution import Constitution
from charter.actions.layers import dir_inside as _dir_inside
from charter.actions.patterns import MAYBE, compile_pattern, match_segment, split_args
from charter.actions.shell import program_name
from charter.core.errors import CharterError
from charter.core.findings import Finding, LintReport
from charter.core.findings import error as _error

#: Every finding code this linter reports, with a one-line description (SARIF ``rules``).
CODES: dict[str, str] = {
    "CHARTER-L000": "The bundle, a module or a document cannot be read or parsed.",
    "CHARTER-L030": "An auto_allowed pattern is not contained in the upper auto-allowed language.",
    "CHARTER-L034": "A unioned list drops an entry of the upper layer.",
    "CHARTER-L035": "An upper forbidden/requires_approval pattern is demoted.",
    "CHARTER-L036": "A resource limit is larger than the upper layer's.",
    "CHARTER-L037": "An allowed directory is not inside an upper allowed directory.",
    "CHARTER-L038": "A model permission is looser than the upper layer's.",
}

_UNIONED = ("forbidden", "requires_approval")
_DEMOTIONS = (
    ("forbidden", "requires_approval"),
    ("forbidden", "auto_allowed"),
    ("requires_approval", "auto_allowed"),
)
_NUMERIC_LIMITS = (
    "max_api_cost_per_run",
    "max_api_cost_per_day",
    "max_execution_time",
    "max_concurrent_workflows",
    "max_file_write_size",
)

#: Where a finding about ``key`` (and optionally one list item) points: ``file:line``.
Locate = Callable[[str, str | None], str]


def default_constitution_toml() -> Path:
    """The default agent-runtime constitution shipped inside the package."""
    return Path(str(resources.files("charter").joinpath("defaults/constitution.toml")))


# ------------------------------------------------------------------ locations


def _item_lines(source: str) -> list[str]:
    try:
        return Path(source).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def _locator(c: Constitution) -> Locate:
    lines = _item_lines(c.source)

    def at(key: str, item: str | None = None) -> str:
        start = c.lines.get(key) or c.lines.get(key.split(".", 1)[0])
        if item is not None and lines:
            quoted = (json.dumps(item), f"'{item}'")
            for number in range(start or 1, len(lines) + 1):
                if any(q in lines[number - 1] for q in quoted):
                    return f"{c.source}:{number}"
        return f"{c.source}:{start}" if start else c.source

    return at


# ------------------------------------------------------------------ what the upper layer says


class UpperVerdict:
    """What the upper layer's patterns say about a command (for messages), compiled once."""

    def __init__(self, upper: Constitution) -> None:
        self._lists: list[tuple[str, str, list[Any]]] = []
        for kind, verdict in (
            ("forbidden", "deny"),
            ("requires_approval", "ask"),
            ("auto_allowed", "allow"),
        ):
            compiled = [compile_pattern(t, kind) for t in getattr(upper, kind)]
            simple = [p for p in compiled if p.sql is None and len(p.segments) == 1]
            self._lists.append((kind, verdict, simple))

    def __call__(self, command: str) -> str:
        tokens = automata.tokenise(command)
        if not tokens:
            return "ask (empty command)"
        prog = program_name(tokens[0])
        args = split_args(prog, tokens[1:])
        for kind, verdict, compiled in self._lists:
            loose = kind != "auto_allowed"
            for p in compiled:
                seg = p.segments[0]
                if seg.program_re is None and seg.program != prog:
                    continue
                if match_segment(seg, args, loose) >= MAYBE:
                    what = "auto_allowed" if not loose else f"{kind} pattern"
                    return f"{verdict} — {what} {p.text!r}"
        return "ask — it matches no auto_allowed pattern, so it needs approval"


def upper_verdict(upper: Constitution, command: str) -> str:
    """What the upper layer's patterns say about one command (for messages)."""
    return UpperVerdict(upper)(command)


# ------------------------------------------------------------------ the checks


def _unioned_lists(lower: Constitution, upper: Constitution, at: Locate) -> Iterator[Finding]:
    # A lower layer lists only what it adds; restating the list cannot remove.
    for key in _UNIONED:
        mine, theirs = set(getattr(lower, key)), list(getattr(upper, key))
        if not mine & set(theirs):
            continue
        for text in theirs:
            if text not in mine:
                yield _error(
                    "CHARTER-L034",
                    at(f"boundaries.{key}", None),
                    f"boundaries.{key} restates the upper layer's list but drops {text!r}; "
                    f"{key} lists are unioned, so a lower layer can never remove a pattern",
                    "list only the patterns this layer adds",
                )


def _demotions(lower: Constitution, upper: Constitution, at: Locate) -> Iterator[Finding]:
    for high, low in _DEMOTIONS:
        for text in sorted(set(getattr(upper, high)) & set(getattr(lower, low))):
            yield _error(
                "CHARTER-L035",
                at(f"boundaries.{low}", text),
                f"{text!r} is {high} in the upper layer; listing it under {low} tries to demote it",
                f"remove it from {low}; the upper layer's {high} always wins",
            )


def _auto_allowed(lower: Constitution, upper: Constitution, at: Locate) -> Iterator[Finding]:
    # Contained in the upper auto-allowed language, decided on automata.
    if not lower.auto_allowed:
        return
    language = automata.AllowedLanguage(upper.auto_allowed)
    verdict_of = UpperVerdict(upper)
    for text in lower.auto_allowed:
        if text in upper.forbidden or text in upper.requires_approval:
            continue  # already reported as a demotion
        try:
            result = language.contains(text)
        except CharterError as exc:
            yield _error("CHARTER-L000", at("boundaries.auto_allowed", text), exc.message)
            continue
        if result.contained:
            continue
        example = result.counterexample
        # A counterexample is shown only once the gate's own matcher confirms it.
        newly = (
            f"it would newly auto-allow `{example}` (upper layer: {verdict_of(example)})"
            if example is not None
            else "it may auto-allow commands the upper layer does not"
        )
        yield _error(
            "CHARTER-L030",
            at("boundaries.auto_allowed", text),
            f"auto_allowed pattern {text!r} is not contained in the upper layer's "
            f"auto-allowed language: {newly}",
            "narrow the pattern to commands the upper layer already auto-allows, or drop it",
        )


def _limits(lower: Constitution, upper: Constitution, at: Locate) -> Iterator[Finding]:
    # Resource limits only go down.
    for key in _NUMERIC_LIMITS:
        mine = getattr(lower.limits, key)
        theirs = getattr(upper.limits, key)
        if mine is not None and theirs is not None and mine > theirs:
            yield _error(
                "CHARTER-L036",
                at(f"resource_limits.{key}", None),
                f"resource_limits.{key} = {mine:g} is larger than the upper layer's "
                f"{theirs:g}; limits only go down",
                f"set it to at most {theirs:g}",
            )


def _directories(lower: Constitution, upper: Constitution, at: Locate) -> Iterator[Finding]:
    # Allowed directories only shrink; blocked directories only grow.
    upper_allowed = upper.limits.allowed_directories
    if lower.limits.allowed_directories is not None and upper_allowed is not None:
        for d in lower.limits.allowed_directories:
            if not any(_dir_inside(d, u) for u in upper_allowed):
                yield _error(
                    "CHARTER-L037",
                    at("resource_limits.allowed_directories", d),
                    f"allowed directory {d!r} is not inside any upper allowed directory "
                    f"({', '.join(upper_allowed)}); allowed directories only shrink",
                    "use a subdirectory of an upper allowed directory",
                )
    mine_blocked = set(lower.limits.blocked_directories)
    if not mine_blocked & set(upper.limits.blocked_directories):
        return
    for d in upper.limits.blocked_directories:
        if d not in mine_blocked:
            yield _error(
                "CHARTER-L034",
                at("resource_limits.blocked_directories", None),
                f"blocked_directories restates the upper layer's list but drops {d!r}; "
                "blocked directories are unioned and only grow",
                "list only the directories this layer adds",
            )


def _looser(key: str, value: Any, upper_value: Any) -> bool:
    # can_* are AND-ed across layers, sandbox_only is OR-ed.
    if key == "sandbox_only":
        return upper_value is True and value is False
    return upper_value is False and value is True


def _model_permissions(lower: Constitution, upper: Constitution, at: Locate) -> Iterator[Finding]:
    # Judged on what the lower TOML writes, not on its defaults.
    raw_perms = lower.document.get("model_permissions", {})
    for role, raw in raw_perms.items() if isinstance(raw_perms, dict) else ():
        theirs = upper.model_permissions.get(role)
        if theirs is None or not isinstance(raw, dict):
            continue
        for key, value in raw.items():
            upper_value = getattr(theirs, key, None)
            if _looser(key, value, upper_value):
                yield _error(
                    "CHARTER-L038",
                    at(f"model_permissions.{role}", None),
                    f"model_permissions.{role}.{key} = {str(value).lower()} loosens the "
                    f"upper layer's {str(upper_value).lower()}",
                    "can_* are AND-ed and sandbox_only is OR-ed across layers; drop it",
                )


_CHECKS = (_unioned_lists, _demotions, _auto_allowed, _limits, _directories, _model_permissions)


def lint_constitution_toml(lower: Constitution, upper: Constitution) -> list[Finding]:
    """Every way ``lower`` loosens ``upper`` (see docs/design.md, 'Layers and the ratchet')."""
    at = _locator(lower)
    return [finding for check in _CHECKS for finding in check(lower, upper, at)]


def lint_constitution_files(lower: str | Path, upper: str | Path | None = None) -> LintReport:
    """Lint the TOML at ``lower`` against ``upper`` (default: the shipped constitution)."""
    try:
        _, low = model.read(lower)
        _, up = model.read(upper if upper is not None else default_constitution_toml())
    except CharterError as exc:
        finding = _error("CHARTER-L000", str(lower), exc.message, exc.hint or "")
        return LintReport((str(lower),), (finding,))
    return LintReport((str(lower),), tuple(lint_constitution_toml(low, up)))


__all__ = [
    "CODES",
    "UpperVerdict",
    "default_constitution_toml",
    "lint_constitution_files",
    "lint_constitution_toml",
    "upper_verdict",
]
