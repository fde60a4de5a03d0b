"""Repository.patches: one `git diff` split per file, the same bytes as one diff per file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from charter.facts.git import GitError, Repository
from charter.facts.identities import IdentityMap
from charter.facts.proposal import GitRange, build_from_git
from tests.test_facts_git import commit, git


def own_diff(repo: Path, path: str, previous: str | None) -> bytes:
    """What `git diff` prints for this one file alone (the former per-file call)."""
    paths = [path] if previous is None else [previous, path]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    done = subprocess.run(
        ["git", "-c", "core.quotepath=off", "--literal-pathspecs", "diff", "--no-ext-diff",
         "--no-textconv", "--no-color", "-M", "main", "feature", "--", *paths],
        cwd=repo, env={**env, "LC_ALL": "C"}, capture_output=True, check=True,
    )  # fmt: skip
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Every kind of change, names git must quote included."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "keep.txt").write_text("one\ntwo\n")
    (root / "gone.txt").write_text("delete me\n")
    (root / "old name.py").write_text("".join(f"line {i}\n" for i in range(40)))
    (root / "script.sh").write_text("echo hi\n")
    (root / "becomes-link").write_text("a regular file\n")
    (root / "link-becomes-binary").symlink_to("keep.txt")
    (root / "notes.txt").write_text("plain\n")
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "keep.txt").write_text("one\ntwo\nthree\n")
    (root / "gone.txt").unlink()
    (root / "old name.py").rename(root / "new name.py")
    (root / "script.sh").chmod(0o755)
    (root / "becomes-link").unlink()
    (root / "becomes-link").symlink_to("keep.txt")
    (root / "image.bin").write_bytes(bytes(range(256)) * 4)
    (root / "link-becomes-binary").unlink()
    (root / "link-becomes-binary").write_bytes(b"\x00\x01binary\x00")
    (root / ".gitattributes").write_text("notes.txt -diff\n")
    (root / "notes.txt").write_text("plain\nsecret: hidden by the attribute\n")
    (root / 'quote " and \\ back.txt').write_text("quoted name\n")
    (root / "tab\there.txt").write_text("tab in name\n")
    (root / "héllo.txt").write_text("unicode\n")
    commit(root, "everything")
    return root


def test_each_patch_is_byte_for_byte_the_files_own_diff(repo: Path) -> None:
    repository = Repository(repo)
    files = repository.changed_files("main", "feature")
    assert len(files) == 12
    for file, data in repository.patches("main", "feature", files, lambda: 1 << 20):
        if file.binary:
            assert data is None
        else:
            assert data == own_diff(repo, file.path, file.previous_path), file.path


def test_a_type_change_keeps_both_of_its_diffs(repo: Path) -> None:
    files = {
        f["path"]: f
        for f in build_from_git(GitRange(repo, "main", "feature"), IdentityMap())["files"]
    }
    patch = files["becomes-link"]["patch"]
    assert patch.count("diff --git a/becomes-link b/becomes-link") == 2
    assert "-a regular file" in patch
    assert "+keep.txt" in patch
    assert files["keep.txt"]["patch"].startswith("diff --git a/keep.txt b/keep.txt")


def test_the_budget_is_asked_as_each_diff_starts(repo: Path) -> None:
    repository = Repository(repo)
    files = repository.changed_files("main", "feature")
    asked: list[int] = []
    budgets = iter(range(10_000, 0, -1000))

    def budget() -> int:
        asked.append(next(budgets))
        return asked[-1]

    seen = 0
    for _file, _ in repository.patches("main", "feature", files, budget):
        seen += 1
        assert len(asked) == sum(not f.binary for f in files[:seen])


def test_a_diff_over_its_budget_is_none_and_the_next_one_is_whole(repo: Path) -> None:
    repository = Repository(repo)
    files = repository.changed_files("main", "feature")
    limits = iter([0] + [1 << 20] * len(files))
    got = list(repository.patches("main", "feature", files, lambda: next(limits)))
    text = [data for file, data in got if not file.binary]
    assert text[0] is None
    assert all(data for data in text[1:])


def test_a_file_list_out_of_git_order_is_refused(repo: Path) -> None:
    repository = Repository(repo)
    files = repository.changed_files("main", "feature")
    plain = [f for f in files if f.path in {"keep.txt", "gone.txt"}]
    with pytest.raises(GitError, match="is not where git listed it"):
        list(repository.patches("main", "feature", list(reversed(plain)), lambda: 1 << 20))


def test_fewer_files_than_diffs_is_refused(repo: Path) -> None:
    repository = Repository(repo)
    files = repository.changed_files("main", "feature")
    with pytest.raises(GitError, match="more diffs than changed files"):
        list(repository.patches("main", "feature", files[:-1], lambda: 1 << 20))


def test_binary_files_are_marked_from_the_one_diff_as_numstat_marks_them(repo: Path) -> None:
    repository = Repository(repo)
    by_numstat = {f.path: f.binary for f in repository.changed_files("main", "feature")}
    unmarked = repository.changed_files("main", "feature", binary=False)
    assert not any(f.binary for f in unmarked)
    streamed = {
        f.path: (f.binary, data)
        for f, data in repository.patches("main", "feature", unmarked, lambda: 1 << 20)
    }
    assert {path: flag for path, (flag, _) in streamed.items()} == by_numstat
    assert {p for p, flag in by_numstat.items() if flag} == {
        "image.bin",
        "link-becomes-binary",
        "notes.txt",
    }
    assert all(data is None for flag, data in streamed.values() if flag)


def test_a_binary_file_is_never_asked_a_budget(repo: Path) -> None:
    repository = Repository(repo)
    files = repository.changed_files("main", "feature", binary=False)
    asked: list[int] = []

    def budget() -> int:
        asked.append(1)
        return 1 << 20

    got = list(repository.patches("main", "feature", files, budget))
    text = sum(not f.binary for f, _ in got)
    # A type change whose second half is binary is asked once, at its first half.
    assert len(asked) == text + 1
