"""Rule templates: ``charter rule new`` writes a rule module, its tests and a PR text.

Every option value reaches the generated files only through :func:`rego_string`
(Rego) or :func:`yaml_string` (the ``# METADATA`` YAML), both of which write one
double-quoted literal on one line: a hostile value (quotes, backslashes, newlines,
``}``, Unicode line separators) stays data and can never become Rego or YAML.
Options are validated strictly before anything is written (a regular expression
the engine cannot compile, a time that is not ``HH:MM``, an unknown time zone, a
path glob that matches everything): each is a one-line :class:`InputError`.

The generated tests are derived from the same options: the deploy-window tests
compute their timestamps from the window (start, one minute before, the last
minute inside, the end itself) in the rule's time zone, and their expectation from
a Python model of the window, so that every generated rule passes its own tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from charter.core.errors import CharterError, InputError
from charter.policy.engine import Engine
from charter.policy.rules import RULE_ID, SEVERITIES

TEMPLATES = ("change-ticket", "deploy-window", "approver", "blank")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
KINDS = ("pull_request", "merge", "push", "release")
#: A Monday in a month without DST transitions in the common zones.
_REFERENCE_MONDAY = datetime(2026, 1, 5)
_CATEGORY = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_NO_TICKET_TEXT = "Roll up the billing report."
_OUTSIDE_PATH = "zz-unrelated/readme.txt"


@dataclass(frozen=True)
class Options:
    """Everything ``rule new`` accepts; ``None`` or empty means "not given"."""

    title: str | None = None
    description: str | None = None
    severity: str = "high"
    category: str | None = None
    citation: str | None = None
    link: str | None = None
    kinds: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    pattern: str | None = None
    example: str | None = None
    ask_labels: tuple[str, ...] | None = None
    ask_authors: tuple[str, ...] | None = None
    paths: tuple[str, ...] = ()
    example_path: str | None = None
    days: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    time_zone: str | None = None
    mode: str | None = None
    group: str | None = None


#: Which template options each template accepts (the common ones are always accepted).
_ACCEPTS: dict[str, frozenset[str]] = {
    "change-ticket": frozenset(
        {"kinds", "environments", "pattern", "example", "ask_labels", "ask_authors"}
    ),
    "deploy-window": frozenset(
        {
            "kinds",
            "environments",
            "paths",
            "example_path",
            "days",
            "start",
            "end",
            "time_zone",
            "mode",
        }
    ),  # fmt: skip
    "approver": frozenset({"kinds", "paths", "example_path", "group"}),
    "blank": frozenset({"kinds", "paths", "example_path"}),
}
_FLAGS = {
    "kinds": "--kind", "environments": "--environment", "pattern": "--pattern",
    "example": "--example", "ask_labels": "--ask-label", "ask_authors": "--ask-author",
    "paths": "--path", "example_path": "--example-path", "days": "--day", "start": "--start",
    "end": "--end", "time_zone": "--tz", "mode": "--mode", "group": "--group",
}  # fmt: skip


@dataclass(frozen=True)
class GeneratedRule:
    """A generated rule: where its files go, their text, and the PR to open."""

    rule_id: str
    package: str
    rule_path: str
    test_path: str
    rule_source: str
    test_source: str
    pr_title: str
    pr_body: str
    edge_cases: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------- literals


def _escape(value: str, *, wide: str) -> str:
    out = ['"']
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch.isprintable() and ch not in "\u2028\u2029\x85":
            out.append(ch)
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        elif wide == "yaml":
            out.append(f"\\U{ord(ch):08x}")
        else:
            high, low = divmod(ord(ch) - 0x10000, 0x400)
            out.append(f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}")
    out.append('"')
    return "".join(out)


def rego_string(value: str) -> str:
    """``value`` as one Rego double-quoted string literal on one line."""
    return _escape(value, wide="rego")


def yaml_string(value: str) -> str:
    """``value`` as one YAML double-quoted scalar on one line (for ``# METADATA``)."""
    return _escape(value, wide="yaml")


def rego_value(value: Any, indent: int = 0) -> str:
    """A JSON-shaped value as a Rego term (strings through :func:`rego_string`)."""
    pad = "\t" * (indent + 1)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return rego_string(value)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        items = [
            f"{pad}{rego_string(str(k))}: {rego_value(v, indent + 1)}," for k, v in value.items()
        ]
        return "{\n" + "\n".join(items) + "\n" + "\t" * indent + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(rego_value(v, indent) for v in value) + "]"
    raise TypeError(f"not a JSON value: {value!r}")


def rego_set(values: Sequence[str]) -> str:
    return "{" + ", ".join(rego_string(v) for v in values) + "}" if values else "set()"


# --------------------------------------------------------------------------- validation


def _probe(rules: Mapping[str, str]) -> dict[str, Any]:
    """Evaluate Rego expressions (already quoted) with the engine the rules run on."""
    engine = Engine()
    body = "\n".join(f"{name} := {expr}" for name, expr in rules.items())
    engine.add_module("probe.rego", f"package charter_probe\n\nimport rego.v1\n\n{body}\n")
    return {name: engine.eval_rule(f"data.charter_probe.{name}") for name in rules}


def _check_common(rule_id: str, options: Options) -> None:
    if not RULE_ID.match(rule_id):
        raise InputError(
            f"--id {rule_id!r} is not a stable rule id",
            hint="use upper-case words joined by '-', e.g. CM-TICKET-REQUIRED-001",
        )
    if options.severity not in SEVERITIES:
        raise InputError(
            f"--severity {options.severity!r} is not a severity",
            hint=f"use one of {', '.join(SEVERITIES)}",
        )
    if options.category is not None and not _CATEGORY.match(options.category):
        raise InputError(
            f"--category {options.category!r} is not a category",
            hint="use lower-case words joined by '-', e.g. change-management",
        )
    for kind in options.kinds:
        if kind not in KINDS:
            raise InputError(
                f"--kind {kind!r} is not a proposal kind", hint=f"use {', '.join(KINDS)}"
            )


def _check_accepted(template: str, options: Options) -> None:
    for name, flag in _FLAGS.items():
        value = getattr(options, name)
        if value is not None and value != () and name not in _ACCEPTS[template]:
            raise InputError(
                f"{flag} is not an option of the {template} template",
                hint=f"see `charter rule new --help` for the {template} options",
            )


def _ticket_regex(options: Options) -> tuple[str, str]:
    """The full ticket regex and an example ticket that it matches."""
    pattern = options.pattern if options.pattern is not None else r"CM-\d+"
    example = options.example if options.example is not None else "CM-1234"
    if not pattern.strip():
        raise InputError("--pattern is empty", hint=r"e.g. --pattern 'CM-\d+'")
    full = rf"(?i)\b(?:{pattern})\b"
    probe = _probe(
        {
            "valid": f"regex.is_valid({rego_string(full)})",
        }
    )
    if probe["valid"] is not True:
        raise InputError(
            f"--pattern {pattern!r} is not a valid regular expression",
            hint="the pattern uses RE2/Rust regex syntax (no look-arounds or back-references)",
        )
    checks = _probe(
        {
            "example": f"regex.match({rego_string(full)}, {rego_string(example)})",
            "branch": f"regex.match({rego_string(full)}, {rego_string(_branch(example))})",
            "empty": f"regex.match({rego_string(full)}, {rego_string(_NO_TICKET_TEXT)})",
            "glued": f"regex.match({rego_string(full)}, {rego_string('X' + example + 'X')})",
        }
    )
    if checks["example"] is not True or checks["branch"] is not True:
        raise InputError(
            f"--example {example!r} does not match --pattern {pattern!r}",
            hint="pass an example ticket key the pattern matches, e.g. --example CM-1234",
        )
    if checks["empty"] is not False:
        raise InputError(
            f"--pattern {pattern!r} matches text that names no ticket",
            hint="make the pattern specific to your ticket keys",
        )
    if checks["glued"] is not False:
        raise InputError(
            f"--pattern {pattern!r} matches inside a longer word",
            hint="ticket keys are matched as whole words; start and end with a letter or digit",
        )
    return full, example


def _branch(example: str) -> str:
    return f"feature/{example.lower()}-work"


def _minutes(flag: str, value: str | None, default: str) -> int:
    text = value if value is not None else default
    m = _TIME.match(text)
    if m is None:
        raise InputError(f"{flag} {text!r} is not a time", hint="use 24-hour HH:MM, e.g. 22:00")
    return int(m.group(1)) * 60 + int(m.group(2))


def _zone(value: str | None) -> str:
    name = value if value is not None else "UTC"
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(
            f"--tz {name!r} is not a known time zone",
            hint="use an IANA name, e.g. Europe/Paris or UTC",
        ) from exc
    try:
        _probe({"clock": f"time.clock([0, {rego_string(name)}])"})
    except CharterError as exc:
        raise InputError(
            f"--tz {name!r} is not a time zone the policy engine knows", hint="use e.g. UTC"
        ) from exc
    return name


def _days(values: Sequence[str]) -> tuple[str, ...]:
    chosen: list[str] = []
    for raw in values or ("Sunday",):
        for part in raw.split(","):
            word = part.strip().lower()
            match = [d for d in DAYS if len(word) >= 3 and d.lower().startswith(word)]
            if len(match) != 1:
                raise InputError(
                    f"--day {part.strip()!r} is not a day", hint="e.g. --day Sun or --day Mon,Tue"
                )
            if match[0] not in chosen:
                chosen.append(match[0])
    return tuple(sorted(chosen, key=DAYS.index))


def _example_path(glob: str) -> str:
    out = glob.replace("**", "a/b").replace("*", "x").replace("?", "x")
    return re.sub(r"\{([^,}]*)[^}]*\}", r"\1", out)


def _paths(options: Options, default: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    globs = options.paths or default
    if not globs:
        raise InputError("this template needs --path", hint="e.g. --path 'services/payments/**'")
    example = options.example_path if options.example_path is not None else _example_path(globs[0])
    exprs: dict[str, str] = {}
    for i, g in enumerate(globs):
        if not g.strip():
            raise InputError("--path is empty", hint="e.g. --path 'services/payments/**'")
        exprs[f"g{i}"] = f'glob.match({rego_string(g)}, ["/"], {rego_string(example)})'
        exprs[f"o{i}"] = f'glob.match({rego_string(g)}, ["/"], {rego_string(_OUTSIDE_PATH)})'
    try:
        result = _probe(exprs)
    except CharterError as exc:
        raise InputError(
            f"--path {', '.join(globs)!r} holds a glob the policy engine cannot read",
            hint="use globs such as 'services/payments/**' or 'infra/*.tf'",
        ) from exc
    if any(result[f"o{i}"] is True for i in range(len(globs))):
        raise InputError(
            "a --path glob matches every path", hint="name the directories the rule protects"
        )
    if not any(result[f"g{i}"] is True for i in range(len(globs))):
        raise InputError(
            f"--example-path {example!r} matches no --path glob",
            hint="pass --example-path with a path the globs cover",
        )
    return globs, example


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class _Meta:
    rule_id: str
    title: str
    description: str
    severity: str
    category: str
    citation: str
    link: str
    applies_to: tuple[str, ...] = ()


def _applies_to_lines(
    kinds: Sequence[str], paths: Sequence[str] | None, *, commented: bool
) -> tuple[str, ...]:
    """``custom.applies_to`` for the METADATA block (as YAML comments when ``commented``)."""
    mark = "# " if commented else ""
    lines = [
        *(["#   # what the rule looks at: uncomment and edit (rule lint checks it)"] * commented),
        f"#   {mark}applies_to:",
        f"#   {mark}  kinds: [{', '.join(yaml_string(k) for k in kinds)}]",
    ]
    if paths:
        lines.append(f"#   {mark}  paths: [{', '.join(yaml_string(p) for p in paths)}]")
    return tuple(lines)


def _header(meta: _Meta, package: str) -> str:
    lines = [
        "# METADATA",
        f"# title: {yaml_string(meta.title)}",
        f"# description: {yaml_string(meta.description)}",
        "# related_resources:",
        f"#   - ref: {yaml_string(meta.link)}",
        f"#     description: {yaml_string('the policy this rule enforces')}",
        "# custom:",
        f"#   id: {yaml_string(meta.rule_id)}",
        f"#   severity: {yaml_string(meta.severity)}",
        f"#   category: {yaml_string(meta.category)}",
        f"#   citation: {yaml_string(meta.citation)}",
        *meta.applies_to,
        f"package {package}",
        "",
        "import rego.v1",
        "",
        "# Generated by `charter rule new`; edit freely, then `charter rule test` and",
        "# `charter rule lint` this file.",
        "",
        f"rule_id := {rego_string(meta.rule_id)}",
        "",
        "",
    ]
    return "\n".join(lines)


_SCOPE = """\
kinds := {kinds}

environments := {environments}

environment_covered if count(environments) == 0

environment_covered if input.environment in environments

in_scope if {{
\tinput.kind in kinds
\tenvironment_covered
}}
"""

_PATHS = """\
path_globs := {globs}

# A file is in scope by its path or, for a rename, by the path it had: a rename
# out of a protected directory still touches it.
file_paths(file) := {{path |
\tsome key in ["path", "previous_path"]
\tpath := file[key]
\tis_string(path)
}}

touches_paths if {{
\tsome file in input.files
\tis_object(file)
\tsome path in file_paths(file)
\tsome glob_pattern in path_globs
\tglob.match(glob_pattern, ["/"], path)
}}
"""

_CHANGE_TICKET = """\
ticket_pattern := {pattern}

ask_labels := {labels}

ask_authors := {authors}

has_ticket if {{
\tis_string(input.body)
\tregex.match(ticket_pattern, input.body)
}}

has_ticket if {{
\tis_string(input.head)
\tregex.match(ticket_pattern, input.head)
}}

# Declared labels and author names can be chosen by whoever opens the change, so
# they never allow: they turn the deny into an ask (a human decides).
asks_instead if {{
\tsome label in input.labels
\tis_string(label)
\tlower(label) in ask_labels
}}

asks_instead if {{
\tis_string(input.author.id)
\tlower(input.author.id) in ask_authors
}}

deny contains {{"rule": rule_id, "msg": msg}} if {{
\tin_scope
\tnot has_ticket
\tnot asks_instead
\tmsg := sprintf(
\t\t"%s names no change ticket in the PR body or the branch name (pattern %s)",
\t\t[input.kind, ticket_pattern],
\t)
}}

ask contains {{"rule": rule_id, "msg": msg}} if {{
\tin_scope
\tnot has_ticket
\tasks_instead
\tmsg := sprintf(
\t\t"%s names no change ticket; its label or author asks for a human decision",
\t\t[input.kind],
\t)
}}
"""

_DEPLOY_WINDOW = """\
days := {days}

time_zone := {zone}

start_minute := {start}

end_minute := {end}

# Time is read only from input.context (Charter's clock, reproducible with --now).
now_ns := input.context.now_ns if is_number(input.context.now_ns)

clock := time.clock([now_ns, time_zone])

minute_of_day := (clock[0] * 60) + clock[1]

weekday := time.weekday([now_ns, time_zone])

time_known if minute_of_day >= 0

{window}
deny contains {{"rule": rule_id, "msg": msg}} if {{
\tin_scope
\ttouches_paths
\tnot time_known
\tmsg := "the time of this deploy is unknown (input.context.now_ns): the window cannot be checked"
}}

deny contains {{"rule": rule_id, "msg": msg}} if {{
\tin_scope
\ttouches_paths
\ttime_known
\t{condition}
\tmsg := sprintf({message}, [weekday, clock[0], clock[1]])
}}
"""

_APPROVER = """\
approver_group := {group}

# Only a human's approval counts, never the author's own (compared without case
# or surrounding spaces) and never an agent's.
counting_approval(approval) if {{
\tis_object(approval)
\tapproval.type == "human"
\tis_string(approval.by)
\tis_string(input.author.id)
\tlower(trim_space(approval.by)) != lower(trim_space(input.author.id))
\tis_array(approval.groups)
\tapprover_group in approval.groups
}}

approved if {{
\tsome approval in input.approvals
\tcounting_approval(approval)
}}

deny contains {{"rule": rule_id, "msg": msg}} if {{
\tinput.kind in kinds
\ttouches_paths
\tnot approved
\tmsg := sprintf(
\t\t"%s changes protected paths without an approval from a human of group %s (not the author)",
\t\t[input.kind, approver_group],
\t)
}}
"""

_BLANK = """\
# TODO: say what this rule denies. As generated it denies every change of the
# kinds above that touches path_globs.
deny contains {{"rule": rule_id, "msg": msg}} if {{
\tinput.kind in kinds
\ttouches_paths
\tmsg := sprintf("%s touches a path this rule protects", [input.kind])
}}
"""


def _window_rules(start: int, end: int) -> str:
    if start < end:
        return (
            "in_window if {\n\tweekday in days\n\tminute_of_day >= start_minute\n"
            "\tminute_of_day < end_minute\n}\n"
        )
    return (
        "# The day before each day, for windows that cross midnight.\n"
        "previous_day := {\n"
        '\t"Monday": "Sunday", "Tuesday": "Monday", "Wednesday": "Tuesday", '
        '"Thursday": "Wednesday",\n'
        '\t"Friday": "Thursday", "Saturday": "Friday", "Sunday": "Saturday",\n}\n\n'
        "# The window crosses midnight: it starts on a listed day and ends the next day.\n"
        "in_window if {\n\tweekday in days\n\tminute_of_day >= start_minute\n}\n\n"
        "in_window if {\n\tprevious_day[weekday] in days\n\tminute_of_day < end_minute\n}\n"
    )


def _model_in_window(local: datetime, days: Sequence[str], start: int, end: int) -> bool:
    minute = local.hour * 60 + local.minute
    day = DAYS[local.weekday()]
    before = DAYS[(local.weekday() - 1) % 7]
    if start < end:
        return day in days and start <= minute < end
    return (day in days and minute >= start) or (before in days and minute < end)


# --------------------------------------------------------------------------- tests


@dataclass(frozen=True)
class _Case:
    name: str
    verdict: str  # "deny", "ask" or "none"
    document: dict[str, Any]
    note: str


def _test_source(package: str, alias: str, cases: Sequence[_Case], has_ask: bool) -> str:
    parts = [f"package {package}_test", "", "import rego.v1", "", f"import data.{package}", ""]
    for case in cases:
        doc = rego_value(case.document, 1)
        if case.verdict == "none":
            body = f"\tcount({alias}.deny) == 0 with input as {doc}\n"
            if has_ask:
                body += f"\tcount({alias}.ask) == 0 with input as {doc}\n"
        else:
            other = "ask" if case.verdict == "deny" else "deny"
            body = (
                f"\tsome entry in {alias}.{case.verdict} with input as {doc}\n"
                f"\tentry.rule == {alias}.rule_id\n"
            )
            if has_ask:
                body += f"\tcount({alias}.{other}) == 0 with input as {doc}\n"
        parts += [f"# {case.note}", f"test_{case.name} if {{", body + "}", ""]
    return "\n".join(parts)


def _suffix(verdict: str) -> str:
    return {"deny": "denied", "ask": "asks", "none": "allowed"}[verdict]


def _base(kind: str, environment: str, path: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "kind": kind,
        "repository": "acme/platform",
        "environment": environment,
        "author": {"id": "alice", "type": "human"},
        "head": "feature/work",
        "body": _NO_TICKET_TEXT,
        "labels": [],
        "approvals": [],
        "files": [{"path": path or "src/app.py", "status": "modified"}],
    }
    return doc


def _other_kind(kinds: Sequence[str]) -> str | None:
    rest = [k for k in KINDS if k not in kinds]
    return rest[0] if rest else None


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class _Body:
    source: str
    cases: tuple[_Case, ...]
    why: str
    denies: str
    waivers: str
    #: The ``custom.applies_to`` lines of the METADATA block (what the rule looks at).
    applies_to: tuple[str, ...] = ()


def _scope(kinds: tuple[str, ...], environments: tuple[str, ...]) -> tuple[str, str, str]:
    envs = () if "*" in environments else environments
    text = _SCOPE.format(kinds=rego_set(kinds), environments=rego_set(envs))
    env = envs[0] if envs else "production"
    return text, kinds[0], env


def _change_ticket(options: Options) -> _Body:
    full, example = _ticket_regex(options)
    kinds = options.kinds or ("merge",)
    environments = options.environments or ("production",)
    labels = tuple(
        x.lower()
        for x in (options.ask_labels if options.ask_labels is not None else ("hotfix", "rollback"))
    )
    authors = tuple(
        x.lower()
        for x in (options.ask_authors if options.ask_authors is not None else ("dependabot[bot]",))
    )
    scope, kind, env = _scope(kinds, environments)
    source = (
        scope
        + "\n"
        + _CHANGE_TICKET.format(
            pattern=rego_string(full), labels=rego_set(labels), authors=rego_set(authors)
        )
    )
    base = _base(kind, env)
    cases = [
        _Case("no_ticket_denied", "deny", base, "no ticket anywhere"),
        _Case(
            "ticket_in_body_allowed",
            "none",
            {**base, "body": f"Ticket: {example}"},
            "ticket in the PR body",
        ),
        _Case(
            "ticket_in_branch_allowed",
            "none",
            {**base, "head": _branch(example)},
            "ticket in the branch name (any case)",
        ),
        _Case(
            "ticket_glued_to_a_word_denied",
            "deny",
            {**base, "body": f"see X{example}X"},
            "a key inside a longer word is not a ticket",
        ),
        _Case(
            "body_not_text_denied",
            "deny",
            {**base, "body": 1234},
            "an unreadable body fails closed",
        ),
        _Case(
            "missing_body_and_branch_denied",
            "deny",
            {k: v for k, v in base.items() if k not in ("body", "head")},
            "no body and no branch",
        ),
    ]
    if "*" not in environments:
        cases.append(
            _Case(
                "other_environment_allowed",
                "none",
                {**base, "environment": "zz-sandbox"},
                "environments not covered",
            )
        )
    other = _other_kind(kinds)
    if other is not None:
        cases.append(
            _Case("other_kind_allowed", "none", {**base, "kind": other}, "kinds not covered")
        )
    if labels:
        cases.append(
            _Case(
                "ask_label_without_ticket_asks",
                "ask",
                {**base, "labels": [labels[0].upper()]},
                f"label {labels[0]} asks instead of denying",
            )
        )
        cases.append(
            _Case(
                "ask_label_with_ticket_allowed",
                "none",
                {**base, "labels": [labels[0]], "body": example},
                "a labelled change with a ticket passes",
            )
        )
    if authors:
        cases.append(
            _Case(
                "ask_author_without_ticket_asks",
                "ask",
                {**base, "author": {"id": authors[0], "type": "agent"}},
                f"author {authors[0]} asks instead of denying",
            )
        )
    shown = options.pattern or r"CM-\d+"
    return _Body(
        source,
        tuple(cases),
        why="Every covered change must be traceable to its change ticket.",
        denies=f"{', '.join(kinds)} to {', '.join(environments)} with no ticket key matching "
        f"`{shown}` in the PR body or the branch name.",
        waivers="None expected: hotfixes, rollbacks and bot updates already ask a human "
        + (
            f"(labels {', '.join(labels)}; authors {', '.join(authors)})."
            if labels or authors
            else "."
        ),
        applies_to=_applies_to_lines(kinds, None, commented=False),
    )


def _deploy_window(options: Options) -> _Body:
    globs, example = _paths(options, ())
    days = _days(options.days)
    start = _minutes("--start", options.start, "22:00")
    end = _minutes("--end", options.end, "02:00")
    if start == end:
        raise InputError(
            "--start and --end are the same time",
            hint="a window needs a length, e.g. --start 22:00 --end 02:00",
        )
    zone = _zone(options.time_zone)
    mode = options.mode or "only"
    if mode not in ("only", "freeze"):
        raise InputError(
            f"--mode {mode!r} is not a mode",
            hint="only (deploys only inside the window) or freeze (none inside)",
        )
    kinds = options.kinds or ("merge", "push")
    environments = options.environments or ("production",)
    scope, kind, env = _scope(kinds, environments)
    hhmm = f"{start // 60:02d}:{start % 60:02d}–{end // 60:02d}:{end % 60:02d}"
    condition = "not in_window" if mode == "only" else "in_window"
    verb_text = "allowed only in" if mode == "only" else "frozen during"
    window_text = f"{', '.join(days)} {hhmm} {zone}"
    message = f"deploys to these paths are {verb_text} the window {window_text}; it is %s %02d:%02d"
    source = (
        scope + "\n" + _PATHS.format(globs=rego_value(list(globs))) + "\n"
        + _DEPLOY_WINDOW.format(
            days=rego_set(days), zone=rego_string(zone), start=start, end=end,
            window=_window_rules(start, end), condition=condition,
            message=rego_string(message),
        )
    )  # fmt: skip
    tz = ZoneInfo(zone)
    first = DAYS.index(days[0])
    day0 = _REFERENCE_MONDAY + timedelta(days=first)
    start_local = day0 + timedelta(minutes=start)
    end_local = day0 + timedelta(minutes=end if end > start else end + 24 * 60)
    moments = {
        "one_minute_before_start": start_local - timedelta(minutes=1),
        "at_start": start_local,
        "last_minute_inside": end_local - timedelta(minutes=1),
        "at_end": end_local,
    }
    base = _base(kind, env, example)
    cases: list[_Case] = []
    outside_ns = 0
    for label, local in moments.items():
        inside = _model_in_window(local, days, start, end)
        denied = (not inside) if mode == "only" else inside
        ns = int(local.replace(tzinfo=tz).timestamp()) * 1_000_000_000
        if denied:
            outside_ns = ns
        doc = {**base, "context": {"now_ns": ns}}
        note = f"{local:%A %H:%M} {zone} is {'inside' if inside else 'outside'} the window"
        cases.append(
            _Case(
                f"{label}_{_suffix('deny' if denied else 'none')}",
                "deny" if denied else "none",
                doc,
                note,
            )
        )
    ctx = {"now_ns": outside_ns}
    renamed = {"path": _OUTSIDE_PATH, "previous_path": example, "status": "renamed"}
    cases += [
        _Case(
            "rename_out_of_path_denied",
            "deny",
            {**base, "files": [renamed], "context": ctx},
            "a rename out of a protected path still touches it",
        ),
        _Case(
            "other_paths_allowed",
            "none",
            {**base, "files": [{"path": _OUTSIDE_PATH, "status": "modified"}], "context": ctx},
            "changes elsewhere are not in scope",
        ),
        _Case(
            "unknown_time_denied",
            "deny",
            {**base, "context": {}},
            "no clock in input.context fails closed",
        ),
    ]
    if "*" not in environments:
        cases.append(
            _Case(
                "other_environment_allowed",
                "none",
                {**base, "environment": "zz-sandbox", "context": ctx},
                "environments not covered",
            )
        )
    verb = "outside" if mode == "only" else "inside"
    return _Body(
        source,
        tuple(cases),
        why=f"Deploys of {', '.join(globs)} are {verb_text} the window {window_text}.",
        denies=f"{', '.join(kinds)} to {', '.join(environments)} touching {', '.join(globs)} "
        f"{verb} the window (start inclusive, end exclusive; a window crossing midnight ends "
        "on the next day), and any such deploy whose time is unknown.",
        waivers="An urgent deploy outside the window needs a time-boxed waiver for this rule.",
        applies_to=_applies_to_lines(kinds, globs, commented=False),
    )


def _approver(options: Options) -> _Body:
    globs, example = _paths(options, ())
    group = options.group
    if group is None or not group.strip():
        raise InputError("the approver template needs --group", hint="e.g. --group security")
    kinds = options.kinds or ("merge",)
    source = (
        f"kinds := {rego_set(kinds)}\n\n" + _PATHS.format(globs=rego_value(list(globs))) + "\n"
        + _APPROVER.format(group=rego_string(group))
    )  # fmt: skip
    base = _base(kinds[0], "production", example)

    def approval(by: str, kind: str = "human", groups: Sequence[str] = (group,)) -> dict[str, Any]:
        return {"by": by, "type": kind, "groups": list(groups)}

    renamed = {"path": _OUTSIDE_PATH, "previous_path": example, "status": "renamed"}
    cases = [
        _Case("no_approval_denied", "deny", base, "no approval at all"),
        _Case(
            "group_approval_allowed",
            "none",
            {**base, "approvals": [approval("bob")]},
            "a human of the group approved",
        ),
        _Case(
            "agent_approval_denied",
            "deny",
            {**base, "approvals": [approval("bot-7", "agent")]},
            "an agent's approval never counts",
        ),
        _Case(
            "self_approval_denied",
            "deny",
            {**base, "approvals": [approval(" ALICE ")]},
            "the author's own approval never counts",
        ),
        _Case(
            "other_group_denied",
            "deny",
            {**base, "approvals": [approval("bob", groups=["zz-other"])]},
            "an approver outside the group does not count",
        ),
        _Case(
            "type_not_exactly_human_denied",
            "deny",
            {**base, "approvals": [approval("bob", "Human")]},
            "only type exactly human counts",
        ),
        _Case(
            "rename_out_of_path_denied",
            "deny",
            {**base, "files": [renamed]},
            "a rename out of a protected path still touches it",
        ),
        _Case(
            "other_paths_allowed",
            "none",
            {**base, "files": [{"path": _OUTSIDE_PATH, "status": "modified"}]},
            "changes elsewhere are not in scope",
        ),
    ]
    other = _other_kind(kinds)
    if other is not None:
        cases.append(
            _Case("other_kind_allowed", "none", {**base, "kind": other}, "kinds not covered")
        )
    return _Body(
        source,
        tuple(cases),
        why=f"Changes to {', '.join(globs)} need a reviewer from {group}.",
        denies=f"{', '.join(kinds)} touching {', '.join(globs)} (by path or a rename's "
        f"previous path) without an approval from a human of {group} other than the author.",
        waivers="None expected: the approval is the control.",
        applies_to=_applies_to_lines(kinds, globs, commented=False),
    )


def _blank(options: Options) -> _Body:
    globs, example = _paths(options, ("change-me/**",))
    kinds = options.kinds or ("pull_request", "merge")
    source = (
        f"kinds := {rego_set(kinds)}\n\n"
        + _PATHS.format(globs=rego_value(list(globs)))
        + "\n"
        + _BLANK.format()
    )
    base = _base(kinds[0], "production", example)
    cases = [
        _Case("protected_path_denied", "deny", base, "the rule fires"),
        _Case(
            "other_paths_allowed",
            "none",
            {**base, "files": [{"path": _OUTSIDE_PATH, "status": "modified"}]},
            "the rule stays silent",
        ),
    ]
    # Commented: what the rule looks at is for its author to say once it is written
    # (uncomment and edit; `charter rule lint` checks it against the firing tests).
    return _Body(
        source,
        tuple(cases),
        why="TODO: why this rule exists.",
        denies="TODO",
        waivers="TODO",
        applies_to=_applies_to_lines(kinds, globs, commented=True),
    )


_BUILDERS = {
    "change-ticket": (
        _change_ticket,
        "change-management",
        "SOC2 CC8.1",
        "Changes name their change ticket",
    ),
    "deploy-window": (
        _deploy_window,
        "change-management",
        "SOC2 CC8.1",
        "Deploys happen only in their window",
    ),
    "approver": (
        _approver,
        "access-control",
        "SOC2 CC6.1",
        "Protected paths need an approver from their group",
    ),
    "blank": (_blank, "general", "TODO: the control this rule enforces", "TODO: title of the rule"),
}


def _identifier(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def generate(template: str, rule_id: str, root: str, options: Options) -> GeneratedRule:
    """Validate ``options`` and generate the rule ``rule_id`` under bundle root ``root``."""
    if template not in _BUILDERS:
        raise InputError(f"no template {template!r}", hint=f"use one of {', '.join(TEMPLATES)}")
    _check_common(rule_id, options)
    _check_accepted(template, options)
    builder, category_default, citation_default, title_default = _BUILDERS[template]
    segments = root.strip("/").split("/")
    if not all(re.fullmatch(r"[a-z_][a-z0-9_]*", s) for s in segments):
        raise InputError(
            f"bundle root {root!r} is not a Rego package path",
            hint="use a root like charter/overlay",
        )
    category = options.category or category_default
    name = _identifier(rule_id)
    package = ".".join([*segments, _identifier(category), name])
    body = builder(options)
    meta = _Meta(
        rule_id=rule_id,
        title=options.title or title_default,
        description=options.description or f"{body.why} Denied: {body.denies}",
        severity=options.severity,
        category=category,
        citation=options.citation or citation_default,
        link=options.link or f"https://policies.example/{rule_id.lower()}",
        applies_to=body.applies_to,
    )
    directory = "/".join([*segments, _identifier(category)])
    alias = name
    rule_source = _header(meta, package) + body.source
    test_source = _test_source(package, alias, body.cases, "\nask contains " in body.source)
    edges = tuple(f"`test_{c.name}`: {c.note}" for c in body.cases)
    return GeneratedRule(
        rule_id=rule_id,
        package=package,
        rule_path=f"{directory}/{name}.rego",
        test_path=f"{directory}/{name}_test.rego",
        rule_source=rule_source,
        test_source=test_source,
        pr_title=f"policy: add {rule_id} ({meta.title})",
        pr_body=_pr_body(meta, body, edges),
        edge_cases=edges,
    )


def _pr_body(meta: _Meta, body: _Body, edges: Sequence[str]) -> str:
    lines = [
        f"Adds the rule **{meta.rule_id}** ({meta.severity}, {meta.category}; {meta.citation}).",
        "",
        "## Why",
        body.why,
        "",
        "## What it denies",
        body.denies,
        "",
        "## Edge cases handled (each is a test)",
        *[f"- {e}" for e in edges],
        "",
        "## Waivers expected",
        body.waivers,
        "",
        "```charter",
        "rules: [PROC-MERGE-HUMAN-APPROVALS-001]",
        "blast_radius: "
        + yaml_string(f"adds the policy rule {meta.rule_id}; no other rule changes"),
        f"rollback: {yaml_string('git revert the merge commit; rebuild and push the overlay')}",
        "```",
    ]
    return "\n".join(lines) + "\n"


__all__ = [
    "TEMPLATES",
    "GeneratedRule",
    "Options",
    "generate",
    "rego_string",
    "rego_value",
    "yaml_string",
]
