"""Lint findings: what a linter reports, shared by every linter and renderer.

The bundle linter (:mod:`charter.policy.lint`) and the constitution ratchet
linter (:mod:`charter.actions.lint`) both report :class:`Finding` objects in a
:class:`LintReport`; :mod:`charter.render` shows them as text, JSON or SARIF.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Severity(enum.StrEnum):
    error = "error"
    warning = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem a linter found, with a stable code and a ``file:line`` location."""

    code: str
    severity: Severity
    location: str
    message: str
    hint: str = ""

    @property
    def file(self) -> str:
        path, _, line = self.location.rpartition(":")
        return path if line.isdigit() else self.location

    @property
    def line(self) -> int | None:
        _, _, line = self.location.rpartition(":")
        return int(line) if line.isdigit() else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "location": self.location,
            "message": self.message,
            "hint": self.hint,
        }


def error(code: str, location: str, message: str, hint: str = "") -> Finding:
    return Finding(code, Severity.error, location, message, hint)


def warning(code: str, location: str, message: str, hint: str = "") -> Finding:
    return Finding(code, Severity.warning, location, message, hint)


@dataclass(frozen=True)
class LintReport:
    """The findings for one or more linted targets."""

    targets: tuple[str, ...]
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.error)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.warning)

    @property
    def ok(self) -> bool:
        return not self.errors

    def __bool__(self) -> bool:
        return self.ok

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "targets": list(self.targets),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.to_dict() for f in self.findings],
        }

    def merged(self, other: LintReport) -> LintReport:
        return LintReport(self.targets + other.targets, self.findings + other.findings)


__all__ = ["Finding", "LintReport", "Severity", "error", "warning"]
