"""A real OCI registry (CNCF distribution, Debian's ``docker-registry``) on loopback.

Each :class:`LocalRegistry` runs ``docker-registry serve`` with a throw-away
config and storage directory on a free 127.0.0.1 port. Tests that need it skip
with a visible reason when the binary is missing, except under ``CI=true``,
where a missing registry is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REGISTRY_BINARY = os.environ.get("CHARTER_TEST_REGISTRY", "/usr/bin/docker-registry")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require(what: str, available: bool, reason: str) -> None:
    """Skip (or fail under CI=true) when a real dependency is unavailable."""
    if available:
        return
    message = f"{what} unavailable: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: integration dependencies are mandatory)")
    pytest.skip(message)


def registry_binary() -> str | None:
    if Path(REGISTRY_BINARY).is_file():
        return REGISTRY_BINARY
    return shutil.which("docker-registry")


class LocalRegistry:
    """One registry process; can be stopped and restarted on the same port."""

    def __init__(
        self, root: Path, *, auth: str = "", tls: tuple[Path, Path, Path] | None = None
    ) -> None:
        """``auth`` is the registry config's ``auth:`` block (indented), if any;
        ``tls`` is (certificate, key, CA file): the registry then speaks HTTPS only."""
        binary = registry_binary()
        require(
            "OCI registry",
            binary is not None,
            "docker-registry is not installed (scripts/test installs it: apt-get install "
            "docker-registry)",
        )
        assert binary is not None
        self.binary = binary
        self.root = root
        self.storage = root / "storage"
        self.storage.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.config = root / "config.yml"
        self.config.write_text(
            "version: 0.1\n"
            "log:\n  level: error\n  accesslog:\n    disabled: true\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {self.storage}\n"
            "  delete:\n    enabled: true\n"
            "  maintenance:\n    uploadpurging:\n      enabled: false\n"
            "http:\n"
            f"  addr: 127.0.0.1:{self.port}\n"
            + (f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n" if tls else "")
            + "  headers:\n    X-Content-Type-Options: [nosniff]\n"
            "health:\n  storagedriver:\n    enabled: false\n" + (f"auth:\n{auth}" if auth else "")
        )
        self.tls = tls
        self.process: subprocess.Popen[bytes] | None = None
        self.log = root / "registry.log"

    def ref(self, repository: str, tag: str = "latest") -> str:
        return f"oci://{self.host}/{repository}:{tag}"

    def start(self) -> None:
        if self.process is not None:
            return
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "serve", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "OTEL_TRACES_EXPORTER": "none",
                },
            )
        for _ in range(200):
            if self.process.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.log.read_text()[-2000:]}")
            try:
                scheme = "https" if self.tls else "http"
                verify: ssl.SSLContext | bool = (
                    ssl.create_default_context(cafile=str(self.tls[2])) if self.tls else True
                )
                answer = httpx.get(f"{scheme}://{self.host}/v2/", timeout=0.5, verify=verify)
                if answer.status_code in (200, 401):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("docker-registry did not become ready within 10 s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def blob_path(self, digest: str) -> Path:
        hexa = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexa[:2] / hexa / "data"


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """One registry shared by a test session (use distinct repository names)."""
    reg = LocalRegistry(tmp_path_factory.mktemp("registry"))
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def own_registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    """A registry of the test's own, which the test may stop and restart."""
    reg = LocalRegistry(tmp_path / "registry")
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()
