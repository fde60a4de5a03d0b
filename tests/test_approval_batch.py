"""Asks on PostgreSQL are group committed: concurrent adds share one transaction,
each returns only once its row is committed, and one bad row fails alone."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from charter.core.errors import AuditError
from charter.runner.approval_pg import PostgresApprovals
from charter.runner.approval_store import PENDING, ApprovalRow
from tests.fixtures_pg import pg_url

__all__ = ["pg_url"]

THREADS = 24


def row(decision_id: str, author: str | None = "agent-7") -> ApprovalRow:
    return ApprovalRow(
        decision_id=decision_id, status=PENDING, kind="action", requester="agent-1",
        author=author, subject={"kind": "command", "command": "git push"},
        reasons=[{"rule": "R-1", "verdict": "ask", "msg": "pushes need a person"}],
        stack=[{"layer": "actions"}], input_digest="sha256:x", created_at=1e9,
        expires_at=2e9, replica="test:1",
    )  # fmt: skip


@pytest.fixture
def stores(pg_url: str) -> Iterator[tuple[PostgresApprovals, PostgresApprovals]]:
    """The writer's store and another replica's, on one schema."""
    writer = PostgresApprovals(pg_url)
    other = PostgresApprovals(pg_url)
    try:
        yield writer, other
    finally:
        writer.close()
        other.close()


def _wait_for(condition: Callable[[], bool]) -> None:
    while not condition():
        threading.Event().wait(0.001)


def _add_all_while_a_commit_is_in_flight(
    store: PostgresApprovals, rows: list[ApprovalRow], other: PostgresApprovals
) -> dict[str, BaseException | None]:
    """Add ``rows`` from one thread each: the first is being written (its commit held
    up) while the others queue behind it. Each thread checks, once ``add`` returned,
    that another connection sees its row. Returns each row's error (None: stored)."""
    outcome: dict[str, BaseException | None] = {}
    visible: dict[str, bool] = {}

    def add(item: ApprovalRow) -> None:
        try:
            store.add(item)
        except BaseException as exc:  # noqa: BLE001 - asserted by the caller
            outcome[item.decision_id] = exc
            return
        outcome[item.decision_id] = None
        visible[item.decision_id] = other.get(item.decision_id) is not None

    threads = [threading.Thread(target=add, args=(item,)) for item in rows]
    with store._lock:  # noqa: SLF001 - the connection: the first batch's commit waits
        threads[0].start()
        _wait_for(lambda: store._flusher is not None and not store._queue)  # noqa: SLF001
        for thread in threads[1:]:
            thread.start()
        _wait_for(lambda: len(store._queue) == len(rows) - 1)  # noqa: SLF001
        assert not outcome  # nothing returned before its commit
    for thread in threads:
        thread.join(timeout=30)
    assert all(visible.values()) and len(visible) == sum(e is None for e in outcome.values())
    return outcome


def test_concurrent_asks_share_one_commit_and_each_is_durable_when_returned(
    stores: tuple[PostgresApprovals, PostgresApprovals],
) -> None:
    store, other = stores
    rows = [row(f"d-{i}") for i in range(THREADS)]
    outcome = _add_all_while_a_commit_is_in_flight(store, rows, other)
    assert outcome == {item.decision_id: None for item in rows}
    # Everything queued behind the commit in flight went in one transaction.
    assert (store.batches, store.batched_rows) == (2, THREADS)
    assert {r.decision_id for r in other.open_rows(100)} == {item.decision_id for item in rows}


def test_a_row_the_server_refuses_fails_alone(
    stores: tuple[PostgresApprovals, PostgresApprovals],
) -> None:
    """Untrusted text with a NUL byte cannot be stored: that ask fails, not its batch."""
    store, other = stores
    rows = [row(f"d-{i}") for i in range(8)] + [row("d-bad", author="agent\x00x")]
    outcome = _add_all_while_a_commit_is_in_flight(store, rows, other)
    bad = outcome.pop("d-bad")
    assert isinstance(bad, AuditError) and "approvals store failed" in str(bad)
    assert outcome == {f"d-{i}": None for i in range(8)}
    assert other.get("d-bad") is None
    assert len(other.open_rows(100)) == 8


def test_an_ask_added_twice_in_one_batch_is_stored_once(
    stores: tuple[PostgresApprovals, PostgresApprovals],
) -> None:
    store, other = stores
    rows = [row("d-0"), row("d-1"), row("d-1"), row("d-2")]
    outcome = _add_all_while_a_commit_is_in_flight(store, rows, other)
    assert set(outcome.values()) == {None}
    assert sorted(r.decision_id for r in other.open_rows(100)) == ["d-0", "d-1", "d-2"]
    assert store.batches == 2


def test_a_failed_commit_acknowledges_nothing(
    stores: tuple[PostgresApprovals, PostgresApprovals],
) -> None:
    """If the transaction does not commit, every ask in it fails (none is returned)."""
    store, other = stores
    other.drop()
    rows = [row(f"d-{i}") for i in range(4)]
    outcome: dict[str, BaseException | None] = {}

    def add(item: ApprovalRow) -> None:
        try:
            store.add(item)
            outcome[item.decision_id] = None
        except AuditError as exc:
            outcome[item.decision_id] = exc

    threads = [threading.Thread(target=add, args=(item,)) for item in rows]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(outcome) == 4 and all(isinstance(e, AuditError) for e in outcome.values())


def test_close_writes_what_is_queued_then_refuses_more(pg_url: str) -> None:
    store = PostgresApprovals(pg_url)
    other = PostgresApprovals(pg_url)
    try:
        store.add(row("d-1"))
        store.close()
        with pytest.raises(AuditError, match="closed"):
            store.add(row("d-2"))
        assert other.get("d-1") is not None and other.get("d-2") is None
    finally:
        other.close()
