"""What one client may ask of the runner: request limits, admission and failure limits.

Every limit is a key of the ``[limits]`` table of the runner config (see
docs/runner.md, 'Limits and fairness'), and every refusal names it:

- ``max_body_bytes`` (413): enforced while the body streams in, and at once
  from ``Content-Length``; a 200 MB body is never read into memory.
- ``max_files`` (413): files in one proposal, counted right after parsing,
  before schema validation or evaluation.
- ``max_command_length`` (413): characters in an action's ``command``.
- ``max_json_depth`` (422): nesting of a body (the strict reader's 128 at most).
- ``max_inflight_per_token`` (429): requests one token has in flight at once;
  more are refused before their body is read.
- ``rate_per_token`` / ``burst_per_token`` (429): a token bucket per token (off
  unless set).
- ``auth_failures_per_minute`` (429): failed authentications per client address
  before it is refused without checking its token (scrypt is not run for it).
- ``large_body_bytes``: the lane threshold of :mod:`.fairness`.

Nothing here is global: each service owns its :class:`Admission` and
:class:`FailureLimiter`. So every limit is per replica (in memory, forgotten on
restart): N replicas allow a token N times its in-flight and rate limits, and a
client N times its failures (docs/runner.md, 'Limits and fairness'). The failure
counts stay local on purpose: in the shared store each wrong token would be a
database write an attacker drives.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from charter.core import jsonio
from charter.core.errors import ConfigError, InputError

_KEYS = {"max_body_bytes", "max_files", "max_command_length", "max_json_depth",
         "large_body_bytes", "max_inflight_per_token", "rate_per_token",
         "burst_per_token", "auth_failures_per_minute"}  # fmt: skip
#: The longest command the gate reads at all (``charter.actions.shell.MAX_LENGTH``).
MAX_COMMAND = 65536
#: How many client addresses the failure limiter remembers (the oldest are forgotten).
MAX_TRACKED_ADDRESSES = 16384


class LimitExceeded(InputError):
    """A request is over one of the configured limits (HTTP 413)."""


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 5 * 2**20
    max_files: int = 10_000
    max_command_length: int = 16_384
    max_json_depth: int = jsonio.MAX_DEPTH
    large_body_bytes: int = 64 * 2**10
    max_inflight_per_token: int = 64
    #: Requests per second per token (0: no rate limit), and the bucket's size.
    rate_per_token: float = 0.0
    burst_per_token: int = 0
    auth_failures_per_minute: int = 30

    @property
    def burst(self) -> int:
        return self.burst_per_token or max(1, math.ceil(2 * self.rate_per_token))


def _int(table: Mapping[str, Any], key: str, default: int, low: int, high: int, where: str) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where}: limits.{key} must be an integer from {low} to {high}")
    return value


def parse_limits(raw: Mapping[str, Any], where: str) -> Limits:
    """The ``[limits]`` table of a runner config (every key optional)."""
    table = raw.get("limits", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [limits] must be a table")
    unknown = set(table) - _KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key limits.{sorted(unknown)[0]}", hint=", ".join(sorted(_KEYS))
        )
    d = Limits()
    rate = table.get("rate_per_token", d.rate_per_token)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1e6:
        raise ConfigError(f"{where}: limits.rate_per_token must be a number from 0 to 1e6")
    return Limits(
        max_body_bytes=_int(table, "max_body_bytes", d.max_body_bytes, 1024, 2**31, where),
        max_files=_int(table, "max_files", d.max_files, 1, 10_000_000, where),
        max_command_length=_int(
            table, "max_command_length", d.max_command_length, 16, MAX_COMMAND, where
        ),
        max_json_depth=_int(table, "max_json_depth", d.max_json_depth, 2, jsonio.MAX_DEPTH, where),
        large_body_bytes=_int(table, "large_body_bytes", d.large_body_bytes, 1, 2**31, where),
        max_inflight_per_token=_int(
            table, "max_inflight_per_token", d.max_inflight_per_token, 1, 1_000_000, where
        ),
        rate_per_token=float(rate),
        burst_per_token=_int(table, "burst_per_token", d.burst_per_token, 0, 10_000_000, where),
        auth_failures_per_minute=_int(
            table, "auth_failures_per_minute", d.auth_failures_per_minute, 1, 1_000_000, where
        ),
    )


# ---------------------------------------------------------------- documents
def body_too_large(size: int, limits: Limits) -> LimitExceeded:
    return LimitExceeded(
        f"body: {size} bytes or more, over the limit of {limits.max_body_bytes} bytes "
        f"(limits.max_body_bytes)",
        hint="split the proposal, or raise limits.max_body_bytes in the runner config",
    )


def loads_limited(raw: bytes, limits: Limits, what: str, hint: str) -> Any:
    """Strict JSON (see :mod:`charter.core.jsonio`) nested at most ``max_json_depth``."""
    try:
        return jsonio.loads(raw, what=what, hint=hint, max_depth=limits.max_json_depth)
    except InputError as exc:
        if f"nested deeper than {limits.max_json_depth} levels" not in exc.message:
            raise
        raise InputError(
            f"{exc.message} (limits.max_json_depth = {limits.max_json_depth})"
        ) from None


def check_proposal(document: Any, limits: Limits) -> None:
    """Refuse a proposal with more files than ``max_files`` (before it is validated)."""
    files = document.get("files") if isinstance(document, dict) else None
    if isinstance(files, list) and len(files) > limits.max_files:
        raise LimitExceeded(
            f"body: files: {len(files)} files, over the limit of {limits.max_files} "
            f"(limits.max_files)",
            hint="decide the change in parts, or raise limits.max_files in the runner config",
        )


def check_action(document: Any, limits: Limits) -> None:
    """Refuse an action whose command is longer than ``max_command_length``."""
    command = document.get("command") if isinstance(document, dict) else None
    if isinstance(command, str) and len(command) > limits.max_command_length:
        raise LimitExceeded(
            f"body: command: {len(command)} characters, over the limit of "
            f"{limits.max_command_length} (limits.max_command_length)",
            hint="run a script file instead, or raise limits.max_command_length",
        )


# ----------------------------------------------------------------- admission
class TooMany(Exception):
    """A client is over an admission limit (HTTP 429)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = max(1, math.ceil(retry_after))


class _Bucket:
    """A token bucket (refilled at ``rate`` per second up to ``size``); not thread-safe."""

    __slots__ = ("level", "stamp")

    def __init__(self, size: float, now: float) -> None:
        self.level = size
        self.stamp = now

    def take(self, rate: float, size: float, now: float) -> float:
        """0 if a token was taken, else the seconds until one is available."""
        self.level = min(size, self.level + (now - self.stamp) * rate)
        self.stamp = now
        if self.level >= 1:
            self.level -= 1
            return 0.0
        return (1 - self.level) / rate


class Admission:
    """Per-token in-flight counts and request rates (see :class:`Limits`).

    :meth:`enter` admits a request (or raises :class:`TooMany`) and returns the
    function that releases it; in flight means from authentication to answer.
    """

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._lock = threading.Lock()
        self._inflight: dict[str, int] = {}
        self._buckets: dict[str, _Bucket] = {}
        #: Requests refused, by reason (for /metrics).
        self.refused: dict[str, int] = {}

    def enter(self, principal: str) -> Callable[[], None]:
        limits = self.limits
        with self._lock:
            count = self._inflight.get(principal, 0)
            if count >= limits.max_inflight_per_token:
                self._refuse("inflight")
                raise TooMany(
                    f"token {principal} has {count} requests in flight, the limit "
                    f"(limits.max_inflight_per_token = {limits.max_inflight_per_token})",
                    1.0,
                )
            if limits.rate_per_token > 0:
                now = self.clock()
                bucket = self._buckets.get(principal)
                if bucket is None:
                    bucket = self._buckets[principal] = _Bucket(limits.burst, now)
                wait = bucket.take(limits.rate_per_token, limits.burst, now)
                if wait:
                    self._refuse("rate")
                    raise TooMany(
                        f"token {principal} is over its request rate "
                        f"(limits.rate_per_token = {limits.rate_per_token:g}/s)",
                        wait,
                    )
            self._inflight[principal] = count + 1
        released = False

        def leave() -> None:
            nonlocal released
            with self._lock:
                if released:
                    return
                released = True
                left = self._inflight[principal] - 1
                if left:
                    self._inflight[principal] = left
                else:
                    del self._inflight[principal]

        return leave

    def inflight(self, principal: str) -> int:
        with self._lock:
            return self._inflight.get(principal, 0)

    def refusals(self) -> dict[str, int]:
        with self._lock:
            return dict(self.refused)

    def _refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1


class FailureLimiter:
    """Failed authentications per client address: a token bucket of
    ``auth_failures_per_minute`` (burst the same), over a bounded LRU of addresses."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.size = float(per_minute)
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self.refused = 0

    def blocked(self, address: str) -> float:
        """0 if ``address`` may try a token now, else the seconds until it may."""
        with self._lock:
            bucket = self._buckets.get(address)
            if bucket is None:
                return 0.0
            now = self.clock()
            level = min(self.size, bucket.level + (now - bucket.stamp) * self.rate)
            if level >= 1:
                return 0.0
            self.refused += 1
            return (1 - level) / self.rate

    def failed(self, address: str) -> None:
        """Count one failure of ``address``."""
        with self._lock:
            now = self.clock()
            bucket = self._buckets.get(address)
            if bucket is None:
                bucket = self._buckets[address] = _Bucket(self.size, now)
                while len(self._buckets) > MAX_TRACKED_ADDRESSES:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(address)
            bucket.take(self.rate, self.size, now)


__all__ = [
    "Admission",
    "FailureLimiter",
    "LimitExceeded",
    "Limits",
    "TooMany",
    "body_too_large",
    "check_action",
    "check_proposal",
    "loads_limited",
    "parse_limits",
]
