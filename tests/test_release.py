"""The signed release: what ships is what the sources build, signed by the release key.

If a test here fails after a change to the constitution, the agent-runtime default
constitution or a pack, the release must be re-signed (docs/release.md):

    scripts/release-sign --key /path/to/charter-release.key
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import pytest

from charter.actions import constitution as agent
from charter.core.errors import ConfigError, PolicyError, VerificationError
from charter.policy import release
from charter.policy.bundle import read_archive
from charter.policy.loading import load_trusted_stack, verify_bundle_file
from charter.policy.stack import shipped_constitution_path
from charter.runner.config import Source, load_config
from charter.runner.loading import Loader
from charter.runner.service import RunnerService
from charter.trust import keys
from charter.trust.policy import parse_policy
from charter.trust.versions import VersionState
from charter.trust.watchdog import Watchdog
from tests.fixtures_registry import free_port
from tests.runner_helpers import token_toml, wait_until

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "src" / "charter" / "release"
DEFAULT_TOML = REPO / "src" / "charter" / "defaults" / "constitution.toml"


def release_public() -> keys.PublicKey:
    return keys.load_public(SHIPPED / release.RELEASE_KEY)


# ------------------------------------------------------------ what ships


@pytest.mark.parametrize("bundle", release.release_bundles(REPO), ids=lambda b: b.name)
def test_shipped_bundle_is_the_signed_rebuild_of_its_sources(bundle: release.ReleaseBundle) -> None:
    """Verifies with the shipped key and is byte-identical (tar stream and gzip header)
    to a rebuild from the sources; otherwise: re-sign (see the module docstring)."""
    try:
        release.check_release_bundle(SHIPPED / bundle.name, bundle, release_public())
    except (PolicyError, VerificationError) as exc:
        pytest.fail(f"{exc.message}\n  -> {release.RESIGN_HINT}")


def test_shipped_agent_constitution_is_signed_and_current() -> None:
    shipped = agent.load_verified(SHIPPED / release.AGENT_CONSTITUTION, release_public())
    _, source = agent.read(DEFAULT_TOML)
    current = agent.canonical_checksum(source.document)
    assert (shipped.identity.checksum, shipped.version) == (current, source.version), (
        f"src/charter/release/{release.AGENT_CONSTITUTION} is stale -> {release.RESIGN_HINT}"
    )


def test_every_pack_and_the_constitution_ship() -> None:
    names = {b.name for b in release.release_bundles(REPO)}
    assert "constitution.tar.gz" in names
    packs = sorted(p.name for p in (REPO / "examples" / "packs").iterdir() if p.is_dir())
    assert packs and {f"pack-{p}.tar.gz" for p in packs} <= names
    shipped = {p.name for p in SHIPPED.iterdir()}
    assert names | {release.RELEASE_KEY, release.AGENT_CONSTITUTION} <= shipped


def test_docs_name_the_shipped_release_key() -> None:
    """docs/release.md announces the key id users verify against, newest row first."""
    kid = keys.key_id(release_public())
    text = (REPO / "docs" / "release.md").read_text(encoding="utf-8")
    assert f"Key id of the release key: `{kid}`." in text, f"docs/release.md: announce {kid}"
    history = text.split("Key history", 1)[1]
    rows = [line for line in history.splitlines() if line.startswith("| `sha256:")]
    assert rows and rows[0].startswith(f"| `{kid}` |"), "docs/release.md: key history row"


def test_no_private_key_ships() -> None:
    for path in SHIPPED.iterdir():
        assert b"PRIVATE KEY" not in path.read_bytes(), path
    # The public key is the one that signed what ships.
    public = keys.load_public(release.release_key_path())
    assert keys.key_id(public) == keys.key_id(release_public())


def test_archives_are_reproducible_tarballs() -> None:
    data = (SHIPPED / release.CONSTITUTION_BUNDLE).read_bytes()
    # gzip: no file name (FLG 0), mtime 0.
    assert data[:4] == b"\x1f\x8b\x08\x00" and data[4:8] == b"\0\0\0\0"
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names) and ".signatures.json" in names
    assert all((m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "") for m in members)


def test_a_changed_rule_without_re_signing_fails_with_the_command_to_run(tmp_path: Path) -> None:
    copy = tmp_path / "constitution"
    shutil.copytree(shipped_constitution_path(), copy)
    rule = next(copy.rglob("no_static_secrets.rego"))
    rule.write_text(rule.read_text() + "\n# a later edit\n")
    bundle = release.ReleaseBundle(release.CONSTITUTION_BUNDLE, "constitution", copy)
    with pytest.raises(PolicyError) as caught:
        release.check_release_bundle(SHIPPED / bundle.name, bundle, release_public())
    assert "scripts/release-sign --key" in str(caught.value)


def test_a_shipped_bundle_signed_by_another_key_fails(tmp_path: Path) -> None:
    other = keys.generate()
    bundle = release.release_bundles(REPO)[0]
    with pytest.raises(VerificationError):
        release.check_release_bundle(SHIPPED / bundle.name, bundle, other.public_key())


# ------------------------------------------------------ the signing script


def _release_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    # One pack is enough to show every pack is signed and checked (the script signs
    # whatever examples/packs holds); all four would double the script's work.
    shutil.copytree(REPO / "examples" / "packs" / "soc2", root / "examples" / "packs" / "soc2")
    (root / "scripts").mkdir()
    shutil.copy2(REPO / "scripts" / "release-sign", root / "scripts" / "release-sign")
    return root


def _sign(root: Path, *args: str, key: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CHARTER_RELEASE_KEY"}
    env["PYTHON"] = sys.executable
    if key is not None:
        env["CHARTER_RELEASE_KEY"] = str(key)
    return subprocess.run(  # noqa: S603 - our own script
        [str(root / "scripts" / "release-sign"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_release_sign_signs_what_check_rebuilds_and_guards_the_key(tmp_path: Path) -> None:
    root = _release_tree(tmp_path)
    out = root / "src" / "charter" / "release"
    key_file = tmp_path / "keys" / "release.key"
    keys.write_private(key_file, keys.generate())
    # Not the committed release key: refused unless rotating on purpose.
    refused = _sign(root, key=key_file)
    assert refused.returncode == 2 and "--rotate" in refused.stderr
    first = _sign(root, "--rotate", key=key_file)
    assert first.returncode == 0, first.stderr
    shipped = {p.name: p.read_bytes() for p in out.iterdir()}
    assert all(b"PRIVATE KEY" not in data for data in shipped.values())
    assert shipped[release.RELEASE_KEY] == keys.public_pem(keys.load_private(key_file).public_key())
    # --check rebuilds every bundle from the sources and the shipped signatures: the same
    # bytes (and Ed25519 signs deterministically, so re-signing gives the same tokens).
    assert _sign(root, "--check").returncode == 0
    # A key inside the repository is refused before anything is read from it.
    inside = root / "release.key"
    shutil.copy2(key_file, inside)
    assert "outside the repository" in _sign(root, key=inside).stderr
    # A rule edited after signing: --check fails and says how to re-sign.
    rule = next((root / "src" / "charter" / "policies").rglob("no_static_secrets.rego"))
    rule.write_text(rule.read_text() + "\n# edited\n")
    stale = _sign(root, "--check")
    assert stale.returncode == 2 and "scripts/release-sign --key" in stale.stderr


# -------------------------------------------------- trust without a key of your own


def test_the_release_key_is_one_trust_policy_line(tmp_path: Path) -> None:
    state = VersionState(tmp_path / "state")
    shipped = parse_policy('[layers.constitution]\nkeys = ["charter:release"]\n')
    stack = load_trusted_stack(shipped, state=state, record=False)
    top = stack.layers[0]
    assert (top.version, top.signer) == ("3.0.0", keys.key_id(release_public()))
    # The same line naming your own key: the shipped constitution is refused.
    mine = keys.generate()
    (tmp_path / "mine.pub").write_bytes(keys.public_pem(mine.public_key()))
    own = parse_policy('[layers.constitution]\nkeys = ["mine.pub"]\n', base=tmp_path)
    with pytest.raises(VerificationError) as caught:
        load_trusted_stack(own, state=state, record=False)
    assert "--constitution-bundle" in str(caught.value)


def test_unknown_shipped_names_are_config_errors() -> None:
    for name in ("charter:nothing", "charter:pack-../../etc/passwd", "charter:pack-none"):
        with pytest.raises(ConfigError):
            release.shipped_artefact(name)
    assert release.shipped_artefact("charter:pack-soc2").name == "pack-soc2.tar.gz"


def _fresh_config(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "runner.toml"
    config.write_text(
        f'listen = "127.0.0.1:{free_port()}"\nstate_dir = "{directory / "state"}"\n'
        "evaluator_processes = 0\n"
        '[stack]\nconstitution = "charter:constitution"\npacks = ["charter:pack-soc2"]\n'
        '[actions]\nconstitution = "charter:agent-constitution"\nkey = "charter:release"\n'
        + token_toml()
    )
    return config


def test_a_fresh_config_serves_the_shipped_signed_constitutions(tmp_path: Path) -> None:
    service = RunnerService(load_config(_fresh_config(tmp_path))).start()
    try:
        assert service.ready, service.load_error
        status = service.status()
    finally:
        service.stop()
    kid = keys.key_id(release_public())
    layers = {(x["layer"], x["version"], x["signer"]) for x in status["layers"]}
    assert layers == {("constitution", "3.0.0", kid), ("pack", "2.0.0", kid)}
    assert status["actions"]["signer"] == kid
    # The shipped files the runner verified are protected from agents.
    assert str(release.shipped_constitution_bundle()) in service.loader.protected


def test_shipped_sources_are_verified_without_a_trust_policy(tmp_path: Path) -> None:
    """No trust policy in the config: a ``charter:`` bundle is still verified, against
    the release key, so a tampered copy is refused; other sources stay unsigned."""
    config = load_config(_fresh_config(tmp_path))
    loader = Loader(config, None, tmp_path / "state", Watchdog(interval=60), "audit.db")
    shipped = Source("charter:constitution")
    trust = loader.layer_trust(shipped, "constitution")
    assert trust is not None and trust.key_ids == (keys.key_id(release_public()),)
    assert loader.layer_trust(Source(str(shipped_constitution_path())), "constitution") is None
    with pytest.raises(VerificationError):
        loader.layer_trust(shipped, "overlay")  # the release key signs no overlay
    copy = tmp_path / "constitution"
    shutil.copytree(shipped_constitution_path(), copy)
    rule = next(copy.rglob("no_static_secrets.rego"))
    rule.write_text(rule.read_text().replace("deny", "allow", 1))
    data = (SHIPPED / release.CONSTITUTION_BUNDLE).read_bytes()
    signatures = read_archive(data, source="shipped")[".signatures.json"]
    tampered = tmp_path / "tampered.tar.gz"
    tampered.write_bytes(release.rebuild_with(copy, signatures))
    with pytest.raises(VerificationError):
        verify_bundle_file(tampered, trust)
    assert verify_bundle_file(release.shipped_constitution_bundle(), trust).manifest.version


def test_runner_dev_serves_the_shipped_constitution_without_a_key(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "dev.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HOME": str(tmp_path)}
    with log.open("wb") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "charter", "runner", "--dev", "--listen", f"127.0.0.1:{port}",
             "--token", "agent:dev-agent-secret"],
            stdout=sink, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(log.read_text()[-2000:])
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=60, step=0.1)
    finally:
        process.terminate()
        process.wait(timeout=20)
    text = log.read_text()
    assert f"signed by {keys.key_id(release_public())}" in text
