"""The hook decision daemon: one per user and configuration, on a Unix socket.

``charter hook serve`` (the CLI) builds the handler — the same function the direct
``charter hook NAME`` runs, with the verified constitution kept loaded — and hands it
to :class:`Daemon`, which owns only the transport:

* a socket in the private runtime directory (:func:`protocol.runtime_dir`), bound
  under a temporary name and renamed into place, mode 0600; every connection's peer
  must be this user (``SO_PEERCRED``), anyone else is dropped unanswered;
* one daemon per identity: a lifetime ``flock`` on ``ID.lock``; a daemon whose
  socket file was replaced or removed exits;
* concurrent clients on **one thread**: a selector reads every connection without
  blocking (at most :data:`MAX_CLIENTS` at once, each with :data:`READ_TIMEOUT`
  seconds and :data:`protocol.MAX_FRAME` bytes per frame to send its request), and a
  request is decided as soon as it is complete. Decisions are serial, so the gate,
  its audit store and the process working directory are only ever touched by that
  thread, and an answer costs no hand-over between threads (which, on a loaded
  machine, is a scheduling delay each);
* a request the handler cannot answer gets a fail-closed reply (exit 2), a malformed
  request is dropped (the client then fails closed): no payload stops the daemon;
* it exits after ``idle_timeout`` seconds without a connection.
"""

from __future__ import annotations

import fcntl
import os
import selectors
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from charter.hookd import protocol
from charter.hookd.protocol import HookdError

#: Connections being read at once; more are closed unanswered (those clients fail closed).
MAX_CLIENTS = 64
#: Seconds a client has to send its whole request.
READ_TIMEOUT = 10.0
#: Seconds a reply may take to write (replies are small: this bounds a client that
#: does not read).
WRITE_TIMEOUT = 5.0
#: Seconds between checks of the idle timer and of the socket file.
TICK = 0.5
#: Seconds a new daemon waits for the previous one of its identity to let go.
LOCK_WAIT = 5.0


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


@dataclass
class _Reading:
    """A connection whose request is still arriving."""

    deadline: float
    data: bytearray = field(default_factory=bytearray)


def _frames(data: bytes | bytearray, count: int) -> list[bytes] | None:
    """The first ``count`` length-prefixed frames of ``data``; None until all arrived."""
    out: list[bytes] = []
    at = 0
    for _ in range(count):
        if len(data) < at + 4:
            return None
        size = int.from_bytes(data[at : at + 4], "big")
        if size > protocol.MAX_FRAME:
            raise HookdError(f"frame of {size} bytes is over the {protocol.MAX_FRAME} limit")
        if len(data) < at + 4 + size:
            return None
        out.append(bytes(data[at + 4 : at + 4 + size]))
        at += 4 + size
    return out


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
        self.ident = ident
        self.handler = handler
        self.idle_timeout = idle_timeout
        self.warm = warm
        self._reading: dict[socket.socket, _Reading] = {}
        self._last = time.monotonic()

    # ------------------------------------------------------------ lifecycle

    def serve(self) -> None:
        """Bind, answer until idle (or the socket is taken away), clean up."""
        lock = os.open(self.path[: -len(".sock")] + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            self._lock(lock)
            listener, mine = self._bind()
            try:
                if self.warm is not None:
                    try:
                        self.warm()  # e.g. load and verify now, before the first call
                    except Exception:  # noqa: BLE001, S110 - the first request reports it
                        pass
                self._loop(listener, mine)
            finally:
                if self._still_mine(mine):  # first: new clients start a new daemon
                    os.unlink(self.path)
                listener.close()
                for conn in self._reading:
                    conn.close()
                self._reading.clear()
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
        listener.setblocking(False)
        return listener, (info.st_dev, info.st_ino)

    def _still_mine(self, mine: tuple[int, int]) -> bool:
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return False
        return stat.S_ISSOCK(info.st_mode) and (info.st_dev, info.st_ino) == mine

    def _loop(self, listener: socket.socket, mine: tuple[int, int]) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            checked = time.monotonic()
            while True:
                for key, _ in selector.select(TICK):
                    if key.fileobj is listener:
                        self._accept(listener, selector)
                    else:
                        self._read(key.fileobj, selector)  # type: ignore[arg-type]
                now = time.monotonic()
                self._expire(selector, now)
                if now - checked >= TICK:
                    checked = now
                    idle = now - self._last > self.idle_timeout and not self._reading
                    if idle or not self._still_mine(mine):
                        return

    # ------------------------------------------------------------ requests

    def _accept(self, listener: socket.socket, selector: selectors.BaseSelector) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. out of descriptors: those clients fail closed
            self._last = time.monotonic()
            try:
                ours = protocol.peer_uid(conn) == os.geteuid()
            except OSError:
                ours = False
            if not ours or len(self._reading) >= MAX_CLIENTS:
                conn.close()
                continue
            conn.setblocking(False)
            self._reading[conn] = _Reading(self._last + READ_TIMEOUT)
            selector.register(conn, selectors.EVENT_READ)

    def _drop(self, conn: socket.socket, selector: selectors.BaseSelector) -> None:
        selector.unregister(conn)
        del self._reading[conn]
        conn.close()

    def _expire(self, selector: selectors.BaseSelector, now: float) -> None:
        for conn in [c for c, r in self._reading.items() if r.deadline < now]:
            self._drop(conn, selector)

    def _read(self, conn: socket.socket, selector: selectors.BaseSelector) -> None:
        reading = self._reading[conn]
        try:
            chunk = conn.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(conn, selector)
            return
        reading.data += chunk
        try:
            frames = _frames(reading.data, 2)
            request = None if frames is None else self._request(*frames)
        except HookdError:
            self._drop(conn, selector)
            return
        if frames is None:
            return
        selector.unregister(conn)
        del self._reading[conn]
        with conn:
            if request is not None:
                self._answer(conn, request)

    def _request(self, head: bytes, stdin: bytes) -> Request | None:
        ident, agent, cwd = protocol.header(head, 3)
        if ident != self.ident or not agent or not os.path.isabs(cwd):
            return None
        return Request(agent=agent, cwd=cwd, stdin=stdin)

    def _answer(self, conn: socket.socket, request: Request) -> None:
        try:
            reply = self.handler(request)
        except Exception as exc:  # noqa: BLE001 - no payload may stop the daemon
            reply = failure(f"internal error: {type(exc).__name__}: {exc}")
        self._last = time.monotonic()
        try:
            conn.settimeout(WRITE_TIMEOUT)
            protocol.send_frame(conn, protocol.encode_header(str(reply.exit_code)))
            protocol.send_frame(conn, reply.stdout.encode("utf-8", "surrogateescape"))
            protocol.send_frame(conn, reply.stderr.encode("utf-8", "surrogateescape"))
        except (HookdError, OSError):
            pass  # the client went away or does not read: it fails closed
