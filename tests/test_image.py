"""The container image (Containerfile), built with podman and run, offline.

No image can be pulled here, so the base is made from this machine's Debian
packages (``scripts/container-base``) and pip installs from wheels of the test
venv (``scripts/container-wheels``) with ``--no-index``: the same Containerfile a
user with network access builds on ``python:3.11-slim``, with three build
arguments. The build takes about a minute, so the checks run in one test (pytest-xdist
would build once per worker otherwise), marked ``image`` and run by ``.ci/run``
like every other test.

The run flags (``RUN_FLAGS``) fit this sandbox: it lacks ``CAP_SYS_RESOURCE``
(the default container rlimits cannot be raised, so they are set low) and mounts
cgroups v1 and v2 side by side, which crun refuses (runc with cgroupfs works).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import charter
from charter.policy.release import shipped_constitution_bundle
from charter.registry import oci
from charter.trust import keys
from tests.bundle_helpers import constitution_bundle
from tests.fixtures_pg import pg_url
from tests.fixtures_registry import LocalRegistry, free_port, registry, require
from tests.test_deploy_kubernetes import (
    PLACEHOLDER_REGISTRY,
    arg_after,
    one,
    pod,
    runner_config_text,
)
from tests.test_deploy_kubernetes import containers as pod_containers

__all__ = ["pg_url", "registry"]

pytestmark = [pytest.mark.slow, pytest.mark.image]

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ["--runtime", "runc", "--cgroup-manager", "cgroupfs"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
#: The pod's containers: read-only root, the host's loopback (registry, PostgreSQL).
POD_FLAGS = [*RUNTIME, *LIMITS, "--network", "host", "--read-only"]
#: As the Kubernetes manifests run it: read-only root, writable state and /tmp only.
RUN_FLAGS = [
    *POD_FLAGS,
    "--tmpfs",
    "/tmp",
    "--tmpfs",
    "/var/lib/charter:rw,U",  # owned by the image's user
]
RELEASE = "/opt/charter/lib/python3.11/site-packages/charter/release"


def podman(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _requirements() -> None:
    require("podman", shutil.which("podman") is not None, "apt-get install podman buildah")
    runc = shutil.which("runc") or next(
        (p for p in ("/usr/sbin/runc", "/usr/bin/runc") if Path(p).is_file()), None
    )
    require("runc", runc is not None, "apt-get install runc")
    require("root", os.geteuid() == 0, "the image tests build with rootful podman")
    require(
        "Debian's python3.11",
        Path("/usr/bin/python3.11").is_file() and shutil.which("dpkg-query") is not None,
        "apt-get install python3.11 (scripts/container-base copies its files)",
    )


def _check(result: subprocess.CompletedProcess[str], what: str) -> str:
    assert result.returncode == 0, f"{what} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def built_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Build the image once: base from Debian packages, wheels from this venv.

    ``CHARTER_TEST_IMAGE=NAME`` tests an image built before instead (development)."""
    _requirements()
    prebuilt = os.environ.get("CHARTER_TEST_IMAGE")
    if prebuilt:
        yield prebuilt
        return
    work = tmp_path_factory.mktemp("image")
    suffix = uuid.uuid4().hex[:12]
    base, name = f"localhost/charter-test-base:{suffix}", f"localhost/charter-test:{suffix}"
    started = time.monotonic()
    _check(
        subprocess.run(
            [sys.executable, str(ROOT / "scripts/container-base"), str(work / "base.tar")],
            capture_output=True,
            text=True,
            check=False,
        ),
        "scripts/container-base",
    )
    _check(podman("import", "-q", str(work / "base.tar"), base), "podman import")
    context = work / "context"
    _check(
        subprocess.run(
            [sys.executable, str(ROOT / "scripts/container-wheels"), str(context)],
            capture_output=True,
            text=True,
            check=False,
        ),
        "scripts/container-wheels",
    )
    shutil.copy(ROOT / "Containerfile", context / "Containerfile")
    (pip,) = (context / "wheels").glob("pip-*.whl")
    build = podman(
        "build",
        *RUNTIME,
        *LIMITS,
        "--network",
        "host",
        "--layers=false",
        "--build-arg",
        f"BASE={base}",
        "--build-arg",
        "PACKAGE=charter",
        "--build-arg",
        f"PIP=python3 wheels/{pip.name}/pip",
        "--build-arg",
        "PIP_OPTIONS=--no-index --find-links wheels",
        "-t",
        name,
        str(context),
        timeout=600,
    )
    try:
        _check(build, "podman build")
        seconds = time.monotonic() - started
        size = json.loads(_check(podman("image", "inspect", name), "inspect"))[0]["Size"]
        print(f"\nimage {name}: {size / 1e6:.0f} MB, built in {seconds:.0f} s", file=sys.stderr)
        yield name
    finally:
        # Removing the layers takes podman 15-20 s here: let it finish on its own
        # rather than hold up the suite (it only deletes this test's two images).
        subprocess.run(
            ["sh", "-c", 'podman rmi -f "$0" "$1" >/dev/null 2>&1 &', name, base],
            check=False,
            timeout=30,
        )


def run(image: str, *args: str, flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return podman("run", "--rm", *RUN_FLAGS, *flags, image, *args, timeout=120)


def check_entrypoint_is_charter_as_an_unprivileged_user(image: str) -> None:
    result = run(image, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"charter {charter.__version__}"
    config = json.loads(_check(podman("image", "inspect", image), "inspect"))[0]["Config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["/opt/charter/bin/charter"]


def check_the_root_filesystem_is_read_only_and_holds_no_build_tools(image: str) -> None:
    probe = (
        "import os, shutil, importlib.util as u\n"
        "print(os.getuid(), os.getgid())\n"
        "print([t for t in ('gcc', 'cc', 'make', 'pip', 'pip3', 'apt-get', 'dpkg')"
        " if shutil.which(t)])\n"
        "print(u.find_spec('pip') is None, u.find_spec('setuptools') is None)\n"
        "for p in ('/opt/charter/x', '/etc/x', '/var/lib/charter/x'):\n"
        "    try:\n"
        "        open(p, 'w').close(); print(p, 'writable')\n"
        "    except OSError as e:\n"
        "        print(p, 'refused', e.errno)\n"
    )
    result = run(image, "-c", probe, flags=("--entrypoint", "/opt/charter/bin/python"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "65532 65532"
    assert lines[1] == "[]"
    assert lines[2] == "True True"
    assert lines[3].startswith("/opt/charter/x refused")
    assert lines[4].startswith("/etc/x refused")
    assert lines[5] == "/var/lib/charter/x writable"  # the state volume only


def check_the_image_verifies_the_shipped_constitution(image: str, tmp_path: Path) -> None:
    tmp_path.mkdir()
    verify = ("bundle", "verify", f"{RELEASE}/constitution.tar.gz", "--key")
    result = run(image, *verify, f"{RELEASE}/charter-release.pub")
    assert result.returncode == 0, result.stderr
    assert "Bundle verified: constitution" in result.stdout
    other = tmp_path / "other.pub"
    other.write_bytes(keys.public_pem(keys.generate().public_key()))
    other.chmod(0o644)
    tmp_path.chmod(0o755)  # the image's user is not this test's
    refused = run(image, *verify, "/keys/other.pub", flags=("-v", f"{tmp_path}:/keys:ro"))
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr


def check_the_image_serves_a_dev_runner_that_is_ready(image: str) -> None:
    port = free_port()
    name = f"charter-test-dev-{uuid.uuid4().hex[:8]}"
    token = f"operator:{uuid.uuid4().hex}"
    args = ("runner", "--dev", "--listen", f"127.0.0.1:{port}", "--token", token)
    _check(podman("run", "-d", "--name", name, *RUN_FLAGS, image, *args), "podman run -d")
    try:
        answer = wait_ready(name, port)
        logs = podman("logs", name)
        assert answer is not None and answer.status_code == 200, logs.stdout + logs.stderr
        assert answer.json() == {"ready": True, "health": "ok", "reason": None}
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        assert "serving the shipped constitutions" in logs.stdout + logs.stderr
    finally:
        podman("rm", "-f", "-t", "2", name)


def wait_ready(name: str, port: int) -> httpx.Response | None:
    """``/readyz`` of a container started with ``podman run -d`` (None: never answered)."""
    answer = None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            if answer.status_code == 200:
                return answer
        except httpx.HTTPError:
            pass
        if podman("inspect", "-f", "{{.State.Running}}", name).stdout.strip() != "true":
            break
        time.sleep(0.3)
    return answer


def check_the_pod_runs_in_the_image(
    image: str, registry: LocalRegistry, pg_url: str, tmp_path: Path
) -> None:
    """deployment.yaml's pod, with podman: its init containers' exact commands against
    the local registry (a forged constitution refused with nothing written, then the
    shipped bundles), then the runner with the charter-runner Secret's config, every
    volume at its mount path and read-only where the manifest says so. Only the
    registry host, the listen port, the store URL (the local PostgreSQL) and one test
    token differ from the manifests."""
    tmp_path.mkdir()
    tmp_path.chmod(0o755)
    shipped = {
        "constitution": shipped_constitution_bundle().read_bytes(),
        "pack": (shipped_constitution_bundle().parent / "pack-soc2.tar.gz").read_bytes(),
    }
    volumes = {m["name"]: tmp_path / m["name"] for c in pod_containers() for m in c["volumeMounts"]}
    for path in volumes.values():
        path.mkdir(exist_ok=True)
        os.chown(path, 65532, 65532)
    for key, value in one("ConfigMap")["data"].items():
        (volumes["trust"] / key).write_text(value)
    port, secret = free_port(), uuid.uuid4().hex
    config = runner_config_text().replace('listen = "0.0.0.0:8080"', f'listen = "127.0.0.1:{port}"')
    config = re.sub(r'store = "postgresql://[^"]*"', f'store = "{pg_url}"', config)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    config += f'\n[[tokens]]\nname = "test"\nrole = "operator"\nsha256 = "{digest}"\n'
    (volumes["runner-config"] / "runner.toml").write_text(config)
    for path in (volumes["trust"], volumes["runner-config"]):
        for item in path.iterdir():
            item.chmod(0o644)

    def mounts(container: dict[str, Any]) -> list[str]:
        flags = []
        for m in container["volumeMounts"]:
            ro = ":ro" if m.get("readOnly") else ""
            flags += ["-v", f"{volumes[m['name']]}:{m['mountPath']}{ro}"]
        return flags

    def run_init(init: dict[str, Any], data: bytes) -> subprocess.CompletedProcess[str]:
        reference = next(a for a in init["args"] if a.startswith("oci://"))
        local = reference.replace(PLACEHOLDER_REGISTRY, f"oci://{registry.host}/")
        oci.push_bundle(data, oci.Reference.parse(local))
        args = [local if a == reference else a for a in init["args"]]
        return podman("run", "--rm", *POD_FLAGS, *mounts(init), image, *args, timeout=120)

    # A constitution signed by anybody else: exit 1, nothing in /bundles.
    first = pod()["initContainers"][0]
    forged = constitution_bundle(tmp_path / "forged", keys.generate(), "2.0.1")
    refused = run_init(first, forged)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert list(volumes["bundles"].iterdir()) == []
    for init in pod()["initContainers"]:
        result = run_init(init, shipped[arg_after(init["args"], "--layer")])
        assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in volumes["bundles"].iterdir())
    assert written == ["constitution.tar.gz", "pack-soc2.tar.gz"]
    (container,) = pod()["containers"]
    name = f"charter-test-pod-{uuid.uuid4().hex[:8]}"
    started = podman(
        "run", "-d", "--name", name, *POD_FLAGS, *mounts(container), image, *container["args"]
    )
    _check(started, "podman run -d (runner)")
    try:
        answer = wait_ready(name, port)
        logs = podman("logs", name)
        assert answer is not None and answer.status_code == 200, logs.stdout + logs.stderr
        status = httpx.get(
            f"http://127.0.0.1:{port}/v1/status",
            headers={"Authorization": f"Bearer {secret}"},
            timeout=5,
        ).json()
    finally:
        podman("rm", "-f", "-t", "2", name)
    release = keys.key_id(
        keys.load_public(shipped_constitution_bundle().parent / "charter-release.pub")
    )
    served = [(x["layer"], x["source"], x["signer"]) for x in status["layers"]]
    assert served == [
        ("constitution", "/bundles/constitution.tar.gz", release),
        ("pack", "/bundles/pack-soc2.tar.gz", release),
    ]


def test_the_image(built_image: str, registry: LocalRegistry, pg_url: str, tmp_path: Path) -> None:
    """One test, so that pytest-xdist never builds the image on two workers at once."""
    check_entrypoint_is_charter_as_an_unprivileged_user(built_image)
    check_the_root_filesystem_is_read_only_and_holds_no_build_tools(built_image)
    check_the_image_verifies_the_shipped_constitution(built_image, tmp_path / "verify")
    check_the_pod_runs_in_the_image(built_image, registry, pg_url, tmp_path / "pod")
    check_the_image_serves_a_dev_runner_that_is_ready(built_image)
