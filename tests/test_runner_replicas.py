"""Two runner processes on one PostgreSQL behave as one for approvals.

Real ``charter runner`` processes on loopback ports, the real PostgreSQL at
127.0.0.1:5432 (a throw-away schema per test): an ask raised on A is listed and
answered on B and A's waiting caller gets the answer; a SIGKILLed replica loses
no pending ask; two replicas answering the same asks at once apply each answer
exactly once; and the audit chain verifies afterwards.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import psycopg.sql
import pytest

from charter.audit import stores
from charter.cli import main
from tests.fixtures_pg import PG_URL, _reachable, pg_url
from tests.fixtures_registry import require
from tests.runner_helpers import RunnerProcess, auth, write_config

__all__ = ["pg_url"]

TIMEOUT = 60.0


def ask_body(n: int) -> dict[str, Any]:
    return {"kind": "command", "command": f"git push origin feature-{n}", "cwd": "/tmp",
            "agent": {"id": "agent-7"}}  # fmt: skip


class Replicas:
    """Runner processes sharing one PostgreSQL store (each with its own config dir)."""

    def __init__(self, root: Path, store: str) -> None:
        self.root = root
        self.store = store
        self.configs: list[Path] = []
        self.processes: list[RunnerProcess] = []

    def start(self, index: int) -> RunnerProcess:
        while len(self.configs) <= index:
            n = len(self.configs)
            self.configs.append(
                write_config(
                    self.root / f"replica-{n}",
                    f'refresh_interval = "1h"\n\n[audit]\nstore = "{self.store}"\n\n'
                    '[approvals]\npoll_interval = "100ms"\n',
                )
            )
        log = self.root / f"replica-{index}.log"
        process = RunnerProcess(self.configs[index], log)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


@pytest.fixture
def replicas(tmp_path: Path, pg_url: str) -> Iterator[Replicas]:
    group = Replicas(tmp_path, pg_url)
    try:
        yield group
    finally:
        group.stop()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    """Two replicas shared by the tests that neither kill nor restart one (each starts in
    seconds); the tests use their own asks, and a schema of their own."""
    problem = _reachable()
    require("PostgreSQL", problem is None, f"{PG_URL}: {problem}")
    schema = f"charter_test_{uuid.uuid4().hex[:12]}"
    group = Replicas(tmp_path_factory.mktemp("pair"), f"{PG_URL}?schema={schema}")
    try:
        group.start(0)
        group.start(1)
        yield group
    finally:
        group.stop()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    psycopg.sql.Identifier(schema)
                )
            )


def ask(client: httpx.Client, n: int) -> str:
    r = client.post("/v1/decisions/action", json=ask_body(n), headers=auth("agent"))
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "ask"
    return str(r.json()["decision_id"])


def audit_records(store: str) -> list[dict[str, Any]]:
    opened = stores.open_store(store, read_only=True)
    try:
        return list(opened.records())
    finally:
        opened.close()


def verify_chain(store: str) -> None:
    assert main(["audit", "verify", "--store", store]) == 0


def test_ask_on_a_is_answered_on_b_and_wakes_a(pair: Replicas) -> None:
    a, b = pair.processes
    with (
        httpx.Client(base_url=a.url, timeout=TIMEOUT) as on_a,
        httpx.Client(base_url=b.url, timeout=TIMEOUT) as on_b,
    ):
        did = ask(on_a, 1)
        answered: dict[str, Any] = {}

        def wait_on_a() -> None:
            r = on_a.get(f"/v1/decisions/{did}", params={"wait": 50}, headers=auth("agent"))
            answered["status"], answered["body"] = r.status_code, r.json()

        waiter = threading.Thread(target=wait_on_a)
        waiter.start()
        listed = on_b.get("/v1/approvals", headers=auth("approver")).json()
        mine = [x for x in listed["approvals"] if x["decision_id"] == did]
        assert len(mine) == 1
        assert mine[0]["subject"]["command"] == "git push origin feature-1"
        assert mine[0]["requester"] == "agent-1" and mine[0]["asked_by"]
        assert all(r["verdict"] == "ask" for r in mine[0]["asked_by"])
        assert waiter.is_alive()  # nobody answered yet: A's caller is still waiting
        r = on_b.post(f"/v1/approvals/{did}", json={"approve": True, "comment": "ship it"},
                      headers=auth("approver"))  # fmt: skip
        assert r.status_code == 200, r.text
        waiter.join(timeout=TIMEOUT)
        assert not waiter.is_alive()
        assert answered["status"] == 200
        body = answered["body"]
        assert body["status"] == "approved" and body["outcome"] == "allow"
        assert body["approvals"][0]["by"] == "alice"
        assert body["approvals"][0]["comment"] == "ship it"
        # Answered: no longer listed anywhere, and shown with its answer on A.
        listed = on_a.get("/v1/approvals", headers=auth("approver")).json()["approvals"]
        assert did not in {x["decision_id"] for x in listed}
        shown = on_a.get(f"/v1/approvals/{did}", headers=auth("operator")).json()
        assert shown["status"] == "approved" and shown["kind"] == "action"
    records = [x for x in audit_records(pair.store) if x["decision_id"] == did]
    assert [x["kind"] for x in records] == ["decision", "approval"]
    verify_chain(pair.store)


def test_pending_asks_survive_a_sigkilled_replica(replicas: Replicas) -> None:
    a, b = replicas.start(0), replicas.start(1)
    with httpx.Client(base_url=a.url, timeout=TIMEOUT) as on_a:
        asked = {ask(on_a, n) for n in range(3)}
        # A caller is waiting on A when it dies.
        waiter = threading.Thread(
            target=lambda: _swallow(on_a, f"/v1/decisions/{sorted(asked)[0]}?wait=30")
        )
        waiter.start()
        a.kill()
        waiter.join(timeout=TIMEOUT)
    with httpx.Client(base_url=b.url, timeout=TIMEOUT) as on_b:
        listed = on_b.get("/v1/approvals", headers=auth("approver2")).json()
        assert {x["decision_id"] for x in listed["approvals"]} == asked
    restarted = replicas.start(0)
    with httpx.Client(base_url=restarted.url, timeout=TIMEOUT) as on_a:
        listed = on_a.get("/v1/approvals", headers=auth("approver")).json()
        assert {x["decision_id"] for x in listed["approvals"]} == asked
        first = sorted(asked)[0]
        r = on_a.post(f"/v1/approvals/{first}", json={"approve": False, "comment": "no"},
                      headers=auth("approver"))  # fmt: skip
        assert r.status_code == 200 and r.json()["verdict"] == "deny"
        state = on_a.get(f"/v1/decisions/{first}", headers=auth("agent")).json()
        assert state["status"] == "rejected"
    verify_chain(replicas.store)


def test_racing_answers_from_two_replicas_apply_once(pair: Replicas) -> None:
    a, b = pair.processes
    count = 12
    with (
        httpx.Client(base_url=a.url, timeout=TIMEOUT) as on_a,
        httpx.Client(base_url=b.url, timeout=TIMEOUT) as on_b,
    ):
        asked = [ask(on_a if n % 2 else on_b, n) for n in range(count)]
        results: dict[str, list[int]] = {did: [] for did in asked}
        lock = threading.Lock()
        barrier = threading.Barrier(2)

        def answer(client: httpx.Client, who: str, approve: bool) -> None:
            barrier.wait()
            for did in asked:
                r = client.post(f"/v1/approvals/{did}", json={"approve": approve},
                                headers=auth(who))  # fmt: skip
                with lock:
                    results[did].append(r.status_code)

        threads = [
            threading.Thread(target=answer, args=(on_a, "approver", True)),
            threading.Thread(target=answer, args=(on_b, "approver2", False)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=TIMEOUT * 2)
        assert all(sorted(codes) == [200, 409] for codes in results.values()), results
        states = [on_a.get(f"/v1/decisions/{did}", headers=auth("agent")).json() for did in asked]
        assert all(s["status"] in ("approved", "rejected") for s in states)
        assert all(len(s["approvals"]) == 1 for s in states)
    verify_chain(pair.store)
    records = audit_records(pair.store)
    answers = [x for x in records if x["kind"] == "approval" and x["decision_id"] in results]
    assert sorted(x["decision_id"] for x in answers) == sorted(asked)  # each exactly once
    by_id = {x["decision_id"]: x for x in answers}
    for state in states:
        recorded = by_id[state["decision_id"]]
        assert recorded["approvals"][0]["by"] == state["approvals"][0]["by"]


def _swallow(client: httpx.Client, path: str) -> None:
    try:
        client.get(path, headers=auth("agent"))
    except httpx.HTTPError:
        pass  # the replica was killed under it: what matters is what the others see
