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

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import charter
from charter.policy.release import shipped_constitution_bundle
from charter.registry import oci
from charter.trust import keys
from tests.bundle_helpers import constitution_bundle
from tests.fixtures_registry import LocalRegistry, free_port, registry, require
from tests.test_deploy_kubernetes import PLACEHOLDER_REGISTRY, arg_after, one, pod

__all__ = ["registry"]

pytestmark = [pytest.mark.slow, pytest.mark.image]

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ["--runtime", "runc", "--cgroup-manager", "cgroupfs"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
#: As the Kubernetes manifests run it: read-only root, writable state and /tmp only.
RUN_FLAGS = [
    *RUNTIME,
    *LIMITS,
    "--network",
    "host",
    "--read-only",
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
    require("runc", shutil.which("runc") is not None, "apt-get install runc")
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
        answer = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if answer.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if podman("inspect", "-f", "{{.State.Running}}", name).stdout.strip() != "true":
                break
            time.sleep(0.3)
        logs = podman("logs", name).stderr
        assert answer is not None and answer.status_code == 200, logs
        assert answer.json() == {"ready": True, "health": "ok", "reason": None}
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        assert "serving the shipped constitutions" in podman("logs", name).stdout + logs
    finally:
        podman("rm", "-f", "-t", "2", name)


def check_the_image_runs_the_init_container_command(
    image: str, registry: LocalRegistry, tmp_path: Path
) -> None:
    """deployment.yaml's first init container, in the image, with its volumes as
    host directories: the shipped constitution from the registry lands in /bundles."""
    tmp_path.mkdir()
    init = pod()["initContainers"][0]
    reference = next(a for a in init["args"] if a.startswith("oci://"))
    local = reference.replace(PLACEHOLDER_REGISTRY, f"oci://{registry.host}/")
    oci.push_bundle(shipped_constitution_bundle().read_bytes(), oci.Reference.parse(local))
    bundles, trust = tmp_path / "bundles", tmp_path / "trust"
    bundles.mkdir()
    trust.mkdir()
    os.chown(bundles, 65532, 65532)
    for key, value in one("ConfigMap")["data"].items():
        (trust / key).write_text(value)
        (trust / key).chmod(0o644)
    trust.chmod(0o755)
    tmp_path.chmod(0o755)
    volumes = ("-v", f"{bundles}:/bundles", "-v", f"{trust}:/etc/charter/trust:ro")
    args = [local if a == reference else a for a in init["args"]]
    result = run(image, *args, flags=volumes)
    assert result.returncode == 0, result.stderr
    written = bundles / Path(arg_after(init["args"], "--output")).name
    assert written.read_bytes() == shipped_constitution_bundle().read_bytes()
    # A forged constitution under the same reference: exit 1, nothing written.
    written.unlink()
    forged = constitution_bundle(tmp_path / "forged", keys.generate(), "2.0.1")
    oci.push_bundle(forged, oci.Reference.parse(local))
    refused = run(image, *args, flags=volumes)
    assert refused.returncode == 1, refused.stdout
    assert list(bundles.iterdir()) == []


def test_the_image(built_image: str, registry: LocalRegistry, tmp_path: Path) -> None:
    """One test, so that pytest-xdist never builds the image on two workers at once."""
    check_entrypoint_is_charter_as_an_unprivileged_user(built_image)
    check_the_root_filesystem_is_read_only_and_holds_no_build_tools(built_image)
    check_the_image_verifies_the_shipped_constitution(built_image, tmp_path / "verify")
    check_the_image_runs_the_init_container_command(built_image, registry, tmp_path / "init")
    check_the_image_serves_a_dev_runner_that_is_ready(built_image)
