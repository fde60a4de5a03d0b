"""``charter-hook AGENT [hook options]``: the hook client (standard library only).

It reads the agent's payload on stdin, forwards it with the options and the working
directory to the daemon that serves exactly these options and environment (starting
it, detached, when its socket is absent or stale, under a lock so concurrent calls
start one daemon), prints the daemon's answer and exits with its code. When no answer
comes within ``$CHARTER_HOOK_TIMEOUT`` seconds (default 10), or anything else goes
wrong, it **fails closed**: the agent protocol's deny answer and exit 2.
"""

from __future__ import annotations

import _socket
import fcntl
import os
import stat
import sys
import time

from charter.hookd import protocol
from charter.hookd.protocol import HookdError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

USAGE = "usage: charter-hook AGENT [--constitution F --key PUB …]  (the options of charter hook)"
#: Seconds between connection attempts while a daemon starts.
_POLL = 0.01


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-"):
        sys.stderr.write(USAGE + "\n")
        return protocol.BLOCK_EXIT
    agent, options = args[0], args[1:]
    try:
        deadline = time.monotonic() + _timeout(os.environ)
        stdin = protocol.read_stdin(0, deadline)
        out, err, code = ask(agent, options, stdin, os.environ, deadline)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - any failure denies
        # Exit 1 or a traceback would let Claude Code run the call: every failure is a deny.
        message = str(exc) if isinstance(exc, HookdError | OSError | ValueError) else repr(exc)
        out, err, code = protocol.deny_answer(agent, message)
    _write(sys.stdout, out)
    _write(sys.stderr, err)
    return code


def run() -> None:
    sys.exit(main())


def _write(stream: object, text: str) -> None:
    if not text:
        return
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        buffer.write(text.encode("utf-8", "surrogateescape"))
        buffer.flush()
    else:
        stream.write(text)  # type: ignore[attr-defined]


def _timeout(environ: Mapping[str, str]) -> float:
    raw = environ.get(protocol.TIMEOUT_ENV)
    if not raw:
        return protocol.DEFAULT_TIMEOUT
    value = float(raw)
    if not 0 < value <= 600:  # noqa: PLR2004 - a sane range, in seconds
        raise ValueError(f"{protocol.TIMEOUT_ENV} must be seconds in (0, 600], got {raw!r}")
    return value


def ask(
    agent: str, options: Sequence[str], stdin: bytes, environ: Mapping[str, str], deadline: float
) -> tuple[str, str, int]:
    """(stdout, stderr, exit) of the daemon for one hook call, starting it if need be.

    Raises HookdError (or OSError) when there is no answer by ``deadline``.
    """
    cwd = os.getcwd()
    normalized = protocol.normalized_options(options, cwd)
    env = protocol.daemon_environment(environ, cwd)
    ident = protocol.identity(normalized, env)
    directory = protocol.runtime_dir(env)
    path = protocol.socket_path(directory, ident)
    request = protocol.encode_header(ident, agent, cwd)
    try:
        return _exchange(_connect(path, ident, normalized, env, deadline), request, stdin, deadline)
    except _Dropped:
        # The daemon went away between accepting and answering (it exits when idle):
        # once more, which starts a new one.
        return _exchange(_connect(path, ident, normalized, env, deadline), request, stdin, deadline)


class _Dropped(HookdError):
    """The connection closed before the daemon's answer began."""


def _exchange(
    sock: _socket.socket, request: bytes, stdin: bytes, deadline: float
) -> tuple[str, str, int]:
    try:
        try:
            protocol.send_frame(sock, request)
            protocol.send_frame(sock, stdin)
            head = protocol.recv_frame(sock, deadline)
        except (ConnectionError, protocol.Closed) as exc:
            raise _Dropped(str(exc)) from None
        (exit_field,) = protocol.header(head, 1)
        out = protocol.recv_frame(sock, deadline).decode("utf-8", "surrogateescape")
        err = protocol.recv_frame(sock, deadline).decode("utf-8", "surrogateescape")
    finally:
        sock.close()
    if not exit_field.isdigit() or not 0 <= int(exit_field) <= 255:  # noqa: PLR2004
        raise HookdError(f"the daemon answered an invalid exit code {exit_field!r}")
    return out, err, int(exit_field)


def _try_connect(path: str, deadline: float) -> _socket.socket | None:
    """A connection to our own daemon at ``path``, or None when none listens there."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.geteuid():
        raise HookdError(f"{path}: not a socket owned by this user")
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(max(deadline - time.monotonic(), 0.001))
    try:
        sock.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        sock.close()
        return None
    except OSError:
        sock.close()
        raise
    if protocol.peer_uid(sock) != os.geteuid():
        sock.close()
        raise HookdError(f"{path}: the daemon runs as another user")
    return sock


def _connect(
    path: str,
    ident: str,
    options: list[str],
    env: Mapping[str, str],
    deadline: float,
) -> _socket.socket:
    sock = _try_connect(path, deadline)
    if sock is not None:
        return sock
    lock = os.open(path[: -len(".sock")] + ".spawn", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _flock(lock, deadline)
        sock = _try_connect(path, deadline)  # another client may have started it
        child = None if sock is not None else _spawn(path, ident, options, env)
        while sock is None:
            if time.monotonic() >= deadline:
                raise HookdError(f"no answer from the daemon in time ({_last_log_line(path)})")
            if child is not None and os.waitpid(child, os.WNOHANG)[0]:
                raise HookdError(f"the daemon did not start ({_last_log_line(path)})")
            time.sleep(_POLL)
            sock = _try_connect(path, deadline)
        return sock
    finally:
        os.close(lock)


def _flock(fd: int, deadline: float) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise HookdError(
                    "timed out waiting for another client to start the daemon"
                ) from None
            time.sleep(_POLL)


def _spawn(path: str, ident: str, options: list[str], env: Mapping[str, str]) -> int:
    """Start ``charter hook serve`` detached: a new session, in the caller's cwd, its
    output to a log file next to the socket."""
    log = path[: -len(".sock")] + ".log"
    # -P: the working directory (the agent's repository) is not put on sys.path, so a
    # `charter/` directory there cannot stand in for Charter in the daemon.
    argv = [
        sys.executable, "-P", "-m", "charter", "hook", "serve",
        "--socket", path, "--identity", ident, *options,
    ]  # fmt: skip
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    return os.posix_spawn(sys.executable, argv, dict(env), file_actions=actions, setsid=True)


def _last_log_line(path: str) -> str:
    """The daemon's last log line, to say why it did not start."""
    try:
        with open(path[: -len(".sock")] + ".log", "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(handle.tell() - 2048, 0))
            lines = handle.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return "no daemon log"
    return lines[-1] if lines else "the daemon log is empty"


if __name__ == "__main__":
    run()
