"""The rest of a runner's state, shared by every replica: versions, spend, sessions.

Everything a decision depends on that is not in the signed stack lives in one
store, so N runners behind a load balancer behave as one (docs/runner.md,
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

The store (:mod:`.state_store`) has two backends behind one interface: SQLite
(the embedded single-node default, ``…/audit.state.db`` next to the SQLite audit
log) and PostgreSQL (:mod:`.state_pg`, tables in the audit store's schema);
:func:`open_state` picks one from the audit location.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from charter.audit.stores import POSTGRES_SCHEMES
from charter.core import extras
from charter.core.errors import CharterError, InputError, RollbackError
from charter.runner.state_store import (
    SESSIONS_PER_PRINCIPAL,
    SharedState,
    SQLiteState,
    files_of,
    location_for,
)
from charter.trust.versions import Accepted, VersionState, check_transition, parse_version

#: Longest spend id and run id accepted.
MAX_ID = 128

_ID = re.compile(rf"[^\x00-\x1f\x7f]{{1,{MAX_ID}}}")


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

    def publish(self) -> int:
        """Copy into the store the versions this replica accepted before it shared one
        (its state directory) where they are newer, so every replica refuses what this
        one refuses; how many were copied."""
        copied = 0
        for key, entry in self._read().items():
            if not isinstance(entry, dict) or "version" not in entry:
                continue
            version, digest = str(entry["version"]), str(entry.get("content_digest", ""))
            before = self.store.accepted(key)
            try:
                # This replica accepted it (a major step with the operator's consent).
                after = self.store.accept(key, version, digest, self.replica, allow_major=True)
            except RollbackError:
                continue  # the store holds a newer version (or other content for it)
            copied += after != before
        return copied


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
    "SESSIONS_PER_PRINCIPAL", "SQLiteState", "SharedBudget", "SharedState", "SharedVersions",
    "files_of", "location_for", "open_state", "session_key",
]  # fmt: skip
