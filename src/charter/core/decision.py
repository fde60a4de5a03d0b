"""What every front end and every domain shares about a decision: its record.

A :class:`Decision` is produced by :mod:`charter.policy.decision` (proposals)
or :mod:`charter.actions.gate` (actions), recorded by :mod:`charter.audit` and
rendered by :mod:`charter.render`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from charter.core import jsonio
from charter.core.errors import InputError
from charter.core.verdict import Verdict


@dataclass(frozen=True)
class Reason:
    rule: str
    layer: str
    severity: str
    msg: str
    verdict: Verdict
    links: tuple[str, ...] = ()
    category: str | None = None
    citation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "layer": self.layer,
            "severity": self.severity,
            "msg": self.msg,
            "verdict": str(self.verdict),
            "links": list(self.links),
            "category": self.category,
            "citation": self.citation,
        }


@dataclass(frozen=True)
class Decision:
    decision_id: str
    verdict: Verdict
    reasons: tuple[Reason, ...]
    stack: tuple[dict[str, Any], ...]
    waived: tuple[dict[str, Any], ...] = ()
    ignored_waivers: tuple[dict[str, Any], ...] = ()
    input_digest: str = ""
    time: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "decision_id": self.decision_id,
            "verdict": str(self.verdict),
            "reasons": [r.to_dict() for r in self.reasons],
            "waived": list(self.waived),
            "ignored_waivers": list(self.ignored_waivers),
            "stack": list(self.stack),
            "input_digest": self.input_digest,
            "time": self.time,
        }
        doc.update(self.extra)
        return doc


#: A waiver hook: given the reasons, the proposal and the time, return the
#: reasons that still count, the waivers applied and the waivers ignored.
WaiverHook = Callable[
    [Sequence[Reason], Mapping[str, Any], datetime],
    tuple[list[Reason], list[dict[str, Any]], list[dict[str, Any]]],
]


def parse_now(text: str | None) -> datetime:
    """``--now`` as RFC 3339; a naive time is taken as UTC."""
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"--now {text!r} is not an RFC 3339 time", hint="e.g. 2026-11-22T10:00:00Z"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def input_digest(document: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of a decision's input."""
    return jsonio.digest(document)
