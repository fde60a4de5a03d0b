"""Markdown for a pull-request comment or ``$GITHUB_STEP_SUMMARY``.

A decision is its verdict, a table of reasons (rule, layer, severity, message,
citation and links) and the waivers applied and ignored. Everything Charter did
not write itself goes through :func:`cell`: characters that could end a table
cell, open code, emphasis or a link, or start HTML become character references,
line breaks become ``<br>``, other control characters visible escapes, and a
zero-width space follows every ``@`` (a mention, an email address, a commit's
``user@sha`` or ``owner/repo@sha``), the ``#`` or ``GH-`` of an issue reference,
the ``:`` of a URL's ``scheme://``, the ``www`` of ``www.`` and the ``github`` of
``github.com`` (they would ping people, link issues, commits or addresses, or
autolink a URL — a full issue URL cross-references that issue). A message
therefore stays inside its cell as plain text. Links are written as links only when they are
Charter's own plain ``http(s)`` URLs (a rule's links).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from charter.core.decision import Decision
from charter.core.findings import LintReport
from charter.render.text import INVISIBLE, RegoTestReport, failure_message

# What could end a cell, start HTML or an entity, open code, a link, emphasis,
# strikethrough or math, as numeric character references (a reference is never
# split as a table cell nor parsed as markup). Inside a cell nothing else is
# block syntax, so ``-``, ``#`` or ``>`` at the start cannot make a list or heading.
_SPECIAL = re.compile(r"[&<>|`\\\[\]*_~$]")
# What GitHub turns into a mention (@user, @org/team: a notification), an issue
# reference (#123, owner/repo#123, GH-123: a link and a cross-reference on that issue) or
# a commit reference (user@sha, owner/repo@sha: a link into any repository), matched in
# the rendered text, so a character reference would not stop it; a zero-width space after
# the @, # or GH- does, and renders as the same text. Every @ is broken: after a letter it
# starts no mention but may name a commit, or end the local part of an address GFM
# autolinks (as mailto:, with or without the scheme).
# A URL GitHub would autolink (GFM: a scheme's "://", or "www.") — a full issue or pull
# request URL becomes a link and a cross-reference on that issue — is broken the same way:
# a zero-width space after the scheme's ":", after "www" and, for an issue URL written
# without its scheme, after the "github" of "github.com".
# Left as written: a bare commit SHA (GitHub links it only to a commit that exists in the
# repository's network, pings no one, cross-references nothing; breaking every hex word
# would make the SHAs and digests in messages uncopyable) and the repository's own custom
# autolink prefixes (TICKET-123: its admins chose where they lead).
_REFERENCE = re.compile(
    r"@|#(?=[0-9])|(?<![A-Za-z0-9_])GH-(?=[0-9])|:(?=//)|www(?=\.)|github(?=\.com)",
    re.IGNORECASE,
)
_UNTRUSTED = re.compile(f"{_SPECIAL.pattern}|{_REFERENCE.pattern}", re.IGNORECASE)
_ZERO_WIDTH_SPACE = "&#8203;"
_CONTROL = re.compile(
    f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069{INVISIBLE}]"
)
_LINK = re.compile(r"https?://[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]+")
_VERDICT = {"allow": "✅ ALLOW", "ask": "⚠️ ASK", "deny": "❌ DENY"}
#: Most characters a cell of a decision's tables shows, and most characters each table's
#: rows take: a pull-request comment holds 65,536 characters and a step summary 1 MiB —
#: longer, GitHub refuses all of it, verdict included — so file names or messages an
#: agent makes long (or many) cannot keep the report from being shown.
CELL_LIMIT = 1000
REASONS_LIMIT = 36_000
WAIVERS_LIMIT = 8_000
IGNORED_LIMIT = 4_000
PROFILE_LIMIT = 8_000


def _reference(match: re.Match[str]) -> str:
    if len(match[0]) > 1 or match[0] in "@#:":  # a mention, reference or URL, broken
        return match[0] + _ZERO_WIDTH_SPACE
    return f"&#{ord(match[0])};"


def _control(match: re.Match[str]) -> str:
    code = ord(match[0])
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible_controls(text: str) -> str:
    """``text`` with control, line-separator, bidi and invisible characters other than tab,
    CR and LF shown as ``\\xNN``/``\\uNNNN`` (they could hide, recolour or reorder it)."""
    return _CONTROL.sub(_control, text)


def cell(value: object) -> str:
    """Untrusted text as inline Markdown that renders literally and stays on one line."""
    text = _UNTRUSTED.sub(_reference, str(value))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return visible_controls(text).replace("\n", "<br>")


def link(url: str, label: str) -> str:
    """``[label](url)`` for a plain http(s) URL; anything else as literal text."""
    if _LINK.fullmatch(url):
        return f"[{cell(label)}]({url.replace('(', '%28').replace(')', '%29')})"
    return cell(url)


def table(
    columns: Sequence[str], rows: Iterable[Sequence[str]], *, limit: int | None = None
) -> list[str]:
    """A GFM table of already-escaped cells; with ``limit``, only the rows that fit in
    that many characters, then a line saying how many were left out."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    used, left_out = 0, 0
    for row in rows:
        line = "| " + " | ".join(row) + " |"
        used += len(line) + 1
        if limit is not None and (left_out or used > limit):
            left_out += 1
            continue
        lines.append(line)
    if left_out:
        lines += ["", f"… {left_out} more row(s) not shown here (the report would be too long)."]
    return lines


def bounded(value: object, limit: int = CELL_LIMIT) -> str:
    """:func:`cell` of at most ``limit`` characters: a longer text is cut (before it is
    escaped, so no reference or ``<br>`` is split) and says how much was left out."""
    text = str(value)
    shown = cell(text)
    if len(shown) <= limit:
        return shown
    note = f" … ({len(text)} characters in all)"
    low, high = 0, min(len(text), limit)  # each character is at least one character shown
    while low < high:  # the longest prefix whose cell fits
        middle = (low + high + 1) // 2
        if len(cell(text[:middle])) + len(note) <= limit:
            low = middle
        else:
            high = middle - 1
    return cell(text[:low]) + note


def decision(value: Decision, source: str) -> str:
    """The Markdown summary of a proposal decision."""
    verdict = str(value.verdict)
    lines = [
        f"### Charter: {_VERDICT.get(verdict, cell(verdict))}",
        "",
        f"Proposal {bounded(source)}, decision {cell(value.decision_id)}: "
        f"{len(value.reasons)} reason(s), {len(value.waived)} waiver(s) applied.",
    ]
    if value.reasons:
        rows = [
            [
                cell(r.verdict),
                cell(r.rule),
                cell(r.layer),
                cell(r.severity),
                bounded(r.msg),
                " ".join(
                    ([bounded(r.citation)] if r.citation else [])
                    + [link(url, f"link {n}") for n, url in enumerate(r.links, start=1)]
                ),
            ]
            for r in value.reasons
        ]
        columns = ("Verdict", "Rule", "Layer", "Severity", "Message", "Citation / links")
        lines += ["", *table(columns, rows, limit=REASONS_LIMIT)]
    if value.waived:
        rows = [
            [
                cell(w.get("rule")),
                bounded(w.get("waiver")),
                bounded(w.get("approver")),
                cell(w.get("expires")),
                bounded(w.get("reason")),
            ]
            for w in value.waived
        ]
        lines += ["", "#### Waivers applied", ""]
        lines += table(
            ("Rule", "Waiver", "Approver", "Expires", "Reason"), rows, limit=WAIVERS_LIMIT
        )
    if value.ignored_waivers:
        rows = [[bounded(w.get("waiver")), bounded(w.get("reason"))] for w in value.ignored_waivers]
        lines += ["", "#### Waivers ignored", ""]
        lines += table(("Waiver", "Why"), rows, limit=IGNORED_LIMIT)
    return "\n".join(lines) + "\n"


def profile_diff(changes: Sequence[Mapping[str, Any]], path: str) -> str:
    """The Environment Profile change of a proposal, as a table (nothing when unchanged)."""
    if not changes:
        return ""
    rows = [
        [
            bounded(c.get("category")),
            bounded(c.get("change")),
            bounded(c.get("attribute") if c.get("attribute") is not None else "(entry)"),
            bounded(json.dumps(c.get("old"), sort_keys=True)),
            bounded(json.dumps(c.get("new"), sort_keys=True)),
        ]
        for c in changes
    ]
    lines = ["", f"#### Environment Profile change ({bounded(path)})", ""]
    lines += table(("Category", "Change", "Attribute", "Old", "New"), rows, limit=PROFILE_LIMIT)
    return "\n".join(lines) + "\n"


def rego_tests(report: RegoTestReport) -> str:
    """The Markdown summary of a Rego test run: counts, then a table of every test."""
    total = len(report.results)
    head = "✅ PASS" if not report.failed else "❌ FAIL"
    rows = []
    for test in report.results:
        detail = "" if test.passed or test.skipped else failure_message(test)
        if test.output:
            detail = "; ".join([detail, *test.output]) if detail else "; ".join(test.output)
        rows.append(
            [
                "pass" if test.passed else ("skipped" if test.skipped else "**fail**"),
                cell(test.qualified),
                cell(f"{test.file}:{test.row}"),
                f"{test.duration_s * 1000:.1f} ms",
                cell(detail),
            ]
        )
    lines = [
        f"### Charter rule test: {head}",
        "",
        f"{report.passed}/{total} passed, {report.failed}/{total} failed"
        + (f", {report.skipped}/{total} skipped." if report.skipped else "."),
        "",
        *table(("Result", "Test", "Location", "Time", "Detail"), rows),
    ]
    return "\n".join(lines) + "\n"


def lint_report(report: LintReport) -> str:
    """The Markdown summary of a lint run: PASS/FAIL, counts and a table of findings."""
    lines = [
        f"### Charter rule lint: {'✅ PASS' if report.ok else '❌ FAIL'}",
        "",
        f"{len(report.errors)} error(s), {len(report.warnings)} warning(s) in "
        f"{cell(', '.join(report.targets) or 'nothing')}.",
    ]
    if report.findings:
        rows = [
            [cell(f.severity), cell(f.code), cell(f.location), cell(f.message), cell(f.hint)]
            for f in report.findings
        ]
        lines += ["", *table(("Severity", "Code", "Location", "Message", "Hint"), rows)]
    return "\n".join(lines) + "\n"


__all__ = ["bounded", "cell", "decision", "link", "lint_report", "rego_tests", "table"]
