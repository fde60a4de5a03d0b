"""sandbox_only: bubblewrap with the allowed directories as the only writable paths, no network."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from charter.actions import sandbox
from charter.cli import main
from tests.gate_helpers import constitution_text, write_signed

PROBE = sandbox.probe()


def need_bwrap() -> None:
    if not PROBE.ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"sandbox tests cannot run under CI: {PROBE.reason}")
        pytest.skip(f"bubblewrap unusable here: {PROBE.reason}")


def test_write_outside_allowed_fails_inside_the_sandbox(tmp_path: Path) -> None:
    need_bwrap()
    allowed = tmp_path / "allowed"
    outside = tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    argv = sandbox.wrap(
        ["sh", "-c", f"touch {allowed}/in; touch {outside}/out"], writable=[str(allowed)]
    )
    done = subprocess.run(argv, capture_output=True, check=False)
    assert (allowed / "in").exists()
    assert not (outside / "out").exists()
    assert done.returncode != 0


def test_network_is_cut_inside_the_sandbox(tmp_path: Path) -> None:
    need_bwrap()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted: list[bool] = []

    def accept() -> None:
        server.settimeout(10)
        try:
            conn, _ = server.accept()
            accepted.append(True)
            conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    code = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3)"
    # Outside the sandbox the listener is reachable ...
    subprocess.run([sys.executable, "-c", code], check=True)
    thread.join()
    assert accepted == [True]
    # ... inside it, not.
    inside = subprocess.run(
        sandbox.wrap([sys.executable, "-c", code]), capture_output=True, check=False
    )
    server.close()
    assert inside.returncode != 0
    assert b"Connection refused" in inside.stderr or b"unreachable" in inside.stderr


def _sandboxed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Path, Path]:
    monkeypatch.setenv("CHARTER_AUDIT", str(tmp_path / "audit.db"))
    monkeypatch.setenv("CHARTER_STATE_DIR", str(tmp_path / "state"))
    allowed = tmp_path / "allowed"
    outside = tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    text = constitution_text(
        f'[resource_limits]\nallowed_directories = ["{allowed}"]\n'
        "[model_permissions]\nboxed = { sandbox_only = true }\n"
    ).replace('"true",', '"true", "touch *",')
    c, k = write_signed(tmp_path / "c", text)
    base = ["exec", "--constitution", str(c), "--key", str(k), "--model-role", "boxed", "--"]
    return base, allowed, outside


def test_exec_runs_sandbox_only_roles_in_bwrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_bwrap()
    base, allowed, outside = _sandboxed(tmp_path, monkeypatch)
    assert main([*base, "touch", str(allowed / "ok")]) == 0
    assert (allowed / "ok").exists()


def test_exec_fails_closed_without_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base, allowed, _ = _sandboxed(tmp_path, monkeypatch)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert main([*base, "/usr/bin/touch", str(allowed / "never")]) == 1
    assert not (allowed / "never").exists()
