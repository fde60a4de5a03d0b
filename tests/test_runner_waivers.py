"""Waivers in the runner: signed, re-read on refresh, expiry judged at each decision's time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from charter.cli import main
from charter.core.errors import ConfigError
from charter.policy.stack import Stack, load_stack, shipped_constitution_path
from charter.policy.waivers import Waiver, create_waiver, from_document, parse_scope, sign_waiver
from charter.runner.config import parse_config
from charter.trust import keys
from tests.runner_helpers import ThreadedRunner, auth, metric, write_config

ROOT = Path(__file__).resolve().parents[1]
OVERLAY = ROOT / "examples" / "overlay"
RULE = "CM-TICKET-REQUIRED-001"
CONSTITUTION_RULE = "PROC-NO-SELF-APPROVAL-001"
CREATED = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
#: Denied only by the overlay's ticket rule: a waiver of that rule turns it into allow.
#: Into a branch that is not protected: a merge into main whose approval the proposal
#: only declares asks (PROC-MERGE-HUMAN-APPROVALS-001), which no overlay waiver lifts.
MERGE: dict[str, Any] = {
    "kind": "merge",
    "repository": "acme/platform",
    "base": "release/billing",
    "head": "feature/billing",
    "author": {"id": "agent-7", "type": "agent"},
    "title": "billing",
    "body": "```charter\nrules: [CM-TICKET-REQUIRED-001]\nblast_radius: billing only\n"
    "rollback: git revert\n```\n",
    "environment": "production",
    "files": [{"path": "infra/billing.tf", "status": "modified", "patch": "+x\n"}],
    "approvals": [{"by": "alice", "type": "human", "groups": []}],
}
SELF_APPROVED = {**MERGE, "approvals": [{"by": "agent-7", "type": "agent", "groups": []}]}


class Clock:
    """The runner's clock, moved by the test between requests (no sleeping)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Setup:
    root: Path
    waivers: Path
    signer: keys.PrivateKey
    stack: Stack
    clock: Clock
    runner: ThreadedRunner

    def waiver(self, *, expires: str = "2026-12-31", rule: str = RULE,
               key: keys.PrivateKey | None = None) -> Waiver:  # fmt: skip
        return create_waiver(
            rule=rule,
            scope=parse_scope(["repo=acme/platform", "path=infra/**"]),
            reason="billing freeze exception",
            expires=expires,
            approver="alice",
            key=key or self.signer,
            stack=self.stack,
            now=CREATED,
        )

    def write(self, name: str, text: str) -> Path:
        path = self.waivers / name
        path.write_text(text)
        return path

    def decide(self, document: dict[str, Any] = MERGE) -> dict[str, Any]:
        r = self.runner.client.post("/v1/decisions/proposal", json=document, headers=auth("agent"))
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def explain(self, document: dict[str, Any] = MERGE) -> dict[str, Any]:
        r = self.runner.client.post("/v1/explain", json=document, headers=auth("approver"))
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def status(self) -> dict[str, Any]:
        r = self.runner.client.get("/v1/status", headers=auth("operator"))
        return r.json()["waivers"]  # type: ignore[no-any-return]

    def refresh(self) -> None:
        r = self.runner.client.post("/v1/refresh", headers=auth("operator"))
        assert r.status_code == 200 and r.json()["ok"], r.text


def rules_of(decision: dict[str, Any]) -> set[str]:
    return {r["rule"] for r in decision["reasons"]}


@pytest.fixture(scope="module")
def stack() -> Stack:
    return load_stack(overlay=OVERLAY)


@pytest.fixture
def setup(tmp_path: Path, stack: Stack) -> Iterator[Setup]:
    signer = keys.generate()
    (tmp_path / "keys").mkdir()
    public = tmp_path / "keys" / "overlay-waivers.pub"
    public.write_bytes(keys.public_pem(signer.public_key()))
    waivers = tmp_path / "waivers"
    waivers.mkdir()
    config = write_config(
        tmp_path / "runner",
        f'refresh_interval = "1h"\n\n[stack]\nconstitution = "{shipped_constitution_path()}"\n'
        f'overlay = "{OVERLAY}"\n\n[audit]\nstore = "{tmp_path / "audit.db"}"\n\n'
        f'[waivers]\ndirectory = "{waivers}"\nkeys = {{ overlay = ["{public}"] }}\n'
        '[identities]\nagents = ["agent-*"]\nhumans = ["alice"]\n',
    )
    clock = Clock(CREATED + timedelta(hours=1))
    runner = ThreadedRunner(config, clock=clock)
    try:
        yield Setup(tmp_path, waivers, signer, stack, clock, runner)
    finally:
        runner.stop()


def test_without_waivers_the_overlay_rule_denies(setup: Setup) -> None:
    decision = setup.decide()
    assert decision["verdict"] == "deny" and rules_of(decision) == {RULE}
    assert decision["waived"] == []
    assert setup.status()["count"] == 0


def test_valid_waiver_applies_and_is_recorded(setup: Setup) -> None:
    w = setup.waiver()
    setup.write("w.json", w.to_json())
    setup.refresh()
    decision = setup.decide()
    assert decision["verdict"] == "allow" and RULE not in rules_of(decision)
    assert [(x["rule"], x["waiver"], x["expires"]) for x in decision["waived"]] == [
        (RULE, w.id, "2026-12-31")
    ]
    record = next(
        r for r in setup.runner.service.audit.records()
        if r["decision_id"] == decision["decision_id"]
    )  # fmt: skip
    assert record["waived"] == decision["waived"] and record["verdict"] == "allow"
    # The approval a waiver is, in the audit chain: who approved it, when, why, whose key.
    waived = record["waived"][0]
    assert (waived["approver"], waived["created"], waived["reason"]) == (
        "alice",
        w.created,
        "billing freeze exception",
    )
    assert waived["created"].startswith("2026-11-22T10:00")
    assert waived["signed_by"] == w.key_id and w.key_id
    explained = setup.explain()
    assert explained["verdict"] == "allow" and RULE not in explained["fired"]
    row = next(x for x in explained["rules"] if x["id"] == RULE)
    assert row["waived"]["waiver"] == w.id
    assert explained["waived"][0]["waiver"] == w.id
    status = setup.status()
    assert (status["count"], status["active"], status["invalid"]) == (1, 1, 0)
    assert status["digest"].startswith("sha256:") and status["files"][0]["waiver"] == w.id
    metrics = setup.runner.client.get("/metrics", headers=auth("operator")).text
    assert metric(metrics, "charter_waivers", state="active") == 1


def test_waiver_expiring_while_the_runner_runs_stops_applying_without_refresh(
    setup: Setup,
) -> None:
    expiry = CREATED + timedelta(hours=2)
    w = setup.waiver(expires=expiry.strftime("%Y-%m-%dT%H:%M:%SZ"))
    setup.write("w.json", w.to_json())
    setup.refresh()
    setup.clock.now = expiry - timedelta(seconds=1)
    before = setup.decide()
    assert before["verdict"] == "allow" and before["waived"][0]["waiver"] == w.id
    digest = setup.status()["digest"]
    setup.clock.now = expiry  # no refresh in between
    after = setup.decide()
    assert after["verdict"] == "deny" and RULE in rules_of(after)
    assert after["waived"] == []
    assert "expired" in after["ignored_waivers"][0]["reason"]
    assert setup.explain()["waived"] == []
    status = setup.status()
    assert (status["active"], status["expired"], status["digest"]) == (0, 1, digest)
    record = next(
        r for r in setup.runner.service.audit.records() if r["decision_id"] == after["decision_id"]
    )
    assert record["waived"] == [] and record["verdict"] == "deny"


def test_waiver_signed_by_an_untrusted_key_is_ignored(setup: Setup) -> None:
    setup.write("w.json", setup.waiver(key=keys.generate()).to_json())
    setup.refresh()
    decision = setup.decide()
    assert decision["verdict"] == "deny" and decision["waived"] == []
    assert "not trusted" in decision["ignored_waivers"][0]["reason"]
    assert setup.status()["invalid"] == 1


def test_constitution_rule_is_never_waived(setup: Setup) -> None:
    # A forged waiver of a constitution rule, validly signed by the trusted key.
    doc = json.loads(setup.waiver().to_json())
    doc.update(rule=CONSTITUTION_RULE, layer="overlay")
    setup.write("forged.json", sign_waiver(from_document(doc), setup.signer).to_json())
    setup.refresh()
    decision = setup.decide(SELF_APPROVED)
    assert CONSTITUTION_RULE in rules_of(decision) and decision["verdict"] == "deny"
    assert decision["waived"] == []
    assert "non-waivable" in decision["ignored_waivers"][0]["reason"]
    assert CONSTITUTION_RULE in setup.explain(SELF_APPROVED)["fired"]


def test_refresh_picks_up_new_changed_removed_and_invalid_files(setup: Setup) -> None:
    setup.write("broken.json", "{not json")
    setup.refresh()
    decision = setup.decide()
    assert decision["verdict"] == "deny"
    assert "not valid JSON" in decision["ignored_waivers"][0]["reason"]
    status = setup.status()
    assert (status["count"], status["invalid"]) == (1, 1)
    empty_digest = status["digest"]

    path = setup.write("w.json", setup.waiver().to_json())
    assert setup.decide()["verdict"] == "deny"  # not read until the next refresh
    setup.refresh()
    assert setup.decide()["verdict"] == "allow"
    applied_digest = setup.status()["digest"]
    assert applied_digest != empty_digest

    # Changed after signing (a later expiry): the signature no longer verifies.
    doc = json.loads(path.read_text())
    doc["expires"] = "2027-01-31"
    path.write_text(json.dumps(doc))
    setup.refresh()
    decision = setup.decide()
    assert decision["verdict"] == "deny" and decision["waived"] == []
    assert any("does not verify" in x["reason"] for x in decision["ignored_waivers"])
    assert setup.status()["digest"] not in (empty_digest, applied_digest)

    path.write_text(setup.waiver().to_json())
    setup.refresh()
    assert setup.decide()["verdict"] == "allow"
    path.unlink()
    setup.refresh()
    assert setup.decide()["verdict"] == "deny"
    assert setup.status()["digest"] == empty_digest


def test_missing_directory_waives_nothing_and_is_reported(setup: Setup) -> None:
    setup.write("w.json", setup.waiver().to_json())
    setup.refresh()
    assert setup.decide()["verdict"] == "allow"
    (setup.waivers / "w.json").unlink()
    setup.waivers.rmdir()
    setup.refresh()
    assert setup.decide()["verdict"] == "deny"
    status = setup.status()
    assert status["count"] == 0 and "not a readable directory" in status["error"]


def test_waiver_config_is_checked(tmp_path: Path) -> None:
    head = '[stack]\nconstitution = "c"\n'
    config = parse_config(
        head + '[waivers]\ndirectory = "w"\n[waivers.keys]\npack = "p.pub"\n'
        'overlay = ["a.pub", "b.pub"]\n',
        base=tmp_path,
    )
    assert config.waivers_dir == tmp_path / "w"
    assert config.waiver_keys == (
        ("pack", tmp_path / "p.pub"), ("overlay", tmp_path / "a.pub"),
        ("overlay", tmp_path / "b.pub"),
    )  # fmt: skip
    bad = {
        '[waivers]\ndirectory = "w"\nkeys = { constitution = "c.pub" }\n': "non-waivable",
        '[waivers]\ndirectory = "w"\n': "no keys",
        '[waivers]\nkeys = { overlay = "o.pub" }\n': "needs directory",
        '[waivers]\ndirectory = "w"\nkeys = { overlay = [] }\n': "a key file or a list",
        '[waivers]\ndirectory = "w"\nkey = "o.pub"\n': "unknown key waivers.key",
    }
    for text, message in bad.items():
        with pytest.raises(ConfigError) as info:
            parse_config(head + text, base=tmp_path)
        assert message in str(info.value) + (info.value.hint or ""), text
    actions_only = '[actions]\nconstitution = "a.toml"\nkey = "a.pub"\n'
    with pytest.raises(ConfigError, match="stack.constitution"):
        parse_config(actions_only + '[waivers]\ndirectory = "w"\nkeys = { overlay = "o" }\n')


def test_cli_status_shows_waivers(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    setup.write("w.json", setup.waiver().to_json())
    setup.refresh()
    url = setup.runner.url
    assert main(["status", "--runner", url, "--token", "operator-secret", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["waivers"]["active"] == 1
    assert main(["status", "--runner", url, "--token", "operator-secret"]) == 0
    assert "Waivers: 1 (1 active, 0 expired, 0 invalid)" in capsys.readouterr().out
