"""`charter proposal from-git` prints a valid proposal that `charter check -` decides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.policy.proposal import validate
from tests.cli_helpers import invoke
from tests.test_facts_git import commit, git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "app.py").write_text("print('hi')\n")
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "topic")
    (root / "app.py").write_text("print('hello')\n")
    (root / "requirements.txt").write_text("requests==2.31.0\n")
    commit(root, "Say hello\n\nLonger story.\n\nAgent: claude", author="Ada <ada@example.com>")
    return root


def test_prints_a_valid_proposal_that_check_decides(repo: Path, tmp_path: Path) -> None:
    identities = tmp_path / "charter.toml"
    identities.write_text('[identities]\nhumans = ["Ada"]\n')
    built = invoke(
        "proposal", "from-git", "--repo", str(repo), "--base", "main", "--head", "topic",
        "--identities", str(identities), "--repository", "acme/app", "--environment", "staging",
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    doc = validate(json.loads(built.stdout))
    assert doc["repository"] == "acme/app"
    assert doc["environment"] == "staging"
    assert doc["head"] == "topic"
    assert doc["title"] == "Say hello"
    assert doc["author"] == {"id": "ada@example.com", "type": "agent"}  # Agent: trailer
    assert doc["dependencies"]["changed"] is True
    assert [c["name"] for c in doc["dependencies"]["changes"]] == ["requests"]
    decided = invoke("check", "-", stdin=built.stdout)
    assert decided.returncode in (0, 1, 3), decided.stderr
    assert "Traceback" not in decided.stderr


def test_body_file_and_kind(repo: Path, tmp_path: Path) -> None:
    body = tmp_path / "body.md"
    body.write_text("From a file.\n")
    built = invoke(
        "proposal", "from-git", "--repo", str(repo), "--base", "main", "--head", "topic",
        "--kind", "push", "--body-file", str(body),
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    doc = json.loads(built.stdout)
    assert doc["kind"] == "push"
    assert doc["body"] == "From a file.\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--base", "main", "--head", "no-such-branch"), "head 'no-such-branch' does not name"),
        (("--base", "nope", "--head", "topic"), "base 'nope' does not name"),
    ],
)
def test_bad_refs_exit_2_with_one_line(repo: Path, args: tuple[str, ...], message: str) -> None:
    result = invoke("proposal", "from-git", "--repo", str(repo), *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_non_repository_exits_2_with_one_line(tmp_path: Path) -> None:
    result = invoke("proposal", "from-git", "--repo", str(tmp_path), "--base", "a", "--head", "b")
    assert result.returncode == 2
    assert "not a git repository" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_bad_identities_file_exits_2(repo: Path, tmp_path: Path) -> None:
    bad = tmp_path / "ids.toml"
    bad.write_text('[identities]\nagents = "x"\n')
    result = invoke(
        "proposal", "from-git", "--repo", str(repo), "--base", "main", "--head", "topic",
        "--identities", str(bad),
    )  # fmt: skip
    assert result.returncode == 2
    assert "identities.agents must be a list" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
