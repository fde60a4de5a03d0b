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
same scheme, host and port, and a ``next`` link elsewhere is refused. Any
failure — unreachable, timed out, 401, 403, 404, an exhausted rate limit (with
the time it resets), a 5xx, an answer that is not a JSON array of objects, a
redirect or link to another origin, too many pages — is a
:class:`GitHubApiError` (exit 2) naming the URL and what to do, never a shorter
list. The lists are then mapped by :mod:`charter.facts.github` exactly like
saved answers, with the same completeness checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

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
_MAX_REDIRECTS = 5
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
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
    base = _base_url(api.url)
    import httpx  # only a run that fetches pays for importing the HTTP stack

    answers: dict[str, tuple[str, list[Any]]] = {}
    with httpx.Client(
        timeout=httpx.Timeout(api.timeout), follow_redirects=False, headers=_headers(api)
    ) as client:
        for name in names:
            url = f"{base}/repos/{repository}/pulls/{number}/{name}?per_page=100"
            answers[name] = (url, _pages(client, url, api.max_pages))
    return answers


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


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _pages(client: httpx.Client, url: str, max_pages: int) -> list[Any]:
    items: list[Any] = []
    next_url: str | None = url
    pages = 0
    while next_url is not None:
        if pages == max_pages:
            raise GitHubApiError(
                f"{url}: more than {max_pages} pages of 100",
                hint="use 'charter proposal from-git' on a checkout for a change this large",
            )
        response = _get(client, next_url)
        items.extend(_page(response, next_url))
        pages += 1
        link = response.links.get("next", {}).get("url")
        next_url = urljoin(next_url, link) if link else None
        if next_url is not None and _origin(next_url) != _origin(url):
            raise GitHubApiError(
                f"{url}: the next page is on another origin ({_origin(next_url)[1]});"
                " refusing to send the token there",
                hint="check GITHUB_API_URL",
            )
    return items


def _get(client: httpx.Client, url: str) -> httpx.Response:
    import httpx

    token = client.headers.get("authorization", "").removeprefix("Bearer ") or "\x00"
    current = url
    for _ in range(_MAX_REDIRECTS + 1):
        try:
            response = client.get(current)
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
            _refuse_failure(response, current)
            return response
        target = urljoin(current, response.headers.get("location", ""))
        if _origin(target) != _origin(url):
            raise GitHubApiError(
                f"{current}: redirected to another origin ({_origin(target)[1] or target});"
                " refusing to send the token there",
                hint="check GITHUB_API_URL and the repository name",
            )
        current = target
    raise GitHubApiError(
        f"{url}: more than {_MAX_REDIRECTS} redirects", hint="check GITHUB_API_URL"
    )


def _refuse_failure(response: httpx.Response, url: str) -> None:
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
        raise GitHubApiError(
            f"{url}: GitHub API secondary rate limit ({status});"
            f" retry after {headers['retry-after']} s",
            hint="wait and re-run, or pass --api-dir",
        )
    hint = _HINTS.get(status, _HINT_5XX if status >= 500 else _HINT_OTHER)
    raise GitHubApiError(f"{url}: {status} {_reason(response)}", hint=hint)


_HINT_5XX = "GitHub failed to answer; re-run the job later"
_HINT_OTHER = "an unexpected answer; check GITHUB_API_URL and the event, or pass --api-dir"
_HINTS = {
    401: "GITHUB_TOKEN was rejected; pass a valid token (in Actions: ${{ github.token }})",
    403: "the token may not read this repository; grant 'pull-requests: read' and"
    " 'contents: read' (workflow permissions)",
    404: "the repository or pull request is not visible to this token; check the event,"
    " GITHUB_API_URL and the token's repository access",
}


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    text = str(message) if isinstance(message, str) else response.reason_phrase
    return " ".join(text.split())[:200]


def _reset_time(value: str | None) -> str:
    try:
        moment = datetime.fromtimestamp(int(value or ""), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return "an unknown time (no valid X-RateLimit-Reset)"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _page(response: httpx.Response, url: str) -> list[Any]:
    hint = "the API answered something other than GitHub's documented JSON; re-run later"
    page = jsonio.loads(response.content, what=url, hint=hint)
    if not isinstance(page, list):
        raise GitHubApiError(f"{url}: expected a JSON array, not {type(page).__name__}", hint=hint)
    return page
