"""The runner against a real registry: pull → verify → serve, refresh, last good stack."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from charter.cli import main
from charter.registry import oci
from tests.bundle_helpers import constitution_bundle, make_key
from tests.fixtures_registry import LocalRegistry, own_registry
from tests.runner_helpers import (
    RunnerProcess,
    ThreadedRunner,
    auth,
    metric,
    wait_until,
    write_config,
)

__all__ = ["own_registry"]

PROPOSAL: dict[str, Any] = {
    "kind": "pull_request",
    "repository": "acme/platform",
    "author": {"id": "agent-7", "type": "agent"},
    "body": "no citation",
    "files": [{"path": "api/Dockerfile", "status": "added"}],
}


def trust_policy(root: Path, public: Path) -> Path:
    policy = root / "trust.toml"
    policy.write_text(f'[layers.constitution]\nkeys = ["{public}"]\n')
    return policy


@pytest.fixture
def setup(tmp_path: Path, own_registry: LocalRegistry) -> Iterator[dict[str, Any]]:
    key, public = make_key(tmp_path / "key")
    ref = own_registry.ref("charter/constitution", "stable")
    oci.push_bundle(constitution_bundle(tmp_path, key, "1.0.0"), ref)
    yield {"key": key, "public": public, "ref": ref, "registry": own_registry, "root": tmp_path}


def status(r: ThreadedRunner) -> dict[str, Any]:
    return r.client.get("/v1/status", headers=auth("operator")).json()  # type: ignore[no-any-return]


def decide(r: ThreadedRunner) -> dict[str, Any]:
    resp = r.client.post("/v1/decisions/proposal", json=PROPOSAL, headers=auth("agent"))
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_push_pull_serve_refresh_and_keep_last_good(setup: dict[str, Any]) -> None:
    root: Path = setup["root"]
    registry: LocalRegistry = setup["registry"]
    ref: str = setup["ref"]
    config = write_config(
        root / "runner",
        f'refresh_interval = "0.5s"\ntrust_policy = "{trust_policy(root, setup["public"])}"\n\n'
        f'[stack]\nconstitution = "{ref}"\n\n[audit]\nstore = "{root / "audit.db"}"\n',
    )
    runner = ThreadedRunner(config)
    try:
        s = status(runner)
        assert s["health"] == "ok", s
        layer = s["layers"][0]
        assert layer["version"] == "1.0.0" and layer["signer"]
        assert layer["resolved"].startswith(ref + "@sha256:")
        assert decide(runner)["stack"][0]["version"] == "1.0.0"

        def serving(version: str) -> bool:
            return bool(status(runner)["layers"][0]["version"] == version)

        def degraded_with(text: str) -> dict[str, Any] | None:
            s = status(runner)
            return s if s["health"] == "degraded" and text in (s["reason"] or "") else None

        # A new signed version is picked up by the interval refresh.
        oci.push_bundle(constitution_bundle(root, setup["key"], "1.1.0"), ref)
        wait_until(lambda: serving("1.1.0"), timeout=30)
        assert status(runner)["health"] == "ok"
        assert decide(runner)["stack"][0]["version"] == "1.1.0"

        # A tampered blob: digest mismatch, last good stack kept, degraded.
        pushed = oci.push_bundle(constitution_bundle(root, setup["key"], "1.2.0"), ref)
        blob = registry.blob_path(pushed.blob_digest)
        data = bytearray(blob.read_bytes())
        data[100] ^= 0xFF
        blob.write_bytes(bytes(data))
        s = wait_until(lambda: degraded_with("digest mismatch"), timeout=30)
        assert s["layers"][0]["version"] == "1.1.0"
        assert decide(runner)["stack"][0]["version"] == "1.1.0"
        metrics = runner.client.get("/metrics", headers=auth("operator")).text
        assert metric(metrics, "charter_degraded") == 1

        # A bundle signed by another key.
        other, _ = make_key(root / "other")
        oci.push_bundle(constitution_bundle(root, other, "1.3.0"), ref)
        s = wait_until(lambda: degraded_with("not trusted"), timeout=30)
        assert s["layers"][0]["version"] == "1.1.0"

        # An older version (rollback).
        oci.push_bundle(constitution_bundle(root, setup["key"], "1.0.5"), ref)
        s = wait_until(lambda: degraded_with("rollback"), timeout=30)
        assert s["layers"][0]["version"] == "1.1.0"

        # A new major version needs an operator pin.
        oci.push_bundle(constitution_bundle(root, setup["key"], "2.0.0"), ref)
        s = wait_until(lambda: degraded_with("major"), timeout=30)
        assert s["layers"][0]["version"] == "1.1.0"
        assert main(["runner", "pin", "constitution", "2.0.0", "--config", str(config)]) == 0
        wait_until(lambda: serving("2.0.0"), timeout=30)
        assert status(runner)["health"] == "ok"

        # The registry goes down: keep serving 2.0.0, degraded; back up: healthy.
        registry.stop()
        s = wait_until(lambda: degraded_with("unreachable"), timeout=30)
        assert s["layers"][0]["version"] == "2.0.0"
        assert decide(runner)["stack"][0]["version"] == "2.0.0"
        registry.start()
        wait_until(lambda: status(runner)["health"] == "ok", timeout=30)
    finally:
        runner.stop()
    assert main(["audit", "verify", "--store", str(root / "audit.db")]) == 0


def test_startup_failure_is_reported_and_no_proposal_is_served(setup: dict[str, Any]) -> None:
    root: Path = setup["root"]
    other, other_pub = make_key(root / "wrong")
    config = write_config(
        root / "runner",
        f'refresh_interval = "1h"\ntrust_policy = "{trust_policy(root, other_pub)}"\n\n'
        f'[stack]\nconstitution = "{setup["ref"]}"\n\n[audit]\nstore = "{root / "a.db"}"\n',
    )
    runner = ThreadedRunner(config)
    try:
        s = status(runner)
        # The (local) action constitution loaded, so the runner is degraded, not failed.
        assert s["health"] == "degraded" and s["serving"]["proposals"] is False
        assert "not trusted" in s["reason"]
        r = runner.client.post("/v1/decisions/proposal", json=PROPOSAL, headers=auth("agent"))
        assert r.status_code == 503 and "not trusted" in r.json()["error"]
    finally:
        runner.stop()


def test_sigkill_during_decisions_loses_no_acknowledged_record(setup: dict[str, Any]) -> None:
    root: Path = setup["root"]
    store = root / "audit.db"
    config = write_config(
        root / "runner",
        f'refresh_interval = "1h"\ntrust_policy = "{trust_policy(root, setup["public"])}"\n\n'
        f'[stack]\nconstitution = "{setup["ref"]}"\n\n[audit]\nstore = "{store}"\n',
    )
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(url: str, n: int) -> None:
        with httpx.Client(base_url=url, timeout=10) as c:
            for i in range(n):
                if stop.is_set():
                    return
                try:
                    if i % 2:
                        r = c.post("/v1/decisions/proposal", json=PROPOSAL, headers=auth("agent"))
                    else:
                        r = c.post(
                            "/v1/decisions/action",
                            json={"kind": "command", "command": f"ls {i}", "cwd": "/tmp"},
                            headers=auth("agent"),
                        )
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    with lock:
                        acknowledged.append(r.json()["decision_id"])

    for round_ in range(2):
        target = 40 * (round_ + 1)
        proc = RunnerProcess(config, root / "runner.log")
        threads = [threading.Thread(target=client, args=(proc.url, 400)) for _ in range(4)]
        for t in threads:
            t.start()
        wait_until(lambda t=target: len(acknowledged) >= t, timeout=60)
        proc.kill()
        stop.set()
        for t in threads:
            t.join(timeout=30)
        stop.clear()
    proc = RunnerProcess(config, root / "runner.log")
    try:
        s = httpx.get(proc.url + "/v1/status", headers=auth("operator")).json()
        assert s["health"] == "ok"
    finally:
        proc.stop()
    assert main(["audit", "verify", "--store", str(store), "--format", "json"]) == 0
    from charter.audit.stores import open_store

    handle = open_store(store)
    recorded = {r["decision_id"] for r in handle.records()}
    handle.close()
    missing = [d for d in acknowledged if d not in recorded]
    assert not missing, f"{len(missing)} acknowledged decisions have no record"
    assert len(acknowledged) >= 80
    json.dumps(acknowledged)
