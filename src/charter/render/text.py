"""Text output for people, rendered with Rich and shown literally.

Everything that reaches the terminal goes through this module, and nothing it
did not write itself is ever interpreted:

* the console is made with ``markup=False`` and ``emoji=False``, so a command
  like ``echo '[/]'``, a file named ``[bold]x[red].json`` or ``:smile:`` prints
  as typed — no :class:`rich.errors.MarkupError`, no hidden ``[core]``;
* :func:`literal` makes control characters visible (``\\x1b`` for an escape, so
  an ANSI sequence in a command cannot recolour or erase the verdict) and, for
  one-line fields, newlines too (a newline in a command cannot fake a line);
* Charter's own styling is applied with :func:`styled` as ``(text, style)``
  pairs, never by building markup strings.

Views return Rich renderables; :func:`render` turns them into the final string
(nothing is written), :func:`show` writes it.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from charter.core.decision import Decision
from charter.core.findings import Finding, LintReport
from charter.core.verdict import Verdict
from charter.render import _stream

#: Charter's colours for verdicts.
VERDICT_STYLE = {"allow": "green", "ask": "yellow", "deny": "red"}

_BIDI = "\u202a-\u202e\u2066-\u2069"
#: The bidi marks (LRM, RLM, ALM), which reorder neighbouring punctuation as the overrides
#: do, and the characters that render as nothing: zero-width spaces and joiners, word
#: joiner, invisible operators, BOM, soft hyphen, Mongolian vowel separator and the tag
#: characters that smuggle invisible ASCII (``src/a\u200b.py`` would read as ``src/a.py``).
INVISIBLE = "\u00ad\u061c\u180e\u200b-\u200f\u2060-\u2064\ufeff\U000e0000-\U000e007f"
# C0 controls except tab (and newline in multi-line text), DEL, C1 controls, the
# bidirectional overrides that reorder what a reader sees and the invisible characters.
_CONTROL_ONE_LINE = re.compile(f"[\x00-\x08\x0a-\x1f\x7f-\x9f{_BIDI}{INVISIBLE}]")
_CONTROL_MULTILINE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}{INVISIBLE}]")

#: Something a view can print: a renderable, or a string shown as one literal line.
Item = RenderableType


def _visible(match: re.Match[str]) -> str:
    code = ord(match[0])
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def literal(value: object, *, multiline: bool = False) -> str:
    """``value`` as text that shows exactly what it is: control characters escaped.

    Newlines are kept only with ``multiline`` (descriptions); in a one-line
    field (a command, a path, a message) they are shown as ``\\x0a``.
    """
    pattern = _CONTROL_MULTILINE if multiline else _CONTROL_ONE_LINE
    return pattern.sub(_visible, str(value))


def styled(*parts: object | tuple[object, str]) -> Text:
    """One line from parts: a value is shown literally, ``(value, style)`` is styled.

    Styles come only from Charter's code; values are never parsed as markup.
    """
    line = Text()
    for part in parts:
        if isinstance(part, tuple):
            value, style = part
            line.append(literal(value), style=style)
        else:
            line.append(literal(part))
    return line


def paragraph(value: object) -> Text:
    """Several lines written by someone else (a rule's description), shown literally."""
    return Text(literal(value, multiline=True))


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    title: object = None,
    no_wrap: Sequence[str] = (),
    min_width: Mapping[str, int] | None = None,
) -> Table:
    """A table whose title and cells are shown literally (cells already Text keep their style).

    ``min_width`` keeps a column at least that wide when the terminal is narrow
    (the other columns wrap instead)."""
    grid = Table(title=Text(literal(title)) if title is not None else None)
    widths = min_width or {}
    for column in columns:
        nowrap = column in no_wrap
        grid.add_column(
            Text(column),
            no_wrap=nowrap,
            overflow="ellipsis" if nowrap else "fold",
            min_width=widths.get(column),
        )
    for row in rows:
        grid.add_row(*(cell if isinstance(cell, Text) else Text(literal(cell)) for cell in row))
    return grid


def console() -> Console:
    """The console every text view prints on: no markup, no emoji codes, no highlighting."""
    # Piped output (CI logs, `| less`) has no width; rich would assume 80
    # columns and squeeze rule IDs into slivers. Give it room unless told.
    width = None
    if not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        width = 160
    return Console(markup=False, emoji=False, highlight=False, soft_wrap=True, width=width)


def _renderable(item: Item) -> RenderableType:
    return Text(literal(item)) if isinstance(item, str) else item


def render(*items: Item) -> str:
    """The text of ``items`` (a string is one literal line), as it would be shown."""
    out = console()
    with out.capture() as captured:
        for item in items:
            out.print(_renderable(item))
    return captured.get()


def show(*items: Item) -> None:
    """Write ``items`` to standard output."""
    _stream.write(render(*items))


def error(message: str) -> None:
    """``charter: error: MESSAGE`` on one line of standard error."""
    line = " ".join(literal(message, multiline=True).split())
    _stream.write(f"charter: error: {line}\n", sys.stderr)


def note(message: str) -> None:
    """One line for the person at the terminal, on standard error."""
    _stream.write(literal(message) + "\n", sys.stderr)


# ------------------------------------------------------------------ decisions


def verdict_word(verdict: Verdict | str) -> Text:
    word = str(verdict)
    return styled((word.upper(), f"bold {VERDICT_STYLE.get(word, '')}".strip()))


def action_decision(decision: Decision, subject: str) -> Group:
    """A gate decision: the verdict, each simple command's verdict and the reasons."""
    lines: list[RenderableType] = [
        styled(subject, ": ")
        .append_text(verdict_word(decision.verdict))
        .append(literal(f"  ({decision.decision_id})"))
    ]
    for command in decision.extra.get("commands", []):
        word = str(command["verdict"])
        lines.append(
            styled(
                "  ", (f"{word:5}", VERDICT_STYLE.get(word, "")), " ", shlex.join(command["argv"])
            )
        )
    lines.extend(
        styled(f"  - {r.verdict}: {r.rule}: {r.msg}")
        for r in decision.reasons
        if r.verdict is decision.verdict or r.verdict is Verdict.DENY
    )
    return Group(*lines)


def decision_summary(decision: Decision) -> str:
    """One line: the verdict and the reasons that decided it (for ``exec`` on stderr)."""
    top = [r for r in decision.reasons if r.verdict is decision.verdict]
    reasons = "; ".join(f"{r.rule}: {r.msg}" for r in top[:5])
    return literal(f"charter: {decision.verdict}: {reasons}")


def proposal_decision(decision: Decision, source: str) -> Group:
    """A proposal decision: the verdict, a table of reasons, waivers applied and ignored."""
    lines: list[RenderableType] = [
        styled(source, ": ")
        .append_text(verdict_word(decision.verdict))
        .append(literal(f"  ({decision.decision_id})"))
    ]
    if decision.reasons:
        rows = [
            (
                str(r.verdict),
                r.rule,
                r.layer,
                r.severity,
                r.msg,
                f"{r.citation or ''} {r.links[0] if r.links else ''}".strip(),
            )
            for r in decision.reasons
        ]
        columns = ("Verdict", "Rule", "Layer", "Severity", "Message", "Citation / link")
        lines.append(table(columns, rows, no_wrap=columns[:4]))
    lines.extend(
        styled(f"  waived: {w.get('rule')} by {w.get('waiver')} (expires {w.get('expires')})")
        for w in decision.waived
    )
    lines.extend(
        styled(f"  ignored waiver {w.get('waiver')}: {w.get('reason')}")
        for w in decision.ignored_waivers
    )
    return Group(*lines)


# ------------------------------------------------------------------ lint findings


def finding_lines(finding: Finding) -> list[Text]:
    head = styled(f"{finding.location}: {finding.severity} {finding.code}: {finding.message}")
    return [head, styled(f"    hint: {finding.hint}")] if finding.hint else [head]


def lint_report(report: LintReport) -> Group:
    """Each finding with its hint, then ``PASS``/``FAIL`` and the counts."""
    lines = [line for f in report.findings for line in finding_lines(f)]
    verdict = "PASS" if report.ok else "FAIL"
    lines.append(
        styled(
            f"{verdict}: {len(report.errors)} error(s), {len(report.warnings)} warning(s) in "
            f"{', '.join(report.targets) or 'nothing'}"
        )
    )
    return Group(*lines)


# ------------------------------------------------------------------ Rego test reports


class RegoTestResult(Protocol):
    """What :func:`rego_test_report` reads of one test result."""

    @property
    def qualified(self) -> str: ...
    @property
    def file(self) -> str: ...
    @property
    def row(self) -> int: ...
    @property
    def passed(self) -> bool: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def error(self) -> str | None: ...
    @property
    def expected(self) -> str | None: ...
    @property
    def actual(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def skipped(self) -> bool: ...
    @property
    def output(self) -> Sequence[str]: ...
    @property
    def reason(self) -> str | None: ...


def failure_message(result: RegoTestResult) -> str:
    """Why a Rego test failed, in one line: its error, else the two verdicts (when
    a verdict was measured), else what the test evaluated to.

    The CI formats (SARIF, JUnit, GitHub, Markdown) all say it this way.
    """
    if result.error:
        return result.error
    if result.actual is not None:
        return f"expected verdict {result.expected or '?'}, actual verdict {result.actual}"
    return result.reason or "the test is not true"


class RegoTestReport(Protocol):
    """What :func:`rego_test_report` reads of a test report."""

    @property
    def results(self) -> Sequence[RegoTestResult]: ...
    @property
    def passed(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def skipped(self) -> int: ...


_RULE = "-" * 80


def _failure_lines(result: RegoTestResult) -> list[str]:
    lines = [
        f"{result.qualified}: {result.status} ({result.duration_s * 1000:.1f}ms)",
        f"  {result.file}:{result.row}",
    ]
    if result.error:
        lines.append(f"  error: {result.error}")
    elif result.actual is not None:
        lines.append(
            f"  expected verdict: {result.expected or '? (no verdict word in the name)'}, "
            f"actual verdict: {result.actual}"
        )
    else:
        lines.append(f"  {result.reason or 'the test is not true'}")
    return lines


def _output_lines(result: RegoTestResult) -> list[str]:
    """``print()`` output under its test, indented, as ``opa test -v`` shows it."""
    if not result.output:
        return []
    return ["", *(f"  {line}" for line in result.output), ""]


def rego_test_report(report: RegoTestReport) -> Group:
    """An ``opa test -v``-style report: failures first, then every test, then the counts."""
    lines: list[str] = []
    failures = [r for r in report.results if not r.passed and not r.skipped]
    if failures:
        lines += ["FAILURES", _RULE]
        for result in failures:
            lines += _failure_lines(result)
            lines += _output_lines(result)
        lines += ["", "SUMMARY", _RULE]
    current_file = None
    for result in report.results:
        if result.file != current_file:
            current_file = result.file
            lines.append(f"{result.file}:")
        if result.skipped:
            lines.append(f"{result.qualified}: SKIPPED")
            continue
        lines.append(f"{result.qualified}: {result.status} ({result.duration_s * 1000:.1f}ms)")
        lines += _output_lines(result)
    total = len(report.results)
    lines += [_RULE, f"PASS: {report.passed}/{total}"]
    failed = sum(r.status == "FAIL" for r in report.results)
    errors = sum(r.status == "ERROR" for r in report.results)
    if failed:
        lines.append(f"FAIL: {failed}/{total}")
    if errors:
        lines.append(f"ERROR: {errors}/{total}")
    if report.skipped:
        lines.append(f"SKIPPED: {report.skipped}/{total}")
    return Group(*(styled(line) for line in lines))


__all__ = [
    "INVISIBLE",
    "VERDICT_STYLE",
    "action_decision",
    "console",
    "decision_summary",
    "error",
    "finding_lines",
    "lint_report",
    "literal",
    "note",
    "paragraph",
    "proposal_decision",
    "rego_test_report",
    "render",
    "show",
    "styled",
    "table",
    "verdict_word",
]
