"""Run the `charter` command line in this process, the way a subprocess would see it.

Starting a Python process per command costs about a second; the suite runs a few
hundred commands. In-process runs call the same `charter.cli.main` with the
process's streams swapped, so tests still see exactly what a user would. A few
tests keep a real subprocess (`python -m charter`) to cover the process boundary.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from charter.cli import main


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def invoke(*args: str, stdin: str | None = None, cwd: Path | None = None) -> CliResult:
    """``charter ARGS…`` in-process: exit code, standard output and error as text."""
    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    saved_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin or "")
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        sys.stdin = saved_stdin
        os.chdir(previous)
    return CliResult(code, out.getvalue(), err.getvalue())
