"""Three runner processes on one PostgreSQL behave as one, and one of them is SIGKILLed.

Real ``charter runner`` processes on loopback ports and the real PostgreSQL at
127.0.0.1:5432 (a throw-away schema). Decisions, approvals and spend are spread
over the three; replica C is killed with SIGKILL while it is deciding and
answering asks. Afterwards: every acknowledged decision and answer is in the
audit chain, the chain verifies, no ask is answered twice (in the store or in
the chain), crashed claims are recovered (by the owner's restart, or by any
replica once their lease lapses), spend recorded on one replica counts on the
others, and a constitution version older than one any replica accepted is
refused by every replica, the restarted one included.

One scenario, one process start-up: each step builds on the state the previous
left, and starting runners is what costs time here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import psycopg
import psycopg.sql
import pytest

from charter.actions import constitution as constitution_mod
from charter.audit import stores
from charter.cli import main
from charter.runner.approval_pg import PostgresApprovals
from charter.trust import keys
from tests.fixtures_pg import PG_URL, _reachable
from tests.fixtures_registry import free_port, require
from tests.runner_helpers import auth, metric, token_toml, wait_until

TIMEOUT = 30.0


def constitution(version: str, key: keys.PrivateKey) -> str:
    text = resources.files("charter").joinpath("defaults/constitution.toml").read_text()
    assert 'version = "1.0.0"' in text
    # Named, so every replica keys its accepted version alike (unnamed: by its path).
    text = text.replace('version = "1.0.0"', f'version = "{version}"')
    return constitution_mod.sign_text(text + '\n[metadata]\nname = "platform"\n', key)


class Replica:
    """``charter runner`` as a process named ``$CHARTER_REPLICA`` (its claims are taken
    back when it restarts)."""

    def __init__(self, root: Path, name: str, store: str, public: Path, text: str) -> None:
        self.name = name
        self.dir = root / name
        self.dir.mkdir(parents=True)
        self.actions = self.dir / "actions.toml"
        self.actions.write_text(text)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = self.dir / "runner.toml"
        self.config.write_text(
            f'listen = "127.0.0.1:{self.port}"\nstate_dir = "{self.dir / "state"}"\n'
            'refresh_interval = "1h"\nwatchdog_interval = "1h"\n\n'
            f'[audit]\nstore = "{store}"\n\n'
            '[approvals]\npoll_interval = "100ms"\nclaim_lease = "10s"\n\n'
            '[budget]\nrefresh_interval = "100ms"\n\n'
            f'[actions]\nconstitution = "{self.actions}"\nkey = "{public}"\n\n' + token_toml()
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.dir / "runner.log").open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "charter", "runner", "--config", str(self.config)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "CHARTER_REPLICA": self.name},
            )

    def wait(self, path: str = "/readyz") -> None:
        def up() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.log()[-2000:]}")
            try:
                return httpx.get(self.url + path, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=60, step=0.05)

    def log(self) -> str:
        return (self.dir / "runner.log").read_text(errors="replace")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[Replica], Any]]:
    problem = _reachable()
    require("PostgreSQL", problem is None, f"{PG_URL}: {problem}")
    schema = f"charter_test_{uuid.uuid4().hex[:12]}"
    store = f"{PG_URL}?schema={schema}"
    root = tmp_path_factory.mktemp("three")
    key = keys.generate()
    public = root / "actions.pub"
    public.write_bytes(keys.public_pem(key.public_key()))
    replicas = [Replica(root, f"r-{n}", store, public, constitution("1.0.0", key)) for n in "abc"]
    try:
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.wait()
        yield store, replicas, key
    finally:
        for replica in replicas:
            replica.stop()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    psycopg.sql.Identifier(schema)
                )
            )


def decide(client: httpx.Client, command: str) -> dict[str, Any]:
    r = client.post(
        "/v1/decisions/action",
        json={"kind": "command", "command": command, "cwd": "/tmp", "agent": {"id": "agent-7"}},
        headers=auth("agent"),
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def answer(client: httpx.Client, did: str, who: str, approve: bool, comment: str) -> httpx.Response:
    return client.post(
        f"/v1/approvals/{did}", json={"approve": approve, "comment": comment}, headers=auth(who)
    )


def audit_records(store: str) -> list[dict[str, Any]]:
    opened = stores.open_store(store, read_only=True)
    try:
        return list(opened.records())
    finally:
        opened.close()


def test_three_replicas_behave_as_one_through_a_sigkill(
    three: tuple[str, list[Replica], Any],
) -> None:
    store, (a, b, c), key = three
    clients = [httpx.Client(base_url=r.url, timeout=TIMEOUT) for r in (a, b, c)]
    on_a, on_b, on_c = clients
    acknowledged: dict[str, str] = {}  # decision id -> verdict, as answered
    answered: dict[str, dict[str, Any]] = {}  # decision id -> the answer acknowledged
    try:
        # 1. Decisions spread over the three; asks raised anywhere are listed everywhere.
        asks = []
        for n in range(24):
            client = clients[n % 3]
            doc = decide(client, f"git push origin f-{n}" if n % 2 else "git status")
            acknowledged[doc["decision_id"]] = doc["verdict"]
            if doc["verdict"] == "ask":
                asks.append(doc["decision_id"])
        assert len(asks) == 12
        for client in clients:
            listed = client.get("/v1/approvals", params={"limit": 1000}, headers=auth("approver"))
            assert set(asks) <= {x["decision_id"] for x in listed.json()["approvals"]}

        # 2. An ask raised on A, its caller waiting on A, answered on C.
        waited: dict[str, Any] = {}
        first = asks.pop()
        waiter = threading.Thread(
            target=lambda: waited.update(
                on_a.get(
                    f"/v1/decisions/{first}", params={"wait": 20}, headers=auth("agent")
                ).json()
            )  # fmt: skip
        )
        waiter.start()
        r = answer(on_c, first, "approver", True, "from C")
        assert r.status_code == 200, r.text
        answered[first] = r.json()["approval"]
        waiter.join(timeout=TIMEOUT)
        assert waited["status"] == "approved" and waited["approvals"][0]["comment"] == "from C"

        # 3. Two replicas race to answer the same asks: each is answered once.
        racing, asks = asks[:4], asks[4:]
        codes: dict[str, list[int]] = {did: [] for did in racing}
        barrier = threading.Barrier(2)

        def race(client: httpx.Client, who: str, approve: bool) -> None:
            barrier.wait()
            for did in racing:
                r = answer(client, did, who, approve, who)
                codes[did].append(r.status_code)
                if r.status_code == 200:
                    answered[did] = r.json()["approval"]

        threads = [threading.Thread(target=race, args=(on_a, "approver", True)),
                   threading.Thread(target=race, args=(on_b, "approver2", False))]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=TIMEOUT)
        assert all(sorted(x) == [200, 409] for x in codes.values()), codes

        # 4. C is SIGKILLed while it decides and answers asks.
        in_flight, asks = asks[:5], asks[5:]
        stop = threading.Event()
        lock = threading.Lock()

        def keep_deciding() -> None:
            with httpx.Client(base_url=c.url, timeout=TIMEOUT) as mine:
                n = 0
                while not stop.is_set():
                    n += 1
                    try:
                        doc = decide(mine, f"git push origin k-{n}")
                    except (httpx.HTTPError, AssertionError):
                        return
                    with lock:
                        acknowledged[doc["decision_id"]] = doc["verdict"]

        def answer_on_c(did: str) -> None:
            with httpx.Client(base_url=c.url, timeout=TIMEOUT) as mine:
                try:
                    r = answer(mine, did, "approver2", False, "from C, dying")
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    with lock:
                        answered[did] = r.json()["approval"]

        deciders = [threading.Thread(target=keep_deciding) for _ in range(2)]
        for t in deciders:
            t.start()
        before = len(acknowledged)
        wait_until(lambda: len(acknowledged) >= before + 6, timeout=TIMEOUT)
        answerers = [threading.Thread(target=answer_on_c, args=(did,)) for did in in_flight]
        for t in answerers:
            t.start()
        c.kill()
        stop.set()
        for t in [*deciders, *answerers]:
            t.join(timeout=TIMEOUT)

        # 5. Crashed claims: C held some (the kill above may leave a few, and here is one
        # for certain), and a replica that never comes back held another.
        approvals = PostgresApprovals(store)
        try:
            now = time.time()
            by_c, by_gone = asks.pop(), asks.pop()
            assert approvals.claim(by_c, "r-c/crashed", now, now + 3600, 0)
            assert approvals.claim(by_gone, "r-gone/crashed", now, now + 1, 0)
        finally:
            approvals.close()
        assert answer(on_a, by_gone, "approver", True, "too soon").status_code == 409
        wait_until(lambda: time.time() > now + 1.05, timeout=5)
        # The lease lapsed: the next approver (on any replica) recovers the ask and answers.
        r = answer(on_b, by_gone, "approver", True, "after the lease")
        assert r.status_code == 200, r.text
        answered[by_gone] = r.json()["approval"]
        scraped = on_b.get("/metrics", headers=auth("operator")).text
        assert (metric(scraped, "charter_approvals_recovered_total") or 0) >= 1

        # 6. A moves to constitution 1.1.0; B, still on 1.0.0, refuses to go back.
        a.actions.write_text(constitution("1.1.0", key))
        r = on_a.post("/v1/refresh", headers=auth("operator"))
        assert r.json()["ok"] and r.json()["actions"]["version"] == "1.1.0", r.text
        r = on_b.post("/v1/refresh", headers=auth("operator"))
        assert not r.json()["ok"] and "rollback refused" in r.json()["last_refresh"]["error"]
        a.actions.write_text(constitution("1.0.0", key))  # and A itself cannot go back
        r = on_a.post("/v1/refresh", headers=auth("operator"))
        assert not r.json()["ok"] and "rollback refused" in r.json()["last_refresh"]["error"]
        assert r.json()["actions"]["version"] == "1.1.0"  # the last good gate is kept

        # 7. C restarts (on 1.0.0): it refuses the older constitution, serves approvals,
        # and takes back the claims its previous incarnation held, at once.
        c.start()
        c.wait("/healthz")
        restarted = httpx.Client(base_url=c.url, timeout=TIMEOUT)
        clients.append(restarted)
        wait_until(
            lambda: restarted.get("/v1/status", headers=auth("operator")).json()["last_refresh"]
        )
        r = restarted.post(
            "/v1/decisions/action", json={"kind": "command", "command": "ls", "cwd": "/tmp"},
            headers=auth("agent"),
        )  # fmt: skip
        assert r.status_code == 503 and "rollback refused" in r.json()["error"], r.text
        state = restarted.get(f"/v1/approvals/{by_c}", headers=auth("approver")).json()
        assert state["status"] == "pending" and not state["being_answered"]
        scraped = restarted.get("/metrics", headers=auth("operator")).text
        assert (metric(scraped, "charter_approvals_recovered_total") or 0) >= 1
        for did in [*in_flight, by_c]:
            state = restarted.get(f"/v1/approvals/{did}", headers=auth("approver")).json()
            assert not state["being_answered"], state  # no claim of C's is left
            if state["status"] == "pending":  # C died before its answer was durable
                r = answer(on_a, did, "approver", True, "after C restarted")
                assert r.status_code == 200, r.text
                answered[did] = r.json()["approval"]

        # 8. Spend recorded on one replica counts on the others (at most 100 ms later).
        spend = {"cost": 20.0, "run": "run-1", "id": "bill-1"}
        assert on_a.post("/v1/spend", json=spend, headers=auth("agent")).json()["recorded"]
        again = on_b.post("/v1/spend", json=spend, headers=auth("agent")).json()
        assert again["duplicate"] and again["spent_today"] == 20.0  # a retry counts once
        assert decide(on_a, "git status")["verdict"] == "allow"
        assert decide(on_b, "git status")["verdict"] == "allow"
        over = {"cost": 30.0, "id": "bill-2"}
        assert restarted.post("/v1/spend", json=over, headers=auth("agent")).status_code == 200

        def over_budget(client: httpx.Client) -> bool:
            doc = decide(client, "git status")
            rules = {x["rule"] for x in doc["reasons"]}
            return doc["verdict"] == "deny" and "resource_limits.max_api_cost_per_day" in rules

        wait_until(lambda: over_budget(on_a) and over_budget(on_b), timeout=10)
        assert on_a.get("/v1/spend", headers=auth("approver")).json()["spent_today"] == 50.0
    finally:
        for client in clients:
            client.close()

    # Nothing acknowledged is lost, nothing is answered twice, and the chain verifies.
    assert main(["audit", "verify", "--store", store]) == 0
    records = audit_records(store)
    decided = {x["decision_id"]: x["verdict"] for x in records if x["kind"] == "decision"}
    assert all(decided.get(did) == verdict for did, verdict in acknowledged.items())
    answers: dict[str, list[dict[str, Any]]] = {}
    for x in records:
        if x["kind"] == "approval":
            answers.setdefault(x["decision_id"], []).append(x["approvals"][0])
    assert all(len(v) == 1 for v in answers.values()), answers
    for did, approval in answered.items():
        assert answers[did] == [approval], did
    approvals = PostgresApprovals(store)
    try:
        for did in answers:
            row = approvals.get(did)
            assert row is not None and row.status in ("approved", "rejected")
            assert row.outcome == answers[did][0]  # applied as recorded, once
    finally:
        approvals.close()
