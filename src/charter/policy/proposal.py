"""Proposal documents: validation against the shipped JSON Schema, and the
citation block every proposal body must carry (see docs/design.md, 'Proposal document')."""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeGuard

import fastjsonschema
import yaml

from charter.core import jsonio
from charter.core.errors import InputError
from charter.core.memo import bytes_lru, text_weight

_FENCE = re.compile(
    r"^(?P<fence>`{3,}|~{3,})[ \t]*charter[ \t]*\n(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


_HINT = "see docs/design.md, 'Proposal document'"
#: At most this many problems are listed in one message (then "and N more").
MAX_LISTED = 10
#: Keys that carry input for Charter, never facts for rules: ``context`` (Charter computes
#: it) and ``evidence`` (files Charter reads and verifies). Removed before evaluation.
CARRIERS = ("context", "evidence")


@cache
def _schema() -> dict[str, Any]:
    text = resources.files("charter").joinpath("schemas/proposal.schema.json").read_text()
    return jsonio.loads_object(text, what="proposal.schema.json")


def schema() -> dict[str, Any]:
    """The shipped proposal JSON Schema (a fresh copy: callers may change it)."""
    return copy.deepcopy(_schema())


@cache
def _validator() -> Callable[[Any], Any]:
    # fastjsonschema compiles the schema to Python once; validating a proposal
    # then costs microseconds instead of the hundreds an interpreter needs.
    validator: Callable[[Any], Any] = fastjsonschema.compile(schema())
    return validator


def _path(parts: Iterable[str | int]) -> str:
    out = "proposal"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _type_name(names: Any) -> str:
    listed = [names] if isinstance(names, str) else list(names)
    words = [f"an {n}" if n[:1] in "aeiou" else f"a {n}" for n in listed if n != "null"]
    if "null" in listed:
        words.append("null")
    return " or ".join(words)


def _problem(error: Any) -> str:
    """What is wrong with one value, in words (the value itself is not echoed)."""
    kind, expected = error.validator, error.validator_value
    if kind == "type":
        return f"must be {_type_name(expected)}"
    if kind == "enum":
        return "must be one of: " + ", ".join(str(v) for v in expected)
    if kind == "minLength":
        return "must not be empty" if expected == 1 else f"needs at least {expected} characters"
    message = str(error.message)
    return message if len(message) <= 120 else message[:117] + "..."


def _problems(document: dict[str, Any]) -> list[tuple[tuple[tuple[int, str], ...], str]]:
    """Every schema violation of ``document`` as ``(sort key, "field: problem")``."""
    # Imported only once a proposal has failed the fast check: jsonschema costs
    # about 150 ms to import, which every hook invocation would otherwise pay.
    import jsonschema

    document_schema = _schema()
    validator = jsonschema.validators.validator_for(document_schema)(document_schema)
    found: dict[tuple[tuple[int, str], ...], str] = {}
    for error in validator.iter_errors(document):
        parts: list[str | int] = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            required: list[str] = list(error.validator_value)  # type: ignore[arg-type]
            entries = [([*parts, n], "is required") for n in required if n not in error.instance]
        else:
            entries = [(parts, _problem(error))]
        for where, why in entries:
            key = tuple((0, f"{p:012d}") if isinstance(p, int) else (1, p) for p in where)
            found.setdefault(key, f"{_path(where)}: {why}")
    return sorted(found.items())


def _report(document: dict[str, Any], first: str) -> str:
    listed = [text for _, text in _problems(document)] or [first]
    more = len(listed) - MAX_LISTED
    text = "; ".join(listed[:MAX_LISTED])
    return text + (f"; and {more} more" if more > 0 else "")


def _field_message(exc: fastjsonschema.JsonSchemaValueException) -> str:
    name = exc.name or "data"
    message = exc.message or "is invalid"
    if message.startswith(name):
        message = message[len(name) :].strip()
    return f"{_rename(name)}: {_rename(message)}"


def _rename(text: str) -> str:
    # fastjsonschema names the document "data" and indexes lists as ``[0]``.
    return re.sub(r"\bdata(?=[.\[:\s]|$)", "proposal", text, count=1)


def validate(document: Any) -> dict[str, Any]:
    """Validate a proposal; raise :class:`InputError` naming every invalid field.

    The compiled validator decides (fast); only a document it refuses is
    checked again to list every problem, sorted by field, in one message.
    """
    if not isinstance(document, dict):
        raise InputError(
            f"a proposal must be a JSON object, got {type(document).__name__}", hint=_HINT
        )
    try:
        _validator()(document)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise InputError(
            f"invalid proposal: {_report(document, _field_message(exc))}", hint=_HINT
        ) from None
    return document


class ValidatedProposal(dict[str, Any]):
    """A proposal :func:`validated` checked against the schema: the proof a decider reads.

    Only Charter code makes one (JSON never does), so a document cannot claim to
    be valid. Changing it at the top level withdraws the proof (the document is
    validated again where it is decided); values below the top level are shared
    with the caller, who must not change them after validation.
    """

    __slots__ = ("_changed",)

    def __init__(self, document: dict[str, Any]) -> None:
        super().__init__(document)
        self._changed = False

    def _withdraw(self) -> None:
        self._changed = True

    def __setitem__(self, key: str, value: Any) -> None:
        self._withdraw()
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._withdraw()
        super().__delitem__(key)

    def __ior__(self, other: Any) -> ValidatedProposal:  # type: ignore[override,misc]
        self._withdraw()
        super().__ior__(other)
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._withdraw()
        super().update(*args, **kwargs)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._withdraw()
        return super().setdefault(key, default)

    def pop(self, key: str, *default: Any) -> Any:
        self._withdraw()
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        self._withdraw()
        return super().popitem()

    def clear(self) -> None:
        self._withdraw()
        super().clear()


def validated(document: Any) -> ValidatedProposal:
    """:func:`validate` ``document`` and return it with the proof (a shallow copy)."""
    return ValidatedProposal(validate(document))


def is_validated(document: object) -> TypeGuard[ValidatedProposal]:
    """Whether ``document`` is a :class:`ValidatedProposal` unchanged since validation."""
    return isinstance(document, ValidatedProposal) and not getattr(document, "_changed", True)


def parse(raw: str | bytes, *, what: str = "proposal") -> dict[str, Any]:
    """Parse (strictly, see :mod:`charter.core.jsonio`) and validate a proposal.

    The one way a proposal enters Charter: ``charter check``, the hooks and the
    runner all call it, so the same bytes get the same answer everywhere.
    """
    document = jsonio.loads(raw, what=what, hint="the proposal must be one JSON object")
    return validate(document)


def load(path: str | Path) -> dict[str, Any]:
    """Read and validate a proposal JSON file (``-`` reads standard input)."""
    p = Path(path)
    data: str | bytes
    try:
        if str(path) == "-":
            data = sys.stdin.read()
            p = Path("<stdin>")
        else:
            data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(
            f"{p}: no such file", hint="give the path of a proposal JSON file"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read ({exc})") from None
    return parse(data, what=str(p))


@dataclass(frozen=True)
class Citation:
    """The parsed ```` ```charter ```` block of a proposal body."""

    present: bool
    rules: tuple[str, ...] = ()
    blast_radius: str | None = None
    rollback: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)
    profile_change: bool = False
    error: str | None = None

    def to_context(self) -> dict[str, Any]:
        return {
            "present": self.present,
            "rules": list(self.rules),
            "blast_radius": self.blast_radius,
            "rollback": self.rollback,
            "profile": self.profile,
            "profile_change": self.profile_change,
            "error": self.error,
        }


# Bounded by bytes (a body can be megabytes): see charter.core.memo.
@bytes_lru(text_weight(4), max_bytes=16 * 2**20, max_entries=4096)
def parse_citation(body: str | None) -> Citation:
    """Find and parse the citation block; malformed blocks are reported, not fatal.

    A proposal whose block cannot be parsed is treated like one without a valid
    block, so the citation rules deny it with the parse error as the message.
    """
    if not body:
        return Citation(present=False)
    match = _FENCE.search(body.replace("\r\n", "\n"))
    if not match:
        return Citation(present=False)
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(match["body"], Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        return Citation(present=True, error=f"citation block is not valid YAML: {exc}")
    if not isinstance(data, dict):
        return Citation(present=True, error="citation block must be a YAML mapping")
    rules = data.get("rules", [])
    if isinstance(rules, str):
        rules = [rules]
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        return Citation(present=True, error="citation block 'rules' must be a list of rule ids")
    profile = data.get("profile") or {}
    if not isinstance(profile, dict):
        return Citation(present=True, error="citation block 'profile' must be a mapping")

    def text(key: str) -> str | None:
        value = data.get(key)
        return str(value).strip() if value not in (None, "") else None

    return Citation(
        present=True,
        rules=tuple(rules),
        blast_radius=text("blast_radius"),
        rollback=text("rollback"),
        profile={str(k): v for k, v in profile.items()},
        profile_change=bool(data.get("profile_change", False)),
    )
