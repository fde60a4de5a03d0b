"""JUnit XML for CI test reporters (GitLab, Jenkins, Azure, test-summary actions).

``charter check``: one test case per rule of the stack — a rule whose reasons
deny or ask is a failure carrying its messages, a waived rule is skipped with
the waiver named. ``charter rule test``: one test case per Rego test.

The XML is built with :mod:`xml.etree.ElementTree`, which escapes markup
characters; characters XML 1.0 cannot carry at all (most C0 controls, lone
surrogates) are replaced by visible ``\\xNN`` escapes first, so any message
gives a document a parser accepts; C1 controls, bidi and invisible characters too.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from charter.core.decision import Decision, Reason
from charter.core.findings import LintReport, Severity
from charter.render._ci import RuleMeta, failing, rule_ids
from charter.render.text import INVISIBLE, RegoTestReport, RegoTestResult, failure_message

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: What XML carries but a reader should not be shown raw: C1 controls, bidi overrides and
#: isolates, line separators and invisible characters (a test report is read by people).
_HIDDEN = re.compile(f"[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069{INVISIBLE}]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match[0])
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def xml_text(value: object) -> str:
    """``value`` as text XML 1.0 can hold: forbidden characters, and those that would hide
    or reorder text (C1, bidi, invisible), shown as escapes."""
    return _HIDDEN.sub(_visible, _NOT_XML.sub(_visible, str(value)))


def _element(tag: str, parent: ET.Element | None = None, **attributes: object) -> ET.Element:
    attrib = {key: xml_text(value) for key, value in attributes.items()}
    if parent is None:
        return ET.Element(tag, attrib)
    return ET.SubElement(parent, tag, attrib)


def _serialise(root: ET.Element) -> str:
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _rule_case(
    suite: ET.Element,
    rule_id: str,
    meta: RuleMeta | None,
    reasons: Sequence[Reason],
    waived: Sequence[Mapping[str, object]],
) -> str | None:
    """Add the test case of one rule; its outcome: ``failure``, ``skipped`` or ``None``."""
    layer = meta.layer if meta is not None else (reasons[0].layer if reasons else "unknown")
    case = _element("testcase", suite, classname=f"charter.{layer}", name=rule_id, time="0")
    if reasons:
        first = reasons[0]
        failure = _element(
            "failure",
            case,
            message=first.msg,
            type=f"{first.verdict}:{first.severity}",
        )
        failure.text = xml_text(
            "\n".join(f"{r.verdict} ({r.layer}, {r.severity}): {r.msg}" for r in reasons)
        )
        return "failure"
    if waived:
        names = ", ".join(str(w.get("waiver")) for w in waived)
        _element("skipped", case, message=f"waived by {names}")
        return "skipped"
    return None


def decision(value: Decision, rules: Mapping[str, RuleMeta], source: str) -> str:
    """The JUnit XML of a proposal decision; ``source`` names the proposal."""
    counted = failing(value.reasons)
    waived = list(value.waived)
    ids = rule_ids(counted, rules)
    ids += sorted({str(w.get("rule")) for w in waived} - set(ids))
    root = _element("testsuites", name="charter check")
    suite = _element("testsuite", root, name=f"charter check {source}", timestamp=value.time)
    properties = _element("properties", suite)
    for name, data in (
        ("verdict", value.verdict),
        ("decision_id", value.decision_id),
        ("input_digest", value.input_digest),
    ):
        _element("property", properties, name=name, value=data)
    outcomes = [
        _rule_case(
            suite,
            rule_id,
            rules.get(rule_id),
            [r for r in counted if r.rule == rule_id],
            [w for w in waived if str(w.get("rule")) == rule_id],
        )
        for rule_id in ids
    ]
    totals = {
        "tests": len(ids),
        "failures": outcomes.count("failure"),
        "errors": 0,
        "skipped": outcomes.count("skipped"),
    }
    for element in (root, suite):
        for key, count in totals.items():
            element.set(key, str(count))
    return _serialise(root)


def _test_case(suite: ET.Element, test: RegoTestResult) -> None:
    case = _element(
        "testcase",
        suite,
        classname=test.qualified.rpartition(".")[0],
        name=test.qualified.rpartition(".")[2],
        file=test.file,
        line=test.row,
        time=f"{test.duration_s:.6f}",
    )
    if test.skipped:
        _element("skipped", case, message="todo_test_: not run")
    elif not test.passed:
        message = failure_message(test)
        failure = _element("failure", case, message=message, type="error" if test.error else "fail")
        failure.text = xml_text(f"{test.file}:{test.row}\n{message}")
    if test.output:
        _element("system-out", case).text = xml_text("\n".join(test.output))


def rego_tests(report: RegoTestReport) -> str:
    """The JUnit XML of a Rego test run: one suite per file, one case per test."""
    root = _element("testsuites", name="charter rule test")
    files: dict[str, list[RegoTestResult]] = {}
    for test in report.results:
        files.setdefault(test.file, []).append(test)
    for file, tests in files.items():
        failures = sum(not t.passed and not t.skipped for t in tests)
        suite = _element(
            "testsuite",
            root,
            name=file,
            tests=len(tests),
            failures=failures,
            errors=0,
            skipped=sum(t.skipped for t in tests),
            time=f"{sum(t.duration_s for t in tests):.6f}",
        )
        for test in tests:
            _test_case(suite, test)
    root.set("tests", str(len(report.results)))
    root.set("failures", str(report.failed))
    root.set("errors", "0")
    root.set("skipped", str(report.skipped))
    return _serialise(root)


def lint_report(report: LintReport) -> str:
    """The JUnit XML of a lint run: one case per finding (an error fails), or per target."""
    root = _element("testsuites", name="charter rule lint")
    suite = _element("testsuite", root, name="charter rule lint")
    failures = 0
    for finding in report.findings:
        case = _element(
            "testcase",
            suite,
            classname=f"charter.lint.{finding.code}",
            name=finding.location,
            file=finding.file,
            time="0",
        )
        text = f"{finding.location}: {finding.message}" + (
            f"\nhint: {finding.hint}" if finding.hint else ""
        )
        if finding.severity is Severity.error:
            failures += 1
            failure = _element("failure", case, message=finding.message, type=finding.code)
            failure.text = xml_text(text)
        else:
            _element("system-out", case).text = xml_text(f"warning {finding.code}: {text}")
    if not report.findings:
        for target in report.targets or ("lint",):
            _element("testcase", suite, classname="charter.lint", name=target, time="0")
    tests = len(report.findings) or len(report.targets) or 1
    for element in (root, suite):
        for key, count in (("tests", tests), ("failures", failures), ("errors", 0), ("skipped", 0)):
            element.set(key, str(count))
    return _serialise(root)


__all__ = ["decision", "lint_report", "rego_tests", "xml_text"]
