"""Approvals while decisions are in flight: no deadlock between the approval and the audit log."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from charter.cli import main
from charter.runner.app import PROPOSAL_EXAMPLE
from charter.runner.approval_store import location_for
from tests.bundle_helpers import shipped_constitution_path
from tests.runner_helpers import ThreadedRunner, auth, write_config

ASK = {"kind": "command", "command": "git push origin feature", "cwd": "/tmp",
       "agent": {"id": "agent-7"}}  # fmt: skip
LIVENESS = 30.0


def test_approvals_while_actions_are_in_flight_never_hang(tmp_path: Path) -> None:
    """Two clients submit actions while a third asks and approves, all over HTTP.

    Before the fix, ``approve`` wrote its record while holding the approvals
    lock; its write could commit the actions queued meanwhile and run their
    callbacks on the same thread, which then waited for that same lock: the
    approval, the audit flusher and every later decision hung.
    """
    config = write_config(
        tmp_path,
        f'refresh_interval = "1h"\n\n[audit]\nstore = "{tmp_path / "audit.db"}"\n',
    )
    runner = ThreadedRunner(config)
    stop = threading.Event()
    failures: list[str] = []
    counts = {"actions": 0, "approvals": 0}
    lock = threading.Lock()

    def submitter(n: int) -> None:
        with httpx.Client(base_url=runner.url, timeout=LIVENESS) as client:
            while not stop.is_set():
                body = {"kind": "command", "command": f"ls -la /tmp/{n}", "cwd": "/tmp"}
                r = client.post("/v1/decisions/action", json=body, headers=auth("agent"))
                with lock:
                    counts["actions"] += 1
                    if r.status_code != 200:
                        failures.append(f"action: {r.status_code} {r.text[:200]}")

    def approver() -> None:
        with httpx.Client(base_url=runner.url, timeout=LIVENESS) as client:
            for i in range(40):
                ask = client.post("/v1/decisions/action", json=ASK, headers=auth("agent")).json()
                r = client.post(
                    f"/v1/approvals/{ask['decision_id']}",
                    json={"approve": i % 2 == 0, "comment": f"round {i}"},
                    headers=auth("approver"),
                )
                with lock:
                    counts["approvals"] += 1
                    if r.status_code != 200:
                        failures.append(f"approval: {r.status_code} {r.text[:200]}")

    def guarded(target: object, *args: object) -> threading.Thread:
        def run() -> None:
            try:
                target(*args)  # type: ignore[operator]
            except httpx.HTTPError as exc:
                with lock:
                    failures.append(f"{type(exc).__name__}: {exc}")

        return threading.Thread(target=run, daemon=True)

    submitters = [guarded(submitter, n) for n in range(2)]
    approving = guarded(approver)
    hung = True
    try:
        for t in (*submitters, approving):
            t.start()
        # Liveness only: every approval is answered within the bound.
        approving.join(timeout=LIVENESS * 2)
        stop.set()
        for t in submitters:
            t.join(timeout=LIVENESS)
        hung = any(t.is_alive() for t in (*submitters, approving)) or any(
            "Timeout" in f for f in failures
        )
        assert not hung, f"the runner stopped answering ({counts}, {failures[:3]})"
        assert not failures, failures[:5]
        assert counts["approvals"] == 40
        records = list(runner.service.audit.records())
        assert sum(1 for x in records if x["kind"] == "approval") == 40
        # The flusher is still alive: one more decision is answered.
        r = runner.client.post("/v1/decisions/action", json=ASK, headers=auth("agent"))
        assert r.status_code == 200
    finally:
        stop.set()
        if not hung:  # a deadlocked service cannot be stopped; leave it to die with the test
            runner.stop()


# ------------------------------------------------------------------------------------------
# Asks in the approvals store (SQLite next to the audit log): what they show, who may see
# and answer them, waiting for an answer, expiry, restarts, and the store's own protection.

CITED = "```charter\nrules: [CRED-UNSCANNED-PATCH-001]\nblast_radius: api image only\nrollback: git revert\n```\n"  # noqa: E501


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedRunner]:
    root = tmp_path_factory.mktemp("approvals")
    config = write_config(
        root,
        f'refresh_interval = "1h"\n\n[stack]\nconstitution = "{shipped_constitution_path()}"\n\n'
        f'[audit]\nstore = "{root / "audit.db"}"\n\n[approvals]\npoll_interval = "50ms"\n',
    )
    runner = ThreadedRunner(config)
    try:
        yield runner
    finally:
        runner.stop()


def _ask(runner: ThreadedRunner, command: str = "git push origin feature") -> str:
    body = {**ASK, "command": command}
    r = runner.client.post("/v1/decisions/action", json=body, headers=auth("agent"))
    assert r.json()["verdict"] == "ask", r.text
    return str(r.json()["decision_id"])


def test_a_proposal_ask_shows_the_proposal(shared: ThreadedRunner) -> None:
    """Decided in an evaluator process (which returns no document): the body is read again."""
    proposal = {**PROPOSAL_EXAMPLE, "body": CITED, "files": [
        *PROPOSAL_EXAMPLE["files"], {"path": "dump.sql", "status": "added",
                                     "patch_omitted": "too_large"}]}  # fmt: skip
    r = shared.client.post("/v1/decisions/proposal", json=proposal, headers=auth("agent"))
    assert r.json()["verdict"] == "ask", r.text
    did = r.json()["decision_id"]
    shown = shared.client.get(f"/v1/approvals/{did}", headers=auth("approver")).json()
    assert shown["kind"] == "proposal" and shown["status"] == "pending"
    assert shown["subject"]["repository"] == "acme/platform"
    assert shown["subject"]["files"] == ["api/Dockerfile", "dump.sql"]
    assert shown["subject"]["author"] == {"id": "agent-7", "type": "agent"}
    assert [x["rule"] for x in shown["asked_by"]] == ["CRED-UNSCANNED-PATCH-001"]
    assert shown["requester"] == "agent-1" and shown["author"] == "agent-7"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("GET", "/v1/approvals", {"approver", "operator"}),
     ("GET", "/v1/approvals/unknown-id", {"approver", "operator"}),
     ("POST", "/v1/approvals/unknown-id", {"approver"}),
     ("GET", "/v1/decisions/unknown-id?wait=0.01", {"agent", "approver", "operator"})],
)  # fmt: skip
def test_roles_on_the_approval_endpoints(
    shared: ThreadedRunner, method: str, path: str, allowed: set[str]
) -> None:
    for who in ("agent", "approver", "operator"):
        body = {"approve": True} if method == "POST" else None
        r = shared.client.request(method, path, json=body, headers=auth(who))
        if who in allowed:
            assert r.status_code in (200, 404), (who, path, r.status_code, r.text)
        else:
            assert r.status_code == 403, (who, path, r.status_code)
    assert shared.client.request(method, path).status_code == 401


def test_an_agent_cannot_list_or_approve(shared: ThreadedRunner) -> None:
    did = _ask(shared)
    assert shared.client.get("/v1/approvals", headers=auth("agent")).status_code == 403
    r = shared.client.post(f"/v1/approvals/{did}", json={"approve": True}, headers=auth("agent"))
    assert r.status_code == 403
    r = shared.client.post(f"/v1/approvals/{did}", json={"approve": True},
                           headers=auth("operator"))  # fmt: skip
    assert r.status_code == 403
    assert shared.client.get(f"/v1/decisions/{did}", headers=auth("agent")).json()["status"] == (
        "pending"
    )


def test_a_waiting_caller_gets_the_answer(shared: ThreadedRunner) -> None:
    did = _ask(shared)
    answered: dict[str, Any] = {}

    def wait() -> None:
        with httpx.Client(base_url=shared.url, timeout=LIVENESS) as client:
            r = client.get(f"/v1/decisions/{did}?wait=50", headers=auth("agent"))
            answered.update(r.json())

    waiter = threading.Thread(target=wait)
    waiter.start()
    # Nobody answered: a short wait answers "pending", and the long one is still waiting.
    short = shared.client.get(f"/v1/decisions/{did}?wait=0.2", headers=auth("agent")).json()
    assert short["status"] == "pending" and short["outcome"] is None
    assert waiter.is_alive()
    r = shared.client.post(f"/v1/approvals/{did}", json={"approve": False, "comment": "no"},
                           headers=auth("approver2"))  # fmt: skip
    assert r.status_code == 200
    waiter.join(timeout=LIVENESS)
    assert answered["status"] == "rejected" and answered["outcome"] == "deny"
    assert answered["approvals"][0]["by"] == "bob"
    over = shared.client.get(f"/v1/decisions/{did}?wait=61", headers=auth("agent"))
    assert over.status_code == 422  # at most 60 s


def test_the_openapi_schema_documents_the_approval_endpoints(shared: ThreadedRunner) -> None:
    paths = shared.client.get("/openapi.json").json()["paths"]
    assert set(paths["/v1/approvals/{decision_id}"]) == {"get", "post"}
    assert "get" in paths["/v1/approvals"]
    params = {p["name"] for p in paths["/v1/decisions/{decision_id}"]["get"]["parameters"]}
    assert "wait" in params


def test_the_gate_protects_the_approvals_store(shared: ThreadedRunner) -> None:
    """An agent that could write the approvals file could approve its own asks."""
    where = location_for(shared.service.audit.location)
    for path in (where, where + "-wal"):
        r = shared.client.post("/v1/decisions/action", json={"kind": "file_write", "path": path},
                               headers=auth("agent"))  # fmt: skip
        assert r.json()["verdict"] == "deny"
        assert "CHARTER-GATE-PROTECTED-FILE" in {x["rule"] for x in r.json()["reasons"]}


def test_asks_survive_a_restart_and_expire_unanswered(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        f'refresh_interval = "1h"\n\n[audit]\nstore = "{tmp_path / "audit.db"}"\n\n'
        '[approvals]\npoll_interval = "50ms"\n',
    )
    first = ThreadedRunner(config)
    try:
        asked = {_ask(first, f"git push origin b{n}") for n in range(3)}
    finally:
        first.stop()
    second = ThreadedRunner(config)
    try:
        listed = second.client.get("/v1/approvals", headers=auth("approver")).json()
        assert {x["decision_id"] for x in listed["approvals"]} == asked
        did = sorted(asked)[0]
        r = second.client.post(f"/v1/approvals/{did}", json={"approve": True},
                               headers=auth("approver"))  # fmt: skip
        assert r.status_code == 200
    finally:
        second.stop()
    short = write_config(
        tmp_path / "short",
        f'refresh_interval = "1h"\n\n[audit]\nstore = "{tmp_path / "audit.db"}"\n\n'
        '[approvals]\nttl = "300ms"\npoll_interval = "50ms"\n',
    )
    third = ThreadedRunner(short)
    try:
        # The remaining asks were made under a 1-day ttl: still pending.
        assert third.client.get("/v1/approvals", headers=auth("approver")).json()["count"] == 2
        did = _ask(third)
        state = third.client.get(f"/v1/decisions/{did}?wait=50", headers=auth("agent")).json()
        assert state["status"] == "expired" and state["outcome"] == "deny"
        assert state["approvals"][0]["by"] == "charter"
        r = third.client.post(f"/v1/approvals/{did}", json={"approve": True},
                              headers=auth("approver"))  # fmt: skip
        assert r.status_code == 409
        records = [x for x in third.service.audit.records() if x["decision_id"] == did]
        assert [(x["kind"], x["verdict"]) for x in records] == [("decision", "ask"),
                                                               ("approval", "deny")]  # fmt: skip
    finally:
        third.stop()
    assert main(["audit", "verify", "--store", str(tmp_path / "audit.db")]) == 0
