"""The runner does not believe what an agent's proposal says it cannot derive (issue 11).

A real runner (in-process, real SQLite audit store, an evaluator process): a dependency
change that only declares a clean scan is denied (SC-DEPENDENCY-SCAN-001), and a merge
whose human approval only the proposal declares asks (PROC-MERGE-HUMAN-APPROVALS-001,
constitution 3.0.0) — the person who answers the ask is the approval.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from charter.policy.stack import shipped_constitution_path
from tests.runner_helpers import ThreadedRunner, auth, write_config

CITATION = (
    "```charter\nrules: [PROC-MERGE-HUMAN-APPROVALS-001]\nblast_radius: x\nrollback: y\n```\n"
)
BASE: dict[str, Any] = {
    "repository": "acme/platform",
    "base": "main",
    "head": "feature/x",
    "author": {"id": "agent-7", "type": "agent"},
    "title": "x",
    "body": CITATION,
}


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedRunner]:
    root = tmp_path_factory.mktemp("runner-facts")
    config = write_config(
        root,
        f'refresh_interval = "1h"\n\n[stack]\nconstitution = "{shipped_constitution_path()}"\n\n'
        f'[audit]\nstore = "{root / "audit.db"}"\n\n'
        '[identities]\nagents = ["agent-*"]\nhumans = ["alice", "bob", "carol"]\n\n',
    )
    r = ThreadedRunner(config)
    try:
        yield r
    finally:
        r.stop()


def _decide(runner: ThreadedRunner, body: dict[str, Any]) -> dict[str, Any]:
    r = runner.client.post("/v1/decisions/proposal", json=body, headers=auth("agent"))
    assert r.status_code == 200, r.text
    decision: dict[str, Any] = r.json()
    return decision


def test_a_declared_clean_scan_does_not_pass_a_dependency_change(runner: ThreadedRunner) -> None:
    body = {
        **BASE,
        "kind": "pull_request",
        "files": [{"path": "package-lock.json", "status": "modified", "patch": "+x\n"}],
        "dependencies": {"changed": True, "scan": {"tool": "grype", "findings": []}},
    }
    decision = _decide(runner, body)
    reasons = {r["rule"]: r for r in decision["reasons"]}
    assert decision["verdict"] == "deny"
    assert "declared in the proposal" in reasons["SC-DEPENDENCY-SCAN-001"]["msg"]


def test_a_merge_approved_only_in_the_proposal_asks_and_a_person_confirms_it(
    runner: ThreadedRunner,
) -> None:
    body = {
        **BASE,
        "kind": "merge",
        "files": [{"path": "docs/a.md", "status": "modified", "patch": "+x\n"}],
        "approvals": [{"by": "carol", "type": "human", "groups": []}],
    }
    decision = _decide(runner, body)
    assert decision["verdict"] == "ask", decision["reasons"]
    (reason,) = decision["reasons"]
    assert reason["rule"] == "PROC-MERGE-HUMAN-APPROVALS-001"
    assert "is approved only in the proposal: 1 human approval(s)" in reason["msg"]
    answer = runner.client.post(
        f"/v1/approvals/{decision['decision_id']}",
        json={"approve": True, "comment": "carol did review it"},
        headers=auth("approver2"),
    )
    assert answer.status_code == 200 and answer.json()["verdict"] == "allow"
    # Too few even by its own account: denied, no ask to answer.
    denied = _decide(runner, {**body, "approvals": []})
    assert denied["verdict"] == "deny"
    assert {r["rule"] for r in denied["reasons"]} == {"PROC-MERGE-HUMAN-APPROVALS-001"}


def test_a_body_cannot_declare_its_approvals_verified(runner: ThreadedRunner) -> None:
    body = {
        **BASE,
        "kind": "merge",
        "files": [{"path": "docs/a.md", "status": "modified", "patch": "+x\n"}],
        "approvals": [{"by": "carol", "type": "human", "groups": []}],
        "context": {"facts": {"approvals_verified": True}},
    }
    # A body's own context is discarded: the runner writes input.context.
    assert _decide(runner, body)["verdict"] == "ask"
