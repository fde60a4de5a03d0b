"""Build a proposal document from a GitHub webhook payload (``charter proposal from-github``).

Offline: the event file (``GITHUB_EVENT_PATH`` in Actions) plus the REST API
answers a workflow saved with ``gh api --paginate`` in an API directory. For a
``pull_request`` or ``pull_request_review`` event on pull request ``N`` the
directory must hold, relative to it::

    pulls/N/files.json     gh api --paginate repos/OWNER/NAME/pulls/N/files
    pulls/N/reviews.json   gh api --paginate repos/OWNER/NAME/pulls/N/reviews
    pulls/N/commits.json   gh api --paginate repos/OWNER/NAME/pulls/N/commits
    pulls/N.json           gh api repos/OWNER/NAME/pulls/N  (a review event: the counts)

Each answer is a JSON array, or several arrays written one after another (what
``gh api --paginate`` prints), or one array of arrays (``--slurp``). A ``push``
event needs no API answers: its files come from the payload's commits, which
carry no patches (each file says so in ``patch_omitted``). A ``release`` event
gives the tag, its target, the author, name and notes; its artifacts and their
evidence are not in the payload.

Who is an agent comes from the identity map (``charter.facts.identities``); a
GitHub account whose ``type`` is ``Bot`` is an agent as well. Reviews become
approvals: per reviewer the latest review that decides (approved, changes
requested, dismissed) wins, and only an approval is kept, with the reviewer's
type. The API gives patches, not whole files, so a changed dependency file is
listed under ``dependencies.unparsed`` and counts as an unknown change. A
malformed or unsupported event, a missing or malformed answer, or answers that
are not all of the event's pull request at the event's head (another length than
its counts — a ``pull_request_review`` payload has none, so ``pulls/N.json`` must
give them; a repeated entry; a review of another pull request; commits without the
head, or with one on top of it) is an :class:`~charter.core.errors.InputError`
naming the file — never a smaller proposal. See docs/design.md, 'Proposal document'.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter.core import jsonio
from charter.core.errors import InputError
from charter.facts.dependencies import is_dependency_file
from charter.facts.git import GitError, Repository
from charter.facts.github_api import Api, pull_answers, pull_request
from charter.facts.identities import IdentityMap
from charter.facts.proposal import GitRange, Progress, build_from_git
from charter.policy.proposal import validate

_HINT = "see docs/design.md, 'Proposal document'"
#: Why a dependency file touched by a GitHub change is unparsed.
NO_WHOLE_FILE = "whole file not available from the GitHub API; use from-git"
#: ``files[].status`` of the GitHub API -> the proposal schema's status.
STATUS = {
    "added": "added",
    "modified": "modified",
    "removed": "removed",
    "renamed": "renamed",
    "copied": "added",
    "changed": "modified",
    "unchanged": "modified",
}
#: A push payload lists at most this many commits; a full list may be truncated.
PUSH_COMMIT_CAP = 20
_DECIDING = ("approved", "changes_requested", "dismissed")


@dataclass(frozen=True)
class GitHubEvent:
    """What to build: the event file, where the API answers come from, and the framing.

    ``api_dir`` (saved answers) wins; without it ``api`` (a token) fetches them.
    """

    event: Path
    api_dir: Path | None = None
    environment: str | None = None
    api: Api | None = None


def build_from_github(spec: GitHubEvent, identities: IdentityMap) -> dict[str, Any]:
    """The validated proposal document for the event in ``spec``."""
    where = str(spec.event)
    payload = jsonio.loads_object(_read(spec.event), what=where, hint=_HINT)
    if isinstance(payload.get("pull_request"), dict):
        document = _pull_request(payload, spec, identities)
    elif "pusher" in payload and "ref" in payload:
        document = _push(payload, where, identities)
    elif isinstance(payload.get("release"), dict):
        document = _release(payload, where, identities)
    else:
        keys = ", ".join(sorted(payload)[:6]) or "none"
        raise InputError(
            f"{where}: unsupported GitHub event (top-level keys: {keys})",
            hint="supported: pull_request, pull_request_review, push, release",
        )
    document["environment"] = spec.environment
    return validate(document)


def build_in_checkout(
    spec: GitHubEvent, repo: Path, identities: IdentityMap, progress: Progress | None = None
) -> tuple[dict[str, Any], str]:
    """The proposal for the event, from the checkout at ``repo`` when it holds the commits.

    A pull request (or a push) whose base and head commits are both in the
    checkout is built from git — every file with its whole-file dependency
    facts, every commit — and framed by the event: repository, branch names,
    title, body, labels and the opener's login as ``author.id`` (an agent if
    git or GitHub says so). Approvals then come from the reviews answer
    (``api_dir`` or ``api``), or there are none. Anything else — no checkout,
    a shallow one without the commits, another event — is built by
    :func:`build_from_github`. Returns the document and ``"git"`` or ``"github"``.
    """
    where = str(spec.event)
    payload = jsonio.loads_object(_read(spec.event), what=where, hint=_HINT)
    shas = _event_shas(payload)
    if shas is None or not _has_commits(repo, shas):
        return build_from_github(spec, identities), "github"
    if isinstance(payload.get("pull_request"), dict):
        document = _checkout_pull_request(payload, spec, repo, identities, progress)
    else:
        document = _checkout_push(payload, spec, repo, identities, progress)
    return validate(document), "git"


def _event_shas(payload: dict[str, Any]) -> tuple[str, str] | None:
    pr = payload.get("pull_request")
    if isinstance(pr, dict):
        base, head = pr.get("base"), pr.get("head")
        old = base.get("sha") if isinstance(base, dict) else None
        new = head.get("sha") if isinstance(head, dict) else None
    elif "pusher" in payload and str(payload.get("ref", "")).startswith("refs/heads/"):
        old, new = payload.get("before"), payload.get("after")
    else:
        return None
    if isinstance(old, str) and isinstance(new, str) and _is_sha(old) and _is_sha(new):
        return old, new
    return None


def _is_sha(value: str) -> bool:
    return (
        len(value) in (40, 64)
        and all(c in "0123456789abcdef" for c in value)
        and value.strip("0") != ""  # GitHub's all-zero sha: a created or deleted branch
    )


def _has_commits(repo: Path, shas: tuple[str, str]) -> bool:
    try:
        checkout = Repository(repo)
        for sha in shas:
            checkout.resolve(sha, "commit")
    except GitError:
        return False
    return True


@dataclass(frozen=True)
class _PullRequest:
    """The fields of a payload's ``pull_request`` both builders start from."""

    raw: dict[str, Any]
    number: int
    user: dict[str, Any]
    login: str
    base: dict[str, Any]
    head: dict[str, Any]

    @classmethod
    def read(cls, payload: dict[str, Any], where: str) -> _PullRequest:
        pr = payload["pull_request"]
        user = _field(pr, "user", dict, f"{where}: pull_request")
        return cls(
            raw=pr,
            number=_field(pr, "number", int, f"{where}: pull_request"),
            user=user,
            login=_field(user, "login", str, f"{where}: pull_request.user"),
            base=_field(pr, "base", dict, f"{where}: pull_request"),
            head=_field(pr, "head", dict, f"{where}: pull_request"),
        )

    def framing(self, where: str) -> dict[str, Any]:
        """What the pull request says of itself, whichever builder reads the change:
        kind (a merged one is a merge), branch names, title, body and labels."""
        return {
            "kind": "merge" if self.raw.get("merged") is True else "pull_request",
            "base": _field(self.base, "ref", str, f"{where}: pull_request.base"),
            "head": _field(self.head, "ref", str, f"{where}: pull_request.head"),
            "title": _field(self.raw, "title", str, f"{where}: pull_request"),
            "body": _field(self.raw, "body", str, f"{where}: pull_request", optional=True),
            "labels": _labels(self.raw, where),
        }


def _checkout_pull_request(
    payload: dict[str, Any],
    spec: GitHubEvent,
    repo: Path,
    identities: IdentityMap,
    progress: Progress | None,
) -> dict[str, Any]:
    where = str(spec.event)
    pr = _PullRequest.read(payload, where)
    repository = _repository(payload, where)
    git_range = GitRange(
        repo=repo,
        base=pr.base["sha"],  # both checked by _event_shas
        head=pr.head["sha"],
        kind="pull_request",  # compared from the merge base, merged or not
        environment=spec.environment,
        body="",
        repository=repository,
    )
    document = build_from_git(git_range, identities, progress)
    agent = document["author"]["type"] == "agent" or _user_type(pr.user, identities) == "agent"
    reviews_where, reviews = _reviews(spec, pr.number, repository)
    reviews = _with_event_review(reviews, payload)
    document.update(
        pr.framing(where),
        author={"id": pr.login, "type": "agent" if agent else "human"},
        approvals=_approvals(reviews, reviews_where, identities, pr.head.get("sha")),
    )
    return document


def _reviews(spec: GitHubEvent, number: int, repository: str) -> Answer:
    if spec.api_dir is not None:
        path = spec.api_dir / f"pulls/{number}/reviews.json"
        return str(path), _own_reviews(load_pages(path), str(path), repository, number)
    if spec.api is not None:
        url, items = pull_answers(spec.api, repository, number, ("reviews",))["reviews"]
        return url, _own_reviews(_objects(items, url), url, repository, number)
    return "no reviews", []


def _checkout_push(
    payload: dict[str, Any],
    spec: GitHubEvent,
    repo: Path,
    identities: IdentityMap,
    progress: Progress | None,
) -> dict[str, Any]:
    where = str(spec.event)
    branch = _field(payload, "ref", str, where).removeprefix("refs/heads/")
    git_range = GitRange(
        repo=repo,
        base=_field(payload, "before", str, where),
        head=_field(payload, "after", str, where),
        kind="push",
        environment=spec.environment,
        repository=_repository(payload, where),
    )
    document = build_from_git(git_range, identities, progress)
    sender = payload.get("sender")
    if isinstance(sender, dict) and _user_type(sender, identities) == "agent":
        document["author"]["type"] = "agent"
    document.update(base=branch, head=branch)
    return document


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})", hint=_HINT) from None


def load_pages(path: Path) -> list[dict[str, Any]]:
    """The objects of a saved (possibly paginated) API answer, in order."""
    data = _read(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason})", hint=_HINT) from None
    decoder = json.JSONDecoder()
    items: list[Any] = []
    pos, pages = 0, 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            break
        try:
            _, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}", hint=_HINT
            ) from None
        page = jsonio.loads(text[pos:end], what=str(path), hint=_HINT)
        if not isinstance(page, list):
            raise InputError(
                f"{path}: must be a JSON array (or arrays as 'gh api --paginate' writes them),"
                f" not {type(page).__name__}",
                hint=_HINT,
            )
        items.extend(_flatten(page))
        pos, pages = end, pages + 1
    if pages == 0:
        raise InputError(f"{path}: empty; expected a JSON array", hint=_HINT)
    return _objects(items, str(path))


def _flatten(page: list[Any]) -> list[Any]:
    # ``gh api --paginate --slurp`` wraps the pages in one outer array.
    if page and all(isinstance(p, list) for p in page):
        return [item for p in page for item in p]
    return page


def _field(obj: dict[str, Any], key: str, kind: type, where: str, *, optional: bool = False) -> Any:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
        shown = "missing" if key not in obj else f"not {kind.__name__}"
        raise InputError(f"{where}: {key} is {shown}", hint=_HINT)
    return value


def _user_type(user: dict[str, Any], identities: IdentityMap) -> str:
    if user.get("type") == "Bot":
        return "agent"
    return identities.classify(str(user.get("login") or ""), "")


def _pull_request(
    payload: dict[str, Any], spec: GitHubEvent, identities: IdentityMap
) -> dict[str, Any]:
    where = str(spec.event)
    pr = _PullRequest.read(payload, where)
    repository = _repository(payload, where)
    counted = _counted(spec, pr, repository, where)
    answers = _answers(spec, pr.number, repository)
    (files_path, raw_files), (reviews_path, reviews), (commits_path, raw_commits) = answers
    _same_count(counted, "changed_files", raw_files, files_path)
    _same_count(counted, "commits", raw_commits, commits_path)
    reviews = _with_event_review(
        _own_reviews(reviews, reviews_path, repository, pr.number), payload
    )
    commits = [_commit(c, commits_path, i, identities) for i, c in enumerate(raw_commits)]
    _unique([c["sha"] for c in commits], commits_path)
    _same_head(pr, raw_commits, commits_path, where)
    files = [_file(f, files_path, i) for i, f in enumerate(raw_files)]
    _unique([f["path"] for f in files], files_path)
    author_type = _user_type(pr.user, identities)
    if any(_commit_is_agent(c, identities) for c in commits):
        author_type = "agent"
    return {
        **pr.framing(where),
        "repository": repository,
        "base_sha": _field(pr.base, "sha", str, f"{where}: pull_request.base"),
        "head_sha": _field(pr.head, "sha", str, f"{where}: pull_request.head"),
        "author": {"id": pr.login, "type": author_type},
        "files": files,
        "commits": commits,
        "approvals": _approvals(reviews, reviews_path, identities, pr.head.get("sha")),
        "dependencies": _dependencies(files),
    }


Answer = tuple[str, list[dict[str, Any]]]


def _answers(spec: GitHubEvent, number: int, repository: str) -> tuple[Answer, Answer, Answer]:
    """The files, reviews and commits answers, each with where it came from (file or URL)."""
    names = tuple(f"pulls/{number}/{name}.json" for name in ("files", "reviews", "commits"))
    if spec.api_dir is not None:
        files, reviews, commits = (spec.api_dir / name for name in names)
        return (
            (str(files), load_pages(files)),
            (str(reviews), load_pages(reviews)),
            (str(commits), load_pages(commits)),
        )
    if spec.api is None:
        raise InputError(
            f"{spec.event}: a pull request event needs --api-dir DIR with {', '.join(names)}"
            " (or GITHUB_TOKEN set to fetch them)",
            hint="save them with 'gh api --paginate repos/OWNER/NAME/pulls/N/files' (etc.)",
        )
    fetched = pull_answers(spec.api, repository, number)
    files_url, reviews_url, commits_url = (fetched[k][0] for k in ("files", "reviews", "commits"))
    return (
        (files_url, _objects(fetched["files"][1], files_url)),
        (reviews_url, _objects(fetched["reviews"][1], reviews_url)),
        (commits_url, _objects(fetched["commits"][1], commits_url)),
    )


def _counted(spec: GitHubEvent, pr: _PullRequest, repository: str, where: str) -> dict[str, Any]:
    """What says how many files and commits there are: the event's pull request, or —
    a review event's has no counts — the pull request as the API gives it now (saved as
    ``pulls/N.json``, or fetched), refused if its head moved on since the event or it has
    no counts either: a list cut short must not pass as the whole pull request."""
    if _has_counts(pr.raw):
        return pr.raw
    if spec.api_dir is not None:
        path = spec.api_dir / f"pulls/{pr.number}.json"
        if not path.is_file():
            raise InputError(
                f"{path}: missing; the event has no changed_files/commits counts (a"
                " pull_request_review event never has), so nothing shows the answers are whole",
                hint=f"save it: gh api repos/{repository}/pulls/{pr.number} > {path}",
            )
        url, now = str(path), jsonio.loads_object(_read(path), what=str(path), hint=_HINT)
    elif spec.api is not None:
        url, now = pull_request(spec.api, repository, pr.number)
    else:
        return pr.raw  # no answers at all: refused by _answers
    head = _field(pr.head, "sha", str, f"{where}: pull_request.head")
    current = now.get("head")
    sha = current.get("sha") if isinstance(current, dict) else None
    if sha != head:
        raise InputError(
            f"{url}: the head is now {str(sha)[:12]}, not the event's {head[:12]}"
            " (it was pushed to since the event)",
            hint="decide the newer event (re-run the latest workflow run)",
        )
    for key in ("changed_files", "commits"):
        _field(now, key, int, url)
    return now


def _has_counts(pr: dict[str, Any]) -> bool:
    return all(
        isinstance(pr.get(k), int) and not isinstance(pr.get(k), bool)
        for k in ("changed_files", "commits")
    )


def _objects(items: list[Any], where: str) -> list[dict[str, Any]]:
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError(f"{where}: item {index} must be an object", hint=_HINT)
    return items


def _same_count(pr: dict[str, Any], key: str, items: list[Any], path: str) -> None:
    """As many entries as the pull request counts (see :func:`_counted`)."""
    expected = _field(pr, key, int, f"{path}: the pull request")
    if expected != len(items):
        raise InputError(
            f"{path}: lists {len(items)} entries but the pull request has {key}={expected}",
            hint="save every page (gh api --paginate); GitHub's API stops at 3000 files"
            " and 250 commits — use 'charter proposal from-git' for larger changes",
        )


def _unique(keys: list[Any], path: str) -> None:
    """Overlapping or repeated pages list an entry twice (and, the count matching, miss one)."""
    seen: set[Any] = set()
    for index, key in enumerate(keys):
        if key in seen:
            raise InputError(
                f"{path}: item {index} repeats {key!r} (pages overlap or repeat)",
                hint="save the answer again with 'gh api --paginate' (or re-run the job)",
            )
        seen.add(key)


def _own_reviews(
    reviews: list[dict[str, Any]], path: str, repository: str, number: int
) -> list[dict[str, Any]]:
    """The reviews, refused if one names (``pull_request_url``) another pull request."""
    own = f"/repos/{repository}/pulls/{number}".lower()
    for index, review in enumerate(reviews):
        url = review.get("pull_request_url")
        if isinstance(url, str) and not url.lower().endswith(own):
            raise InputError(
                f"{path}: item {index} is a review of {url}, not of {repository}#{number}",
                hint="save the answers of the event's pull request (pulls/N/reviews)",
            )
    _unique([r["id"] for r in reviews if isinstance(r.get("id"), int | str)], path)
    return reviews


def _same_head(pr: _PullRequest, raw_commits: list[dict[str, Any]], path: str, where: str) -> None:
    """The answers describe the event's head: after a force-push (or a re-run of an
    old event) they list other commits, which the event's approvals never saw; after
    a push on top of it, they list a commit whose parent is the head (and the files
    of that newer head)."""
    head = _field(pr.head, "sha", str, f"{where}: pull_request.head")
    if head not in {c["sha"] for c in raw_commits}:
        raise InputError(
            f"{path}: the pull request's commits do not include the event's head {head[:12]}"
            " (it was pushed to since the event)",
            hint="decide the newer event (re-run the latest workflow run)",
        )
    for index, raw in enumerate(raw_commits):
        if head in _parents(raw, f"{path}: item {index}"):
            raise InputError(
                f"{path}: item {index} ({raw['sha'][:12]}) is a commit on top of the event's"
                f" head {head[:12]} (it was pushed to since the event)",
                hint="decide the newer event (re-run the latest workflow run)",
            )


def _parents(raw: dict[str, Any], where: str) -> set[str]:
    parents = _field(raw, "parents", list, where, optional=True) or []
    shas = set()
    for index, parent in enumerate(parents):
        if not isinstance(parent, dict):
            raise InputError(f"{where}: parents[{index}] is not an object", hint=_HINT)
        shas.add(_field(parent, "sha", str, f"{where}.parents[{index}]"))
    return shas


def _repository(payload: dict[str, Any], where: str) -> str:
    repo = _field(payload, "repository", dict, where)
    return str(_field(repo, "full_name", str, f"{where}: repository"))


def _labels(pr: dict[str, Any], where: str) -> list[str]:
    labels = _field(pr, "labels", list, f"{where}: pull_request", optional=True) or []
    names = []
    for index, label in enumerate(labels):
        if not isinstance(label, dict):
            raise InputError(f"{where}: pull_request.labels[{index}] is not an object", hint=_HINT)
        names.append(_field(label, "name", str, f"{where}: pull_request.labels[{index}]"))
    return names


def _file(raw: dict[str, Any], path: str, index: int) -> dict[str, Any]:
    where = f"{path}: item {index}"
    status = _field(raw, "status", str, where)
    if status not in STATUS:
        raise InputError(f"{where}: unknown status {status!r}", hint=f"one of {', '.join(STATUS)}")
    previous = _field(raw, "previous_filename", str, where, optional=True)
    patch = _field(raw, "patch", str, where, optional=True)
    entry: dict[str, Any] = {
        "path": _field(raw, "filename", str, where),
        "status": STATUS[status],
        "previous_path": previous if STATUS[status] == "renamed" else None,
        "patch": patch,
    }
    if patch is None and status != "unchanged":
        entry["patch_omitted"] = "GitHub omitted the patch (binary or too large)"
    return entry


def _commit(raw: dict[str, Any], path: str, index: int, identities: IdentityMap) -> dict[str, Any]:
    where = f"{path}: item {index}"
    detail = _field(raw, "commit", dict, where)
    author = _field(detail, "author", dict, f"{where}.commit", optional=True) or {}
    committer = _field(detail, "committer", dict, f"{where}.commit", optional=True) or {}
    message = _field(detail, "message", str, f"{where}.commit")
    subject, _, body = message.partition("\n")
    name, email = str(author.get("name") or ""), str(author.get("email") or "")
    kind = identities.classify(name, email)
    if _account_is_agent(raw.get("author"), identities):
        kind = "agent"
    committed_by = {
        "name": str(committer.get("name") or ""),
        "email": str(committer.get("email") or ""),
    }
    if _account_is_agent(raw.get("committer"), identities):
        committed_by["type"] = "agent"
    return {
        "sha": _field(raw, "sha", str, where),
        "author": {"name": name, "email": email, "type": kind},
        "committer": committed_by,
        "subject": subject.strip(),
        "body": body.strip("\n"),
        "trailers": [{"key": k, "value": v} for k, v in _trailers(body)],
    }


def _account_is_agent(account: Any, identities: IdentityMap) -> bool:
    """Whether the GitHub account GitHub matched to a commit's author or committer (by
    its email) is an agent's: a ``Bot``, or a login the map names an agent (an unknown
    login is not: GitHub's own ``web-flow`` commits web merges)."""
    if not isinstance(account, dict):
        return False
    login = account.get("login")
    if account.get("type") == "Bot":
        return True
    return isinstance(login, str) and identities.names_agent(login, "")


def _trailers(body: str) -> list[tuple[str, str]]:
    paragraphs = [p for p in body.strip("\n").split("\n\n") if p.strip()]
    if not paragraphs:
        return []
    found = []
    for line in paragraphs[-1].splitlines():
        key, sep, value = line.partition(":")
        if not sep or not key.strip() or " " in key.strip():
            return []
        found.append((key.strip(), value.strip()))
    return found


def _commit_is_agent(commit: dict[str, Any], identities: IdentityMap) -> bool:
    if commit["author"]["type"] == "agent":
        return True
    # A committer the map names an agent (an unknown one is not: GitHub commits web
    # merges itself), as in charter.facts.proposal.
    committer = commit["committer"]
    if committer.get("type") == "agent":  # its GitHub account is an agent's
        return True
    if identities.names_agent(committer["name"], committer["email"]):
        return True
    for trailer in commit["trailers"]:
        key, value = trailer["key"].lower(), trailer["value"]
        if key == "agent" and value:
            return True
        if key == "co-authored-by":
            name, _, rest = value.partition("<")
            if identities.classify(name.strip(), rest.partition(">")[0].strip()) == "agent":
                return True
    return False


def _with_event_review(
    reviews: list[dict[str, Any]], payload: dict[str, Any]
) -> list[dict[str, Any]]:
    """The answer's reviews, with a ``pull_request_review`` event's own review last unless
    the answer already lists it: the answer is the newer word (a dismissed approval, or
    one followed by changes requested before the workflow ran or ran again)."""
    review = payload.get("review")
    if not isinstance(review, dict):
        return reviews
    known = {r.get("id") for r in reviews if r.get("id") is not None}
    if review.get("id") is not None and review.get("id") in known:
        return reviews
    return [*reviews, review]


def _approvals(
    reviews: list[dict[str, Any]], path: str, identities: IdentityMap, head_sha: object = None
) -> list[dict[str, Any]]:
    """Approvals: per reviewer the latest deciding review, when it approved ``head_sha``.

    A review that names another ``commit_id`` approved an earlier head: commits
    pushed after it were never reviewed, so it is not an approval of this change.
    """
    latest: dict[str, tuple[str, dict[str, Any], object]] = {}
    for index, review in enumerate(reviews):
        where = f"{path}: item {index}"
        state = _field(review, "state", str, where).lower()
        user = _field(review, "user", dict, where, optional=True)
        if user is None:  # a deleted account ("ghost") cannot approve
            continue
        login = _field(user, "login", str, f"{where}.user")
        if state in _DECIDING:
            latest[login] = (state, user, review.get("commit_id"))
    return [
        {"by": login, "type": _user_type(user, identities)}
        for login, (state, user, commit) in latest.items()
        if state == "approved"
        and not (isinstance(head_sha, str) and isinstance(commit, str) and commit != head_sha)
    ]


def _dependencies(files: list[dict[str, Any]]) -> dict[str, Any]:
    paths: list[str] = []
    for file in files:
        for name in (file["path"], file.get("previous_path")):
            if name and is_dependency_file(name) and name not in paths:
                paths.append(name)
    return {
        "changed": bool(paths),
        "changes": [],
        "unparsed": [{"path": p, "reason": NO_WHOLE_FILE} for p in paths],
    }


def _push(payload: dict[str, Any], where: str, identities: IdentityMap) -> dict[str, Any]:
    ref = _field(payload, "ref", str, where)
    pusher = _field(payload, "pusher", dict, where)
    name = _field(pusher, "name", str, f"{where}: pusher")
    email = str(pusher.get("email") or "")
    raw_commits = _field(payload, "commits", list, where, optional=True) or []
    if len(raw_commits) >= PUSH_COMMIT_CAP:
        raise InputError(
            f"{where}: a push payload lists at most {PUSH_COMMIT_CAP} commits; this one may be cut",
            hint="use 'charter proposal from-git --kind push' on a checkout",
        )
    commits = [_push_commit(c, where, i, identities) for i, c in enumerate(raw_commits)]
    sender = payload.get("sender")
    kind = identities.classify(name, email)
    if isinstance(sender, dict) and _user_type(sender, identities) == "agent":
        kind = "agent"
    if any(_commit_is_agent(c, identities) for c in commits):
        kind = "agent"
    files = _push_files(raw_commits, where)
    head = payload.get("head_commit")
    title = commits[-1]["subject"] if commits else None
    if isinstance(head, dict) and isinstance(head.get("message"), str):
        title = head["message"].partition("\n")[0].strip()
    return {
        "kind": "push",
        "repository": _repository(payload, where),
        # The branch pushed to is the target the push rules judge (protected or not).
        "base": ref.removeprefix("refs/heads/")
        if ref.startswith("refs/heads/")
        else _field(payload, "base_ref", str, where, optional=True),
        "head": ref,
        "base_sha": _field(payload, "before", str, where),
        "head_sha": _field(payload, "after", str, where),
        "author": {"id": email or name, "type": kind},
        "title": title,
        "body": None,
        "files": files,
        "commits": commits,
        "dependencies": _dependencies(files),
    }


def _push_commit(raw: Any, where: str, index: int, identities: IdentityMap) -> dict[str, Any]:
    at = f"{where}: commits[{index}]"
    if not isinstance(raw, dict):
        raise InputError(f"{at} is not an object", hint=_HINT)
    wrapped = {
        "sha": _field(raw, "id", str, at),
        "commit": {
            "author": raw.get("author"),
            "committer": raw.get("committer"),
            "message": raw.get("message"),
        },
        # A payload names each one's GitHub account by its login (``username``).
        **{role: {"login": _username(raw.get(role))} for role in ("author", "committer")},
    }
    return _commit(wrapped, where, index, identities)


def _username(person: Any) -> str | None:
    login = person.get("username") if isinstance(person, dict) else None
    return login if isinstance(login, str) else None


def _push_files(raw_commits: list[Any], where: str) -> list[dict[str, Any]]:
    """Each path the pushed commits touch, with its status from before the first to
    after the last: whether it was there before is what its first commit says (only a
    file it adds was not), whether it is there after what its last says. Only a file
    the push adds and removes again is left out, however often it came and went."""
    first: dict[str, str] = {}
    last: dict[str, str] = {}
    for index, commit in enumerate(raw_commits):
        for key in ("added", "modified", "removed"):
            paths = _field(commit, key, list, f"{where}: commits[{index}]", optional=True) or []
            for path in paths:
                if not isinstance(path, str) or not path:
                    raise InputError(f"{where}: commits[{index}].{key} has a non-path", hint=_HINT)
                first.setdefault(path, key)
                last[path] = key
    files = []
    for path, key in first.items():
        existed, exists = key != "added", last[path] != "removed"
        if not existed and not exists:
            continue
        files.append(
            {
                "path": path,
                "status": "modified" if existed and exists else ("added" if exists else "removed"),
                "previous_path": None,
                "patch": None,
                "patch_omitted": "GitHub push payloads carry no patches",
            }
        )
    return files


def _release(payload: dict[str, Any], where: str, identities: IdentityMap) -> dict[str, Any]:
    at = f"{where}: release"
    release = payload["release"]
    author = _field(release, "author", dict, at)
    tag = _field(release, "tag_name", str, at)
    return {
        "kind": "release",
        "repository": _repository(payload, where),
        "base": None,
        "head": tag,
        "author": {
            "id": _field(author, "login", str, f"{at}.author"),
            "type": _user_type(author, identities),
        },
        "title": _field(release, "name", str, at, optional=True) or tag,
        "body": _field(release, "body", str, at, optional=True),
        "files": [],
        "commits": [],
    }
