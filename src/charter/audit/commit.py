"""Group commit: many decisions, one durable transaction, and non-blocking submissions.

A record is acknowledged only once it is durable: each store's ``write_batch``
commits its batch in one transaction (SQLite in WAL mode with
``synchronous=FULL``; PostgreSQL with ``synchronous_commit = on``), and
:meth:`GroupCommit.append` returns only after the transaction holding its record
has committed. Concurrent appends are group committed: whoever holds the write
lock commits every record queued so far, so 32 concurrent callers share one
fsync instead of queueing for 32. :meth:`GroupCommit.submit` queues a record
without blocking; its callback runs on the store's flusher thread once the
record is durable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from charter.core.errors import AuditError

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


class Pending:
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

    def __init__(self, write_batch: Callable[[list[Pending]], None]) -> None:
        self._write_batch = write_batch
        self._queue: list[Pending] = []
        #: Submitted entries written by an appending caller, for the flusher to notify.
        self._written: list[Pending] = []
        self._queue_lock = threading.Lock()
        self.write_lock = threading.Lock()
        self._wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._closed = False

    def append(self, decision: Mapping[str, Any], source: str, kind: str) -> dict[str, Any]:
        entry = Pending(decision, source, kind)
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
        entry = Pending(decision, source, kind, callback)
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

    def _lead(self, entry: Pending | None = None) -> None:
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


def _notify(batch: list[Pending]) -> None:
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


__all__ = ["COMMIT_BATCH", "COMMIT_WINDOW", "GroupCommit", "GroupCommitted", "Pending",
           "RecordCallback"]  # fmt: skip
