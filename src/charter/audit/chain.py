"""The audit log: append-only, hash-chained records of every decision.

Each record holds the decision id, time, the digest of its input, the verdict,
reasons, waivers, approvals, the stack digests and ``prev_hash``, the hash of
the record before it. ``hash`` is the SHA-256 of the record's canonical JSON
(sorted keys, compact, UTF-8) without the ``hash`` field itself, so any
modified, deleted, inserted or reordered record breaks the chain, which
:func:`verify` detects offline.

A record is acknowledged only once it is durable: SQLite runs in WAL mode with
``synchronous=FULL``, and :meth:`SQLiteStore.append` returns only after the
transaction holding the record has committed. Concurrent appends are group
committed: whoever holds the write lock commits every record queued so far in
one transaction, so 32 concurrent callers share one fsync instead of queueing
for 32.

Truncation. A hash chain alone cannot show that its *last* records were
deleted. Each store therefore keeps a ``head`` anchor (sequence number and hash
of the newest record) updated in the same transaction as every append, and
:func:`verify` checks that the chain ends exactly there. The residual risk is an
attacker with write access to the store who deletes the tail *and* rewrites the
anchor; against that, copy the head (``charter audit verify --format json``
prints it) to a place they cannot write, and pass it back as ``expected_head``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from charter.core.errors import AuditError

GENESIS = "0" * 64
RECORD_FIELDS = (
    "seq",
    "decision_id",
    "time",
    "source",
    "kind",
    "input_digest",
    "verdict",
    "reasons",
    "waived",
    "approvals",
    "stack",
    "event",
    "action",
    "input",
    "prev_hash",
)


def canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


def record_hash(record: Mapping[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def build_record(
    seq: int, prev_hash: str, decision: Mapping[str, Any], *, source: str, kind: str
) -> dict[str, Any]:
    """The record stored for one decision (or event)."""
    record: dict[str, Any] = {
        "seq": seq,
        "decision_id": str(decision.get("decision_id", "")),
        "time": str(decision.get("time") or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
        "source": source,
        "kind": kind,
        "input_digest": str(decision.get("input_digest", "")),
        "verdict": str(decision.get("verdict", "")),
        "reasons": list(decision.get("reasons", [])),
        "waived": list(decision.get("waived", [])),
        "approvals": list(decision.get("approvals", [])),
        "stack": list(decision.get("stack", [])),
        "event": decision.get("event"),
        "prev_hash": prev_hash,
    }
    # What was decided, when the caller recorded it: the gate's action, or the
    # proposal when a runner is configured to keep inputs. Export redacts them.
    for extra in ("action", "input"):
        if decision.get(extra) is not None:
            record[extra] = decision[extra]
    record["hash"] = record_hash(record)
    return record


class AuditStore(Protocol):
    """What every audit backend provides."""

    location: str

    def append(
        self, decision: Mapping[str, Any], *, source: str, kind: str = "decision"
    ) -> dict[str, Any]: ...

    def records(self) -> Iterator[dict[str, Any]]: ...

    def head(self) -> tuple[int, str] | None: ...

    def submit(
        self,
        decision: Mapping[str, Any],
        *,
        source: str,
        kind: str = "decision",
        callback: RecordCallback,
    ) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    count: int
    first_bad_seq: int | None = None
    problem: str | None = None
    head_seq: int | None = None
    head_hash: str | None = None

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.count,
            "first_bad_record": self.first_bad_seq,
            "problem": self.problem,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
        }


def verify_records(
    records: Iterable[dict[str, Any]],
    *,
    head: tuple[int, str] | None = None,
    expected_head: tuple[int, str] | None = None,
    anchored: bool = False,
) -> VerifyReport:
    """Walk the chain; report the first record that does not fit.

    ``head`` is the store's anchor (seq and hash of the newest record); when
    given, the chain must end exactly there, so deleting the last records is
    detected too. ``expected_head`` is an anchor kept elsewhere: the chain must
    still contain that record unchanged. ``anchored`` says the records come from
    a store that keeps an anchor, so a log with records and no anchor fails.
    """
    report = _walk(records, expected_head)
    if not report.ok:
        return report
    if head is None and anchored and report.count:
        first = report.count + 1
        return VerifyReport(
            False, report.count, first,
            f"record {first}: the log has no head anchor (it was deleted), so records "
            "deleted from its end would go unnoticed",
            report.head_seq, report.head_hash,
        )  # fmt: skip
    if head is not None:
        head_seq, head_hash = head
        if report.count != head_seq or (report.head_hash or GENESIS) != head_hash:
            first = report.count + 1 if report.count < head_seq else head_seq
            return VerifyReport(
                False, report.count, first,
                f"record {first}: the log ends at record {report.count} but its head anchor "
                f"names record {head_seq} (records were deleted from the end, or the anchor "
                "was changed)",
                report.head_seq, report.head_hash,
            )  # fmt: skip
    return report


def _walk(records: Iterable[dict[str, Any]], expected_head: tuple[int, str] | None) -> VerifyReport:
    prev = GENESIS
    expected_seq = 1
    count = 0
    seen_expected = expected_head is None
    for record in records:
        count += 1
        seq = record.get("seq")
        if seq != expected_seq:
            found = f"sequence number {seq}" if isinstance(seq, int) else "no sequence number"
            return VerifyReport(
                False, count, expected_seq,
                f"record {expected_seq}: the record in its place has {found} "
                "(a record was deleted, inserted or reordered)",
            )  # fmt: skip
        if record.get("prev_hash") != prev:
            return VerifyReport(
                False, count, seq, f"record {seq}: prev_hash does not match record {seq - 1}"
            )
        if record.get("hash") != record_hash(record):
            return VerifyReport(False, count, seq, f"record {seq}: content was modified")
        prev = str(record["hash"])
        if expected_head is not None and seq == expected_head[0]:
            if prev != expected_head[1]:
                return VerifyReport(
                    False, count, seq, f"record {seq}: does not match the expected head"
                )
            seen_expected = True
        expected_seq += 1
    if not seen_expected and expected_head is not None:
        return VerifyReport(
            False, count, count + 1,
            f"record {count + 1}: the log ends at record {count}, before the expected head "
            f"record {expected_head[0]} (records were deleted from the end)",
        )  # fmt: skip
    return VerifyReport(True, count, head_seq=count, head_hash=prev if count else GENESIS)


#: How long the flusher waits for more submissions before a commit that would
#: hold fewer than COMMIT_BATCH records (bench_runner: p99 116 -> 31 ms).
COMMIT_WINDOW = 0.001
COMMIT_BATCH = 8

#: Called once an asynchronously submitted record is durable (record, None) or
#: could not be written (None, error). It always runs on the store's own flusher
#: thread, never on the thread of a caller that appends: a caller may hold its
#: own locks while it appends, and a callback that takes one of them would then
#: deadlock against itself.
RecordCallback = Callable[[dict[str, Any] | None, BaseException | None], None]


class _Pending:
    """One append waiting for a group commit."""

    __slots__ = ("callback", "decision", "error", "kind", "record", "source")

    def __init__(
        self,
        decision: Mapping[str, Any],
        source: str,
        kind: str,
        callback: RecordCallback | None = None,
    ) -> None:
        self.decision = decision
        self.source = source
        self.kind = kind
        self.callback = callback
        self.record: dict[str, Any] | None = None
        self.error: BaseException | None = None


class GroupCommit:
    """Leader-based group commit shared by the stores.

    Each caller queues its decision, then takes the write lock; whoever gets it
    first writes every queued decision in one transaction (``write_batch``) and
    the others find their record done when they get the lock in turn. A caller
    returns only after the transaction holding its record committed.

    :meth:`submit` queues a decision without blocking its thread: a flusher
    thread (or any leader that gets there first) writes it with the next batch,
    so a service can acknowledge many decisions per commit without parking a
    thread on each. Callbacks run only on the flusher thread: a batch written by
    an appending caller hands its submitted entries to the flusher to notify.
    """

    def __init__(self, write_batch: Callable[[list[_Pending]], None]) -> None:
        self._write_batch = write_batch
        self._queue: list[_Pending] = []
        #: Submitted entries written by an appending caller, for the flusher to notify.
        self._written: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self.write_lock = threading.Lock()
        self._wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._closed = False

    def append(self, decision: Mapping[str, Any], source: str, kind: str) -> dict[str, Any]:
        entry = _Pending(decision, source, kind)
        with self._queue_lock:
            if self._closed:
                raise AuditError("the audit store is closed")
            self._queue.append(entry)
        self._lead(entry)
        if entry.error is not None:
            raise entry.error
        assert entry.record is not None  # noqa: S101 - set by the batch that held it
        return entry.record

    def submit(
        self, decision: Mapping[str, Any], source: str, kind: str, callback: RecordCallback
    ) -> None:
        """Queue ``decision``; ``callback`` runs on the flusher once it is durable (or failed)."""
        entry = _Pending(decision, source, kind, callback)
        with self._queue_lock:
            if self._closed:
                raise AuditError("the audit store is closed")
            self._queue.append(entry)
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=self._flush_loop, name="charter-audit-flush", daemon=True
                )
                self._flusher.start()
        self._wake.set()

    def _lead(self, entry: _Pending | None = None) -> None:
        """Write whatever is queued, unless ``entry`` was written meanwhile.

        The submitted entries of the batch are handed to the flusher, still
        under the write lock, so the flusher never sees "nothing queued, nothing
        written" while a batch it must notify is in flight.
        """
        with self.write_lock:
            if entry is not None and (entry.record is not None or entry.error is not None):
                return
            with self._queue_lock:
                batch, self._queue = self._queue, []
            if not batch:
                return
            try:
                self._write_batch(batch)
            except BaseException as exc:
                for item in batch:
                    item.error = exc
            waiting = [item for item in batch if item.callback is not None]
            if waiting:
                with self._queue_lock:
                    self._written.extend(waiting)
                if threading.current_thread() is not self._flusher:
                    self._wake.set()

    def _flush_loop(self) -> None:
        while True:
            self._wake.wait()
            with self._queue_lock:
                few = 0 < len(self._queue) < COMMIT_BATCH
            if few and not self._closed:
                # A short window lets more decisions join this commit: fewer,
                # larger transactions cut both the fsyncs and the p99 latency.
                time.sleep(COMMIT_WINDOW)
            self._wake.clear()
            self._lead()
            with self._queue_lock:
                written, self._written = self._written, []
            _notify(written)
            with self.write_lock, self._queue_lock:
                if self._closed and not self._queue and not self._written:
                    return

    def stop(self) -> None:
        """Write what is queued, then refuse more; called before the store closes."""
        with self._queue_lock:
            self._closed = True
            flusher = self._flusher
        if flusher is not None:
            self._wake.set()
            flusher.join(timeout=60)
        # Only appends can be left (submit refuses once closed, and the flusher
        # wrote and notified every submission before it returned).
        self._lead()


def _notify(batch: list[_Pending]) -> None:
    for item in batch:
        if item.callback is None:
            continue
        try:
            item.callback(item.record, item.error)
        except Exception:  # noqa: BLE001, S110 - a caller's callback must not stop the flusher
            pass


class GroupCommitted:
    """The write side of a store whose appends go through ``self._group``."""

    _group: GroupCommit

    def append(
        self, decision: Mapping[str, Any], *, source: str, kind: str = "decision"
    ) -> dict[str, Any]:
        """Append one record; return it once its transaction has committed."""
        return self._group.append(decision, source, kind)

    def submit(
        self,
        decision: Mapping[str, Any],
        *,
        source: str,
        kind: str = "decision",
        callback: RecordCallback,
    ) -> None:
        """Queue one record; ``callback`` runs once it has committed (see GroupCommit)."""
        self._group.submit(decision, source, kind, callback)


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
            raise AuditError(
                f"{self.path}: cannot open the audit store ({exc})",
                hint="point --audit or $CHARTER_AUDIT at a writable location",
            ) from exc

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

    def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            # BEGIN IMMEDIATE takes the write lock first, so two processes
            # appending to one file cannot both read the same chain head.
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, prev = (row[0], row[1]) if row else (0, GENESIS)
            rows = []
            for item in batch:
                seq += 1
                record = build_record(seq, prev, item.decision, source=item.source, kind=item.kind)
                prev = record["hash"]
                item.record = record
                rows.append((seq, record["decision_id"], prev, canonical(record).decode()))
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

    def records(self) -> Iterator[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT record FROM audit ORDER BY seq").fetchall()
        for (text,) in rows:
            try:
                yield json.loads(text)
            except ValueError:
                yield {"seq": None, "corrupt": text}

    def head(self) -> tuple[int, str] | None:
        with self._lock:
            row = self._db.execute("SELECT seq, hash FROM head WHERE id = 1").fetchone()
        return (int(row[0]), str(row[1])) if row else None

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


def _tables(db: sqlite3.Connection) -> set[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(row[0]) for row in rows}


def default_location() -> Path:
    return Path("~/.charter/audit.db").expanduser()


def open_store(location: str | Path | None = None, *, read_only: bool = False) -> AuditStore:
    """Open an audit store: a SQLite path (default ``~/.charter/audit.db``).

    ``postgresql://`` URLs select the shared PostgreSQL store. A ``read_only``
    store (to verify or export) creates nothing: a missing file, schema or
    table is an :class:`AuditError` naming it.
    """
    where = str(location) if location is not None else str(default_location())
    if where.startswith(("postgresql://", "postgres://")):
        from charter.audit.postgres import PostgresStore  # the optional shared backend

        return PostgresStore(where, read_only=read_only)
    return SQLiteStore(where, read_only=read_only)


def verify(store: AuditStore, *, expected_head: tuple[int, str] | None = None) -> VerifyReport:
    """Verify the whole chain of ``store`` and that it ends at its head anchor."""
    try:
        head = store.head()
        return verify_records(
            store.records(), head=head, expected_head=expected_head, anchored=True
        )
    except AuditError:
        raise
    except Exception as exc:  # noqa: BLE001 - a store that cannot be read does not verify
        raise AuditError(f"{store.location}: cannot read the audit log ({exc})") from exc
