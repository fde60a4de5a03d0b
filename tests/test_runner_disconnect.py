"""A client that aborts its upload is routine: logged at info, without a traceback."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from charter.policy.stack import shipped_constitution_path
from tests.runner_helpers import TOKENS, ThreadedRunner, auth, wait_until, write_config

LOGGERS = ("charter.runner", "uvicorn", "uvicorn.error", "")


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not any(r is record for r in self.records):  # it propagates to several loggers
            self.records.append(record)


@contextlib.contextmanager
def recording() -> Iterator[Records]:
    """Collect what the runner and uvicorn log (attached after uvicorn configured its loggers)."""
    handler = Records()
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).addHandler(handler)
    logging.getLogger("charter.runner").setLevel(logging.INFO)
    try:
        yield handler
    finally:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(handler)
            logging.getLogger(name).setLevel(levels[name])


def logged(records: Records) -> list[logging.LogRecord]:
    """Ours, or what uvicorn logged before the fix: the exception and its traceback."""
    return [
        r for r in records.records if "disconnected" in r.getMessage() or r.levelno >= logging.ERROR
    ]


def _abort_upload(url: str, path: str) -> None:
    """Send the headers and part of a body, then hang up."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {TOKENS['agent'][1]}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + b'{"kind": "pull_request", "repository": "acme/')


@pytest.mark.parametrize("path", ["/v1/decisions/proposal", "/v1/decisions/action", "/v1/explain"])
def test_an_aborted_upload_is_logged_at_info_without_a_traceback(tmp_path: Path, path: str) -> None:
    config = write_config(
        tmp_path,
        f'refresh_interval = "1h"\n\n[stack]\nconstitution = "{shipped_constitution_path()}"\n\n'
        f'[audit]\nstore = "{tmp_path / "audit.db"}"\n',
    )
    runner = ThreadedRunner(config)
    try:
        with recording() as records:
            _abort_upload(runner.url, path)
            found = wait_until(lambda: logged(records), timeout=30)
        assert [(r.name, r.levelno) for r in found] == [("charter.runner", logging.INFO)]
        assert path in found[0].getMessage()
        assert not [r for r in records.records if r.levelno >= logging.WARNING], [
            r.getMessage() for r in records.records
        ]
        assert not [r for r in records.records if r.exc_info]
        # The runner goes on serving.
        r = runner.client.get("/v1/status", headers=auth("operator"))
        assert r.status_code == 200
    finally:
        runner.stop()
