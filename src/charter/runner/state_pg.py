"""The shared state (versions, spend, sessions) in PostgreSQL, for every runner on one database.

The tables ``accepted_versions``, ``spend`` and ``console_sessions`` live in the
audit store's schema (the URL's ``schema`` parameter, default ``charter``). Each
method of :class:`charter.runner.state_store.SharedState` is one transaction
(``synchronous_commit = on``); a check-then-write step takes a transaction-scoped
advisory lock on what it is about, so replicas accepting versions or recording
the same spend at once serialise. This module needs psycopg (the
``charter[postgres]`` extra); only :func:`charter.runner.shared_state.open_state`
imports it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql

from charter.audit.postgres import connect, first_line, redact_url, split_url
from charter.core.errors import AuditError
from charter.runner.state_store import SCHEMA, Run, SharedState

TABLES = {"versions": "accepted_versions", "spend": "spend", "sessions": "console_sessions"}


class PostgresState(SharedState):
    """The shared-state tables of one PostgreSQL schema."""

    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        self.location = redact_url(url)
        self._dsn, self.schema = split_url(url)
        self._timeout = connect_timeout
        self._lock = threading.Lock()
        self._conn = connect(self._dsn, self._timeout, self.location, "shared state")
        self._names = {
            key: sql.Identifier(self.schema, table).as_string(self._conn)
            for key, table in TABLES.items()
        }
        try:
            self._setup()
        except BaseException:
            self._conn.close()
            raise

    def _sql(self, text: str) -> sql.SQL:
        # Table names are quoted identifiers; values always go as parameters.
        return sql.SQL(text.format(**self._names).replace("?", "%s"))

    def _setup(self) -> None:
        try:
            with self._conn.transaction():
                # The audit store takes the same lock to create the schema.
                self._conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"charter:{self.schema}",)
                )
                self._conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
                )
                for statement in SCHEMA:
                    self._conn.execute(self._sql(statement))
        except psycopg.Error as exc:
            raise AuditError(
                f"{self.location}: cannot prepare the shared state tables ({first_line(exc)})"
            ) from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Run]:
        def run(text: str, params: Sequence[Any] = ()) -> list[Any]:
            cursor = self._conn.execute(self._sql(text), params)
            return cursor.fetchall() if cursor.description is not None else []

        with self._lock:
            if self._conn.closed or self._conn.broken:
                self._conn = connect(self._dsn, self._timeout, self.location, "shared state")
            try:
                with self._conn.transaction():
                    yield run
            except psycopg.Error as exc:
                raise AuditError(
                    f"{self.location}: the shared state store failed ({first_line(exc)})"
                ) from exc

    def _lock_key(self, run: Run, name: str) -> None:
        run("SELECT pg_advisory_xact_lock(hashtext(?))", (f"charter:{self.schema}:{name}",))

    def drop(self) -> None:
        """Drop the shared-state tables (tests and throw-away stores only)."""
        with self._transaction() as run:
            for name in ("versions", "spend", "sessions"):
                run(f"DROP TABLE IF EXISTS {{{name}}}", ())

    def close(self) -> None:
        with self._lock:
            self._conn.close()


__all__ = ["PostgresState"]
