"""The CLI imports only the verb modules a command needs (hooks run per tool call)."""

from __future__ import annotations

import subprocess
import sys

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


@pytest.mark.parametrize("command", sorted(cli._COMMAND_MODULES))
def test_each_command_works_when_loaded_alone(command: str) -> None:
    # A fresh interpreter, so only this command's modules are imported.
    result = _run(
        f"import sys; from charter.cli import main; sys.exit(main([{command!r}, '--help']))"
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: charter" in result.stdout


def test_hook_does_not_import_the_runner_oci_or_linter() -> None:
    result = _run(
        "import sys; from charter.cli import main; main(['hook', '--help']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'uvicorn', 'oras', 'greenery') or m in "
        "('charter.policy.lint', 'charter.registry.oci')))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
