"""The CLI imports only the verb modules a command needs (hooks run per tool call)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import typer.main

from charter import cli


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_every_registered_command_is_mapped_to_its_modules() -> None:
    cli._load_commands()
    group = typer.main.get_group(cli.app)
    assert set(group.commands) == set(cli._COMMAND_MODULES)


# One fresh interpreter imports only `charter.cli`, then forks a child per
# command: each child starts from exactly that fresh state, so only its own
# command's modules are imported (as in a fresh interpreter per command, at a
# fraction of the start-up cost).
_FORK_EACH = """
import json, os, sys, tempfile
from charter.cli import main
results = {}
for command in json.loads(sys.argv[1]):
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    pid = os.fork()
    if pid == 0:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            code = main([command, "--help"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    out.seek(0)
    err.seek(0)
    results[command] = [os.waitstatus_to_exitcode(status), out.read(), err.read()]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def alone() -> dict[str, list[Any]]:
    result = subprocess.run(
        [sys.executable, "-c", _FORK_EACH, json.dumps(sorted(cli._COMMAND_MODULES))],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    parsed: dict[str, list[Any]] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


@pytest.mark.parametrize("command", sorted(cli._COMMAND_MODULES))
def test_each_command_works_when_loaded_alone(alone: dict[str, list[Any]], command: str) -> None:
    returncode, stdout, stderr = alone[command]
    assert returncode == 0, stderr
    assert "Usage: charter" in stdout


def test_hook_does_not_import_the_runner_oci_or_linter() -> None:
    result = _run(
        "import sys; from charter.cli import main; main(['hook', '--help']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'uvicorn', 'oras', 'greenery') or m in "
        "('charter.policy.lint', 'charter.registry.oci')))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
