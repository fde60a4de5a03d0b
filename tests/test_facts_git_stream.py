"""Repository.patches: one `git diff` split per file, the same bytes as one diff per file."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter.core import errors
from charter.facts.dependencies import derive_dependency_changes
from charter.facts.git import GitError, Repository, _DiffReader, _Growing, _split_one
from charter.facts.identities import IdentityMap
from charter.facts.proposal import GitRange, _dependencies, _DependencyBlobs, build_from_git
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


# ---------------------------------------------------------------- the block reader
# The splitter before it read in blocks: a Python loop over every line. Kept here as
# the reference the block reader must agree with, byte for byte, on any output.
def line_split(
    lines: Iterator[bytes], opened: bytes, binary: bool, budget: Callable[[], int]
) -> tuple[bytes | None, bool, bytes]:
    chunk, size, header, limit = [opened], len(opened), b"", None
    for line in lines:
        if line.startswith(b"diff --git ") and line != opened:
            header = line
            break
        binary = binary or line.startswith(b"Binary files ")
        size += len(line)
        if limit is None:
            chunk.append(line)
            if binary or line.startswith(b"--- "):
                limit = -1 if binary else budget()
        elif size <= limit:
            chunk.append(line)
    if limit is None:
        limit = -1 if binary else budget()
    kept = not binary and size <= limit
    return (b"".join(chunk) if kept else None), binary, header


def split_by_lines(output: bytes, budgets: list[int]) -> list[tuple[bytes | None, bool, bytes]]:
    lines = iter(io.BytesIO(output))
    header, got, asked = next(lines, b""), [], iter(budgets)
    while header:
        got.append(line_split(lines, header, False, lambda: next(asked)))
        header = got[-1][2]
    return got


def split_by_blocks(
    output: bytes, budgets: list[int], block: int
) -> list[tuple[bytes | None, bool, bytes]]:
    reader = _DiffReader(io.BytesIO(output), block)
    header, got, asked = reader.line(), [], iter(budgets)
    while header:
        split = _split_one(reader, header, False, lambda: next(asked))
        got.append((split.data, split.binary, split.next_header))
        header = split.next_header
    return got


# What git prints: headers, extended header lines, then hunk lines that always start
# with " ", "+", "-", "@" or "\" whatever the file holds (here: headers, NUL, CR).
_CONTENT = st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")) | st.sampled_from(
    [b"diff --git a/x b/x", b"Binary files a/x and b/x differ", b"--- a/x", b"x\r", b"\x00"]
)
_HUNK_LINE = st.tuples(st.sampled_from([b" ", b"+", b"-", b"\\", b"@@ -1 +1 @@"]), _CONTENT).map(
    lambda p: p[0] + p[1] + b"\n"
)
_NAMES = st.sampled_from([b"a", b"x y", b'"q\\"x"', b"diff --git a/b b/c", b"\xc3\xa9"])


@st.composite
def diff_outputs(draw: st.DrawFn) -> bytes:
    out = b""
    for _ in range(draw(st.integers(0, 5))):
        name = draw(_NAMES)
        header = b"diff --git a/" + name + b" b/" + name + b"\n"
        for half in range(draw(st.integers(1, 2))):  # 2: a type change's two diffs
            out += header
            kind = draw(st.sampled_from(["text", "binary", "mode", "rename"]))
            out += draw(st.sampled_from([b"", b"index 1234567..89abcde 100644\n"]))
            if kind == "binary":
                out += b"Binary files a/" + name + b" and b/" + name + b" differ\n"
            elif kind == "mode":
                out += b"old mode 100644\nnew mode 100755\n"
            elif kind == "rename":
                out += b"similarity index 100%\nrename from " + name + b"\nrename to y\n"
            else:
                out += b"--- a/" + name + b"\n+++ b/" + name + b"\n"
                out += b"".join(draw(st.lists(_HUNK_LINE, max_size=12)))
            if half == 0 and draw(st.booleans()):
                break
    if out and draw(st.booleans()):
        out = out.removesuffix(b"\n")  # an unterminated last line
    return out


@given(
    output=diff_outputs(),
    block=st.integers(1, 80),
    budgets=st.lists(st.integers(-1, 400), min_size=12, max_size=12),
)
def test_the_block_reader_splits_as_the_line_loop_did(
    output: bytes, block: int, budgets: list[int]
) -> None:
    assert split_by_blocks(output, budgets, block) == split_by_lines(output, budgets)


def test_a_diff_cut_anywhere_by_blocks_is_split_the_same(repo: Path) -> None:
    """Real git output (names git quotes, a type change, binaries, CRLF) cut at every
    block size around a header's length: the same diffs as the line loop."""
    (repo / "crlf.txt").write_bytes(b"one\r\ntwo\r\ndiff --git a/x b/x\r\n")
    (repo / "body.txt").write_text(
        "diff --git a/keep.txt b/keep.txt\nBinary files x and y differ\n"
    )
    commit(repo, "more")
    output = subprocess.run(
        ["git", "-c", "core.quotepath=off", "diff", "--no-color", "-M", "main", "feature"],
        cwd=repo, capture_output=True, check=True,
    ).stdout  # fmt: skip
    budgets = [1 << 20] * 40
    expected = split_by_lines(output, budgets)
    assert len(expected) == 14
    for block in (*range(1, 24), 64, 4096):
        assert split_by_blocks(output, budgets, block) == expected, block


@pytest.fixture
def adversarial(tmp_path: Path) -> Path:
    """Names and contents that look like diff syntax, quoted and escaped names, renames."""
    root = tmp_path / "adversarial"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    lines = "".join(f"line {i}\n" for i in range(30))
    (root / 'old "quoted" name.txt').write_text(lines)
    (root / "old esc\x1bname.txt").write_text(lines + "esc\n")
    (root / "crlf.txt").write_bytes(b"a\r\nb\r\n")
    (root / "lock.json").write_text("".join(f'  "pkg-{i}": "1.0.{i}",\n' for i in range(3000)))
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "feature")
    (root / 'old "quoted" name.txt').rename(root / "new\tname \\ with spaces.txt")
    (root / "old esc\x1bname.txt").rename(root / "new esc\x1bname.txt")
    (root / "diff --git a").write_text("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n")
    (root / "crlf.txt").write_bytes(b"a\r\nB\r\nc\r\n")
    (root / "nul.bin").write_bytes(b"text\x00with a NUL\n")
    (root / "lock.json").write_text("".join(f'  "pkg-{i}": "1.1.{i}",\n' for i in range(3000)))
    commit(root, "adversarial")
    return root


def test_adversarial_names_and_contents_get_their_own_diff(adversarial: Path) -> None:
    repository = Repository(adversarial)
    files = repository.changed_files("main", "feature", binary=False)
    statuses = {f.path: (f.status, f.previous_path) for f in files}
    assert statuses["new\tname \\ with spaces.txt"] == ("renamed", 'old "quoted" name.txt')
    assert statuses["new esc\x1bname.txt"] == ("renamed", "old esc\x1bname.txt")
    got = list(repository.patches("main", "feature", files, lambda: 1 << 20))
    assert [f.path for f, _ in got] == [f.path for f in files]
    for file, data in got:
        if file.path == "nul.bin":
            assert file.binary and data is None
        else:
            assert data == own_diff(adversarial, file.path, file.previous_path), file.path
    escaped = {f.path: d for f, d in got}["new esc\x1bname.txt"]
    assert escaped is not None and b'"a/old esc\\033name.txt"' in escaped  # git's octal escape


def test_a_large_diff_over_budget_is_dropped_and_the_rest_still_lines_up(
    adversarial: Path,
) -> None:
    repository = Repository(adversarial)
    files = repository.changed_files("main", "feature", binary=False)
    got = {f.path: d for f, d in repository.patches("main", "feature", files, lambda: 50_000)}
    assert got["lock.json"] is None  # about 150 kB of diff
    assert got["crlf.txt"] == own_diff(adversarial, "crlf.txt", None)


# ---------------------------------------------------------------- dependency files from git
def _whole(repo: Path, ref: str, path: str) -> bytes | None:
    done = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=repo, capture_output=True)
    return done.stdout if done.returncode == 0 else None


def test_dependencies_read_lazily_from_git_are_those_of_the_whole_files(tmp_path: Path) -> None:
    """Each blob read when its file is compared gives what reading every file whole gave."""
    assets = Path(__file__).parent / "assets" / "lockfiles"
    lock_v3 = assets / "npm-package-lock-v3"
    root = tmp_path / "deps"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "package-lock.json").write_bytes(
        (lock_v3 / "before" / "package-lock.json").read_bytes()
    )
    (root / "requirements.txt").write_text("flask==2.0.0\nrequests==2.31.0\n")
    (root / "old").mkdir()
    (root / "old" / "requirements.txt").write_text("click==8.0.0\n")
    (root / "go.mod").write_text("module m\n\nrequire x.io/a v1.0.0\n")
    (root / "mode").mkdir()
    (root / "mode" / "requirements.txt").write_text("six==1.16.0\n")
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "package-lock.json").write_bytes((lock_v3 / "after" / "package-lock.json").read_bytes())
    (root / "requirements.txt").write_text("flask==2.0.1\n")
    (root / "old" / "requirements.txt").rename(root / "requirements-dev.txt")  # a rename
    (root / "go.mod").unlink()
    (root / "mode" / "requirements.txt").chmod(0o755)  # same bytes, another mode
    (root / "Cargo.lock").write_text(
        'version = 3\n\n[[package]]\nname = "a"\nversion = "1.0.0"\n'
        'source = "registry+https://github.com/rust-lang/crates.io-index"\n'
    )
    commit(root, "bump")
    built = build_from_git(GitRange(root, "main", "feature", kind="push"), IdentityMap())
    paths = ["package-lock.json", "requirements.txt", "old/requirements.txt",
             "requirements-dev.txt", "go.mod", "mode/requirements.txt", "Cargo.lock"]  # fmt: skip
    whole = derive_dependency_changes(
        {p: (_whole(root, "main", p), _whole(root, "feature", p)) for p in paths}
    )
    assert built["dependencies"]["changes"] == [
        {"ecosystem": c.ecosystem, "name": c.name, "old": c.old, "new": c.new, "file": c.file,
         "direct": c.direct}
        for c in whole.changes
    ]  # fmt: skip
    assert built["dependencies"]["unparsed"] == [
        {"path": u.path, "reason": u.reason} for u in whole.unparsed
    ]
    files = {c["file"] for c in built["dependencies"]["changes"]}
    assert files == {"package-lock.json", "requirements.txt", "old/requirements.txt",
                     "requirements-dev.txt", "go.mod", "Cargo.lock"}  # fmt: skip


# ---------------------------------------------------------------- the diff run ahead
def _children() -> set[int]:
    """This process's child processes, zombies included (Linux)."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        found.update(int(pid) for pid in (task / "children").read_text().split())
    return found


def _descriptors() -> list[str]:
    return sorted(os.listdir("/proc/self/fd"))


@pytest.fixture
def spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder temporary files are made in, for this test alone."""
    folder = tmp_path / "spool"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def large(tmp_path: Path) -> Path:
    """A range whose diff takes git a while, a lockfile among its files."""
    root = tmp_path / "large"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    for i in range(40):
        (root / f"file{i:02d}.txt").write_text("".join(f"line {i} {k}\n" for k in range(4000)))
    (root / "requirements.txt").write_text("flask==2.0.0\n")
    (root / "package.json").write_text('{"dependencies": {"a": "^1.0.0"}}\n')
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "feature")
    for i in range(40):
        (root / f"file{i:02d}.txt").write_text("".join(f"line {k} {i}\n" for k in range(4000)))
    (root / "requirements.txt").write_text("flask==2.0.1\n")
    (root / "package.json").write_text('{"dependencies": {"a": "^2.0.0"}}\n')
    commit(root, "change")
    return root


def test_a_failure_of_git_diff_leaves_no_process_descriptor_or_file(
    large: Path, spool: Path
) -> None:
    """git fails midway (a blob it cannot read): the build fails as it did when git
    wrote to a pipe, and git is reaped, its files closed and gone."""
    sha = git(large, "rev-parse", "feature:file20.txt").strip()
    (large / ".git" / "objects" / sha[:2] / sha[2:]).unlink()
    children, descriptors = _children(), _descriptors()
    with pytest.raises(GitError, match=r"git diff failed \(exit 128\): fatal: ") as caught:
        build_from_git(GitRange(large, "main", "feature", kind="push"), IdentityMap())
    assert caught.value.hint == "see docs/design.md, 'Proposal document'"
    assert _children() == children
    assert _descriptors() == descriptors
    assert list(spool.iterdir()) == []


def test_a_caller_failing_mid_read_leaves_no_process_descriptor_or_file(
    large: Path, spool: Path
) -> None:
    children, descriptors = _children(), _descriptors()

    def progress(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt  # the person gave up

    with pytest.raises(KeyboardInterrupt):
        build_from_git(GitRange(large, "main", "feature", kind="push"), IdentityMap(), progress)
    assert _children() == children
    assert _descriptors() == descriptors
    assert list(spool.iterdir()) == []


def test_a_diff_started_and_left_unread_is_stopped(large: Path, spool: Path) -> None:
    children, descriptors = _children(), _descriptors()
    repository = Repository(large)
    with repository.start_diff("main", "feature"):
        assert len(_children()) == len(children) + 1
    assert _children() == children
    assert _descriptors() == descriptors
    assert list(spool.iterdir()) == []


def test_the_patches_read_as_git_writes_them_are_the_whole_diff(large: Path) -> None:
    repository = Repository(large)
    files = repository.changed_files("main", "feature", binary=False)
    with repository.start_diff("main", "feature") as diff:
        got = list(diff.patches(files, lambda: 1 << 20))
    assert [f.path for f, _ in got] == [f.path for f in files]
    for file, data in got:
        assert data == own_diff(large, file.path, None), file.path


def test_a_growing_file_is_read_to_its_end_only_once_the_writer_exits(tmp_path: Path) -> None:
    """A read that catches up with the writer waits for more instead of ending."""
    with tempfile.TemporaryFile(dir=tmp_path) as out:
        proc = subprocess.Popen(
            ["sh", "-c", "printf first; sleep 0.3; printf ' second'"], stdout=out
        )
        reader = _Growing(out, proc)
        got = b""
        while data := reader.read(4096):
            got += data
        assert proc.returncode == 0
    assert got == b"first second"


# ---------------------------------------------------------------- blobs read ahead
def _blob_of(repo: Path, sha: str) -> bytes:
    return subprocess.run(
        ["git", "cat-file", "blob", sha], cwd=repo, capture_output=True, check=True
    ).stdout


def test_blobs_read_from_one_cat_file_are_the_blobs_in_any_order(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "large.json").write_bytes(b"".join(b'"%07d"\n' % i for i in range(400_000)))
    (root / "small.txt").write_text("small\n")
    (root / "empty").write_bytes(b"")
    (root / "nul.bin").write_bytes(b"\x00\n\x00 blob 12\n")
    commit(root, "blobs")
    shas = {
        name: git(root, "rev-parse", f"main:{name}").strip()
        for name in ("large.json", "small.txt", "empty", "nul.bin")
    }
    tree = git(root, "rev-parse", "main^{tree}").strip()
    missing = "1" * len(tree)
    asked = [shas["small.txt"], missing, shas["large.json"], tree, shas["empty"]]
    asked += [shas["small.txt"], shas["nul.bin"]]  # asked twice: written once
    with Repository(root).start_blobs(asked) as blobs:
        for name in ("nul.bin", "empty", "large.json", "small.txt", "large.json"):
            assert blobs.read(shas[name]) == _blob_of(root, shas[name]), name
        with pytest.raises(GitError, match="is missing or not a blob"):
            blobs.read(missing)
        with pytest.raises(GitError, match="is missing or not a blob"):
            blobs.read(tree)


def test_blobs_started_and_left_unread_are_stopped(large: Path, spool: Path) -> None:
    children, descriptors = _children(), _descriptors()
    sha = git(large, "rev-parse", "feature:file00.txt").strip()
    with Repository(large).start_blobs([sha] * 3):
        assert len(_children()) == len(children) + 1
    assert _children() == children
    assert _descriptors() == descriptors
    assert list(spool.iterdir()) == []


def test_a_dependency_blob_git_cannot_read_leaves_its_file_unparsed(
    large: Path, spool: Path
) -> None:
    """As when each blob had its own `git cat-file`: the file is unparsed, nothing leaks."""
    sha = git(large, "rev-parse", "feature:package.json").strip()
    (large / ".git" / "objects" / sha[:2] / sha[2:]).unlink()
    children, descriptors = _children(), _descriptors()
    repository = Repository(large)
    changed = repository.changed_files("main", "feature", binary=False)
    with _DependencyBlobs(repository, changed) as blobs:
        facts = _dependencies(repository, changed, "main", "feature", blobs)
    assert facts["unparsed"] == [
        {"path": "package.json", "reason": "after: unexpected structure (GitError)"}
    ]
    assert [c["name"] for c in facts["changes"]] == ["flask"]
    assert _children() == children
    assert _descriptors() == descriptors
    assert list(spool.iterdir()) == []


def test_no_temporary_file_is_a_one_line_input_error(
    large: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no such folder"))
    children = _children()
    with pytest.raises(GitError, match="git diff: cannot make a temporary file") as caught:
        build_from_git(GitRange(large, "main", "feature", kind="push"), IdentityMap())
    assert caught.value.hint == "set TMPDIR to a writable directory"
    assert errors.exit_code(caught.value) == 2
    assert _children() == children


@pytest.mark.parametrize("limit", [64, 256])
def test_a_diff_that_does_not_fit_the_temporary_files_is_one_line_naming_tmpdir(
    large: Path, limit: int
) -> None:
    """git's output goes to temporary files: when they cannot grow (here a file-size
    limit on the process, as a full disk under TMPDIR), the answer is git's failure and
    where its output went, exit 2, not a misleading split of a cut diff or a traceback."""
    done = subprocess.run(
        ["bash", "-c", f'ulimit -f {limit}; exec "$0" -m charter check --git main..feature '
         "--repo \"$1\" --no-audit --format json", sys.executable, str(large)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("charter: error: git diff failed (killed by SIGXFSZ)"), lines
    assert "set TMPDIR to a directory with space for the whole diff" in lines[0]
