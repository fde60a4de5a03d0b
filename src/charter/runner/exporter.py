"""What leaves the data plane: redacted records to an HTTP endpoint, and signed checkpoints.

Both are off unless configured (``[export.http]``, ``[export.checkpoint]``,
docs/runner.md). Neither can hold up a decision:

* :class:`Exporter` takes each record once it is durable (:class:`ExportingStore`
  wraps the audit store), into a bounded queue, without blocking: when the
  queue is full the record is not queued, and that is counted
  (``charter_export_records_total{result="dropped_overflow"}``) and logged, never
  silent. A thread redacts (charter.audit.redact: the allow-list, every free-text
  class dropped unless the policy says otherwise), batches, signs (HMAC-SHA256 of
  the body under a shared secret, header ``X-Charter-Signature: sha256=<hex>``,
  and/or the runner's key, ``X-Charter-Key-Signature`` and ``X-Charter-Key-Id``)
  and POSTs, retrying transient failures (connection errors, 408, 429, 5xx) with
  capped exponential backoff and jitter. A batch the endpoint refuses (another
  4xx) is not retried; it is counted as ``rejected``. Each batch has an id
  (``X-Charter-Batch``, also in the body) so a receiver can drop a retried
  duplicate, and each record keeps its chain ``hash``.
* :class:`CheckpointTask` writes a signed checkpoint of the audit log every
  interval and once more on shutdown (charter.audit.checkpoint).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import queue
import random
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from charter.audit import checkpoint as checkpoints
from charter.audit import redact
from charter.audit.chain import AuditSnapshot, AuditStore
from charter.audit.commit import RecordCallback
from charter.core import jsonio
from charter.core.errors import CharterError, ConfigError
from charter.runner.config import CheckpointExport, ExportConfig
from charter.trust import keys

log = logging.getLogger("charter.runner.export")
SIGNATURE_HEADER = "X-Charter-Signature"
#: With ``key``: base64 of the key's signature (Ed25519, or DER ECDSA P-256) over the body.
KEY_SIGNATURE_HEADER = "X-Charter-Key-Signature"
KEY_ID_HEADER = "X-Charter-Key-Id"
BATCH_HEADER = "X-Charter-Batch"
#: Results a record can have; each is a label of charter_export_records_total.
RESULTS = ("sent", "dropped_overflow", "rejected", "unsent_at_shutdown", "redaction_error")
#: Statuses worth retrying: the endpoint may accept the same batch later.
_TRANSIENT = {408, 425, 429}
_FIRST_BACKOFF = 0.5


class Shipping(Protocol):
    """How batches are shipped: ``[export.http]`` and ``[approvals.webhook]`` alike."""

    @property
    def url(self) -> str: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def flush_interval(self) -> float: ...
    @property
    def queue_size(self) -> int: ...
    @property
    def timeout(self) -> float: ...
    @property
    def max_backoff(self) -> float: ...


def sign_body(secret: bytes, body: bytes) -> str:
    """The ``X-Charter-Signature`` value of ``body``: ``sha256=`` + HMAC-SHA256 hex."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_body(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` (constant-time; for receivers)."""
    return header is not None and hmac.compare_digest(sign_body(secret, body), header)


def verify_key_signature(public: keys.PublicKey, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is ``public``'s signature of ``body`` (for receivers)."""
    if header is None:
        return False
    try:
        keys.verify(public, base64.b64decode(header, validate=True), body)
    except (CharterError, ValueError):
        return False
    return True


def secret_from_env(name: str, where: str = "export.http.secret_env") -> bytes:
    value = os.environ.get(name, "")
    if len(value) < 16:
        raise ConfigError(
            f"{where}: environment variable {name} is unset or shorter than 16 characters",
            hint="export a long random shared secret, e.g. openssl rand -hex 32",
        )
    return value.encode()


class Exporter:
    """Ships redacted records to one HTTP endpoint from a background thread.

    Subclasses (the ask webhook, :mod:`.webhook`) change what a batch's body and
    headers are, the names of the metrics and logs, and when a batch is given up.
    """

    #: Names of the thread, the log lines and the metrics (``<metric>_records_total`` …).
    name = "export"
    metric = "charter_export"
    results: tuple[str, ...] = RESULTS

    def __init__(
        self,
        settings: Shipping,
        policy: redact.RedactionPolicy,
        secret: bytes | None,
        *,
        replica: str,
        key: keys.PrivateKey | None = None,
        post: Callable[[str, bytes, dict[str, str], float], int] | None = None,
    ) -> None:
        if secret is None and key is None:
            raise ConfigError("export.http: bodies must be signed (a secret or a key)")
        self.settings = settings
        self.policy = policy
        self.replica = replica
        self._secret = secret
        self._key = key
        self._post = post or _post
        self._queue: queue.Queue[Mapping[str, Any]] = queue.Queue(settings.queue_size)
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(self.results, 0)
        self.retries = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ producers
    def offer(self, record: Mapping[str, Any]) -> None:
        """Queue a durable record; never blocks: a full queue counts and logs the record."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            dropped = self._count("dropped_overflow", 1)
            if dropped & (dropped - 1) == 0:  # 1, 2, 4, 8, ...: logged, not flooding
                log.warning(
                    "%s queue full (%d records): %d record(s) not sent so far "
                    '(%s_records_total{result="dropped_overflow"})',
                    self.name,
                    self.settings.queue_size,
                    dropped,
                    self.metric,
                )

    def _count(self, result: str, n: int) -> int:
        with self._lock:
            self.counts[result] += n
            return self.counts[result]

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"charter-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Send what is queued (one attempt per batch), count the rest, stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        left = 0
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
            left += 1
        if left:
            self._count("unsent_at_shutdown", left)
            log.warning("%s stopped with %d record(s) unsent", self.name, left)

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch:
                self._deliver(batch)
            elif self._stop.is_set():
                return

    def _take(self) -> list[Mapping[str, Any]]:
        """Up to batch_size records, waiting at most flush_interval for the first ones."""
        batch: list[Mapping[str, Any]] = []
        wait = 0.0 if self._stop.is_set() else self.settings.flush_interval
        try:
            batch.append(self._queue.get(timeout=wait) if wait else self._queue.get_nowait())
        except queue.Empty:
            return batch
        while len(batch) < self.settings.batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    # ------------------------------------------------------------- delivery
    def body(self, batch: list[Mapping[str, Any]]) -> tuple[str, bytes, int]:
        """(batch id, canonical JSON body, records redacted) of one batch."""
        records = []
        for record in batch:
            try:
                records.append(redact.redact_record(record, self.policy))
            except Exception:  # noqa: BLE001 - a record that cannot be redacted never leaves
                self._count("redaction_error", 1)
                log.exception("%s: a record could not be redacted; it is not sent", self.name)
        batch_id = str(uuid.uuid4())
        doc = {
            "batch": batch_id,
            "replica": self.replica,
            "sent_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "records": records,
        }
        return batch_id, jsonio.canonical_bytes(doc), len(records)

    def headers(self, batch_id: str, body: bytes) -> dict[str, str]:
        """The headers of one attempt to send ``body`` (signatures included)."""
        headers = {"Content-Type": "application/json", BATCH_HEADER: batch_id}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign_body(self._secret, body)
        if self._key is not None:
            headers[KEY_SIGNATURE_HEADER] = base64.b64encode(keys.sign(self._key, body)).decode()
            headers[KEY_ID_HEADER] = keys.key_id(self._key.public_key())
        return headers

    def abandon(self, batch: list[Mapping[str, Any]]) -> str | None:
        """A result to count ``batch`` under instead of retrying it (None: retry)."""
        return None

    def _deliver(self, batch: list[Mapping[str, Any]]) -> None:
        batch_id, body, n = self.body(batch)
        if not n:
            return
        backoff = min(_FIRST_BACKOFF, self.settings.max_backoff)
        while True:
            status = self._attempt(body, self.headers(batch_id, body))
            if status is not None and 200 <= status < 300:
                self._count("sent", n)
                return
            if status is not None and 400 <= status < 500 and status not in _TRANSIENT:
                self._count("rejected", n)
                log.error("%s: the endpoint refused batch %s (HTTP %d)", self.name, batch_id,
                          status)  # fmt: skip
                return
            if self._stop.is_set():
                self._count("unsent_at_shutdown", n)
                log.warning("%s: batch %s unsent at shutdown (%s)", self.name, batch_id, status)
                return
            given_up = self.abandon(batch)
            if given_up is not None:
                self._count(given_up, n)
                log.warning("%s: batch %s given up (%s)", self.name, batch_id, given_up)
                return
            with self._lock:
                self.retries += 1
            self._stop.wait(backoff * random.uniform(0.5, 1.0))  # noqa: S311 - jitter only
            backoff = min(self.settings.max_backoff, backoff * 2)

    def _attempt(self, body: bytes, headers: dict[str, str]) -> int | None:
        """The endpoint's status, or None when it could not be reached."""
        try:
            return self._post(self.settings.url, body, headers, self.settings.timeout)
        except OSError as exc:
            log.warning("%s: %s unreachable (%s)", self.name, endpoint(self.settings.url), exc)
            return None

    # -------------------------------------------------------------- metrics
    def metrics(self) -> list[Metric]:
        with self._lock:
            counts, retries = dict(self.counts), self.retries
        records = CounterMetricFamily(
            f"{self.metric}_records", f"Records given to the {self.name} sender, by result.",
            labels=["result"],
        )  # fmt: skip
        for result in self.results:
            records.add_metric([result], counts[result])
        return [
            records,
            CounterMetricFamily(f"{self.metric}_retries", "Batch retries.", value=retries),
            GaugeMetricFamily(
                f"{self.metric}_queue_depth", "Records waiting to be sent.",
                value=self._queue.qsize(),
            ),
        ]  # fmt: skip


def endpoint(url: str) -> str:
    """``url`` as logged: scheme and host only (a chat webhook's path is its credential)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class ExportingStore:
    """An audit store that hands every durable record to ``offer`` (never blocking)."""

    def __init__(self, inner: AuditStore, offer: Callable[[Mapping[str, Any]], None]) -> None:
        self.inner = inner
        self.location = inner.location
        self._offer = offer

    def append(
        self, decision: Mapping[str, Any], *, source: str, kind: str = "decision"
    ) -> dict[str, Any]:
        record = self.inner.append(decision, source=source, kind=kind)
        self._offer(record)
        return record

    def submit(
        self,
        decision: Mapping[str, Any],
        *,
        source: str,
        kind: str = "decision",
        callback: RecordCallback,
    ) -> None:
        def recorded(record: dict[str, Any] | None, error: BaseException | None) -> None:
            if record is not None and error is None:
                self._offer(record)
            callback(record, error)

        self.inner.submit(decision, source=source, kind=kind, callback=recorded)

    def records(self, after: int = 0) -> Iterator[dict[str, Any]]:
        return self.inner.records(after)

    def head(self) -> tuple[int, str] | None:
        return self.inner.head()

    def snapshot(self) -> AbstractContextManager[AuditSnapshot]:
        return self.inner.snapshot()

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        """Anything else a store offers (``count``, ``schema``, …), from the store itself."""
        return getattr(self.inner, name)


class CheckpointTask:
    """Writes a signed checkpoint every interval, and once more when stopped."""

    def __init__(self, writer: checkpoints.Checkpointer, interval: float) -> None:
        self.writer = writer
        self.interval = interval
        self.written = 0
        self.failures = 0
        self.size = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="charter-checkpoint", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.write()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()

    def write(self) -> None:
        with self._lock:  # the timer and stop() never sign at the same time
            try:
                written = self.writer.write()
            except (CharterError, OSError) as exc:
                self.failures += 1
                log.error("audit checkpoint not written: %s", exc)
                return
            if written is not None:
                self.written += 1
                self.size = written.size

    def metrics(self) -> list[Metric]:
        with self._lock:
            written, failures, size = self.written, self.failures, self.size
        return [
            CounterMetricFamily(
                "charter_checkpoints", "Signed checkpoints written.", value=written
            ),
            CounterMetricFamily(
                "charter_checkpoint_failures", "Checkpoints refused or not written.", value=failures
            ),
            GaugeMetricFamily(
                "charter_checkpoint_size", "Records covered by the last checkpoint.", value=size
            ),
        ]


class Export:
    """The configured exports of one runner; does nothing when none is configured."""

    def __init__(self, config: ExportConfig, *, replica: str) -> None:
        self.exporter: Exporter | None = None
        self.checkpoints: CheckpointTask | None = None
        self._checkpoint_config: CheckpointExport | None = config.checkpoint
        http = config.http
        if http is not None:
            policy = redact.load_policy(http.redact)
            secret = secret_from_env(http.secret_env) if http.secret_env else None
            key = (
                keys.load_private(http.key, keys.passphrase_from_env(http.passphrase_env))
                if http.key is not None
                else None
            )
            self.exporter = Exporter(http, policy, secret, replica=replica, key=key)
        self._key = (
            keys.load_private(
                config.checkpoint.key, keys.passphrase_from_env(config.checkpoint.passphrase_env)
            )
            if config.checkpoint is not None
            else None
        )

    def wrap(self, store: AuditStore) -> AuditStore:
        """``store``, handing its records to the exporter (itself when there is none)."""
        cp = self._checkpoint_config
        if cp is not None and self._key is not None:
            writer = checkpoints.Checkpointer(store, self._key, cp.path, origin=cp.origin)
            self.checkpoints = CheckpointTask(writer, cp.interval)
        if self.exporter is None:
            return store
        return ExportingStore(store, self.exporter.offer)

    def start(self) -> None:
        if self.exporter is not None:
            self.exporter.start()
        if self.checkpoints is not None:
            self.checkpoints.start()

    def stop(self) -> None:
        if self.exporter is not None:
            self.exporter.stop()
        if self.checkpoints is not None:
            self.checkpoints.stop()

    def metrics(self) -> list[Metric]:
        found: list[Metric] = []
        if self.exporter is not None:
            found += self.exporter.metrics()
        if self.checkpoints is not None:
            found += self.checkpoints.metrics()
        return found


__all__ = [
    "BATCH_HEADER",
    "KEY_ID_HEADER",
    "KEY_SIGNATURE_HEADER",
    "RESULTS",
    "SIGNATURE_HEADER",
    "CheckpointTask",
    "Export",
    "Exporter",
    "ExportingStore",
    "Shipping",
    "endpoint",
    "secret_from_env",
    "sign_body",
    "verify_body",
    "verify_key_signature",
]
