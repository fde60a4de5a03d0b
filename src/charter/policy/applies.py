"""What a rule looks at: ``custom.applies_to`` in its METADATA (docs/authoring.md).

::

    # custom:
    #   applies_to:
    #     kinds: [pull_request, merge]              # omitted = every kind
    #     paths: ["**/Dockerfile", "Dockerfile"]    # omitted = any change

A rule *applies* to a proposal when the proposal's kind is one of ``kinds`` and
(when ``paths`` is given) one of its changed paths — or a renamed file's previous
path — matches one of the globs. A rule without ``applies_to`` applies to every
proposal. The declaration only ever widens what is reported: a rule that fired
applies whatever it declares (``charter.policy.explain``), and the linter refuses a
declaration that a firing test of the rule falls outside of.

Globs are those of Rego's ``glob.match(pattern, ["/"], path)``, matched against
whole paths, case-sensitively: ``*`` is any run of characters inside one
``/``-separated segment, ``?`` one such character, ``**`` any run across segments,
``[abc]``/``[a-z]``/``[!abc]`` a character class, ``{a,b}`` alternatives and ``\\``
escapes the next character. One difference only ever widens a match: ``**/`` also
matches no directory at all (``**/Dockerfile`` matches ``Dockerfile``). Leading
``./`` and ``/`` of a changed path are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from charter.core.errors import PolicyError

#: The proposal kinds (docs/design.md, 'Proposal document').
KINDS = ("pull_request", "merge", "push", "release")


def _class(pattern: str, i: int) -> tuple[str, int] | None:
    """The character class at ``pattern[i] == "["`` and the index after it (None: literal)."""
    j = i + 1
    negate = j < len(pattern) and pattern[j] in "!^"
    j += negate
    body: list[str] = []
    while j < len(pattern) and (pattern[j] != "]" or not body):
        ch = pattern[j]
        if ch == "\\" and j + 1 < len(pattern):
            j += 1
            ch = pattern[j]
        body.append("-" if ch == "-" else re.escape(ch))
        j += 1
    if j >= len(pattern):
        return None
    # A negated class never matches the separator, as in glob.match.
    return f"[{'^/' if negate else ''}{''.join(body)}]", j + 1


def _alternatives(pattern: str, i: int) -> tuple[list[str], int] | None:
    """The ``{a,b}`` alternatives at ``pattern[i] == "{"`` and the index after (None: literal)."""
    depth, start, parts = 0, i + 1, []
    j = i
    while j < len(pattern):
        ch = pattern[j]
        if ch == "\\":
            j += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                parts.append(pattern[start:j])
                return parts, j + 1
        elif ch == "," and depth == 1:
            parts.append(pattern[start:j])
            start = j + 1
        j += 1
    return None


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            at_start = i == 0 or pattern[i - 1] == "/"
            if at_start and pattern.startswith("**/", i):
                out.append("(?:.*/)?")  # any number of directories, none included
                i += 3
            else:
                out.append(".*")
                i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[" and (found := _class(pattern, i)) is not None:
            out.append(found[0])
            i = found[1]
        elif ch == "{" and (alts := _alternatives(pattern, i)) is not None:
            out.append("(?:" + "|".join(_translate(a) for a in alts[0]) + ")")
            i = alts[1]
        elif ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out)


@lru_cache(maxsize=1024)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """The compiled regular expression of one path glob (see the module docstring)."""
    return re.compile(_translate(pattern), re.DOTALL)


def glob_match(pattern: str, path: str) -> bool:
    return glob_regex(pattern).fullmatch(normalize_path(path)) is not None


def normalize_path(path: str) -> str:
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


@dataclass(frozen=True)
class AppliesTo:
    """A rule's declaration of the proposals it looks at (``None``: no restriction)."""

    kinds: tuple[str, ...] | None = None
    paths: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kinds": list(self.kinds) if self.kinds is not None else None,
            "paths": list(self.paths) if self.paths is not None else None,
        }

    def matching_paths(self, paths: Sequence[str]) -> list[str]:
        """The changed ``paths`` one of the globs matches (all of them without globs)."""
        if self.paths is None:
            return list(paths)
        return [p for p in paths if any(glob_match(g, p) for g in self.paths)]

    def judge(self, kind: object, paths: Sequence[str]) -> tuple[bool, str]:
        """Whether a proposal of ``kind`` changing ``paths`` is looked at, and why."""
        if self.kinds is None and self.paths is None:
            return True, "no applies_to: every proposal"
        if self.kinds is not None and kind not in self.kinds:
            return False, f"looks only at {', '.join(self.kinds)} (this is a {kind})"
        if self.paths is not None:
            hits = self.matching_paths(paths)
            if not hits:
                return False, f"no changed path matches {', '.join(self.paths)}"
            shown = ", ".join(hits[:3]) + (f" and {len(hits) - 3} more" if len(hits) > 3 else "")
            why = f"{shown} matches {', '.join(self.paths)}"
        else:
            why = "any change"
        if self.kinds is not None:
            return True, f"{kind} is one of its kinds; {why}"
        return True, f"every kind; {why}"


#: No declaration: every proposal.
EVERYTHING = AppliesTo()


def _string_list(value: Any, where: str, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise PolicyError(
            f"{where}: custom.applies_to.{field} must be a non-empty list of strings",
            hint=f"e.g. {field}: "
            + ("[pull_request, merge]" if field == "kinds" else '["**/Dockerfile"]'),
        )
    return tuple(value)


def parse_applies_to(custom: Mapping[str, Any], where: str) -> AppliesTo:
    """``custom.applies_to`` of a rule's METADATA (absent: :data:`EVERYTHING`)."""
    raw = custom.get("applies_to")
    if raw is None:
        return EVERYTHING
    if not isinstance(raw, dict) or set(raw) - {"kinds", "paths"}:
        raise PolicyError(
            f"{where}: custom.applies_to must be a mapping with only 'kinds' and 'paths'",
            hint="omit a key to mean 'every kind' or 'any change'",
        )
    kinds = _string_list(raw["kinds"], where, "kinds") if "kinds" in raw else None
    if kinds is not None:
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise PolicyError(
                f"{where}: custom.applies_to.kinds names unknown kind {unknown[0]!r}",
                hint=f"kinds are {', '.join(KINDS)}",
            )
    paths = _string_list(raw["paths"], where, "paths") if "paths" in raw else None
    return AppliesTo(kinds=kinds, paths=paths)


def changed_paths(document: Mapping[str, Any]) -> list[str]:
    """Every changed path of a proposal and every renamed file's previous path."""
    out: list[str] = []
    files = document.get("files")
    for item in files if isinstance(files, list) else ():
        if not isinstance(item, dict):
            continue
        for key in ("path", "previous_path"):
            value = item.get(key)
            if isinstance(value, str) and value and value not in out:
                out.append(value)
    return out
