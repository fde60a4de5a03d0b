"""The runner decides like the CLI: its own files are protected, bodies are read strictly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter.cli import main
from charter.policy.stack import shipped_constitution_path
from tests.bundle_helpers import constitution_bundle, make_key
from tests.runner_helpers import ThreadedRunner, auth, write_config

PROPOSAL: dict[str, Any] = {
    "kind": "pull_request",
    "repository": "acme/platform",
    "author": {"id": "agent-7", "type": "agent"},
    "body": "no citation",
    "files": [{"path": "api/Dockerfile", "status": "added"}],
}
ACTION: dict[str, Any] = {"kind": "command", "command": "ls", "cwd": "/tmp"}
JSON = {"Content-Type": "application/json"}
PROTECTED = "CHARTER-GATE-PROTECTED-FILE"


# ------------------------------------------------------------ protected files


@pytest.fixture(scope="module")
def signed_runner(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ThreadedRunner, Path]]:
    """A runner serving a signed archive under a trust policy, with waiver keys."""
    root = tmp_path_factory.mktemp("signed-runner")
    key, public = make_key(root / "key")
    archive = root / "constitution.tar.gz"
    archive.write_bytes(constitution_bundle(root, key, "1.0.0"))
    _, waiver_public = make_key(root / "waiver-key")
    _, evidence_public = make_key(root / "evidence-key")
    policy = root / "trust.toml"
    policy.write_text(
        f'[layers.constitution]\nkeys = ["{public}"]\n\n[evidence]\nkeys = ["{evidence_public}"]\n'
    )
    config = write_config(
        root / "runner",
        f'refresh_interval = "1h"\ntrust_policy = "{policy}"\n\n'
        f'[stack]\nconstitution = "{archive}"\n\n'
        f'[audit]\nstore = "{root / "audit.db"}"\n\n'
        f'[waivers]\ndirectory = "{root / "waivers"}"\n'
        f'[waivers.keys]\noverlay = ["{waiver_public}"]\n',
    )
    runner = ThreadedRunner(config)
    try:
        assert runner.service.ready, runner.service.load_error
        yield runner, root
    finally:
        runner.stop()


def _write(runner: ThreadedRunner, path: str, cwd: str = "/tmp") -> dict[str, Any]:
    body = {"kind": "file_write", "path": path, "size": 10, "cwd": cwd}
    r = runner.client.post("/v1/decisions/action", json=body, headers=auth("agent"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_writes_to_the_runners_own_files_are_denied_over_http(
    signed_runner: tuple[ThreadedRunner, Path],
) -> None:
    runner, root = signed_runner
    own = [
        root / "audit.db",
        root / "audit.db-wal",
        root / "audit.db-shm",
        root / "audit.db-journal",
        root / "runner" / "runner.toml",  # the config, with the token hashes
        root / "trust.toml",
        root / "key" / "signing.pub",
        root / "waiver-key" / "signing.pub",
        root / "evidence-key" / "signing.pub",  # who may sign CI evidence
        root / "constitution.tar.gz",
        root / "runner" / "actions.toml",
        root / "runner" / "actions.pub",
        root / "runner" / "state" / "accepted.json",
        root / "runner" / "state" / "pins.json",
    ]
    for path in own:
        decision = _write(runner, str(path))
        assert decision["verdict"] == "deny", (path, decision)
        assert decision["reasons"][0]["rule"] == PROTECTED, (path, decision["reasons"])
    # A relative path, resolved against the action's cwd, too.
    decision = _write(runner, "audit.db", cwd=str(root))
    assert decision["verdict"] == "deny" and decision["reasons"][0]["rule"] == PROTECTED
    # Anything else is not the runner's business.
    other = _write(runner, str(root / "notes.txt"))
    assert PROTECTED not in {r["rule"] for r in other["reasons"]}
    # The decisions were recorded by the runner itself (the gate records nothing).
    ids = {r["decision_id"] for r in runner.service.audit.records()}
    assert decision["decision_id"] in ids and other["decision_id"] in ids


def test_charter_gate_denies_the_same_write(
    signed_runner: tuple[ThreadedRunner, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    runner, root = signed_runner
    target = str(root / "audit.db")
    over_http = _write(runner, target)
    code = main(
        ["gate", "--constitution", str(root / "runner" / "actions.toml"),
         "--key", str(root / "runner" / "actions.pub"), "--audit", target,
         "--budget", str(root / "budget.json"), "--write", target, "--size", "10",
         "--cwd", "/tmp", "--format", "json"]
    )  # fmt: skip
    cli = json.loads(capsys.readouterr().out)
    assert code == 1
    assert cli["verdict"] == over_http["verdict"] == "deny"
    assert cli["reasons"][0]["rule"] == over_http["reasons"][0]["rule"] == PROTECTED


# ------------------------------------------------------------- strict bodies


@pytest.fixture(scope="module", params=[0, 1], ids=["threads", "processes"])
def runner(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadedRunner]:
    root = tmp_path_factory.mktemp("runner-inputs")
    config = write_config(
        root,
        f'refresh_interval = "1h"\nevaluator_processes = {request.param}\n\n'
        f'[stack]\nconstitution = "{shipped_constitution_path()}"\n\n'
        f'[audit]\nstore = "{root / "audit.db"}"\n',
    )
    r = ThreadedRunner(config)
    try:
        yield r
    finally:
        r.stop()


def _with(document: dict[str, Any], key: str, raw: str) -> bytes:
    """``document`` as JSON with ``"key": raw`` spliced in as raw text."""
    text = json.dumps(document)
    return (text[:-1] + f', "{key}": {raw}' + "}").encode()


NESTED = "[" * 10_000 + "]" * 10_000
# (name, raw bytes for a proposal route, raw bytes for the action route, words in the error)
BAD_BODIES: list[tuple[str, bytes, bytes, str]] = [
    ("duplicate key", _with(PROPOSAL, "kind", '"merge"'), _with(ACTION, "kind", '"file_read"'),
     "duplicate key 'kind'"),
    ("NaN", _with(PROPOSAL, "n", "NaN"), _with(ACTION, "size", "NaN"), "NaN"),
    ("Infinity", _with(PROPOSAL, "n", "-Infinity"), _with(ACTION, "size", "Infinity"),
     "Infinity"),
    ("1e999", _with(PROPOSAL, "n", "1e999"), _with(ACTION, "size", "1e999"), "1e999"),
    ("lone surrogate",
     json.dumps({**PROPOSAL, "repository": "acme/\ud800"}).encode(),
     json.dumps({**ACTION, "command": "ls \ud800"}).encode(),
     "lone surrogate"),
    ("nested arrays", _with(PROPOSAL, "x", NESTED), _with(ACTION, "x", NESTED), "nested deeper"),
    ("nested body", NESTED.encode(), NESTED.encode(), "nested deeper"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "proposal", "action", "words"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES]
)
def test_bodies_the_strict_reader_refuses_are_422_naming_the_body(
    runner: ThreadedRunner, name: str, proposal: bytes, action: bytes, words: str
) -> None:
    for path, raw in (
        ("/v1/decisions/proposal", proposal),
        ("/v1/explain", proposal),
        ("/v1/decisions/action", action),
    ):
        r = runner.client.post(path, content=raw, headers={**JSON, **auth("agent")})
        assert r.status_code == 422, (name, path, r.status_code, r.text[:300])
        answer = r.json()
        assert answer["field"] == "body", (name, path, answer)
        assert words in answer["error"], (name, path, answer)


def test_a_lone_surrogate_names_its_field(runner: ThreadedRunner) -> None:
    raw = json.dumps({**PROPOSAL, "repository": "acme/\ud800"}).encode()
    for path in ("/v1/decisions/proposal", "/v1/explain"):
        r = runner.client.post(path, content=raw, headers={**JSON, **auth("agent")})
        assert r.status_code == 422
        assert "repository" in r.json()["error"]


def test_proposals_are_validated_as_charter_check_validates_them(
    runner: ThreadedRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every invalid field is listed, the same way over HTTP and in `charter check`.
    bad = {k: v for k, v in PROPOSAL.items() if k != "author"} | {"files": "all of them"}
    r = runner.client.post("/v1/decisions/proposal", json=bad, headers=auth("agent"))
    assert r.status_code == 422
    error = r.json()["error"]
    assert "proposal.author" in error and "proposal.files" in error
    assert r.json()["field"] == "proposal.author"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    assert main(["check", str(path)]) == 2
    assert r.json()["error"].split(" (")[0] in capsys.readouterr().err


def test_approval_bodies_are_read_strictly_too(runner: ThreadedRunner) -> None:
    ask = runner.client.post(
        "/v1/decisions/action",
        json={**ACTION, "command": "git push origin main", "agent": {"id": "agent-7"}},
        headers=auth("agent"),
    ).json()
    assert ask["verdict"] == "ask"
    url = f"/v1/approvals/{ask['decision_id']}"
    headers = {**JSON, **auth("approver")}
    for raw, field, words in (
        (b'{"approve": false, "approve": true}', "body", "duplicate key 'approve'"),
        (b'{"approve": true, "comment": "\\ud800"}', "body", "lone surrogate"),
        (b'{"approve": "yes"}', "body.approve", "boolean"),
        (b"", "body", "malformed JSON"),
    ):
        r = runner.client.post(url, content=raw, headers=headers)
        assert r.status_code == 422, (raw, r.text)
        assert r.json()["field"] == field and words in r.json()["error"], (raw, r.json())
    # Nothing was approved by the refused bodies; a valid one still is.
    ok = runner.client.post(url, json={"approve": True}, headers=headers)
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
