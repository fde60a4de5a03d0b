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
