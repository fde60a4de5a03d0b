"""The Environment Profile a change is decided under is its base's (docs/design.md).

A change that edits ``.charter/profile.toml`` — directly, or through a symbolic link
(the file a link, a folder on the way a link, a link the change retargets, the middle
link of a chain) — proposes a profile; the one it is decided under is read as of the
base, through the base's own links. ``check --staged``, ``check --git``,
``check --github-event`` and ``ci github`` give the same answer (real repositories).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.core import jsonio
from charter.core.digests import sha256_text
from charter.core.errors import InputError
from charter.facts import profile as profile_facts
from charter.policy.profile import parse_profile
from tests.cli_helpers import invoke
from tests.test_action import pull_request_event, run_step
from tests.test_facts_git import commit, git
from tests.test_profile import CITATION, PLAIN, PROFILE

PATH = ".charter/profile.toml"
NOW = "2026-11-20T10:00:00Z"


def tool(profile: object) -> str | None:
    tools = getattr(profile, "tools", None)
    return tools["vulnerability-scan"]["tool"] if tools else None


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "app.py").write_text("x = 1\n")
    return root


def layout(root: Path, how: str) -> Path:
    """Commit the FIPS profile on main as ``how`` reaches it; the file the change edits."""
    (root / "conf").mkdir()
    (root / "conf" / "profile.toml").write_text(PROFILE)
    if how == "file":
        (root / ".charter").mkdir()
        (root / ".charter" / "profile.toml").write_text(PROFILE)
        edited = root / ".charter" / "profile.toml"
    elif how == "file-link":
        (root / ".charter").mkdir()
        (root / ".charter" / "profile.toml").symlink_to("../conf/profile.toml")
        edited = root / "conf" / "profile.toml"
    else:  # folder-link
        (root / ".charter").symlink_to("conf")
        edited = root / "conf" / "profile.toml"
    commit(root, "base")
    return edited


@pytest.mark.parametrize("how", ["file", "file-link", "folder-link"])
def test_a_change_editing_the_profile_is_decided_under_the_base_one(repo: Path, how: str) -> None:
    edited = layout(repo, how)
    git(repo, "checkout", "-q", "-b", "agent")
    edited.write_text(PLAIN)
    commit(repo, "swap")
    ctx = profile_facts.for_range(repo, "main", "agent", PATH, pull_request=True)
    assert (tool(ctx.current), ctx.changes_file, tool(ctx.proposed)) == (
        "grype-fips",
        True,
        "grype",
    )
    git(repo, "checkout", "-q", "main")
    edited.write_text(PLAIN)
    git(repo, "add", "-A")
    staged = profile_facts.for_staged(repo, PATH)
    assert (tool(staged.current), staged.changes_file, tool(staged.proposed)) == (
        "grype-fips", True, "grype",
    )  # fmt: skip


@pytest.mark.parametrize("retargeted", ["file-link", "folder-link", "chain-middle"])
def test_a_link_the_change_retargets_is_read_at_the_base(repo: Path, retargeted: str) -> None:
    (repo / "conf").mkdir()
    (repo / "conf" / "profile.toml").write_text(PROFILE)
    (repo / "mine").mkdir()
    (repo / "mine" / "profile.toml").write_text(PLAIN)
    (repo / ".charter").mkdir() if retargeted == "file-link" else None
    link = {
        "file-link": repo / ".charter" / "profile.toml",
        "folder-link": repo / ".charter",
        "chain-middle": repo / "mid",
    }[retargeted]
    if retargeted == "file-link":
        link.symlink_to("../conf/profile.toml")
    elif retargeted == "folder-link":
        link.symlink_to("conf")
    else:  # .charter -> mid -> conf
        (repo / ".charter").symlink_to("mid")
        link.symlink_to("conf")
    commit(repo, "base")
    git(repo, "checkout", "-q", "-b", "agent")
    link.unlink()
    link.symlink_to("../mine/profile.toml" if retargeted == "file-link" else "mine")
    commit(repo, "retarget")
    assert (repo / PATH).read_text() == PLAIN  # the checkout holds the change's profile
    ctx = profile_facts.for_range(repo, "main", "agent", PATH, pull_request=True)
    assert (tool(ctx.current), ctx.changes_file, tool(ctx.proposed)) == (
        "grype-fips",
        True,
        "grype",
    )


def test_a_profile_link_leaving_the_repository_is_refused(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.toml").write_text(PLAIN)
    (repo / ".charter").mkdir()
    (repo / ".charter" / "profile.toml").symlink_to(tmp_path / "outside.toml")
    commit(repo, "base")
    with pytest.raises(InputError, match="leads out of the repository"):
        profile_facts.for_range(repo, "HEAD", "HEAD", PATH, pull_request=False)


# ------------------------------------------------------------------ the four ways in


def swap_branch(repo: Path, how: str) -> tuple[str, Path]:
    """main: the profile as ``how`` reaches it; agent: the profile edited to PLAIN."""
    edited = layout(repo, how)
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "agent")
    edited.write_text(PLAIN)
    commit(repo, f"Swap the scanner\n\n{CITATION}")
    return base, edited


def rewrite(event: Path, **fields: int) -> Path:
    payload = json.loads(event.read_text())
    payload["pull_request"].update(fields)
    event.write_text(json.dumps(payload))
    return event


def api_dir(tmp_path: Path, repo: Path, base: str) -> Path:
    """What GitHub's API answers for the pull request main..agent (pull request 2)."""
    files = []
    for line in git(repo, "diff", "--name-status", "--no-renames", base, "agent").splitlines():
        status, name = line.split("\t")
        patch = git(repo, "diff", base, "agent", "--", name)
        files.append(
            {
                "sha": "0" * 40,
                "filename": name,
                "status": {"A": "added", "D": "removed"}.get(status, "modified"),
                "patch": patch[patch.index("@@") :].rstrip("\n"),
            }
        )
    head = git(repo, "rev-parse", "agent").strip()
    author = {"name": "Ada", "email": "ada@example.com"}
    message = f"Swap the scanner\n\n{CITATION}"
    commits = [{"sha": head, "commit": {"author": author, "message": message}, "author": None}]
    pulls = tmp_path / "api" / "pulls" / "2"
    pulls.mkdir(parents=True)
    for name, items in (("files", files), ("reviews", []), ("commits", commits)):
        (pulls / f"{name}.json").write_text(json.dumps(items))
    return tmp_path / "api"


def answer(stdout: str) -> tuple[str, list[str], list[tuple[str, str]]]:
    """The Environment Profile part of a decision: the digest of the profile it was made
    under, its ENV- rules and the profile diff."""
    doc = json.loads(stdout)
    rules = sorted(r["rule"] for r in doc["reasons"] if r["rule"].startswith("ENV-"))
    diff = sorted((c["category"], c["attribute"]) for c in doc["profile_diff"])
    return doc["profile"]["digest"], rules, diff


@pytest.mark.parametrize("how", ["file", "folder-link"])
def test_staged_git_github_event_and_ci_github_agree(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path, how: str
) -> None:
    base, edited = swap_branch(repo, how)
    ids = tmp_path / "ids.toml"
    ids.write_text('[identities]\nagents = ["Ada", "Codertocat"]\n')
    common = ("--repo", str(repo), "--now", NOW, "--no-audit", "--format", "json",
              "--identities", str(ids))  # fmt: skip
    git_run = invoke("check", "--git", "main..agent", *common)
    event = pull_request_event(tmp_path, repo, base, f"Swap the scanner\n\n{CITATION}")
    event = rewrite(event, changed_files=1, commits=1)
    api = ("--api-dir", str(api_dir(tmp_path, repo, base)))
    event_run = invoke("check", "--github-event", str(event), *api, *common)
    ci_run, outputs, _ = run_step(
        monkeypatch, tmp_path, event, repo, identities=str(ids), format="json"
    )
    assert outputs["built-from"] == "git", ci_run.stderr
    git(repo, "checkout", "-q", "main")
    edited.write_text(PLAIN)
    git(repo, "add", "-A")
    staged_run = invoke("check", "--staged", *common)
    runs = (git_run, event_run, ci_run, staged_run)
    assert all(r.returncode in (0, 1, 3) for r in runs), "; ".join(
        f"{r.returncode} {r.stderr}" for r in runs
    )
    answers = [answer(r.stdout) for r in runs]
    base_digest = sha256_text(jsonio.canonical(parse_profile(PROFILE, "base").tools))
    assert answers[0][0] == base_digest  # decided under the base's profile, not PLAIN
    assert ("vulnerability-scan", "tool") in answers[0][2]
    assert answers == [answers[0]] * 4, answers


@pytest.mark.parametrize("how", ["file-link", "folder-link"])
def test_an_undeclared_edit_through_a_link_is_seen_by_the_protection_rule(
    repo: Path, how: str
) -> None:
    """Constitution 3.0.0: the diff shows conf/profile.toml, the rule still fires."""
    swap_branch(repo, how)
    result = invoke("check", "--git", "main..agent", "--repo", str(repo), "--now", NOW,
                    "--no-audit", "--format", "json")  # fmt: skip
    assert "ENV-PROFILE-FILE-PROTECTED-001" in answer(result.stdout)[1]


def test_a_declared_edit_through_a_linked_folder_is_not_held_by_the_protection_rule(
    repo: Path,
) -> None:
    layout(repo, "folder-link")
    git(repo, "checkout", "-q", "-b", "agent")
    (repo / "conf" / "profile.toml").write_text(PLAIN)
    declared = CITATION.replace('rollback: "y"\n', 'rollback: "y"\nprofile_change: true\n')
    assert "profile_change: true" in declared
    commit(repo, f"Swap the scanner\n\n{declared}")
    result = invoke("check", "--git", "main..agent", "--repo", str(repo), "--now", NOW,
                    "--no-audit", "--format", "json")  # fmt: skip
    assert "ENV-PROFILE-FILE-PROTECTED-001" not in answer(result.stdout)[1]


@pytest.mark.parametrize("what", ["loop", "folder"])
def test_a_profile_link_to_a_loop_or_a_folder_is_one_line_not_a_traceback(
    repo: Path, what: str
) -> None:
    (repo / "conf").mkdir()
    (repo / "conf" / "x.toml").write_text(PROFILE)
    (repo / ".charter").mkdir()
    if what == "loop":
        (repo / "loop-a").symlink_to("loop-b")
        (repo / "loop-b").symlink_to("loop-a")
    (repo / PATH).symlink_to("../loop-a" if what == "loop" else "../conf")
    commit(repo, "base")
    result = invoke("check", "--git", "HEAD..HEAD", "--repo", str(repo), "--now", NOW,
                    "--no-audit", "--format", "json")  # fmt: skip
    assert result.returncode == 2 and result.stdout == "", result.stdout
    assert "Traceback" not in result.stderr and PATH in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


@pytest.mark.parametrize("how", ["file-link", "folder-link"])
@pytest.mark.parametrize("source", ["git", "staged"])
def test_an_edit_through_a_link_is_seen_with_an_explicit_profile(
    repo: Path, how: str, source: str
) -> None:
    """``--profile .charter/profile.toml`` (CI spelling out the default) read the file
    but never the change's own version of it: an agent's edit through a link was
    allowed, while without --profile it is denied."""
    swap_branch(repo, how)
    change = ("--git", "main..agent")
    if source == "staged":
        git(repo, "checkout", "-q", "main")
        git(repo, "checkout", "-q", "agent", "--", ".")  # the agent's profile, staged
        change = ("--staged",)
    profile = str(repo / PATH)
    result = invoke("check", *change, "--profile", profile, "--repo", str(repo), "--now", NOW,
                    "--no-audit", "--format", "json")  # fmt: skip
    assert result.returncode in (0, 1, 3), result.stderr
    digest, rules, diff = answer(result.stdout)
    assert "ENV-PROFILE-FILE-PROTECTED-001" in rules
    assert ("vulnerability-scan", "tool") in diff
    assert digest == sha256_text(jsonio.canonical(parse_profile(PROFILE, "base").tools))


def test_a_profile_elsewhere_in_the_repository_is_protected_too(repo: Path) -> None:
    """``--profile ci/profile.toml``: the file decisions are made under is not the
    constitution's ``profile_file``; an agent's edit of it was allowed."""
    (repo / "ci").mkdir()
    (repo / "ci" / "profile.toml").write_text(PROFILE)
    commit(repo, "base")
    git(repo, "checkout", "-q", "-b", "agent")
    (repo / "ci" / "profile.toml").write_text(PLAIN)
    commit(repo, f"Swap the scanner\n\n{CITATION}")
    common = ("--profile", str(repo / "ci" / "profile.toml"), "--repo", str(repo),
              "--now", NOW, "--no-audit", "--format", "json")  # fmt: skip
    result = invoke("check", "--git", "main..agent", *common)
    assert result.returncode in (0, 1, 3), result.stderr
    assert "ENV-PROFILE-FILE-PROTECTED-001" in answer(result.stdout)[1]
    unchanged = invoke("check", "--git", "main..main", *common)
    assert unchanged.returncode in (0, 1, 3), unchanged.stderr
    reasons = json.loads(unchanged.stdout)["reasons"]
    assert "ENV-PROFILE-FILE-PROTECTED-001" not in {r["rule"] for r in reasons}


@pytest.mark.xfail(
    strict=True,
    reason="design gap: a GitHub event decided without its base commit in the checkout "
    "(actions/checkout's default fetch-depth 1) has no profile at all (the stack's default "
    "lists) and no proposed one, so an edit through a linked folder is never seen",
)
def test_an_edit_through_a_link_is_seen_without_the_base_in_the_checkout(
    tmp_path: Path, repo: Path
) -> None:
    base, _ = swap_branch(repo, "folder-link")
    shallow = tmp_path / "shallow"  # the head commit alone, as a depth-1 checkout
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "agent", repo.as_uri(), str(shallow))
    event = pull_request_event(tmp_path, repo, base, f"Swap the scanner\n\n{CITATION}")
    event = rewrite(event, changed_files=1, commits=1)
    result = invoke("check", "--github-event", str(event),
                    "--api-dir", str(api_dir(tmp_path, repo, base)), "--repo", str(shallow),
                    "--now", NOW, "--no-audit", "--format", "json")  # fmt: skip
    assert result.returncode in (0, 1, 3), result.stderr
    reasons = json.loads(result.stdout)["reasons"]
    assert "ENV-PROFILE-FILE-PROTECTED-001" in {r["rule"] for r in reasons}


def test_an_event_without_its_commits_in_the_checkout_says_so(tmp_path: Path, repo: Path) -> None:
    """The known limit is visible: a depth-1 checkout of the head alone decides under the
    stack's default lists, and standard error says why and how to fetch the commits."""
    base, _ = swap_branch(repo, "folder-link")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "agent", repo.as_uri(), str(shallow))
    event = pull_request_event(tmp_path, repo, base, f"Swap the scanner\n\n{CITATION}")
    event = rewrite(event, changed_files=1, commits=1)
    answers = api_dir(tmp_path, repo, base)
    result = invoke("check", "--github-event", str(event), "--api-dir", str(answers),
                    "--repo", str(shallow), "--now", NOW, "--no-audit",
                    "--format", "json")  # fmt: skip
    assert result.returncode in (0, 1, 3), result.stderr
    json.loads(result.stdout)  # the decision itself is still only JSON on standard output
    assert "are not in the checkout at" in result.stderr
    assert "actions/checkout fetch-depth: 0" in result.stderr
    # Outside any repository (API answers alone) nothing is said: there is no checkout.
    bare = tmp_path / "no-checkout"
    bare.mkdir()
    quiet = invoke("check", "--github-event", str(event), "--api-dir", str(answers),
                   "--repo", str(bare), "--now", NOW, "--no-audit", "--format", "json")  # fmt: skip
    assert quiet.returncode in (0, 1, 3), quiet.stderr
    assert "are not in the checkout" not in quiet.stderr


def test_a_profile_spelled_in_another_case_is_protected(repo: Path) -> None:
    """Constitution 3.0.0: on a case-insensitive file system (macOS, Windows) a checkout
    of .charter/PROFILE.toml overwrites .charter/profile.toml, which the runner and
    `check PROPOSAL.json` read from the work tree."""
    (repo / ".charter").mkdir()
    (repo / ".charter" / "profile.toml").write_text(PROFILE)
    commit(repo, "base")
    git(repo, "checkout", "-q", "-b", "agent")
    (repo / ".charter" / "PROFILE.toml").write_text(PLAIN)
    commit(repo, f"Swap the scanner\n\n{CITATION}")
    result = invoke("check", "--git", "main..agent", "--repo", str(repo), "--now", NOW,
                    "--no-audit", "--format", "json")  # fmt: skip
    assert result.returncode in (0, 1, 3), result.stderr
    reasons = json.loads(result.stdout)["reasons"]
    assert "ENV-PROFILE-FILE-PROTECTED-001" in {r["rule"] for r in reasons}


def test_an_event_whose_commits_are_in_a_shallow_checkout_is_not_decided_without_a_profile(
    tmp_path: Path, repo: Path
) -> None:
    """Both commits fetched, their merge base not (a depth-1 fetch of each branch): the
    profile cannot be read at the base, and the decision was made under the stack's
    default lists with no proposed profile (an edit through a link allowed) instead of
    refused as a shallow clone is everywhere else."""
    fork, _ = swap_branch(repo, "folder-link")
    git(repo, "checkout", "-q", "main")
    (repo / "app.py").write_text("x = 2\n")
    commit(repo, "main moves on")
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "agent")  # the event's head
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", "--no-single-branch", repo.as_uri(), str(shallow))
    event = pull_request_event(tmp_path, repo, base, f"Swap the scanner\n\n{CITATION}")
    event = rewrite(event, changed_files=1, commits=1)
    api = tmp_path / "answers"
    api.mkdir()
    result = invoke("check", "--github-event", str(event),
                    "--api-dir", str(api_dir(api, repo, fork)), "--repo", str(shallow),
                    "--now", NOW, "--no-audit", "--format", "json")  # fmt: skip
    assert result.returncode == 2, result.stdout
    assert "share no history" in result.stderr
