"""Answers made on other threads reach the event loop's futures, a batch per wake-up."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future

import pytest

from charter.runner.replies import Replies, replies


class Counted(Replies):
    """Replies that count how often the loop was woken to deliver."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.wakes = 0

    def _deliver(self) -> None:
        self.wakes += 1
        super()._deliver()


def test_answers_that_arrive_together_wake_the_loop_once() -> None:
    async def main() -> tuple[list[int], int]:
        back = Counted(asyncio.get_running_loop())
        futures = [back.future() for _ in range(50)]

        def answer_all() -> None:
            for i, f in enumerate(futures):
                back.settle(f, i, None)

        # the loop is held here while another thread answers every request
        worker = threading.Thread(target=answer_all)
        worker.start()
        worker.join()
        got = list(await asyncio.gather(*futures))
        later = back.future()
        threading.Thread(target=back.settle, args=(later, 99, None)).start()
        got.append(await later)
        return got, back.wakes

    got, wakes = asyncio.run(main())
    assert got == [*range(50), 99]
    assert wakes == 2


def test_errors_cancellations_and_departed_waiters() -> None:
    async def main() -> None:
        back = replies()
        assert replies() is back  # one per loop
        failed, cancelled, gone, ok = (back.future() for _ in range(4))
        source: Future[int] = Future()
        source.cancel()
        gone.cancel()  # the client disconnected before its answer came
        threads = [
            threading.Thread(target=back.settle, args=(failed, None, ValueError("no"))),
            threading.Thread(target=back.relay, args=(cancelled, source)),
            threading.Thread(target=back.settle, args=(gone, 1, None)),
        ]
        done: Future[str] = Future()
        done.set_result("yes")
        threads.append(threading.Thread(target=back.relay, args=(ok, done)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with pytest.raises(ValueError, match="no"):
            await failed
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert await ok == "yes"
        assert gone.cancelled()

    asyncio.run(main())


def test_each_loop_has_its_own() -> None:
    async def mine() -> Replies:
        return replies()

    assert asyncio.run(mine()) is not asyncio.run(mine())
