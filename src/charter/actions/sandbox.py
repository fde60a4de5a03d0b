"""Run a command under bubblewrap for roles with ``sandbox_only = true``.

The sandbox sees the whole filesystem read-only, the allowed directories as the
only writable paths, blocked directories hidden behind an empty tmpfs, a fresh
``/dev`` and ``/proc``, and no network (``--unshare-net``: only a private
loopback). If ``bwrap`` is missing or cannot create namespaces, nothing runs
(fail closed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from charter.core.errors import Rejected


class SandboxError(Rejected):
    """The sandbox is required but cannot be used: the command does not run."""


@dataclass(frozen=True)
class Probe:
    ok: bool
    reason: str


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def probe() -> Probe:
    """Whether bwrap exists and can create the namespaces the sandbox needs."""
    exe = bwrap_path()
    if exe is None:
        return Probe(False, "bwrap is not installed (Debian package bubblewrap)")
    try:
        done = subprocess.run(
            [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net",
             "--unshare-pid", "--die-with-parent", "true"],
            capture_output=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Probe(False, f"bwrap cannot run: {exc}")
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        return Probe(
            False,
            f"bwrap cannot create namespaces here: {detail[-1] if detail else done.returncode}",
        )
    return Probe(True, "bwrap works")


def wrap(
    argv: Sequence[str],
    *,
    writable: Sequence[str] = (),
    hidden: Sequence[str] = (),
    cwd: str | None = None,
) -> list[str]:
    """The bwrap argv that runs ``argv`` in the sandbox."""
    exe = bwrap_path()
    if exe is None:
        raise SandboxError(
            "sandbox_only is set for this role but bwrap is not installed; refusing to run",
            hint="install the Debian package bubblewrap",
        )
    cmd = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
           "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
           "--die-with-parent", "--new-session"]  # fmt: skip
    real_writable = [os.path.realpath(os.path.expanduser(d)) for d in writable]
    for d in hidden:
        real = os.path.realpath(os.path.expanduser(d))
        if os.path.isdir(real) and not any(
            w == real or w.startswith(real + "/") for w in real_writable
        ):
            cmd += ["--tmpfs", real]
    for d in real_writable:
        if os.path.isdir(d):
            cmd += ["--bind", d, d]
    if cwd:
        cmd += ["--chdir", cwd]
    return [*cmd, "--", *argv]
