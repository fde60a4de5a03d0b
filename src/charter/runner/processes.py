"""Proposal evaluation in worker processes, so that one runner uses more than one core.

regorus holds the GIL while it evaluates, so evaluator *threads* share one core
with the event loop, the audit log and each other. Here a few worker processes
each compile the stack once and evaluate proposal bodies; the runner process
keeps everything that needs its state or its keys: authentication, waivers
(judged with the trusted keys), the watchdog, the audit record and approvals.

A worker receives the verified, composed stack (never a path to re-read) and
raw request bodies with the decision time; it answers with the decision or the
error to report. A worker that dies fails its in-flight requests with an error
(never a verdict) and is replaced. Messages on one worker's pipe are ordered,
so a request sent after a new stack is always evaluated against it.

Requests wait in the runner, in a :class:`~charter.runner.fairness.FairQueue`
(a lane by body size, round-robin by token), and are handed to a worker only
when it has room: at most :data:`PIPELINE` small requests at once, or one
large request on an otherwise idle worker, and never a large one on the last
worker without one, so a small decision never waits behind a huge one (with
two or more workers). A large request that waits makes one worker drain, so
it is not starved by a steady stream of small ones either.
"""

from __future__ import annotations

import itertools
import pickle
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from charter.core.decision import Decision
from charter.core.errors import CharterError, EvaluationError, InputError, Unavailable
from charter.facts.decide import decide
from charter.facts.reconcile import Facts
from charter.policy.stack import CompiledStack, Stack
from charter.runner.bodies import parse_proposal, principal_id
from charter.runner.fairness import LARGE, SMALL, FairQueue
from charter.runner.limits import LimitExceeded, Limits

#: Bodies up to this size are written to a worker's socket by the submitting
#: thread; larger ones go through the worker's sender thread.
DIRECT_SEND_LIMIT = 32 * 1024
#: Small requests one worker holds at once (enough that it never idles between them).
PIPELINE = 4


class EvaluatorLost(Unavailable, EvaluationError):
    """A worker process died or stopped while it held the request (503)."""


@dataclass(frozen=True)
class Evaluated:
    """What a worker answers for one proposal body."""

    decision: Decision
    author_id: str | None
    #: The parsed body, when the caller asked for it (waivers, recorded inputs).
    document: dict[str, Any] | None


_ERRORS: Mapping[str, type[CharterError]] = {
    "limit": LimitExceeded,
    "input": InputError,
    "evaluation": EvaluationError,
}


def _worker_main(conn: Connection) -> None:
    """The worker loop: ("stack", blob) | ("eval", id, body, now, want) | None."""
    stack: Stack | None = None
    facts: Facts | None = None
    limits: Limits | None = None
    compiled: CompiledStack | None = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        if message[0] == "stack":
            # The runner that started this process sent it over their private socket pair.
            (stack, facts, limits), compiled = pickle.loads(message[1]), None  # noqa: S301
            continue
        _, request, body, now, want_document = message
        try:
            if stack is None:
                raise EvaluationError("the evaluator process has no stack")
            if compiled is None:
                compiled = stack.compile()
            document = parse_proposal(body, limits)
            decided = decide(compiled, document, facts, now=now, validate=False)
            decision, document = decided.decision, decided.document
            answer: tuple[Any, ...] = (
                request,
                "ok",
                decision,
                principal_id(document.get("author")),
                document if want_document else None,
            )
        except LimitExceeded as exc:
            answer = (request, "error", "limit", exc.message, exc.hint)
        except InputError as exc:
            answer = (request, "error", "input", exc.message, exc.hint)
        except BaseException as exc:  # noqa: BLE001 - reported, never a verdict
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            # A Rust panic may leave the engine inconsistent: compile afresh.
            compiled = None
            answer = (request, "error", "evaluation", f"evaluation failed: {exc}", None)
        try:
            conn.send(answer)
        except (EOFError, OSError):
            return


class _Worker:
    """One worker process, its socket, a sender thread and a reader thread.

    The worker is a fresh ``python -m charter.runner.worker`` (not a
    multiprocessing child), so it never re-imports the embedding program's
    ``__main__`` and inherits nothing but its end of the socket pair.
    """

    def __init__(self, pool: ProcessEvaluators, number: int) -> None:
        parent, child = socket.socketpair()
        self.pool = pool
        self.name = f"charter-eval-{number}"
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "charter.runner.worker", str(child.fileno())],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        finally:
            child.close()
        self.conn = Connection(parent.detach())
        self.answered = False
        self.pending: dict[int, Future[Evaluated]] = {}
        #: The large requests among ``pending`` (at most one).
        self.large: set[int] = set()
        self.alive = True
        self.stack: Stack | None = None
        self.outbox: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        #: Messages handed to the sender thread and not yet sent.
        self.queued = 0
        self.sender = threading.Thread(target=self._send_loop, name=f"{self.name}-send")
        self.reader = threading.Thread(target=self._read_loop, name=f"{self.name}-read")
        self.sender.daemon = self.reader.daemon = True
        self.sender.start()
        self.reader.start()

    def post(self, message: tuple[Any, ...], *, large: bool) -> None:
        """Send ``message`` in order: directly if small and nothing is queued, else queued.

        A direct send saves a thread hand-off per request; a large message (a
        stack, a big body) goes through the sender thread so the caller (the
        event loop) never blocks while the worker drains it. Every message
        after a queued one is queued too, so the order on the socket holds.
        """
        with self.lock:
            direct = not large and self.queued == 0
            if not direct:
                self.queued += 1
        if not direct:
            self.outbox.put(message)
            return
        try:
            self.conn.send(message)
        except (OSError, ValueError):
            pass  # the reader sees the socket close and fails what is pending

    def _send_loop(self) -> None:
        while (message := self.outbox.get()) is not None:
            try:
                self.conn.send(message)
            except (OSError, ValueError):
                self.pool._lost(self, "its pipe closed")
                return
            with self.lock:
                self.queued -= 1
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass

    def _read_loop(self) -> None:
        while True:
            try:
                answer = self.conn.recv()
            except (EOFError, OSError):
                self.pool._lost(self, f"it exited (code {self.process.poll()})")
                return
            except Exception as exc:  # noqa: BLE001 - an unreadable answer is a lost worker
                self.pool._lost(self, f"its answer could not be read ({exc})")
                return
            self.answered = True
            with self.pool._lock:
                future = self.pending.pop(answer[0], None)
                self.large.discard(answer[0])
                self.pool._pump()
            if future is None:
                continue
            if answer[1] == "ok":
                future.set_result(Evaluated(answer[2], answer[3], answer[4]))
            else:
                kind, message, hint = answer[2], answer[3], answer[4]
                future.set_exception(_ERRORS.get(kind, EvaluationError)(message, hint=hint))


@dataclass(frozen=True)
class _Request:
    """A proposal body waiting in the fair queue for a worker."""

    number: int
    stack: Stack
    body: bytes
    now: datetime
    want_document: bool
    large: bool
    future: Future[Evaluated]


class ProcessEvaluators:
    """A fixed number of worker processes evaluating proposal bodies, fed fairly."""

    #: A worker that dies before answering anything is replaced after a
    #: growing delay (up to this many seconds), not in a tight loop.
    MAX_BACKOFF = 10.0

    def __init__(
        self, processes: int, facts: Facts | None = None, limits: Limits | None = None
    ) -> None:
        if processes < 1:
            raise ValueError("an evaluator process pool needs at least one process")
        #: Facts every decision derives (the identity map), sent with each stack.
        self._facts = facts
        self.limits = limits or Limits()
        self._queue: FairQueue[_Request] = FairQueue()
        #: A worker being emptied of small requests so that a waiting large one can run.
        self._draining: _Worker | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._numbers = itertools.count()
        self._requests = itertools.count()
        self._blob: tuple[Stack, bytes] | None = None
        self._crashes = 0
        self._workers = [_Worker(self, next(self._numbers)) for _ in range(processes)]
        self._size = processes
        #: Workers that died and were replaced (reported in status).
        self.restarts = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def alive(self) -> int:
        with self._lock:
            return len(self._workers)

    @property
    def queued(self) -> int:
        """Requests waiting in the runner for a worker."""
        with self._lock:
            return len(self._queue)

    def submit(
        self,
        stack: Stack,
        body: bytes,
        now: datetime,
        *,
        want_document: bool = False,
        principal: str = "",
    ) -> Future[Evaluated]:
        """Evaluate ``body`` against ``stack`` at ``now``: queued fairly (by size, then
        round-robin by ``principal``), then sent to a worker with room."""
        future: Future[Evaluated] = Future()
        future.set_running_or_notify_cancel()
        large = len(body) > self.limits.large_body_bytes
        with self._lock:
            if self._closed:
                raise EvaluatorLost("the evaluator processes have been shut down")
            if not self._workers:
                raise EvaluatorLost(
                    "no evaluator process is running (restarting after a crash)",
                    hint="retry shortly; see the runner's log for why they exit",
                )
            request = _Request(next(self._requests), stack, body, now, want_document, large, future)
            self._queue.put(LARGE if large else SMALL, principal, request)
            self._pump()
        return future

    def _pump(self) -> None:
        """Hand queued requests to workers with room (the caller holds ``_lock``)."""
        while self._dispatch_small() or self._dispatch_large():
            pass

    def _dispatch_small(self) -> bool:
        if not self._queue.waiting(SMALL):
            return False
        room = [
            w
            for w in self._workers
            if not w.large and len(w.pending) < PIPELINE and w is not self._draining
        ]
        if not room:
            return False
        request = self._queue.pop(SMALL)
        if request is None:
            return False
        self._send(min(room, key=lambda w: len(w.pending)), request)
        return True

    def _dispatch_large(self) -> bool:
        if not self._queue.waiting(LARGE) or not self._workers:
            self._draining = None
            return False
        holding = sum(1 for w in self._workers if w.large)
        if holding >= max(1, len(self._workers) - 1):
            return False  # the last worker without large work stays for small ones
        idle = [w for w in self._workers if not w.pending]
        if not idle:
            if self._draining is None or self._draining not in self._workers:
                free = [w for w in self._workers if not w.large]
                self._draining = min(free, key=lambda w: len(w.pending))
            return False
        worker = self._draining if self._draining in idle else idle[0]
        self._draining = None
        request = self._queue.pop(LARGE)
        if request is None:
            return False
        self._send(worker, request)
        return True

    def _send(self, worker: _Worker, request: _Request) -> None:
        if worker.stack is not request.stack:
            worker.post(("stack", self._stack_blob(request.stack)), large=True)
            worker.stack = request.stack
        worker.pending[request.number] = request.future
        if request.large:
            worker.large.add(request.number)
        message = ("eval", request.number, request.body, request.now, request.want_document)
        worker.post(message, large=len(request.body) > DIRECT_SEND_LIMIT)

    def _stack_blob(self, stack: Stack) -> bytes:
        if self._blob is None or self._blob[0] is not stack:
            payload = (stack, self._facts, self.limits)
            blob = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
            self._blob = (stack, blob)
        return self._blob[1]

    def _lost(self, worker: _Worker, why: str) -> None:
        """Fail what ``worker`` held and, unless shutting down, replace it."""
        with self._lock:
            if not worker.alive:
                return
            worker.alive = False
            orphans = list(worker.pending.values())
            worker.pending.clear()
            worker.large.clear()
            if worker in self._workers:
                self._workers.remove(worker)
            if self._draining is worker:
                self._draining = None
            replace = not self._closed
            if replace:
                self.restarts += 1
                self._crashes = 0 if worker.answered else self._crashes + 1
                delay = 0.0 if not self._crashes else min(0.1 * 2**self._crashes, self.MAX_BACKOFF)
        worker.outbox.put(None)
        if worker.process.poll() is None:
            worker.process.kill()
        worker.process.wait()
        if replace and not delay:
            self._replace()
        elif replace:
            timer = threading.Timer(delay, self._replace)
            timer.daemon = True
            timer.start()
        for future in orphans:
            future.set_exception(
                EvaluatorLost(
                    f"the evaluator process stopped before answering: {why}",
                    hint="retry the request; see the runner's log",
                )
            )

    def _replace(self) -> None:
        with self._lock:
            if self._closed or len(self._workers) >= self._size:
                return
            self._workers.append(_Worker(self, next(self._numbers)))
            self._pump()

    def shutdown(self, timeout: float = 10) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._workers)
            waiting = self._queue.drain()
        for request in waiting:
            request.future.set_exception(EvaluatorLost("the runner is shutting down"))
        for worker in workers:
            worker.outbox.put(None)
        for worker in workers:
            try:
                worker.process.wait(timeout)
            except subprocess.TimeoutExpired:
                worker.process.kill()
            self._lost(worker, "the runner is shutting down")
            worker.conn.close()


__all__ = ["Evaluated", "EvaluatorLost", "ProcessEvaluators"]
