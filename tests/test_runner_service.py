"""The runner's decision pipeline on a real uvicorn server: integrity, bodies, threads, swaps."""

from __future__ import annotations

import gc
import os
import shutil
import signal
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from charter.audit import chain, stores
from charter.core.errors import ConfigError
from charter.policy.stack import shipped_constitution_path
from charter.runner.config import load_config, parse_config
from charter.runner.service import RunnerService
from tests.runner_helpers import ThreadedRunner, auth, metric, wait_until, write_config

ROOT = Path(__file__).resolve().parents[1]
PROPOSAL: dict[str, Any] = {
    "kind": "pull_request",
    "repository": "acme/platform",
    "base": "main",
    "head": "feature/docker",
    "author": {"id": "agent-7", "type": "agent"},
    "title": "Add a Dockerfile",
    "body": "no citation",
    "files": [{"path": "api/Dockerfile", "status": "added", "patch": "+FROM python:3.12"}],
}
JSON = {"Content-Type": "application/json"}


def config_body(root: Path, extra: str = "", overlay: Path | None = None) -> str:
    stack = f'[stack]\nconstitution = "{shipped_constitution_path()}"\n'
    if overlay is not None:
        stack += f'overlay = "{overlay}"\n'
    return f'{extra}\n{stack}\n[audit]\nstore = "{root / "audit.db"}"\n'


def _start(root: Path) -> ThreadedRunner:
    config = write_config(
        root / "runner",
        config_body(root, 'refresh_interval = "1h"\nevaluator_threads = 3\npublic_metrics = true'),
    )
    return ThreadedRunner(config)


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[ThreadedRunner]:
    r = _start(tmp_path)
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def refusing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedRunner]:
    """One runner, shared by the tests that only send requests it refuses or read its
    static documents (no decision is recorded, so they cannot see each other)."""
    r = _start(tmp_path_factory.mktemp("refusing"))
    try:
        yield r
    finally:
        r.stop()


def test_integrity_loss_denies_every_decision(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "runner",
        config_body(tmp_path, 'refresh_interval = "1h"\nwatchdog_interval = "0.05s"'),
    )
    r = ThreadedRunner(config)
    try:
        ok = r.client.post("/v1/decisions/proposal", json=PROPOSAL, headers=auth("agent"))
        assert ok.status_code == 200 and "CHARTER-INTEGRITY-LOST" not in ok.text
        # The runner verified this file at startup; changing it is an integrity loss.
        actions = tmp_path / "runner" / "actions.toml"
        actions.write_text(actions.read_text() + "\n# edited\n")
        wait_until(
            lambda: (
                r.client.get("/v1/status", headers=auth("operator")).json()["health"]
                == "integrity_lost"
            ),
            timeout=30,
        )
        for path, body in (
            ("/v1/decisions/proposal", PROPOSAL),
            ("/v1/decisions/action", {"kind": "command", "command": "ls", "cwd": "/tmp"}),
        ):
            d = r.client.post(path, json=body, headers=auth("agent"))
            assert d.status_code == 200, d.text
            assert d.json()["verdict"] == "deny", (path, d.json())
            assert d.json()["reasons"][0]["rule"] == "CHARTER-INTEGRITY-LOST"
        assert r.client.get("/readyz").status_code == 503
        metrics = r.client.get("/metrics", headers=auth("operator")).text
        assert metric(metrics, "charter_integrity_ok") == 0
        kinds = [x["kind"] for x in r.service.audit.records()]
        assert "event" in kinds
        assert chain.verify(r.service.audit).ok
    finally:
        r.stop()


def test_token_is_checked_before_the_body_is_read(refusing: ThreadedRunner) -> None:
    for path in ("/v1/decisions/proposal", "/v1/explain"):
        assert refusing.client.post(path, content=b"{", headers=JSON).status_code == 401
        r = refusing.client.post(path, content=b"{", headers={**JSON, **auth("approver")})
        assert r.status_code == (403 if path.endswith("proposal") else 422), r.text


@pytest.mark.parametrize(
    "raw",
    [
        b'{"kind": "pull_request", "repository": "a/b", "author": {"id": "x"}, "n": NaN}',
        b'{"kind": "pull_request", "repository": "a/b", "author": {"id": "x"}, "n": -Infinity}',
        b'{"kind": "pull_request", "repository": "a/b", "author": {"id": "x"}, "n": 1e999}',
        b'{"kind": "pull_request", "repository": "a/b", "author": {"id": "x"}, "n": '
        + b"9" * 5000
        + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
        b'"\\ud800"',
    ],
)
def test_non_json_numbers_and_deep_nesting_are_422(refusing: ThreadedRunner, raw: bytes) -> None:
    for path in ("/v1/decisions/proposal", "/v1/explain"):
        r = refusing.client.post(path, content=raw, headers={**JSON, **auth("agent")})
        assert r.status_code == 422, (path, r.status_code, r.text[:300])
        assert r.json()["field"] == "body"


def test_public_metrics_need_no_token(refusing: ThreadedRunner) -> None:
    r = refusing.client.get("/metrics")
    assert r.status_code == 200 and metric(r.text, "charter_ready") == 1


def test_openapi_documents_the_proposal_body(refusing: ThreadedRunner) -> None:
    spec = refusing.client.get("/openapi.json").json()
    for path in ("/v1/decisions/proposal", "/v1/explain"):
        body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert set(body["schema"]["required"]) >= {"kind", "repository", "author"}


def test_concurrent_decisions_are_all_recorded_and_chained(runner: ThreadedRunner) -> None:
    answered: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        with httpx.Client(base_url=runner.url, timeout=60) as c:
            for i in range(10):
                doc = {**PROPOSAL, "title": f"change {k}-{i}"}
                r = c.post("/v1/decisions/proposal", json=doc, headers=auth("agent"))
                with lock:
                    if r.status_code == 200:
                        answered.append(r.json()["decision_id"])
                    else:
                        failures.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert len(set(answered)) == 160
    recorded = {r["decision_id"]: r for r in runner.service.audit.records()}
    assert all(recorded[d]["verdict"] == "deny" for d in answered)
    assert chain.verify(runner.service.audit).ok


def test_stack_swaps_under_load_keep_engines_on_their_threads(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    shutil.copytree(ROOT / "examples" / "overlay", overlay)
    config = write_config(
        tmp_path / "runner",
        config_body(tmp_path, 'refresh_interval = "1h"\nevaluator_threads = 2', overlay),
    )
    r = ThreadedRunner(config)
    rego = overlay / "charter" / "overlay" / "change_management" / "ticket_required.rego"
    statuses: list[int] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=r.url, timeout=60) as c:
            while not stop.is_set():
                statuses.append(
                    c.post(
                        "/v1/decisions/proposal", json=PROPOSAL, headers=auth("agent")
                    ).status_code
                )

    threads = [threading.Thread(target=client) for _ in range(6)]
    try:
        first = r.client.get("/v1/status", headers=auth("operator")).json()["generation"]
        for t in threads:
            t.start()
        for n in range(8):
            rego.write_text(rego.read_text() + f"\n# revision {n}\n")
            refreshed = r.client.post("/v1/refresh", headers=auth("operator"))
            assert refreshed.status_code == 200 and refreshed.json()["ok"], refreshed.text
        stop.set()
        for t in threads:
            t.join()
        status = r.client.get("/v1/status", headers=auth("operator")).json()
        assert status["generation"] == first + 8 and status["health"] == "ok"
        assert statuses and set(statuses) == {200}
        explained = r.client.post("/v1/explain", json=PROPOSAL, headers=auth("agent"))
        assert explained.status_code == 200
    finally:
        stop.set()
        r.stop()


def test_evaluator_threads_are_checked(tmp_path: Path) -> None:
    head = '[stack]\nconstitution = "c"\n'
    assert parse_config("evaluator_threads = 8\n" + head).evaluator_threads == 8
    assert parse_config(head).evaluator_threads >= 1
    for bad in ("0", "65", "true", '"2"', "1.5"):
        with pytest.raises(ConfigError, match="evaluator_threads"):
            parse_config(f"evaluator_threads = {bad}\n" + head)


@pytest.mark.parametrize("processes", [0, 2])
def test_proposals_on_threads_or_processes_decide_alike(tmp_path: Path, processes: int) -> None:
    config = write_config(
        tmp_path / "runner",
        config_body(tmp_path, f'refresh_interval = "1h"\nevaluator_processes = {processes}'),
    )
    r = ThreadedRunner(config)
    try:
        d = r.client.post("/v1/decisions/proposal", json=PROPOSAL, headers=auth("agent"))
        assert d.status_code == 200, d.text
        assert d.json()["verdict"] == "deny"
        assert "CITE-BLOCK-REQUIRED-001" in {x["rule"] for x in d.json()["reasons"]}
        bad = r.client.post("/v1/decisions/proposal", content=b"[1]", headers=auth("agent"))
        assert bad.status_code == 422 and bad.json()["field"] == "body"
        status = r.client.get("/v1/status", headers=auth("operator")).json()
        assert status["evaluators"]["processes"] == processes
        if processes:
            # A worker that dies is replaced; decisions go on.
            victim = r.service.processes._workers[0].process  # type: ignore[union-attr]
            os.kill(victim.pid, signal.SIGKILL)
            wait_until(
                lambda: (
                    r.client.get("/v1/status", headers=auth("operator")).json()["evaluators"][
                        "process_restarts"
                    ]
                    >= 1
                )
            )
            for _ in range(6):
                again = r.client.post(
                    "/v1/decisions/proposal", json=PROPOSAL, headers=auth("agent")
                )
                assert again.status_code == 200 and again.json()["verdict"] == "deny"
    finally:
        r.stop()


def test_every_acknowledged_decision_is_already_in_the_audit_log(
    runner: ThreadedRunner, tmp_path: Path
) -> None:
    store = stores.open_store(tmp_path / "audit.db")
    try:
        for path, body in (
            ("/v1/decisions/action", {"kind": "command", "command": "git status", "cwd": "/tmp"}),
            ("/v1/decisions/action", {"kind": "command", "command": "rm -rf /", "cwd": "/tmp"}),
            ("/v1/decisions/proposal", PROPOSAL),
        ):
            d = r_post(runner, path, body)
            # Acknowledged means durable: another connection sees the record at once.
            assert store.has_decision(d["decision_id"]), (path, d)
        records = {r["decision_id"]: r for r in store.records()}
        kinds = sorted(r["kind"] for r in records.values())
        assert kinds == ["decision", "decision", "proposal"]
        assert any(r.get("action", {}).get("command") == "rm -rf /" for r in records.values())
        assert chain.verify(store).ok
    finally:
        store.close()


def r_post(runner: ThreadedRunner, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = runner.client.post(path, json=body, headers=auth("agent"))
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_remembered_decisions_give_the_garbage_collector_nothing_to_scan(
    runner: ThreadedRunner,
) -> None:
    for _ in range(5):
        r_post(runner, "/v1/decisions/proposal", PROPOSAL)
        r_post(runner, "/v1/decisions/action", {"kind": "command", "command": "ls", "cwd": "/"})
    gc.collect()
    entries = list(runner.service.approvals.entries.values())
    assert len(entries) == 10
    assert not any(gc.is_tracked(e) for e in entries)


def test_a_managed_service_freezes_its_load_and_frees_the_previous_stack(
    tmp_path: Path,
) -> None:
    overlay = tmp_path / "overlay"
    shutil.copytree(ROOT / "examples" / "overlay", overlay)
    config = write_config(
        tmp_path / "runner", config_body(tmp_path, 'refresh_interval = "1h"', overlay=overlay)
    )
    service = RunnerService(load_config(config), manage_gc=True).start()
    try:
        assert gc.get_freeze_count() > 0
        old = weakref.ref(service._generation.stack)  # type: ignore[union-attr]
        manifest = overlay / ".manifest"
        manifest.write_text(manifest.read_text().replace('"1.0.0"', '"1.0.1"'))
        service.refresh()
        assert service._generation.layers[-1].layer.version == "1.0.1"  # type: ignore[union-attr]
        # The previous stack was unfrozen and collected, not kept forever.
        assert old() is None
    finally:
        service.stop()
        gc.unfreeze()
