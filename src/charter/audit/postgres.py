"""The shared audit store: one hash chain in PostgreSQL for many runners.

Configure it with a URL, ``postgresql://USER@HOST:PORT/DB?schema=NAME`` (the
``schema`` query parameter, default ``charter``, is Charter's; everything else
goes to libpq). Two tables live in that schema: ``audit_log`` (one row per
record, the canonical JSON kept as text so the hashed bytes are stored as they
were hashed) and ``audit_head`` (a single row: seq and hash of the newest
record). Every append runs in one transaction that locks the head row, so
appends from several processes or hosts serialise on it and the chain stays
one chain; the transaction commits (with ``synchronous_commit = on``) before
the append returns. Within one process, concurrent appends are group committed
(see :class:`charter.audit.commit.GroupCommit`).

A batch is first written in one statement (one round trip, its own
transaction) chained after the head this store wrote last: the statement moves
the head only if it is still that one (``UPDATE … WHERE seq = … AND hash = …``,
which takes the row lock) and inserts the rows only if it did. If another
writer moved the head meanwhile, nothing is written; the head is read and the
batch chained after it the same way, and if the head moved yet again, in a
transaction that locks the head row first (``SELECT … FOR UPDATE``).
One round trip instead of five matters beyond the network: each wait gives up
the GIL, and in a busy runner getting it back costs up to the switch interval
(5 ms) per wait.
:meth:`PostgresStore.snapshot` (what ``audit verify`` reads) is a read-only
``REPEATABLE READ`` transaction on a connection of its own: the anchor and the
records as of one moment, whatever other writers commit meanwhile.
This module needs psycopg (the ``charter[postgres]`` extra); nothing imports it at
module level (see :func:`charter.audit.stores.open_store`).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from charter.audit.chain import GENESIS, chain_batch, paged_records
from charter.audit.commit import GroupCommit, GroupCommitted, Pending
from charter.core.errors import AuditError

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DEFAULT_SCHEMA = "charter"


def split_url(url: str) -> tuple[str, str]:
    """``(libpq URL without Charter's parameters, schema)``."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    schema = DEFAULT_SCHEMA
    kept = []
    for key, value in query:
        if key == "schema":
            schema = value
        else:
            kept.append((key, value))
    if not _IDENT.match(schema):
        raise AuditError(
            f"audit store schema {schema!r} is not a plain SQL identifier",
            hint="use lowercase letters, digits and _",
        )
    clean = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(kept)))
    return clean, schema


def redact_url(url: str) -> str:
    """The URL with any password replaced, for messages and ``location``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


class PostgresStore(GroupCommitted):
    """An audit chain shared through PostgreSQL."""

    def __init__(self, url: str, *, connect_timeout: float = 10.0, read_only: bool = False) -> None:
        """Connect, and create the schema and tables unless ``read_only``.

        A read-only store (to verify or export) creates nothing and runs in
        read-only transactions: a missing schema or table is an error naming it.
        """
        self.url = url
        self.location = redact_url(url)
        self._dsn, self.schema = split_url(url)
        self._timeout = connect_timeout
        self._read_only = read_only
        self._group = GroupCommit(self._write_batch)
        #: (seq, hash) of the head after this store's last write (None: unknown).
        self._head: tuple[int, str] | None = None
        self._lock = self._group.write_lock
        self._conn = self._connect()
        try:
            if read_only:
                self._check_tables()
            else:
                self._setup()
        except BaseException:
            self._conn.close()
            raise

    # ------------------------------------------------------------ connection
    def _connect(self) -> psycopg.Connection[Any]:
        return connect(self._dsn, self._timeout, self.location, "audit", self._read_only)

    def _ensure(self) -> psycopg.Connection[Any]:
        if self._conn.closed or self._conn.broken:
            self._conn = self._connect()
        return self._conn

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(
            schema=sql.Identifier(self.schema),
            log=sql.Identifier(self.schema, "audit_log"),
            head=sql.Identifier(self.schema, "audit_head"),
        )

    def _setup(self) -> None:
        try:
            with self._ensure().transaction():
                # Serialise schema creation across processes starting together.
                self._conn.execute(
                    self._q("SELECT pg_advisory_xact_lock(hashtext(%s))"),
                    (f"charter:{self.schema}",),
                )
                self._conn.execute(self._q("CREATE SCHEMA IF NOT EXISTS {schema}"))
                self._conn.execute(
                    self._q(
                        "CREATE TABLE IF NOT EXISTS {log} ("
                        " seq BIGINT PRIMARY KEY, decision_id TEXT NOT NULL,"
                        " hash TEXT NOT NULL, record TEXT NOT NULL)"
                    )
                )
                self._conn.execute(
                    self._q("CREATE INDEX IF NOT EXISTS audit_log_decision ON {log} (decision_id)")
                )
                self._conn.execute(
                    self._q(
                        "CREATE TABLE IF NOT EXISTS {head} ("
                        " id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL,"
                        " hash TEXT NOT NULL)"
                    )
                )
                self._conn.execute(
                    self._q(
                        "INSERT INTO {head} (id, seq, hash) "
                        "SELECT 1, COALESCE(MAX(seq), 0), %s FROM {log} "
                        "ON CONFLICT (id) DO NOTHING"
                    ),
                    (GENESIS,),
                )
                self._conn.execute(
                    self._q(
                        "UPDATE {head} h SET hash = l.hash FROM {log} l "
                        "WHERE h.id = 1 AND l.seq = h.seq AND h.hash = %s AND h.seq > 0"
                    ),
                    (GENESIS,),
                )
        except psycopg.Error as exc:
            raise AuditError(
                f"{self.location}: cannot prepare the audit tables ({first_line(exc)})"
            ) from exc

    def _check_tables(self) -> None:
        try:
            row = self._conn.execute(
                "SELECT to_regnamespace(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL,"
                " to_regclass(%s) IS NOT NULL",
                (self.schema, f"{self.schema}.audit_log", f"{self.schema}.audit_head"),
            ).fetchone()
        except psycopg.Error as exc:
            raise AuditError(
                f"{self.location}: cannot read the audit tables ({first_line(exc)})"
            ) from exc
        schema, log, head = row if row else (False, False, False)
        hint = "check the schema= parameter of the URL (the default is charter)"
        if not schema:
            raise AuditError(
                f"{self.location}: no schema {self.schema!r}: no audit log there", hint=hint
            )
        for present, table in ((log, "audit_log"), (head, "audit_head")):
            if not present:
                raise AuditError(
                    f"{self.location}: schema {self.schema!r} has no {table} table", hint=hint
                )

    # ---------------------------------------------------------------- append
    def _write_batch(self, batch: list[Pending]) -> None:
        try:
            # Chained after the head last seen, then after the head as read now; only
            # if another writer moved it again in between, under the head row's lock.
            for _ in range(2):
                if self._head is None:
                    self._head = self._read_head()
                if self._write_after_known_head(batch):
                    return
            self._write_locked(batch)
        except psycopg.Error as exc:
            self._head = None
            for item in batch:
                item.record = None
            raise AuditError(
                f"{self.location}: cannot append to the audit log ({first_line(exc)})"
            ) from exc
        except BaseException:
            self._head = None
            for item in batch:
                item.record = None
            raise

    def _read_head(self) -> tuple[int, str]:
        row = (
            self._ensure().execute(self._q("SELECT seq, hash FROM {head} WHERE id = 1")).fetchone()
        )
        if row is None:
            raise AuditError(f"{self.location}: the audit head row is missing")
        return int(row[0]), str(row[1])

    def _write_after_known_head(self, batch: list[Pending]) -> bool:
        """Write ``batch`` in one statement after the head last written here; False (nothing
        written, the batch untouched) when that head is unknown or no longer the head."""
        if self._head is None:
            return False
        seq0, prev0 = self._head
        rows, seq, prev = chain_batch(batch, seq0, prev0)
        if rows:
            # The columns go as binary arrays (``%b``): a text array quotes and escapes
            # every element in Python, each ``"`` of a JSON record one regex match
            # (15x the cost of the write itself for a batch of 40 decisions).
            columns = [list(column) for column in zip(*rows, strict=True)]
            written = (
                self._ensure()
                .execute(
                    self._q(
                        "WITH moved AS (UPDATE {head} SET seq = %s, hash = %s"
                        " WHERE id = 1 AND seq = %s AND hash = %s RETURNING 1)"
                        " INSERT INTO {log} (seq, decision_id, hash, record)"
                        " SELECT v.seq, v.decision_id, v.hash, v.record FROM moved,"
                        " unnest(%b::bigint[], %b::text[], %b::text[], %b::text[])"
                        " AS v(seq, decision_id, hash, record)"
                    ),
                    (seq, prev, seq0, prev0, *columns),
                )
                .rowcount
            )
            if written != len(rows):
                # Another writer moved the head: nothing was written (one statement).
                self._head = None
                for item in batch:
                    item.record, item.error = None, None
                return False
        self._head = (seq, prev)
        return True

    def _write_locked(self, batch: list[Pending]) -> None:
        """Write ``batch`` in a transaction holding the head row's lock."""
        conn = self._ensure()
        with conn.transaction():
            row = conn.execute(
                self._q("SELECT seq, hash FROM {head} WHERE id = 1 FOR UPDATE")
            ).fetchone()
            if row is None:
                raise AuditError(f"{self.location}: the audit head row is missing")
            rows, seq, prev = chain_batch(batch, int(row[0]), str(row[1]))
            with conn.cursor() as cur:
                cur.executemany(
                    self._q(
                        "INSERT INTO {log} (seq, decision_id, hash, record) VALUES (%s, %s, %s, %s)"
                    ),
                    rows,
                )
            conn.execute(self._q("UPDATE {head} SET seq = %s, hash = %s WHERE id = 1"), (seq, prev))
        self._head = (seq, prev)

    # ------------------------------------------------------------------ read
    def _read(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._ensure().execute(self._q(query), params).fetchall()
            except psycopg.Error as exc:
                raise AuditError(
                    f"{self.location}: cannot read the audit log ({first_line(exc)})"
                ) from exc

    def records(self, after: int = 0) -> Iterator[dict[str, Any]]:
        """The records in chain order, those numbered above ``after`` only."""
        return _records(self._read, after)

    def head(self) -> tuple[int, str] | None:
        return _head(self._read)

    @contextmanager
    def snapshot(self) -> Iterator[PostgresSnapshot]:
        """The anchor and records as of one moment: a read-only REPEATABLE READ
        transaction on a connection of its own (the writer's is never held)."""
        conn = connect(self._dsn, self._timeout, self.location, "audit", read_only=True)
        try:
            try:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                # The first query takes the snapshot, before anything is handed out.
                conn.execute("SELECT 1").fetchone()
            except psycopg.Error as exc:
                raise AuditError(
                    f"{self.location}: cannot read the audit log ({first_line(exc)})"
                ) from exc
            yield PostgresSnapshot(self, conn)
        finally:
            conn.close()

    def count(self) -> int:
        with self._lock:
            row = self._ensure().execute(self._q("SELECT COUNT(*) FROM {log}")).fetchone()
        return int(row[0]) if row else 0

    def has_decision(self, decision_id: str) -> bool:
        with self._lock:
            row = (
                self._ensure()
                .execute(
                    self._q("SELECT 1 FROM {log} WHERE decision_id = %s LIMIT 1"),
                    (decision_id,),
                )
                .fetchone()
            )
        return row is not None

    def drop(self) -> None:
        """Drop this store's schema (tests and throw-away logs only)."""
        with self._lock:
            self._ensure().execute(self._q("DROP SCHEMA IF EXISTS {schema} CASCADE"))

    def close(self) -> None:
        self._group.stop()
        with self._lock:
            self._conn.close()


class PostgresSnapshot:
    """Reads in one REPEATABLE READ transaction (see :meth:`PostgresStore.snapshot`)."""

    def __init__(self, store: PostgresStore, conn: psycopg.Connection[Any]) -> None:
        self._store = store
        self._conn = conn

    def _read(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(self._store._q(query), params).fetchall()  # noqa: SLF001
        except psycopg.Error as exc:
            raise AuditError(
                f"{self._store.location}: cannot read the audit log ({first_line(exc)})"
            ) from exc

    def head(self) -> tuple[int, str] | None:
        return _head(self._read)

    def records(self, after: int = 0) -> Iterator[dict[str, Any]]:
        return _records(self._read, after)


Read = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]


def _head(read: Read) -> tuple[int, str] | None:
    rows = read("SELECT seq, hash FROM {head} WHERE id = 1", ())
    return (int(rows[0][0]), str(rows[0][1])) if rows else None


def _records(read: Read, after: int) -> Iterator[dict[str, Any]]:
    """The records numbered above ``after`` in chain order, read a page at a time."""
    return paged_records(
        lambda last, limit: read(
            "SELECT seq, record FROM {log} WHERE seq > %s ORDER BY seq LIMIT %s", (last, limit)
        ),
        after,
    )


def first_line(exc: BaseException) -> str:
    """A psycopg error's first line, for a one-line message."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def connect(
    dsn: str, timeout: float, location: str, what: str, read_only: bool = False
) -> psycopg.Connection[Any]:
    """An autocommit connection whose commits are durable (``synchronous_commit = on``),
    read-only when asked; ``location`` and ``what`` name the database in the error."""
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=max(1, int(timeout)))
        conn.execute("SET synchronous_commit = on")
        if read_only:
            conn.execute("SET default_transaction_read_only = on")
    except psycopg.Error as exc:
        raise AuditError(
            f"{location}: cannot connect to the {what} database ({first_line(exc)})"
        ) from exc
    return conn
