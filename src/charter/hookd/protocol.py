"""What the hook client and the daemon share. Standard library only: the client imports it.

A **daemon instance** is identified by :func:`identity`: the SHA-256 of the protocol
version, the Charter version and source directory, the Python executable, the hook
options exactly as the daemon will parse them (path options made absolute) and the
environment variables a decision can depend on (:data:`IDENTITY_ENV`, every
``CHARTER_*``). Two configurations never share a daemon; the socket is named by it.

The wire format, over a ``SOCK_STREAM`` Unix socket, is length-prefixed frames (4
bytes, big-endian): the client sends a header frame of NUL-separated fields
(protocol version, identity, agent, working directory) and the raw standard input;
the daemon answers with a header frame (protocol version, exit code), then standard
output and standard error as UTF-8 frames.

Every import here is a built-in or tiny module (``_socket``, not ``socket``, which
pulls in ``enum``; no ``json``, which pulls in ``re``; the built-in SHA-256 rather
than OpenSSL's): the client runs before every tool call, and its import time is
the hook's latency (bench/bench_hook.py).
"""

from __future__ import annotations

import _socket
import os
import select
import stat
import sys
import time

import charter

try:  # the interpreter's own SHA-256 (no OpenSSL start-up); hashlib where it is missing
    from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - Python 3.12+ names it _sha2
    try:
        from _sha2 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
    except ImportError:
        from hashlib import sha256  # type: ignore[assignment,unused-ignore]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

PROTOCOL = 1
#: Largest frame accepted either way (a Write tool's content is in the payload).
MAX_FRAME = 64 * 1024 * 1024
#: Default seconds the client waits for an answer, starting the daemon included.
DEFAULT_TIMEOUT = 10.0
TIMEOUT_ENV = "CHARTER_HOOK_TIMEOUT"
#: Where sockets live when ``$XDG_RUNTIME_DIR`` is unset (or to override it).
DIR_ENV = "CHARTER_HOOKD_DIR"
#: Hook options whose value is a path: made absolute against the client's cwd.
PATH_OPTIONS = frozenset({"--constitution", "--key", "--trust", "--audit", "--budget", "--pricing"})
#: Environment variables holding paths that are relative to the caller's cwd.
PATH_ENV = ("CHARTER_AUDIT", "CHARTER_BUDGET", "CHARTER_STATE_DIR", "CHARTER_PRICING")
#: Environment variables (besides ``CHARTER_*``) a decision may depend on: ``~``
#: expansion, the program search path, where Python finds Charter.
IDENTITY_ENV = (
    "HOME", "USER", "LOGNAME", "PATH", "PYTHONPATH", "PYTHONHOME", "XDG_RUNTIME_DIR",
    "XDG_STATE_HOME", "XDG_CONFIG_HOME", "TMPDIR", "TZ", "LANG", "LC_ALL", "LC_CTYPE",
)  # fmt: skip
#: Exit code every supported agent treats as "block this tool call".
BLOCK_EXIT = 2

_INT = 4


class HookdError(Exception):
    """The daemon could not be reached or answered nonsense: the client fails closed."""


class Closed(HookdError):
    """The other end closed the connection."""


def normalized_options(args: Sequence[str], cwd: str) -> list[str]:
    """``args`` with every path option's value made absolute against ``cwd``."""
    out: list[str] = []
    pending = False
    for arg in args:
        if pending:
            out.append(_absolute(arg, cwd))
            pending = False
            continue
        name, equals, value = arg.partition("=")
        if name in PATH_OPTIONS and equals:
            out.append(f"{name}={_absolute(value, cwd)}")
        else:
            out.append(arg)
            pending = arg in PATH_OPTIONS
    return out


def _absolute(value: str, cwd: str) -> str:
    if not value or value.startswith(("~", "postgres://", "postgresql://")):
        return value
    return os.path.normpath(os.path.join(cwd, value))


def daemon_environment(environ: Mapping[str, str], cwd: str) -> dict[str, str]:
    """The environment the daemon runs with: the caller's, path variables made absolute."""
    env = dict(environ)
    for name in PATH_ENV:
        if env.get(name):
            env[name] = _absolute(env[name], cwd)
    return env


def identity(options: Sequence[str], environ: Mapping[str, str]) -> str:
    """The hex identity of the daemon that serves ``options`` in ``environ``.

    The fields are joined with NUL, which no argument, path or environment entry can
    contain, and lists are counted, so two different configurations never hash the
    same text.
    """
    relevant = sorted(
        f"{k}={v}"
        for k, v in environ.items()
        if (k.startswith("CHARTER_") or k in IDENTITY_ENV) and k != TIMEOUT_ENV
    )
    fields = [
        f"charter-hookd/{PROTOCOL}",
        charter.__version__,
        os.path.dirname(os.path.abspath(charter.__file__)),
        sys.executable,
        str(os.geteuid()),
        str(len(options)),
        *options,
        str(len(relevant)),
        *relevant,
    ]
    return str(sha256(_bytes("\0".join(fields))).hexdigest())


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def runtime_dir(environ: Mapping[str, str]) -> str:
    """The per-user directory of sockets and locks, created 0700 and checked private."""
    base = environ.get(DIR_ENV)
    if not base:
        xdg = environ.get("XDG_RUNTIME_DIR")
        if xdg and os.path.isabs(xdg):
            base = os.path.join(xdg, "charter")
        else:
            state = environ.get("CHARTER_STATE_DIR") or os.path.join(
                environ.get("HOME") or os.path.expanduser("~"), ".charter", "state"
            )
            base = os.path.join(os.path.expanduser(state), "hookd")
    os.makedirs(base, mode=0o700, exist_ok=True)
    info = os.lstat(base)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise HookdError(f"{base}: not a directory owned by this user")
    if info.st_mode & 0o077:
        raise HookdError(f"{base}: open to other users (mode {info.st_mode & 0o777:o}, want 700)")
    return base


def socket_path(directory: str, ident: str) -> str:
    path = os.path.join(directory, f"{ident[:24]}.sock")
    if len(path.encode("utf-8", "surrogateescape")) > 100:
        raise HookdError(f"{path}: too long for a Unix socket (set {DIR_ENV} to a short path)")
    return path


def peer_uid(sock: _socket.socket) -> int:
    """The effective uid of the process at the other end (``SO_PEERCRED``: pid, uid, gid)."""
    raw = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 3 * _INT)
    return int.from_bytes(raw[_INT : 2 * _INT], sys.byteorder, signed=True)


def send_frame(sock: _socket.socket, data: bytes) -> None:
    if len(data) > MAX_FRAME:
        raise HookdError(f"frame of {len(data)} bytes is over the {MAX_FRAME} limit")
    sock.sendall(len(data).to_bytes(_INT, "big") + data)


def recv_frame(sock: _socket.socket, deadline: float) -> bytes:
    length = int.from_bytes(_recv_exact(sock, _INT, deadline), "big")
    if length > MAX_FRAME:
        raise HookdError(f"frame of {length} bytes is over the {MAX_FRAME} limit")
    return _recv_exact(sock, length, deadline)


def _recv_exact(sock: _socket.socket, size: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    missing = size
    while missing:
        left = deadline - time.monotonic()
        if left <= 0:
            raise HookdError("timed out waiting for the other end")
        sock.settimeout(left)
        try:
            chunk = sock.recv(min(missing, 1 << 20))
        except TimeoutError:
            raise HookdError("timed out waiting for the other end") from None
        if not chunk:
            raise Closed("the other end closed the connection")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def encode_header(*fields: str) -> bytes:
    """A header frame: the protocol version and ``fields``, NUL-separated."""
    if any("\0" in f for f in fields):
        raise HookdError("a header field contains NUL")
    return _bytes("\0".join((str(PROTOCOL), *fields)))


def header(data: bytes, count: int) -> list[str]:
    """The ``count`` fields of a header frame (anything else is a protocol error)."""
    fields = data.decode("utf-8", "surrogateescape").split("\0")
    if len(fields) != count + 1 or fields[0] != str(PROTOCOL):
        raise HookdError("malformed header or another protocol version")
    return fields[1:]


def read_stdin(fd: int, deadline: float) -> bytes:
    """All of ``fd`` until end of file, or HookdError when the deadline passes first."""
    chunks: list[bytes] = []
    total = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise HookdError("timed out reading the hook input on stdin")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > MAX_FRAME:
            raise HookdError(f"hook input is over {MAX_FRAME} bytes")
        chunks.append(chunk)


def deny_answer(agent: str, message: str) -> tuple[str, str, int]:
    """(stdout, stderr, exit) that blocks the tool call in ``agent``'s hook protocol."""
    reason = json_string(f"Charter deny: the hook could not decide ({message})")
    stdout = ""
    if agent in ("claude-code", "codex"):  # the same PreToolUse answer
        stdout = (
            '{"hookSpecificOutput": {"hookEventName": "PreToolUse", '
            f'"permissionDecision": "deny", "permissionDecisionReason": {reason}}}}}\n'
        )
    elif agent == "gemini-cli":
        stdout = f'{{"decision": "deny", "reason": {reason}}}\n'
    elif agent == "cursor":
        stdout = f'{{"permission": "deny", "user_message": {reason}, "agent_message": {reason}}}\n'
    stderr = f"charter-hook: error: {' '.join(message.split())}\n"
    return stdout, stderr, BLOCK_EXIT


def json_string(text: str) -> str:
    """``text`` as a JSON string literal (no ``json`` import: see the module docstring)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code < 0x20 or 0xD800 <= code <= 0xDFFF:  # noqa: PLR2004
            out.append("\\u%04x" % (code if code < 0xD800 else 0xFFFD))  # noqa: PLR2004, UP031
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
