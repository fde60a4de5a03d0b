"""The runner's Prometheus metrics, exposed with ``prometheus-client``.

Counting is on the request path, so it stays a few dictionary updates under one
lock (a histogram observation is one ``bisect``); ``prometheus-client`` renders
them, with the service's state (ready, degraded, integrity, layers, waivers)
read at scrape time by a custom collector. Each service has its own
:class:`Metrics`: nothing is registered in the library's global registry.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

#: The media type of :meth:`Metrics.render` (the text exposition format 0.0.4).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
#: Request latency buckets, in seconds.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_INFO = ("layer", "name", "version", "digest")
_WAIVER_STATES = ("active", "expired", "invalid")


class _Watchdog(Protocol):
    @property
    def healthy(self) -> bool: ...


class ServiceState(Protocol):
    """What the scrape reads from the service (see ``RunnerService``)."""

    @property
    def ready(self) -> bool: ...

    @property
    def health(self) -> str: ...

    @property
    def watchdog(self) -> _Watchdog: ...

    @property
    def last_good_refresh(self) -> str | None: ...

    def stack_doc(self) -> list[dict[str, Any]]: ...

    def waiver_status(self) -> dict[str, Any] | None: ...

    def limited(self) -> dict[str, int]: ...

    def queued(self) -> int: ...


class Metrics:
    """Counters of one runner: decisions, requests and their latency, refreshes, approvals."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.decisions: dict[tuple[str, str], int] = {}
        self.requests: dict[tuple[str, str], int] = {}
        #: Per route: the count in each bucket (not cumulative), then above the last.
        self.latency: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = {}
        self.refreshes = {"ok": 0, "error": 0}
        self.approvals = {"approved": 0, "rejected": 0}
        self.audit_failures = 0
        #: More families read at scrape time (the exporter's counters, charter.runner.exporter).
        self.sources: list[Callable[[], list[Metric]]] = []

    def decision(self, kind: str, verdict: str) -> None:
        with self._lock:
            self.decisions[(kind, verdict)] = self.decisions.get((kind, verdict), 0) + 1

    def refresh(self, ok: bool) -> None:
        with self._lock:
            self.refreshes["ok" if ok else "error"] += 1

    def approval(self, approved: bool) -> None:
        with self._lock:
            self.approvals["approved" if approved else "rejected"] += 1

    def audit_failure(self) -> None:
        with self._lock:
            self.audit_failures += 1

    def request(self, route: str, status: int, seconds: float) -> None:
        slot = bisect.bisect_left(BUCKETS, seconds)
        with self._lock:
            key = (route, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            buckets = self.latency.get(route)
            if buckets is None:
                buckets = self.latency[route] = [0] * (len(BUCKETS) + 1)
            buckets[slot] += 1
            self.latency_sum[route] = self.latency_sum.get(route, 0.0) + seconds

    def render(self, service: ServiceState) -> bytes:
        """The text exposition of these counters and of ``service``'s state, now."""
        return generate_latest(_Collector(self, service))

    def families(self) -> list[Metric]:
        """The counters and the latency histogram, as a consistent snapshot."""
        with self._lock:
            decisions = sorted(self.decisions.items())
            requests = sorted(self.requests.items())
            latency = sorted((route, list(counts)) for route, counts in self.latency.items())
            latency_sum = dict(self.latency_sum)
            refreshes = sorted(self.refreshes.items())
            approvals = sorted(self.approvals.items())
            audit_failures = self.audit_failures
        return [
            _counter("charter_decisions", "Decisions answered, by kind and verdict.",
                     ("kind", "verdict"), decisions),
            _counter("charter_http_requests", "HTTP requests by route and status.",
                     ("route", "code"), requests),
            _histogram(latency, latency_sum),
            _counter("charter_refresh", "Stack refreshes by result.",
                     ("result",), [((k,), n) for k, n in refreshes]),
            _counter("charter_approvals", "Approvals by outcome.",
                     ("outcome",), [((k,), n) for k, n in approvals]),
            CounterMetricFamily(
                "charter_audit_failures", "Decisions refused: audit failed.", value=audit_failures
            ),
        ]  # fmt: skip


def _counter(
    name: str, doc: str, labels: tuple[str, ...], samples: Sequence[tuple[tuple[str, ...], int]]
) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, n in samples:
        family.add_metric(list(values), n)
    return family


def _histogram(latency: list[tuple[str, list[int]]], sums: dict[str, float]) -> Metric:
    family = HistogramMetricFamily(
        "charter_http_request_duration_seconds", "Request latency.", labels=["route"]
    )
    for route, counts in latency:
        cumulative, buckets = 0, []
        for bound, n in zip((*map(floatToGoString, BUCKETS), "+Inf"), counts, strict=True):
            cumulative += n
            buckets.append((bound, float(cumulative)))
        family.add_metric([route], buckets, sum_value=sums[route])
    return family


def _state(service: ServiceState) -> Iterator[Metric]:
    """Gauges of the service's state, read at scrape time."""
    yield GaugeMetricFamily(
        "charter_ready", "1 when a verified stack is loaded.", value=int(service.ready)
    )
    yield GaugeMetricFamily(
        "charter_degraded",
        "1 when serving a last good stack after a failure.",
        value=int(service.health != "ok"),
    )
    yield GaugeMetricFamily(
        "charter_integrity_ok",
        "0 once the watchdog saw a verified file change.",
        value=int(service.watchdog.healthy),
    )
    layers = GaugeMetricFamily("charter_stack_layer_info", "The layers being served.", labels=_INFO)
    for doc in service.stack_doc():
        layers.add_metric([str(doc[k]) for k in _INFO], 1)
    yield layers
    waivers = service.waiver_status()
    if waivers is not None:
        gauge = GaugeMetricFamily(
            "charter_waivers", "Waiver files by state, judged now.", labels=["state"]
        )
        for state in _WAIVER_STATES:
            gauge.add_metric([state], waivers[state])
        yield gauge
    limited = CounterMetricFamily(
        "charter_limited", "Requests refused by a [limits] key, by reason.", labels=["reason"]
    )
    for reason, n in sorted(service.limited().items()):
        limited.add_metric([reason], n)
    yield limited
    yield GaugeMetricFamily(
        "charter_evaluator_queue",
        "Proposals waiting in the fair queue for an evaluator process.",
        value=service.queued(),
    )
    if service.last_good_refresh:
        stamp = datetime.strptime(service.last_good_refresh, "%Y-%m-%dT%H:%M:%SZ")
        yield GaugeMetricFamily(
            "charter_last_good_refresh_timestamp_seconds",
            "Last successful refresh.",
            value=stamp.replace(tzinfo=UTC).timestamp(),
        )


class _Collector:
    """A ``prometheus-client`` collector over one service's metrics and state."""

    def __init__(self, metrics: Metrics, service: ServiceState) -> None:
        self.metrics = metrics
        self.service = service

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics.families()
        for source in self.metrics.sources:
            yield from source()
        yield from _state(self.service)


__all__ = ["BUCKETS", "CONTENT_TYPE", "Metrics", "ServiceState"]
