"""The audit chain: tamper detection (SQLite and PostgreSQL), head anchor, export."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from charter.audit import chain, redact, stores
from charter.audit.postgres import PostgresStore, redact_url, split_url
from charter.cli import main
from charter.core import jsonio
from charter.core.errors import AuditError
from tests.fixtures_pg import pg_url

__all__ = ["pg_url"]


def decision(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "decision_id": f"d-{i}",
        "verdict": "allow",
        "reasons": [],
        "stack": [{"layer": "constitution", "digest": "sha256:00"}],
        "input_digest": f"sha256:{i:064x}",
        **extra,
    }


def fill(store: chain.AuditStore, n: int) -> None:
    for i in range(1, n + 1):
        store.append(decision(i), source="test")


# --------------------------------------------------------------- SQLite tamper


def _sqlite(path: Path, sql: str, *params: Any) -> None:
    db = sqlite3.connect(path)
    db.execute(sql, params)
    db.commit()
    db.close()


def _modify(path: Path) -> None:
    row = sqlite3.connect(path).execute("SELECT record FROM audit WHERE seq = 3").fetchone()
    record = json.loads(row[0])
    record["verdict"] = "deny"
    _sqlite(path, "UPDATE audit SET record = ? WHERE seq = 3", json.dumps(record))


def _delete_middle(path: Path) -> None:
    _sqlite(path, "DELETE FROM audit WHERE seq = 3")


def _delete_tail(path: Path) -> None:
    _sqlite(path, "DELETE FROM audit WHERE seq >= 4")


def _insert(path: Path) -> None:
    db = sqlite3.connect(path)
    rows = db.execute("SELECT seq, decision_id, hash, record FROM audit ORDER BY seq").fetchall()
    db.execute("DELETE FROM audit")
    forged = chain.build_record(3, rows[1][2], decision(99), source="forged", kind="decision")
    for seq, did, h, rec in rows:
        if seq == 3:
            db.execute(
                "INSERT INTO audit VALUES (?, ?, ?, ?)",
                (3, "d-99", forged["hash"], jsonio.canonical(forged)),
            )
        body = json.loads(rec)
        if seq >= 3:
            body["seq"] = seq + 1
        db.execute("INSERT INTO audit VALUES (?, ?, ?, ?)", (body["seq"], did, h, json.dumps(body)))
    db.commit()
    db.close()


def _reorder(path: Path) -> None:
    db = sqlite3.connect(path)
    a = db.execute("SELECT record FROM audit WHERE seq = 2").fetchone()[0]
    b = db.execute("SELECT record FROM audit WHERE seq = 3").fetchone()[0]
    db.execute("UPDATE audit SET record = ? WHERE seq = 2", (b,))
    db.execute("UPDATE audit SET record = ? WHERE seq = 3", (a,))
    db.commit()
    db.close()


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [(_modify, 3), (_delete_middle, 3), (_delete_tail, 4), (_insert, 4), (_reorder, 2)],
    ids=["modified", "deleted", "truncated", "inserted", "reordered"],
)
def test_sqlite_tampering_is_detected(
    tmp_path: Path,
    tamper: Callable[[Path], None],
    first_bad: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "audit.db"
    store = stores.open_store(path)
    fill(store, 6)
    assert chain.verify(store).ok
    store.close()
    assert main(["audit", "verify", "--store", str(path)]) == 0
    capsys.readouterr()
    tamper(path)
    store = stores.open_store(path)
    report = chain.verify(store)
    store.close()
    assert not report.ok
    assert report.first_bad_seq == first_bad
    assert main(["audit", "verify", "--store", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"first bad record {first_bad}" in err


def test_truncation_with_rewritten_anchor_needs_expected_head(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    store = stores.open_store(path)
    fill(store, 5)
    head = store.head()
    assert head is not None and head[0] == 5
    store.close()
    # The residual risk: delete the tail AND rewrite the anchor ...
    db = sqlite3.connect(path)
    db.execute("DELETE FROM audit WHERE seq = 5")
    db.execute("UPDATE head SET seq = 4, hash = (SELECT hash FROM audit WHERE seq = 4)")
    db.commit()
    db.close()
    store = stores.open_store(path)
    assert chain.verify(store).ok
    # ... which a head copied elsewhere still catches.
    report = chain.verify(store, expected_head=head)
    assert not report.ok and report.first_bad_seq == 5
    store.close()
    code = main(["audit", "verify", "--store", str(path), "--expect-head", f"{head[0]}:{head[1]}"])
    assert code == 1


def _head_rows(path: Path) -> list[Any]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT seq, hash FROM head").fetchall()
    finally:
        db.close()


def test_verify_does_not_recreate_a_deleted_head_anchor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.db"
    store = stores.open_store(path)
    fill(store, 5)
    store.close()
    # Delete the tail and the anchor that would have shown it.
    _sqlite(path, "DELETE FROM audit WHERE seq = 5")
    _sqlite(path, "DELETE FROM head")
    assert main(["audit", "verify", "--store", str(path)]) == 1
    assert "no head anchor" in capsys.readouterr().err
    assert _head_rows(path) == []  # verifying wrote nothing
    assert main(["audit", "verify", "--store", str(path), "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False
    assert _head_rows(path) == []
    readonly = stores.open_store(path, read_only=True)
    try:
        with pytest.raises(AuditError, match="readonly"):
            readonly.append(decision(9), source="test")
    finally:
        readonly.close()


def test_verify_and_export_of_a_file_that_is_no_audit_log_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "other.db"
    _sqlite(path, "CREATE TABLE notes (x TEXT)")
    for command in ("verify", "export"):
        assert main(["audit", command, "--store", str(path)]) == 2
        err = capsys.readouterr().err
        assert str(path) in err and "not an audit log (no audit or head table)" in err
    db = sqlite3.connect(path)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert tables == {"notes"}
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database, " * 100)
    assert main(["audit", "verify", "--store", str(garbage)]) == 2
    err = capsys.readouterr().err
    assert "cannot open the audit store" in err and "Traceback" not in err
    assert garbage.read_bytes() == b"not a database, " * 100
    missing = tmp_path / "typo.db"
    assert main(["audit", "verify", "--store", str(missing)]) == 2
    assert "no such audit store" in capsys.readouterr().err
    assert not missing.exists()


def test_group_commit_keeps_one_chain_under_threads(tmp_path: Path) -> None:
    store = stores.open_store(tmp_path / "audit.db")
    got: list[dict[str, Any]] = []
    lock = threading.Lock()

    def worker(base: int) -> None:
        for i in range(25):
            record = store.append(decision(base + i), source="thread")
            with lock:
                got.append(record)

    threads = [threading.Thread(target=worker, args=(k * 1000,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    report = chain.verify(store)
    assert report.ok and report.count == 200
    assert sorted(r["seq"] for r in got) == list(range(1, 201))
    stored = {r["decision_id"]: r["hash"] for r in store.records()}
    assert all(stored[r["decision_id"]] == r["hash"] for r in got)


def _submitted(store: chain.AuditStore, ids: range, sync_every: int = 0) -> list[Any]:
    """Submit decisions without blocking (mixed with blocking appends); wait for all."""
    done: list[Any] = []
    finished = threading.Event()
    lock = threading.Lock()
    expected = len(ids)

    def callback(record: dict[str, Any] | None, error: BaseException | None) -> None:
        with lock:
            done.append(record if error is None else error)
            if len(done) == expected:
                finished.set()

    for i in ids:
        if sync_every and i % sync_every == 0:
            callback(store.append(decision(i), source="sync"), None)
        else:
            store.submit(decision(i), source="async", callback=callback)
    assert finished.wait(60)
    return done


@pytest.mark.parametrize("sync_every", [0, 3])
def test_submitted_records_are_durable_before_their_callback(
    tmp_path: Path, sync_every: int
) -> None:
    path = tmp_path / "audit.db"
    store = stores.open_store(path)
    seen: list[int] = []

    def check_durable(record: dict[str, Any] | None, error: BaseException | None) -> None:
        # Another connection sees the record by the time the callback runs.
        assert error is None and record is not None
        db = sqlite3.connect(path)
        try:
            row = db.execute("SELECT hash FROM audit WHERE seq = ?", (record["seq"],)).fetchone()
        finally:
            db.close()
        seen.append(1 if row and row[0] == record["hash"] else 0)

    store.submit(decision(0), source="async", callback=check_durable)
    records = _submitted(store, range(1, 61), sync_every=sync_every)
    assert all(isinstance(r, dict) for r in records)
    store.close()
    assert seen == [1]
    reopened = stores.open_store(path)
    report = chain.verify(reopened)
    assert report.ok and report.count == 61
    stored = {r["decision_id"]: r["hash"] for r in reopened.records()}
    assert all(stored[r["decision_id"]] == r["hash"] for r in records)


def test_a_failed_batch_reaches_every_callback_and_close_refuses_more(tmp_path: Path) -> None:
    store = stores.open_store(tmp_path / "audit.db")
    fill(store, 2)
    # Make the next transaction fail: a trigger that aborts any insert.
    store._db.execute(  # type: ignore[attr-defined]
        "CREATE TRIGGER no_more BEFORE INSERT ON audit"
        " BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    results = _submitted(store, range(10, 20))
    assert len(results) == 10
    assert all(isinstance(r, AuditError) and "disk says no" in str(r) for r in results)
    store._db.execute("DROP TRIGGER no_more")  # type: ignore[attr-defined]
    assert chain.verify(store).count == 2  # nothing half-written
    store.close()
    with pytest.raises(AuditError, match="closed"):
        store.submit(decision(99), source="late", callback=lambda record, error: None)


def test_callbacks_run_only_on_the_flusher_thread(tmp_path: Path) -> None:
    """An appending caller may hold its own locks: it must never run a submitter's callback."""
    store = stores.open_store(tmp_path / "audit.db")
    threads: set[str] = set()
    lock = threading.Lock()
    done = threading.Semaphore(0)
    total = 300

    def callback(record: dict[str, Any] | None, error: BaseException | None) -> None:
        with lock:
            threads.add(threading.current_thread().name)
        done.release()

    def appender(base: int) -> None:
        for i in range(60):
            store.append(decision(base + i), source="sync")

    def submitter() -> None:
        for i in range(total):
            store.submit(decision(10_000 + i), source="async", callback=callback)

    workers = [threading.Thread(target=appender, args=(k * 1000,)) for k in range(1, 4)]
    workers.append(threading.Thread(target=submitter))
    try:
        for t in workers:
            t.start()
        for t in workers:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in workers)
        assert all(done.acquire(timeout=60) for _ in range(total))
        assert threads == {"charter-audit-flush"}
        assert chain.verify(store).count == total + 180
    finally:
        store.close()


def test_pg_submitted_records_share_the_chain(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        records = _submitted(store, range(1, 41), sync_every=4)
        assert all(isinstance(r, dict) for r in records)
        assert sorted(r["seq"] for r in records) == sorted(
            r["seq"]
            for r in store.records()
            if r["decision_id"] in {x["decision_id"] for x in records}
        )
        assert chain.verify(store).ok
    finally:
        store.close()


def test_pg_records_with_quotes_and_escapes_round_trip(pg_url: str) -> None:
    """A batch goes to PostgreSQL as binary arrays: text an array literal would have
    to quote or escape (quotes, backslashes, braces, commas, NULL, newlines, non-ASCII)
    comes back exactly as written, and the chain over it verifies."""
    awkward = ['"', "\\", "{a,b}", "NULL", "x\ny", "é ✓ \u200b", "'; DROP", ",", '\\"{}']
    store = PostgresStore(pg_url)
    try:
        ids = range(9001, 9001 + 3 * len(awkward))
        done: list[Any] = []
        finished = threading.Event()

        def callback(record: dict[str, Any] | None, error: BaseException | None) -> None:
            done.append(record if error is None else error)
            if len(done) == len(ids):
                finished.set()

        for i in ids:
            text = awkward[i % len(awkward)]
            command = {"command": text * (i % 3 + 1), "msg": f"`{text}` is auto-allowed"}
            store.submit(decision(i, action=command), source="async", callback=callback)
        assert finished.wait(60)
        assert all(isinstance(r, dict) for r in done)
        stored = {r["decision_id"]: r for r in store.records()}
        for i in ids:
            text = awkward[i % len(awkward)]
            got = stored[f"d-{i}"]["action"]
            assert got == {"command": text * (i % 3 + 1), "msg": f"`{text}` is auto-allowed"}
        assert chain.verify(store).ok
    finally:
        store.close()


def test_unreadable_store_is_an_audit_error(tmp_path: Path) -> None:
    target = tmp_path / "dir.db"
    target.mkdir()
    with pytest.raises(AuditError):
        stores.open_store(target)


def test_verify_missing_store_is_usage_error(tmp_path: Path) -> None:
    assert main(["audit", "verify", "--store", str(tmp_path / "none.db")]) == 2


# --------------------------------------------------------------------- export


def test_export_redacts_by_default_and_policy_opts_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.db"
    store = stores.open_store(path)
    proposal = {
        "kind": "pull_request",
        "body": "see\n```python\nprint('code')\n```\n",
        "files": [{"path": "a.py", "status": "added", "patch": "+print('secret code')"}],
    }
    store.append(decision(1, input=proposal), source="runner")
    store.append(
        decision(
            2,
            action={"kind": "command", "command": "curl -H 'Authorization: Bearer abc123' x"},
            reasons=[{"rule": "R", "msg": "found AKIAABCDEFGHIJKLMNOP in file"}],
        ),
        source="gate",
    )
    store.close()
    assert main(["audit", "export", "--store", str(path)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2
    assert "input" not in lines[0] and "input" in lines[0]["redacted"]
    text = json.dumps(lines)
    assert "abc123" not in text and "AKIAABCDEFGHIJKLMNOP" not in text
    assert "secret code" not in text
    # Free text is dropped by default: the command, and the message quoting it.
    assert "command" not in lines[1]["action"] and "action.command" in lines[1]["redacted"]
    assert "msg" not in lines[1]["reasons"][0] and lines[1]["reasons"][0]["rule"] == "R"
    policy = tmp_path / "policy.toml"
    policy.write_text(
        "[export]\ninputs = true\npaths = true\nidentities = true\nsource_code = false\n"
        "secrets = true\ncommands = true\n"
    )
    out = tmp_path / "export.jsonl"
    assert (
        main(["audit", "export", "--store", str(path), "--redact", str(policy), "-o", str(out)])
        == 0
    )
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[0]["input"]["files"][0].get("patch") is None
    assert "print('code')" not in lines[0]["input"]["body"]
    assert "abc123" in lines[1]["action"]["command"]  # secrets = true: not scrubbed
    policy.write_text(
        "[export]\ninputs = true\npaths = true\nidentities = true\nsource_code = true\n"
    )
    records = list(redact.export(stores.open_store(path).records(), redact.load_policy(policy)))
    assert records[0]["input"]["files"][0]["patch"] == "+print('secret code')"


def test_bad_redaction_policy(tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text("[export]\nsource_code = 'yes'\n")
    assert (
        main(["audit", "export", "--store", str(tmp_path / "x.db"), "--redact", str(policy)]) == 2
    )


# ----------------------------------------------------------------- PostgreSQL


def test_pg_url_helpers() -> None:
    dsn, schema = split_url("postgresql://u:pw@h:5432/db?schema=abc&sslmode=disable")
    assert schema == "abc" and "schema" not in dsn and "sslmode=disable" in dsn
    assert redact_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    with pytest.raises(AuditError):
        split_url("postgresql://h/db?schema=Robert');DROP")


def test_pg_chain_and_tamper_detection(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    store = stores.open_store(pg_url)
    assert isinstance(store, PostgresStore)
    fill(store, 6)
    assert chain.verify(store).ok
    assert main(["audit", "verify", "--store", pg_url]) == 0
    schema = store.schema
    with psycopg.connect(split_url(pg_url)[0], autocommit=True) as conn:
        log = sql.Identifier(schema, "audit_log")
        row = conn.execute(sql.SQL("SELECT record FROM {} WHERE seq = 2").format(log)).fetchone()
        assert row is not None
        record = json.loads(row[0])
        record["verdict"] = "deny"
        conn.execute(
            sql.SQL("UPDATE {} SET record = %s WHERE seq = 2").format(log), (json.dumps(record),)
        )
    report = chain.verify(store)
    assert not report.ok and report.first_bad_seq == 2
    capsys.readouterr()
    assert main(["audit", "verify", "--store", pg_url]) == 1
    assert "first bad record 2" in capsys.readouterr().err
    with psycopg.connect(split_url(pg_url)[0], autocommit=True) as conn:
        conn.execute(
            sql.SQL("UPDATE {} SET record = %s WHERE seq = 2").format(log),
            (json.dumps(record | {"verdict": "allow"}),),
        )
        assert chain.verify(store).ok
        conn.execute(sql.SQL("DELETE FROM {} WHERE seq = 6").format(log))
    report = chain.verify(store)
    assert not report.ok and report.first_bad_seq == 6
    store.close()


def test_pg_two_stores_appending_concurrently_keep_one_chain(pg_url: str) -> None:
    both = [stores.open_store(pg_url), stores.open_store(pg_url)]
    errors: list[BaseException] = []

    def worker(store: chain.AuditStore, base: int) -> None:
        try:
            for i in range(40):
                store.append(decision(base + i), source=f"runner-{base}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(both[k % 2], k * 1000)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    report = chain.verify(both[0])
    assert report.ok, report.problem
    assert report.count == 240
    sources = {r["source"] for r in both[1].records()}
    assert len(sources) == 6
    for s in both:
        s.close()


def test_pg_writers_taking_turns_chain_after_each_other(pg_url: str) -> None:
    """A store writes a batch in one statement after the head it wrote last; when another
    writer moved the head meanwhile, nothing is written and the batch is chained after the
    new head instead: one chain, in the order the appends happened, nothing twice."""
    a, b = stores.open_store(pg_url), stores.open_store(pg_url)
    order = [(a, 1), (a, 2), (b, 3), (a, 4), (b, 5), (b, 6), (a, 7)]
    for store, i in order:
        store.append(decision(i), source="turns")
    # A decision that is not JSON data is refused alone, on the one-statement path too.
    with pytest.raises(AuditError):
        a.append(decision(8, event={"n": float("nan")}), source="turns")
    a.append(decision(9), source="turns")
    report = chain.verify(b)
    assert report.ok, report.problem
    records = list(b.records())
    assert [r["seq"] for r in records] == list(range(1, 9))
    assert [r["decision_id"] for r in records] == [decision(i)["decision_id"]
                                                   for i in (1, 2, 3, 4, 5, 6, 7, 9)]  # fmt: skip
    for store in (a, b):
        store.close()


def _pg_schema_exists(url: str, schema: str) -> bool:
    with psycopg.connect(split_url(url)[0], autocommit=True) as conn:
        row = conn.execute("SELECT to_regnamespace(%s) IS NOT NULL", (schema,)).fetchone()
    return bool(row and row[0])


def test_pg_verify_of_a_mistyped_schema_is_an_error_and_creates_nothing(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = split_url(pg_url)[1]
    for command in ("verify", "export"):
        assert main(["audit", command, "--store", pg_url]) == 2
        err = capsys.readouterr().err
        assert f"no schema {schema!r}" in err and "Traceback" not in err
    assert not _pg_schema_exists(pg_url, schema)
    with pytest.raises(AuditError, match="no schema"):
        PostgresStore(pg_url, read_only=True)


def test_pg_verify_of_a_schema_without_the_tables_is_an_error(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = stores.open_store(pg_url)
    fill(store, 3)
    schema = store.schema
    store.close()
    with psycopg.connect(split_url(pg_url)[0], autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, "audit_head")))
    assert main(["audit", "verify", "--store", pg_url]) == 2
    assert "has no audit_head table" in capsys.readouterr().err
    with psycopg.connect(split_url(pg_url)[0], autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (f"{schema}.audit_head",)).fetchone()
    assert row == (None,)  # not re-created by verifying


def test_pg_unreachable_is_an_audit_error() -> None:
    with pytest.raises(AuditError, match="cannot connect"):
        stores.open_store("postgresql://postgres@127.0.0.1:1/test?connect_timeout=2")


def test_a_sqlite_store_needs_neither_psycopg_nor_the_postgres_module(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from charter.audit import chain, stores\n"
        "store = stores.open_store(sys.argv[1])\n"
        "store.append({'decision_id': 'd-1', 'verdict': 'allow'}, source='test')\n"
        "assert chain.verify(store).ok\n"
        "store.close()\n"
        "print(sorted(m for m in ('psycopg', 'charter.audit.postgres') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "audit.db")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_a_decision_that_is_not_json_data_is_refused_alone(tmp_path: Path) -> None:
    store = stores.open_store(tmp_path / "audit.db")
    try:
        results: list[Any] = []
        lock = threading.Lock()
        done = threading.Semaphore(0)

        def callback(record: dict[str, Any] | None, error: BaseException | None) -> None:
            with lock:
                results.append(error if error is not None else record)
            done.release()

        # Queued together, so they share one batch (and one transaction).
        store.submit(decision(1), source="t", callback=callback)
        store.submit(decision(2, event={"at": datetime.now(UTC)}), source="t", callback=callback)
        store.submit(decision(3, event={"n": float("nan")}), source="t", callback=callback)
        store.submit(decision(4), source="t", callback=callback)
        assert all(done.acquire(timeout=60) for _ in range(4))
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 2 and all(isinstance(e, AuditError) for e in errors)
        assert all("not JSON data" in str(e) for e in errors)
        assert sorted(r["decision_id"] for r in results if isinstance(r, dict)) == ["d-1", "d-4"]
        report = chain.verify(store)
        assert report.ok and report.count == 2
    finally:
        store.close()
