"""`charter check`: audit records, trust options and failing closed on the store."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from charter.audit import chain, stores
from charter.cli import main
from tests.bundle_helpers import make_key, overlay_bundle

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "proposals"
NOW = "2026-11-20T10:00:00Z"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_check_records_every_decision_in_a_verifiable_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_path = tmp_path / "audit.db"
    ids = []
    for name, expected in (("docs-pr-compliant.json", 0), ("agent-push-to-main.json", 1)):
        code, out, err = run(
            capsys, "check", str(EXAMPLES / name), "--now", NOW,
            "--audit", str(store_path), "--format", "json",
        )  # fmt: skip
        assert code == expected, err
        decision = json.loads(out)
        ids.append((decision["decision_id"], decision["verdict"], decision["input_digest"]))
    store = stores.open_store(store_path)
    try:
        records = list(store.records())
        assert [(r["decision_id"], r["verdict"], r["input_digest"]) for r in records] == ids
        assert all(r["source"] == "check" and r["kind"] == "proposal" for r in records)
        assert records[1]["prev_hash"] == records[0]["hash"]
        assert chain.verify(store)
    finally:
        store.close()
    code, out, err = run(capsys, "audit", "verify", "--store", str(store_path))
    assert code == 0, err


def test_check_uses_charter_audit_by_default_and_no_audit_skips_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store_path = tmp_path / "env-audit.db"
    monkeypatch.setenv("CHARTER_AUDIT", str(store_path))
    proposal = str(EXAMPLES / "pr-without-citation.json")
    assert run(capsys, "check", proposal, "--now", NOW, "--no-audit")[0] == 1
    assert not store_path.exists()
    assert run(capsys, "check", proposal, "--now", NOW)[0] == 1
    store = stores.open_store(store_path)
    try:
        assert [r["verdict"] for r in store.records()] == ["deny"]
    finally:
        store.close()


def test_check_fails_closed_when_the_audit_store_cannot_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    code, out, err = run(
        capsys, "check", str(EXAMPLES / "docs-pr-compliant.json"), "--now", NOW,
        "--audit", str(blocker / "audit.db"), "--format", "json",
    )  # fmt: skip
    # An allow that could not be recorded is never reported as an allow.
    assert code == 2
    assert out == ""
    assert err.startswith("charter: error:") and "audit" in err
    assert "Traceback" not in err


def test_check_trust_option_verifies_a_signed_overlay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, public = make_key(tmp_path / "keys")
    other, _ = make_key(tmp_path / "other")
    good = tmp_path / "overlay.tar.gz"
    good.write_bytes(overlay_bundle(tmp_path, key))
    forged = tmp_path / "forged.tar.gz"
    forged.write_bytes(overlay_bundle(tmp_path / "f", other))
    policy = tmp_path / "trust.toml"
    policy.write_text(f'[layers.overlay]\nkeys = ["{public}"]\n')
    proposal = tmp_path / "p.json"
    document = json.loads((EXAMPLES / "docs-pr-compliant.json").read_text())
    document["files"] = [{"path": "Dockerfile", "status": "added", "added_lines": ["FROM x"]}]
    proposal.write_text(json.dumps(document))
    state = str(tmp_path / "state")

    code, out, err = run(
        capsys, "check", str(proposal), "--now", NOW, "--overlay", str(good),
        "--trust", str(policy), "--state-dir", state, "--format", "json",
    )  # fmt: skip
    assert code == 3, err  # the overlay asks about Dockerfiles
    decision = json.loads(out)
    assert [s["layer"] for s in decision["stack"]] == ["constitution", "overlay"]
    assert "ACME-NO-DOCKERFILE-001" in {r["rule"] for r in decision["reasons"]}

    code, out, err = run(
        capsys, "check", str(proposal), "--now", NOW, "--overlay", str(forged),
        "--trust", str(policy), "--state-dir", state,
    )  # fmt: skip
    assert code == 2
    assert out == ""
    assert "Traceback" not in err and "forged.tar.gz" in err


def test_check_reads_the_proposal_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (EXAMPLES / "agent-push-to-main.json").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, out, err = run(capsys, "check", "-", "--now", NOW, "--format", "json")
    assert code == 1, err
    assert "PROC-NO-DIRECT-PUSH-001" in {r["rule"] for r in json.loads(out)["reasons"]}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_check_refuses_non_json_numbers_by_name(
    constant: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    document = (EXAMPLES / "docs-pr-compliant.json").read_text()
    tampered = document.replace(
        '"kind": "pull_request"', f'"kind": "pull_request", "n": {constant}'
    )
    assert tampered != document
    monkeypatch.setattr("sys.stdin", io.StringIO(tampered))
    code, out, err = run(capsys, "check", "-", "--now", NOW)
    assert code == 2 and out == ""
    assert f"{constant.lstrip('-')} is not valid JSON" in err
