"""charter.facts.github and `charter proposal from-github` on real octokit webhook payloads.

The payloads in tests/assets/github/ are real (see its README). No recorded REST API
answers exist for them, so the API answers below are HAND-MADE FIXTURES, written in the
test, following GitHub's documented response schema for
`GET /repos/{owner}/{repo}/pulls/{n}/files|reviews|commits`; they do not claim to be
recorded output.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import pytest

from charter.core import errors
from charter.core.errors import InputError
from charter.facts.github import NO_WHOLE_FILE, GitHubEvent, build_from_github, load_pages
from charter.facts.identities import IdentityMap
from charter.policy.proposal import validate
from tests.cli_helpers import invoke

ASSETS = Path(__file__).parent / "assets" / "github"
PAYLOADS = sorted(ASSETS.glob("*.json"))
HEAD_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"

# --- hand-made API answers (GitHub's documented schema, not recorded output) ---


def user(login: str, kind: str = "User") -> dict[str, Any]:
    return {"login": login, "id": 1, "type": kind}


def hand_made_files() -> list[dict[str, Any]]:
    return [
        {
            "sha": "0" * 40,
            "filename": "README.md",
            "status": "modified",
            "additions": 1,
            "deletions": 1,
            "changes": 2,
            "patch": "@@ -1 +1 @@\n-# Hello-World\n+# Hello-World!",
        }
    ]


def hand_made_commits() -> list[dict[str, Any]]:
    return [
        {
            "sha": HEAD_SHA,
            "commit": {
                "author": {"name": "Codertocat", "email": "codertocat@example.com"},
                "committer": {"name": "GitHub", "email": "noreply@github.com"},
                "message": "Update README.md\n\nWhy: clarity.\n\nSigned-off-by: Codertocat <c@x>",
            },
            "author": user("Codertocat"),
        }
    ]


def hand_made_reviews() -> list[dict[str, Any]]:
    return []


def api_dir(
    root: Path,
    number: int = 2,
    *,
    files: Any = None,
    reviews: Any = None,
    commits: Any = None,
    pull: bool = True,
) -> Path:
    """The saved answers, and (``pull``) ``pulls/N.json`` counting the lists given."""
    pulls = root / "api" / "pulls" / str(number)
    pulls.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, value, default, key in (
        ("files", files, hand_made_files(), "changed_files"),
        ("reviews", reviews, hand_made_reviews(), ""),
        ("commits", commits, hand_made_commits(), "commits"),
    ):
        value = default if value is None else value
        text = value if isinstance(value, str) else json.dumps(value)
        (pulls / f"{name}.json").write_text(text)
        counts[key] = 1 if isinstance(value, str) else len(value)
    if pull:
        (pulls.parent / f"{number}.json").write_text(json.dumps(saved_pull(**counts)))
    return root / "api"


def saved_pull(**fields: Any) -> dict[str, Any]:
    """``gh api repos/OWNER/NAME/pulls/2``: the pull request object, with its counts."""
    pr = json.loads((ASSETS / "pull_request.opened.payload.json").read_text())["pull_request"]
    return {**pr, **{k: v for k, v in fields.items() if k}}


def build(event: Path, api: Path | None, identities: IdentityMap | None = None) -> dict[str, Any]:
    return build_from_github(GitHubEvent(event=event, api_dir=api), identities or IdentityMap())


HUMANS = IdentityMap(humans=("Codertocat", "alice", "bob"))

# --- every real payload builds a valid proposal that check decides ---


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.name)
def test_every_payload_builds_a_proposal_check_decides(payload: Path, tmp_path: Path) -> None:
    api = api_dir(tmp_path)
    identities = tmp_path / "charter.toml"
    identities.write_text(
        '[identities]\nhumans = ["Codertocat"]\n'
        'human_emails = ["21031067+Codertocat@users.noreply.github.com"]\n'
    )
    built = invoke(
        "proposal", "from-github", "--event", str(payload), "--api-dir", str(api),
        "--identities", str(identities), "--environment", "staging",
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    doc = validate(json.loads(built.stdout))
    assert doc["repository"] == "Codertocat/Hello-World"
    assert doc["environment"] == "staging"
    assert doc["author"]["type"] == "human"
    # Piped back in, the document is a declaration again: the same map says who is human.
    decided = invoke("check", "-", "--identities", str(identities), "--no-audit",
                     "--format", "json", stdin=built.stdout)  # fmt: skip
    assert decided.returncode in (0, 1, 3), decided.stderr
    assert "Traceback" not in decided.stderr
    # Constitution 2.0.0: a human's missing citation block asks, it no longer denies.
    reasons = json.loads(decided.stdout)["reasons"]
    cites = [r for r in reasons if r["rule"].startswith("CITE-")]
    assert cites and all(r["verdict"] == "ask" for r in cites), cites


def test_pull_request_fields(tmp_path: Path) -> None:
    doc = build(ASSETS / "pull_request.opened.payload.json", api_dir(tmp_path), HUMANS)
    assert doc["kind"] == "pull_request"
    assert (doc["base"], doc["head"]) == ("master", "changes")
    assert (doc["base_sha"], doc["head_sha"]) == (
        "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
        HEAD_SHA,
    )
    assert doc["author"] == {"id": "Codertocat", "type": "human"}
    assert doc["title"] == "Update the README with new information."
    assert doc["body"].startswith("This is a pretty simple change")
    assert doc["labels"] == ["bug"]
    assert doc["files"] == [
        {
            "path": "README.md",
            "status": "modified",
            "previous_path": None,
            "patch": "@@ -1 +1 @@\n-# Hello-World\n+# Hello-World!",
        }
    ]
    (commit,) = doc["commits"]
    assert commit["subject"] == "Update README.md"
    assert commit["body"].startswith("Why: clarity.")
    assert commit["trailers"] == [{"key": "Signed-off-by", "value": "Codertocat <c@x>"}]
    assert commit["author"]["type"] == "human"
    assert doc["dependencies"] == {"changed": False, "changes": [], "unparsed": []}


def test_null_body_stays_null(tmp_path: Path) -> None:
    doc = build(ASSETS / "pull_request.opened.with-null-body.json", api_dir(tmp_path), HUMANS)
    assert doc["body"] is None


def test_closed_merged_pull_request_is_a_merge(tmp_path: Path) -> None:
    raw = json.loads((ASSETS / "pull_request.closed.payload.json").read_text())
    assert raw["pull_request"]["merged"] is False
    assert build(ASSETS / "pull_request.closed.payload.json", api_dir(tmp_path))["kind"] == (
        "pull_request"
    )
    raw["pull_request"]["merged"] = True
    event = tmp_path / "merged.json"
    event.write_text(json.dumps(raw))
    assert build(event, api_dir(tmp_path))["kind"] == "merge"


def test_unknown_identity_is_an_agent(tmp_path: Path) -> None:
    doc = build(ASSETS / "pull_request.opened.payload.json", api_dir(tmp_path))
    assert doc["author"]["type"] == "agent"
    assert doc["commits"][0]["author"]["type"] == "agent"


def test_agent_co_author_makes_the_pull_request_an_agents(tmp_path: Path) -> None:
    commits = hand_made_commits()
    commits[0]["commit"]["message"] = "Fix\n\nCo-authored-by: Helper <helper[bot]@users.x>"
    identities = IdentityMap(humans=("Codertocat",), agent_emails=("*[bot]@*",))
    doc = build(
        ASSETS / "pull_request.opened.payload.json", api_dir(tmp_path, commits=commits), identities
    )
    assert doc["author"]["type"] == "agent"


@pytest.mark.parametrize(
    ("committer", "expected"),
    [
        ({"name": "helper[bot]", "email": "h@example.com"}, "agent"),
        ({"name": "GitHub", "email": "noreply@github.com"}, "human"),  # web-flow: unknown
    ],
)
def test_a_committer_the_map_names_an_agent_makes_the_pull_request_an_agents(
    tmp_path: Path, committer: dict[str, str], expected: str
) -> None:
    commits = hand_made_commits()
    commits[0]["commit"]["committer"] = committer
    identities = IdentityMap(humans=("Codertocat",), agents=("*[bot]",))
    doc = build(
        ASSETS / "pull_request.opened.payload.json", api_dir(tmp_path, commits=commits), identities
    )
    assert doc["commits"][0]["author"]["type"] == "human"
    assert doc["author"]["type"] == expected


AGENT_7 = IdentityMap(humans=("Codertocat", "Alice"), agents=("agent-7",))


@pytest.mark.parametrize(
    ("role", "account", "expected"),
    [
        ("author", user("agent-7"), "agent"),
        ("committer", user("agent-7"), "agent"),
        ("committer", user("deploy", "Bot"), "agent"),
        ("committer", user("web-flow"), "human"),  # GitHub's web merges: unknown, no agent
        ("author", user("someone-else"), "human"),  # an unknown login is no agent
    ],
)
def test_a_commits_github_account_the_map_names_an_agent_is_an_agents(
    tmp_path: Path, role: str, account: dict[str, Any], expected: str
) -> None:
    """An agent that writes a human's name in git (``Alice``) is still the account GitHub
    matched to its email (``agent-7``): the pull request was a human's."""
    commits = hand_made_commits()
    commits[0]["commit"][role] = {"name": "Alice", "email": "alice@example.com"}
    commits[0]["commit"]["author" if role == "committer" else "committer"] = {
        "name": "Codertocat",
        "email": "codertocat@example.com",
    }
    commits[0]["author"] = user("Codertocat")
    commits[0][role] = account
    doc = build(
        ASSETS / "pull_request.opened.payload.json", api_dir(tmp_path, commits=commits), AGENT_7
    )
    assert doc["author"]["type"] == expected
    validate(doc)


@pytest.mark.parametrize("role", ["author", "committer"])
def test_a_pushed_commits_username_the_map_names_an_agent_is_an_agents(
    tmp_path: Path, role: str
) -> None:
    raw = json.loads((ASSETS / "push.payload.json").read_text())
    person = {"name": "Alice", "email": "alice@example.com", "username": "Alice"}
    raw["commits"] = [
        {
            "id": "a" * 40,
            "message": "Tidy",
            "author": person,
            "committer": person,
            "added": ["tmp.txt"],
            "modified": [],
            "removed": [],
        }
    ]
    event = tmp_path / "push.json"
    event.write_text(json.dumps(raw))
    assert build(event, None, AGENT_7)["author"]["type"] == "human"
    raw["commits"][0][role] = {**person, "username": "agent-7"}
    event.write_text(json.dumps(raw))
    assert build(event, None, AGENT_7)["author"]["type"] == "agent"


# --- files: statuses, renames, omitted patches, dependencies ---


def test_file_statuses_renames_and_omitted_patches(tmp_path: Path) -> None:
    files = [
        {"filename": "a.py", "status": "added", "patch": "@@ -0,0 +1 @@\n+a"},
        {"filename": "b.py", "status": "removed", "patch": "@@ -1 +0,0 @@\n-b"},
        {"filename": "new.py", "status": "renamed", "previous_filename": "old.py"},
        {"filename": "c.py", "status": "copied", "previous_filename": "a.py", "patch": "x"},
        {"filename": "d.py", "status": "changed", "patch": "y"},
        {"filename": "logo.png", "status": "modified"},
    ]
    raw = json.loads((ASSETS / "pull_request.opened.payload.json").read_text())
    raw["pull_request"]["changed_files"] = len(files)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(raw))
    doc = build(event, api_dir(tmp_path, files=files))
    got = {f["path"]: f for f in doc["files"]}
    assert [got[p]["status"] for p in ("a.py", "b.py", "new.py", "c.py", "d.py")] == [
        "added", "removed", "renamed", "added", "modified",
    ]  # fmt: skip
    assert got["new.py"]["previous_path"] == "old.py"
    assert got["c.py"]["previous_path"] is None
    assert got["logo.png"]["patch"] is None
    assert "GitHub omitted the patch" in got["logo.png"]["patch_omitted"]
    assert "patch_omitted" not in got["a.py"]


def test_changed_dependency_file_is_unparsed_not_dropped(tmp_path: Path) -> None:
    files = [
        {"filename": "package-lock.json", "status": "modified", "patch": "@@ -1 +1 @@\n-a\n+b"},
        {"filename": "requirements-dev.txt", "status": "renamed",
         "previous_filename": "requirements.txt"},
    ]  # fmt: skip
    raw = json.loads((ASSETS / "pull_request.opened.payload.json").read_text())
    raw["pull_request"]["changed_files"] = 2
    event = tmp_path / "event.json"
    event.write_text(json.dumps(raw))
    deps = build(event, api_dir(tmp_path, files=files))["dependencies"]
    assert deps["changed"] is True
    assert deps["unparsed"] == [
        {"path": "package-lock.json", "reason": NO_WHOLE_FILE},
        {"path": "requirements-dev.txt", "reason": NO_WHOLE_FILE},
        {"path": "requirements.txt", "reason": NO_WHOLE_FILE},
    ]


# --- reviews -> approvals ---


def review(login: str, state: str, kind: str = "User") -> dict[str, Any]:
    # GitHub's review ids are unique; one per reviewer and state here.
    ident = zlib.crc32(f"{login}/{state}".encode())
    return {"id": ident, "user": user(login, kind), "state": state, "body": ""}


def test_latest_deciding_review_per_user_wins(tmp_path: Path) -> None:
    reviews = [
        review("alice", "APPROVED"),
        review("alice", "COMMENTED"),  # a comment does not withdraw an approval
        review("bob", "APPROVED"),
        review("bob", "CHANGES_REQUESTED"),
        review("carol", "CHANGES_REQUESTED"),
        review("carol", "APPROVED"),
        review("dave", "APPROVED"),
        review("dave", "DISMISSED"),
        {"id": 9, "user": None, "state": "APPROVED"},  # deleted account
    ]
    doc = build(
        ASSETS / "pull_request.opened.payload.json", api_dir(tmp_path, reviews=reviews), HUMANS
    )
    assert doc["approvals"] == [
        {"by": "alice", "type": "human"},
        {"by": "carol", "type": "agent"},  # unknown to the map
    ]


def test_agent_approval_never_counts_as_human(tmp_path: Path) -> None:
    reviews = [
        review("alice", "APPROVED", kind="Bot"),  # GitHub says Bot: agent despite the map
        review("helper[bot]", "APPROVED"),
        review("Codertocat", "APPROVED"),  # the author's own approval is kept, with its type
    ]
    identities = IdentityMap(humans=("alice", "Codertocat"), agents=("*[bot]",))
    doc = build(
        ASSETS / "pull_request.opened.payload.json",
        api_dir(tmp_path, reviews=reviews),
        identities,
    )
    assert doc["approvals"] == [
        {"by": "alice", "type": "agent"},
        {"by": "helper[bot]", "type": "agent"},
        {"by": "Codertocat", "type": "human"},
    ]
    assert doc["author"] == {"id": "Codertocat", "type": "human"}


def test_bot_login_is_human_only_if_the_map_says_so(tmp_path: Path) -> None:
    reviews = [review("renovate[bot]", "APPROVED")]
    event = ASSETS / "pull_request.opened.payload.json"
    listed = build(event, api_dir(tmp_path, reviews=reviews), IdentityMap(humans=("*[bot]",)))
    assert listed["approvals"] == [{"by": "renovate[bot]", "type": "human"}]
    unlisted = build(event, api_dir(tmp_path, reviews=reviews), HUMANS)
    assert unlisted["approvals"] == [{"by": "renovate[bot]", "type": "agent"}]


def test_review_event_adds_the_payloads_review(tmp_path: Path) -> None:
    raw = json.loads((ASSETS / "pull_request_review.submitted.payload.json").read_text())
    raw["review"]["state"] = "approved"  # webhook states are lower case
    event = tmp_path / "review.json"
    event.write_text(json.dumps(raw))
    doc = build(event, api_dir(tmp_path), HUMANS)
    assert doc["approvals"] == [{"by": "Codertocat", "type": "human"}]
    commented = build(ASSETS / "pull_request_review.submitted.payload.json", api_dir(tmp_path))
    assert commented["approvals"] == []


def test_a_review_event_run_late_reads_its_review_as_the_answer_has_it_now(
    tmp_path: Path,
) -> None:
    # The approval was dismissed (or followed by changes requested) before the
    # workflow ran, or ran again: the event's copy of it is stale and must not
    # override what the answer says happened since.
    raw = json.loads((ASSETS / "pull_request_review.submitted.payload.json").read_text())
    raw["review"]["state"] = "approved"
    event = tmp_path / "review.json"
    event.write_text(json.dumps(raw))
    same = {"id": raw["review"]["id"], "user": user("Codertocat"), "commit_id": HEAD_SHA}
    dismissed = [{**same, "state": "DISMISSED"}]
    assert build(event, api_dir(tmp_path, reviews=dismissed), HUMANS)["approvals"] == []
    later = [{**same, "state": "APPROVED"}, {**same, "id": 7, "state": "CHANGES_REQUESTED"}]
    assert build(event, api_dir(tmp_path, reviews=later), HUMANS)["approvals"] == []


# --- paginated answers ---


def test_paginated_answers_concatenated_and_slurped(tmp_path: Path) -> None:
    page1 = [review("alice", "APPROVED")]
    page2 = [review("bob", "APPROVED"), review("alice", "CHANGES_REQUESTED")]
    concatenated = json.dumps(page1, indent=2) + json.dumps(page2) + "\n"
    doc = build(
        ASSETS / "pull_request.opened.payload.json",
        api_dir(tmp_path, reviews=concatenated),
        HUMANS,
    )
    assert doc["approvals"] == [{"by": "bob", "type": "human"}]
    slurped = tmp_path / "slurped.json"
    slurped.write_text(json.dumps([page1, page2]))
    assert [r["user"]["login"] for r in load_pages(slurped)] == ["alice", "bob", "alice"]


def test_files_answer_shorter_than_the_pull_request_is_refused(tmp_path: Path) -> None:
    raw = json.loads((ASSETS / "pull_request.opened.payload.json").read_text())
    raw["pull_request"]["changed_files"] = 3001
    event = tmp_path / "event.json"
    event.write_text(json.dumps(raw))
    with pytest.raises(InputError, match=r"files\.json: lists 1 entries .*changed_files=3001"):
        build(event, api_dir(tmp_path))


def test_answers_for_another_head_than_the_events_are_refused(tmp_path: Path) -> None:
    # A re-run of an old event after a force-push (same number of commits and files):
    # the answers describe the new head, the event's approvals the old one. Judging
    # the new commits with approvals of the old head would count unreviewed code.
    reviews = [{"id": 5, "user": user("alice"), "state": "APPROVED", "commit_id": HEAD_SHA}]
    rewritten = [{**hand_made_commits()[0], "sha": "f" * 40}]
    event = ASSETS / "pull_request.opened.payload.json"
    with pytest.raises(
        InputError, match=f"commits.json: .* do not include the event's head {HEAD_SHA[:12]}"
    ):
        build(event, api_dir(tmp_path, reviews=reviews, commits=rewritten), HUMANS)
    assert build(event, api_dir(tmp_path, reviews=reviews), HUMANS)["approvals"] == [
        {"by": "alice", "type": "human"}
    ]


# --- push ---


def test_tag_push_payload(tmp_path: Path) -> None:
    doc = build(ASSETS / "push.payload.json", None, HUMANS)
    assert doc["kind"] == "push"
    assert doc["head"] == "refs/tags/simple-tag"
    assert doc["head_sha"] == "0" * 40  # the tag was deleted
    assert doc["files"] == [] and doc["commits"] == []
    assert doc["author"]["type"] == "human"


def test_push_with_commits_lists_files_without_patches(tmp_path: Path) -> None:
    raw = json.loads((ASSETS / "push.payload.json").read_text())
    raw["commits"] = [
        {
            "id": "a" * 40,
            "message": "Add lock\n\nAgent: claude",
            "author": {"name": "Codertocat", "email": "c@example.com"},
            "committer": {"name": "Codertocat", "email": "c@example.com"},
            "added": ["go.sum", "tmp.txt"],
            "modified": ["main.go"],
            "removed": [],
        },
        {
            "id": "b" * 40,
            "message": "Drop tmp",
            "author": {"name": "Codertocat", "email": "c@example.com"},
            "committer": {"name": "Codertocat", "email": "c@example.com"},
            "added": [],
            "modified": [],
            "removed": ["tmp.txt"],
        },
    ]
    event = tmp_path / "push.json"
    event.write_text(json.dumps(raw))
    doc = build(event, None, HUMANS)
    assert {f["path"]: f["status"] for f in doc["files"]} == {
        "go.sum": "added",
        "main.go": "modified",
    }
    assert all(f["patch"] is None and f["patch_omitted"] for f in doc["files"])
    assert doc["author"]["type"] == "agent"  # Agent: trailer
    assert doc["dependencies"]["unparsed"] == [{"path": "go.sum", "reason": NO_WHOLE_FILE}]


def _push_commit(sha: str, **changes: list[str]) -> dict[str, Any]:
    person = {"name": "Codertocat", "email": "c@example.com"}
    return {
        "id": sha * 40,
        "message": f"step {sha}\n\nAgent: claude",
        "author": person,
        "committer": person,
        **{key: changes.get(key, []) for key in ("added", "modified", "removed")},
    }


def test_a_push_that_removes_re_adds_and_removes_a_file_still_lists_its_removal(
    tmp_path: Path,
) -> None:
    # The profile existed before the push; the push removes it (net). Removed, added
    # back and removed again, it must not vanish from the files the rules judge (it
    # did: the second "added" made the last "removed" look like an add undone).
    raw = json.loads((ASSETS / "push.payload.json").read_text())
    raw["commits"] = [
        _push_commit("a", removed=[".charter/profile.toml"]),
        _push_commit("b", added=[".charter/profile.toml"]),
        _push_commit("c", removed=[".charter/profile.toml"]),
        _push_commit("d", added=["tmp.txt"], modified=["main.go"]),
        _push_commit("e", removed=["tmp.txt"], modified=["main.go"]),
    ]
    event = tmp_path / "push.json"
    event.write_text(json.dumps(raw))
    doc = build(event, None, HUMANS)
    assert {f["path"]: f["status"] for f in doc["files"]} == {
        ".charter/profile.toml": "removed",
        "main.go": "modified",
    }
    proposal = tmp_path / "proposal.json"
    proposal.write_text(json.dumps(doc))
    result = invoke("check", str(proposal), "--no-audit", "--format", "json")
    assert result.returncode == 1, result.stdout
    assert "ENV-PROFILE-FILE-PROTECTED-001" in result.stdout


def test_a_push_that_removes_and_re_adds_a_file_lists_it(tmp_path: Path) -> None:
    raw = json.loads((ASSETS / "push.payload.json").read_text())
    raw["commits"] = [
        _push_commit("a", removed=[".charter/profile.toml"]),
        _push_commit("b", added=[".charter/profile.toml"]),
    ]
    event = tmp_path / "push.json"
    event.write_text(json.dumps(raw))
    doc = build(event, None, HUMANS)
    assert {f["path"]: f["status"] for f in doc["files"]} == {".charter/profile.toml": "modified"}


# --- bad input: exit 2, one line naming the file ---


def run_bad(*args: str) -> str:
    result = invoke("proposal", "from-github", *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_bad_events(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"pull_request": ')
    assert "bad.json:1:" in run_bad("--event", str(bad))
    issue = tmp_path / "issues.json"
    issue.write_text('{"action": "opened", "issue": {}}')
    assert "unsupported GitHub event" in run_bad("--event", str(issue))
    missing = tmp_path / "missing.json"
    assert "missing.json: cannot read" in run_bad("--event", str(missing))
    no_number = tmp_path / "no-number.json"
    no_number.write_text('{"pull_request": {"user": {"login": "x"}}}')
    assert "number is missing" in run_bad("--event", str(no_number))


def test_pull_request_without_api_dir_is_refused() -> None:
    line = run_bad("--event", str(ASSETS / "pull_request.opened.payload.json"))
    assert "needs --api-dir" in line and "pulls/2/files.json" in line


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("files", "[{", "files.json:1:"),
        ("reviews", '{"message": "Not Found"}', "reviews.json: must be a JSON array"),
        ("commits", "[1]", "commits.json: item 0 must be an object"),
        ("files", "", "files.json: empty"),
        ("files", '[{"filename": "a", "status": "exploded"}]', "unknown status 'exploded'"),
        ("commits", '[{"sha": "x"}]', "commits.json: item 0: commit is missing"),
        ("reviews", '[{"user": {"login": "a"}}]', "reviews.json: item 0: state is missing"),
    ],
)
def test_bad_api_answers(tmp_path: Path, name: str, content: str, expected: str) -> None:
    api = api_dir(tmp_path, **{name: content})
    line = run_bad(
        "--event", str(ASSETS / "pull_request.opened.payload.json"), "--api-dir", str(api)
    )
    assert expected in line


def test_missing_api_answer(tmp_path: Path) -> None:
    api = api_dir(tmp_path)
    (api / "pulls" / "2" / "reviews.json").unlink()
    line = run_bad(
        "--event", str(ASSETS / "pull_request.opened.payload.json"), "--api-dir", str(api)
    )
    assert "reviews.json: cannot read" in line


def test_errors_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        build(ASSETS / "pull_request.opened.payload.json", None)
    assert errors.exit_code(caught.value) == 2


def test_bot_suffix_glob_is_literal_not_a_character_class() -> None:
    # Regression: fnmatch read "*[bot]" as "ends in b, o or t", so the human
    # "Codertocat" (ends in t) was classified as an agent by an agents pattern.
    identities = IdentityMap(humans=("Codertocat",), agents=("*[bot]",))
    assert identities.classify("Codertocat", "") == "human"
    assert identities.classify("dependabot[bot]", "") == "agent"
    assert IdentityMap(humans=("*[bot]",)).classify("Robot", "") == "agent"  # unknown


def test_release_event(tmp_path: Path) -> None:
    # HAND-MADE event: no real release payload is among the shared samples; the fields
    # follow GitHub's documented `release` webhook schema.
    event = tmp_path / "release.json"
    event.write_text(
        json.dumps(
            {
                "action": "published",
                "release": {
                    "tag_name": "v1.2.0",
                    "target_commitish": "main",
                    "name": None,
                    "body": "Notes",
                    "author": user("release-bot[bot]", "Bot"),
                },
                "repository": {"full_name": "acme/app"},
                "sender": user("release-bot[bot]", "Bot"),
            }
        )
    )
    built = invoke("proposal", "from-github", "--event", str(event))
    assert built.returncode == 0, built.stderr
    doc = validate(json.loads(built.stdout))
    assert (doc["kind"], doc["head"], doc["title"], doc["body"]) == (
        "release", "v1.2.0", "v1.2.0", "Notes",
    )  # fmt: skip
    assert doc["author"] == {"id": "release-bot[bot]", "type": "agent"}
    decided = invoke("check", "-", stdin=built.stdout)
    assert decided.returncode in (0, 1, 3), decided.stderr
    broken = tmp_path / "broken-release.json"
    broken.write_text('{"release": {"author": {"login": "x"}}, "repository": {"full_name": "a/b"}}')
    assert "release: tag_name is missing" in run_bad("--event", str(broken))


# --- answers that are not the event's, or not all of it (GitHub's limits) ---


def review_event(tmp_path: Path) -> Path:
    """The real pull_request_review payload: its pull_request has no changed_files/commits."""
    raw = json.loads((ASSETS / "pull_request_review.submitted.payload.json").read_text())
    assert "changed_files" not in raw["pull_request"] and "commits" not in raw["pull_request"]
    assert raw["pull_request"]["head"]["sha"] == HEAD_SHA
    event = tmp_path / "review.json"
    event.write_text(json.dumps(raw))
    return event


def commit(sha: str, *parents: str, name: str = "Codertocat") -> dict[str, Any]:
    return {
        "sha": sha,
        "commit": {"author": {"name": name, "email": f"{name}@example.com"}, "message": "m"},
        "parents": [{"sha": p} for p in parents],
    }


def test_a_commit_on_top_of_the_events_head_is_refused_without_counts(tmp_path: Path) -> None:
    # A review event (no counts in its payload) decided after the agent pushed one more
    # commit: the head is still listed, but the files are those of the newer head.
    later = commit("c" * 40, HEAD_SHA, name="agent")
    ok = [commit(HEAD_SHA, "b" * 40)]
    event = review_event(tmp_path)
    assert build(event, api_dir(tmp_path, commits=ok), HUMANS)["commits"][0]["sha"] == HEAD_SHA
    with pytest.raises(InputError, match=r"commits\.json: .*on top of the event's head"):
        build(event, api_dir(tmp_path, commits=[*ok, later]), HUMANS)


def test_a_review_event_without_a_saved_pull_request_is_refused(tmp_path: Path) -> None:
    # A review event's payload has no changed_files/commits. A files answer saved
    # without --paginate is GitHub's first page of 30: without pulls/N.json nothing
    # says the pull request has more, so the proposal would shrink to those 30.
    page = [{"filename": f"f{i}", "status": "added", "patch": "+x"} for i in range(30)]
    event = review_event(tmp_path)
    api = api_dir(tmp_path, files=page, pull=False)
    line = run_bad("--event", str(event), "--api-dir", str(api))
    saved = api / "pulls" / "2.json"
    assert f"error: {saved}: missing; " in line and "no changed_files/commits" in line
    assert f"gh api repos/Codertocat/Hello-World/pulls/2 > {saved}" in line
    (saved).write_text(json.dumps(saved_pull(changed_files=31, commits=1)))
    with pytest.raises(InputError, match=r"files\.json: lists 30 entries .*changed_files=31"):
        build(event, api, HUMANS)
    assert len(build(event, api_dir(tmp_path, files=page), HUMANS)["files"]) == 30


@pytest.mark.parametrize("missing", ["changed_files", "commits"])
def test_a_saved_pull_request_without_counts_is_refused(tmp_path: Path, missing: str) -> None:
    # E.g. the event's own pull_request saved as pulls/N.json: it has no counts either.
    event = review_event(tmp_path)
    api = api_dir(tmp_path)
    counted = saved_pull(changed_files=1, commits=1)
    (api / "pulls" / "2.json").write_text(json.dumps({**counted, missing: None}))
    with pytest.raises(InputError, match=rf"2\.json: {missing} is not int"):
        build(event, api, HUMANS)


@pytest.mark.parametrize(
    ("name", "items", "needle"),
    [
        ("files", [*hand_made_files(), *hand_made_files()],
         "files.json: item 1 repeats 'README.md'"),
        ("commits", [*hand_made_commits(), *hand_made_commits()],
         f"commits.json: item 1 repeats '{HEAD_SHA}'"),
        ("reviews", [review("alice", "APPROVED"), review("alice", "APPROVED")],
         "reviews.json: item 1 repeats "),
    ],
)  # fmt: skip
def test_a_repeated_entry_is_refused(
    tmp_path: Path, name: str, items: list[Any], needle: str
) -> None:
    # Overlapping or repeated pages: with the counts matching, a repeated entry means
    # another one is missing.
    raw = json.loads((ASSETS / "pull_request.opened.payload.json").read_text())
    raw["pull_request"][{"files": "changed_files", "commits": "commits"}.get(name, "x")] = 2
    event = tmp_path / "event.json"
    event.write_text(json.dumps(raw))
    with pytest.raises(InputError) as caught:
        build(event, api_dir(tmp_path, **{name: items}), HUMANS)
    assert needle in str(caught.value)


def test_reviews_of_another_pull_request_are_refused(tmp_path: Path) -> None:
    url = "https://api.github.com/repos/Codertocat/Hello-World/pulls/{}"
    other = [{**review("alice", "APPROVED"), "pull_request_url": url.format(3)}]
    event = ASSETS / "pull_request.opened.payload.json"
    with pytest.raises(InputError, match=r"reviews\.json: item 0 is a review of .*pulls/3"):
        build(event, api_dir(tmp_path, reviews=other), HUMANS)
    own = [{**review("alice", "APPROVED"), "pull_request_url": url.format(2)}]
    assert build(event, api_dir(tmp_path, reviews=own), HUMANS)["approvals"] != []


def test_an_empty_commits_answer_is_refused_without_counts(tmp_path: Path) -> None:
    # Every pull request has a commit; an empty answer (a lost page) would hide an
    # agent's commits and leave the pull request its (human) opener's.
    with pytest.raises(InputError, match=r"commits\.json: .* do not include the event's head"):
        build(review_event(tmp_path), api_dir(tmp_path, commits=[]), HUMANS)


def test_a_review_event_is_counted_by_a_saved_pull_request(tmp_path: Path) -> None:
    # gh api repos/OWNER/NAME/pulls/N > DIR/pulls/N.json: the counts a review event's
    # payload lacks (a files answer saved without --paginate is one page of 30).
    event = review_event(tmp_path)
    api = api_dir(tmp_path)
    pull = json.loads((ASSETS / "pull_request.opened.payload.json").read_text())["pull_request"]
    (api / "pulls" / "2.json").write_text(json.dumps({**pull, "changed_files": 31}))
    with pytest.raises(InputError, match=r"files\.json: lists 1 entries .*changed_files=31"):
        build(event, api, HUMANS)
    (api / "pulls" / "2.json").write_text(json.dumps({**pull, "head": {"sha": "f" * 40}}))
    with pytest.raises(InputError, match=r"2\.json: the head is now ffffffffffff"):
        build(event, api, HUMANS)
    (api / "pulls" / "2.json").write_text(json.dumps(pull))
    assert build(event, api, HUMANS)["files"][0]["path"] == "README.md"
