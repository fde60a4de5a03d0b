"""Bad input never reaches the user as "internal error": exit 2 and one line naming it.

Undecodable argv bytes (Python turns them into lone surrogates), lone surrogates,
absurd nesting, duplicate keys and numbers JSON cannot carry, in proposals
(``check``) and hook payloads (``hook claude-code``) and commands (``gate``).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from charter.cli import main
from charter.core.errors import InputError
from tests.gate_helpers import write_signed

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "proposals"
PROPOSAL = (EXAMPLES / "docs-pr-compliant.json").read_text()
NESTED = "[" * 10_000 + "]" * 10_000

#: A proposal edit and what the one-line message must name.
BAD_PROPOSALS = {
    "lone surrogate": (PROPOSAL.replace('"acme/platform"', '"acme/\\ud800"'), "repository"),
    "deep nesting": (PROPOSAL.replace('"labels": [', f'"x": {NESTED}, "labels": ['), "nested"),
    "duplicate key": (
        PROPOSAL.replace('"kind": "pull_request"', '"kind": "pull_request", "kind": "push"'),
        "duplicate key 'kind'",
    ),
    "1e999": (
        PROPOSAL.replace('"kind": "pull_request"', '"n": 1e999, "kind": "pull_request"'),
        "1e999",
    ),
    "not UTF-8": (PROPOSAL.replace('"docs"', '"\udcff"'), "UTF-8"),
}
BAD_HOOKS = {
    "lone surrogate": ('{"tool_name":"Bash","tool_input":{"command":"echo \\ud800"}}', "command"),
    "deep nesting": (
        '{"tool_name":"Bash","tool_input":{"command":"ls"},"x":' + NESTED + "}",
        "nested",
    ),
    "duplicate key": (
        '{"tool_name":"Bash","tool_input":{"command":"rm -rf /"},"tool_input":{"command":"ls"}}',
        "duplicate key 'tool_input'",
    ),
    "1e999": ('{"tool_name":"Bash","tool_input":{"command":"ls"},"n":1e999}', "1e999"),
    "not UTF-8": ('{"tool_name":"Bash","tool_input":{"command":"ls \udcff"}}', "UTF-8"),
}


def encoded(text: str) -> bytes:
    # "\udcff" stands for the raw byte 0xff, as Python's surrogateescape reads it.
    return text.encode("utf-8", "surrogateescape")


def one_line_error(err: str, *needles: str) -> None:
    assert err.startswith("charter: error: "), err
    assert err.count("\n") == 1, err
    assert "internal error" not in err and "Traceback" not in err
    for needle in needles:
        assert needle.lower() in err.lower(), err


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path]:
    return write_signed(tmp_path / "c")


def stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


@pytest.mark.parametrize("case", sorted(BAD_PROPOSALS))
def test_check_refuses_bad_proposals_by_name(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text, needle = BAD_PROPOSALS[case]
    path = tmp_path / "p.json"
    path.write_bytes(encoded(text))
    assert main(["check", str(path), "--no-audit"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    one_line_error(captured.err, str(path), needle)
    stdin(monkeypatch, encoded(text))
    assert main(["check", "-", "--no-audit"]) == 2
    one_line_error(capsys.readouterr().err, needle)


@pytest.mark.parametrize("case", sorted(BAD_HOOKS))
def test_hook_refuses_bad_payloads_by_name(
    case: str,
    signed: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Exit 2 is what blocks the tool call in Claude Code; exit 1 would let it run.
    text, needle = BAD_HOOKS[case]
    stdin(monkeypatch, encoded(text))
    hook = ["hook", "claude-code", "--constitution", str(signed[0]), "--key", str(signed[1])]
    assert main(hook) == 2
    captured = capsys.readouterr()
    # The exit code blocks; a payload that was read gets the protocol's deny document too
    # (docs/agents.md), bytes that are not UTF-8 text are refused before any protocol.
    if case == "not UTF-8":
        assert captured.out == ""
    else:
        decision = json.loads(captured.out)["hookSpecificOutput"]["permissionDecision"]
        assert decision == "deny"
    one_line_error(captured.err, "hook input", needle)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["--command", "echo \udcff"], "--command: 'echo \\xff'"),
        (["--command=echo \udcff"], "--command: 'echo \\xff'"),
        (["--read", "/tmp/\ud800"], "--read: '/tmp/\\ud800'"),
    ],
)
def test_gate_refuses_undecodable_arguments_by_name(
    args: list[str], name: str, signed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gate", "--constitution", str(signed[0]), "--key", str(signed[1]), *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    one_line_error(captured.err, name, "not UTF-8")


def test_check_refuses_an_undecodable_path_by_position(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "\udcff.json"]) == 2
    one_line_error(capsys.readouterr().err, "argument 2: '\\xff.json'")


def test_undecodable_argv_bytes_from_a_real_shell(
    signed: tuple[Path, Path], tmp_path: Path
) -> None:
    argv = [
        os.fsencode(sys.executable), b"-m", b"charter", b"gate",
        b"--constitution", os.fsencode(signed[0]), b"--key", os.fsencode(signed[1]),
        b"--command", b"\xff",
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, timeout=120, check=False)
    assert result.returncode == 2
    assert result.stdout == b""
    one_line_error(result.stderr.decode(), "--command: '\\xff'")


def test_verbose_keeps_the_traceback(signed: tuple[Path, Path]) -> None:
    with pytest.raises(InputError, match="not UTF-8"):
        main(["--verbose", "gate", "--constitution", str(signed[0]), "--key", str(signed[1]),
              "--command", "\udcff"])  # fmt: skip


def test_a_valid_hook_payload_still_decides(
    signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin(monkeypatch, json.dumps({"tool_name": "Bash", "tool_input": {"command": "ls"}}).encode())
    hook = ["hook", "claude-code", "--constitution", str(signed[0]), "--key", str(signed[1])]
    assert main(hook) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["hookSpecificOutput"]["permissionDecision"] == "allow"


class PanicException(BaseException):  # noqa: N818 - pyo3's name for a Rust panic
    """What regorus raises when Rust code panics (pyo3 derives it from BaseException)."""


def test_an_engine_panic_is_a_one_line_error_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def panics(*args: object, **kwargs: object) -> None:
        raise PanicException("index out of bounds")

    monkeypatch.setattr("charter.cli.check.decide", panics)
    proposal = Path(__file__).resolve().parents[1] / "examples/proposals/merge-approved.json"
    assert main(["check", str(proposal), "--no-audit"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    one_line_error(captured.err, "the Rego engine panicked")
    with pytest.raises(PanicException):
        main(["--verbose", "check", str(proposal), "--no-audit"])
