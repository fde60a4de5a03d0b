"""A fair queue in front of the evaluators: no client's huge input holds up a small decision.

Work is put in one of two **lanes** by the size of its input (``small`` up to
``limits.large_body_bytes``, ``large`` above) and, in each lane, in one FIFO
per principal (token) served **round-robin**, so a client that queued a
hundred requests waits its turn behind the one request of another. A large
input never runs where a small one would have to wait behind it: the
evaluator processes (:mod:`.processes`) keep at least one worker free of large
work when there are two or more, and :class:`LaneExecutor` keeps its first
thread for the small lane. Between the lanes, a thread that serves both takes
the large lane's head after each small item when both wait, so neither lane
starves.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
SMALL, LARGE = "small", "large"


class FairQueue(Generic[T]):
    """Two lanes; in each, one FIFO per principal, served round-robin. Not thread-safe."""

    def __init__(self) -> None:
        self._lanes: dict[str, OrderedDict[str, deque[T]]] = {
            SMALL: OrderedDict(),
            LARGE: OrderedDict(),
        }
        self._size = 0

    def put(self, lane: str, principal: str, item: T) -> None:
        queues = self._lanes[lane]
        queue = queues.get(principal)
        if queue is None:
            queue = queues[principal] = deque()
        queue.append(item)
        self._size += 1

    def pop(self, lane: str) -> T | None:
        """The head of the next principal's queue in ``lane`` (None when the lane is empty)."""
        queues = self._lanes[lane]
        if not queues:
            return None
        principal, queue = next(iter(queues.items()))
        item = queue.popleft()
        if queue:
            queues.move_to_end(principal)
        else:
            del queues[principal]
        self._size -= 1
        return item

    def waiting(self, lane: str) -> bool:
        return bool(self._lanes[lane])

    def drain(self) -> list[T]:
        """Everything queued, removed (on shutdown)."""
        out = [item for lane in self._lanes.values() for q in lane.values() for item in q]
        for lane in self._lanes.values():
            lane.clear()
        self._size = 0
        return out

    def __len__(self) -> int:
        return self._size


def take(queue: FairQueue[T], small_only: bool, took_small: bool) -> tuple[T, str] | None:
    """The next item for a thread and its lane: a thread that serves both lanes looks at
    the large lane first after a small item, so neither lane starves."""
    order = (SMALL,) if small_only else ((LARGE, SMALL) if took_small else (SMALL, LARGE))
    for lane in order:
        item = queue.pop(lane)
        if item is not None:
            return item, lane
    return None


class _Job(Generic[R]):
    __slots__ = ("fn", "future")

    def __init__(self, fn: Callable[[], R], future: Future[R]) -> None:
        self.fn = fn
        self.future = future


class LaneExecutor:
    """A few threads fed by a :class:`FairQueue`; the first only serves the small lane
    when there are two or more."""

    def __init__(self, threads: int, name: str) -> None:
        self._queue: FairQueue[_Job[Any]] = FairQueue()
        self._ready = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(
                target=self._run, args=(i == 0 and threads > 1,), name=f"{name}-{i}", daemon=True
            )
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[[], R], principal: str, *, large: bool = False) -> Future[R]:
        future: Future[R] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the executor has been shut down")
            self._queue.put(LARGE if large else SMALL, principal, _Job(fn, future))
            self._ready.notify_all()
        return future

    def _next(self, small_only: bool, took_small: bool) -> tuple[_Job[Any], str] | None:
        """Block until there is work for this thread: a job and its lane (None once shut
        down). After a small job, a thread serving both lanes looks at the large lane first."""
        with self._ready:
            while not self._closed:
                taken = take(self._queue, small_only, took_small)
                if taken is not None:
                    return taken
                self._ready.wait()
            return None

    def _run(self, small_only: bool) -> None:
        took_small = False
        while (taken := self._next(small_only, took_small)) is not None:
            job, lane = taken
            took_small = lane == SMALL
            del taken
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                job.future.set_result(job.fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                job.future.set_exception(exc)
            del job

    def shutdown(self, timeout: float = 30) -> None:
        with self._ready:
            if self._closed:
                return
            self._closed = True
            left = self._queue.drain()
            self._ready.notify_all()
        for job in left:
            job.future.cancel()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)


__all__ = ["LARGE", "SMALL", "FairQueue", "LaneExecutor", "take"]
