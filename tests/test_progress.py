"""Progress while a proposal is built: counts for a library caller, a bar on a terminal only."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from charter.facts.identities import IdentityMap
from charter.facts.proposal import GitRange, StagedChange, build_from_git, build_staged
from tests.test_facts_git import commit, git

FILES = 25


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "seed.txt").write_text("seed\n")
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "wide")
    for i in range(FILES):
        (root / f"file-{i:02}.txt").write_text(f"content {i}\n")
    commit(root, "many files")
    return root


def test_the_callback_sees_growing_counts_up_to_the_total(repo: Path) -> None:
    seen: list[tuple[int, int]] = []
    doc = build_from_git(
        GitRange(repo=repo, base="main", head="wide"),
        IdentityMap(),
        lambda done, total: seen.append((done, total)),
    )
    assert len(doc["files"]) == FILES
    assert seen[0] == (0, FILES) and seen[-1] == (FILES, FILES)
    assert [done for done, _ in seen] == list(range(FILES + 1))
    assert {total for _, total in seen} == {FILES}


def test_without_a_callback_the_document_is_the_same(repo: Path) -> None:
    spec = GitRange(repo=repo, base="main", head="wide")
    assert build_from_git(spec, IdentityMap(), lambda d, t: None) == build_from_git(
        spec, IdentityMap()
    )


def test_the_staged_change_reports_progress_too(repo: Path) -> None:
    (repo / "file-00.txt").write_text("changed\n")
    git(repo, "add", "file-00.txt")
    seen: list[tuple[int, int]] = []
    build_staged(StagedChange(repo=repo), IdentityMap(), lambda d, t: seen.append((d, t)))
    assert seen == [(0, 1), (1, 1)]


def command(repo: Path) -> list[str]:
    return [sys.executable, "-m", "charter", "proposal", "from-git", "--repo", str(repo),
            "--base", "main", "--head", "wide"]  # fmt: skip


def test_piped_standard_error_gets_no_progress(repo: Path) -> None:
    done = subprocess.run(command(repo), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert '"file-24.txt"' in done.stdout


def test_a_terminal_on_standard_error_shows_the_bar(repo: Path) -> None:
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    env.pop("TERM_PROGRAM", None)
    with subprocess.Popen(command(repo), stdout=subprocess.PIPE, stderr=follower, env=env) as proc:
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed its end of the terminal
                break
            if not chunk:
                break
            shown += chunk
        out, _ = proc.communicate()
    os.close(leader)
    assert proc.returncode == 0
    text = shown.decode("utf-8", "replace")
    assert "reading the change" in text
    assert f"{FILES}/{FILES}" in text
    assert b'"file-24.txt"' in out  # the document still goes to standard output, intact
