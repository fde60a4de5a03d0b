"""`charter check PROPOSAL.json` with facts: what the agent declared against what happened.

A declared document is reconciled with a git range (`--git`) and with verified evidence
(`--evidence`); every declaration that the facts contradict is denied by
PROC-DECLARED-FACTS-MATCH-001, and the derived fact is what the other rules judge.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli_helpers import invoke
from tests.test_facts_git import commit, git

NOW = "2026-11-20T10:00:00Z"
ASSETS = Path(__file__).parent / "assets" / "evidence"
LOCAL = ASSETS / "attestations" / "local-dsse-test-vectors"
FACTS_RULE = "PROC-DECLARED-FACTS-MATCH-001"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "app.py").write_text("print('v1')\n")
    (root / "requirements.txt").write_text("requests==2.31.0\n")
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "app.py").write_text("print('v2')\n")
    (root / "requirements.txt").write_text("requests==2.32.3\n")
    commit(root, "Change app", author="Coder Bot <coder@agents.example>")
    return root


def _decide(*args: str, proposal: dict[str, object] | None = None, tmp: Path) -> tuple[int, dict]:
    extra: list[str] = []
    if proposal is not None:
        (tmp / "proposal.json").write_text(json.dumps(proposal))
        extra = [str(tmp / "proposal.json")]
    result = invoke("check", *extra, *args, "--now", NOW, "--format", "json", "--no-audit")
    assert result.returncode in (0, 1, 3), result.stderr
    return result.returncode, json.loads(result.stdout)


def _facts(decision: dict) -> list[str]:
    return sorted(r["msg"] for r in decision["reasons"] if r["rule"] == FACTS_RULE)


def test_a_declaration_that_hides_a_file_and_a_bump_is_denied_by_rule_id(
    repo: Path, tmp_path: Path
) -> None:
    declared = {
        "kind": "pull_request",
        "repository": "acme/app",
        "author": {"id": "coder@agents.example", "type": "human"},
        "files": [{"path": "app.py", "status": "modified"}],
        "dependencies": {"changed": False},
    }
    code, decision = _decide(
        "--git", "main..feature", "--repo", str(repo), proposal=declared, tmp=tmp_path
    )
    assert code == 1 and decision["verdict"] == "deny"
    messages = _facts(decision)
    assert len(messages) == 3, messages
    joined = "\n".join(messages)
    assert "author.type" in joined and "requirements.txt" in joined
    assert "dependencies.changed" in joined
    # The derived facts are judged: the bump needs a scan.
    assert "SC-DEPENDENCY-SCAN-001" in {r["rule"] for r in decision["reasons"]}


def test_an_honest_declaration_contradicts_nothing(repo: Path, tmp_path: Path) -> None:
    declared = {
        "kind": "pull_request",
        "repository": "acme/app",
        "author": {"id": "coder@agents.example", "type": "agent"},
    }
    _, decision = _decide(
        "--git", "main..feature", "--repo", str(repo), proposal=declared, tmp=tmp_path
    )
    assert _facts(decision) == []


def _trust(tmp_path: Path, key: Path) -> Path:
    shutil.copyfile(key, tmp_path / "evidence.pub")
    policy = tmp_path / "trust.toml"
    policy.write_text('[evidence]\nkeys = ["evidence.pub"]\nbuilders = ["https://example.com/*"]\n')
    return policy


def _release(artifact_digest: str | None = None) -> dict[str, object]:
    artifact: dict[str, object] = {
        "name": "hello-artifact.txt",
        "sbom": {"format": "cyclonedx", "signed": True},
        "provenance": {"format": "in-toto", "signed": True},
    }
    if artifact_digest:
        artifact["digest"] = artifact_digest
    return {
        "kind": "release",
        "repository": "acme/app",
        "author": {"id": "release-bot", "type": "agent"},
        "artifacts": [artifact],
    }


def test_declared_signatures_without_evidence_are_not_believed(tmp_path: Path) -> None:
    code, decision = _decide(proposal=_release(), tmp=tmp_path)
    rules = {r["rule"] for r in decision["reasons"]}
    assert code == 1
    assert {"SC-SIGNED-SBOM-001", "SC-SIGNED-PROVENANCE-001", FACTS_RULE} <= rules


def test_verified_provenance_counts_and_a_tampered_one_denies_with_the_error(
    tmp_path: Path,
) -> None:
    trust = _trust(tmp_path, LOCAL / "TEST-ONLY-ed25519.pub.pem")
    good = tmp_path / "good"
    good.mkdir()
    shutil.copyfile(LOCAL / "hello-artifact.txt", good / "hello-artifact.txt")
    shutil.copyfile(LOCAL / "provenance.ed25519.dsse.json", good / "provenance.dsse.json")
    _, decision = _decide(
        "--evidence", str(good), "--trust", str(trust), proposal=_release(), tmp=tmp_path
    )
    provenance = [r for r in decision["reasons"] if r["rule"] == "SC-SIGNED-PROVENANCE-001"]
    assert provenance == []

    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copyfile(LOCAL / "hello-artifact.txt", bad / "hello-artifact.txt")
    shutil.copyfile(LOCAL / "provenance.ed25519.dsse.TAMPERED.json", bad / "provenance.dsse.json")
    code, decision = _decide(
        "--evidence", str(bad), "--trust", str(trust), proposal=_release(), tmp=tmp_path
    )
    assert code == 1
    [reason] = [r for r in decision["reasons"] if r["rule"] == "SC-SIGNED-PROVENANCE-001"]
    assert "provenance.dsse.json" in reason["msg"] and "does not verify" in reason["msg"]


def test_evidence_that_is_not_readable_is_exit_2_naming_the_file(tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    evidence.mkdir()
    (evidence / "app.cdx.json").write_text('{"bomFormat": "CycloneDX"')
    (tmp_path / "p.json").write_text(json.dumps(_release()))
    result = invoke("check", str(tmp_path / "p.json"), "--evidence", str(evidence), "--no-audit")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "app.cdx.json" in result.stderr


def test_from_git_with_evidence_decides_as_check_with_evidence(repo: Path, tmp_path: Path) -> None:
    trust = _trust(tmp_path, LOCAL / "TEST-ONLY-ed25519.pub.pem")
    evidence = tmp_path / "dist"
    evidence.mkdir()
    shutil.copyfile(LOCAL / "hello-artifact.txt", evidence / "hello-artifact.txt")
    shutil.copyfile(LOCAL / "provenance.ed25519.dsse.json", evidence / "provenance.dsse.json")
    common = ["--repo", str(repo), "--kind", "release", "--evidence", str(evidence),
              "--trust", str(trust)]  # fmt: skip
    built = invoke("proposal", "from-git", "--base", "main", "--head", "feature", *common)
    assert built.returncode == 0, built.stderr
    [artifact] = json.loads(built.stdout)["artifacts"]
    assert artifact["name"] == "hello-artifact.txt"
    assert artifact["provenance"]["signed"] is True
    assert artifact["provenance"]["format"] == "slsa-provenance-v1"
    # A built document piped back in is a declaration: its signatures count only with
    # the same evidence beside it.
    evidence_args = ["--evidence", str(evidence), "--trust", str(trust)]
    piped = invoke("check", "-", *evidence_args, "--now", NOW, "--format", "json", "--no-audit",
                   stdin=built.stdout)  # fmt: skip
    code, direct = _decide("--git", "main..feature", *common, tmp=tmp_path)
    assert piped.returncode == code
    assert sorted(r["msg"] for r in json.loads(piped.stdout)["reasons"]) == sorted(
        r["msg"] for r in direct["reasons"]
    )


def test_evidence_signers_come_from_the_trust_policy_in_the_environment_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trust = _trust(tmp_path, LOCAL / "TEST-ONLY-ed25519.pub.pem")
    good = tmp_path / "good"
    good.mkdir()
    shutil.copyfile(LOCAL / "hello-artifact.txt", good / "hello-artifact.txt")
    shutil.copyfile(LOCAL / "provenance.ed25519.dsse.json", good / "provenance.dsse.json")
    monkeypatch.setenv("CHARTER_TRUST_POLICY", str(trust))
    _, decision = _decide("--evidence", str(good), proposal=_release(), tmp=tmp_path)
    assert [r for r in decision["reasons"] if r["rule"] == "SC-SIGNED-PROVENANCE-001"] == []


def test_a_text_file_too_large_to_scan_for_secrets_asks(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "-b", "big", "main")
    # Over the 1 MiB per-file patch limit: its added lines never reach the secret scan.
    (repo / "dump.sql").write_text("INSERT INTO t VALUES ('x');\n" * 45_000)
    commit(repo, "Add a dump", author="Coder Bot <coder@agents.example>")
    _, decision = _decide("--git", "main..big", "--repo", str(repo), tmp=tmp_path)
    [reason] = [r for r in decision["reasons"] if r["rule"] == "CRED-UNSCANNED-PATCH-001"]
    assert reason["verdict"] == "ask" and "dump.sql" in reason["msg"]
    assert "too large" in reason["msg"]


def test_a_name_only_identity_map_keeps_the_built_human_author(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "-b", "human", "main")
    (repo / "app.py").write_text("print('v3')\n")
    commit(repo, "Human change", author="Ada <ada@example.com>")
    identities = tmp_path / "ids.toml"
    identities.write_text('[identities]\nhumans = ["Ada"]\n')
    declared = {
        "kind": "pull_request",
        "repository": "acme/app",
        "author": {"id": "ada@example.com", "type": "human"},
    }
    _, decision = _decide(
        "--git", "main..human", "--repo", str(repo), "--identities", str(identities),
        proposal=declared, tmp=tmp_path,
    )  # fmt: skip
    # The range's author is Ada by name: the built classification stands, no contradiction.
    assert _facts(decision) == []
