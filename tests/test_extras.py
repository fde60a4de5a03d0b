"""The base install works without the optional extras, and says which one a feature needs.

Each test runs Charter in a fresh interpreter where the extras' packages cannot
be imported (as after `pip install charter` without extras).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from charter.core import extras

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "proposals"

BLOCK = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # importing it raises ImportError, as if not installed
from charter.cli import main
sys.exit(main({argv!r}))
"""


def run_without(blocked: list[str], argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(BLOCK).format(blocked=blocked, argv=argv)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120,
        check=False,
    )  # fmt: skip


OPTIONAL = ["fastapi", "uvicorn", "prometheus_client", "psycopg", "sigstore", "oras", "requests"]


def test_the_base_install_decides_proposals_and_actions(tmp_path: Path) -> None:
    argv = ["check", str(EXAMPLES / "agent-push-to-main.json"), "--now", "2026-11-20T10:00:00Z",
            "--format", "json", "--audit", str(tmp_path / "audit.db")]  # fmt: skip
    done = run_without(OPTIONAL, argv, tmp_path)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["verdict"] == "deny"
    verified = run_without(OPTIONAL, ["audit", "verify", "--store", str(tmp_path / "audit.db")],
                           tmp_path)  # fmt: skip
    assert verified.returncode == 0, verified.stderr


@pytest.mark.parametrize(
    ("blocked", "argv", "extra"),
    [
        (["uvicorn"], ["runner", "--dev"], "runner"),
        (["fastapi"], ["runner", "--dev"], "runner"),
        (["psycopg"], ["audit", "verify", "--store", "postgresql://127.0.0.1/test"], "postgres"),
    ],
)
def test_a_missing_extra_is_named_in_one_line(
    tmp_path: Path, blocked: list[str], argv: list[str], extra: str
) -> None:
    done = run_without(blocked, argv, tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert f"pip install 'charter[{extra}]'" in line
    assert "internal error" not in line and "Traceback" not in done.stderr


def test_every_extra_is_declared_in_pyproject() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    for extra in set(extras.EXTRA_OF.values()):
        assert f"\n{extra} = [" in text, extra
