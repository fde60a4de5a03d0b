"""The embedded audit store: one SQLite file in WAL mode.

Appends go through :class:`charter.audit.commit.GroupCommit`; each batch is
one ``BEGIN IMMEDIATE`` transaction with ``synchronous=FULL``, which also moves
the head anchor (see :mod:`charter.audit.chain`). A read-only store (to verify
or export) is opened with ``mode=ro`` and never creates anything.
:meth:`SQLiteStore.snapshot` reads through a connection of its own in one read
transaction, which WAL mode keeps at one snapshot while the writer commits.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from charter.audit.chain import GENESIS, chain_batch, paged_records
from charter.audit.commit import GroupCommit, GroupCommitted, Pending
from charter.core.errors import AuditError

#: Records read per query by :meth:`SQLiteStore.records`.


class SQLiteStore(GroupCommitted):
    """The embedded default: one SQLite file in WAL mode."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        """Open (and create, unless ``read_only``) the log at ``path``.

        A read-only store never creates or changes anything: the file is opened
        with SQLite's ``mode=ro`` and must already hold an audit log.
        """
        self.path = Path(path).expanduser()
        self.location = str(self.path)
        self._group = GroupCommit(self._write_batch)
        self._lock = self._group.write_lock
        try:
            self._db = self._open_read_only() if read_only else self._open_writable()
        except sqlite3.Error as exc:
            hint = (
                "pass the --store a runner or charter gate writes to"
                if read_only
                else "point --audit or $CHARTER_AUDIT at a writable location"
            )
            message = f"{self.path}: cannot open the audit store ({exc})"
            raise AuditError(message, hint=hint) from exc

    def _open_writable(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AuditError(
                f"{self.path}: cannot create the audit store's directory ({exc.strerror})",
                hint="point --audit or $CHARTER_AUDIT at a writable location",
            ) from exc
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        legacy = not _tables(db) >= {"head"}
        db.execute(
            "CREATE TABLE IF NOT EXISTS audit ("
            " seq INTEGER PRIMARY KEY, decision_id TEXT NOT NULL, hash TEXT NOT NULL,"
            " record TEXT NOT NULL)"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS head ("
            " id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL,"
            " hash TEXT NOT NULL)"
        )
        if legacy:
            # A log written before the anchor existed gets one at its current end
            # (only then: a deleted anchor is not silently re-created).
            db.execute(
                "INSERT OR IGNORE INTO head (id, seq, hash) SELECT 1, seq, hash FROM audit"
                " WHERE seq = (SELECT MAX(seq) FROM audit)"
            )
        return db

    def _open_read_only(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise AuditError(f"{self.path}: no such audit store", hint="pass --store PATH_OR_URL")
        uri = self.path.resolve().as_uri() + "?mode=ro"
        db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        missing = {"audit", "head"} - _tables(db)
        if missing:
            db.close()
            raise AuditError(
                f"{self.path}: not an audit log (no {' or '.join(sorted(missing))} table)",
                hint="pass the --store a runner or charter gate writes to",
            )
        return db

    def _write_batch(self, batch: list[Pending]) -> None:
        try:
            # BEGIN IMMEDIATE takes the write lock first, so two processes
            # appending to one file cannot both read the same chain head.
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, prev = (row[0], row[1]) if row else (0, GENESIS)
            rows, seq, prev = chain_batch(batch, seq, prev)
            self._db.executemany(
                "INSERT INTO audit (seq, decision_id, hash, record) VALUES (?, ?, ?, ?)", rows
            )
            self._db.execute(
                "INSERT INTO head (id, seq, hash) VALUES (1, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                (seq, prev),
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            for item in batch:
                item.record = None
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise AuditError(f"{self.path}: cannot append to the audit log ({exc})") from exc
        except BaseException:
            for item in batch:
                item.record = None
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def records(self, after: int = 0) -> Iterator[dict[str, Any]]:
        """The records in chain order, those numbered above ``after`` only.

        Read a page at a time (the lock is not held between pages), so reading
        the first record, or walking a long log, never loads all of it at once.
        """
        return _records(self._db, self._lock, after)

    def head(self) -> tuple[int, str] | None:
        return _head(self._db, self._lock)

    @contextmanager
    def snapshot(self) -> Iterator[SQLiteSnapshot]:
        """The anchor and records as of one moment: a read transaction on a
        read-only connection of its own (the writer's is never held)."""
        try:
            db = sqlite3.connect(
                self.path.resolve().as_uri() + "?mode=ro",
                uri=True,
                check_same_thread=False,
                isolation_level=None,
            )
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: cannot read the audit log ({exc})") from exc
        try:
            db.execute("BEGIN")
            # The first read starts the snapshot, before anything is handed out.
            db.execute("SELECT COUNT(*) FROM head").fetchone()
            yield SQLiteSnapshot(db)
        finally:
            db.close()

    def count(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM audit").fetchone()
        return int(row[0])

    def has_decision(self, decision_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM audit WHERE decision_id = ? LIMIT 1", (decision_id,)
            ).fetchone()
        return row is not None

    def close(self) -> None:
        self._group.stop()
        with self._lock:
            self._db.close()


class SQLiteSnapshot:
    """Reads in one read transaction (see :meth:`SQLiteStore.snapshot`)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def head(self) -> tuple[int, str] | None:
        return _head(self._db, nullcontext())

    def records(self, after: int = 0) -> Iterator[dict[str, Any]]:
        return _records(self._db, nullcontext(), after)


def _head(
    db: sqlite3.Connection, lock: threading.Lock | AbstractContextManager[None]
) -> tuple[int, str] | None:
    with lock:
        row = db.execute("SELECT seq, hash FROM head WHERE id = 1").fetchone()
    return (int(row[0]), str(row[1])) if row else None


def _records(
    db: sqlite3.Connection, lock: threading.Lock | AbstractContextManager[None], after: int
) -> Iterator[dict[str, Any]]:
    def fetch(last: int, limit: int) -> list[tuple[Any, ...]]:
        with lock:
            return db.execute(
                "SELECT seq, record FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
                (last, limit),
            ).fetchall()

    return paged_records(fetch, after)


def _tables(db: sqlite3.Connection) -> set[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(row[0]) for row in rows}


__all__ = ["SQLiteSnapshot", "SQLiteStore"]
