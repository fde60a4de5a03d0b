"""The shared state store (versions, spend, console sessions), on both backends.

Every test runs against the embedded SQLite store and the real PostgreSQL at
127.0.0.1:5432 (``tests/fixtures_pg.py``: one throw-away schema per test), with
two store instances standing for two replicas.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from charter.core.errors import AuditError, InputError, RollbackError
from charter.runner.auth import Principal, TokenEntry, TokenTable
from charter.runner.console import Sessions
from charter.runner.shared_state import (
    SharedBudget,
    SharedState,
    SharedVersions,
    files_of,
    location_for,
    open_state,
    session_key,
)
from charter.trust.versions import VersionState
from tests.fixtures_pg import pg_url

__all__ = ["pg_url"]


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "audit.db")
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def pair(location: str) -> Iterator[tuple[SharedState, SharedState]]:
    """Two replicas' views of one store."""
    a, b = open_state(location), open_state(location)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def test_a_version_accepted_on_one_replica_is_a_floor_on_every_other(
    pair: tuple[SharedState, SharedState], tmp_path: Path
) -> None:
    a, b = pair
    on_a = SharedVersions(tmp_path / "state-a", a, "a")
    on_b = SharedVersions(tmp_path / "state-b", b, "b")
    on_a.accept("actions/agent", "1.0.0", "sha256:1")
    on_b.accept("actions/agent", "1.0.0", "sha256:1")  # the same again: fine
    on_a.accept("actions/agent", "1.2.0", "sha256:2")
    with pytest.raises(RollbackError, match="older than the accepted 1.2.0"):
        on_b.check("actions/agent", "1.0.0", "sha256:1")
    with pytest.raises(RollbackError):
        on_b.accept("actions/agent", "1.1.0", "sha256:x")
    with pytest.raises(RollbackError, match="different content"):
        on_b.accept("actions/agent", "1.2.0", "sha256:other")
    with pytest.raises(RollbackError, match="major"):
        on_b.accept("actions/agent", "2.0.0", "sha256:3")
    on_b.accept("actions/agent", "2.0.0", "sha256:3", allow_major=True)
    assert a.versions()["actions/agent"]["version"] == "2.0.0"
    assert a.versions()["actions/agent"]["replica"] == "b"
    # A restarted replica with an empty state directory still refuses the old ones.
    fresh = SharedVersions(tmp_path / "state-new", b, "c")
    with pytest.raises(RollbackError):
        fresh.check("actions/agent", "1.2.0", "sha256:2")
    # And a version this replica accepted before the store knew it stays a floor.
    VersionState(tmp_path / "state-new").accept("pack/x", "3.0.0", "sha256:p")
    with pytest.raises(RollbackError):
        fresh.check("pack/x", "2.9.0", "sha256:q")
    # ... and, once published, every replica's floor (newer ones only).
    other = SharedVersions(tmp_path / "state-other", a, "d")
    other.check("pack/x", "2.9.0", "sha256:q")  # the store does not know 3.0.0 yet
    VersionState(tmp_path / "state-new").accept("actions/agent", "1.0.0", "sha256:1")
    assert fresh.publish() == 1  # pack/x; the store's actions/agent 2.0.0 is newer
    with pytest.raises(RollbackError):
        other.check("pack/x", "2.9.0", "sha256:q")
    assert a.versions()["actions/agent"]["version"] == "2.0.0"
    assert fresh.publish() == 0


def test_racing_acceptances_leave_one_highest_version(location: str, tmp_path: Path) -> None:
    stores = [open_state(location) for _ in range(4)]
    try:
        barrier = threading.Barrier(len(stores))
        refused: list[str] = []

        def accept(index: int) -> None:
            versions = SharedVersions(tmp_path / f"s{index}", stores[index], f"r{index}")
            barrier.wait()
            for minor in range(index, 12, 2):
                try:
                    versions.accept("pack/p", f"1.{minor}.0", f"sha256:{minor}")
                except RollbackError:
                    refused.append(f"1.{minor}.0")

        threads = [threading.Thread(target=accept, args=(i,)) for i in range(len(stores))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert stores[0].versions()["pack/p"]["version"] == "1.11.0"
        accepted = stores[0].accepted("pack/p")
        assert accepted is not None and accepted.content_digest == "sha256:11"
    finally:
        for s in stores:
            s.close()


def test_spend_on_one_replica_counts_on_every_other_once(
    pair: tuple[SharedState, SharedState],
) -> None:
    a, b = pair
    now = [datetime(2026, 3, 1, 12, tzinfo=UTC)]
    on_a = SharedBudget(a, "a", interval=0, clock=lambda: now[0])
    on_b = SharedBudget(b, "b", interval=3600, clock=lambda: now[0])
    assert on_b.spent_today() == 0.0  # read, and cached for an hour
    first = on_a.record(2.5, "run-1", "agent-1", "req-1")
    assert first["recorded"] and first["spent_today"] == 2.5
    again = on_a.record(2.5, "run-1", "agent-1", "req-1")  # a retry: counted once
    assert again["duplicate"] and again["spent_today"] == 2.5
    other = on_a.record(2.5, "run-1", "agent-2", "req-1")  # another client's id
    assert other["recorded"]
    assert on_a.spent_run("run-1") == 5.0 and on_a.spent_run("run-2") == 0.0
    assert on_b.spent_today() == 0.0  # B's cached view, until it is stale
    on_b = SharedBudget(b, "b", interval=0, clock=lambda: now[0])  # never stale
    assert on_b.spent_today() == 5.0
    on_b.record(1.0, None, "ops", None)
    assert on_a.spent_today() == 6.0
    now[0] += timedelta(days=1)  # a new UTC day starts from nothing
    assert on_a.spent_today() == 0.0 and on_b.spent_today() == 0.0
    for bad in (-1, math.nan, math.inf, True, "3"):
        with pytest.raises(InputError):
            on_a.record(bad, None, "agent-1")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        on_a.record(1, "run\x00", "agent-1")
    with pytest.raises(InputError):
        on_a.record(1, None, "agent-1", "x" * 129)


def test_an_unreadable_store_counts_as_spent(tmp_path: Path) -> None:
    store = open_state(str(tmp_path / "audit.db"))
    budget = SharedBudget(store, "a", interval=0)
    store.close()
    assert budget.spent_today() == math.inf and budget.spent_run("r") == math.inf
    with pytest.raises(AuditError):
        budget.record(1.0, None, "agent-1")


def test_a_console_session_made_on_one_replica_works_on_another(
    pair: tuple[SharedState, SharedState],
) -> None:
    a, b = pair
    now = [1_000_000.0]
    tokens = TokenTable(
        (TokenEntry("alice", "approver", "sha256", b"x" * 32),
         TokenEntry("bob", "agent", "sha256", b"y" * 32))
    )  # fmt: skip
    on_a = Sessions(a, tokens, ttl=100, idle=10, limit=2, clock=lambda: now[0])
    on_b = Sessions(b, tokens, ttl=100, idle=10, limit=2, clock=lambda: now[0])
    alice = Principal("alice", "approver")
    sid = on_a.open(alice)
    seen = on_b.get(sid)
    assert seen is not None and seen.principal == alice
    assert seen.csrf == on_a.get(sid).csrf != sid  # type: ignore[union-attr]
    # Only the hash of the id is stored: the id itself opens nothing.
    assert on_b.get(session_key(sid)) is None
    now[0] += 9
    assert on_b.get(sid) is not None  # used: its idle time restarts (for both)
    now[0] += 9
    assert on_a.get(sid) is not None
    now[0] += 11
    assert on_a.get(sid) is None and on_b.get(sid) is None  # idle too long
    # Signing out on one replica ends the session on every replica.
    sid = on_a.open(alice)
    on_b.close(sid)
    assert on_a.get(sid) is None
    # Bounded per principal: the oldest are closed first.
    opened = []
    for _ in range(3):
        now[0] += 0.5
        opened.append(on_a.open(alice))
    first, second, third = opened
    assert on_b.get(first) is None and on_b.get(second) and on_b.get(third)
    # Past the absolute lifetime, however busy.
    keep = on_a.open(alice)
    for _ in range(11):  # 99 s of a 100 s lifetime
        now[0] += 9
        assert on_b.get(keep) is not None
    now[0] += 9
    assert on_b.get(keep) is None
    # A token removed from the config (or given another role) ends its sessions.
    sid = on_a.open(Principal("bob", "agent"))
    assert on_b.get(sid) is not None
    narrowed = Sessions(b, TokenTable(tokens.entries[:1]), clock=lambda: now[0])
    assert narrowed.get(sid) is None and on_a.get(sid) is None
    sid = on_a.open(Principal("alice", "operator"))  # not alice's role in the config
    assert on_b.get(sid) is None
    # Revocation: every session of a principal at once.
    sids = [on_a.open(alice) for _ in range(2)]
    assert a.close_sessions_of("alice") == 2
    assert all(on_b.get(s) is None for s in sids)
    assert on_a.get("") is None and on_a.get("x" * 500) is None and len(on_a) == 0


def test_locations_follow_the_audit_store(tmp_path: Path) -> None:
    audit = tmp_path / "audit.db"
    assert location_for(str(audit)) == str(tmp_path / "audit.state.db")
    assert files_of(str(audit))[0] == str(tmp_path / "audit.state.db")
    url = "postgresql://u@h/db?schema=x"
    assert location_for(url) == url and files_of(url) == ()
