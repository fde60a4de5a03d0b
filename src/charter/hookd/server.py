"""The hook decision daemon: one per user and configuration, on a Unix socket.

``charter hook serve`` (the CLI) builds the handler — the same function the direct
``charter hook NAME`` runs, with the verified constitution kept loaded — and hands it
to :class:`Daemon`, which owns only the transport:

* a socket in the private runtime directory (:func:`protocol.runtime_dir`), bound
  under a temporary name and renamed into place, mode 0600; every connection's peer
  must be this user (``SO_PEERCRED``), anyone else is dropped unanswered;
* one daemon per identity: a lifetime ``flock`` on ``ID.lock``; a daemon whose
  socket file was replaced or removed exits;
* concurrent clients: one thread per connection reads the request (bounded time and
  size, at most :data:`MAX_CLIENTS` at once), and **one worker thread** runs every
  decision, so the gate, its audit store and the process working directory are only
  ever touched by that thread;
* a request the handler cannot answer gets a fail-closed reply (exit 2), a malformed
  request is dropped (the client then fails closed): no payload stops the daemon;
* it exits after ``idle_timeout`` seconds without a request.
"""

from __future__ import annotations

import fcntl
import os
import queue
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from charter.hookd import protocol
from charter.hookd.protocol import HookdError

#: Connections served at once; more are closed unanswered (those clients fail closed).
MAX_CLIENTS = 64
#: Seconds a client has to send its whole request.
READ_TIMEOUT = 10.0
#: Seconds between checks of the idle timer and of the socket file.
TICK = 0.5
#: Seconds a new daemon waits for the previous one of its identity to let go.
LOCK_WAIT = 5.0
#: Seconds a connection waits for its decision before giving up (the client has
#: failed closed long before: this only bounds the daemon's own threads).
DECIDE_WAIT = 120.0


@dataclass(frozen=True)
class Request:
    agent: str
    cwd: str
    stdin: bytes


@dataclass(frozen=True)
class Reply:
    stdout: str
    stderr: str
    exit_code: int


Handler = Callable[[Request], Reply]


def failure(message: str) -> Reply:
    """The reply for a request nothing could decide: blocked (exit 2), one line."""
    return Reply("", f"charter: error: {' '.join(message.split())}\n", protocol.BLOCK_EXIT)


class Daemon:
    """Serves ``handler`` on ``path`` for clients of identity ``ident``."""

    def __init__(
        self,
        path: str,
        ident: str,
        handler: Handler,
        *,
        idle_timeout: float = 900.0,
        warm: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        self.warm = warm
        self.ident = ident
        self.handler = handler
        self.idle_timeout = idle_timeout
        self._jobs: queue.Queue[tuple[Request, queue.Queue[Reply]]] = queue.Queue()
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self._last = time.monotonic()
        self._stop = threading.Event()

    # ------------------------------------------------------------ lifecycle

    def serve(self) -> None:
        """Bind, answer until idle (or the socket is taken away), clean up."""
        lock = os.open(self.path[: -len(".sock")] + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            self._lock(lock)
            listener, mine = self._bind()
            worker = threading.Thread(target=self._work, name="hookd-worker", daemon=True)
            worker.start()
            try:
                self._accept(listener, mine, worker)
            finally:
                self._stop.set()
                if self._still_mine(mine):  # first: new clients start a new daemon
                    os.unlink(self.path)
                listener.close()
        finally:
            os.close(lock)

    def _lock(self, fd: int) -> None:
        until = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= until:
                    raise HookdError(f"another daemon serves {self.path}") from None
                time.sleep(0.05)

    def _bind(self) -> tuple[socket.socket, tuple[int, int]]:
        directory = os.path.dirname(self.path)
        protocol.runtime_dir({protocol.DIR_ENV: directory})  # still private?
        temporary = f"{self.path}.{os.getpid()}"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            if os.path.lexists(temporary):
                os.unlink(temporary)
            listener.bind(temporary)
        finally:
            os.umask(old)
        listener.listen(128)
        os.rename(temporary, self.path)  # atomically replaces a stale socket
        info = os.lstat(self.path)
        listener.settimeout(TICK)
        return listener, (info.st_dev, info.st_ino)

    def _still_mine(self, mine: tuple[int, int]) -> bool:
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return False
        return stat.S_ISSOCK(info.st_mode) and (info.st_dev, info.st_ino) == mine

    def _accept(
        self, listener: socket.socket, mine: tuple[int, int], worker: threading.Thread
    ) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                idle = time.monotonic() - self._last > self.idle_timeout and self._jobs.empty()
                if idle or not self._still_mine(mine) or not worker.is_alive():
                    return
                continue
            self._last = time.monotonic()
            if not self._slots.acquire(blocking=False):
                conn.close()
                continue
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    # ------------------------------------------------------------ requests

    def _client(self, conn: socket.socket) -> None:
        try:
            with conn:
                if protocol.peer_uid(conn) != os.geteuid():
                    return
                request = self._read(conn)
                if request is None:
                    return
                answer: queue.Queue[Reply] = queue.Queue(maxsize=1)
                self._jobs.put((request, answer))
                reply = answer.get(timeout=DECIDE_WAIT)
                conn.settimeout(READ_TIMEOUT)
                protocol.send_frame(conn, protocol.encode_header(str(reply.exit_code)))
                protocol.send_frame(conn, reply.stdout.encode("utf-8", "surrogateescape"))
                protocol.send_frame(conn, reply.stderr.encode("utf-8", "surrogateescape"))
        except (HookdError, OSError, ValueError, queue.Empty):
            pass  # a client that misbehaves or went away gets nothing
        finally:
            self._slots.release()

    def _read(self, conn: socket.socket) -> Request | None:
        deadline = time.monotonic() + READ_TIMEOUT
        ident, agent, cwd = protocol.header(protocol.recv_frame(conn, deadline), 3)
        stdin = protocol.recv_frame(conn, deadline)
        if ident != self.ident or not agent or not os.path.isabs(cwd):
            return None
        return Request(agent=agent, cwd=cwd, stdin=stdin)

    def _work(self) -> None:
        if self.warm is not None:
            try:
                self.warm()  # e.g. load and verify now, in the thread that decides
            except Exception:  # noqa: BLE001, S110 - the first request reports it
                pass
        while not self._stop.is_set():
            try:
                request, answer = self._jobs.get(timeout=TICK)
            except queue.Empty:
                continue
            try:
                reply = self.handler(request)
            except Exception as exc:  # noqa: BLE001 - no payload may stop the daemon
                reply = failure(f"internal error: {type(exc).__name__}: {exc}")
            self._last = time.monotonic()
            answer.put(reply)
