"""Approvals: the decisions a runner remembers, and a human's answer to an ``ask``.

A decision is remembered once its audit record is durable; an ``ask`` can then
be approved or rejected once, by an approver who is neither its requester nor
the author of the change. No I/O ever runs under the lock: the entry is claimed
(``approving``) under it, the approval is recorded without it, and the outcome
is stored under it again (a failed record gives the claim back). The audit
store's callbacks remember decisions, so a write under this lock could wait on
itself.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from charter.core.errors import Conflict, Forbidden, NotFound

#: How many decisions are remembered (the oldest are forgotten first).
MAX_REMEMBERED = 100_000
APPROVAL_RULE = "CHARTER-HUMAN-APPROVAL"


class Pending(NamedTuple):
    """What the runner remembers of a decision, for approvals.

    Only strings, stored as a plain tuple: the garbage collector untracks an
    exact tuple of untracked objects, so 100,000 remembered decisions add
    nothing to its full collections (as nested dicts they made each one take
    ~90 ms, every few hundred milliseconds under load).
    """

    verdict: str
    input_digest: str
    #: The decision's ``stack`` as JSON text.
    stack: str
    requester: str
    author: str | None
    status: str = "pending"  # pending | approving | approved | rejected | final
    #: Each approval as JSON text.
    approvals: tuple[str, ...] = ()


class Approvals:
    """The remembered decisions of one runner; ``record`` writes an approval durably."""

    def __init__(self, record: Callable[[dict[str, Any]], None]) -> None:
        self._record = record
        self._lock = threading.Lock()
        #: Plain tuples (see :class:`Pending`), read back with :meth:`_entry`.
        self.entries: OrderedDict[str, tuple[Any, ...]] = OrderedDict()
        self._stack_text: tuple[Any, str] | None = None

    def remember(self, doc: Mapping[str, Any], requester: str, author: str | None) -> None:
        """Remember a durable decision (``ask`` ones stay pending until answered)."""
        stack = doc.get("stack", [])
        cached = self._stack_text
        if cached is None or cached[0] != stack:
            cached = self._stack_text = (stack, json.dumps(stack, separators=(",", ":")))
        entry = Pending(
            verdict=str(doc["verdict"]),
            input_digest=str(doc.get("input_digest", "")),
            stack=cached[1],
            requester=requester,
            author=author,
            status="pending" if doc["verdict"] == "ask" else "final",
        )
        with self._lock:
            self.entries[doc["decision_id"]] = tuple(entry)
            while len(self.entries) > MAX_REMEMBERED:
                self.entries.popitem(last=False)

    def state(self, decision_id: str) -> dict[str, Any]:
        with self._lock:
            entry = self._entry(decision_id)
        return {
            "decision_id": decision_id,
            "verdict": entry.verdict,
            # An approval being written is not settled until it is durable.
            "status": "pending" if entry.status == "approving" else entry.status,
            "approvals": [json.loads(a) for a in entry.approvals],
        }

    def approve(
        self, decision_id: str, approve: bool, comment: str, principal: str
    ) -> dict[str, Any]:
        """Record ``principal``'s answer to a pending ``ask``; return the outcome."""
        with self._lock:
            entry = self._claim(decision_id, principal)
        approval = {"by": principal, "approve": approve, "comment": comment, "at": _now()}
        outcome = "allow" if approve else "deny"
        try:
            self._record(_approval_record(decision_id, entry, approval, outcome))
        except BaseException:
            with self._lock:
                self.entries[decision_id] = tuple(entry)
            raise
        entry = entry._replace(
            status="approved" if approve else "rejected",
            approvals=(*entry.approvals, json.dumps(approval)),
        )
        with self._lock:
            self.entries[decision_id] = tuple(entry)
        return {"decision_id": decision_id, "verdict": outcome, "status": entry.status,
                "approval": approval}  # fmt: skip

    def _entry(self, decision_id: str) -> Pending:
        raw = self.entries.get(decision_id)
        if raw is None:
            raise NotFound(f"no decision {decision_id} is known to this runner")
        return Pending._make(raw)

    def _claim(self, decision_id: str, principal: str) -> Pending:
        """Mark a pending ``ask`` as being approved by ``principal`` (under the lock)."""
        entry = self._entry(decision_id)
        if entry.status != "pending":
            state = "being approved" if entry.status == "approving" else entry.status
            raise Conflict(
                f"decision {decision_id} is {entry.verdict} "
                f"({state}); only a pending ask can be approved or rejected"
            )
        if principal in (entry.requester, entry.author):
            raise Forbidden(
                f"{principal} cannot approve a decision about their own change",
                hint="another approver must confirm it",
            )
        self.entries[decision_id] = tuple(entry._replace(status="approving"))
        return entry


def _approval_record(
    decision_id: str, entry: Pending, approval: dict[str, Any], outcome: str
) -> dict[str, Any]:
    """The audit record of an approval: the new verdict, citing who gave it."""
    verb = "approved" if approval["approve"] else "rejected"
    return {
        "decision_id": decision_id,
        "verdict": outcome,
        "reasons": [
            {
                "rule": APPROVAL_RULE,
                "layer": "charter",
                "severity": "high",
                "msg": f"{verb} by {approval['by']}",
                "links": [],
            }
        ],
        "approvals": [approval],
        "stack": json.loads(entry.stack),
        "input_digest": entry.input_digest,
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["MAX_REMEMBERED", "Approvals", "Pending"]
