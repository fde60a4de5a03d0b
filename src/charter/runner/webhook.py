"""Remote approvals: tell a webhook, HMAC-signed and redacted, that an ``ask`` waits.

Off unless ``[approvals.webhook]`` is configured (docs/runner.md). Once an ask
is durable (its audit record written, its approval stored for every replica),
the service hands it to :meth:`AskWebhook.offer`, which never blocks: a full
queue counts the ask (``charter_webhook_records_total{result="dropped_overflow"}``)
and logs it. A thread builds each body and POSTs it with the exporter's retry
loop (:class:`charter.runner.exporter.Exporter`: capped exponential backoff with
jitter on connection errors, 408, 425, 429 and 5xx; another 4xx is ``rejected``);
a batch whose asks have all expired is given up (``expired``) rather than retried.

What is sent is built, never copied: the ask's decision goes through
:func:`charter.audit.redact.redact_record` under the webhook's redaction policy
(the exporter's: every free-text class dropped unless the policy says
otherwise), with what was asked (the command, or the proposal's summary) in the
record's ``action`` or ``input``; the requester and the author are
``identities``. Only ids, rule ids, layers, times and links are added.

Every attempt carries::

    X-Charter-Delivery: <uuid>                 same on every retry: drop duplicates
    X-Charter-Timestamp: <unix seconds>        when this attempt was signed
    X-Charter-Signature: sha256=<hex>          HMAC-SHA256(secret, "<timestamp>." + body)

so a receiver checks the signature (constant time), refuses a timestamp more than
:data:`TOLERANCE` seconds away from its clock (a captured request cannot be
replayed later), and remembers delivery ids for that long (:func:`verify`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from charter.audit import redact
from charter.core import jsonio
from charter.runner.config import WebhookConfig
from charter.runner.exporter import RESULTS, Exporter, endpoint, secret_from_env

log = logging.getLogger("charter.runner.webhook")
DELIVERY_HEADER = "X-Charter-Delivery"
TIMESTAMP_HEADER = "X-Charter-Timestamp"
SIGNATURE_HEADER = "X-Charter-Signature"
#: How far (seconds) a receiver should accept a timestamp from its own clock.
TOLERANCE = 300
#: The ``type`` of the body.
EVENT = "charter.approval.ask"
#: Results of an ask handed to the webhook (labels of charter_webhook_records_total).
WEBHOOK_RESULTS = (*RESULTS, "expired")


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=`` + HMAC-SHA256 hex of ``<timestamp>.<body>`` under ``secret``."""
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: bytes,
    body: bytes,
    timestamp: str | None,
    header: str | None,
    *,
    now: float,
    tolerance: float = TOLERANCE,
) -> bool:
    """Whether a delivery is authentic and fresh (for receivers): the timestamp is an
    integer within ``tolerance`` of ``now`` and ``header`` signs it with ``body``."""
    if timestamp is None or header is None or not timestamp.isascii():
        return False
    if not timestamp.isdigit() or abs(int(timestamp) - now) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)


class AskWebhook(Exporter):
    """Sends each ask (a view of its stored approval) to ``settings.url``."""

    name = "webhook"
    metric = "charter_webhook"
    results = WEBHOOK_RESULTS

    def __init__(
        self,
        settings: WebhookConfig,
        policy: redact.RedactionPolicy,
        secret: bytes,
        *,
        replica: str,
        now: Callable[[], float],
        clock: Callable[[], float] = time.time,
        post: Callable[[str, bytes, dict[str, str], float], int] | None = None,
    ) -> None:
        """``now`` is the service's time (asks expire by it); ``clock`` the wall clock
        that timestamps and signs each attempt."""
        super().__init__(settings, policy, secret, replica=replica, post=post)
        self.hook = settings
        self._hmac_key = secret
        self._now = now
        self._clock = clock

    # ------------------------------------------------------------- payload
    def body(self, batch: list[Mapping[str, Any]]) -> tuple[str, bytes, int]:
        """(delivery id, canonical JSON body, asks in it) of one batch of ask views."""
        asks = []
        for view in batch:
            try:
                asks.append(self.ask(view))
            except Exception:  # noqa: BLE001 - an ask that cannot be redacted never leaves
                self._count("redaction_error", 1)
                log.exception("webhook: an ask could not be redacted; it is not sent")
        delivery = str(uuid.uuid4())
        doc = {
            "type": EVENT,
            "delivery": delivery,
            "replica": self.replica,
            "sent_at": _iso(self._clock()),
            "asks": asks,
        }
        return delivery, jsonio.canonical_bytes(doc), len(asks)

    def ask(self, view: Mapping[str, Any]) -> dict[str, Any]:
        """One ask as sent: ids, times, the rules that asked, the redacted decision, links."""
        decision_id = str(view["decision_id"])
        subject = view.get("subject") or {}
        record: dict[str, Any] = {
            "decision_id": decision_id,
            "time": view.get("created_at"),
            "kind": view.get("kind"),
            "verdict": "ask",
            "reasons": view.get("reasons", []),
            "stack": view.get("stack", []),
            "input_digest": view.get("input_digest"),
        }
        # What was asked goes where the audit record keeps it, so the same classes
        # (commands, paths, identities; inputs for a proposal) cover it.
        record["action" if view.get("kind") == "action" else "input"] = subject
        decision = redact.redact_record(record, self.policy)
        out: dict[str, Any] = {
            "id": decision.get("decision_id"),
            "kind": decision.get("kind"),
            "created_at": decision.get("time"),
            "expires_at": view.get("expires_at"),
            "asked_by": [
                {"rule": r.get("rule"), "layer": r.get("layer")}
                for r in decision.get("reasons", [])
                if r.get("verdict") == "ask"
            ],
            "decision": decision,
            "links": self.links(decision_id),
        }
        for who in ("requester", "author"):
            present, value = redact.redact_text(view.get(who), "identities", self.policy)
            if present and value is not None:
                out[who] = value
        return out

    def links(self, decision_id: str) -> dict[str, Any]:
        """Where a person sees and answers the ask: the console and the API."""
        base = self.hook.runner_url
        quoted = urllib.parse.quote(decision_id, safe="")
        api = f"{base}/v1/approvals/{quoted}"
        return {
            "console": f"{base}/console/approvals#ask-{quoted}",
            "show": api,
            "approve": {"method": "POST", "url": api, "body": {"approve": True, "comment": ""}},
            "deny": {"method": "POST", "url": api, "body": {"approve": False, "comment": ""}},
        }

    def status(self) -> dict[str, Any]:
        """For ``GET /v1/status``: where (scheme and host only), what is queued, the counts."""
        with self._lock:
            counts = dict(self.counts)
        return {"endpoint": endpoint(self.hook.url), "queued": self._queue.qsize(),
                "retries": self.retries, **counts}  # fmt: skip

    # ------------------------------------------------------------- delivery
    def headers(self, batch_id: str, body: bytes) -> dict[str, str]:
        """Signed anew for every attempt, so a retry after a long backoff is fresh."""
        timestamp = str(int(self._clock()))
        return {
            "Content-Type": "application/json",
            DELIVERY_HEADER: batch_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self._hmac_key, timestamp, body),
        }

    def abandon(self, batch: list[Mapping[str, Any]]) -> str | None:
        """Stop retrying once every ask of the batch has expired: nobody can answer it."""
        now = self._now()
        if all(_expired(view, now) for view in batch):
            return "expired"
        return None


def _expired(view: Mapping[str, Any], now: float) -> bool:
    at = view.get("expires_at")
    if not isinstance(at, str):
        return False
    try:
        return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() <= now
    except ValueError:
        return False


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def open_webhook(
    settings: WebhookConfig | None, *, replica: str, now: Callable[[], float]
) -> AskWebhook | None:
    """The configured webhook (its secret from the environment, its policy loaded), or None."""
    if settings is None:
        return None
    secret = secret_from_env(settings.secret_env, "approvals.webhook.secret_env")
    policy = redact.load_policy(settings.redact)
    return AskWebhook(settings, policy, secret, replica=replica, now=now)


__all__ = [
    "DELIVERY_HEADER",
    "EVENT",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE",
    "WEBHOOK_RESULTS",
    "AskWebhook",
    "open_webhook",
    "signature",
    "verify",
]
