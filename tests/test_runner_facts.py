"""The runner derives facts as `charter check` does: same input, same answer in any evaluator."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from charter.policy.decision import evaluate
from charter.policy.stack import load_stack, shipped_constitution_path
from tests.bundle_helpers import constitution_bundle, make_key
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


LOCAL = Path(__file__).parent / "assets" / "evidence" / "attestations" / "local-dsse-test-vectors"
HELLO = "sha256:37441ff5890982bc9e9427441fefcfed33d39ec3e0f8f221c35a43c1ca9088c0"


def _release(provenance_file: str) -> dict[str, object]:
    envelope = (LOCAL / provenance_file).read_bytes()
    return {
        "kind": "release",
        "repository": "acme/site",
        "author": {"id": "release-bot", "type": "agent"},
        "artifacts": [
            {"name": "hello", "digest": HELLO, "provenance": {"format": "x", "signed": True}}
        ],
        "evidence": {
            "files": [{"name": "hello.intoto.json", "base64": base64.b64encode(envelope).decode()}]
        },
    }


def _provenance_reasons(decision: dict[str, object]) -> list[str]:
    reasons = decision["reasons"]
    assert isinstance(reasons, list)
    return sorted(r["msg"] for r in reasons if r["rule"] == "SC-SIGNED-PROVENANCE-001")


def test_inline_evidence_is_verified_by_the_runner_as_by_check(tmp_path: Path) -> None:
    key, public = make_key(tmp_path / "key")
    archive = tmp_path / "constitution.tar.gz"
    archive.write_bytes(constitution_bundle(tmp_path, key, "2.0.0"))
    policy = tmp_path / "trust.toml"
    policy.write_text(
        f'[layers.constitution]\nkeys = ["{public}"]\n\n'
        f'[evidence]\nkeys = ["{LOCAL / "TEST-ONLY-ed25519.pub.pem"}"]\nbuilders = ["*"]\n'
    )
    body = (
        f'trust_policy = "{policy}"\n[stack]\nconstitution = "{archive}"\n'
        f'[audit]\nstore = "{tmp_path / "audit.db"}"\n'
    )
    runner = ThreadedRunner(write_config(tmp_path / "runner", body))
    try:
        good, bad = (
            runner.client.post(
                "/v1/decisions/proposal", json=_release(name), headers=auth("agent")
            ).json()
            for name in ("provenance.ed25519.dsse.json", "provenance.ed25519.dsse.TAMPERED.json")
        )
    finally:
        runner.stop()
    assert _provenance_reasons(good) == []
    [message] = _provenance_reasons(bad)
    assert "hello.intoto.json" in message and "does not verify" in message
    for served, name in (
        (good, "provenance.ed25519.dsse.json"),
        (bad, "provenance.ed25519.dsse.TAMPERED.json"),
    ):
        (tmp_path / "p.json").write_text(json.dumps(_release(name)))
        local = invoke(
            "check", str(tmp_path / "p.json"), "--constitution-bundle", str(archive), "--trust",
            str(policy), "--state-dir", str(tmp_path / "cli-state"), "--no-audit",
            "--format", "json",
        )  # fmt: skip
        assert local.returncode in (0, 1, 3), local.stderr
        assert sorted(r["msg"] for r in json.loads(local.stdout)["reasons"]) == sorted(
            r["msg"] for r in served["reasons"]
        )


def test_malformed_inline_evidence_is_a_422_naming_the_field(tmp_path: Path) -> None:
    body = (
        f'[stack]\nconstitution = "{shipped_constitution_path()}"\n'
        f'[audit]\nstore = "{tmp_path / "audit.db"}"\n'
    )
    runner = ThreadedRunner(write_config(tmp_path / "runner", body))
    try:
        bad_name = _release("provenance.ed25519.dsse.json")
        bad_name["evidence"] = {"files": [{"name": "../x", "base64": ""}]}
        bad_b64 = _release("provenance.ed25519.dsse.json")
        bad_b64["evidence"] = {"files": [{"name": "x.json", "base64": "%%%"}]}
        answers = [
            runner.client.post("/v1/decisions/proposal", json=doc, headers=auth("agent"))
            for doc in (bad_name, bad_b64)
        ]
    finally:
        runner.stop()
    assert [a.status_code for a in answers] == [422, 422]
    assert "evidence.files[0].name" in answers[0].text
    assert "evidence.files[0].base64" in answers[1].text


def test_the_bare_evaluation_never_hands_inline_evidence_to_the_rules() -> None:
    compiled = load_stack().compile()
    plain = dict(PROPOSAL)
    carried = {**plain, "evidence": {"files": [{"name": "a.json", "base64": "e30="}]}}
    assert evaluate(compiled, carried).input_digest == evaluate(compiled, plain).input_digest
