"""The integrity watchdog: what was verified at load time must stay as it was.

The gate and the runner hand the watchdog the digests of the files they
verified (the constitution TOML, bundle archives). It re-hashes them on an
interval in a background thread and whenever asked (:meth:`Watchdog.check_now`).
On the first mismatch it *latches* into fail-closed: :attr:`Watchdog.healthy`
turns false, :attr:`Watchdog.reason` says which file changed, the event is
recorded, and registered callbacks run (the audit log records it there).
Decision code consults :meth:`Watchdog.guard`, which raises
:class:`~charter.core.errors.IntegrityLost`; a decision that catches it must deny.

The watchdog never reports healthy without checking: an interval that is not a finite
number of seconds from :data:`MIN_INTERVAL` to :data:`MAX_INTERVAL` is refused, and if
the checking thread dies anyway, that latches the same fail-closed state.

Recovery is deliberately not automatic: a file that changed and changed back
may have been served in between, so the process must reload and re-verify.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from charter.core.digests import sha256_file
from charter.core.errors import InputError, IntegrityLost

DEFAULT_INTERVAL = 5.0
#: The range of a checking interval, in seconds (a thread told to wait longer, or
#: forever, dies of OverflowError).
MIN_INTERVAL = 0.001
MAX_INTERVAL = 7 * 24 * 3600.0


def check_interval(interval: float, where: str = "watchdog interval") -> float:
    """``interval`` if it is a finite number of seconds in range; else InputError (exit 2)."""
    if (
        isinstance(interval, bool)
        or not isinstance(interval, int | float)
        or not math.isfinite(interval)
        or not MIN_INTERVAL <= interval <= MAX_INTERVAL
    ):
        raise InputError(
            f"{where} must be a number of seconds from {MIN_INTERVAL:g} to "
            f"{MAX_INTERVAL:g} (7 days), got {interval!r}",
            hint="e.g. --interval 5",
        )
    return float(interval)


@dataclass(frozen=True)
class IntegrityEvent:
    """One detected change: which file, what was expected and what was found."""

    path: str
    expected: str
    actual: str | None
    reason: str
    at: str

    def to_dict(self) -> dict[str, str | None]:
        return {
            "event": "integrity_lost",
            "path": self.path,
            "expected": self.expected,
            "actual": self.actual,
            "reason": self.reason,
            "at": self.at,
        }


IntegrityCallback = Callable[[IntegrityEvent], None]


class Watchdog:
    """Re-verifies file digests; fails closed on the first mismatch."""

    def __init__(
        self,
        files: Mapping[str | Path, str] | None = None,
        *,
        interval: float = DEFAULT_INTERVAL,
        subject: str = "constitution",
    ) -> None:
        self.interval = check_interval(interval)
        self.subject = subject
        self._lock = threading.Lock()
        self._expected: dict[Path, str] = {}
        self._reported: set[Path] = set()
        self._callbacks: list[IntegrityCallback] = []
        self._events: list[IntegrityEvent] = []
        self._callback_errors: list[str] = []
        self._reason: str | None = None
        self._checks = 0
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread: threading.Thread | None = None
        for path, digest in (files or {}).items():
            self.watch(path, digest)

    # -- configuration ---------------------------------------------------
    def watch(self, path: str | Path, digest: str | None = None) -> str:
        """Track ``path``; ``digest`` is what was verified (default: hash it now).

        Pass the digest of the exact bytes that were verified, so a change made
        between verification and this call is still caught.
        """
        p = Path(path).resolve()
        value = digest if digest is not None else sha256_file(p)
        with self._lock:
            self._expected[p] = value
        return value

    def on_integrity_lost(self, callback: IntegrityCallback) -> None:
        with self._lock:
            self._callbacks.append(callback)

    # -- state -------------------------------------------------------------
    @property
    def healthy(self) -> bool:
        return not self._lost.is_set()

    @property
    def reason(self) -> str | None:
        with self._lock:
            return self._reason

    @property
    def events(self) -> tuple[IntegrityEvent, ...]:
        with self._lock:
            return tuple(self._events)

    @property
    def callback_errors(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._callback_errors)

    @property
    def checks(self) -> int:
        """How many checks have completed (lets tests wait for one more)."""
        with self._lock:
            return self._checks

    @property
    def files(self) -> dict[str, str]:
        with self._lock:
            return {str(p): d for p, d in self._expected.items()}

    def guard(self) -> None:
        """Raise :class:`IntegrityLost` if anything verified has changed."""
        if self._lost.is_set():
            raise IntegrityLost(
                self.reason or f"{self.subject} integrity lost",
                hint="decisions are denied until the process reloads and re-verifies",
            )

    def wait_lost(self, timeout: float | None = None) -> bool:
        """Block until integrity is lost (True) or ``timeout`` passes (False)."""
        return self._lost.wait(timeout)

    # -- checking ----------------------------------------------------------
    def check_now(self) -> bool:
        """Re-hash every watched file now; return whether all still match."""
        with self._lock:
            expected = dict(self._expected)
        found: list[IntegrityEvent] = []
        for path, digest in expected.items():
            try:
                actual: str | None = sha256_file(path)
            except OSError:
                actual = None
            if actual == digest:
                continue
            found.append(
                IntegrityEvent(
                    path=str(path),
                    expected=digest,
                    actual=actual,
                    reason=f"{self.subject} integrity lost: {path} changed",
                    at=datetime.now(UTC).isoformat(),
                )
            )
        with self._lock:
            self._checks += 1
            new = [e for e in found if Path(e.path) not in self._reported]
            for event in new:
                self._reported.add(Path(event.path))
                self._events.append(event)
                if self._reason is None:
                    self._reason = event.reason
            callbacks = list(self._callbacks)
        if found:
            self._lost.set()
        self._notify(new, callbacks)
        return not found

    def _notify(
        self, events: Sequence[IntegrityEvent], callbacks: Sequence[IntegrityCallback]
    ) -> None:
        """Hand each event to each callback; a failing callback is recorded, not raised."""
        for event in events:
            for callback in callbacks:
                try:
                    callback(event)
                except Exception as exc:  # noqa: BLE001 - a failing sink must not stop fail-closed
                    with self._lock:
                        self._callback_errors.append(f"{type(exc).__name__}: {exc}")

    # -- background thread ---------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                self.check_now()
        except BaseException as exc:  # noqa: BLE001 - a dead checker must not look healthy
            self._died(exc)

    def _died(self, exc: BaseException) -> None:
        """Latch fail-closed: nothing is checked any more, so nothing is vouched for."""
        event = IntegrityEvent(
            path="",
            expected="",
            actual=None,
            reason=f"{self.subject} integrity unknown: the watchdog stopped checking "
            f"({type(exc).__name__}: {exc})",
            at=datetime.now(UTC).isoformat(),
        )
        with self._lock:
            self._events.append(event)
            if self._reason is None:
                self._reason = event.reason
            callbacks = list(self._callbacks)
        self._lost.set()
        self._notify((event,), callbacks)

    def start(self) -> Watchdog:
        """Check once now, then every ``interval`` seconds in a daemon thread."""
        with self._lock:
            if self._thread is not None:
                return self
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"charter-watchdog-{self.subject}", daemon=True
            )
        self.check_now()
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> Watchdog:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
