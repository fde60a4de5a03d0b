"""``charter login`` and ``charter approvals …`` against a real runner on loopback."""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter.cli import main
from tests.runner_helpers import TOKENS, ThreadedRunner, auth, write_config

APPROVER = TOKENS["approver"][1]


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedRunner]:
    root = tmp_path_factory.mktemp("approvals-cli")
    config = write_config(
        root, f'refresh_interval = "1h"\n\n[audit]\nstore = "{root / "audit.db"}"\n'
    )
    started = ThreadedRunner(config)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private config dir; no runner or token from the environment."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CHARTER_RUNNER", raising=False)
    monkeypatch.delenv("CHARTER_TOKEN", raising=False)
    monkeypatch.setenv("COLUMNS", "300")  # tables wide enough to hold a command on one line
    return tmp_path / "config" / "charter" / "runner.json"


def ask(runner: ThreadedRunner, command: str = "git push origin feature") -> str:
    body = {"kind": "command", "command": command, "cwd": "/tmp", "agent": {"id": "agent-7"}}
    r = runner.client.post("/v1/decisions/action", json=body, headers=auth("agent"))
    assert r.json()["verdict"] == "ask", r.text
    return str(r.json()["decision_id"])


def state(runner: ThreadedRunner, did: str) -> dict[str, Any]:
    result: dict[str, Any] = runner.client.get(f"/v1/decisions/{did}", headers=auth("agent")).json()
    return result


def login(runner: ThreadedRunner, monkeypatch: pytest.MonkeyPatch, secret: str) -> int:
    monkeypatch.setenv("CHARTER_TOKEN", secret)
    code = main(["login", "--runner", runner.url])
    monkeypatch.delenv("CHARTER_TOKEN")
    return code


def test_login_then_list_show_approve(
    runner: ThreadedRunner,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert login(runner, monkeypatch, APPROVER) == 0
    assert stat.S_IMODE(home.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.parent.stat().st_mode) == 0o700
    assert json.loads(home.read_text()) == {"runner": runner.url, "token": APPROVER}
    capsys.readouterr()
    did = ask(runner)
    # No --runner, no CHARTER_TOKEN: the stored login is used.
    assert main(["approvals", "list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    mine = next(x for x in listed["approvals"] if x["decision_id"] == did)
    assert mine["subject"]["command"] == "git push origin feature"
    assert main(["approvals", "list"]) == 0
    out = capsys.readouterr().out
    assert did in out and "git push origin feature" in out and "agent-1" in out
    assert main(["approvals", "show", did]) == 0
    out = capsys.readouterr().out
    assert "Rules that asked" in out and "Requested by agent-1" in out
    # Standard input is not a terminal here: without --yes nothing is answered.
    assert main(["approvals", "approve", did, "--comment", "ok"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert state(runner, did)["status"] == "pending"
    assert main(["approvals", "approve", did, "--comment", "looks fine", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "APPROVED" in out and "allow" in out
    answered = state(runner, did)
    assert answered["status"] == "approved" and answered["approvals"][0]["comment"] == "looks fine"
    # A second answer is a 409: one line, exit 2.
    assert main(["approvals", "deny", did, "--yes"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "approved" in err
    assert main(["logout"]) == 0 and not home.exists()


def test_deny_with_json_output(
    runner: ThreadedRunner, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    did = ask(runner)
    monkeypatch.setenv("CHARTER_RUNNER", runner.url)
    monkeypatch.setenv("CHARTER_TOKEN", TOKENS["approver2"][1])
    capsys.readouterr()
    code = main(["approvals", "deny", did, "--yes", "--comment", "no", "--format", "json"])
    assert code == 0
    captured = capsys.readouterr()
    answer = json.loads(captured.out)  # the ask was shown on stderr, stdout is JSON only
    assert answer["verdict"] == "deny" and answer["approval"]["by"] == "bob"
    assert "Rules that asked" in captured.err
    assert state(runner, did)["status"] == "rejected"


def test_errors_are_one_line_exit_2(
    runner: ThreadedRunner,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    # Nothing configured.
    assert main(["approvals", "list"]) == 2
    # A refused token is not stored.
    assert login(runner, monkeypatch, "wrong-secret") == 2
    assert "401" in capsys.readouterr().err and not home.exists()
    cases = [
        ({"CHARTER_TOKEN": "wrong-secret"}, ["approvals", "list", "--runner", runner.url], "401"),
        ({"CHARTER_TOKEN": APPROVER}, ["approvals", "show", "nope", "--runner", runner.url],
         "404"),
        ({"CHARTER_TOKEN": TOKENS["agent"][1]}, ["approvals", "list", "--runner", runner.url],
         "403"),
        ({"CHARTER_TOKEN": APPROVER}, ["approvals", "list", "--runner", "http://127.0.0.1:1"],
         "unreachable"),
        ({"CHARTER_TOKEN": APPROVER}, ["approvals", "list", "--runner", "ftp://x"], "URL"),
    ]  # fmt: skip
    for env, args, needle in cases:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_a_stored_token_goes_only_to_its_runner(
    runner: ThreadedRunner,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert login(runner, monkeypatch, APPROVER) == 0
    capsys.readouterr()
    assert main(["approvals", "list", "--runner", "http://127.0.0.1:9"]) == 2
    assert "no token for http://127.0.0.1:9" in capsys.readouterr().err


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o666])
def test_a_readable_login_file_is_refused(
    runner: ThreadedRunner,
    home: Path,
    mode: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert login(runner, monkeypatch, APPROVER) == 0
    home.chmod(mode)
    capsys.readouterr()
    assert main(["approvals", "list"]) == 2
    err = capsys.readouterr().err
    assert "readable by group or others" in err and APPROVER not in err


def test_a_symlinked_login_file_is_refused(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"runner": "http://127.0.0.1:9", "token": "t"}))
    target.chmod(0o600)
    home.parent.mkdir(parents=True)
    home.symlink_to(target)
    assert main(["approvals", "list"]) == 2
    assert "cannot read the stored login" in capsys.readouterr().err


def test_untrusted_text_is_shown_literally(
    runner: ThreadedRunner, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    did = ask(runner, "git push origin x \x1b[2J[bold red]\u202efake[/] ; echo")
    monkeypatch.setenv("CHARTER_TOKEN", APPROVER)
    capsys.readouterr()
    assert main(["approvals", "show", did, "--runner", runner.url]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\x1b[2J[bold red]\\u202efake[/]" in out


def _run_on_a_terminal(args: list[str], answer: bytes, env: dict[str, str]) -> tuple[int, str]:
    """``charter ARGS`` with a pseudo-terminal as stdin/stderr, typing ``answer`` at the prompt."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "charter", *args],
        stdin=follower, stdout=subprocess.PIPE, stderr=follower, env=env,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    while b"?" not in seen and time.monotonic() < deadline and process.poll() is None:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                seen += os.read(leader, 4096)
            except OSError:
                break
    os.write(leader, answer)
    out, _ = process.communicate(timeout=60)
    os.close(leader)
    return process.returncode, out.decode() + seen.decode(errors="replace")


@pytest.mark.parametrize(("typed", "code", "status"), [(b"y\n", 0, "approved"),
                                                       (b"n\n", 2, "pending")])  # fmt: skip
def test_a_terminal_confirms_before_answering(
    runner: ThreadedRunner, typed: bytes, code: int, status: str
) -> None:
    did = ask(runner)
    env = {**os.environ, "CHARTER_TOKEN": APPROVER, "CHARTER_RUNNER": runner.url,
           "PYTHONPATH": os.pathsep.join(sys.path)}  # fmt: skip
    returncode, output = _run_on_a_terminal(["approvals", "approve", did], typed, env)
    assert returncode == code, output
    assert f"Approve {did}?" in output and "git push origin feature" in output
    assert state(runner, did)["status"] == status


def test_login_reads_the_token_from_standard_input(runner: ThreadedRunner, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CHARTER_TOKEN", "CHARTER_RUNNER")}
    env |= {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-m", "charter", "login", "--runner", runner.url + "/"],
        input=APPROVER + "\n", capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert APPROVER not in done.stdout + done.stderr  # never echoed
    stored = json.loads((tmp_path / "cfg" / "charter" / "runner.json").read_text())
    assert stored == {"runner": runner.url, "token": APPROVER}
