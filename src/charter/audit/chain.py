"""The audit log's records: building, hashing and verifying the hash chain.

Each record holds the decision id, time, the digest of its input, the verdict,
reasons, waivers, approvals, the stack digests and ``prev_hash``, the hash of
the record before it. ``hash`` is the SHA-256 of the record's canonical JSON
(:func:`charter.core.jsonio.canonical_bytes`: sorted keys, compact, UTF-8)
without the ``hash`` field itself, so any modified, deleted, inserted or
reordered record breaks the chain, which :func:`verify` detects offline.

Where records are kept: :mod:`.sqlite` (the embedded default) and
:mod:`.postgres` (shared by several runners), both writing through the group
commit of :mod:`.commit`; :func:`charter.audit.stores.open_store` picks one.

Truncation. A hash chain alone cannot show that its *last* records were
deleted. Each store therefore keeps a ``head`` anchor (sequence number and hash
of the newest record) updated in the same transaction as every append, and
:func:`verify` checks that the chain ends exactly there (a log with records and
no anchor fails). The residual risk is an attacker with write access to the
store who deletes the tail *and* rewrites the anchor; against that, copy the
head (``charter audit verify --format json`` prints it) to a place they cannot
write, and pass it back as ``expected_head``.

Verifying a live log. Runners keep appending while ``audit verify`` runs, so
:func:`verify` reads the anchor and the records from one snapshot of the store
(:meth:`AuditStore.snapshot`: a read transaction of its own, apart from the
writer's connection): records appended after the anchor it read are not in the
snapshot, so they never look like records beyond the anchor, and records beyond
the anchor within the snapshot are still a break.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from charter.audit.commit import Pending, RecordCallback
from charter.core import jsonio
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


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of the record's canonical JSON without its ``hash`` field.

    Raises ``ValueError``/``TypeError`` for a value JSON cannot express: a
    record is never hashed in some lenient form that verification would not
    reproduce.
    """
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(jsonio.canonical_bytes(body)).hexdigest()


#: Records read per query when a store pages through its log.
PAGE = 2000


def paged_records(
    fetch: Callable[[int, int], Sequence[tuple[Any, ...]]], after: int
) -> Iterator[dict[str, Any]]:
    """The records numbered above ``after`` in chain order, ``PAGE`` at a time.

    ``fetch(last, limit)`` returns up to ``limit`` ``(seq, record text)`` rows with
    ``seq > last`` in order. A record that is not JSON is yielded as
    ``{"seq": None, "corrupt": text}`` so verification reports it, never skips it."""
    last = after
    while True:
        rows = fetch(last, PAGE)
        for seq, text in rows:
            last = int(seq)
            try:
                yield json.loads(text)
            except ValueError:
                yield {"seq": None, "corrupt": text}
        if len(rows) < PAGE:
            return


def chain_batch(
    batch: Sequence[Pending], seq: int, prev: str
) -> tuple[list[tuple[int, str, str, str]], int, str]:
    """Chain ``batch`` after record ``seq`` (hash ``prev``): the rows to store, and the new head.

    Each item gets its record, or its own error if its decision is not JSON
    data (that decision alone is refused; the rest of the batch is written).
    A row is ``(seq, decision_id, hash, canonical JSON text)``.
    """
    rows: list[tuple[int, str, str, str]] = []
    for item in batch:
        try:
            record = build_record(seq + 1, prev, item.decision, source=item.source, kind=item.kind)
            text = jsonio.canonical(record)
        except (TypeError, ValueError) as exc:
            item.error = AuditError(f"cannot record a decision that is not JSON data ({exc})")
            continue
        seq, prev = seq + 1, str(record["hash"])
        item.record = record
        rows.append((seq, record["decision_id"], prev, text))
    return rows, seq, prev


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


class AuditSnapshot(Protocol):
    """A consistent view of a store: its anchor and records as of one moment."""

    def head(self) -> tuple[int, str] | None: ...

    def records(self, after: int = 0) -> Iterator[dict[str, Any]]: ...


class AuditStore(Protocol):
    """What every audit backend provides."""

    location: str

    def append(
        self, decision: Mapping[str, Any], *, source: str, kind: str = "decision"
    ) -> dict[str, Any]: ...

    def records(self, after: int = 0) -> Iterator[dict[str, Any]]: ...

    def head(self) -> tuple[int, str] | None: ...

    def snapshot(self) -> AbstractContextManager[AuditSnapshot]:
        """A read-only view of the anchor and records as of one moment, whatever is
        appended meanwhile (a read transaction on a connection of its own)."""
        ...

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
    label: str = "the expected head",
) -> VerifyReport:
    """Walk the chain; report the first record that does not fit.

    ``head`` is the store's anchor (seq and hash of the newest record); when
    given, the chain must end exactly there, so deleting the last records is
    detected too. ``expected_head`` is an anchor kept elsewhere: the chain must
    still contain that record unchanged. ``anchored`` says the records come from
    a store that keeps an anchor, so a log with records and no anchor fails.
    ``label`` names where ``expected_head`` came from in a failure's message.
    """
    report = _walk(records, expected_head, label=label)
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


def _walk(
    records: Iterable[dict[str, Any]],
    expected_head: tuple[int, str] | None,
    *,
    start: tuple[int, str] = (0, GENESIS),
    label: str = "the expected head",
) -> VerifyReport:
    """Walk records chained after ``start`` (seq and hash of a record already verified)."""
    count, prev = start
    expected_seq = count + 1
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
        if record.get("hash") != _hash_or_none(record):
            return VerifyReport(False, count, seq, f"record {seq}: content was modified")
        prev = str(record["hash"])
        if expected_head is not None and seq == expected_head[0]:
            if prev != expected_head[1]:
                return VerifyReport(False, count, seq, f"record {seq}: does not match {label}")
            seen_expected = True
        expected_seq += 1
    if not seen_expected and expected_head is not None:
        return VerifyReport(
            False, count, count + 1,
            f"record {count + 1}: the log ends at record {count}, before record "
            f"{expected_head[0]} named by {label} (records were deleted from the end)",
        )  # fmt: skip
    return VerifyReport(True, count, head_seq=count, head_hash=prev if count else GENESIS)


def verify(
    store: AuditStore,
    *,
    expected_head: tuple[int, str] | None = None,
    label: str = "the expected head",
) -> VerifyReport:
    """Verify the whole chain of ``store`` and that it ends at its head anchor.

    The anchor and the records come from one snapshot (:meth:`AuditStore.snapshot`),
    so appends running meanwhile are not mistaken for records beyond the anchor.
    """
    try:
        with store.snapshot() as view:
            return verify_records(
                view.records(),
                head=view.head(),
                expected_head=expected_head,
                anchored=True,
                label=label,
            )
    except AuditError:
        raise
    except Exception as exc:  # noqa: BLE001 - a store that cannot be read does not verify
        raise AuditError(f"{store.location}: cannot read the audit log ({exc})") from exc


def verify_after(store: AuditStore, start: tuple[int, str]) -> VerifyReport:
    """Verify only the records chained after ``start``, a (seq, hash) verified before.

    What a long-running writer of checkpoints uses: each interval checks the
    records added since the last checkpoint, not the whole log again.
    """
    try:
        return _walk(store.records(after=start[0]), None, start=start)
    except AuditError:
        raise
    except Exception as exc:  # noqa: BLE001 - a store that cannot be read does not verify
        raise AuditError(f"{store.location}: cannot read the audit log ({exc})") from exc


def _hash_or_none(record: Mapping[str, Any]) -> str | None:
    """The record's hash, or None if it holds what JSON cannot (it was tampered with)."""
    try:
        return record_hash(record)
    except (TypeError, ValueError):
        return None


__all__ = [
    "GENESIS",
    "RECORD_FIELDS",
    "AuditSnapshot",
    "AuditStore",
    "VerifyReport",
    "build_record",
    "chain_batch",
    "record_hash",
    "verify",
    "verify_after",
    "verify_records",
]
