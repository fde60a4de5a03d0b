"""Approvals while decisions are in flight: no deadlock between the approval and the audit log."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

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
