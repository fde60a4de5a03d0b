"""charter.facts.git / .identities / .proposal against real repositories built with git."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from charter.core import errors
from charter.core.errors import ConfigError
from charter.facts.git import GitError, Repository
from charter.facts.identities import IdentityMap, load_identities, parse_identities
from charter.facts.proposal import GitRange, StagedChange, build_from_git, build_staged

LOCKFILES = Path(__file__).parent / "assets" / "lockfiles" / "npm-package-lock-v3"


def git(repo: Path, *args: str, author: str = "Ada <ada@example.com>") -> str:
    name, _, email = author.partition(" <")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email.rstrip(">"),
        "GIT_COMMITTER_NAME": "Committer",
        "GIT_COMMITTER_EMAIL": "committer@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def commit(repo: Path, message: str, author: str = "Ada <ada@example.com>") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", message, author=author)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main: a few files and a lockfile; feature: every kind of change on top."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "keep.txt").write_text("one\ntwo\n")
    (root / "gone.txt").write_text("delete me\n")
    (root / "old name.py").write_text("".join(f"line {i}\n" for i in range(40)))
    for name in ("package.json", "package-lock.json"):
        (root / name).write_bytes((LOCKFILES / "before" / name).read_bytes())
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "keep.txt").write_text("one\ntwo\nthree\n")
    (root / "gone.txt").unlink()
    (root / "old name.py").rename(root / "new name.py")
    (root / "image.bin").write_bytes(bytes(range(256)) * 4)
    (root / "héllo wörld.txt").write_text("unicode\n")
    (root / "line\nbreak.txt").write_text("newline in name\n")
    for name in ("package.json", "package-lock.json"):
        (root / name).write_bytes((LOCKFILES / "after" / name).read_bytes())
    commit(
        root,
        "Bump deps and tidy\n\nWhy: routine.\n\n"
        "Co-authored-by: Helper Bot <helper[bot]@users.noreply.github.com>\nAgent: claude",
    )
    return root


def build(repo: Path, identities: IdentityMap | None = None, **kw: Any) -> dict[str, Any]:
    spec = GitRange(repo=repo, base=kw.pop("base", "main"), head=kw.pop("head", "feature"), **kw)
    return build_from_git(spec, identities or IdentityMap())


def by_path(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in doc["files"]}


def test_every_change_is_listed_with_status_binary_and_patch(repo: Path) -> None:
    files = by_path(build(repo))
    assert files["keep.txt"]["status"] == "modified"
    assert "+three" in files["keep.txt"]["patch"]
    assert files["gone.txt"]["status"] == "removed"
    assert "-delete me" in files["gone.txt"]["patch"]
    renamed = files["new name.py"]
    assert renamed["status"] == "renamed"
    assert renamed["previous_path"] == "old name.py"
    assert "rename from old name.py" in renamed["patch"]
    assert files["image.bin"] == {
        "path": "image.bin",
        "status": "added",
        "previous_path": None,
        "binary": True,
        "patch": None,
        "patch_omitted": "binary",
    }
    assert files["héllo wörld.txt"]["status"] == "added"
    assert "+unicode" in files["héllo wörld.txt"]["patch"]
    assert "+newline in name" in files["line\nbreak.txt"]["patch"]
    assert all(not f["binary"] for p, f in files.items() if p != "image.bin")


def test_a_patch_over_the_limit_is_omitted_and_says_so(repo: Path) -> None:
    git(repo, "checkout", "-q", "feature")
    (repo / "huge.txt").write_text("x" * 100 + "\n" * 3000)
    commit(repo, "huge")
    files = by_path(build(repo, max_patch_bytes=2000))
    assert files["huge.txt"]["patch"] is None
    assert files["huge.txt"]["patch_omitted"] == "too large (more than 2000 bytes)"
    assert files["keep.txt"]["patch"] is not None
    assert "patch_omitted" not in files["keep.txt"]


def test_the_total_budget_is_stated_per_file_once_spent(repo: Path) -> None:
    files = build(repo, max_total_patch_bytes=300)["files"]
    omitted = [f for f in files if f.get("patch_omitted", "").startswith("total patch budget")]
    kept = [f for f in files if f["patch"] is not None]
    assert omitted
    assert sum(len(f["patch"].encode()) for f in kept) <= 300
    assert all(f["patch"] is not None or f["patch_omitted"] for f in files)


def test_commits_carry_authors_committers_and_trailers(repo: Path) -> None:
    doc = build(repo)
    [only] = doc["commits"]
    assert only["author"]["name"] == "Ada"
    assert only["author"]["email"] == "ada@example.com"
    assert only["committer"] == {"name": "Committer", "email": "committer@example.com"}
    assert only["subject"] == "Bump deps and tidy"
    assert {"key": "Agent", "value": "claude"} in only["trailers"]
    assert {
        "key": "Co-authored-by",
        "value": "Helper Bot <helper[bot]@users.noreply.github.com>",
    } in only["trailers"]
    assert doc["title"] == "Bump deps and tidy"
    assert doc["body"].startswith("Why: routine.")
    assert doc["head"] == "feature"
    assert doc["base"] == "main"
    assert doc["head_sha"] == only["sha"]


def test_the_lockfile_bump_becomes_dependency_changes(repo: Path) -> None:
    deps = build(repo)["dependencies"]
    assert deps["changed"] is True
    assert deps["changes"]
    assert {c["file"] for c in deps["changes"]} <= {"package-lock.json", "package.json"}
    assert all(c["ecosystem"] == "npm" for c in deps["changes"])
    assert deps["unparsed"] == []


def test_an_unparseable_lockfile_counts_as_changed(repo: Path) -> None:
    git(repo, "checkout", "-q", "feature")
    (repo / "package-lock.json").write_text("{not json")
    commit(repo, "break the lockfile", author="Ada <ada@example.com>")
    deps = build(repo)["dependencies"]
    assert deps["changed"] is True
    assert [u["path"] for u in deps["unparsed"]] == ["package-lock.json"]


def test_no_dependency_file_means_no_dependency_change(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("a\n")
    commit(root, "a")
    git(root, "checkout", "-q", "-b", "f")
    (root / "a.txt").write_text("b\n")
    commit(root, "b")
    doc = build(root, head="f")
    assert doc["dependencies"] == {"changed": False, "changes": [], "unparsed": []}


def test_a_pull_request_is_compared_from_the_merge_base(repo: Path) -> None:
    git(repo, "checkout", "-q", "main")
    (repo / "main-only.txt").write_text("later on main\n")
    commit(repo, "main moves on")
    pr = by_path(build(repo))
    assert "main-only.txt" not in pr  # base...head
    push = by_path(build(repo, kind="push"))
    assert push["main-only.txt"]["status"] == "removed"  # base..head, two-point diff


HUMANS = IdentityMap(
    agents=("*[bot]", "agent-*"), agent_emails=("*@agents.example",), humans=("Ada",)
)


def _single_commit_repo(tmp_path: Path, author: str, message: str = "change") -> Path:
    root = tmp_path / "single"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("a\n")
    commit(root, "base", author="Ada <ada@example.com>")
    git(root, "checkout", "-q", "-b", "f")
    (root / "a.txt").write_text("b\n")
    commit(root, message, author=author)
    return root


@pytest.mark.parametrize(
    ("author", "message", "expected"),
    [
        ("Ada <ada@example.com>", "plain", "human"),
        ("dependabot[bot] <support@github.com>", "plain", "agent"),
        ("agent-7 <x@example.com>", "plain", "agent"),
        ("Ada <ada@agents.example>", "plain", "agent"),
        ("Ada <ada@example.com>", "plain\n\nAgent: codex", "agent"),
        ("Ada <ada@example.com>", "plain\n\nCo-authored-by: r[bot] <r@x.example>", "agent"),
        ("Ada <ada@example.com>", "plain\n\nCo-authored-by: Ada <ada@example.com>", "human"),
        ("Stranger <who@example.org>", "plain", "agent"),  # unknown -> agent
    ],
)
def test_the_identity_map_decides_the_author_type(
    tmp_path: Path, author: str, message: str, expected: str
) -> None:
    root = _single_commit_repo(tmp_path, author, message)
    doc = build(root, HUMANS, head="f")
    assert doc["author"]["type"] == expected
    assert doc["author"]["id"] == author.partition("<")[2].rstrip(">")


@pytest.mark.parametrize(
    ("committer", "expected"),
    [
        ("agent-7 <agent-7@example.com>", "agent"),  # named an agent by login
        ("Ada <bot@agents.example>", "agent"),  # named an agent by email
        ("GitHub <noreply@github.com>", "human"),  # unknown: GitHub's own web commits
        ("Ada <ada@example.com>", "human"),
    ],
)
def test_a_committer_the_map_names_an_agent_makes_the_change_an_agents(
    tmp_path: Path, committer: str, expected: str
) -> None:
    """An agent that writes a human as the commit's author still commits as itself."""
    root = _single_commit_repo(tmp_path, "Ada <ada@example.com>", "plain")
    name, _, email = committer.partition(" <")
    env = {**os.environ, "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email.rstrip(">"),
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}  # fmt: skip
    subprocess.run(["git", "commit", "-q", "--amend", "--no-edit", "--no-verify"],
                   cwd=root, env=env, check=True)  # fmt: skip
    doc = build(root, HUMANS, head="f")
    assert doc["commits"][-1]["committer"]["email"] == email.rstrip(">")
    assert doc["commits"][-1]["author"]["type"] == "human"
    assert doc["author"]["type"] == expected


def test_with_no_identity_map_everyone_is_an_agent(tmp_path: Path) -> None:
    root = _single_commit_repo(tmp_path, "Ada <ada@example.com>")
    assert build(root, head="f")["author"]["type"] == "agent"


def test_identities_load_from_toml_and_refuse_bad_shapes(tmp_path: Path) -> None:
    good = tmp_path / "charter.toml"
    good.write_text('[identities]\nagents = ["*[bot]"]\nhuman_emails = ["*@example.com"]\n')
    loaded = load_identities(good)
    assert loaded.classify("ci[bot]", "") == "agent"
    assert loaded.classify("Ada", "ADA@EXAMPLE.COM") == "human"
    with pytest.raises(ConfigError, match="unknown key 'bots'"):
        parse_identities({"bots": []}, where="x")
    with pytest.raises(ConfigError, match="identities.agents must be a list"):
        parse_identities({"agents": "*[bot]"}, where="x")
    bad = tmp_path / "bad.toml"
    bad.write_text("[identities\n")
    with pytest.raises(ConfigError, match="not TOML"):
        load_identities(bad)


def test_a_missing_ref_is_an_input_error(repo: Path) -> None:
    with pytest.raises(GitError, match="head 'nope' does not name a commit") as caught:
        build(repo, head="nope")
    assert errors.exit_code(caught.value) == 2


def test_a_directory_that_is_no_repository_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(GitError, match="not a git repository"):
        Repository(plain)
    with pytest.raises(GitError, match="no such directory"):
        Repository(tmp_path / "absent")


def test_a_base_missing_from_a_shallow_clone_is_named(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "main")
    first = git(repo, "rev-parse", "HEAD").strip()
    (repo / "more.txt").write_text("more\n")
    commit(repo, "more")
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "main", f"file://{repo}", str(clone))
    with pytest.raises(GitError, match="not in this shallow clone"):
        build(clone, base=first, head="HEAD")


def test_no_git_binary_is_an_input_error(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo))  # a real PATH without git on it
    with pytest.raises(GitError, match="no git binary"):
        Repository(repo)


def test_repository_diff_programs_never_run(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch '{marker}'\necho REPLACED\n")
    script.chmod(0o755)
    git(repo, "config", "diff.external", str(script))
    git(repo, "config", "diff.evil.textconv", str(script))
    (repo / ".git" / "info" / "attributes").write_text("* diff=evil\n")
    files = by_path(build(repo))
    assert "+three" in files["keep.txt"]["patch"]
    assert "REPLACED" not in files["keep.txt"]["patch"]
    assert not marker.exists()


def test_a_patch_that_is_not_utf8_is_omitted_and_says_so(repo: Path) -> None:
    git(repo, "checkout", "-q", "feature")
    (repo / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    commit(repo, "latin-1 text")
    latin = by_path(build(repo))["latin1.txt"]
    assert latin["binary"] is False
    assert latin["patch"] is None
    assert latin["patch_omitted"] == "not UTF-8 text"


def test_an_empty_range_still_names_the_head_commit(repo: Path) -> None:
    doc = build(repo, base="feature", head="feature")
    assert doc["files"] == []
    assert doc["commits"] == []
    assert doc["title"] == "Bump deps and tidy"
    assert doc["dependencies"]["changed"] is False


def test_a_blob_is_read_whole_from_its_pipe_and_a_missing_one_is_an_error(repo: Path) -> None:
    big = bytes(range(256)) * 2048 + b"end"  # several pipe buffers' worth, every byte value
    (repo / "big.bin").write_bytes(big)
    commit(repo, "big")
    sha = git(repo, "rev-parse", "HEAD:big.bin").strip()
    repository = Repository(repo)
    assert repository.read_blob(sha) == big
    assert repository.blob(sha) == big
    assert repository.blob(None) is None
    with pytest.raises(GitError, match="git cat-file"):
        repository.read_blob("0" * 40)


def test_a_push_whose_commits_a_shallow_clone_cut_off_is_refused(
    repo: Path, tmp_path: Path
) -> None:
    # A push from main to feature, both fetched one commit deep: the agent's commit
    # between them is missing, and the head commit's human author alone would make
    # the push a human's. The range's commits are incomplete: refused, never fewer.
    git(repo, "checkout", "-q", "feature")
    (repo / "agent.txt").write_text("by the agent\n")
    commit(repo, "agent work", author="Bot <bot@agents.example>")
    (repo / "human.txt").write_text("by a human\n")
    commit(repo, "human touch")
    clone = tmp_path / "shallow"
    git(
        tmp_path, "clone", "-q", "--depth", "1", "--branch", "feature", f"file://{repo}", str(clone)
    )
    git(clone, "fetch", "-q", "--depth", "1", "origin", "main:main")
    identities = parse_identities({"human_emails": ["ada@example.com"]}, where="t")
    assert build(repo, identities, kind="push")["author"]["type"] == "agent"
    with pytest.raises(GitError, match="shallow clone"):
        build(clone, identities, kind="push", base="main", head="HEAD")


def test_a_pull_request_in_a_deep_enough_shallow_clone_is_read(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "3", "--no-single-branch", f"file://{repo}", str(clone))
    git(clone, "checkout", "-q", "feature")
    assert build(clone, base="origin/main", head="HEAD")["commits"] == build(repo)["commits"]


def _linked_lockfile_repo(root: Path, *, through_folder: bool = False) -> Path:
    """main: package-lock.json is a symbolic link to locks/npm.json (or, through a linked
    folder, to npm/lock.json with npm -> locks); feature: only the target changes."""
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "locks").mkdir()
    target = root / "locks" / ("lock.json" if through_folder else "npm.json")
    target.write_bytes((LOCKFILES / "before" / "package-lock.json").read_bytes())
    (root / "package.json").write_bytes((LOCKFILES / "before" / "package.json").read_bytes())
    if through_folder:
        (root / "npm").symlink_to("locks")
    (root / "package-lock.json").symlink_to("npm/lock.json" if through_folder else "locks/npm.json")
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "feature")
    target.write_bytes((LOCKFILES / "after" / "package-lock.json").read_bytes())
    commit(root, "bump through the link")
    return root


@pytest.mark.parametrize("through_folder", [False, True])
def test_a_lockfile_that_links_to_a_changed_file_is_read_through_the_link(
    tmp_path: Path, through_folder: bool
) -> None:
    # npm reads package-lock.json's target: a change made only there is a dependency change.
    repo = _linked_lockfile_repo(tmp_path / "linked", through_folder=through_folder)
    plain = tmp_path / "plain"
    plain.mkdir()
    git(plain, "init", "-q", "-b", "main")
    (plain / "package.json").write_bytes((LOCKFILES / "before" / "package.json").read_bytes())
    for side, message in (("before", "base"), ("after", "bump")):
        lock = (LOCKFILES / side / "package-lock.json").read_bytes()
        (plain / "package-lock.json").write_bytes(lock)
        commit(plain, message)
        if side == "before":
            git(plain, "checkout", "-q", "-b", "feature")
    linked = build(repo)["dependencies"]
    assert linked["changed"] is True
    assert linked["changes"] == build(plain)["dependencies"]["changes"]
    assert {c["file"] for c in linked["changes"]} == {"package-lock.json"}


def test_a_staged_change_to_a_linked_lockfiles_target_is_a_dependency_change(
    tmp_path: Path,
) -> None:
    repo = _linked_lockfile_repo(tmp_path / "linked")
    git(repo, "checkout", "-q", "main")
    target = repo / "locks" / "npm.json"
    target.write_bytes((LOCKFILES / "after" / "package-lock.json").read_bytes())
    git(repo, "add", "-A")
    staged = build_staged(StagedChange(repo=repo), IdentityMap())
    assert staged["dependencies"]["changed"] is True
    assert staged["dependencies"]["changes"]


def test_a_staged_change_with_an_unmerged_path_names_the_conflict(repo: Path) -> None:
    git(repo, "checkout", "-q", "main")
    (repo / "keep.txt").write_text("main's\n")
    commit(repo, "main side")
    with pytest.raises(subprocess.CalledProcessError):
        git(repo, "merge", "-q", "feature")  # conflicts on keep.txt
    with pytest.raises(GitError, match="'keep.txt' is unmerged in the index"):
        build_staged(StagedChange(repo=repo), IdentityMap())


@pytest.mark.parametrize("line", ["-r deps/pinned.list", "--constraint=deps/pinned.list"])
def test_a_file_a_requirements_file_includes_is_a_dependency_file(
    tmp_path: Path, line: str
) -> None:
    # pip reads deps/pinned.list through requirements.txt: changing only it changes
    # what is installed, though its name is no dependency file's.
    root = tmp_path / "included"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "deps").mkdir()
    (root / "deps" / "pinned.list").write_text("requests==2.31.0\n")
    (root / "requirements.txt").write_text(f"{line}\nflask==3.0.0\n")
    (root / "app.py").write_text("print(1)\n")
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "deps" / "pinned.list").write_text("requests==2.32.3\n")
    (root / "app.py").write_text("print(2)\n")
    commit(root, "bump through the include")
    dependencies = build(root)["dependencies"]
    assert dependencies["changed"] is True
    assert [u["path"] for u in dependencies["unparsed"]] == ["deps/pinned.list"]
    assert "requirements.txt" in dependencies["unparsed"][0]["reason"]


def test_the_repositorys_fsmonitor_never_runs(repo: Path, tmp_path: Path) -> None:
    # core.fsmonitor names a program git runs when it reads the index (the staged change).
    marker = tmp_path / "ran"
    script = tmp_path / "monitor.sh"
    script.write_text(f"#!/bin/sh\ntouch '{marker}'\n")
    script.chmod(0o755)
    git(repo, "checkout", "-q", "feature")
    (repo / "keep.txt").write_text("staged\n")
    git(repo, "add", "keep.txt")
    git(repo, "config", "core.fsmonitor", str(script))
    marker.unlink(missing_ok=True)
    staged = build_staged(StagedChange(repo=repo), IdentityMap())
    assert [f["path"] for f in staged["files"]] == ["keep.txt"]
    assert not marker.exists()


def _feature_branch(tmp_path: Path) -> Path:
    """A repository whose main holds README.md, checked out on a new branch feature."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("hello\n")
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "feature")
    return root


def test_a_replace_ref_does_not_swap_the_change_for_another(tmp_path: Path) -> None:
    """``git replace HEAD INNOCENT`` in the agent's repository made git read an innocent
    commit in place of the head: ``check --git`` judged (and allowed) that one, while a
    push sends the real head, which adds a private key."""
    root = _feature_branch(tmp_path)
    (root / "deploy").mkdir()
    (root / "deploy" / "id_ed25519").write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----\n"
    )
    commit(root, "add key")
    real = git(root, "rev-parse", "HEAD").strip()
    git(root, "checkout", "-q", "-b", "innocent", "main")
    (root / "README.md").write_text("hello\nworld\n")
    commit(root, "docs")
    git(root, "replace", real, git(root, "rev-parse", "HEAD").strip())
    assert "deploy/id_ed25519" not in git(root, "diff", "--name-only", "main", real)
    doc = build(root)
    assert doc["head_sha"] == real
    assert sorted(by_path(doc)) == ["deploy/id_ed25519"]
    assert [c["subject"] for c in doc["commits"]] == ["add key"]
    assert "+-----BEGIN OPENSSH PRIVATE KEY-----" in by_path(doc)["deploy/id_ed25519"]["patch"]


def test_a_replaced_blob_is_read_as_committed(tmp_path: Path) -> None:
    """A replace ref on the new blob (new -> old) hid the added line from git diff."""
    root = _feature_branch(tmp_path)
    (root / "README.md").write_text("hello\ntoken = AKIAIOSFODNN7EXAMPLQ\n")
    commit(root, "token")
    new, old = (git(root, "rev-parse", f"{ref}:README.md").strip() for ref in ("feature", "main"))
    git(root, "replace", new, old)
    assert git(root, "diff", "main", "feature") == ""
    assert "+token = AKIAIOSFODNN7EXAMPLQ" in by_path(build(root))["README.md"]["patch"]


def test_a_grafts_file_does_not_move_the_merge_base(tmp_path: Path) -> None:
    """``.git/info/grafts`` making main's tip a child of the pull request's head made the
    head the merge base: the pull request changed nothing (allowed), while it adds a key."""
    root = _feature_branch(tmp_path)
    (root / "id_rsa").write_text("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n")
    commit(root, "add key")
    git(root, "checkout", "-q", "main")
    (root / "README.md").write_text("hello\nworld\n")
    commit(root, "main moves on")
    tips = [git(root, "rev-parse", ref).strip() for ref in ("main", "feature")]
    (root / ".git" / "info").mkdir(exist_ok=True)
    (root / ".git" / "info" / "grafts").write_text(" ".join(tips) + "\n")
    assert (
        git(root, "-c", "advice.graftFileDeprecated=false", "merge-base", *tips) == tips[1] + "\n"
    )
    doc = build(root, kind="pull_request")
    assert sorted(by_path(doc)) == ["id_rsa"]
    assert [c["subject"] for c in doc["commits"]] == ["add key"]


@pytest.mark.parametrize("setting", ["diff.noprefix", "diff.mnemonicPrefix"])
def test_a_personal_diff_prefix_setting_does_not_break_the_build(repo: Path, setting: str) -> None:
    """``diff.noprefix = true`` (a common ~/.gitconfig line) made every build an input
    error ('the diff of X is not where git listed it')."""
    git(repo, "config", setting, "true")
    doc = build(repo)
    assert "+three" in by_path(doc)["keep.txt"]["patch"]
    git(repo, "checkout", "-q", "feature")
    (repo / "keep.txt").write_text("staged\n")
    git(repo, "add", "keep.txt")
    staged = build_staged(StagedChange(repo=repo), IdentityMap())
    assert "+staged" in by_path(staged)["keep.txt"]["patch"]
