"""Fetch a pull request's REST answers from the GitHub API (``GITHUB_TOKEN`` set, no ``--api-dir``).

The same three lists a workflow would save with ``gh api --paginate`` —
``pulls/N/files``, ``pulls/N/reviews`` and ``pulls/N/commits`` — read with
httpx from ``$GITHUB_API_URL`` (default ``https://api.github.com``, or a GitHub
Enterprise ``https://HOST/api/v3``), ``per_page=100``, following
``Link: rel="next"`` up to :data:`MAX_PAGES` pages. Every request carries
``Authorization: Bearer TOKEN``, ``Accept: application/vnd.github+json`` and
``X-GitHub-Api-Version``, with a timeout.

The token never leaves the API's origin: the URL must be ``https`` (plain
``http`` only to a loopback address), redirects are followed only within the
same scheme, host and port, and a ``next`` link elsewhere is refused. A link or
redirect must stay on the same list of the same pull request
(``/repos/OWNER/NAME/pulls/N/LIST``, or GitHub's ``/repositories/ID/pulls/N/LIST``),
must not lead back to a page already read, and each page is read up to
:data:`MAX_PAGE_BYTES` within :data:`BODY_TIMEOUTS` read timeouts, and may hold
at most the 100 items asked for. Any
failure — unreachable, timed out, 401, 403, 404, an exhausted rate limit (with
the time it resets), a 5xx, an answer that is not a JSON array of objects, a
redirect or link to another origin or list, a Link loop, too many pages, a page
too large, too slow or too long, a malformed ``Location`` or ``Link`` — is a
:class:`GitHubApiError` (exit 2) naming the URL and what to do, never a shorter
list and never another pull request's. The lists are then mapped by
:mod:`charter.facts.github` exactly like saved answers, with the same
completeness checks.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from charter.core import jsonio
from charter.core.errors import InputError
from charter.core.hosts import is_loopback

if TYPE_CHECKING:
    import httpx

DEFAULT_API_URL = "https://api.github.com"
#: The REST API version every request asks for.
API_VERSION = "2022-11-28"
#: Pages followed per list before giving up (100 items a page).
MAX_PAGES = 100
#: Seconds for connecting, and for each read, of one request.
TIMEOUT_SECONDS = 30.0
#: Items asked for per page; a page with more is not GitHub's answer.
PER_PAGE = 100
#: Bytes read of one answer before giving up (100 files with GitHub's patches fit).
MAX_PAGE_BYTES = 32 * 1024 * 1024
#: An answer's body must be read whole within this many read timeouts.
BODY_TIMEOUTS = 4
_MAX_REDIRECTS = 5
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
#: Fetched in this order: commits last, so a push while fetching shows there as a commit
#: on top of the event's head (refused by charter.facts.github), not as newer files.
_ANSWERS = ("files", "reviews", "commits")
_TOKEN = re.compile(r"[\x21-\x7e]+")


class GitHubApiError(InputError):
    """The GitHub API did not give a complete answer."""


@dataclass(frozen=True)
class Api:
    """Where and as whom to ask: the API base URL and the token (never shown)."""

    token: str
    url: str = DEFAULT_API_URL
    timeout: float = TIMEOUT_SECONDS
    max_pages: int = MAX_PAGES
    max_page_bytes: int = MAX_PAGE_BYTES

    def __repr__(self) -> str:
        return f"Api(url={self.url!r}, token=<redacted>)"


def from_environment(env: Mapping[str, str]) -> Api | None:
    """The API to ask given ``GITHUB_TOKEN`` / ``GITHUB_API_URL``, or None without a token."""
    token = env.get("GITHUB_TOKEN", "").strip()
    if not token:
        return None
    return Api(token=token, url=env.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL)


def pull_answers(
    api: Api, repository: str, number: int, names: tuple[str, ...] = _ANSWERS
) -> dict[str, tuple[str, list[Any]]]:
    """``files``, ``reviews`` and ``commits`` of pull request ``number`` (or only ``names``):
    each as (first page's URL, every item)."""
    base = _checked_base(api, repository)
    answers: dict[str, tuple[str, list[Any]]] = {}
    with _client(api) as client:
        for name in names:
            url = f"{base}/repos/{repository}/pulls/{number}/{name}?per_page={PER_PAGE}"
            paths = _list_path(urlsplit(base).path, repository, f"pulls/{number}/{name}")
            answers[name] = (url, _pages(client, _List(url, paths, api)))
    return answers


def pull_request(api: Api, repository: str, number: int) -> tuple[str, dict[str, Any]]:
    """Pull request ``number`` as the API has it now (its URL, the object): its
    ``changed_files`` and ``commits`` counts and its current ``head.sha``."""
    base = _checked_base(api, repository)
    url = f"{base}/repos/{repository}/pulls/{number}"
    listed = _List(url, _list_path(urlsplit(base).path, repository, f"pulls/{number}"), api)
    with _client(api) as client:
        _, body = _get(client, url, listed)
    hint = "the API answered something other than GitHub's documented JSON; re-run later"
    return url, jsonio.loads_object(body, what=url, hint=hint)


def _checked_base(api: Api, repository: str) -> str:
    if not _REPOSITORY.fullmatch(repository) or ".." in repository:
        raise GitHubApiError(
            f"repository {repository!r} is not OWNER/NAME",
            hint="the event's repository.full_name must name the repository",
        )
    if not _TOKEN.fullmatch(api.token):  # never echoed: it would land in a job log
        raise GitHubApiError(
            "GITHUB_TOKEN holds characters no GitHub token has (whitespace or control)",
            hint="set GITHUB_TOKEN to the token alone",
        )
    return _base_url(api.url)


def _client(api: Api) -> httpx.Client:
    import httpx  # only a run that fetches pays for importing the HTTP stack

    return httpx.Client(
        timeout=httpx.Timeout(api.timeout), follow_redirects=False, headers=_headers(api)
    )


@dataclass(frozen=True)
class _List:
    """One list to read: its first page's URL, the paths its pages may have, the limits."""

    url: str
    paths: re.Pattern[str]
    api: Api


def _list_path(base: str, repository: str, tail: str) -> re.Pattern[str]:
    """``BASE/repos/OWNER/NAME/TAIL``, or GitHub's ``BASE/repositories/ID/TAIL`` spelling
    of it (its next links, and a renamed repository's redirect)."""
    spellings = f"repos/{re.escape(repository)}|repositories/[0-9]+"
    return re.compile(f"{re.escape(base)}/(?:{spellings})/{re.escape(tail)}", re.I)


def _headers(api: Api) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {api.token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": "charter",
    }


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    hint = "set GITHUB_API_URL to https://api.github.com or https://HOST/api/v3"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise GitHubApiError(f"GITHUB_API_URL {url!r} is not an http(s) URL", hint=hint)
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise GitHubApiError(
            f"GITHUB_API_URL {url!r}: plain http would send the token unencrypted", hint=hint
        )
    if parts.query or parts.fragment:
        raise GitHubApiError(f"GITHUB_API_URL {url!r} has a query or fragment", hint=hint)
    return url.rstrip("/")


def _origin(url: str, where: str) -> tuple[str, str, int]:
    """Scheme, host and port as httpx (which connects) reads them; a malformed URL (from
    a ``Location`` or ``Link`` header of the answer at ``where``) is refused."""
    import httpx

    try:
        parts = httpx.URL(url)
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme, 0)
        if not 0 < port < 65536:
            raise httpx.InvalidURL(f"port {port} out of range")
    except httpx.InvalidURL as exc:
        raise GitHubApiError(
            f"{where}: malformed URL in a Location or Link header ({exc})",
            hint="check GITHUB_API_URL",
        ) from None
    return parts.scheme, parts.host.lower(), port


def _follow(current: str, reference: str, listed: _List, redirect: bool) -> str:
    """Where a ``next`` link or a redirect from ``current`` leads, if the token may go
    there: the same origin, and a page of the same list of the same pull request."""
    import httpx

    what = "redirect" if redirect else "next page"
    try:
        target = str(httpx.URL(current).join(reference))
    except httpx.InvalidURL as exc:
        raise GitHubApiError(
            f"{current}: malformed {what} ({exc})", hint="check GITHUB_API_URL"
        ) from None
    origin = _origin(target, current)
    if origin != _origin(listed.url, current):
        moved = "redirected to" if redirect else "the next page is on"
        raise GitHubApiError(
            f"{current}: {moved} another origin ({origin[1] or target});"
            " refusing to send the token there",
            hint="check GITHUB_API_URL and the repository name",
        )
    path = httpx.URL(target).raw_path.decode("ascii").partition("?")[0]  # as sent: encoded
    if not listed.paths.fullmatch(path):
        raise GitHubApiError(
            f"{current}: the {what} goes to {path}, not {urlsplit(listed.url).path};"
            " refusing another list or pull request",
            hint="check GITHUB_API_URL",
        )
    return target


def _pages(client: httpx.Client, listed: _List) -> list[Any]:
    items: list[Any] = []
    next_url: str | None = listed.url
    read: set[tuple[tuple[str, str], ...]] = set()
    while next_url is not None:
        if len(read) == listed.api.max_pages:
            raise GitHubApiError(
                f"{listed.url}: more than {listed.api.max_pages} pages of {PER_PAGE}",
                hint="use 'charter proposal from-git' on a checkout for a change this large",
            )
        read.add(_page_key(next_url))
        response, body = _get(client, next_url, listed)
        items.extend(_page(body, next_url))
        link = response.links.get("next", {}).get("url")
        next_url = _follow(next_url, link, listed, redirect=False) if link else None
        if next_url is not None and _page_key(next_url) in read:
            raise GitHubApiError(
                f"{listed.url}: the next page {next_url} was read already (a Link loop)",
                hint="GitHub's pages never repeat; re-run later, or pass --api-dir",
            )
    return items


def _page_key(url: str) -> tuple[tuple[str, str], ...]:
    """Which page ``url`` asks for (its query, ``page`` 1 unless given): the path is the
    list's, spelled ``/repos/…`` or ``/repositories/ID/…``."""
    query = dict(parse_qsl(urlsplit(url).query))
    return tuple(sorted({"page": "1", **query}.items()))


def _get(client: httpx.Client, url: str, listed: _List) -> tuple[httpx.Response, bytes]:
    import httpx

    token = client.headers.get("authorization", "").removeprefix("Bearer ") or "\x00"
    current = url
    for _ in range(_MAX_REDIRECTS + 1):
        try:
            with client.stream("GET", current) as response:
                body = _read(response, current, listed.api)
        except httpx.TimeoutException:
            raise GitHubApiError(
                f"{current}: no answer within {client.timeout.read} s",
                hint="retry later, or save the answers with 'gh api --paginate' and pass --api-dir",
            ) from None
        except httpx.HTTPError as exc:
            why = " ".join(str(exc).split())[:200].replace(token, "***")
            raise GitHubApiError(
                f"{current}: cannot reach the GitHub API ({type(exc).__name__}: {why})",
                hint="check GITHUB_API_URL and the network, or pass --api-dir",
            ) from None
        if not response.is_redirect:
            _refuse_failure(response, body, current)
            return response, body
        current = _follow(current, response.headers.get("location", ""), listed, redirect=True)
    raise GitHubApiError(
        f"{url}: more than {_MAX_REDIRECTS} redirects", hint="check GITHUB_API_URL"
    )


def _read(response: httpx.Response, url: str, api: Api) -> bytes:
    """The body, read up to ``api.max_page_bytes`` bytes and within :data:`BODY_TIMEOUTS`
    read timeouts (a larger or slower one is refused, not held in memory or waited for)."""
    hint = "not a page of GitHub's answer; check GITHUB_API_URL, or pass --api-dir"
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + api.timeout * BODY_TIMEOUTS
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > api.max_page_bytes:
            raise GitHubApiError(f"{url}: answer larger than {api.max_page_bytes} bytes", hint=hint)
        if time.monotonic() > deadline:
            raise GitHubApiError(
                f"{url}: answer not read whole within {api.timeout * BODY_TIMEOUTS:g} s", hint=hint
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse_failure(response: httpx.Response, body: bytes, url: str) -> None:
    status = response.status_code
    if status < 300:
        return
    headers = response.headers
    if status in (403, 429) and (headers.get("x-ratelimit-remaining") == "0"):
        raise GitHubApiError(
            f"{url}: GitHub API rate limit exhausted ({status}); it resets at"
            f" {_reset_time(headers.get('x-ratelimit-reset'))}",
            hint="wait until then, use a token with a higher limit, or pass --api-dir",
        )
    if status in (403, 429) and "retry-after" in headers:
        delay = headers["retry-after"].strip()
        when = f"after {delay} s" if re.fullmatch(r"[0-9]{1,6}", delay) else "later"
        raise GitHubApiError(
            f"{url}: GitHub API secondary rate limit ({status}); retry {when}",
            hint="wait and re-run, or pass --api-dir",
        )
    hint = _HINTS.get(status, _HINT_5XX if status >= 500 else _HINT_OTHER)
    raise GitHubApiError(f"{url}: {status} {_reason(response, body)}", hint=hint)


_HINT_5XX = "GitHub failed to answer; re-run the job later"
_HINT_OTHER = "an unexpected answer; check GITHUB_API_URL and the event, or pass --api-dir"
_HINTS = {
    401: "GITHUB_TOKEN was rejected; pass a valid token (in Actions: ${{ github.token }})",
    403: "the token may not read this repository; grant 'pull-requests: read' and"
    " 'contents: read' (workflow permissions)",
    404: "the repository or pull request is not visible to this token; check the event,"
    " GITHUB_API_URL and the token's repository access",
}


def _reason(response: httpx.Response, body: bytes) -> str:
    try:
        answer = jsonio.loads(body, what="the answer")
    except InputError:
        answer = None
    message = answer.get("message") if isinstance(answer, dict) else None
    text = str(message) if isinstance(message, str) else response.reason_phrase
    return " ".join("".join(c for c in text if c.isprintable() or c.isspace()).split())[:200]


def _reset_time(value: str | None) -> str:
    try:
        moment = datetime.fromtimestamp(int(value or ""), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return "an unknown time (no valid X-RateLimit-Reset)"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _page(body: bytes, url: str) -> list[Any]:
    hint = "the API answered something other than GitHub's documented JSON; re-run later"
    page = jsonio.loads(body, what=url, hint=hint)
    if not isinstance(page, list):
        raise GitHubApiError(f"{url}: expected a JSON array, not {type(page).__name__}", hint=hint)
    if len(page) > PER_PAGE:
        raise GitHubApiError(
            f"{url}: {len(page)} items on one page; asked for {PER_PAGE}", hint=hint
        )
    return page
