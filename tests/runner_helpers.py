"""Runners for tests: in-process uvicorn on a loopback port, or a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from charter.actions import constitution as constitution_mod
from charter.runner.app import create_app
from charter.runner.auth import sha256_hex
from charter.runner.config import load_config
from charter.runner.service import RunnerService
from charter.trust import keys
from tests.fixtures_registry import free_port

TOKENS = {
    "agent": ("agent-1", "agent-secret"),
    "approver": ("alice", "approver-secret"),
    "approver2": ("bob", "bob-approver-secret"),
    "operator": ("ops", "operator-secret"),
}
ROLE_OF = {"agent": "agent", "approver": "approver", "approver2": "approver",
           "operator": "operator"}  # fmt: skip


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who][1]}"}


def token_toml() -> str:
    return "\n".join(
        f'[[tokens]]\nname = "{name}"\nrole = "{ROLE_OF[who]}"\nsha256 = "{sha256_hex(secret)}"\n'
        for who, (name, secret) in TOKENS.items()
    )


def signed_action_constitution(directory: Path) -> tuple[Path, Path]:
    from importlib import resources

    key = keys.generate()
    public = directory / "actions.pub"
    public.write_bytes(keys.public_pem(key.public_key()))
    text = resources.files("charter").joinpath("defaults/constitution.toml").read_text()
    path = directory / "actions.toml"
    path.write_text(constitution_mod.sign_text(text, key))
    return path, public


def write_config(directory: Path, body: str, *, port: int | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    actions, public = signed_action_constitution(directory)
    config = directory / "runner.toml"
    # One evaluator process unless a test says otherwise: the process path is
    # exercised everywhere, at half the start-up cost of the 2-CPU default.
    processes = "" if "evaluator_processes" in body else "evaluator_processes = 1\n"
    config.write_text(
        f'listen = "127.0.0.1:{port or free_port()}"\n'
        f'state_dir = "{directory / "state"}"\n'
        + processes
        + body
        + f'\n[actions]\nconstitution = "{actions}"\nkey = "{public}"\n\n'
        + token_toml()
    )
    return config


def metric_samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``/metrics`` parsed by prometheus_client: (sample name, labels) -> value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metric(text: str, name: str, **labels: str) -> float | None:
    """One sample of ``/metrics`` (None when absent)."""
    return metric_samples(text).get((name, frozenset(labels.items())))


def wait_until(predicate: Any, timeout: float = 30.0, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)


class ThreadedRunner:
    """The real app under a real uvicorn server, in a thread of this process."""

    def __init__(self, config_path: Path, *, clock: Callable[[], datetime] | None = None) -> None:
        config = load_config(config_path)
        self.service = RunnerService(config, clock=clock).start()
        self.url = f"http://{config.listen}"
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_app(self.service),
                host=config.listen.host,
                port=config.listen.port,
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=20)
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.service.stop()


class RunnerProcess:
    """``charter runner --config FILE`` as a real process."""

    def __init__(self, config_path: Path, log: Path) -> None:
        self.url = f"http://{load_config(config_path).listen}"
        self.log = log
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "charter", "runner", "--config", str(config_path)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

        def up() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"runner exited: {log.read_text()[-2000:]}")
            try:
                return httpx.get(self.url + "/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=60, step=0.1)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
