"""The staged change as a proposal (`--staged`) and the pre-commit hook that decides it.

Real repositories built with git; the hook's entry is read from the shipped
.pre-commit-hooks.yaml and run as written — in-process, and once as a real git
pre-commit hook around `git commit` with the venv's `charter`.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.facts.identities import IdentityMap
from charter.facts.proposal import GitRange, StagedChange, build_from_git, build_staged
from tests.cli_helpers import invoke
from tests.test_facts_git import commit, git

ROOT = Path(__file__).parent.parent
HOOKS = ROOT / ".pre-commit-hooks.yaml"
ADA = IdentityMap(humans=("Ada",))
CITATION = (
    "Docs\n\n```charter\nrules: [CRED-NO-CREDENTIAL-FILES-001]\n"
    'blast_radius: "README only"\nrollback: "git revert"\n```\n'
)


def private_key() -> bytes:
    """A freshly generated (throwaway) OpenSSH private key."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main with one commit, checked out on branch feature; user Ada configured."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Ada")
    git(root, "config", "user.email", "ada@example.com")
    (root / "README.md").write_text("hello\n")
    (root / "old.txt").write_text("".join(f"line {i}\n" for i in range(30)))
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "feature")
    return root


def staged(repo: Path, **kw: Any) -> dict[str, Any]:
    return build_staged(StagedChange(repo=repo, **kw), ADA)


# --- the staged change as facts ---


def test_the_staged_change_is_a_push_of_the_index_against_head(repo: Path) -> None:
    (repo / "README.md").write_text("hello\nworld\n")
    git(repo, "mv", "old.txt", "new.txt")
    (repo / "new file.txt").write_text("staged\n")
    git(repo, "add", "README.md", "new file.txt")
    (repo / "unstaged.txt").write_text("not added\n")
    (repo / "README.md").write_text("hello\nworld\nnot staged\n")
    doc = staged(repo)
    head = git(repo, "rev-parse", "HEAD").strip()
    assert doc["kind"] == "push"
    assert (doc["base"], doc["head"]) == ("feature", "feature")
    assert (doc["base_sha"], doc["head_sha"]) == (head, None)
    assert doc["author"] == {"id": "ada@example.com", "type": "human"}
    assert doc["commits"] == [] and doc["title"] is None and doc["body"] is None
    files = {f["path"]: f for f in doc["files"]}
    assert set(files) == {"README.md", "new.txt", "new file.txt"}
    assert files["new.txt"]["status"] == "renamed"
    assert files["new.txt"]["previous_path"] == "old.txt"
    assert files["new file.txt"]["status"] == "added"
    assert "+world" in files["README.md"]["patch"]
    assert "not staged" not in files["README.md"]["patch"]  # the work tree is not the change


def test_an_unknown_committer_is_an_agent(repo: Path) -> None:
    git(repo, "config", "user.name", "robot")
    git(repo, "config", "user.email", "robot@example.com")
    (repo / "README.md").write_text("changed\n")
    git(repo, "add", "README.md")
    assert staged(repo)["author"] == {"id": "robot@example.com", "type": "agent"}


def test_a_repository_without_commits_is_compared_to_the_empty_tree(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q", "-b", "trunk")
    git(root, "config", "user.name", "Ada")
    git(root, "config", "user.email", "ada@example.com")
    (root / "a.txt").write_text("first\n")
    git(root, "add", "a.txt")
    doc = staged(root)
    assert (doc["base"], doc["base_sha"]) == ("trunk", None)
    assert [(f["path"], f["status"]) for f in doc["files"]] == [("a.txt", "added")]
    assert "+first" in doc["files"][0]["patch"]
    assert doc["author"] == {"id": "ada@example.com", "type": "human"}


def test_a_staged_lockfile_change_is_a_dependency_change(repo: Path) -> None:
    (repo / "requirements.txt").write_text("requests==2.32.3\n")
    git(repo, "add", "requirements.txt")
    deps = staged(repo)["dependencies"]
    assert deps["changed"] is True
    assert [(c["name"], c["old"], c["new"]) for c in deps["changes"]] == [
        ("requests", None, "2.32.3")
    ]


def test_a_detached_head_has_no_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    (repo / "README.md").write_text("x\n")
    git(repo, "add", "README.md")
    assert staged(repo)["base"] is None


def test_the_index_a_hook_is_handed_is_the_one_read(repo: Path, tmp_path: Path) -> None:
    # `git commit PATHS` runs its hooks on a temporary index named in GIT_INDEX_FILE.
    other = tmp_path / "other-index"
    env = {**os.environ, "GIT_INDEX_FILE": str(other)}
    subprocess.run(["git", "read-tree", "HEAD"], cwd=repo, env=env, check=True)
    (repo / "only-in-other.txt").write_text("x\n")
    subprocess.run(["git", "add", "only-in-other.txt"], cwd=repo, env=env, check=True)
    assert staged(repo)["files"] == []
    assert [f["path"] for f in staged(repo, index_file=other)["files"]] == ["only-in-other.txt"]


def test_from_git_staged_prints_the_proposal_and_refuses_a_range(repo: Path) -> None:
    (repo / "README.md").write_text("changed\n")
    git(repo, "add", "README.md")
    result = invoke("proposal", "from-git", "--staged", "--repo", str(repo))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["files"][0]["path"] == "README.md"
    both = invoke("proposal", "from-git", "--staged", "--base", "main", "--repo", str(repo))
    assert both.returncode == 2 and "--staged takes no --base" in both.stderr
    neither = invoke("proposal", "from-git", "--repo", str(repo))
    assert neither.returncode == 2 and "--base REF and --head REF, or --staged" in neither.stderr


def test_check_staged_decides_as_from_git_staged_piped_into_check(repo: Path) -> None:
    (repo / "README.md").write_text("changed\n")
    git(repo, "add", "README.md")
    built = invoke("proposal", "from-git", "--staged", "--repo", str(repo))
    common = ("--now", "2026-11-20T10:00:00Z", "--format", "json", "--no-audit")
    piped = invoke("check", "-", *common, stdin=built.stdout)
    direct = invoke("check", "--staged", "--repo", str(repo), *common)
    assert piped.returncode == direct.returncode
    assert json.loads(piped.stdout)["reasons"] == json.loads(direct.stdout)["reasons"]


def test_staged_outside_a_repository_is_one_line(tmp_path: Path) -> None:
    result = invoke("check", "--staged", "--repo", str(tmp_path), "--no-audit")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "not a git repository" in result.stderr


# --- the pre-commit hook ---


def hook() -> dict[str, Any]:
    hooks = yaml.safe_load(HOOKS.read_text())
    assert isinstance(hooks, list) and [h["id"] for h in hooks] == ["charter"]
    return dict(hooks[0])


def test_the_hook_is_declared_as_documented() -> None:
    spec = hook()
    assert spec["name"] == "Charter: decide the staged change"
    assert spec["entry"] == "charter check --staged --no-audit"
    assert spec["language"] == "python"
    assert spec["pass_filenames"] is False and spec["always_run"] is True
    assert spec["stages"] == ["pre-commit"]


def run_entry(repo: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """The hook's entry, as pre-commit runs it (with ``args:`` appended), in the repository."""
    entry = shlex.split(hook()["entry"])
    assert entry[0] == "charter"
    result = invoke(*entry[1:], *args, "--format", "json", cwd=repo)
    assert result.returncode in (0, 1, 3), result.stderr
    return result.returncode, json.loads(result.stdout)


def rules(decision: dict[str, Any]) -> set[str]:
    return {r["rule"] for r in decision["reasons"]}


@pytest.fixture
def identities(tmp_path: Path) -> Path:
    path = tmp_path / "ids.toml"
    path.write_text('[identities]\nhumans = ["Ada"]\n')
    return path


def test_the_hook_denies_a_staged_private_key(repo: Path, identities: Path) -> None:
    (repo / "deploy").mkdir()
    (repo / "deploy" / "id_ed25519").write_bytes(private_key())
    git(repo, "add", "deploy/id_ed25519")
    code, decision = run_entry(repo, "--identities", str(identities))
    assert (code, decision["verdict"]) == (1, "deny")
    assert "CRED-NO-CREDENTIAL-FILES-001" in rules(decision)


def test_the_hook_allows_a_cited_change_on_a_feature_branch(
    repo: Path, identities: Path, tmp_path: Path
) -> None:
    (repo / "README.md").write_text("hello\nworld\n")
    git(repo, "add", "README.md")
    body = tmp_path / "body.md"
    body.write_text(CITATION)
    code, decision = run_entry(repo, "--identities", str(identities), "--body-file", str(body))
    assert (code, decision["verdict"], decision["reasons"]) == (0, "allow", [])


def test_the_hook_asks_for_a_human_commit_on_a_protected_branch(
    repo: Path, identities: Path, tmp_path: Path
) -> None:
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("hello\nworld\n")
    git(repo, "add", "README.md")
    body = tmp_path / "body.md"
    body.write_text(CITATION)
    code, decision = run_entry(repo, "--identities", str(identities), "--body-file", str(body))
    assert (code, decision["verdict"]) == (3, "ask")
    assert rules(decision) == {"PROC-HUMAN-PUSH-PROTECTED-001"}


def test_the_hook_stops_a_real_partial_commit_of_a_private_key(
    repo: Path, identities: Path
) -> None:
    # `git commit PATH` stages PATH into a temporary index and runs the hook on it;
    # the repository's own index still holds no change.
    (repo / "id_rsa").write_text("placeholder\n")
    commit(repo, "placeholder")
    write_hook(repo, "--identities", str(identities))
    (repo / "id_rsa").write_bytes(private_key())
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(
        ["git", "commit", "-q", "-m", "add key", "id_rsa"],
        cwd=repo, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode != 0, done.stderr
    assert "DENY" in done.stderr and "CRED-NO-CREDENTIAL-FILES-001" in done.stderr
    assert git(repo, "log", "-1", "--format=%s").strip() == "placeholder"


def test_check_staged_takes_no_kind(repo: Path) -> None:
    result = invoke("check", "--staged", "--kind", "merge", "--repo", str(repo), "--no-audit")
    assert result.returncode == 2 and "--kind goes with --git" in result.stderr


# --- whom the coming commit names: git's own precedence, not user.name alone ---

AGENTS_AND_ADA = IdentityMap(agents=("agent-*",), humans=("Ada",))
AGENT_ENVS = [
    {"GIT_COMMITTER_NAME": "agent-7", "GIT_COMMITTER_EMAIL": "agent-7@example.com"},
    {"GIT_AUTHOR_NAME": "agent-7", "GIT_AUTHOR_EMAIL": "agent-7@example.com"},
]


def _recorded(repo: Path, env: dict[str, str]) -> dict[str, Any]:
    """The commit ``git commit`` makes of the staged change with ``env``, built from git."""
    done = subprocess.run(
        ["git", "commit", "-q", "--no-verify", "-m", "docs"],
        cwd=repo, capture_output=True, text=True, check=True,
        env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", **env},
    )  # fmt: skip
    assert done.returncode == 0
    spec = GitRange(repo=repo, base="HEAD~1", head="HEAD", kind="push")
    return build_from_git(spec, AGENTS_AND_ADA)


@pytest.mark.parametrize("env", AGENT_ENVS, ids=["committer", "author"])
def test_an_agent_the_commit_environment_names_is_the_staged_author(
    repo: Path, env: dict[str, str]
) -> None:
    """An agent working in Ada's checkout (user.name Ada) whose harness names it in git's
    environment commits as itself: the staged change was judged as Ada's (human), the
    commit it became is an agent's."""
    (repo / "README.md").write_text("hello\nworld\n")
    git(repo, "add", "README.md")
    doc = build_staged(StagedChange(repo=repo, identity_env=env), AGENTS_AND_ADA)
    assert doc["author"]["type"] == "agent"
    assert _recorded(repo, env)["author"]["type"] == "agent"  # what git then records


@pytest.mark.parametrize("role", ["committer", "author"])
def test_an_agent_the_repository_config_names_is_the_staged_author(repo: Path, role: str) -> None:
    """``committer.name``/``author.name`` come before ``user.name`` for git (2.22+)."""
    git(repo, "config", f"{role}.name", "agent-7")
    git(repo, "config", f"{role}.email", "agent-7@example.com")
    (repo / "README.md").write_text("hello\nworld\n")
    git(repo, "add", "README.md")
    assert build_staged(StagedChange(repo=repo), AGENTS_AND_ADA)["author"]["type"] == "agent"
    assert _recorded(repo, {})["author"]["type"] == "agent"


def test_check_staged_reads_the_identity_from_the_environment(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hook on a protected branch: an agent's commit is denied, not asked about."""
    ids = tmp_path / "ids.toml"
    ids.write_text('[identities]\nagents = ["agent-*"]\nhumans = ["Ada"]\n')
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("hello\nworld\n")
    git(repo, "add", "README.md")
    body = tmp_path / "body.md"
    body.write_text(CITATION)
    monkeypatch.setenv("GIT_COMMITTER_NAME", "agent-7")
    code, decision = run_entry(repo, "--identities", str(ids), "--body-file", str(body))
    assert (code, decision["verdict"]) == (1, "deny")
    assert "PROC-NO-DIRECT-PUSH-001" in rules(decision)


def test_a_human_committing_as_themself_stays_human(repo: Path) -> None:
    (repo / "README.md").write_text("hello\nworld\n")
    git(repo, "add", "README.md")
    env = {"GIT_COMMITTER_NAME": "Ada", "GIT_AUTHOR_NAME": "Ada"}
    doc = build_staged(StagedChange(repo=repo, identity_env=env), AGENTS_AND_ADA)
    assert doc["author"] == {"id": "ada@example.com", "type": "human"}


PROFILE_TEXT = '[sbom]\ntool = "syft"\n\n[vulnerability-scan]\ntool = "grype-fips"\n'


def install_hook(repo: Path, tmp_path: Path, identities: str) -> None:
    """The shipped pre-commit hook as ``.git/hooks/pre-commit`` of ``repo``, with an
    identity map of ``identities`` and the citation as the commit's body."""
    ids = tmp_path / "ids.toml"
    ids.write_text(identities)
    body = tmp_path / "body.md"
    body.write_text(CITATION)
    write_hook(repo, "--identities", str(ids), "--body-file", str(body))


def write_hook(repo: Path, *args: str) -> None:
    """``.git/hooks/pre-commit`` of ``repo``: the shipped hook's entry with ``args``."""
    charter = Path(sys.executable).parent / "charter"
    entry = shlex.split(hook()["entry"])
    script = repo / ".git" / "hooks" / "pre-commit"
    script.write_text(f"#!/bin/sh\nexec {shlex.join([str(charter), *entry[1:], *args])}\n")
    script.chmod(0o755)


@pytest.mark.parametrize("how", ["-a", "path"])
def test_a_real_commit_of_the_profile_through_a_link_is_stopped(
    repo: Path, tmp_path: Path, how: str
) -> None:
    """``git commit -a`` / ``git commit PATH`` hand the hook a temporary index: the profile
    was read from the repository's own index (unchanged), so an agent's edit of the
    profile through a linked folder (.charter -> conf) was committed unseen."""
    (repo / "conf").mkdir()
    (repo / "conf" / "profile.toml").write_text(PROFILE_TEXT)
    (repo / ".charter").symlink_to("conf")
    commit(repo, "profile")
    install_hook(repo, tmp_path, '[identities]\nagents = ["Ada"]\n')
    (repo / "conf" / "profile.toml").write_text(PROFILE_TEXT.replace("grype-fips", "grype"))
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    paths = ["-a"] if how == "-a" else ["conf/profile.toml"]
    done = subprocess.run(
        ["git", "commit", "-q", "-m", "swap the scanner", *paths],
        cwd=repo, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode != 0, done.stderr
    assert "ENV-PROFILE-FILE-PROTECTED-001" in done.stderr
    assert git(repo, "log", "-1", "--format=%s").strip() == "profile"


@pytest.mark.parametrize(
    "how",
    [
        ["-c", "user.name=agent-7", "-c", "user.email=agent-7@example.com"],
        ["-c", "committer.name=agent-7"],
    ],
    ids=["config-parameters", "committer-parameter"],
)
def test_a_real_commit_made_with_git_c_names_the_agent(
    repo: Path, tmp_path: Path, how: list[str]
) -> None:
    """``git -c committer.name=agent-7 commit`` in Ada's checkout: the hook is handed that
    configuration as ``GIT_CONFIG_PARAMETERS`` (its git calls drop every GIT_ variable),
    so it judged Ada's (human) commit while git recorded agent-7 as the committer (git
    exports the author it chose to hooks, not the committer)."""
    install_hook(repo, tmp_path, '[identities]\nagents = ["agent-*"]\nhumans = ["Ada"]\n')
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("hello\nworld\n")
    git(repo, "add", "README.md")
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(
        ["git", *how, "commit", "-q", "-m", "docs"],
        cwd=repo, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode != 0, done.stderr
    assert "DENY" in done.stderr  # an agent's commit on main, not a human's (ASK)
    assert "PROC-NO-DIRECT-PUSH-001" in done.stderr
