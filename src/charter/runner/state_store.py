"""The store of a runner's shared state: accepted versions, spend, console sessions.

One interface (:class:`SharedState`), two backends: :class:`SQLiteState` (the
embedded single-node default, ``…/audit.state.db`` next to a SQLite audit log)
and :class:`charter.runner.state_pg.PostgresState` (tables in the audit store's
PostgreSQL schema). Each method is one transaction; a check-then-write step is
serialised against other writers (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an
advisory lock on what it is about). What the state is for, and how the runner
uses it: :mod:`charter.runner.shared_state`. Times are seconds since the epoch (UTC).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from charter.audit.stores import companion, companion_files
from charter.core.errors import AuditError
from charter.trust.versions import Accepted, check_transition

#: Spends older than this are dropped (as the local budget file keeps them).
KEEP_SPEND = timedelta(days=35).total_seconds()
#: Console sessions one principal may hold at once (the oldest are closed first).
SESSIONS_PER_PRINCIPAL = 50
#: One statement: (SQL with ``?`` marks and ``{table}`` names, parameters) -> rows.
Run = Callable[[str, Sequence[Any]], list[Any]]

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {versions} (layer_key TEXT PRIMARY KEY, version TEXT NOT NULL,"
    " content_digest TEXT NOT NULL, accepted_at TEXT NOT NULL, replica TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {spend} (spend_id TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL,"
    " cost DOUBLE PRECISION NOT NULL, run TEXT, principal TEXT NOT NULL, replica TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS spend_at ON {spend} (at)",
    "CREATE INDEX IF NOT EXISTS spend_run ON {spend} (run, at)",
    "CREATE TABLE IF NOT EXISTS {sessions} (session_key TEXT PRIMARY KEY,"
    " principal TEXT NOT NULL, role TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,"
    " expires_at DOUBLE PRECISION NOT NULL, idle_until DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS sessions_expiry ON {sessions} (expires_at)",
    "CREATE INDEX IF NOT EXISTS sessions_principal ON {sessions} (principal, created_at)",
)


@dataclass(frozen=True)
class SessionRow:
    """One console session, as stored (the key is the SHA-256 of the browser's id)."""

    principal: str
    role: str
    created_at: float
    expires_at: float
    idle_until: float


class SharedState(ABC):
    """Versions, spend and sessions of every replica; each method is one transaction."""

    location: str

    @abstractmethod
    def _transaction(self) -> contextlib.AbstractContextManager[Run]:
        """Run several statements as one transaction (serialised against other writers)."""

    @abstractmethod
    def close(self) -> None: ...

    def _one(self, text: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._transaction() as run:
            return run(text, params)

    # ------------------------------------------------------------- versions
    def accepted(self, key: str) -> Accepted | None:
        rows = self._one(
            "SELECT version, content_digest, accepted_at FROM {versions} WHERE layer_key = ?",
            (key,),
        )
        return Accepted(str(rows[0][0]), str(rows[0][1]), str(rows[0][2])) if rows else None

    def accept(
        self, key: str, version: str, content_digest: str, replica: str, *, allow_major: bool
    ) -> Accepted:
        """Check ``version`` against the one accepted and record it, in one transaction."""
        with self._transaction() as run:
            self._lock_key(run, f"version:{key}")
            rows = run(
                "SELECT version, content_digest, accepted_at FROM {versions} WHERE layer_key = ?",
                (key,),
            )
            previous = Accepted(str(rows[0][0]), str(rows[0][1]), str(rows[0][2])) if rows else None
            check_transition(key, previous, version, content_digest, allow_major=allow_major)
            if previous is not None and previous.version == version:
                return previous
            accepted = Accepted(version, content_digest, datetime.now(UTC).isoformat())
            if previous is None:
                run(
                    "INSERT INTO {versions} (layer_key, version, content_digest, accepted_at,"
                    " replica) VALUES (?, ?, ?, ?, ?)",
                    (key, version, content_digest, accepted.accepted_at, replica),
                )
            else:
                run(
                    "UPDATE {versions} SET version = ?, content_digest = ?, accepted_at = ?,"
                    " replica = ? WHERE layer_key = ?",
                    (version, content_digest, accepted.accepted_at, replica, key),
                )
            return accepted

    def versions(self) -> dict[str, dict[str, str]]:
        """Every accepted version: layer key -> version, digest, when and by which replica."""
        rows = self._one(
            "SELECT layer_key, version, content_digest, accepted_at, replica FROM {versions}"
            " ORDER BY layer_key"
        )
        return {str(k): {"version": str(v), "content_digest": str(d), "accepted_at": str(a),
                         "replica": str(r)} for k, v, d, a, r in rows}  # fmt: skip

    def _lock_key(self, run: Run, name: str) -> None:  # noqa: B027 - SQLite needs nothing more
        """Serialise transactions about ``name`` (PostgreSQL: an advisory lock)."""

    # ---------------------------------------------------------------- spend
    def add_spend(
        self, spend_id: str, at: float, cost: float, run_id: str | None, principal: str,
        replica: str,
    ) -> bool:  # fmt: skip
        """Record a spend once: False if a spend with this id was recorded before."""
        with self._transaction() as run:
            self._lock_key(run, f"spend:{spend_id}")
            if run("SELECT 1 FROM {spend} WHERE spend_id = ?", (spend_id,)):
                return False
            run(
                "INSERT INTO {spend} (spend_id, at, cost, run, principal, replica)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (spend_id, at, cost, run_id, principal, replica),
            )
            run("DELETE FROM {spend} WHERE at < ?", (at - KEEP_SPEND,))
            return True

    def spent_since(self, since: float) -> float:
        rows = self._one("SELECT COALESCE(SUM(cost), 0) FROM {spend} WHERE at >= ?", (since,))
        return float(rows[0][0])

    def spent_run(self, run_id: str) -> float:
        rows = self._one("SELECT COALESCE(SUM(cost), 0) FROM {spend} WHERE run = ?", (run_id,))
        return float(rows[0][0])

    # ------------------------------------------------------------- sessions
    def open_session(self, key: str, principal: str, role: str, now: float, ttl: float,
                     idle: float, keep: int = SESSIONS_PER_PRINCIPAL) -> None:  # fmt: skip
        """Store a new session (and forget expired ones, and this principal's oldest
        past ``keep``)."""
        with self._transaction() as run:
            run("DELETE FROM {sessions} WHERE expires_at <= ? OR idle_until <= ?", (now, now))
            run(
                "INSERT INTO {sessions} (session_key, principal, role, created_at, expires_at,"
                " idle_until) VALUES (?, ?, ?, ?, ?, ?)",
                (key, principal, role, now, now + ttl, min(now + ttl, now + idle)),
            )
            run(
                "DELETE FROM {sessions} WHERE principal = ? AND session_key NOT IN"
                " (SELECT session_key FROM {sessions} WHERE principal = ?"
                " ORDER BY created_at DESC, session_key LIMIT ?)",
                (principal, principal, keep),
            )

    def session(self, key: str, now: float) -> SessionRow | None:
        """The live session stored under ``key`` (an expired one is deleted), else None."""
        rows = self._one(
            "SELECT principal, role, created_at, expires_at, idle_until FROM {sessions}"
            " WHERE session_key = ?",
            (key,),
        )
        if not rows:
            return None
        row = SessionRow(str(rows[0][0]), str(rows[0][1]), *(float(x) for x in rows[0][2:]))
        if now >= row.expires_at or now >= row.idle_until:
            self.close_session(key)
            return None
        return row

    def touch_session(self, key: str, idle_until: float) -> None:
        self._one(
            "UPDATE {sessions} SET idle_until = ? WHERE session_key = ? AND idle_until < ?",
            (idle_until, key, idle_until),
        )

    def close_session(self, key: str) -> None:
        self._one("DELETE FROM {sessions} WHERE session_key = ?", (key,))

    def close_sessions_of(self, principal: str) -> int:
        """Revoke every session of ``principal``; how many there were."""
        with self._transaction() as run:
            rows = run("SELECT COUNT(*) FROM {sessions} WHERE principal = ?", (principal,))
            run("DELETE FROM {sessions} WHERE principal = ?", (principal,))
            return int(rows[0][0])

    def session_count(self, now: float) -> int:
        rows = self._one(
            "SELECT COUNT(*) FROM {sessions} WHERE expires_at > ? AND idle_until > ?", (now, now)
        )
        return int(rows[0][0])


class SQLiteState(SharedState):
    """The embedded default: one SQLite file (WAL, ``synchronous=FULL``); several
    processes may share it (``BEGIN IMMEDIATE`` serialises writers)."""

    NAMES = {"versions": "accepted_versions", "spend": "spend", "sessions": "console_sessions"}

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
            for statement in SCHEMA:
                self._db.execute(self._sql(statement.replace("DOUBLE PRECISION", "REAL")))
        except (OSError, sqlite3.Error) as exc:
            raise AuditError(
                f"{self.path}: cannot open the shared state store ({exc})",
                hint="the state file lives next to the audit database; make it writable",
            ) from exc

    def _sql(self, text: str) -> str:
        return text.format(**self.NAMES)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Run]:
        def run(text: str, params: Sequence[Any] = ()) -> list[Any]:
            return self._db.execute(self._sql(text), params).fetchall()

        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise AuditError(f"{self.path}: the shared state store failed ({exc})") from exc
            try:
                yield run
            except BaseException as exc:
                self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise AuditError(f"{self.path}: the shared state store failed ({exc})") from exc
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise AuditError(f"{self.path}: the shared state store failed ({exc})") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()


# ------------------------------------------------------------------ locations
def location_for(audit_location: str) -> str:
    """Where the shared state of the runner whose audit log is at ``audit_location`` lives
    (``audit.state.db`` next to a SQLite log, else the PostgreSQL schema)."""
    return companion(audit_location, "state")


def files_of(audit_location: str) -> tuple[str, ...]:
    """The local files of the shared state store (the runner's gate protects them)."""
    return companion_files(audit_location, "state")


__all__ = [
    "KEEP_SPEND", "SCHEMA", "SESSIONS_PER_PRINCIPAL", "Run", "SQLiteState", "SessionRow",
    "SharedState", "files_of", "location_for",
]  # fmt: skip
