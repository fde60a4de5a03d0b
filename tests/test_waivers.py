"""Waivers: signed, scoped and expiring; constitution rules are never waived."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from charter.cli import main
from charter.core.errors import WaiverError
from charter.policy.decision import evaluate
from charter.policy.lint import lint_waiver_file
from charter.policy.stack import Stack, load_stack
from charter.policy.waivers import (
    WaiverSet,
    create_waiver,
    load_directory,
    parse_scope,
    parse_trust,
    status,
)
from charter.trust import keys
from tests.bundle_helpers import make_key, overlay_bundle

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "overlay"
RULE = "CM-TICKET-REQUIRED-001"
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
MERGE = {
    "kind": "merge",
    "repository": "acme/platform",
    "base": "main",
    "head": "feature/billing",
    "author": {"id": "agent-7", "type": "agent"},
    "title": "billing",
    "body": "no ticket here",
    "environment": "production",
    "files": [{"path": "infra/billing.tf", "status": "modified", "patch": "+x\n"}],
    "approvals": [{"by": "alice", "type": "human", "groups": []}],
}


@pytest.fixture(scope="module")
def stack() -> Stack:
    return load_stack(overlay=EXAMPLE)


@pytest.fixture(scope="module")
def signer() -> keys.PrivateKey:
    return keys.generate()


def make(stack: Stack, key: keys.PrivateKey, *, scope: list[str] | None = None,
         expires: str = "2026-12-31", rule: str = RULE):  # type: ignore[no-untyped-def]  # fmt: skip
    return create_waiver(
        rule=rule,
        scope=parse_scope(scope or ["repo=acme/platform", "path=infra/**"]),
        reason="billing freeze exception",
        expires=expires,
        approver="alice",
        key=key,
        stack=stack,
        now=NOW,
    )


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def decide(stack: Stack, directory: Path, trust: dict[str, list[keys.PublicKey]], now: datetime):  # type: ignore[no-untyped-def]
    hook = WaiverSet.from_directory(directory, stack, trust)
    return evaluate(stack.compile(), MERGE, now=now, waivers=hook)


def test_without_waiver_the_overlay_rule_denies(stack: Stack) -> None:
    decision = evaluate(stack.compile(), MERGE, now=NOW)
    assert RULE in {r.rule for r in decision.reasons}


def test_valid_waiver_is_applied_and_listed(
    stack: Stack, signer: keys.PrivateKey, tmp_path: Path
) -> None:
    w = make(stack, signer)
    write(tmp_path, "w.json", w.to_json())
    decision = decide(stack, tmp_path, {"overlay": [signer.public_key()]}, NOW)
    assert RULE not in {r.rule for r in decision.reasons}
    assert decision.waived[0]["rule"] == RULE
    assert decision.waived[0]["waiver"] == w.id
    assert decision.waived[0]["expires"] == "2026-12-31"
    assert decision.ignored_waivers == ()


def test_expired_waiver_is_ignored(stack: Stack, signer: keys.PrivateKey, tmp_path: Path) -> None:
    write(tmp_path, "w.json", make(stack, signer).to_json())
    later = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
    decision = decide(stack, tmp_path, {"overlay": [signer.public_key()]}, later)
    assert RULE in {r.rule for r in decision.reasons}
    assert decision.waived == ()
    assert "expired" in decision.ignored_waivers[0]["reason"]
    # The last day is still covered.
    last_day = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    assert decide(stack, tmp_path, {"overlay": [signer.public_key()]}, last_day).waived


def test_out_of_scope_waiver_is_ignored(
    stack: Stack, signer: keys.PrivateKey, tmp_path: Path
) -> None:
    write(tmp_path, "repo.json", make(stack, signer, scope=["repo=acme/other"]).to_json())
    write(tmp_path, "path.json",
          make(stack, signer, scope=["repo=acme/platform", "path=docs/**"]).to_json())  # fmt: skip
    decision = decide(stack, tmp_path, {"overlay": [signer.public_key()]}, NOW)
    assert RULE in {r.rule for r in decision.reasons}
    reasons = sorted(i["reason"] for i in decision.ignored_waivers)
    assert "outside the waiver's paths" in reasons[0]
    assert "repository 'acme/platform' is not in scope" in reasons[1]


def test_wrong_key_is_ignored(stack: Stack, signer: keys.PrivateKey, tmp_path: Path) -> None:
    write(tmp_path, "w.json", make(stack, signer).to_json())
    other = keys.generate().public_key()
    decision = decide(stack, tmp_path, {"overlay": [other]}, NOW)
    assert RULE in {r.rule for r in decision.reasons}
    assert "not trusted" in decision.ignored_waivers[0]["reason"]
    # A key trusted for another layer does not count either.
    decision = decide(stack, tmp_path, {"pack": [signer.public_key()]}, NOW)
    assert decision.waived == ()


def test_tampered_waiver_is_ignored(stack: Stack, signer: keys.PrivateKey, tmp_path: Path) -> None:
    doc = json.loads(make(stack, signer).to_json())
    doc["expires"] = "2027-01-31"
    write(tmp_path, "w.json", json.dumps(doc))
    decision = decide(stack, tmp_path, {"overlay": [signer.public_key()]}, NOW)
    assert decision.waived == ()
    assert "does not verify" in decision.ignored_waivers[0]["reason"]


def test_constitution_rule_refused_at_creation(stack: Stack, signer: keys.PrivateKey) -> None:
    with pytest.raises(WaiverError, match="non-waivable"):
        make(stack, signer, rule="PROC-NO-SELF-APPROVAL-001")


def test_constitution_rule_ignored_at_evaluation(
    stack: Stack, signer: keys.PrivateKey, tmp_path: Path
) -> None:
    # Forge a waiver of a constitution rule by editing a valid one and re-signing it.
    from charter.policy.waivers import from_document, sign_waiver

    doc = json.loads(make(stack, signer).to_json())
    doc.update(rule="PROC-NO-SELF-APPROVAL-001", layer="overlay")
    forged = sign_waiver(from_document(doc), signer)
    path = write(tmp_path, "w.json", forged.to_json())
    self_approved = dict(MERGE, approvals=[{"by": "agent-7", "type": "agent", "groups": []}])
    hook = WaiverSet.from_directory(tmp_path, stack, {"overlay": [signer.public_key()]})
    decision = evaluate(stack.compile(), self_approved, now=NOW, waivers=hook)
    assert "PROC-NO-SELF-APPROVAL-001" in {r.rule for r in decision.reasons}
    assert "non-waivable" in decision.ignored_waivers[0]["reason"]
    assert "CHARTER-L040" in lint_waiver_file(path, stack, now=NOW).codes()


def test_expiry_too_far_and_missing(stack: Stack, signer: keys.PrivateKey) -> None:
    with pytest.raises(WaiverError, match="max_waiver_days"):
        make(stack, signer, expires="2027-06-30")
    with pytest.raises(WaiverError, match="needs an expiry"):
        create_waiver(rule=RULE, scope=parse_scope(["repo=a/b"]), reason="r", expires=None,
                      approver="alice", key=signer, stack=stack, now=NOW)  # fmt: skip
    # The 90-day boundary itself is accepted.
    assert make(stack, signer, expires="2027-02-20").expires == "2027-02-20"


def test_scope_requires_a_repository() -> None:
    with pytest.raises(WaiverError, match="repository"):
        parse_scope(["path=infra/**"])
    with pytest.raises(WaiverError):
        parse_scope(["team=x"])


def test_list_statuses(stack: Stack, signer: keys.PrivateKey, tmp_path: Path) -> None:
    write(tmp_path, "a.json", make(stack, signer).to_json())
    write(tmp_path, "b.json", make(stack, signer, expires="2026-11-30").to_json())
    write(tmp_path, "c.json", "{not json")
    trust = {"overlay": [signer.public_key()]}
    later = datetime(2026, 12, 5, tzinfo=UTC)
    states = [status(w, stack, trust, later).state for w in load_directory(tmp_path)]
    assert states == ["active", "expired", "invalid"]


def test_cli_create_check_list(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = keys.generate()
    keys.write_private(tmp_path / "signing.key", key)
    (tmp_path / "signing.pub").write_bytes(keys.public_pem(key.public_key()))
    proposal = tmp_path / "merge.json"
    proposal.write_text(json.dumps(MERGE))
    wdir = tmp_path / "waivers"
    base = ["--overlay", str(EXAMPLE), "--now", "2026-11-22T10:00:00Z"]
    code = main(["waiver", "create", "--rule", RULE, "--scope", "repo=acme/platform",
                 "--scope", "path=infra/**", "--reason", "freeze", "--expires", "2026-12-31",
                 "--approver", "alice", "--key", str(tmp_path / "signing.key"),
                 "-o", str(wdir / "w.json"), *base])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    code = main(["waiver", "create", "--rule", "PROC-NO-SELF-APPROVAL-001", "--scope",
                 "repo=acme/platform", "--reason", "x", "--expires", "2026-12-31",
                 "--approver", "alice", "--key", str(tmp_path / "signing.key"),
                 "-o", str(tmp_path / "bad.json"), *base])  # fmt: skip
    assert code == 2
    assert "non-waivable" in capsys.readouterr().err
    assert not (tmp_path / "bad.json").exists()
    pub = str(tmp_path / "signing.pub")
    check = ["check", str(proposal), "--waivers", str(wdir), "--waiver-key", f"overlay={pub}",
             "--format", "json", *base]  # fmt: skip
    code = main(check)
    decision = json.loads(capsys.readouterr().out)
    assert decision["waived"][0]["rule"] == RULE
    assert RULE not in {r["rule"] for r in decision["reasons"]}
    assert code in (0, 1, 3)
    # Expired at a later --now: the CLI refuses to apply it.
    expired = [*check[:-2], "--now", "2027-01-02T00:00:00Z"]
    main(expired)
    decision = json.loads(capsys.readouterr().out)
    assert decision["waived"] == [] and RULE in {r["rule"] for r in decision["reasons"]}
    assert main(["waiver", "verify", str(wdir / "w.json"), "--key", pub, *base]) == 0
    assert "active" in capsys.readouterr().out
    code = main(["waiver", "list", str(wdir), "--waiver-key", f"overlay={pub}",
                 "--format", "json", *base])  # fmt: skip
    assert code == 0
    listed = json.loads(capsys.readouterr().out)
    assert [w["status"] for w in listed] == ["active"]


def test_parse_trust_rejects_constitution() -> None:
    with pytest.raises(WaiverError):
        parse_trust(["constitution=x.pub"])


def test_forged_expiry_too_far_is_ignored_at_evaluation(
    stack: Stack, signer: keys.PrivateKey, tmp_path: Path
) -> None:
    # A trusted key re-signs a waiver with an expiry beyond max_waiver_days (90):
    # creation would refuse it, and evaluation and the linter refuse it too.
    from charter.policy.waivers import from_document, sign_waiver

    doc = json.loads(make(stack, signer).to_json())
    doc.update(expires="2028-01-01")
    forged = sign_waiver(from_document(doc), signer)
    path = write(tmp_path, "w.json", forged.to_json())
    decision = decide(stack, tmp_path, {"overlay": [signer.public_key()]}, NOW)
    assert decision.waived == ()
    assert RULE in {r.rule for r in decision.reasons}
    assert "max_waiver_days" in decision.ignored_waivers[0]["reason"]
    assert "CHARTER-L043" in lint_waiver_file(path, stack, now=NOW).codes()


def test_lint_of_waiver_files(stack: Stack, signer: keys.PrivateKey, tmp_path: Path) -> None:
    from charter.policy.waivers import from_document, sign_waiver

    valid = write(tmp_path, "valid.json", make(stack, signer).to_json())
    assert lint_waiver_file(valid, stack, now=NOW).findings == ()
    expired = lint_waiver_file(valid, stack, now=datetime(2027, 1, 2, tzinfo=UTC))
    assert expired.ok and expired.codes() == {"CHARTER-L042"}
    doc = json.loads(make(stack, signer).to_json())
    doc.update(rule="ACME-GONE-001")
    unknown = write(tmp_path, "unknown.json", sign_waiver(from_document(doc), signer).to_json())
    assert "CHARTER-L041" in lint_waiver_file(unknown, stack, now=NOW).codes()
    garbage = write(tmp_path, "garbage.json", "{nope")
    assert lint_waiver_file(garbage, stack, now=NOW).codes() == {"CHARTER-L000"}


#: A fixed Ed25519 key (signatures are deterministic) and a waiver with non-ASCII text.
GOLDEN_KEY = bytes(range(32))
GOLDEN_DOCUMENT = {
    "charter_waiver": 1,
    "id": "W-2026-01-01-abc",
    "rule": "ACME-X-001",
    "layer": "overlay",
    "scope": {"repo": ["acme/platform"], "path": ["infra/**"]},
    "reason": "Grüße — “quoted” 日本",
    "approver": "zoë",
    "created": "2026-01-01T00:00:00Z",
    "expires": "2026-02-01",
}
#: What Charter signed before the canonical writer moved to charter.core.jsonio.
GOLDEN_SIGNATURE = (
    "q1313uwqk94Cm8hDsqvKtvNAoroBPWmZ/IFBasse3VS3G6SYMS90GeDilx4IDBu/r0iYNjhFD5UjcE1wZxgyAg=="
)


def test_waiver_signatures_are_byte_identical_to_earlier_releases() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from charter.policy.waivers import from_document, sign_waiver, verify_signature

    key = ed25519.Ed25519PrivateKey.from_private_bytes(GOLDEN_KEY)
    signed = sign_waiver(from_document(dict(GOLDEN_DOCUMENT)), key)
    assert signed.signature is not None
    assert signed.signature["value"] == GOLDEN_SIGNATURE
    assert verify_signature(signed, [key.public_key()]) == keys.key_id(key.public_key())


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"charter_waiver": 1, "charter_waiver": 1}', "duplicate key 'charter_waiver'"),
        ('{"charter_waiver": 1, "note": 1e999}', "does not fit a 64-bit float"),
        ('{"charter_waiver": 1, "note": "\\ud800"}', "lone surrogate"),
        ('{"charter_waiver": 1, "note": NaN}', "NaN is not valid JSON"),
    ],
)
def test_waiver_files_are_read_strictly(text: str, needle: str) -> None:
    # Before: 1e999 / NaN / a lone surrogate were accepted and then signed or
    # hashed as something no other JSON reader agrees on.
    from charter.policy.waivers import parse_waiver

    with pytest.raises(WaiverError) as info:
        parse_waiver(text.encode(), "w.json")
    assert info.value.message.startswith("w.json: not valid JSON (")
    assert needle in info.value.message


def test_waiver_commands_verify_a_signed_overlay_under_trust(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`charter waiver` loads signed layers as `check` does: verified under --trust, a
    forged bundle is exit 2 (no result), and inspecting records no accepted version."""
    layer_key, layer_pub = make_key(tmp_path / "layer")
    forger, _ = make_key(tmp_path / "forger")
    signed = tmp_path / "overlay.tar.gz"
    signed.write_bytes(overlay_bundle(tmp_path, layer_key, rule_id="ACME-WAIVABLE-001"))
    forged = tmp_path / "forged.tar.gz"
    forged.write_bytes(overlay_bundle(tmp_path / "f", forger, rule_id="ACME-WAIVABLE-001"))
    policy = tmp_path / "trust.toml"
    state = tmp_path / "state"
    policy.write_text(f'state_dir = "{state}"\n[layers.overlay]\nkeys = ["{layer_pub}"]\n')
    waiver_key = keys.generate()
    keys.write_private(tmp_path / "w.key", waiver_key)
    (tmp_path / "w.pub").write_bytes(keys.public_pem(waiver_key.public_key()))
    now = ["--now", "2026-11-22T10:00:00Z"]
    create = ["waiver", "create", "--rule", "ACME-WAIVABLE-001", "--scope", "repo=acme/platform",
              "--reason", "freeze", "--expires", "2026-12-31", "--approver", "alice",
              "--key", str(tmp_path / "w.key"), "-o", str(tmp_path / "w" / "w.json"),
              "--trust", str(policy), *now]  # fmt: skip
    assert main([*create, "--overlay", str(signed)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    verify = ["waiver", "verify", str(tmp_path / "w" / "w.json"), "--key",
              str(tmp_path / "w.pub"), "--trust", str(policy), *now]  # fmt: skip
    assert main([*verify, "--overlay", str(signed)]) == 0
    assert "active" in capsys.readouterr().out
    assert main([*verify, "--overlay", str(forged)]) == 2
    err = capsys.readouterr().err
    assert "forged.tar.gz" in err and "Traceback" not in err
    assert main([*create, "--overlay", str(forged)]) == 2
    assert not [p for p in state.glob("**/*") if p.is_file()], "inspecting accepts nothing"
    proposal = tmp_path / "p.json"
    proposal.write_text(json.dumps(MERGE))
    main(["check", str(proposal), "--overlay", str(signed), "--trust", str(policy), *now])
    assert [p for p in state.glob("**/*") if p.is_file()], "check does accept the version"
