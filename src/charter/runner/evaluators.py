"""Long-lived evaluator threads that own the policy engines.

A regorus engine is thread-affine (pyo3 ``unsendable``): it may be used *and
dropped* only by the thread that created it. Dropped anywhere else, pyo3 leaks
it and reports an error from whichever thread happened to run the garbage
collector. A ``threading.local`` is not enough: when the object holding it is
collected, every thread's value is freed on the collecting thread.

So engines live only in a slot that belongs to one evaluator thread, created,
replaced and finally dropped by that thread, and work that needs an engine is
sent to the pool instead of the engine being fetched by the caller.

Work waits in a :class:`~charter.runner.fairness.FairQueue` (a lane by input
size, round-robin by token); with two or more threads the first only takes
small work, so a small decision never waits behind a huge one.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from charter.policy.stack import CompiledStack, Stack
from charter.runner.fairness import LARGE, SMALL, FairQueue, take

T = TypeVar("T")
R = TypeVar("R")


class EngineSlot:
    """The compiled stack of one evaluator thread; never leaves that thread."""

    __slots__ = ("_compiled", "_owner")

    def __init__(self) -> None:
        self._owner: Stack | None = None
        self._compiled: CompiledStack | None = None

    def compiled(self, stack: Stack) -> CompiledStack:
        """This thread's engine for ``stack``, compiled on first use (~6 ms)."""
        if self._owner is not stack or self._compiled is None:
            self.clear()
            self._compiled = stack.compile()
            self._owner = stack
        return self._compiled

    def clear(self) -> None:
        """Drop the engine (e.g. after a panic left it inconsistent)."""
        self._compiled = None
        self._owner = None


class _Task(Generic[R]):
    __slots__ = ("fn", "future")

    def __init__(self, fn: Callable[[EngineSlot], R], future: Future[R]) -> None:
        self.fn = fn
        self.future = future


class EvaluatorPool:
    """A fixed set of threads, each with its own :class:`EngineSlot`."""

    def __init__(self, threads: int, *, name: str = "charter-eval") -> None:
        if threads < 1:
            raise ValueError("an evaluator pool needs at least one thread")
        self._queue: FairQueue[_Task[Any]] = FairQueue()
        self._closed = False
        self._ready = threading.Condition()
        # Daemon threads: a service that is never stopped must not keep the
        # interpreter alive; its engines then stay in their own threads.
        self._threads = [
            threading.Thread(
                target=self._run, args=(i == 0 and threads > 1,), name=f"{name}-{i}", daemon=True
            )
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(
        self, fn: Callable[[EngineSlot], R], principal: str = "", *, large: bool = False
    ) -> Future[R]:
        """Run ``fn(slot)`` on an evaluator thread with that thread's slot, queued fairly
        (``large`` work in its own lane; round-robin by ``principal``)."""
        future: Future[R] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the evaluator pool has been shut down")
            self._queue.put(LARGE if large else SMALL, principal, _Task(fn, future))
            self._ready.notify_all()
        return future

    def run(self, fn: Callable[[EngineSlot], R]) -> R:
        """:meth:`submit` and wait for the result (or raise its error)."""
        return self.submit(fn).result()

    def shutdown(self, *, timeout: float | None = 30) -> None:
        """Cancel queued work, let running work finish, drop every engine."""
        with self._ready:
            if self._closed:
                return
            self._closed = True
            left = self._queue.drain()
            self._ready.notify_all()
        for task in left:
            task.future.cancel()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    def _next(self, small_only: bool, took_small: bool) -> tuple[_Task[Any], str] | None:
        """Block until there is work for this thread (None once shut down)."""
        with self._ready:
            while not self._closed:
                taken = take(self._queue, small_only, took_small)
                if taken is not None:
                    return taken
                self._ready.wait()
            return None

    def _run(self, small_only: bool) -> None:
        slot = EngineSlot()
        took_small = False
        try:
            while (taken := self._next(small_only, took_small)) is not None:
                task, lane = taken
                took_small = lane == SMALL
                del taken
                _execute(task, slot)
                del task
        finally:
            # The engine is dropped here, by the thread that built it.
            slot.clear()


def _execute(task: _Task[R], slot: EngineSlot) -> None:
    if not task.future.set_running_or_notify_cancel():
        return
    try:
        result = task.fn(slot)
    except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
        # The traceback's frames hold this thread's engine; clear their locals
        # so that whoever drops the exception never drops the engine with it.
        clear_frames(exc)
        task.future.set_exception(exc)
    else:
        task.future.set_result(result)


def clear_frames(exc: BaseException) -> None:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        traceback.clear_frames(item.__traceback__)
        todo += [item.__cause__, item.__context__]


__all__ = ["EngineSlot", "EvaluatorPool", "clear_frames"]
