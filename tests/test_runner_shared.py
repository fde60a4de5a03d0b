"""Two runners on one embedded (SQLite) store share console sessions and spend.

In-process runners (real uvicorn servers on loopback ports), each with its own
config and state directory, sharing the audit location: what one replica
stores, the other sees (the PostgreSQL backend: tests/test_shared_state.py and
tests/test_runner_three.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from charter.core.errors import CharterError
from charter.runner.app import PROPOSAL_EXAMPLE
from charter.runner.config import load_config
from charter.runner.service import RunnerService
from tests.bundle_helpers import constitution_bundle, make_key
from tests.runner_helpers import ThreadedRunner, auth, wait_until, write_config
from tests.test_console import Browser, hidden

ASK = {"kind": "command", "command": "git push origin main", "cwd": "/tmp",
       "agent": {"id": "agent-7"}}  # fmt: skip
ALLOWED = {"kind": "command", "command": "git status", "cwd": "/tmp"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadedRunner, ...]]:
    root = tmp_path_factory.mktemp("shared")
    body = (
        f'refresh_interval = "1h"\n\n[audit]\nstore = "{root / "audit.db"}"\n\n'
        '[approvals]\npoll_interval = "50ms"\n\n[budget]\nrefresh_interval = "50ms"\n'
    )
    runners = [ThreadedRunner(write_config(root / name, body)) for name in ("a", "b")]
    try:
        yield tuple(runners)
    finally:
        for r in runners:
            r.stop()


def test_a_console_session_made_on_one_replica_works_on_the_other(
    pair: tuple[ThreadedRunner, ...],
) -> None:
    a, b = pair
    user = Browser(a, "approver")
    on_b = httpx.Client(base_url=b.url, timeout=30, follow_redirects=False)
    try:
        r = b.client.post("/v1/decisions/action", json=ASK, headers=auth("agent"))
        did = r.json()["decision_id"]
        on_b.cookies = user.client.cookies
        page = on_b.get("/console/approvals")
        assert page.status_code == 200 and did in page.text
        assert hidden(page.text) == user.csrf  # the CSRF token follows the session
        form = {"csrf": user.csrf, "answer": "approve", "comment": "via B"}
        r = on_b.post(f"/console/approvals/{did}", data=form)
        assert r.status_code == 303, r.text
        state = a.client.get(f"/v1/decisions/{did}", headers=auth("agent")).json()
        assert state["status"] == "approved" and state["approvals"][0]["by"] == "alice"
        # A forged CSRF token is refused on either replica.
        r = on_b.post("/console/logout", data={"csrf": "forged"})
        assert r.status_code == 403
        # An operator revokes alice's sessions (on B): they end on A too.
        second = Browser(a, "approver")
        r = b.client.delete("/v1/console/sessions/alice", headers=auth("approver"))
        assert r.status_code == 403
        r = b.client.delete("/v1/console/sessions/alice", headers=auth("operator"))
        assert r.status_code == 200 and r.json()["revoked"] == 2
        assert second.client.get("/console/approvals").status_code == 303
        second.close()
        user.close()
        user = Browser(a, "approver")
        on_b.cookies = user.client.cookies
        # Signing out on B ends the session on A too.
        r = on_b.post("/console/logout", data={"csrf": user.csrf})
        assert r.status_code == 303
        r = user.client.get("/console/approvals")
        assert r.status_code == 303 and r.headers["location"] == "/console/login"
    finally:
        on_b.close()
        user.close()


def test_spend_recorded_on_one_replica_stops_the_other(pair: tuple[ThreadedRunner, ...]) -> None:
    a, b = pair
    # The shared state lives where the gate protects it: an agent cannot write it.
    write = {"kind": "file_write", "path": str(Path(a.service.state.location)), "size": 1}
    doc = a.client.post("/v1/decisions/action", json=write, headers=auth("agent")).json()
    assert doc["verdict"] == "deny", doc
    assert b.client.post("/v1/decisions/action", json=ALLOWED,
                         headers=auth("agent")).json()["verdict"] == "allow"  # fmt: skip
    limits = a.client.get("/v1/spend", headers=auth("operator")).json()
    assert limits["max_api_cost_per_day"] == 50.0 and limits["spent_today"] == 0.0
    r = a.client.post("/v1/spend", json={"cost": 50, "id": "invoice-1"}, headers=auth("agent"))
    assert r.status_code == 200 and r.json()["spent_today"] == 50.0

    def denied() -> bool:
        doc = b.client.post("/v1/decisions/action", json=ALLOWED, headers=auth("agent")).json()
        rules = {x["rule"] for x in doc["reasons"]}
        return doc["verdict"] == "deny" and "resource_limits.max_api_cost_per_day" in rules

    wait_until(denied, timeout=10)
    assert b.client.get("/v1/spend", headers=auth("agent")).json()["spent_today"] == 50.0


def test_the_run_an_agent_reports_is_held_to_the_per_run_limit(
    pair: tuple[ThreadedRunner, ...],
) -> None:
    a, b = pair
    in_run = {**ALLOWED, "agent": {"id": "agent-7", "run": "run-9"}}
    other_run = {**ALLOWED, "agent": {"id": "agent-7", "run": "run-10"}}
    r = a.client.post("/v1/spend", json={"cost": 5, "run": "run-9"}, headers=auth("agent"))
    assert r.json()["spent_run"] == 5.0

    def rules(action: dict[str, object]) -> set[str]:
        doc = b.client.post("/v1/decisions/action", json=action, headers=auth("agent")).json()
        return {x["rule"] for x in doc["reasons"]}

    wait_until(lambda: "resource_limits.max_api_cost_per_run" in rules(in_run), timeout=10)
    assert "resource_limits.max_api_cost_per_run" not in rules(other_run)


def test_openapi_documents_spend(pair: tuple[ThreadedRunner, ...]) -> None:
    spec = pair[0].client.get("/openapi.json").json()
    body = spec["paths"]["/v1/spend"]["post"]["requestBody"]["content"]["application/json"]
    assert set(body["schema"]["properties"]) == {"cost", "run", "id"}
    assert "get" in spec["paths"]["/v1/spend"]


def test_a_bundle_older_than_one_another_replica_accepted_is_refused(tmp_path: Path) -> None:
    """Rollback refusal across replicas for the proposal stack (signed bundle archives)."""
    key, public = make_key(tmp_path / "key")
    policy = tmp_path / "trust.toml"
    policy.write_text(f'[layers.constitution]\nkeys = ["{public}"]\n')
    services = []
    try:
        for name, version in (("a", "1.1.0"), ("b", "1.0.0"), ("c", "1.1.0")):
            bundle = tmp_path / f"constitution-{name}.tar.gz"
            bundle.write_bytes(constitution_bundle(tmp_path / name, key, version))
            config = write_config(
                tmp_path / name,
                f'trust_policy = "{policy}"\n\n[stack]\nconstitution = "{bundle}"\n\n'
                f'[audit]\nstore = "{tmp_path / "audit.db"}"\n',
            )
            service = RunnerService(load_config(config))
            services.append(service)
            service.refresh()
        a, b, c = services
        assert a.stack_error is None and c.stack_error is None
        # B has its own, empty, state directory: only the shared store knows 1.1.0.
        assert b.stack_error is not None and "rollback refused" in b.stack_error
        with pytest.raises(CharterError, match="rollback refused"):
            b.decide_proposal(PROPOSAL_EXAMPLE, "agent-1")
        stack = {k: v for k, v in a.state.versions().items() if not k.startswith("actions/")}
        assert [v["version"] for v in stack.values()] == ["1.1.0"]
    finally:
        for service in services:
            service.stop()
