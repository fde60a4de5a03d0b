"""Lint findings as SARIF 2.1.0 (GitHub code scanning, IDEs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from charter.core.findings import Finding, LintReport, Severity

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
        "message": {"text": message},
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


__all__ = ["lint_report"]
