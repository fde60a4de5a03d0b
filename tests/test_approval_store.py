"""The approvals store, on both backends: compare-and-set steps, expiry, answers recorded.

Every test runs against the embedded SQLite store and the real PostgreSQL at
127.0.0.1:5432 (``tests/fixtures_pg.py``: one throw-away schema per test).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from charter.audit.sqlite import SQLiteStore
from charter.core.errors import AuditError, Conflict, Forbidden, NotFound, Unavailable
from charter.runner.approval_store import (
    APPROVED,
    APPROVING,
    EXPIRED,
    PENDING,
    ApprovalRow,
    ApprovalStore,
    files_of,
    location_for,
)
from charter.runner.approvals import Approvals, action_subject, open_approvals, proposal_subject
from tests.fixtures_pg import pg_url

__all__ = ["pg_url"]


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An audit location: the approvals store goes with it."""
    if request.param == "sqlite":
        return str(tmp_path / "audit.db")
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(location: str) -> Iterator[ApprovalStore]:
    opened = open_approvals(location)
    try:
        yield opened
    finally:
        opened.close()


def row(
    decision_id: str, *, expires_at: float = 2e9, author: str | None = "agent-7"
) -> ApprovalRow:
    return ApprovalRow(
        decision_id=decision_id, status=PENDING, kind="action", requester="agent-1",
        author=author, subject={"kind": "command", "command": "git push"},
        reasons=[{"rule": "R-1", "verdict": "ask", "msg": "pushes need a person"}],
        stack=[{"layer": "actions"}], input_digest="sha256:x", created_at=1e9,
        expires_at=expires_at, replica="test:1",
    )  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def approvals_on(
    store: ApprovalStore, record: Callable[[dict[str, Any]], None], clock: Clock, ttl: float = 60
) -> Approvals:
    return Approvals(store, record, clock=clock, ttl=ttl, poll_interval=0.05)


ASK = {
    "decision_id": "d-1",
    "verdict": "ask",
    "reasons": [{"rule": "R-1", "verdict": "ask"}],
    "stack": [],
    "input_digest": "sha256:y",
    "action": {"kind": "command", "command": "git push", "agent": {"id": "agent-7"}},
}


def test_one_claim_wins_and_only_its_token_settles(store: ApprovalStore) -> None:
    store.add(row("d-1"))
    store.add(row("d-1"))  # a second add of one decision changes nothing
    assert store.claim("d-1", "t-a", 1.0, 1.0 + 60, 0)
    assert not store.claim("d-1", "t-b", 1.0, 1.0 + 60, 0)
    assert not store.settle("d-1", "t-b", APPROVED, {"by": "bob"})
    store.release("d-1", "t-b")  # not its claim: nothing happens
    got = store.get("d-1")
    assert got is not None and got.status == APPROVING and got.claim == "t-a"
    assert store.settle("d-1", "t-a", APPROVED, {"by": "alice", "approve": True})
    assert not store.settle("d-1", "t-a", APPROVED, {"by": "alice"})  # only from approving
    assert not store.claim("d-1", "t-c", 2.0, 2.0 + 60, 0)  # settled for good
    got = store.get("d-1")
    assert got is not None and got.status == APPROVED
    assert got.outcome == {"by": "alice", "approve": True}
    assert store.open_rows(10) == []


def test_a_released_claim_is_pending_again(store: ApprovalStore) -> None:
    store.add(row("d-1"))
    assert store.claim("d-1", "t-a", 1.0, 1.0 + 60, 0)
    store.release("d-1", "t-a")
    assert [r.decision_id for r in store.open_rows(10)] == ["d-1"]
    assert store.claim("d-1", "t-b", 1.0, 1.0 + 60, 0)


def test_racing_claims_from_many_threads_have_one_winner(location: str) -> None:
    stores = [open_approvals(location) for _ in range(4)]
    try:
        for n in range(20):
            stores[0].add(row(f"d-{n}"))
        wins: list[tuple[int, str]] = []
        barrier = threading.Barrier(len(stores))

        def claimer(index: int) -> None:
            barrier.wait()
            won = [
                (n, f"t-{index}")
                for n in range(20)
                if stores[index].claim(f"d-{n}", f"t-{index}", 1.0, 61.0, 0)
            ]
            wins.extend(won)

        threads = [threading.Thread(target=claimer, args=(i,)) for i in range(len(stores))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(n for n, _ in wins) == list(range(20))
    finally:
        for opened in stores:
            opened.close()


def test_statuses_due_and_listing(store: ApprovalStore) -> None:
    store.add(row("d-late", expires_at=50.0))
    store.add(row("d-soon", expires_at=10.0))
    store.add(row("d-never"))
    assert store.due(5.0, 10) == []
    assert store.due(60.0, 10) == ["d-soon", "d-late"]
    states = store.statuses(["d-soon", "d-missing", "d-never"])
    assert states == {"d-soon": (PENDING, 10.0), "d-never": (PENDING, 2e9)}
    assert store.statuses([]) == {}
    assert len(store.open_rows(2)) == 2


def test_untrusted_text_round_trips(store: ApprovalStore) -> None:
    weird = row("d-'; DROP TABLE approvals; --")
    weird = ApprovalRow(**{**weird.__dict__, "subject": {"command": "echo '\x1b[31m' \ud7ff 🙂"}})
    store.add(weird)
    got = store.get("d-'; DROP TABLE approvals; --")
    assert got is not None and got.subject == weird.subject


def test_approvals_record_every_answer_and_refuse_twice(store: ApprovalStore) -> None:
    records: list[dict[str, Any]] = []
    clock = Clock()
    approvals = approvals_on(store, records.append, clock)
    try:
        approvals.remember(ASK, "agent-1", "agent-7")
        view = approvals.show("d-1")
        assert view["subject"] == {"kind": "command", "command": "git push", "agent": "agent-7"}
        assert view["asked_by"] == [{"rule": "R-1", "verdict": "ask"}]
        assert view["requester"] == "agent-1" and view["status"] == PENDING
        with pytest.raises(Forbidden):
            approvals.approve("d-1", True, "mine", "agent-7")  # the author
        with pytest.raises(Forbidden):
            approvals.approve("d-1", True, "mine", "agent-1")  # the requester
        answer = approvals.approve("d-1", False, "not today", "alice")
        assert answer["verdict"] == "deny" and answer["status"] == "rejected"
        with pytest.raises(Conflict):
            approvals.approve("d-1", True, "again", "bob")
        assert [r["approvals"][0]["by"] for r in records] == ["alice"]
        assert records[0]["decision_id"] == "d-1" and records[0]["verdict"] == "deny"
        assert records[0]["approvals"][0]["comment"] == "not today"
        state = approvals.state("d-1")
        assert state["status"] == "rejected" and state["outcome"] == "deny"
        with pytest.raises(NotFound):
            approvals.approve("d-unknown", True, "", "alice")
        approvals.remember({**ASK, "decision_id": "d-2", "verdict": "allow"}, "agent-1", None)
        assert approvals.state("d-2")["status"] == "final"
        with pytest.raises(Conflict):
            approvals.approve("d-2", True, "", "alice")
    finally:
        approvals.watcher.stop()


def test_a_failed_audit_record_gives_the_claim_back(store: ApprovalStore) -> None:
    def broken(record: dict[str, Any]) -> None:
        raise AuditError("the audit store is down")

    approvals = approvals_on(store, broken, Clock())
    approvals.remember(ASK, "agent-1", "agent-7")
    with pytest.raises(AuditError):
        approvals.approve("d-1", True, "", "alice")
    got = store.get("d-1")
    assert got is not None and got.status == PENDING and got.claim is None
    approvals.watcher.stop()


def test_an_unanswered_ask_expires_once_and_is_recorded(location: str) -> None:
    records: list[dict[str, Any]] = []
    clock = Clock()
    a, b = open_approvals(location), open_approvals(location)
    first = approvals_on(a, records.append, clock, ttl=30)
    second = approvals_on(b, records.append, clock, ttl=30)
    try:
        first.remember(ASK, "agent-1", "agent-7")
        assert second.state("d-1")["status"] == PENDING
        clock.now += timedelta(seconds=31)
        assert second.pending() == []  # expired while listing
        assert first.expire_due() == 0  # already expired by the other
        state = first.state("d-1")
        assert state["status"] == EXPIRED and state["outcome"] == "deny"
        with pytest.raises(Conflict):
            first.approve("d-1", True, "too late", "alice")
        assert len(records) == 1 and records[0]["status"] == EXPIRED
        assert records[0]["approvals"][0]["by"] == "charter"
    finally:
        first.close()
        second.close()


def test_a_waiter_on_one_instance_sees_an_answer_given_on_another(location: str) -> None:
    clock = Clock()
    first = approvals_on(open_approvals(location), lambda r: None, clock)
    second = approvals_on(open_approvals(location), lambda r: None, clock)
    try:
        first.remember(ASK, "agent-1", "agent-7")
        waiting = first.watch("d-1")
        assert not waiting.done()
        second.approve("d-1", True, "ship it", "bob")
        state = waiting.result(timeout=30)
        assert state["status"] == APPROVED and state["approvals"][0]["comment"] == "ship it"
    finally:
        first.close()
        second.close()


def test_subjects_are_bounded_summaries() -> None:
    big = "x" * 10_000
    subject = action_subject({"kind": "command", "command": big, "cwd": "/w", "agent": "?"})
    assert len(subject["command"]) < 5000 and subject["cwd"] == "/w" and "agent" not in subject
    files = [{"path": f"f{n}.py"} for n in range(80)]
    summary = proposal_subject(
        {"kind": "pull_request", "repository": "acme/x", "title": big, "files": files,
         "author": {"id": "bot", "type": "agent", "email": "x@y"}}
    )  # fmt: skip
    assert summary["file_count"] == 80 and len(summary["files"]) == 50
    assert summary["author"] == {"id": "bot", "type": "agent"}
    assert proposal_subject("not a document") == {} == action_subject(None)


def test_locations_follow_the_audit_store(tmp_path: Path) -> None:
    audit = tmp_path / "audit.db"
    assert location_for(str(audit)) == str(tmp_path / "audit.approvals.db")
    assert files_of(str(audit))[0] == str(tmp_path / "audit.approvals.db")
    url = "postgresql://u@h/db?schema=x"
    assert location_for(url) == url and files_of(url) == ()
    # The embedded store is a separate file: the audit log holds only the chain.
    SQLiteStore(audit).close()
    opened = open_approvals(str(audit))
    opened.close()
    assert (tmp_path / "audit.approvals.db").is_file()


def test_waiters_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("charter.runner.approvals.MAX_WAITERS", 3)
    approvals = approvals_on(open_approvals(str(tmp_path / "audit.db")), lambda r: None, Clock())
    try:
        approvals.remember(ASK, "agent-1", "agent-7")
        futures = [approvals.watch("d-1") for _ in range(3)]
        with pytest.raises(Unavailable):
            approvals.watch("d-1")
        futures[0].cancel()  # a caller that gave up no longer counts
        futures.append(approvals.watch("d-1"))
        approvals.approve("d-1", True, "", "alice")
        assert all(f.result(timeout=30)["status"] == APPROVED for f in futures[1:])
    finally:
        approvals.close()


# ------------------------------------------------------------- crashed claims
class Chain:
    """An audit chain in memory: ``record`` appends, ``find`` looks an answer up."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def record(self, doc: dict[str, Any]) -> None:
        self.records.append({**doc, "kind": "approval"})

    def head(self) -> int:
        return len(self.records)

    def find(self, decision_id: str, after: int) -> dict[str, Any] | None:
        return next((r for r in self.records[after:] if r["decision_id"] == decision_id), None)


def leased(store: ApprovalStore, chain: Chain, clock: Clock, lease: float = 30) -> Approvals:
    return Approvals(
        store, chain.record, clock=clock, ttl=3600, poll_interval=0.05, lease=lease,
        audit_head=chain.head, find_answer=chain.find,
    )  # fmt: skip


def crashed_claim(store: ApprovalStore, clock: Clock, holder: str = "dead:1") -> None:
    """What a replica that crashed right after claiming ``d-1`` leaves behind."""
    now = clock().timestamp()
    assert store.claim("d-1", f"{holder}/t", now, now + 30, 0)


def test_a_claim_whose_replica_crashed_before_recording_is_given_back(
    store: ApprovalStore,
) -> None:
    chain, clock = Chain(), Clock()
    approvals = leased(store, chain, clock)
    try:
        approvals.remember(ASK, "agent-1", "agent-7")
        crashed_claim(store, clock)
        with pytest.raises(Conflict):  # the lease still holds: maybe it is just slow
            approvals.approve("d-1", True, "", "alice")
        shown = approvals.show("d-1")
        assert shown["being_answered"] and shown["claim_lapses_at"] == "2026-01-01T00:00:30Z"
        clock.now += timedelta(seconds=31)
        # The next approver recovers it: nothing was recorded, so it is pending again.
        answer = approvals.approve("d-1", True, "after the crash", "alice")
        assert answer["status"] == APPROVED
        assert [r["approvals"][0]["comment"] for r in chain.records] == ["after the crash"]
        assert approvals.recovered == 1
        with pytest.raises(Conflict):
            approvals.approve("d-1", False, "", "bob")
    finally:
        approvals.close()


def test_a_claim_whose_replica_crashed_after_recording_settles_as_recorded(
    store: ApprovalStore,
) -> None:
    chain, clock = Chain(), Clock()
    approvals = leased(store, chain, clock)
    try:
        approvals.remember(ASK, "agent-1", "agent-7")
        waiting = approvals.watch("d-1")
        crashed_claim(store, clock)
        # The crashed replica had made its answer durable before dying.
        got = store.get("d-1")
        assert got is not None
        answer = {"by": "carol", "approve": False, "comment": "no", "at": "2026-01-01T00:00:00Z"}
        chain.record({"decision_id": "d-1", "verdict": "deny", "approvals": [answer]})
        clock.now += timedelta(seconds=31)
        # Listing (any replica) recovers lapsed claims: rolled forward, not re-asked.
        assert approvals.pending() == []
        state = approvals.state("d-1")
        assert state["status"] == "rejected" and state["approvals"] == [answer]
        assert waiting.result(timeout=30)["status"] == "rejected"
        with pytest.raises(Conflict):
            approvals.approve("d-1", True, "", "alice")
        assert len(chain.records) == 1  # applied once: nothing recorded again
    finally:
        approvals.close()


def test_a_taken_over_claim_can_no_longer_settle(store: ApprovalStore) -> None:
    store.add(row("d-1"))
    assert store.claim("d-1", "slow/a", 1.0, 31.0, 0)
    assert not store.take_over("d-1", "slow/a", "new/b", 10.0, 40.0, 10.0)  # not lapsed
    assert not store.take_over("d-1", "other", "new/b", 40.0, 70.0, 40.0)  # not its claim
    assert store.take_over("d-1", "slow/a", "new/b", 40.0, 70.0, 40.0)
    assert not store.take_over("d-1", "slow/a", "new/c", 40.0, 70.0, 40.0)  # taken once
    assert store.lapsed(50.0, 10) == [] and store.lapsed(80.0, 10) == ["d-1"]
    assert not store.settle("d-1", "slow/a", APPROVED, {"by": "alice"})  # fenced off
    assert store.settle("d-1", "new/b", APPROVED, {"by": "alice"})
    assert store.held_by("new/", 10) == []


def test_a_restarted_replica_takes_back_its_own_claims_at_once(
    store: ApprovalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain, clock = Chain(), Clock()
    monkeypatch.setenv("CHARTER_REPLICA", "runner-0")
    approvals = leased(store, chain, clock)
    try:
        approvals.remember(ASK, "agent-1", "agent-7")
        approvals.remember({**ASK, "decision_id": "d-2"}, "agent-1", "agent-7")
        crashed_claim(store, clock, holder="runner-0")  # its previous incarnation's
        now = clock().timestamp()
        assert store.claim("d-2", "runner-1/t", now, now + 30, 0)  # another replica's
        assert store.held_by("runner-0/", 10) == ["d-1"]
        assert approvals.recover_own() == 1  # no need to wait for the lease
        assert approvals.state("d-1")["status"] == PENDING
        got = store.get("d-2")
        assert got is not None and got.status == APPROVING  # not its own: left alone
    finally:
        approvals.close()


def test_a_store_made_before_claims_were_leases_gains_the_columns(location: str) -> None:
    """An approvals table of the previous layout (no lease_until, audit_seq) is upgraded."""
    if location.startswith("postgresql://"):
        import psycopg
        from psycopg import sql

        from charter.audit.postgres import split_url

        dsn, schema = split_url(location)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {} (decision_id TEXT PRIMARY KEY, status TEXT NOT NULL,"
                    " kind TEXT NOT NULL, requester TEXT NOT NULL, author TEXT,"
                    " subject TEXT NOT NULL, reasons TEXT NOT NULL, stack TEXT NOT NULL,"
                    " input_digest TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,"
                    " expires_at DOUBLE PRECISION NOT NULL, replica TEXT NOT NULL, claim TEXT,"
                    " claimed_at DOUBLE PRECISION, outcome TEXT)"
                ).format(sql.Identifier(schema, "approvals"))
            )
    else:
        import sqlite3

        db = sqlite3.connect(location_for(location))
        db.execute(
            "CREATE TABLE approvals (decision_id TEXT PRIMARY KEY, status TEXT NOT NULL,"
            " kind TEXT NOT NULL, requester TEXT NOT NULL, author TEXT, subject TEXT NOT NULL,"
            " reasons TEXT NOT NULL, stack TEXT NOT NULL, input_digest TEXT NOT NULL,"
            " created_at REAL NOT NULL, expires_at REAL NOT NULL, replica TEXT NOT NULL,"
            " claim TEXT, claimed_at REAL, outcome TEXT)"
        )
        db.commit()
        db.close()
    store = open_approvals(location)
    try:
        store.add(row("d-1"))
        assert store.claim("d-1", "r/t", 1.0, 31.0, 7)
        got = store.get("d-1")
        assert got is not None and got.lease_until == 31.0 and got.audit_seq == 7
    finally:
        store.close()


class Stalling(Chain):
    """A chain where alice's answer stalls past its lease: ``before`` runs before her
    record is written, ``after`` right after it (another replica acting meanwhile)."""

    def __init__(self) -> None:
        super().__init__()
        self.before: Callable[[], None] = lambda: None
        self.after: Callable[[], None] = lambda: None
        self.events: list[dict[str, Any]] = []

    def record(self, doc: dict[str, Any]) -> None:
        alice = doc["approvals"][0]["by"] == "alice"
        if alice:
            self.before()
        super().record(doc)
        if alice:
            self.after()

    def event(self, doc: dict[str, Any]) -> None:
        self.events.append(doc)


def replica(location: str, chain: Stalling, clock: Clock) -> Approvals:
    return Approvals(
        open_approvals(location), chain.record, clock=clock, ttl=3600, poll_interval=0.05,
        lease=30, audit_head=chain.head, find_answer=chain.find, record_event=chain.event,
    )  # fmt: skip


def test_a_stalled_answer_found_by_the_taker_is_applied_once(location: str) -> None:
    chain, clock = Stalling(), Clock()
    a, b = replica(location, chain, clock), replica(location, chain, clock)
    try:
        a.remember(ASK, "agent-1", "agent-7")

        def b_recovers() -> None:
            clock.now += timedelta(seconds=31)  # alice's replica stalled past its lease
            assert b.recover("d-1") == APPROVED  # rolled forward: alice's answer
            assert b.recover("d-1") is None  # once

        chain.after = b_recovers
        answer = a.approve("d-1", True, "slow but sure", "alice")
        assert answer["status"] == APPROVED  # alice's answer was applied (by b)
        state = b.state("d-1")
        assert state["approvals"][0]["comment"] == "slow but sure"
        assert len(chain.records) == 1 and chain.events == []
    finally:
        a.close()
        b.close()


def test_a_stalled_answer_the_taker_did_not_see_is_void(location: str) -> None:
    chain, clock = Stalling(), Clock()
    a, b = replica(location, chain, clock), replica(location, chain, clock)
    try:
        a.remember(ASK, "agent-1", "agent-7")

        def b_recovers_and_bob_answers() -> None:
            clock.now += timedelta(seconds=31)
            assert b.recover("d-1") == PENDING  # nothing recorded yet: given back
            assert b.approve("d-1", False, "no", "bob")["status"] == "rejected"

        chain.before = b_recovers_and_bob_answers
        with pytest.raises(Conflict, match="lapsed before this answer was applied"):
            a.approve("d-1", True, "too slow", "alice")
        state = a.state("d-1")
        assert state["status"] == "rejected" and state["approvals"][0]["by"] == "bob"
        # The chain shows both answers, and that alice's was not applied.
        assert [r["approvals"][0]["by"] for r in chain.records] == ["bob", "alice"]
        assert [e["event"]["type"] for e in chain.events] == ["approval_void"]
        assert chain.events[0]["event"]["approval"]["by"] == "alice"
    finally:
        a.close()
        b.close()
