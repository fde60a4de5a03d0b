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

import traceback
from collections.abc import Callable
from typing import TypeVar

from charter.policy.stack import CompiledStack, Stack
from charter.runner.fairness import LaneExecutor

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


class EvaluatorPool(LaneExecutor[EngineSlot]):
    """A fixed set of threads, each with its own :class:`EngineSlot`: made, used and
    finally cleared by that thread; an error's frames are cleared before it is handed
    to the caller, so whoever drops the exception never drops an engine with it."""

    def __init__(self, threads: int, *, name: str = "charter-eval") -> None:
        super().__init__(threads, name, EngineSlot, release=EngineSlot.clear, on_error=clear_frames)

    def run(self, fn: Callable[[EngineSlot], R]) -> R:
        """:meth:`submit` and wait for the result (or raise its error)."""
        return self.submit(fn).result()


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
