"""Remote approvals: the ask webhook (charter.runner.webhook) against a real loopback receiver.

The receiver is an HTTP server on 127.0.0.1 that checks every delivery as a real
one would (HMAC over timestamp and body, the timestamp's freshness), answers
from a script (a 500 first, to see the retry) and keeps what it was sent, which
is searched for canaries planted in the command, paths, title, body, code and
identities of real decisions (shipped constitution and gate).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from charter.audit import redact, stores
from charter.audit.chain import verify
from charter.core.errors import ConfigError
from charter.runner import webhook as wh
from charter.runner.config import WebhookConfig, load_config, parse_config
from charter.runner.service import RunnerService
from tests.fixtures_registry import free_port
from tests.runner_helpers import metric, wait_until, write_config
from tests.test_runner_service import config_body

SECRET = "w" * 40
CANARIES = ("cnrycmdx", "cnrypathx", "cnrycodex", "cnrytitlex", "cnrybodyx", "cnryhumanx",
            "cnryagentx", "cnryrequesterx")  # fmt: skip
RUNNER_URL = "https://charter.example.com"


class Receiver:
    """A loopback webhook endpoint that verifies what it is sent, as a receiver must."""

    def __init__(self, secret: bytes, statuses: list[int] | None = None) -> None:
        self.secret = secret
        self.statuses = list(statuses or [])
        #: (headers, body, signature valid) of every request, in order.
        self.requests: list[tuple[dict[str, str], bytes, bool]] = []
        self.release = threading.Event()
        self.release.set()
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                owner.release.wait(30)
                valid = wh.verify(
                    owner.secret,
                    body,
                    self.headers.get(wh.TIMESTAMP_HEADER),
                    self.headers.get(wh.SIGNATURE_HEADER),
                    now=time.time(),
                )
                with owner.lock:
                    owner.requests.append((dict(self.headers.items()), body, valid))
                    status = owner.statuses.pop(0) if owner.statuses else 200
                    status = status if valid else 401
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/charter"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def asks(self) -> list[dict[str, Any]]:
        """The asks of every accepted delivery, once per delivery id."""
        with self.lock:
            seen: dict[str, bytes] = {}
            for headers, body, valid in self.requests:
                if valid:
                    seen[headers[wh.DELIVERY_HEADER]] = body
        return [a for body in seen.values() for a in json.loads(body)["asks"]]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(SECRET.encode())
    try:
        yield r
    finally:
        r.close()


def webhook_toml(url: str, **extra: str) -> str:
    lines = [f'url = "{url}"', 'secret_env = "CHARTER_TEST_WEBHOOK_SECRET"',
             f'runner_url = "{RUNNER_URL}/"', 'flush_interval = "50ms"',
             'max_backoff = "200ms"']  # fmt: skip
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "[approvals.webhook]\n" + "\n".join(lines) + "\n"


HUMAN_PROPOSAL = {
    "kind": "pull_request", "repository": "acme/cnrypathx", "base": "main", "head": "f",
    "author": {"id": "cnryhumanx", "type": "human"}, "title": "cnrytitlex",
    "body": "cnrybodyx\n```py\ncnrycodex()\n```\n",
    "files": [{"path": "infra/cnrypathx/app.py", "status": "modified",
               "patch": "+cnrycodex()"}],
}  # fmt: skip


# ------------------------------------------------------------- the runner


def test_asks_reach_the_webhook_signed_redacted_and_retried(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTER_TEST_WEBHOOK_SECRET", SECRET)
    receiver.statuses = [500]  # the endpoint fails the first delivery
    extra = (
        'refresh_interval = "1h"\nevaluator_processes = 0\n'
        '[identities]\nhumans = ["cnryhumanx", "alice"]\n' + webhook_toml(receiver.url)
    )
    body = config_body(tmp_path, extra) + "record_inputs = true\n"
    service = RunnerService(load_config(write_config(tmp_path / "runner", body))).start()
    try:
        action = {"kind": "command", "command": "cnrycmdx --target /srv/cnrypathx",
                  "cwd": "/tmp/cnrypathx", "agent": {"id": "cnryagentx"}}  # fmt: skip
        asked = service.decide_action(action, "cnryrequesterx")
        proposal = service.decide_proposal(HUMAN_PROPOSAL, "cnryrequesterx")
        allowed = service.decide_action({"kind": "command", "command": "git status"}, "a")
        assert (asked["verdict"], proposal["verdict"], allowed["verdict"]) == (
            "ask",
            "ask",
            "allow",
        )
        hook = service.webhook
        assert hook is not None
        wait_until(lambda: hook.counts["sent"] == 2)
        metrics_text = service.metrics.render(service).decode()
        status = service.status()["approvals"]["webhook"]
        # A person answers one ask, with a comment; the other expires unanswered.
        service.approve(asked["decision_id"], True, "ok cnrycommentx", "alice")
    finally:
        service.stop()
    # Every request was signed (the receiver refuses anything else with a 401) ...
    assert [valid for _, _, valid in receiver.requests] == [True] * len(receiver.requests)
    # ... the first was refused with a 500 and sent again under the same delivery id,
    # signed anew; only asks were sent (the allowed action was not).
    first, retry = receiver.requests[0][0], receiver.requests[1][0]
    assert retry[wh.DELIVERY_HEADER] == first[wh.DELIVERY_HEADER]
    assert len(receiver.requests) == 3
    asks = {a["id"]: a for a in receiver.asks()}
    assert set(asks) == {asked["decision_id"], proposal["decision_id"]}
    # Nothing unredacted left: no canary in any byte of any request.
    for _, raw, _ in receiver.requests:
        for canary in CANARIES:
            assert canary.encode() not in raw, canary
    # What asked, and where to answer, are there.
    sent = asks[asked["decision_id"]]
    assert sent["kind"] == "action" and sent["decision"]["verdict"] == "ask"
    assert sent["decision"]["action"] == {"kind": "command"}
    assert {r["rule"] for r in sent["asked_by"]} == {
        r["rule"] for r in asked["reasons"] if r["verdict"] == "ask"
    }
    assert sent["asked_by"] and "requester" not in sent
    assert sent["links"]["show"] == f"{RUNNER_URL}/v1/approvals/{asked['decision_id']}"
    assert sent["links"]["approve"]["body"] == {"approve": True, "comment": ""}
    assert sent["links"]["console"].startswith(f"{RUNNER_URL}/console/approvals#ask-")
    by_proposal = asks[proposal["decision_id"]]
    assert by_proposal["kind"] == "proposal"
    assert all(r["rule"].startswith("CITE-") for r in by_proposal["asked_by"])
    assert metric(metrics_text, "charter_webhook_records_total", result="sent") == 2
    assert metric(metrics_text, "charter_webhook_records_total", result="dropped_overflow") == 0
    assert (metric(metrics_text, "charter_webhook_retries_total") or 0) >= 1
    # The status shows the endpoint by scheme and host only: a chat webhook's path is a secret.
    assert status["endpoint"] == receiver.url.removesuffix("/hooks/charter")
    assert (status["sent"], status["queued"], status["dropped_overflow"]) == (2, 0, 0)
    # The store holds the canaries (the premise), and the person's answer is in the
    # audit chain: who, when, the comment; the chain verifies.
    store = stores.open_store(tmp_path / "audit.db", read_only=True)
    records = list(store.records())
    assert verify(store).ok
    store.close()
    assert all(c in json.dumps(records) for c in CANARIES if c != "cnryrequesterx")
    answers = [r for r in records if r["kind"] == "approval"]
    assert [(a["decision_id"], a["verdict"]) for a in answers] == [(asked["decision_id"], "allow")]
    approval = answers[0]["approvals"][0]
    assert approval["by"] == "alice" and approval["comment"] == "ok cnrycommentx"
    assert approval["approve"] is True and approval["at"].endswith("Z")


def test_the_webhook_is_off_by_default_and_its_config_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = '[actions]\nconstitution = "c.toml"\nkey = "k.pub"\n'
    assert parse_config(base).approval_webhook is None
    ok = parse_config(base + webhook_toml("https://chat.example/hook"), base=tmp_path)
    assert ok.approval_webhook is not None
    assert ok.approval_webhook.runner_url == RUNNER_URL  # trailing slash dropped
    assert ok.approval_webhook.batch_size == 1  # one request per ask by default
    for bad, words in (
        (webhook_toml("http://chat.example/hook"), "https://"),  # clear text off loopback
        ("[approvals.webhook]\nurl = \"https://c.example\"\nsecret_env = \"S\"\n", "runner_url"),
        ('[approvals.webhook]\nurl = "https://c.example"\nrunner_url = "https://r"\n',
         "secret_env"),
        (webhook_toml("https://c.example", secret='"inline"'), "unknown key"),
        (webhook_toml("https://c.example").replace(f"{RUNNER_URL}/", "https://u:p@r.example"),
         "runner_url"),
        (webhook_toml("https://c.example", batch_size="0"), "batch_size"),
    ):  # fmt: skip
        with pytest.raises(ConfigError, match=words):
            parse_config(base + bad)
    monkeypatch.delenv("CHARTER_TEST_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigError, match="approvals.webhook.secret_env"):
        wh.open_webhook(ok.approval_webhook, replica="r", now=time.time)
    monkeypatch.setenv("CHARTER_TEST_WEBHOOK_SECRET", "short")
    with pytest.raises(ConfigError, match="shorter than 16"):
        wh.open_webhook(ok.approval_webhook, replica="r", now=time.time)


# ------------------------------------------------------------- the sender


def settings(url: str, **kw: Any) -> WebhookConfig:
    base: dict[str, Any] = {"url": url, "secret_env": "X", "runner_url": RUNNER_URL,
                            "flush_interval": 0.05, "max_backoff": 0.2}  # fmt: skip
    return WebhookConfig(**{**base, **kw})


def sender(url: str, *, now: Any = time.time, **kw: Any) -> wh.AskWebhook:
    return wh.AskWebhook(
        settings(url, **kw), redact.RedactionPolicy(), SECRET.encode(), replica="t:1", now=now
    )


def view(i: int, expires: str = "2999-01-01T00:00:00Z") -> dict[str, Any]:
    return {"decision_id": f"d-{i}", "kind": "action", "status": "pending",
            "subject": {"kind": "command", "command": f"cnrycmdx {i}"},
            "reasons": [{"rule": "GATE-DEFAULT-ASK", "layer": "constitution", "verdict": "ask",
                         "severity": "low", "msg": "`cnrycmdx` matches no auto_allowed pattern"}],
            "stack": [], "input_digest": "sha256:" + "0" * 64, "requester": "cnryrequesterx",
            "created_at": "2026-11-30T10:00:00Z", "expires_at": expires}  # fmt: skip


def test_replays_and_forgeries_do_not_verify() -> None:
    secret, body, now = SECRET.encode(), b'{"asks":[]}', 1_800_000_000.0
    stamp = str(int(now))
    good = wh.signature(secret, stamp, body)
    assert wh.verify(secret, body, stamp, good, now=now)
    assert wh.verify(secret, body, stamp, good, now=now + wh.TOLERANCE)
    # The same request replayed later, a moved timestamp, a changed byte, another key.
    assert not wh.verify(secret, body, stamp, good, now=now + wh.TOLERANCE + 1)
    later = str(int(now) + 60)
    assert not wh.verify(secret, body, later, good, now=now + 60)
    assert not wh.verify(secret, body + b" ", stamp, good, now=now)
    assert not wh.verify(b"x" * 40, body, stamp, good, now=now)
    for stamp_bad in (None, "", "-1", "1e9", "１８００", f"{stamp}.0"):
        assert not wh.verify(secret, body, stamp_bad, good, now=now)
    assert not wh.verify(secret, body, stamp, None, now=now)
    assert not wh.verify(secret, body, stamp, good.upper(), now=now)


def test_a_full_queue_counts_and_logs_never_blocks(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.release.clear()  # the endpoint hangs: the sender is stuck in a POST
    hook = sender(receiver.url, queue_size=2)
    hook.start()
    try:
        hook.offer(view(0))
        wait_until(lambda: hook._queue.qsize() == 0)  # taken by the sender, now stuck
        with caplog.at_level(logging.WARNING, logger="charter.runner.export"):
            started = time.monotonic()
            for i in range(1, 8):
                hook.offer(view(i))
            assert time.monotonic() - started < 5  # never waits for the endpoint
        assert hook.counts["dropped_overflow"] == 5
        assert "webhook queue full" in caplog.text
        assert 'charter_webhook_records_total{result="dropped_overflow"}' in caplog.text
    finally:
        receiver.release.set()
        hook.stop()
    assert hook.counts["sent"] == 3


def test_asks_that_expired_are_given_up_not_retried_forever(receiver: Receiver) -> None:
    receiver.statuses = [503] * 100
    clock = {"now": 1_000.0}
    hook = sender(receiver.url, now=lambda: clock["now"])
    hook.start()
    try:
        hook.offer(view(1, expires="1970-01-01T00:30:00Z"))  # 1800 s
        wait_until(lambda: len(receiver.requests) >= 2)
        assert hook.counts["expired"] == 0
        clock["now"] = 1_800.0
        wait_until(lambda: hook.counts["expired"] == 1)
    finally:
        hook.stop()
    assert hook.counts["sent"] == 0


def test_a_refused_delivery_is_counted_and_not_retried(receiver: Receiver) -> None:
    receiver.statuses = [400]
    hook = sender(receiver.url, batch_size=10)
    hook.start()
    try:
        for i in range(3):
            hook.offer(view(i))
        wait_until(lambda: hook.counts["rejected"] + hook.counts["sent"] == 3)
    finally:
        hook.stop()
    assert hook.retries == 0
    assert len(receiver.requests) <= 3


@pytest.mark.parametrize("mode", ["drop", "hash"])
def test_every_class_stays_hidden_in_the_payload(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTER_TEST_REDACT_KEY", "k" * 32)
    table: dict[str, Any] = dict.fromkeys(redact.CLASSES, mode)
    if mode == "hash":
        table["hash_key_env"] = "CHARTER_TEST_REDACT_KEY"
    policy = redact.policy_from_table(table, "test")
    hook = wh.AskWebhook(settings("https://x.example"), policy, SECRET.encode(), replica="r",
                         now=time.time)  # fmt: skip
    proposal = {**view(2), "kind": "proposal", "author": "cnryhumanx",
                "subject": {"title": "cnrytitlex", "files": ["cnrypathx/a.py"],
                            "author": {"id": "cnryhumanx"}}}  # fmt: skip
    _, raw, n = hook.body([view(1), proposal])
    assert n == 2
    for canary in ("cnrycmdx", "cnrypathx", "cnrytitlex", "cnryhumanx", "cnryrequesterx"):
        assert canary.encode() not in raw, canary
    asks = json.loads(raw)["asks"]
    if mode == "hash":  # correlatable: the same person hashes the same way
        assert asks[0]["requester"] == asks[1]["requester"]
        assert asks[0]["requester"].startswith("hmac-sha256:")
    else:
        assert "requester" not in asks[0] and "input" not in asks[1]["decision"]
