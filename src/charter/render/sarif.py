"""SARIF 2.1.0 (GitHub code scanning, IDEs): lint findings, decisions and Rego tests.

A decision's reasons are results (``error`` for deny, ``warning`` for ask,
``note`` otherwise) of rules described with their metadata and help links; a
reason that names a file of the proposal is located there (with the line of the
new file when the message names a patch line) when the path is one a repository can
hold (relative, no ``.``/``..`` part); any other result is located at
the proposal document itself, because GitHub code scanning rejects a whole log
whose results lack a location. Waived reasons are results with an external
suppression naming the waiver. Messages show control, bidi and invisible characters as
``\\xNN``/``\\uNNNN`` escapes, as the text, Markdown and GitHub formats do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from charter.core.decision import Decision, Reason
from charter.core.findings import Finding, LintReport, Severity
from charter.render._ci import RuleMeta, locate
from charter.render.markdown import visible_controls
from charter.render.text import RegoTestReport, failure_message

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _result(finding: Finding, index: int) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": {"uri": finding.file}}
    if finding.line:
        location["region"] = {"startLine": finding.line}
    message = f"{finding.message}. Fix: {finding.hint}" if finding.hint else finding.message
    return {
        "ruleId": finding.code,
        "ruleIndex": index,
        "level": "error" if finding.severity is Severity.error else "warning",
        "message": {"text": visible_controls(message)},
        "locations": [{"physicalLocation": location}],
    }


def lint_report(report: LintReport, descriptions: Mapping[str, str]) -> dict[str, Any]:
    """The SARIF log of ``report``; ``descriptions`` maps each code to one sentence."""
    used = sorted(report.codes())
    rules = [
        {
            "id": code,
            "name": code.replace("-", ""),
            "shortDescription": {"text": descriptions.get(code, code)},
        }
        for code in used
    ]
    results = [_result(f, used.index(f.code)) for f in report.findings]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {"tool": {"driver": {"name": "charter-lint", "rules": rules}}, "results": results}
        ],
    }


_LEVEL = {"deny": "error", "ask": "warning"}


def _uri(path: str) -> str:
    """A relative path as a URI reference (spaces, ``%``, ``#`` and ``?`` percent-encoded)."""
    return quote(path, safe="/")


def _log(driver: dict[str, Any], results: list[dict[str, Any]], **run: Any) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results, **run}],
    }


def _rule_descriptor(rule_id: str, meta: RuleMeta | None) -> dict[str, Any]:
    descriptor: dict[str, Any] = {"id": rule_id, "name": rule_id.replace("-", "")}
    if meta is None:
        return descriptor
    descriptor["shortDescription"] = {"text": meta.title or rule_id}
    if meta.description.strip():
        descriptor["fullDescription"] = {"text": meta.description.strip()}
    if meta.links:
        descriptor["helpUri"] = meta.links[0]
    help_lines = [meta.description.strip() or meta.title or rule_id]
    if meta.citation:
        help_lines.append(f"Citation: {meta.citation}")
    help_lines += [f"See {link}" for link in meta.links]
    descriptor["help"] = {"text": "\n".join(help_lines)}
    properties: dict[str, Any] = {
        "layer": meta.layer,
        "layerName": meta.layer_name,
        "severity": meta.severity,
        "category": meta.category,
        "tags": [meta.category, meta.layer],
    }
    if meta.citation:
        properties["citation"] = meta.citation
    descriptor["properties"] = properties
    return descriptor


def _at(path: str, line: int | None = None) -> list[dict[str, Any]]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(path)}}
    if line is not None:
        physical["region"] = {"startLine": line}
    return [{"physicalLocation": physical}]


def _reason_result(
    reason: Reason, index: int, files: Mapping[str, str | None], source: str
) -> dict[str, Any]:
    verdict = str(reason.verdict)
    result: dict[str, Any] = {
        "ruleId": reason.rule,
        "ruleIndex": index,
        "level": _LEVEL.get(verdict, "note"),
        "message": {"text": visible_controls(reason.msg or reason.rule)},
        "properties": {"verdict": verdict, "layer": reason.layer, "severity": reason.severity},
    }
    where = locate(reason, files)
    inside = where is not None and _in_repository(where.path)
    result["locations"] = _at(where.path, where.line) if where and inside else _at(source)
    return result


def _in_repository(path: str) -> bool:
    """A path a repository can hold: relative, no ``.``/``..`` or empty part (a
    written proposal can name any string; a result is not placed outside the checkout)."""
    parts = path.replace("\\", "/").split("/")
    return not path.startswith("/") and all(p not in ("", ".", "..") for p in parts)


def _waived_result(waived: Mapping[str, Any], index: int, source: str) -> dict[str, Any]:
    rule = str(waived.get("rule"))
    justification = (
        f"waiver {waived.get('waiver')} approved by {waived.get('approver')}, "
        f"expires {waived.get('expires')}: {waived.get('reason')}"
    )
    return {
        "ruleId": rule,
        "ruleIndex": index,
        "level": "note",
        "message": {"text": visible_controls(f"{rule} waived by {waived.get('waiver')}")},
        "locations": _at(source),
        "suppressions": [
            {
                "kind": "external",
                "status": "accepted",
                "justification": visible_controls(justification),
            }
        ],
    }


def decision(
    value: Decision,
    rules: Mapping[str, RuleMeta],
    files: Mapping[str, str | None],
    *,
    source: str,
    version: str,
) -> dict[str, Any]:
    """The SARIF log of a proposal decision.

    ``rules`` is the stack's rule metadata by id, ``files`` the proposal's files
    (path → patch), ``source`` the proposal document's path (``-`` for standard
    input), ``version`` Charter's version.
    """
    used: list[str] = []
    for rule_id in [r.rule for r in value.reasons] + [str(w.get("rule")) for w in value.waived]:
        if rule_id not in used:
            used.append(rule_id)
    results = [_reason_result(r, used.index(r.rule), files, source) for r in value.reasons]
    results += [_waived_result(w, used.index(str(w.get("rule"))), source) for w in value.waived]
    driver = {
        "name": "charter",
        "version": version,
        "rules": [_rule_descriptor(rule_id, rules.get(rule_id)) for rule_id in used],
    }
    return _log(
        driver,
        results,
        invocations=[
            {
                "executionSuccessful": True,
                "properties": {
                    "verdict": str(value.verdict),
                    "decisionId": value.decision_id,
                    "inputDigest": value.input_digest,
                },
            }
        ],
    )


def rego_tests(report: RegoTestReport, *, version: str) -> dict[str, Any]:
    """The SARIF log of a Rego test run: one result per test, ``fail`` at its file and row."""
    tests: Sequence[str] = sorted({r.qualified for r in report.results})
    results = []
    for test in report.results:
        if test.skipped:
            text, kind, level = "skipped (todo_test_)", "notApplicable", "none"
        elif test.passed:
            text, kind, level = "passed", "pass", "none"
        else:
            text, kind, level = failure_message(test), "fail", "error"
        results.append(
            {
                "ruleId": test.qualified,
                "ruleIndex": tests.index(test.qualified),
                "kind": kind,
                "level": level,
                "message": {"text": visible_controls(text)},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _uri(test.file)},
                            "region": {"startLine": max(test.row, 1)},
                        }
                    }
                ],
            }
        )
    driver = {
        "name": "charter-rule-test",
        "version": version,
        "rules": [{"id": t, "shortDescription": {"text": f"Rego test {t}"}} for t in tests],
    }
    return _log(driver, results)


__all__ = ["decision", "lint_report", "rego_tests"]
