"""Where pending approvals live: one store shared by every replica of a runner.

An ``ask`` is stored once its audit record is durable, and its state moves
only forward, by compare-and-set: ``pending`` → ``approving`` (claimed by one
approver, under a claim token) → ``approved`` / ``rejected``, or ``pending`` →
``approving`` → ``expired`` once its time is up. Each step is one statement
whose ``WHERE`` names the state it leaves (and the claim token), so of two
replicas approving the same ``ask`` at once exactly one claims it; the other
sees it taken (HTTP 409). A claim whose audit record could not be written is
given back (``approving`` → ``pending``).

A claim is a lease: it holds until ``lease_until``, and names the audit chain's
head when it was taken (``audit_seq``). A claim whose replica crashed before
settling is taken over once it lapses (:meth:`ApprovalStore.take_over`, a
compare-and-set on the old claim token), and the taker settles it with the
answer the audit chain holds for it (recorded after ``audit_seq``) or gives it
back to ``pending`` if the crash came first (see
:meth:`charter.runner.approvals.Approvals.recover`). Settling always names the
claim token, so a replica whose claim was taken over can no longer settle.

Two backends share this interface: :class:`SQLiteApprovals` (the embedded
single-node default, a file next to the SQLite audit log) and
:class:`charter.runner.approval_pg.PostgresApprovals` (the ``approvals`` table
in the audit store's PostgreSQL schema, when the audit store is a
``postgresql://`` URL). :func:`charter.runner.approvals.open_approvals` picks one from the audit
location. Times are seconds since the epoch (UTC).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charter.audit.stores import companion, companion_files
from charter.core.errors import AuditError

PENDING, APPROVING = "pending", "approving"
APPROVED, REJECTED, EXPIRED = "approved", "rejected", "expired"
#: The states an ``ask`` can end in; nothing leaves them.
SETTLED = (APPROVED, REJECTED, EXPIRED)
#: The columns of the ``approvals`` table, in the order :meth:`ApprovalRow.values` gives.
COLUMNS = ("decision_id", "status", "kind", "requester", "author", "subject", "reasons",
           "stack", "input_digest", "created_at", "expires_at", "replica", "claim",
           "claimed_at", "outcome", "lease_until", "audit_seq")  # fmt: skip

_SQLITE_SELECT = (
    "SELECT decision_id, status, kind, requester, author, subject, reasons, stack,"
    " input_digest, created_at, expires_at, replica, claim, claimed_at, outcome, lease_until,"
    " audit_seq FROM approvals"
)
_SQLITE_INSERT = (
    "INSERT OR IGNORE INTO approvals (decision_id, status, kind, requester, author, subject,"
    " reasons, stack, input_digest, created_at, expires_at, replica, claim, claimed_at, outcome,"
    " lease_until, audit_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class ApprovalRow:
    """One stored ``ask``: what was asked, by whom, why, and what became of it."""

    decision_id: str
    status: str
    kind: str  # "action" or "proposal"
    requester: str
    author: str | None
    #: The command or proposal asked about (a summary; untrusted text).
    subject: dict[str, Any]
    #: The reasons of the decision (the rules that asked among them).
    reasons: list[dict[str, Any]]
    stack: list[dict[str, Any]]
    input_digest: str
    created_at: float
    expires_at: float
    #: The runner that decided it (host:pid).
    replica: str
    claim: str | None = None
    claimed_at: float | None = None
    #: The settled answer: by, approve, comment, at (and ``expired``).
    outcome: dict[str, Any] | None = field(default=None)
    #: Until when the claim holds (a crashed claimer's claim is taken over after it).
    lease_until: float | None = None
    #: The audit chain's head sequence number when the claim was taken.
    audit_seq: int | None = None

    def values(self) -> tuple[Any, ...]:
        return (
            self.decision_id, self.status, self.kind, self.requester, self.author,
            dump_json(self.subject), dump_json(self.reasons), dump_json(self.stack),
            self.input_digest, self.created_at, self.expires_at, self.replica, self.claim,
            self.claimed_at,
            dump_json(self.outcome) if self.outcome is not None else None,
            self.lease_until, self.audit_seq,
        )  # fmt: skip

    @classmethod
    def from_values(cls, row: Sequence[Any]) -> ApprovalRow:
        values = dict(zip(COLUMNS, row, strict=True))
        for key in ("subject", "reasons", "stack"):
            values[key] = json.loads(values[key])
        outcome = values["outcome"]
        values["outcome"] = json.loads(outcome) if outcome is not None else None
        values["created_at"] = float(values["created_at"])
        values["expires_at"] = float(values["expires_at"])
        for key in ("claimed_at", "lease_until"):
            if values[key] is not None:
                values[key] = float(values[key])
        if values["audit_seq"] is not None:
            values["audit_seq"] = int(values["audit_seq"])
        return cls(**values)


class ApprovalStore(ABC):
    """The state of every ``ask``; each method is one atomic step (see the module doc)."""

    location: str

    @abstractmethod
    def add(self, row: ApprovalRow) -> None:
        """Store a new pending ``ask`` (a second add of one decision is ignored)."""

    @abstractmethod
    def get(self, decision_id: str) -> ApprovalRow | None: ...

    @abstractmethod
    def open_rows(self, limit: int) -> list[ApprovalRow]:
        """Asks still pending (or being approved), oldest first."""

    @abstractmethod
    def claim(
        self, decision_id: str, token: str, now: float, lease_until: float, audit_seq: int
    ) -> bool:
        """``pending`` → ``approving`` under ``token`` until ``lease_until``; False if it
        was not pending."""

    @abstractmethod
    def take_over(
        self, decision_id: str, old: str, token: str, now: float, lease_until: float,
        lapsed_by: float,
    ) -> bool:  # fmt: skip
        """A lapsed claim (``approving`` under ``old``, ``lease_until <= lapsed_by``)
        re-claimed under ``token`` until ``lease_until``; False if it was settled,
        released or taken meanwhile."""

    @abstractmethod
    def lapsed(self, now: float, limit: int) -> list[str]:
        """Asks being approved whose claim lapsed (their claimer crashed, or stalled)."""

    @abstractmethod
    def held_by(self, prefix: str, limit: int) -> list[str]:
        """Asks being approved under a claim token starting with ``prefix``."""

    @abstractmethod
    def release(self, decision_id: str, token: str) -> None:
        """Give a claim back (``approving`` → ``pending``), if it is still ``token``'s."""

    @abstractmethod
    def settle(self, decision_id: str, token: str, status: str, outcome: dict[str, Any]) -> bool:
        """``approving`` (under ``token``) → ``status``; False if the claim was lost."""

    @abstractmethod
    def statuses(self, decision_ids: Sequence[str]) -> dict[str, tuple[str, float]]:
        """``decision_id -> (status, expires_at)`` for those of ``decision_ids`` stored."""

    @abstractmethod
    def due(self, now: float, limit: int) -> list[str]:
        """Pending asks whose time is up."""

    @abstractmethod
    def close(self) -> None: ...


class SQLiteApprovals(ApprovalStore):
    """The embedded default: one SQLite file (WAL, ``synchronous=FULL``).

    Several processes may share the file: every step is one statement in its
    own transaction, and SQLite serialises writers.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.location = str(self.path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS approvals ("
                " decision_id TEXT PRIMARY KEY, status TEXT NOT NULL, kind TEXT NOT NULL,"
                " requester TEXT NOT NULL, author TEXT, subject TEXT NOT NULL,"
                " reasons TEXT NOT NULL, stack TEXT NOT NULL, input_digest TEXT NOT NULL,"
                " created_at REAL NOT NULL, expires_at REAL NOT NULL, replica TEXT NOT NULL,"
                " claim TEXT, claimed_at REAL, outcome TEXT, lease_until REAL,"
                " audit_seq INTEGER)"
            )
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS approvals_open ON approvals (status, created_at)"
            )
            # Stores made before claims were leases gain the two columns.
            have = {r[1] for r in self._db.execute("PRAGMA table_info(approvals)")}
            for column, kind in (("lease_until", "REAL"), ("audit_seq", "INTEGER")):
                if column not in have:
                    self._db.execute(f"ALTER TABLE approvals ADD COLUMN {column} {kind}")
        except (OSError, sqlite3.Error) as exc:
            raise AuditError(
                f"{self.path}: cannot open the approvals store ({exc})",
                hint="the approvals file lives next to the audit database; make it writable",
            ) from exc

    def _run(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            with self._lock:
                return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: the approvals store failed ({exc})") from exc

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            with self._lock:
                return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: the approvals store failed ({exc})") from exc

    def add(self, row: ApprovalRow) -> None:
        self._run(_SQLITE_INSERT, row.values())

    def get(self, decision_id: str) -> ApprovalRow | None:
        rows = self._rows(_SQLITE_SELECT + " WHERE decision_id = ?", (decision_id,))
        return ApprovalRow.from_values(rows[0]) if rows else None

    def open_rows(self, limit: int) -> list[ApprovalRow]:
        rows = self._rows(
            _SQLITE_SELECT + " WHERE status IN (?, ?) ORDER BY created_at, decision_id LIMIT ?",
            (PENDING, APPROVING, limit),
        )
        return [ApprovalRow.from_values(r) for r in rows]

    def claim(
        self, decision_id: str, token: str, now: float, lease_until: float, audit_seq: int
    ) -> bool:
        cursor = self._run(
            "UPDATE approvals SET status = ?, claim = ?, claimed_at = ?, lease_until = ?,"
            " audit_seq = ? WHERE decision_id = ? AND status = ?",
            (APPROVING, token, now, lease_until, audit_seq, decision_id, PENDING),
        )
        return cursor.rowcount == 1

    def take_over(
        self, decision_id: str, old: str, token: str, now: float, lease_until: float,
        lapsed_by: float,
    ) -> bool:  # fmt: skip
        cursor = self._run(
            "UPDATE approvals SET claim = ?, claimed_at = ?, lease_until = ?"
            " WHERE decision_id = ? AND status = ? AND claim = ?"
            " AND COALESCE(lease_until, 0) <= ?",
            (token, now, lease_until, decision_id, APPROVING, old, lapsed_by),
        )
        return cursor.rowcount == 1

    def lapsed(self, now: float, limit: int) -> list[str]:
        rows = self._rows(
            "SELECT decision_id FROM approvals WHERE status = ? AND COALESCE(lease_until, 0) <= ?"
            " ORDER BY created_at LIMIT ?",
            (APPROVING, now, limit),
        )
        return [str(r[0]) for r in rows]

    def held_by(self, prefix: str, limit: int) -> list[str]:
        rows = self._rows(
            "SELECT decision_id FROM approvals WHERE status = ? AND substr(claim, 1, ?) = ?"
            " ORDER BY created_at LIMIT ?",
            (APPROVING, len(prefix), prefix, limit),
        )
        return [str(r[0]) for r in rows]

    def release(self, decision_id: str, token: str) -> None:
        self._run(
            "UPDATE approvals SET status = ?, claim = NULL, claimed_at = NULL,"
            " lease_until = NULL, audit_seq = NULL WHERE decision_id = ? AND status = ?"
            " AND claim = ?",
            (PENDING, decision_id, APPROVING, token),
        )

    def settle(self, decision_id: str, token: str, status: str, outcome: dict[str, Any]) -> bool:
        cursor = self._run(
            "UPDATE approvals SET status = ?, outcome = ?"
            " WHERE decision_id = ? AND status = ? AND claim = ?",
            (status, dump_json(outcome), decision_id, APPROVING, token),
        )
        return cursor.rowcount == 1

    def statuses(self, decision_ids: Sequence[str]) -> dict[str, tuple[str, float]]:
        rows = self._rows(
            "SELECT decision_id, status, expires_at FROM approvals"
            " WHERE decision_id IN (SELECT value FROM json_each(?))",
            (dump_json(list(decision_ids)),),
        )
        return {str(did): (str(status), float(expires)) for did, status, expires in rows}

    def due(self, now: float, limit: int) -> list[str]:
        rows = self._rows(
            "SELECT decision_id FROM approvals WHERE status = ? AND expires_at <= ?"
            " ORDER BY expires_at LIMIT ?",
            (PENDING, now, limit),
        )
        return [str(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def location_for(audit_location: str) -> str:
    """Where the approvals of the runner whose audit log is at ``audit_location`` live
    (``audit.approvals.db`` next to a SQLite log, else the PostgreSQL schema)."""
    return companion(audit_location, "approvals")


def files_of(audit_location: str) -> tuple[str, ...]:
    """The local files of the approvals store (the runner's gate protects them)."""
    return companion_files(audit_location, "approvals")


def dump_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


__all__ = [
    "APPROVED", "APPROVING", "EXPIRED", "PENDING", "REJECTED", "SETTLED", "ApprovalRow",
    "ApprovalStore", "SQLiteApprovals", "dump_json", "files_of", "location_for",
]  # fmt: skip
