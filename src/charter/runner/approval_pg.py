"""Pending approvals in PostgreSQL, shared by every runner on one database.

The ``approvals`` table lives in the audit store's schema (the URL's
``schema`` parameter, default ``charter``). Every step of
:class:`charter.runner.approval_store.ApprovalStore` is one statement in its
own transaction (autocommit, ``synchronous_commit = on``), and each state
change is an ``UPDATE … WHERE status = …`` compare-and-set, so replicas
approving the same ``ask`` at once see exactly one winner.

New asks are group committed (:meth:`PostgresApprovals.add`): each caller
queues its row and waits; the store's flusher thread inserts every row queued
so far in one ``INSERT … VALUES (…), (…)`` (one transaction, one commit), then
wakes each caller of the batch at once (waiting on the flusher, not on a lock
handed from caller to caller, costs one wake-up instead of one per caller). A
caller returns only once the transaction holding its row has committed, so
nothing acknowledged is lost. A batch the server refuses
for one row's sake (say, a NUL byte in untrusted text) is written again row by
row, so only that ask fails. This module needs
psycopg (the ``charter[postgres]`` extra); only
:func:`charter.runner.approval_store.open_approvals` imports it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from charter.audit.postgres import connect, first_line, redact_url, split_url
from charter.core.errors import AuditError
from charter.runner.approval_store import (
    APPROVING,
    COLUMNS,
    PENDING,
    ApprovalRow,
    ApprovalStore,
    dump_json,
)

#: Most rows one batched ``INSERT`` carries (17 parameters each; PostgreSQL allows 65535).
MAX_BATCH = 256


@dataclass(eq=False)
class _Queued:
    """One ask waiting for the batch that writes it."""

    row: ApprovalRow
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class PostgresApprovals(ApprovalStore):
    """The ``approvals`` table of one PostgreSQL schema."""

    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        self.location = redact_url(url)
        self._dsn, self.schema = split_url(url)
        self._timeout = connect_timeout
        self._lock = threading.Lock()
        #: Asks queued for the next batch, and the flusher thread that writes them.
        self._queue: list[_Queued] = []
        self._queued = threading.Condition()
        self._flusher: threading.Thread | None = None
        self._closed = False
        #: Batches written, and rows in them (for tests and the bench).
        self.batches = 0
        self.batched_rows = 0
        self._conn = self._connect()
        try:
            self._setup()
        except BaseException:
            self._conn.close()
            raise

    def _connect(self) -> psycopg.Connection[Any]:
        return connect(self._dsn, self._timeout, self.location, "approvals")

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(
            schema=sql.Identifier(self.schema),
            table=sql.Identifier(self.schema, "approvals"),
            columns=sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS),
        )

    def _setup(self) -> None:
        try:
            with self._conn.transaction():
                # The audit store takes the same lock to create the schema.
                self._conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"charter:{self.schema}",)
                )
                self._conn.execute(self._q("CREATE SCHEMA IF NOT EXISTS {schema}"))
                self._conn.execute(
                    self._q(
                        "CREATE TABLE IF NOT EXISTS {table} ("
                        " decision_id TEXT PRIMARY KEY, status TEXT NOT NULL, kind TEXT NOT NULL,"
                        " requester TEXT NOT NULL, author TEXT, subject TEXT NOT NULL,"
                        " reasons TEXT NOT NULL, stack TEXT NOT NULL,"
                        " input_digest TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,"
                        " expires_at DOUBLE PRECISION NOT NULL, replica TEXT NOT NULL,"
                        " claim TEXT, claimed_at DOUBLE PRECISION, outcome TEXT,"
                        " lease_until DOUBLE PRECISION, audit_seq BIGINT)"
                    )
                )
                # Tables made before claims were leases gain the two columns (looked up
                # first: an ALTER would lock the table against the replicas serving).
                have = self._conn.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = %s AND table_name = 'approvals'",
                    (self.schema,),
                ).fetchall()
                if "lease_until" not in {str(r[0]) for r in have}:
                    self._conn.execute(
                        self._q(
                            "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS lease_until"
                            " DOUBLE PRECISION, ADD COLUMN IF NOT EXISTS audit_seq BIGINT"
                        )
                    )
                self._conn.execute(
                    self._q(
                        "CREATE INDEX IF NOT EXISTS approvals_open ON {table} (status, created_at)"
                    )
                )
        except psycopg.Error as exc:
            raise AuditError(
                f"{self.location}: cannot prepare the approvals table ({first_line(exc)})"
            ) from exc

    def _execute(self, query: sql.Composed, params: Sequence[Any] = ()) -> tuple[int, list[Any]]:
        """Run one statement: (rows changed, rows returned). One reconnect on a broken link."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn.closed or self._conn.broken:
                        self._conn = self._connect()
                    cursor = self._conn.execute(query, params)
                    rows = cursor.fetchall() if cursor.description is not None else []
                    return cursor.rowcount, rows
                except psycopg.OperationalError as exc:
                    if attempt == 2 or not self._conn.broken:
                        raise AuditError(
                            f"{self.location}: the approvals store failed ({first_line(exc)})"
                        ) from exc
                except psycopg.Error as exc:
                    raise AuditError(
                        f"{self.location}: the approvals store failed ({first_line(exc)})"
                    ) from exc
        raise AssertionError("unreachable")

    def add(self, row: ApprovalRow) -> None:
        """Store ``row``, returning once its transaction committed (group committed)."""
        entry = _Queued(row)
        with self._queued:
            if self._closed:
                raise AuditError(f"{self.location}: the approvals store is closed")
            self._queue.append(entry)
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=self._flush_loop, name="charter-asks-flush", daemon=True
                )
                self._flusher.start()
            self._queued.notify()
        entry.done.wait()
        if entry.error is not None:
            raise entry.error

    def _flush_loop(self) -> None:
        """Write what is queued, a batch at a time, until closed and drained."""
        while True:
            with self._queued:
                while not self._queue and not self._closed:
                    self._queued.wait()
                if not self._queue:
                    return
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            self._write(batch)

    def _write(self, batch: list[_Queued]) -> None:
        """Insert ``batch`` in one statement; if the server refuses it, each row alone."""
        try:
            self._insert([item.row for item in batch])
        except AuditError as exc:
            if len(batch) == 1 or self._conn.broken or self._conn.closed:
                for item in batch:
                    item.error = exc
            else:
                for item in batch:
                    try:
                        self._insert([item.row])
                    except AuditError as alone:
                        item.error = alone
        except BaseException as exc:
            for item in batch:
                item.error = exc
        finally:
            for item in batch:
                item.done.set()

    def _insert(self, rows: list[ApprovalRow]) -> None:
        one = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() for _ in COLUMNS))
        query = sql.SQL("INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT DO NOTHING")
        self._execute(
            query.format(
                table=sql.Identifier(self.schema, "approvals"),
                columns=sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS),
                values=sql.SQL(", ").join([one] * len(rows)),
            ),
            [value for row in rows for value in row.values()],
        )
        self.batches += 1
        self.batched_rows += len(rows)

    def get(self, decision_id: str) -> ApprovalRow | None:
        _, rows = self._execute(
            self._q("SELECT {columns} FROM {table} WHERE decision_id = %s"), (decision_id,)
        )
        return ApprovalRow.from_values(rows[0]) if rows else None

    def open_rows(self, limit: int) -> list[ApprovalRow]:
        _, rows = self._execute(
            self._q(
                "SELECT {columns} FROM {table} WHERE status IN (%s, %s)"
                " ORDER BY created_at, decision_id LIMIT %s"
            ),
            (PENDING, APPROVING, limit),
        )
        return [ApprovalRow.from_values(r) for r in rows]

    def claim(
        self, decision_id: str, token: str, now: float, lease_until: float, audit_seq: int
    ) -> bool:
        changed, _ = self._execute(
            self._q(
                "UPDATE {table} SET status = %s, claim = %s, claimed_at = %s, lease_until = %s,"
                " audit_seq = %s WHERE decision_id = %s AND status = %s"
            ),
            (APPROVING, token, now, lease_until, audit_seq, decision_id, PENDING),
        )
        return changed == 1

    def take_over(
        self, decision_id: str, old: str, token: str, now: float, lease_until: float,
        lapsed_by: float,
    ) -> bool:  # fmt: skip
        changed, _ = self._execute(
            self._q(
                "UPDATE {table} SET claim = %s, claimed_at = %s, lease_until = %s"
                " WHERE decision_id = %s AND status = %s AND claim = %s"
                " AND COALESCE(lease_until, 0) <= %s"
            ),
            (token, now, lease_until, decision_id, APPROVING, old, lapsed_by),
        )
        return changed == 1

    def lapsed(self, now: float, limit: int) -> list[str]:
        _, rows = self._execute(
            self._q(
                "SELECT decision_id FROM {table} WHERE status = %s"
                " AND COALESCE(lease_until, 0) <= %s ORDER BY created_at LIMIT %s"
            ),
            (APPROVING, now, limit),
        )
        return [str(r[0]) for r in rows]

    def held_by(self, prefix: str, limit: int) -> list[str]:
        _, rows = self._execute(
            self._q(
                "SELECT decision_id FROM {table} WHERE status = %s"
                " AND left(claim, %s) = %s ORDER BY created_at LIMIT %s"
            ),
            (APPROVING, len(prefix), prefix, limit),
        )
        return [str(r[0]) for r in rows]

    def release(self, decision_id: str, token: str) -> None:
        self._execute(
            self._q(
                "UPDATE {table} SET status = %s, claim = NULL, claimed_at = NULL,"
                " lease_until = NULL, audit_seq = NULL WHERE decision_id = %s AND status = %s"
                " AND claim = %s"
            ),
            (PENDING, decision_id, APPROVING, token),
        )

    def settle(self, decision_id: str, token: str, status: str, outcome: dict[str, Any]) -> bool:
        changed, _ = self._execute(
            self._q(
                "UPDATE {table} SET status = %s, outcome = %s"
                " WHERE decision_id = %s AND status = %s AND claim = %s"
            ),
            (status, dump_json(outcome), decision_id, APPROVING, token),
        )
        return changed == 1

    def statuses(self, decision_ids: Sequence[str]) -> dict[str, tuple[str, float]]:
        if not decision_ids:
            return {}
        _, rows = self._execute(
            self._q(
                "SELECT decision_id, status, expires_at FROM {table} WHERE decision_id = ANY(%s)"
            ),
            (list(decision_ids),),
        )
        return {str(did): (str(status), float(expires)) for did, status, expires in rows}

    def due(self, now: float, limit: int) -> list[str]:
        _, rows = self._execute(
            self._q(
                "SELECT decision_id FROM {table} WHERE status = %s AND expires_at <= %s"
                " ORDER BY expires_at LIMIT %s"
            ),
            (PENDING, now, limit),
        )
        return [str(r[0]) for r in rows]

    def drop(self) -> None:
        """Drop the approvals table (tests and throw-away stores only)."""
        self._execute(self._q("DROP TABLE IF EXISTS {table}"))

    def close(self) -> None:
        """Write the asks queued, then refuse more and close the connection."""
        with self._queued:
            self._closed = True
            flusher = self._flusher
            self._queued.notify()
        if flusher is not None:
            flusher.join(timeout=60)
        with self._lock:
            self._conn.close()


__all__ = ["MAX_BATCH", "PostgresApprovals"]
