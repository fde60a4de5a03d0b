"""Fetching a pull request's API answers with GITHUB_TOKEN (charter.facts.github_api).

A real HTTP server on 127.0.0.1 (tests/github_api_helpers.py) serves the answers
in pages with GitHub's Link headers. The answers are the HAND-MADE fixtures of
tests/test_facts_github.py (GitHub's documented schema; no recorded answers exist
for the octokit payloads), extended to several files, commits and reviews so
pagination is exercised. The event is the real octokit payload, with its
changed_files/commits counts set to match the answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from charter.core.errors import InputError
from charter.facts.github import GitHubEvent, build_from_github
from charter.facts.github_api import Api, GitHubApiError, from_environment
from charter.facts.identities import IdentityMap
from tests.cli_helpers import invoke
from tests.github_api_helpers import FakeGitHub, Override, Page, pull_lists, serve
from tests.test_facts_github import ASSETS, HEAD_SHA, hand_made_commits, hand_made_files, user

TOKEN = "ghs_TESTONLYtoken0123456789"
REPO = "Codertocat/Hello-World"
NOW = "2026-11-20T10:00:00Z"


def files() -> list[dict[str, Any]]:
    extra = [
        {"sha": "1" * 40, "filename": "docs/a.md", "status": "added", "patch": "@@ -0,0 +1 @@\n+a"},
        {"sha": "2" * 40, "filename": "logo.png", "status": "added"},
    ]
    return hand_made_files() + extra


def commits() -> list[dict[str, Any]]:
    first = json.loads(json.dumps(hand_made_commits()[0]))
    first["sha"] = "a" * 40
    first["commit"]["message"] = "Add docs\n\nCo-authored-by: Bot <bot@example.com>"
    return [first, *hand_made_commits()]


def reviews() -> list[dict[str, Any]]:
    return [
        {"id": 1, "user": user("alice"), "state": "APPROVED", "commit_id": HEAD_SHA},
        {"id": 2, "user": user("bob"), "state": "COMMENTED", "commit_id": HEAD_SHA},
        {"id": 3, "user": user("bob"), "state": "APPROVED", "commit_id": HEAD_SHA},
    ]


@pytest.fixture
def event(tmp_path: Path) -> Path:
    payload = json.loads((ASSETS / "pull_request.opened.payload.json").read_text())
    payload["pull_request"]["changed_files"] = len(files())
    payload["pull_request"]["commits"] = len(commits())
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return path


@pytest.fixture
def api_dir(tmp_path: Path) -> Path:
    pulls = tmp_path / "api" / "pulls" / "2"
    pulls.mkdir(parents=True)
    for name, items in (("files", files()), ("reviews", reviews()), ("commits", commits())):
        (pulls / f"{name}.json").write_text(json.dumps(items))
    return tmp_path / "api"


def github(**kw: Any) -> FakeGitHub:
    lists = pull_lists(REPO, 2, files=files(), reviews=reviews(), commits=commits())
    return FakeGitHub(lists=lists, **kw)


HUMANS = IdentityMap(humans=("Codertocat", "alice", "bob"))


def fetched(event: Path, fake: FakeGitHub, **kw: Any) -> dict[str, Any]:
    spec = GitHubEvent(event=event, api=Api(token=TOKEN, url=fake.url, **kw))
    return build_from_github(spec, HUMANS)


# --- the fetched answers build the same proposal as saved ones ---


def test_fetched_answers_equal_the_saved_ones_page_by_page(event: Path, api_dir: Path) -> None:
    with serve(github(page_size=1)) as fake:
        doc = fetched(event, fake)
    saved = build_from_github(GitHubEvent(event=event, api_dir=api_dir), HUMANS)
    assert doc == saved
    assert [f["path"] for f in doc["files"]] == ["README.md", "docs/a.md", "logo.png"]
    assert sorted(a["by"] for a in doc["approvals"]) == ["alice", "bob"]
    assert doc["author"]["type"] == "agent"  # the unknown co-author of the first commit
    # One request per page, each page followed through the Link header.
    pages = [(s.path.rsplit("/", 1)[1], s.query.get("page", ["1"])[0]) for s in fake.seen]
    assert pages == [("files", "1"), ("files", "2"), ("files", "3"),
                     ("reviews", "1"), ("reviews", "2"), ("reviews", "3"),
                     ("commits", "1"), ("commits", "2")]  # fmt: skip


def test_every_request_carries_the_token_and_the_api_headers(event: Path) -> None:
    with serve(github(page_size=2)) as fake:
        fetched(event, fake)
    assert len(fake.seen) == 5
    for seen in fake.seen:
        assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
        assert seen.headers["Accept"] == "application/vnd.github+json"
        assert seen.headers["X-GitHub-Api-Version"] == "2022-11-28"
        assert seen.query["per_page"] == ["100"]


def test_the_cli_fetches_with_github_token_and_prints_what_api_dir_gives(
    event: Path, api_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = invoke("proposal", "from-github", "--event", str(event), "--api-dir", str(api_dir))
    assert saved.returncode == 0, saved.stderr
    with serve(github()) as fake:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        live = invoke("proposal", "from-github", "--event", str(event))
    assert live.returncode == 0, live.stderr
    assert json.loads(live.stdout) == json.loads(saved.stdout)


def test_api_dir_wins_over_the_token(
    event: Path, api_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(github()) as fake:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        result = invoke("proposal", "from-github", "--event", str(event), "--api-dir", str(api_dir))
    assert result.returncode == 0, result.stderr
    assert fake.seen == []


def test_without_token_or_api_dir_the_event_is_refused(
    event: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    result = invoke("proposal", "from-github", "--event", str(event))
    assert result.returncode == 2 and result.stdout == ""
    assert "needs --api-dir" in result.stderr and "GITHUB_TOKEN" in result.stderr


def test_environment_gives_the_token_and_the_default_url() -> None:
    assert from_environment({}) is None
    assert from_environment({"GITHUB_TOKEN": "  "}) is None
    api = from_environment({"GITHUB_TOKEN": TOKEN})
    assert api is not None and api.url == "https://api.github.com"
    assert TOKEN not in repr(api)


# --- check --github-event decides as from-github piped into check ---


def test_check_github_event_decides_as_from_github_piped_into_check(
    event: Path, api_dir: Path
) -> None:
    built = invoke("proposal", "from-github", "--event", str(event), "--api-dir", str(api_dir))
    assert built.returncode == 0, built.stderr
    common = ("--now", NOW, "--format", "json", "--no-audit")
    piped = invoke("check", "-", *common, stdin=built.stdout)
    direct = invoke("check", "--github-event", str(event), "--api-dir", str(api_dir), *common)
    assert piped.returncode == direct.returncode and piped.returncode in (0, 1, 3)
    piped_doc, direct_doc = json.loads(piped.stdout), json.loads(direct.stdout)
    assert piped_doc["verdict"] == direct_doc["verdict"]
    assert piped_doc["reasons"] == direct_doc["reasons"]
    assert piped_doc["input_digest"] == direct_doc["input_digest"]


def test_check_github_event_fetches_with_the_token(
    event: Path, api_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    common = ("--now", NOW, "--format", "json", "--no-audit")
    saved = invoke("check", "--github-event", str(event), "--api-dir", str(api_dir), *common)
    with serve(github()) as fake:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        live = invoke("check", "--github-event", str(event), *common)
    assert live.returncode == saved.returncode, live.stderr
    assert json.loads(live.stdout)["reasons"] == json.loads(saved.stdout)["reasons"]
    assert fake.seen


def test_api_dir_without_github_event_is_refused(api_dir: Path) -> None:
    result = invoke("check", "x.json", "--api-dir", str(api_dir), "--no-audit")
    assert result.returncode == 2 and "--api-dir goes with --github-event" in result.stderr


# --- every failure is exit 2 naming the URL, never a smaller proposal ---

FILES_PATH = f"/repos/{REPO}/pulls/2/files"
PULL_PATH = f"/repos/{REPO}/pulls/2"


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        (Override(401, b'{"message": "Bad credentials"}'), "401 Bad credentials"),
        (Override(403, b'{"message": "Resource not accessible by integration"}'),
         "pull-requests: read"),
        (Override(404, b'{"message": "Not Found"}'), "not visible to this token"),
        (Override(403, b"{}", {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1795000000"}),
         "rate limit exhausted (403); it resets at 2026-11-18T11:06:40Z"),
        (Override(429, b"{}", {"Retry-After": "60"}), "retry after 60 s"),
        (Override(502, b"<html>bad gateway</html>"), "502 Bad Gateway"),
        (Override(500, b"[" * 200_000), "500 Internal Server Error"),  # nested too deep
        (Override(500, b'{"message": "down\\u001b[2J now"}'), "500 down[2J now"),  # no escape
        (Override(200, b'[{"filename": "a"'), "malformed JSON"),
        (Override(200, b'{"message": "hi"}'), "expected a JSON array, not dict"),
        (Override(200, b"[1, 2]"), "item 0 must be an object"),
        (Override(302, b"", {"Location": "http://example.invalid/steal"}),
         "redirected to another origin (example.invalid)"),
    ],
)  # fmt: skip
def test_a_failed_answer_is_one_line_naming_the_url(
    event: Path, monkeypatch: pytest.MonkeyPatch, override: Override, needle: str
) -> None:
    with serve(github(overrides={FILES_PATH: override})) as fake:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        result = invoke("proposal", "from-github", "--event", str(event))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"{fake.url}{FILES_PATH}" in result.stderr and needle in result.stderr, result.stderr
    assert TOKEN not in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_check_on_a_failed_answer_is_exit_2_not_a_verdict(
    event: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(github(overrides={FILES_PATH: Override(500, b"{}")})) as fake:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        result = invoke("check", "--github-event", str(event), "--no-audit", "--format", "json")
    assert result.returncode == 2 and result.stdout == ""
    assert "500" in result.stderr


def test_a_same_origin_redirect_is_followed_with_the_token(event: Path) -> None:
    moved = "/repositories/1296269/pulls/2/files"
    fake = github()
    fake.lists[moved] = fake.lists.pop(FILES_PATH)
    with serve(fake):
        fake.overrides[FILES_PATH] = Override(301, b"", {"Location": f"{fake.url}{moved}"})
        doc = fetched(event, fake)
    assert len(doc["files"]) == 3
    followed = [s for s in fake.seen if s.path == moved]
    assert followed and all(s.headers["Authorization"] == f"Bearer {TOKEN}" for s in followed)


def test_a_next_link_to_another_origin_is_refused(event: Path) -> None:
    link = '<http://example.invalid/repos/x/pulls/2/files?page=2>; rel="next"'
    override = Override(200, json.dumps(files()[:1]).encode(), {"Link": link})
    with serve(github(overrides={FILES_PATH: override})) as fake:
        with pytest.raises(GitHubApiError, match="next page is on another origin"):
            fetched(event, fake)


def test_a_short_answer_is_refused_like_a_short_saved_one(event: Path) -> None:
    override = Override(200, json.dumps(files()[:2]).encode())  # no Link: the last page lost
    with serve(github(overrides={FILES_PATH: override})) as fake:
        with pytest.raises(InputError) as caught:
            fetched(event, fake)
    message = str(caught.value)
    assert f"{fake.url}{FILES_PATH}?per_page=100: lists 2 entries" in message
    assert "changed_files=3" in message


def test_endless_pages_stop_at_the_cap(event: Path) -> None:
    with serve(github(endless=True)) as fake:
        with pytest.raises(GitHubApiError, match="more than 4 pages"):
            fetched(event, fake, max_pages=4)
    assert len(fake.seen) == 4


def test_no_answer_in_time_is_refused(event: Path) -> None:
    # A listening socket that never answers: the read times out.
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        spec = GitHubEvent(event=event, api=Api(token=TOKEN, url=url, timeout=0.2))
        with pytest.raises(GitHubApiError, match="no answer within 0.2 s"):
            build_from_github(spec, HUMANS)


def test_an_unreachable_api_is_refused(event: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spec = GitHubEvent(event=event, api=Api(token=TOKEN, url=f"http://127.0.0.1:{port}"))
    with pytest.raises(GitHubApiError, match="cannot reach the GitHub API"):
        build_from_github(spec, HUMANS)


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("http://api.example.com", "plain http would send the token unencrypted"),
        ("ftp://127.0.0.1", "not an http(s) URL"),
        ("https://api.github.com?x=1", "has a query or fragment"),
    ],
)
def test_an_unsafe_api_url_is_refused_before_any_request(
    event: Path, url: str, needle: str
) -> None:
    spec = GitHubEvent(event=event, api=Api(token=TOKEN, url=url))
    with pytest.raises(GitHubApiError) as caught:
        build_from_github(spec, HUMANS)
    assert needle in str(caught.value) and TOKEN not in str(caught.value)


def test_a_repository_name_that_is_no_owner_name_is_refused(tmp_path: Path) -> None:
    payload = json.loads((ASSETS / "pull_request.opened.payload.json").read_text())
    payload["repository"]["full_name"] = "../../orgs/x"
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    spec = GitHubEvent(event=path, api=Api(token=TOKEN, url="http://127.0.0.1:9"))
    with pytest.raises(GitHubApiError, match="is not OWNER/NAME"):
        build_from_github(spec, HUMANS)


def test_a_token_with_a_line_break_is_refused_without_showing_it(
    event: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(github()) as fake:
        monkeypatch.setenv("GITHUB_TOKEN", "ghs_first\nX-Injected: 1")
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        result = invoke("proposal", "from-github", "--event", str(event))
    assert result.returncode == 2 and "characters no GitHub token has" in result.stderr
    assert "ghs_first" not in result.stderr and "Injected" not in result.stderr
    assert fake.seen == []


# --- a broken or hostile server: never data of another pull request, never a traceback ---


def test_repeated_pages_are_refused_though_the_count_matches(event: Path) -> None:
    # Page 3 repeats page 2: three files listed, as the event says, but one is lost.
    a, b, _ = files()
    pages = [Page([a], next=2), Page([b], next=3), Page([b])]
    with serve(github(pages={FILES_PATH: pages})) as fake:
        with pytest.raises(InputError, match=r"files\?per_page=100: item 2 repeats 'docs/a.md'"):
            fetched(event, fake)


def test_a_link_loop_is_refused_at_once(event: Path) -> None:
    a, b, _ = files()
    with serve(github(pages={FILES_PATH: [Page([a], next=2), Page([b], next=1)]})) as fake:
        with pytest.raises(GitHubApiError, match=r"the next page .*page=1 was read already"):
            fetched(event, fake)
    assert len(fake.seen) == 2


def test_a_page_longer_than_asked_for_is_refused(event: Path) -> None:
    many = [{**files()[0], "filename": f"f{i}"} for i in range(101)]
    with serve(github(pages={FILES_PATH: [Page(many)]})) as fake:
        with pytest.raises(GitHubApiError, match="101 items on one page; asked for 100"):
            fetched(event, fake)


def test_a_huge_page_is_refused_before_it_is_read_whole(event: Path) -> None:
    huge = b"[" + b" " * 3_000_000 + b"]"
    with serve(github(overrides={FILES_PATH: Override(200, huge)})) as fake:
        with pytest.raises(GitHubApiError, match="answer larger than 1000000 bytes"):
            fetched(event, fake, max_page_bytes=1_000_000)


@pytest.mark.parametrize(
    "where",
    [
        "/repos/Codertocat/Hello-World/pulls/3/files",  # another pull request
        "/repos/someone/else/pulls/2/files",  # another repository
        "/repos/Codertocat/Hello-World/pulls/2/commits",  # another list
    ],
)
def test_a_next_link_or_redirect_to_another_pull_request_is_refused(
    event: Path, where: str
) -> None:
    fake = github()
    fake.lists[where] = files()
    with serve(fake):
        link = f'<{fake.url}{where}?page=2>; rel="next"'
        fake.overrides[FILES_PATH] = Override(200, json.dumps(files()[:1]).encode(), {"Link": link})
        with pytest.raises(GitHubApiError, match=f"not {FILES_PATH}"):
            fetched(event, fake)
        fake.overrides[FILES_PATH] = Override(301, b"", {"Location": f"{fake.url}{where}"})
        with pytest.raises(GitHubApiError, match=f"not {FILES_PATH}"):
            fetched(event, fake)
    assert not [s for s in fake.seen if s.path == where]


@pytest.mark.parametrize(
    "location",
    ["http://127.0.0.1:notaport/x", "http://[::1/x", "http://127.0.0.1:99999/x"],
)
def test_a_malformed_location_or_link_is_one_line_not_a_traceback(
    event: Path, monkeypatch: pytest.MonkeyPatch, location: str
) -> None:
    for override in (
        Override(302, b"", {"Location": location}),
        Override(200, json.dumps(files()[:1]).encode(), {"Link": f'<{location}>; rel="next"'}),
    ):
        with serve(github(overrides={FILES_PATH: override})) as fake:
            monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
            monkeypatch.setenv("GITHUB_API_URL", fake.url)
            result = invoke("proposal", "from-github", "--event", str(event))
        assert result.returncode == 2 and result.stdout == "", result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
        assert f"{fake.url}{FILES_PATH}?per_page=100: " in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_a_retry_after_that_is_no_number_of_seconds_is_not_echoed(event: Path) -> None:
    override = Override(429, b"{}", {"Retry-After": "soon " + "x" * 500})
    with serve(github(overrides={FILES_PATH: override})) as fake:
        with pytest.raises(GitHubApiError) as caught:
            fetched(event, fake)
    assert "secondary rate limit (429)" in str(caught.value) and "xxx" not in str(caught.value)


def review_event(tmp_path: Path) -> Path:
    payload = json.loads((ASSETS / "pull_request_review.submitted.payload.json").read_text())
    assert "changed_files" not in payload["pull_request"]
    path = tmp_path / "review.json"
    path.write_text(json.dumps(payload))
    return path


def pull(**counts: Any) -> Override:
    payload = json.loads((ASSETS / "pull_request.opened.payload.json").read_text())
    obj = {**payload["pull_request"], "changed_files": len(files()), "commits": len(commits())}
    return Override(200, json.dumps({**obj, **counts}).encode())


def test_a_review_event_is_counted_by_the_pull_request_the_api_gives(tmp_path: Path) -> None:
    # A review event's payload has no changed_files/commits: the pull request itself
    # (GET /repos/R/pulls/N) says how many there are, so a Link that stops early is caught.
    event = review_event(tmp_path)
    a, b, _ = files()
    with serve(github(overrides={PULL_PATH: pull()})) as fake:
        assert len(fetched(event, fake)["files"]) == 3
        fake.pages[FILES_PATH] = [Page([a], next=2), Page([b])]  # the last Link is lost
        with pytest.raises(InputError, match="lists 2 entries but the pull request has"):
            fetched(event, fake)
    assert any(s.path == PULL_PATH for s in fake.seen)


def test_a_review_event_whose_pull_request_has_no_counts_is_refused(tmp_path: Path) -> None:
    # Without the counts only GitHub's caps would be left to tell a cut list.
    with serve(github(overrides={PULL_PATH: pull(changed_files=None)})) as fake:
        with pytest.raises(InputError, match=r"pulls/2: changed_files is not int"):
            fetched(review_event(tmp_path), fake)


def test_a_review_event_whose_pull_request_moved_on_is_refused(tmp_path: Path) -> None:
    moved = pull(head={"ref": "changes", "sha": "f" * 40})
    with serve(github(overrides={PULL_PATH: moved})) as fake:
        with pytest.raises(InputError, match=r"pulls/2: the head is now ffffffffffff"):
            fetched(review_event(tmp_path), fake)


def test_answers_of_another_pull_request_or_head_are_refused(event: Path) -> None:
    other = [{**r, "pull_request_url": f"https://api.github.com/repos/{REPO}/pulls/7"}
             for r in reviews()]  # fmt: skip
    with serve(github()) as fake:
        fake.lists[f"/repos/{REPO}/pulls/2/reviews"] = other
        with pytest.raises(InputError, match=r"reviews\?per_page=100: item 0 is a review of"):
            fetched(event, fake)
        fake.lists[f"/repos/{REPO}/pulls/2/reviews"] = reviews()
        moved = [*commits(), {**commits()[0], "sha": "d" * 40, "parents": [{"sha": HEAD_SHA}]}]
        fake.lists[f"/repos/{REPO}/pulls/2/commits"] = moved
        with pytest.raises(InputError, match=r"commits\?per_page=100: lists 3 entries"):
            fetched(event, fake)  # the count, and without it the head's child, refuse it


def test_an_answer_dripped_byte_by_byte_is_cut_off(event: Path) -> None:
    # Each read gets a byte well within the read timeout, so only a limit on the
    # whole answer ends it: a hostile server must not hold the job forever.
    import socket
    import threading

    stop = threading.Event()

    def drip(server: socket.socket) -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000000\r\n\r\n[")  # fmt: skip
            while not stop.wait(0.02):
                try:
                    conn.sendall(b" ")
                except OSError:
                    return

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        thread = threading.Thread(target=drip, args=(server,), daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        spec = GitHubEvent(event=event, api=Api(token=TOKEN, url=url, timeout=0.2))
        try:
            with pytest.raises(GitHubApiError, match="answer not read whole within"):
                build_from_github(spec, HUMANS)
        finally:
            stop.set()
            thread.join()


def test_a_next_link_is_matched_as_sent_and_shown_printable(event: Path) -> None:
    # %2F is not a path separator to the server; an escape byte must not reach the log.
    for where in (f"/repos/{REPO.replace('/', '%2F')}/pulls/2/files", "/repos/a%1b[31m/b"):
        with serve(github()) as fake:
            link = f'<{fake.url}{where}?page=2>; rel="next"'
            body = json.dumps(files()[:1]).encode()
            fake.overrides[FILES_PATH] = Override(200, body, {"Link": link})
            with pytest.raises(GitHubApiError, match="refusing another list") as caught:
                fetched(event, fake)
        assert where in str(caught.value) and "\x1b" not in str(caught.value)
