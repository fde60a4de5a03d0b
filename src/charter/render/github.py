"""GitHub Actions workflow commands: annotations on the run and the pull request.

Each reason that denies is ``::error``, each that asks ``::warning``, waived
rules and the verdict are ``::notice``. Values are encoded exactly as GitHub's
own toolkit does (``@actions/core``, ``command.ts``): in the message ``%``,
``\\r`` and ``\\n`` are percent-encoded, in properties also ``:`` and ``,``;
other control characters are shown as visible escapes, as in text and Markdown.
So whatever a message holds, each annotation stays one line that begins with
the command Charter wrote — a message cannot start a second command, end the
property list or forge a ``file=``.
"""

from __future__ import annotations

from collections.abc import Mapping

from charter.core.decision import Decision
from charter.core.findings import LintReport, Severity
from charter.render._ci import locate
from charter.render.markdown import visible_controls
from charter.render.text import RegoTestReport, failure_message

_COMMAND = {"deny": "error", "ask": "warning"}


def escape_data(value: object) -> str:
    """A command's message, encoded as ``escapeData`` in ``@actions/core``; other control
    characters (ANSI escapes the log renders, bidi overrides) shown as ``\\x1b``."""
    text = str(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return visible_controls(text)


def escape_property(value: object) -> str:
    """A command's property value, encoded as ``escapeProperty`` in ``@actions/core``."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: object, **properties: object) -> str:
    """One workflow command line: ``::name key=value,…::message``."""
    props = ",".join(
        f"{key}={escape_property(value)}" for key, value in properties.items() if value is not None
    )
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}\n"


def decision(value: Decision, files: Mapping[str, str | None]) -> str:
    """The annotations of a proposal decision, then one notice with the verdict."""
    lines = []
    for reason in value.reasons:
        where = locate(reason, files)
        lines.append(
            command(
                _COMMAND.get(str(reason.verdict), "notice"),
                reason.msg,
                title=f"{reason.rule} ({reason.layer}, {reason.severity})",
                file=where.path if where else None,
                line=where.line if where else None,
            )
        )
    lines += [
        command(
            "notice",
            f"{w.get('rule')} waived by {w.get('waiver')} (approved by {w.get('approver')}, "
            f"expires {w.get('expires')}): {w.get('reason')}",
            title=f"waived: {w.get('rule')}",
        )
        for w in value.waived
    ]
    lines.append(
        command(
            "notice",
            f"verdict {value.verdict} ({len(value.reasons)} reason(s), "
            f"{len(value.waived)} waived) - decision {value.decision_id}",
            title=f"charter: {value.verdict}",
        )
    )
    return "".join(lines)


def rego_tests(report: RegoTestReport) -> str:
    """An ``::error`` at each failed Rego test, then one notice with the counts."""
    lines = []
    for test in report.results:
        if test.passed or test.skipped:
            continue
        lines.append(
            command(
                "error", failure_message(test), title=test.qualified, file=test.file, line=test.row
            )
        )
    total = len(report.results)
    lines.append(
        command(
            "notice",
            f"{report.passed}/{total} passed, {report.failed}/{total} failed"
            + (f", {report.skipped}/{total} skipped" if report.skipped else ""),
            title="charter rule test",
        )
    )
    return "".join(lines)


def lint_report(report: LintReport) -> str:
    """An ``::error``/``::warning`` at each lint finding, then one notice with the counts."""
    lines = [
        command(
            "error" if f.severity is Severity.error else "warning",
            f"{f.message}. Fix: {f.hint}" if f.hint else f.message,
            title=f.code,
            file=f.file,
            line=f.line,
        )
        for f in report.findings
    ]
    lines.append(
        command(
            "notice",
            f"{'PASS' if report.ok else 'FAIL'}: {len(report.errors)} error(s), "
            f"{len(report.warnings)} warning(s)",
            title="charter rule lint",
        )
    )
    return "".join(lines)


__all__ = ["command", "decision", "escape_data", "escape_property", "lint_report", "rego_tests"]
