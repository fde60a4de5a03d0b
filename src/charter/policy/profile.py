"""The Environment Profile as a file: ``.charter/profile.toml`` (docs/design.md).

The file names, for each tool category, the tool the repository uses and that
tool's attributes::

    [sbom]
    tool = "syft"
    version = "1.14.0"

    [vulnerability-scan]
    tool = "grype-fips"
    fips_validated = true

Charter reads it into ``input.context`` for every decision: ``profile`` maps
each category of the file to ``[its tool]`` (the shape rules already read), and
``profile_file`` holds the whole file (``tools``: category → ``{"tool", …attributes}``),
where it came from and — for a change that edits it — the profile it proposes
and the difference. Without a file ``profile`` is the bundle's default lists.

The stack says what the file must satisfy: the parameter
``required_tool_categories`` (categories every release declares) and the
parameter ``profile_requirements``, a list of ``CATEGORY.ATTRIBUTE = VALUE``
texts (``vulnerability-scan.fips_validated = true``, ``sbom.tool = "syft"``).
Both are ``superset`` parameters, so the ratchet lets a pack or overlay add a
category or a requirement and never drop one; two requirements that contradict
each other cannot both be met, so they fail closed.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from charter.core import jsonio
from charter.core.digests import sha256_text
from charter.core.errors import InputError, PolicyError

#: Where the file lives unless the stack (``data.charter.constitution.profile_file``) says.
DEFAULT_PATH = ".charter/profile.toml"
#: The largest profile file read (it is a short list of tools).
MAX_BYTES = 256 * 1024
_CATEGORY = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_REQUIREMENT = re.compile(
    r"^\s*(?P<category>[a-z][a-z0-9]*(?:-[a-z0-9]+)*)\.(?P<attribute>[A-Za-z_][A-Za-z0-9_-]*)"
    r"\s*=\s*(?P<value>.+?)\s*$"
)
Scalar = str | int | float | bool


@dataclass(frozen=True)
class Requirement:
    """One ``CATEGORY.ATTRIBUTE = VALUE`` requirement on the profile."""

    category: str
    attribute: str
    value: Scalar
    text: str

    def met_by(self, entry: Mapping[str, Any] | None) -> bool:
        if entry is None or self.attribute not in entry:
            return False
        found = entry[self.attribute]
        # TOML true is not 1: compare types as Rego does for booleans.
        if isinstance(found, bool) or isinstance(self.value, bool):
            return type(found) is type(self.value) and found == self.value
        return bool(found == self.value)

    def to_context(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "attribute": self.attribute,
            "value": self.value,
            "text": self.text,
        }


def parse_requirement(text: object, where: str = "profile_requirements") -> Requirement:
    """A requirement text; a malformed one is a :class:`PolicyError` naming it."""
    hint = 'write CATEGORY.ATTRIBUTE = VALUE, e.g. "vulnerability-scan.fips_validated = true"'
    if not isinstance(text, str) or not (m := _REQUIREMENT.match(text)):
        raise PolicyError(f"{where}: {text!r} is not a profile requirement", hint=hint)
    try:
        value = tomllib.loads(f"v = {m['value']}")["v"]
    except tomllib.TOMLDecodeError:
        raise PolicyError(
            f"{where}: {text!r}: the value is not a TOML value", hint='quote strings: "syft"'
        ) from None
    if not isinstance(value, Scalar):
        raise PolicyError(
            f"{where}: {text!r}: the value must be a string, number or boolean", hint=hint
        )
    return Requirement(m["category"], m["attribute"], value, text.strip())


def parse_requirements(texts: object, where: str = "profile_requirements") -> list[Requirement]:
    if texts is None:
        return []
    if not isinstance(texts, list):
        raise PolicyError(f"{where}: must be a list of requirement texts")
    return [parse_requirement(t, where) for t in texts]


def _attribute(value: Any, where: str) -> Any:
    if isinstance(value, datetime | date | time):
        raise InputError(
            f"{where}: dates and times are not profile attributes", hint="write them as strings"
        )
    if isinstance(value, dict):
        raise InputError(
            f"{where}: a table is not a profile attribute",
            hint="attributes are strings, numbers, booleans or lists of them",
        )
    if isinstance(value, list):
        return [_attribute(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


@dataclass(frozen=True)
class Profile:
    """A parsed profile file: category → ``{"tool": name, …attributes}``."""

    source: str
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)

    def allowed(self) -> dict[str, list[str]]:
        """``input.context.profile``: each category of the file allows its one tool."""
        return {category: [entry["tool"]] for category, entry in self.tools.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "tools": self.tools}


def parse_profile(text: str, source: str) -> Profile:
    """The profile in ``text``; anything malformed is an :class:`InputError` naming it."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            f"{source}: not valid TOML ({exc})", hint="see docs/design.md, 'Environment Profile'"
        ) from None
    tools: dict[str, dict[str, Any]] = {}
    for category, entry in document.items():
        where = f"{source}: [{category}]"
        if not _CATEGORY.match(category):
            raise InputError(
                f"{where}: a category is lower-case words joined by '-'",
                hint="e.g. [vulnerability-scan]",
            )
        if not isinstance(entry, dict):
            raise InputError(
                f"{where}: must be a table naming the tool",
                hint=f'[{category}]\ntool = "…"',
            )
        tool = entry.get("tool")
        if not isinstance(tool, str) or not tool.strip():
            raise InputError(f"{where}: 'tool' must be a non-empty string", hint='tool = "syft"')
        out: dict[str, Any] = {}
        for name, value in entry.items():
            if not _ATTRIBUTE.match(name):
                raise InputError(f"{where}: attribute {name!r} is not a plain key")
            out[name] = _attribute(value, f"{where}.{name}")
        tools[category] = out
    return Profile(source=source, tools=tools)


def read_profile(path: str | Path) -> Profile | None:
    """The profile at ``path``, or None when there is no file there."""
    path = Path(path)
    if not path.exists():
        return None
    if not path.is_file():
        raise InputError(f"{path}: the Environment Profile must be a regular file")
    data = path.read_bytes()
    if len(data) > MAX_BYTES:
        raise InputError(f"{path}: larger than {MAX_BYTES} bytes; not a profile")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    return parse_profile(text, str(path))


@dataclass(frozen=True)
class Problem:
    category: str
    message: str


def problems(
    profile: Profile | None, required: Iterable[str], requirements: Sequence[Requirement]
) -> list[Problem]:
    """What ``profile`` misses of the stack's required categories and requirements."""
    tools = profile.tools if profile is not None else {}
    out = [
        Problem(c, f"required category {c} names no tool")
        for c in sorted(set(required))
        if c not in tools
    ]
    for req in requirements:
        entry = tools.get(req.category)
        if entry is None:
            if req.category in required:
                continue  # already reported as missing
            out.append(Problem(req.category, f"requirement {req.text}: no [{req.category}] entry"))
        elif not req.met_by(entry):
            found = entry.get(req.attribute, "<absent>")
            out.append(
                Problem(
                    req.category,
                    f"requirement {req.text}: {entry['tool']} has {req.attribute} = {found!r}",
                )
            )
    return out


def diff(old: Profile | None, new: Profile | None) -> list[dict[str, Any]]:
    """What changes from ``old`` to ``new``: one entry per attribute added, removed or changed."""
    before = old.tools if old is not None else {}
    after = new.tools if new is not None else {}
    out: list[dict[str, Any]] = []
    for category in sorted(set(before) | set(after)):
        a, b = before.get(category), after.get(category)
        if a is None or b is None:
            out.append(
                {
                    "category": category,
                    "change": "added" if a is None else "removed",
                    "attribute": None,
                    "old": a,
                    "new": b,
                }
            )
            continue
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name) or (name in a) != (name in b):
                change = "added" if name not in a else "removed" if name not in b else "changed"
                out.append(
                    {
                        "category": category,
                        "change": change,
                        "attribute": name,
                        "old": a.get(name),
                        "new": b.get(name),
                    }
                )
    return out


def diff_lines(changes: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per change, for people (``profile diff``, ``check``, ``explain``)."""
    lines: list[str] = []
    for c in changes:
        if c["attribute"] is None:
            entry = c["new"] if c["change"] == "added" else c["old"]
            sign = "+" if c["change"] == "added" else "-"
            lines.append(f"{sign} [{c['category']}] tool = {entry.get('tool')!r}")
        elif c["change"] == "changed":
            lines.append(f"~ {c['category']}.{c['attribute']}: {c['old']!r} -> {c['new']!r}")
        else:
            sign = "+" if c["change"] == "added" else "-"
            value = c["new"] if c["change"] == "added" else c["old"]
            lines.append(f"{sign} {c['category']}.{c['attribute']} = {value!r}")
    return lines


@dataclass(frozen=True)
class ProfileContext:
    """The profile a decision is made under, and the one a change proposes.

    ``current`` is the profile in force (the base of a change; None: no file, so
    the bundle's default lists apply); ``proposed`` is set only when the change
    edits the file (None inside it: the change removes the file).
    """

    path: str = DEFAULT_PATH
    current: Profile | None = None
    changes_file: bool = False
    proposed: Profile | None = None

    def to_context(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "present": self.current is not None,
            "source": self.current.source if self.current is not None else None,
            "tools": self.current.tools if self.current is not None else {},
        }
        if self.changes_file:
            out["proposed"] = self.proposed.tools if self.proposed is not None else {}
            out["diff"] = diff(self.current, self.proposed)
        return out

    def diff(self) -> list[dict[str, Any]]:
        return diff(self.current, self.proposed) if self.changes_file else []

    def record(self) -> dict[str, Any] | None:
        """What a decision record keeps of the file it was made under (None: no file)."""
        if self.current is None:
            return None
        return {
            "path": self.path,
            "source": self.current.source,
            "digest": sha256_text(jsonio.canonical(self.current.tools)),
        }
