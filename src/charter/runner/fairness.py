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
C = TypeVar("C")
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


def take(
    queue: FairQueue[T], lanes: tuple[str, ...] | None, took_small: bool
) -> tuple[T, str] | None:
    """The next item for a thread and its lane, from ``lanes`` (None: both): a thread
    that serves both looks at the large lane first after a small item, so neither lane
    starves."""
    order = lanes or ((LARGE, SMALL) if took_small else (SMALL, LARGE))
    for lane in order:
        item = queue.pop(lane)
        if item is not None:
            return item, lane
    return None


class _Job(Generic[C, R]):
    __slots__ = ("fn", "future")

    def __init__(self, fn: Callable[[C], R], future: Future[R]) -> None:
        self.fn = fn
        self.future = future


def _nothing(_: object) -> None:
    return None


class LaneExecutor(Generic[C]):
    """A few threads fed by a :class:`FairQueue`; the first only serves the small lane
    when there are two or more. Each thread makes its own context (``context()``), hands
    it to every job it runs and releases it itself when it stops (``release``): what a
    context holds never leaves its thread. ``on_error`` sees an exception before it is
    handed to the waiting caller.

    With ``shared_small=False`` the other threads serve the large lane only: small work
    runs on the first thread alone. For work that holds the GIL nearly throughout (the
    action gate: Python with short system calls), two threads deciding small work only
    contend for the GIL; one decides more of it (bench_runner's actions: +19 %), and a
    large job still never holds up a small one.
    """

    def __init__(
        self,
        threads: int,
        name: str,
        context: Callable[[], C],
        *,
        release: Callable[[C], None] = _nothing,
        on_error: Callable[[BaseException], None] = _nothing,
        shared_small: bool = True,
    ) -> None:
        if threads < 1:
            raise ValueError(f"{name}: a pool of threads needs at least one thread")
        self._queue: FairQueue[_Job[C, Any]] = FairQueue()
        self._ready = threading.Condition()
        self._closed = False
        self._context, self._release, self._on_error = context, release, on_error
        # Daemon threads: a service that is never stopped must not keep the interpreter
        # alive; what their contexts hold then stays in their own threads.
        self._threads = [
            threading.Thread(
                target=self._run,
                args=(self._lanes(i, threads, shared_small),),
                name=f"{name}-{i}",
                daemon=True,
            )
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _lanes(index: int, threads: int, shared_small: bool) -> tuple[str, ...] | None:
        """The lanes thread ``index`` serves: None for both (taking turns)."""
        if threads == 1:
            return None
        if index == 0:
            return (SMALL,)
        return None if shared_small else (LARGE,)

    def submit(
        self, fn: Callable[[C], R], principal: str = "", *, large: bool = False
    ) -> Future[R]:
        """Run ``fn(context)`` on one of the threads, queued fairly (``large`` work in its
        own lane; round-robin by ``principal``)."""
        future: Future[R] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the executor has been shut down")
            self._queue.put(LARGE if large else SMALL, principal, _Job(fn, future))
            self._ready.notify_all()
        return future

    def shutdown(self, timeout: float | None = 30) -> None:
        """Cancel queued work, let running work finish, release every context."""
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

    def _next(
        self, lanes: tuple[str, ...] | None, took_small: bool
    ) -> tuple[_Job[C, Any], str] | None:
        """Block until there is work for this thread: a job and its lane (None once shut
        down). After a small job, a thread serving both lanes looks at the large lane first."""
        with self._ready:
            while not self._closed:
                taken = take(self._queue, lanes, took_small)
                if taken is not None:
                    return taken
                self._ready.wait()
            return None

    def _run(self, lanes: tuple[str, ...] | None) -> None:
        context = self._context()
        took_small = False
        try:
            while (taken := self._next(lanes, took_small)) is not None:
                job, lane = taken
                took_small = lane == SMALL
                del taken
                self._execute(job, context)
                del job
        finally:
            # Released here, by the thread that made it.
            self._release(context)

    def _execute(self, job: _Job[C, R], context: C) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            result = job.fn(context)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            self._on_error(exc)
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)


def no_context() -> None:
    """The context of threads whose jobs need none."""
    return None


__all__ = ["LARGE", "SMALL", "FairQueue", "LaneExecutor", "no_context", "take"]
