"""The rest of a runner's state, shared by every replica: versions, spend, sessions.

Everything a decision depends on that is not in the signed stack lives in one
store, so N runners behind a load balancer behave as one (docs/design.md,
'Many replicas, one state'):

- **accepted versions** (``accepted_versions``): the highest version of every
  layer any replica accepted (bundles and agent-runtime constitutions). A replica
  checks a layer against it before serving it, so a version older than one any
  replica accepted is refused everywhere, also after a restart
  (:class:`SharedVersions`, a :class:`~charter.trust.versions.VersionState`).
  The check and the write are one transaction.
- **spend** (``spend``): API spend recorded through any replica (``POST
  /v1/spend``), counted by every replica's gate against the constitution's
  ``max_api_cost_per_day`` (:class:`SharedBudget`). A spend carries an id, so a
  client retrying after a lost answer never counts it twice.
- **console sessions** (``console_sessions``): a session made on one replica
  works on every other, until it expires, idles out or is revoked. Only the
  SHA-256 of the id the browser holds is stored; the CSRF token is derived from
  that id, never stored.

Waivers need no shared state: a waiver is a signed file whose expiry is judged
at each decision's time; nothing counts its uses.

Two backends share this interface: :class:`SQLiteState` (the embedded
single-node default, ``…/audit.state.db`` next to the SQLite audit log) and
:class:`charter.runner.state_pg.PostgresState` (tables in the audit store's
PostgreSQL schema). Times are seconds since the epoch (UTC).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from charter.audit.stores import POSTGRES_SCHEMES
from charter.core import extras
from charter.core.errors import AuditError, CharterError, InputError
from charter.trust.versions import Accepted, VersionState, check_transition, parse_version

#: Spends older than this are dropped (as the local budget file keeps them).
KEEP_SPEND = timedelta(days=35).total_seconds()
#: Console sessions one principal may hold at once (the oldest are closed first).
SESSIONS_PER_PRINCIPAL = 50
#: Longest spend id and run id accepted.
MAX_ID = 128

_ID = re.compile(rf"[^\x00-\x1f\x7f]{{1,{MAX_ID}}}")
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
    """Where the shared state of the runner whose audit log is at ``audit_location`` lives:
    the same PostgreSQL schema, or ``…/audit.state.db`` next to a SQLite log."""
    if audit_location.startswith(POSTGRES_SCHEMES):
        return audit_location
    path = Path(audit_location)
    return str(path.with_name(f"{path.stem}.state.db"))


def files_of(audit_location: str) -> tuple[str, ...]:
    """The local files of the state store (the runner's gate protects them)."""
    where = location_for(audit_location)
    if where.startswith(POSTGRES_SCHEMES):
        return ()
    return tuple(where + suffix for suffix in ("", "-wal", "-shm", "-journal"))


def open_state(audit_location: str) -> SharedState:
    """The shared state store that goes with the audit store at ``audit_location``."""
    where = location_for(audit_location)
    if where.startswith(POSTGRES_SCHEMES):
        # psycopg is an optional extra (charter[postgres]); only a URL needs it.
        extras.require("a PostgreSQL state store", "psycopg")
        from charter.runner.state_pg import PostgresState

        return PostgresState(where)
    return SQLiteState(where)


# ------------------------------------------------------------------- versions
class SharedVersions(VersionState):
    """Accepted versions kept in the shared store *and* the local state directory.

    A version is checked against the higher of the two (so a replica refuses a
    version older than one any replica accepted, and one older than it accepted
    itself before the store was configured), and recorded in both: the store
    first, in one transaction that checks it again.
    """

    def __init__(self, directory: str | Path, store: SharedState, replica: str) -> None:
        super().__init__(directory)
        self.store = store
        self.replica = replica

    def get(self, key: str) -> Accepted | None:
        return _newer(super().get(key), self.store.accepted(key), key)

    def accept(
        self, key: str, version: str, content_digest: str, *, allow_major: bool = False
    ) -> Accepted:
        check_transition(key, super().get(key), version, content_digest, allow_major=allow_major)
        accepted = self.store.accept(
            key, version, content_digest, self.replica, allow_major=allow_major
        )
        super().accept(key, version, content_digest, allow_major=allow_major)
        return accepted


def _newer(local: Accepted | None, shared: Accepted | None, key: str) -> Accepted | None:
    if local is None or shared is None:
        return shared or local
    if parse_version(local.version, key) > parse_version(shared.version, key):
        return local
    return shared


# --------------------------------------------------------------------- budget
class SharedBudget:
    """The gate's view of the spend of every replica (a
    :class:`charter.actions.gate.BudgetView`).

    Totals are read from the store at most every ``interval`` seconds (each
    action decision asks; the store is not asked for each), and at once after a
    spend recorded through this replica, so a spend recorded on another replica
    counts here within ``interval``. A store that cannot be read counts as
    spent (fail closed).
    """

    def __init__(
        self, store: SharedState, replica: str, *, interval: float = 1.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.replica = replica
        self.interval = interval
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        #: (fresh until, on the monotonic clock; today's total)
        self._today: tuple[float, float] | None = None
        self._runs: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def record(
        self, cost: float, run_id: str | None, principal: str, spend_id: str | None = None
    ) -> dict[str, Any]:
        """Record a spend (once per ``spend_id``); the totals after it."""
        if isinstance(cost, bool) or not isinstance(cost, int | float):
            raise InputError(f"cost: must be a number, got {cost!r}")
        if not math.isfinite(cost) or cost < 0:
            raise InputError(f"cost: must be a finite non-negative number, got {cost!r}")
        for name, value in (("run", run_id), ("id", spend_id)):
            if value is not None and not _ID.fullmatch(value):
                raise InputError(
                    f"{name}: must be 1 to {MAX_ID} printable characters",
                    hint="e.g. a UUID; no control characters",
                )
        now = self._clock().timestamp()
        key = spend_id or f"{self.replica}:{time.time_ns()}:{id(self)}"
        # The spend id is scoped to its principal: one client cannot cancel another's.
        stored = hashlib.sha256(f"{principal}\n{key}".encode()).hexdigest()
        added = self.store.add_spend(stored, now, float(cost), run_id, principal, self.replica)
        self._today = None
        with self._lock:
            if run_id is not None:
                self._runs.pop(run_id, None)
        return {"recorded": added, "duplicate": not added, "cost": float(cost), "run": run_id,
                "spent_today": round(self.spent_today(), 6),
                "spent_run": round(self.spent_run(run_id), 6) if run_id else None}  # fmt: skip

    def spent_today(self) -> float:
        # The gate asks at every action decision: a cached total costs one monotonic read.
        cached = self._today
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        moment = self._clock()
        start = datetime(moment.year, moment.month, moment.day, tzinfo=UTC).timestamp()
        try:
            total = self.store.spent_since(start)
        except CharterError:
            return math.inf  # unreadable: counts as spent
        # Fresh for the interval, and never past the end of this UTC day.
        fresh = min(self.interval, start + 86400 - moment.timestamp())
        self._today = (time.monotonic() + fresh, total)
        return total

    def spent_run(self, run_id: str | None = None) -> float:
        if run_id is None:
            return 0.0
        now = self._clock().timestamp()
        with self._lock:
            cached = self._runs.get(run_id)
            if cached is not None and now - cached[0] < self.interval:
                return cached[1]
        try:
            total = self.store.spent_run(run_id)
        except CharterError:
            return math.inf
        with self._lock:
            self._runs[run_id] = (now, total)
            while len(self._runs) > 1024:
                self._runs.popitem(last=False)
        return total

    def summary(self) -> dict[str, Any]:
        return {"store": self.store.location, "spent_today": round(self.spent_today(), 6),
                "refresh_seconds": self.interval}  # fmt: skip


def session_key(sid: str) -> str:
    """What is stored for a session id: its SHA-256 (hex)."""
    return hashlib.sha256(sid.encode("utf-8", "surrogatepass")).hexdigest()


__all__ = [
    "SQLiteState", "SessionRow", "SharedBudget", "SharedState", "SharedVersions", "files_of",
    "location_for", "open_state", "session_key",
]  # fmt: skip
