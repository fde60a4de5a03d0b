"""`charter check --git BASE..HEAD`: build the proposal from git and decide it in one step.

The facts come from the repository, not from a document the agent wrote: a
dependency bump that no one declared is still a dependency change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import invoke
from tests.test_facts_git import commit, git

NOW = "2026-11-20T10:00:00Z"
CITATION = (
    '```charter\nrules: [SC-DEPENDENCY-SCAN-001]\nblast_radius: "requirements only"\n'
    'rollback: "git revert"\n```\n'
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "requirements.txt").write_text("requests==2.31.0\n")
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "bump")
    (root / "requirements.txt").write_text("requests==2.32.3\n")
    commit(root, f"Bump requests\n\n{CITATION}", author="Ada <ada@example.com>")
    return root


def decide(*args: str) -> tuple[int, dict[str, object]]:
    result = invoke("check", *args, "--now", NOW, "--format", "json", "--no-audit")
    assert result.returncode in (0, 1, 3), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_an_undeclared_dependency_bump_needs_a_scan(repo: Path, tmp_path: Path) -> None:
    identities = tmp_path / "ids.toml"
    identities.write_text('[identities]\nhumans = ["Ada"]\n')
    code, decision = decide("--git", "main..bump", "--repo", str(repo),
                            "--identities", str(identities))  # fmt: skip
    rules = {r["rule"] for r in decision["reasons"]}  # type: ignore[union-attr,index]
    assert "SC-DEPENDENCY-SCAN-001" in rules
    assert code == 1 and decision["verdict"] == "deny"


def test_check_git_decides_as_from_git_piped_into_check(repo: Path) -> None:
    built = invoke("proposal", "from-git", "--repo", str(repo), "--base", "main", "--head", "bump")
    assert built.returncode == 0, built.stderr
    piped = invoke("check", "-", "--now", NOW, "--format", "json", "--no-audit",
                   stdin=built.stdout)  # fmt: skip
    direct_code, direct = decide("--git", "main..bump", "--repo", str(repo))
    assert piped.returncode == direct_code
    assert json.loads(piped.stdout)["verdict"] == direct["verdict"]
    assert {r["rule"] for r in json.loads(piped.stdout)["reasons"]} == {
        r["rule"]
        for r in direct["reasons"]  # type: ignore[union-attr]
    }


def test_who_is_an_agent_comes_from_the_identity_map(repo: Path, tmp_path: Path) -> None:
    push = ("--git", "main..bump", "--repo", str(repo), "--kind", "push")
    _, unknown = decide(*push)
    unknown_rules = {r["rule"] for r in unknown["reasons"]}  # type: ignore[union-attr,index]
    assert "PROC-NO-DIRECT-PUSH-001" in unknown_rules  # an unknown author is an agent
    identities = tmp_path / "ids.toml"
    identities.write_text('[identities]\nhumans = ["Ada"]\n')
    _, human = decide(*push, "--identities", str(identities))
    human_rules = {r["rule"] for r in human["reasons"]}  # type: ignore[union-attr,index]
    assert "PROC-HUMAN-PUSH-PROTECTED-001" in human_rules
    assert "PROC-NO-DIRECT-PUSH-001" not in human_rules


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--git", "main"], "is not a range"),
        (["--git", "main.."], "is not a range"),
        ([], "give a proposal file, --git BASE..HEAD"),
        (["--git", "main..bump", "--staged"], "at most one source of facts"),
        (["--git", "main..no-such-branch"], "no-such-branch"),
    ],
)
def test_bad_ranges_are_one_line_errors(repo: Path, args: list[str], needle: str) -> None:
    result = invoke("check", *args, "--repo", str(repo), "--no-audit")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and needle in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_a_directory_that_is_not_a_repository(tmp_path: Path) -> None:
    result = invoke("check", "--git", "main..bump", "--repo", str(tmp_path), "--no-audit")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr


def test_a_change_that_edits_its_identity_map_is_judged_by_the_map_it_started_from(
    repo: Path,
) -> None:
    ids = repo / "charter-identities.toml"
    git(repo, "checkout", "-q", "main")
    ids.write_text('[identities]\nhumans = ["Ada"]\n')
    commit(repo, "identities")
    git(repo, "checkout", "-q", "-b", "agent")
    ids.write_text('[identities]\nhumans = ["Ada", "Bot"]\n')
    (repo / "requirements.txt").write_text("requests==2.32.3\n")
    commit(repo, f"Bump\n\n{CITATION}", author="Bot <bot@agents.example>")
    built = invoke("proposal", "from-git", "--repo", str(repo), "--base", "main",
                   "--head", "agent", "--identities", str(ids))  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["author"]["type"] == "agent"
    # A declared document is reconciled with the same map: its human claim contradicts it.
    declared = json.loads(built.stdout) | {"author": {"id": "Bot", "type": "human"}}
    proposal = repo.parent / "declared.json"
    proposal.write_text(json.dumps(declared))
    code, decision = decide(str(proposal), "--git", "main..agent", "--repo", str(repo),
                            "--identities", str(ids))  # fmt: skip
    assert code == 1
    assert "PROC-DECLARED-FACTS-MATCH-001" in {r["rule"] for r in decision["reasons"]}  # type: ignore[union-attr,index]
    # The staged change (the pre-commit hook) is judged by HEAD's map.
    git(repo, "checkout", "-q", "main")
    git(repo, "config", "user.name", "Bot")
    git(repo, "config", "user.email", "bot@agents.example")
    ids.write_text('[identities]\nhumans = ["Ada", "Bot"]\n')
    git(repo, "add", "-A")
    staged = invoke("proposal", "from-git", "--staged", "--repo", str(repo),
                    "--identities", str(ids))  # fmt: skip
    assert staged.returncode == 0, staged.stderr
    assert json.loads(staged.stdout)["author"]["type"] == "agent"


def test_a_push_names_its_target_branch_however_the_base_is_written(repo: Path) -> None:
    # An agent's push to main is denied whether the range says main, origin/main or
    # refs/heads/main; a base that is no branch (a commit, as github.event.before)
    # does not say where the push went: paused, never allowed as an unprotected branch.
    git(repo, "checkout", "-q", "--detach", "main")  # the commit about to be pushed to main
    git(repo, "update-ref", "refs/remotes/origin/main", "main")
    before = git(repo, "rev-parse", "main").strip()
    (repo / "notes.txt").write_text("direct\n")
    commit(repo, f"Direct\n\n{CITATION}", author="Bot <bot@agents.example>")
    verdicts = {}
    for base in ("main", "origin/main", "refs/heads/main", before):
        _, decision = decide("--git", f"{base}..HEAD", "--kind", "push", "--repo", str(repo))
        reasons = decision["reasons"]
        verdicts[base] = {r["verdict"] for r in reasons if r["rule"] == "PROC-NO-DIRECT-PUSH-001"}  # type: ignore[union-attr,index]
    assert verdicts == {
        "main": {"deny"},
        "origin/main": {"deny"},
        "refs/heads/main": {"deny"},
        before: {"ask"},
    }


def test_an_identity_map_that_links_to_a_file_the_change_edits_is_read_at_the_base(
    repo: Path,
) -> None:
    # charter-identities.toml -> config/ids.toml, unchanged; the change edits the target.
    git(repo, "checkout", "-q", "main")
    (repo / "config").mkdir()
    (repo / "config" / "ids.toml").write_text('[identities]\nhumans = ["Ada"]\n')
    (repo / "charter-identities.toml").symlink_to("config/ids.toml")
    commit(repo, "identities")
    git(repo, "checkout", "-q", "-b", "agent")
    (repo / "config" / "ids.toml").write_text('[identities]\nhumans = ["Ada", "Bot"]\n')
    commit(repo, f"Tidy\n\n{CITATION}", author="Bot <bot@agents.example>")
    ids = str(repo / "charter-identities.toml")
    built = invoke("proposal", "from-git", "--repo", str(repo), "--base", "main",
                   "--head", "agent", "--identities", ids)  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["author"]["type"] == "agent"


@pytest.mark.parametrize("retarget", ["file-link", "folder-link"])
def test_an_identity_map_whose_middle_link_the_change_retargets_is_read_at_the_base(
    repo: Path, retarget: str
) -> None:
    # charter-identities.toml -> config/ids.toml -> ../maps/ci.toml, with config -> etc a
    # folder link. The base also holds maps/dev.toml calling the bot human; the change
    # retargets only a link in the middle of the way to it.
    git(repo, "checkout", "-q", "main")
    (repo / "maps").mkdir()
    (repo / "maps" / "ci.toml").write_text('[identities]\nhumans = ["Ada"]\n')
    (repo / "maps" / "dev.toml").write_text('[identities]\nhumans = ["Ada", "Bot"]\n')
    (repo / "etc").mkdir()
    (repo / "etc" / "ids.toml").symlink_to("../maps/ci.toml")
    (repo / "dev").mkdir()
    (repo / "dev" / "ids.toml").symlink_to("../maps/dev.toml")
    (repo / "config").symlink_to("etc")
    (repo / "charter-identities.toml").symlink_to("config/ids.toml")
    commit(repo, "identities")
    git(repo, "checkout", "-q", "-b", "agent")
    moved = repo / ("etc/ids.toml" if retarget == "file-link" else "config")
    moved.unlink()
    moved.symlink_to("../maps/dev.toml" if retarget == "file-link" else "dev")
    commit(repo, f"Tidy\n\n{CITATION}", author="Bot <bot@agents.example>")
    ids = repo / "charter-identities.toml"
    assert "Bot" in ids.read_text()
    built = invoke("proposal", "from-git", "--repo", str(repo), "--base", "main",
                   "--head", "agent", "--identities", str(ids))  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["author"]["type"] == "agent"


@pytest.mark.parametrize(
    ("name", "ecosystem"),
    [
        ("composer.lock", "PHP Composer"),
        ("gradle.lockfile", "Gradle"),
        ("app/buildscript-gradle.lockfile", "Gradle"),
        ("src/App/packages.lock.json", "NuGet"),
        ("Package.resolved", "SwiftPM"),
        ("pubspec.lock", "Dart pub"),
        ("mix.lock", "Elixir Mix"),
        ("conda-lock.yml", "conda"),
        ("env/conda-linux-64.lock", "conda"),
        ("pylock.toml", "Python, PEP 751"),
    ],
)
def test_a_lockfile_charter_does_not_read_is_an_unparsed_dependency_change(
    tmp_path: Path, name: str, ecosystem: str
) -> None:
    entry, code, rules = _unparsed_change(tmp_path, name, "locked: 1.0.0\n", "locked: 1.0.1\n")
    base = name.rsplit("/", 1)[-1]
    assert entry["path"] == name and f"{base} ({ecosystem})" in entry["reason"], entry
    assert "Charter does not read" in entry["reason"]
    assert code in (1, 3)
    assert "SC-DEPENDENCY-FACTS-001" in rules


def _unparsed_change(
    tmp_path: Path, name: str, before: str, after: str
) -> tuple[dict[str, Any], int, set[str]]:
    """A range that changes only the dependency file ``name`` (``before`` -> ``after``): its
    one unparsed entry (``dependencies.changed`` true), and the exit code and rules of
    ``check --git`` on it."""
    root = tmp_path / "repo"
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    (root / name).write_text(before)
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "bump")
    (root / name).write_text(after)
    commit(root, f"Bump\n\n{CITATION}")
    built = invoke("proposal", "from-git", "--repo", str(root), "--base", "main", "--head", "bump")
    assert built.returncode == 0, built.stderr
    deps = json.loads(built.stdout)["dependencies"]
    assert deps["changed"] is True
    (entry,) = deps["unparsed"]
    code, decision = decide("--git", "main..bump", "--repo", str(root))
    return entry, code, {r["rule"] for r in decision["reasons"]}  # type: ignore[union-attr,index]


@pytest.mark.parametrize(
    ("name", "ecosystem"),
    [
        ("pom.xml", "Maven"),
        ("services/api/build.gradle.kts", "Gradle"),
        ("gradle/libs.versions.toml", "Gradle version catalog"),
        ("composer.json", "PHP Composer"),
        ("src/App/App.csproj", "NuGet"),
        ("Directory.Packages.props", "NuGet"),
        ("Package.swift", "SwiftPM"),
        ("pubspec.yaml", "Dart pub"),
        ("mix.exs", "Elixir Mix"),
        ("lib/pkg.cabal", "Haskell Cabal"),
    ],
)
def test_a_manifest_charter_does_not_read_is_an_unparsed_dependency_change(
    tmp_path: Path, name: str, ecosystem: str
) -> None:
    """Maven and Gradle builds often have no lockfile: a dependency added to pom.xml is a
    dependency change Charter cannot read, so it asks and needs a scan, never passes as
    no change at all."""
    added = "dependency a 1.0.0\ndependency evil 6.6.6\n"
    entry, code, rules = _unparsed_change(tmp_path, name, "dependency a 1.0.0\n", added)
    base = name.rsplit("/", 1)[-1]
    assert entry["path"] == name and f"{base} ({ecosystem}) is a manifest" in entry["reason"]
    assert code == 1 and {"SC-DEPENDENCY-FACTS-001", "SC-DEPENDENCY-SCAN-001"} <= rules


def test_a_manifest_beside_its_lockfile_leaves_the_scan_to_the_lockfile() -> None:
    from charter.facts.scan_coverage import required_files

    document = {
        "files": [
            {"path": "composer.json", "status": "modified"},
            {"path": "composer.lock", "status": "modified"},
            {"path": "pom.xml", "status": "modified"},
        ]
    }
    assert required_files(document) == ["composer.lock"]
    assert required_files({"files": document["files"][2:]}) == ["pom.xml"]
