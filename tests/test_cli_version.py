"""``charter --version`` prints the installed version and exits 0."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

from charter.cli import main


def test_version_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"charter {metadata.version('charter')}\n"
    assert captured.err == ""


def test_version_from_the_console_script() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "charter", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"charter {metadata.version('charter')}"


def test_version_imports_no_verb_module() -> None:
    code = (
        "import sys; from charter.cli import main; code = main(['--version']); "
        "print(sorted(m for m in sys.modules if m.startswith('charter.cli.') "
        "and m not in ('charter.cli._app',))); sys.exit(code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"charter {metadata.version('charter')}", "[]"]
