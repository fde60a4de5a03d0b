"""The runner derives facts as `charter check` does: same input, same answer in any evaluator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.policy.stack import shipped_constitution_path
from tests.cli_helpers import invoke
from tests.runner_helpers import ThreadedRunner, auth, write_config

IDENTITIES = '[identities]\nagents = ["*[bot]"]\nhumans = ["alice"]\n'

#: An agent that says it is human, approved by another bot that says so too, and a
#: lockfile change declared as no dependency change.
PROPOSAL = {
    "kind": "pull_request",
    "repository": "acme/site",
    "base": "main",
    "head": "bump",
    "author": {"id": "renovate[bot]", "type": "human"},
    "approvals": [{"by": "helper[bot]", "type": "human"}],
    "files": [{"path": "package-lock.json", "status": "modified", "patch": "@@ -1 +1 @@\n"}],
    "dependencies": {"changed": False},
}


def _facts_reasons(decision: dict[str, object]) -> list[str]:
    reasons = decision["reasons"]
    assert isinstance(reasons, list)
    return sorted(r["msg"] for r in reasons if r["rule"] == "PROC-DECLARED-FACTS-MATCH-001")


@pytest.mark.parametrize("processes", [0, 1])
def test_runner_and_cli_report_the_same_contradictions(tmp_path: Path, processes: int) -> None:
    body = (
        f"evaluator_processes = {processes}\n"
        f'[stack]\nconstitution = "{shipped_constitution_path()}"\n'
        f'[audit]\nstore = "{tmp_path / "audit.db"}"\n' + IDENTITIES
    )
    runner = ThreadedRunner(write_config(tmp_path / "runner", body))
    try:
        answer = runner.client.post("/v1/decisions/proposal", json=PROPOSAL, headers=auth("agent"))
    finally:
        runner.stop()
    assert answer.status_code == 200, answer.text
    served = answer.json()
    assert served["verdict"] == "deny"
    messages = _facts_reasons(served)
    assert len(messages) == 3  # author.type, approvals[0].type, dependencies.changed
    assert any("author.type" in m for m in messages)
    assert any("dependencies.changed" in m for m in messages)

    (tmp_path / "proposal.json").write_text(json.dumps(PROPOSAL))
    (tmp_path / "identities.toml").write_text(IDENTITIES)
    result = invoke(
        "check", str(tmp_path / "proposal.json"), "--identities", str(tmp_path / "identities.toml"),
        "--no-audit", "--format", "json",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    local = json.loads(result.stdout)
    assert _facts_reasons(local) == messages
    assert sorted(r["rule"] for r in local["reasons"]) == sorted(
        r["rule"] for r in served["reasons"]
    )


def test_without_an_identity_map_only_the_document_s_own_facts_are_derived(
    tmp_path: Path,
) -> None:
    body = (
        f'[stack]\nconstitution = "{shipped_constitution_path()}"\n'
        f'[audit]\nstore = "{tmp_path / "audit.db"}"\n'
    )
    runner = ThreadedRunner(write_config(tmp_path / "runner", body))
    try:
        served = runner.client.post(
            "/v1/decisions/proposal", json=PROPOSAL, headers=auth("agent")
        ).json()
    finally:
        runner.stop()
    messages = _facts_reasons(served)
    assert len(messages) == 1 and "dependencies.changed" in messages[0]
