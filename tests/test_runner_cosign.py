"""The runner follows a channel tag and verifies cosign signatures stored in the registry.

The bundles carry no embedded ``.signatures.json``: the only signature is the
``sha256-<hex>.sig`` tag (cosign layout) signed with the cosign test key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from charter.core.errors import ConfigError
from charter.registry import cosign, oci
from charter.runner.config import load_config
from charter.trust import keys
from tests.bundle_helpers import constitution_bundle, make_key
from tests.fixtures_registry import LocalRegistry, own_registry
from tests.runner_helpers import ThreadedRunner, auth, wait_until, write_config
from tests.test_oci_auth import tls_registry
from tests.test_oci_cosign import COSIGN_KEY, COSIGN_PUB, unsigned

__all__ = ["own_registry", "tls_registry"]


def _status(r: ThreadedRunner) -> dict[str, Any]:
    return r.client.get("/v1/status", headers=auth("operator")).json()  # type: ignore[no-any-return]


def test_runner_follows_channel_and_verifies_sig_tag(
    tmp_path: Path, own_registry: LocalRegistry
) -> None:
    embedded, _ = make_key(tmp_path / "embedded")  # signs nothing the runner trusts
    signer = keys.load_private(COSIGN_KEY, b"")
    repo = "charter/constitution"

    def publish(version: str, *, sign: bool = True) -> str:
        data = unsigned(constitution_bundle(tmp_path, embedded, version))
        pushed = oci.push_bundle(data, own_registry.ref(repo, version), tags=["1"])
        if sign:
            client = oci.OciClient(pushed.reference)
            cosign.sign_manifest(client, pushed.manifest_digest, signer)
        return pushed.manifest_digest

    publish("1.0.0")
    policy = tmp_path / "trust.toml"
    policy.write_text(f'[layers.constitution]\nkeys = ["{COSIGN_PUB}"]\n')
    channel = own_registry.ref(repo, "1")
    config = write_config(
        tmp_path / "runner",
        f'refresh_interval = "0.3s"\ntrust_policy = "{policy}"\n\n'
        f'[stack]\nconstitution = "{channel}"\n\n[audit]\nstore = "{tmp_path / "a.db"}"\n',
    )
    runner = ThreadedRunner(config)
    try:
        s = _status(runner)
        assert s["health"] == "ok", s
        assert s["layers"][0]["version"] == "1.0.0"
        assert s["layers"][0]["signer"] == keys.key_id(keys.load_public(COSIGN_PUB))

        def degraded_with(text: str) -> dict[str, Any] | None:
            s = _status(runner)
            return s if s["health"] == "degraded" and text in (s["reason"] or "") else None

        # 1.1.0 on the channel, signed in the registry: followed.
        publish("1.1.0")
        wait_until(lambda: _status(runner)["layers"][0]["version"] == "1.1.0", timeout=30)
        # 1.2.0 pushed to the channel without a signature: refused, 1.1.0 kept.
        publish("1.2.0", sign=False)
        s = wait_until(lambda: degraded_with("no signature found"), timeout=30)
        assert s["layers"][0]["version"] == "1.1.0"
        # The channel moved back to the signed 1.0.0: a rollback, refused.
        data = unsigned(constitution_bundle(tmp_path, embedded, "1.0.0"))
        oci.push_bundle(data, channel)
        s = wait_until(lambda: degraded_with("rollback"), timeout=30)
        assert s["layers"][0]["version"] == "1.1.0"
    finally:
        runner.stop()


def test_runner_pulls_over_tls_with_its_registry_ca_file(
    tmp_path: Path, tls_registry: LocalRegistry
) -> None:
    key, public = make_key(tmp_path / "key")
    assert tls_registry.tls is not None
    ca_file = tls_registry.tls[2]
    ref = tls_registry.ref("charter/constitution", "1")
    data = constitution_bundle(tmp_path, key, "1.0.0")
    oci.push_bundle(data, ref, connection=oci.Connection(ca_file=ca_file))
    policy = tmp_path / "trust.toml"
    policy.write_text(f'[layers.constitution]\nkeys = ["{public}"]\n')

    def runner_status(extra: str) -> dict[str, Any]:
        config = write_config(
            tmp_path / f"runner{len(extra)}",
            f'refresh_interval = "1h"\ntrust_policy = "{policy}"\n{extra}\n'
            f'[stack]\nconstitution = "{ref}"\n\n[audit]\nstore = "{tmp_path / "a.db"}"\n',
        )
        runner = ThreadedRunner(config)
        try:
            return _status(runner)
        finally:
            runner.stop()

    assert runner_status(f'registry_ca_file = "{ca_file}"\n')["health"] == "ok"
    # plain HTTP to a TLS registry: no proposal stack (the local action gate is served)
    failed = runner_status("")
    assert failed["health"] == "degraded" and failed["serving"]["proposals"] is False


def test_runner_follows_a_version_range(tmp_path: Path, own_registry: LocalRegistry) -> None:
    key, public = make_key(tmp_path / "key")
    repo = "charter/ranged"
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        oci.push_bundle(
            constitution_bundle(tmp_path, key, version), own_registry.ref(repo, version)
        )
    policy = tmp_path / "trust.toml"
    policy.write_text(f'[layers.constitution]\nkeys = ["{public}"]\n')
    base = f"oci://{own_registry.host}/{repo}"
    config = write_config(
        tmp_path / "runner",
        f'refresh_interval = "0.3s"\ntrust_policy = "{policy}"\n\n'
        f'[stack]\nconstitution = {{ ref = "{base}", version = "~1.1" }}\n\n'
        f'[audit]\nstore = "{tmp_path / "a.db"}"\n',
    )
    runner = ThreadedRunner(config)
    try:
        s = _status(runner)
        assert s["health"] == "ok", s
        assert s["layers"][0]["version"] == "1.1.0"
        assert s["layers"][0]["resolved"].startswith(f"{base}:1.1.0@sha256:")
        oci.push_bundle(
            constitution_bundle(tmp_path, key, "1.1.1"), own_registry.ref(repo, "1.1.1")
        )
        wait_until(lambda: _status(runner)["layers"][0]["version"] == "1.1.1", timeout=30)
    finally:
        runner.stop()


@pytest.mark.parametrize(
    "entry",
    [
        '{ ref = "oci://r.example/c", version = "banana" }',
        '{ ref = "oci://r.example/c:1", version = "1" }',
        '{ ref = "/etc/c.tar.gz", version = "1" }',
        '{ ref = "oci://r.example/c" }',
    ],
)
def test_bad_version_ranges_are_config_errors(tmp_path: Path, entry: str) -> None:
    config = tmp_path / "runner.toml"
    config.write_text(f"[stack]\nconstitution = {entry}\n")
    with pytest.raises(ConfigError, match=r"stack\.constitution(\.ref|\.version)?: "):
        load_config(config)
