"""`audit verify` on a live log: appends running meanwhile are no break, tampering still is.

Both real stores (SQLite in WAL mode, PostgreSQL at $CHARTER_TEST_PG), a writer
thread appending through its own store while another store (the runner's own,
or a read-only one as `charter audit verify` opens) verifies again and again.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from charter.audit import chain, checkpoint, stores
from charter.audit.postgres import split_url
from charter.cli import main
from charter.runner.exporter import ExportingStore
from charter.trust import keys
from tests.fixtures_pg import pg_url

__all__ = ["pg_url"]

ROUNDS = 25


def decision(i: int) -> dict[str, Any]:
    return {
        "decision_id": f"d-{i}",
        "verdict": "allow",
        "reasons": [],
        "stack": [],
        "input_digest": f"sha256:{i:064x}",
    }


@contextmanager
def appending(location: str) -> Iterator[tuple[chain.AuditStore, list[int]]]:
    """A writer appending to ``location`` through its own store until the block ends;
    yields that store and how many it appended (one item, updated as it goes)."""
    store = stores.open_store(location)
    done = threading.Event()
    count = [0]
    errors: list[BaseException] = []

    def write() -> None:
        try:
            while not done.is_set():
                count[0] += 1
                store.append(decision(count[0]), source="writer")
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        while count[0] < 3 and not errors:  # the log is live before verifying starts
            done.wait(0.001)
        yield store, count
    finally:
        done.set()
        thread.join(timeout=30)
        store.close()
    assert not errors, errors


def _verify_while_appending(location: str, *, own: bool) -> None:
    """Verify at least ROUNDS times, and on until the writer appended 30 more records."""
    with appending(location) as (writer, written):
        verifier = writer if own else stores.open_store(location, read_only=True)
        try:
            seen: list[int] = []
            start = written[0]
            while len(seen) < ROUNDS or (written[0] < start + 30 and len(seen) < 5000):
                report = chain.verify(verifier)
                assert report.ok, report.problem
                assert report.head_seq == report.count
                seen.append(report.count)
        finally:
            if not own:
                verifier.close()
    # Verification saw a log that kept growing: the appends did run meanwhile.
    assert seen == sorted(seen) and seen[-1] > seen[0]
    final = stores.open_store(location, read_only=True)
    try:
        assert chain.verify(final).count >= seen[-1]
    finally:
        final.close()


@pytest.mark.parametrize("own", [False, True], ids=["cli-store", "writer-store"])
def test_sqlite_verify_during_appends_never_reports_a_false_break(
    tmp_path: Path, own: bool
) -> None:
    location = str(tmp_path / "audit.db")
    stores.open_store(location).close()
    _verify_while_appending(location, own=own)


@pytest.mark.parametrize("own", [False, True], ids=["cli-store", "writer-store"])
def test_pg_verify_during_appends_never_reports_a_false_break(pg_url: str, own: bool) -> None:
    stores.open_store(pg_url).close()
    _verify_while_appending(pg_url, own=own)


def test_audit_verify_command_during_appends_exits_0(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for location in (str(tmp_path / "audit.db"), pg_url):
        stores.open_store(location).close()
        with appending(location):
            codes = [main(["audit", "verify", "--store", location]) for _ in range(5)]
        assert codes == [0] * 5, capsys.readouterr().err


def test_the_runners_exporting_store_verifies_through_its_inner_snapshot(tmp_path: Path) -> None:
    """The runner wraps its store (charter.runner.exporter); verifying goes through."""
    offered: list[Any] = []
    with appending(str(tmp_path / "audit.db")) as (writer, _):
        wrapped = ExportingStore(writer, offered.append)
        reports = [chain.verify(wrapped) for _ in range(ROUNDS)]
        wrapped.append(decision(0), source="runner")
    assert all(report.ok for report in reports), [r.problem for r in reports]
    assert len(offered) == 1


def test_a_checkpoint_of_a_live_log_is_made_and_verifies(pg_url: str) -> None:
    """`audit checkpoint` verifies first: appends meanwhile do not refuse it."""
    key = keys.generate("ed25519")
    with appending(pg_url):
        store = stores.open_store(pg_url, read_only=True)
        try:
            notes = [checkpoint.make(store, key) for _ in range(5)]
            for note in notes:
                report = checkpoint.verify_checkpoint(store, note.encode(), key.public_key())
                assert report.ok, report.problem
        finally:
            store.close()


# ------------------------------------------------- real breaks, still caught live


def _tamper_sqlite(location: str, seq: int) -> None:
    db = sqlite3.connect(location, timeout=30)
    try:
        record = json.loads(
            db.execute("SELECT record FROM audit WHERE seq = ?", (seq,)).fetchone()[0]
        )
        record["verdict"] = "deny"
        db.execute("UPDATE audit SET record = ? WHERE seq = ?", (json.dumps(record), seq))
        db.commit()
    finally:
        db.close()


def _tamper_pg(location: str, seq: int) -> None:
    dsn, schema = split_url(location)
    log = sql.Identifier(schema, "audit_log")
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(sql.SQL("SELECT record FROM {} WHERE seq = %s").format(log), (seq,))
        record = json.loads(row.fetchone()[0])  # type: ignore[index]
        record["verdict"] = "deny"
        conn.execute(
            sql.SQL("UPDATE {} SET record = %s WHERE seq = %s").format(log),
            (json.dumps(record), seq),
        )


def _tampered_while_appending(location: str, tamper: Callable[[str, int], None]) -> None:
    with appending(location):
        verifier = stores.open_store(location, read_only=True)
        try:
            assert chain.verify(verifier).ok
            tamper(location, 2)
            for _ in range(5):
                report = chain.verify(verifier)
                assert not report.ok and report.first_bad_seq == 2
                assert report.problem == "record 2: content was modified"
        finally:
            verifier.close()


def test_sqlite_a_record_modified_during_appends_is_reported(tmp_path: Path) -> None:
    location = str(tmp_path / "audit.db")
    stores.open_store(location).close()
    _tampered_while_appending(location, _tamper_sqlite)


def test_pg_a_record_modified_during_appends_is_reported(pg_url: str) -> None:
    stores.open_store(pg_url).close()
    _tampered_while_appending(pg_url, _tamper_pg)


def test_sqlite_an_anchor_moved_back_over_records_is_reported(tmp_path: Path) -> None:
    """Records beyond the anchor within the snapshot are a break (the anchor was
    rewritten to an earlier record), not appends the snapshot should hide."""
    location = tmp_path / "audit.db"
    store = stores.open_store(location)
    for i in range(1, 7):
        store.append(decision(i), source="test")
    db = sqlite3.connect(location)
    db.execute("UPDATE head SET seq = 4, hash = (SELECT hash FROM audit WHERE seq = 4)")
    db.commit()
    db.close()
    report = chain.verify(store)
    store.close()
    assert not report.ok and report.first_bad_seq == 4
    assert "head anchor names record 4" in (report.problem or "")


def test_pg_an_anchor_moved_back_over_records_is_reported(pg_url: str) -> None:
    store = stores.open_store(pg_url)
    for i in range(1, 7):
        store.append(decision(i), source="test")
    dsn, schema = split_url(pg_url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("UPDATE {} SET seq = 4, hash = (SELECT hash FROM {} WHERE seq = 4)").format(
                sql.Identifier(schema, "audit_head"), sql.Identifier(schema, "audit_log")
            )
        )
    reader = stores.open_store(pg_url, read_only=True)
    try:
        report = chain.verify(reader)
    finally:
        reader.close()
        store.close()
    assert not report.ok and report.first_bad_seq == 4
