"""Answers computed on other threads, handed to the event loop a batch at a time.

A decision is answered on the thread that made it durable (the audit group commit),
not on the event loop that waits for it. ``asyncio.wrap_future`` wakes the loop once
per answer (``call_soon_threadsafe`` writes a byte to the loop's self-pipe, which the
loop then reads): under load, with a group commit answering dozens of decisions at
once, that is dozens of writes, reads and loop iterations for one commit.
:class:`Replies` queues the answers and wakes the loop once for all that arrived
before it ran.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class Replies:
    """Settles futures of one event loop from any thread, waking the loop once per
    batch of answers."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._due: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        #: a wake-up is on its way to the loop: answers queued meanwhile ride with it
        self._waking = False

    def future(self) -> asyncio.Future[Any]:
        """A future of this loop for an answer (call on the loop)."""
        return self._loop.create_future()

    def settle(self, future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
        """Answer ``future`` with ``error`` if there is one, else ``result`` (any thread)."""
        with self._lock:
            self._due.append((future, result, error))
            if self._waking:
                return
            self._waking = True
        try:
            self._loop.call_soon_threadsafe(self._deliver)
        except RuntimeError:  # the loop is closed: nobody waits any more
            with self._lock:
                self._due.clear()
                self._waking = False

    def relay(self, future: asyncio.Future[Any], source: Future[Any]) -> None:
        """``source``'s outcome to ``future`` (a done callback of ``source``)."""
        if source.cancelled():
            self.settle(future, None, asyncio.CancelledError())
            return
        error = source.exception()
        self.settle(future, None if error is not None else source.result(), error)

    def _deliver(self) -> None:
        """On the loop: every answer queued so far."""
        with self._lock:
            due, self._due = self._due, []
            self._waking = False
        for future, result, error in due:
            if future.done():  # the waiting request went away (a client disconnected)
                continue
            if isinstance(error, asyncio.CancelledError):
                future.cancel()
            elif error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)


_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Replies] = (
    weakref.WeakKeyDictionary()
)
_BY_LOOP_LOCK = threading.Lock()


def replies() -> Replies:
    """The :class:`Replies` of the running event loop (one per loop)."""
    loop = asyncio.get_running_loop()
    found = _BY_LOOP.get(loop)
    if found is None:
        with _BY_LOOP_LOCK:
            found = _BY_LOOP.get(loop)
            if found is None:
                found = _BY_LOOP[loop] = Replies(loop)
    return found


__all__ = ["Replies", "replies"]
