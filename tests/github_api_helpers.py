"""A real HTTP server on 127.0.0.1 that answers like GitHub's REST API for one pull request.

It serves each list (``/repos/OWNER/NAME/pulls/N/files|reviews|commits``) in pages
of ``page_size`` items with GitHub's ``Link: <…>; rel="next"`` header, records every
request (path, query and headers) and can be told to answer a path with a status, a
body and headers instead, or with given pages (each naming the page it links to next:
overlapping, repeating or looping pages). The items it serves are the HAND-MADE answers of
``tests/test_facts_github.py`` (GitHub's documented schema, not recorded output).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from charter.core import jsonio


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class Override:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Page:
    """One page of an answer served as given: its items and the page its Link names next."""

    items: list[Any]
    next: int | None = None


@dataclass
class FakeGitHub:
    """What the server serves and what it saw; ``url`` is its base URL once started."""

    lists: dict[str, list[Any]]
    page_size: int = 1
    overrides: dict[str, Override] = field(default_factory=dict)
    pages: dict[str, list[Page]] = field(default_factory=dict)
    endless: bool = False
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            return

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            with fake.lock:
                fake.seen.append(Seen(parts.path, query, dict(self.headers.items())))
            override = fake.overrides.get(parts.path)
            if override is not None:
                self._send(override.status, override.body, override.headers)
                return
            if parts.path in fake.pages:
                self._send_page(fake.pages[parts.path], parts.path, query)
                return
            items = fake.lists.get(parts.path)
            if items is None:
                self._send(404, b'{"message": "Not Found"}', {})
                return
            page = int(query.get("page", ["1"])[0])
            start = (page - 1) * fake.page_size
            chunk = items[start : start + fake.page_size]
            headers = {}
            if fake.endless or start + fake.page_size < len(items):
                nxt = f"{fake.url}{parts.path}?per_page=100&page={page + 1}"
                headers["Link"] = f'<{nxt}>; rel="next", <{fake.url}{parts.path}>; rel="first"'
            self._send(200, jsonio.compact(chunk).encode(), headers)

        def _send_page(self, pages: list[Page], path: str, query: dict[str, list[str]]) -> None:
            page = pages[int(query.get("page", ["1"])[0]) - 1]
            headers = {}
            if page.next is not None:
                headers["Link"] = f'<{fake.url}{path}?per_page=100&page={page.next}>; rel="next"'
            self._send(200, jsonio.compact(page.items).encode(), headers)

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def serve(fake: FakeGitHub) -> Iterator[FakeGitHub]:
    """Run ``fake`` on 127.0.0.1 (a free port) for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def pull_lists(repository: str, number: int, **lists: list[Any]) -> dict[str, list[Any]]:
    """The server's routes for one pull request: ``files=[…], reviews=[…], commits=[…]``."""
    return {f"/repos/{repository}/pulls/{number}/{name}": items for name, items in lists.items()}
