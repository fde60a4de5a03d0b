"""The Kubernetes manifests (deploy/kubernetes/): valid, locked down, and their init
containers' exact commands run against a real registry.

Every manifest is validated against the Kubernetes JSON schemas that the
``kubernetes-validate`` package ships (offline, strict: an unknown field fails).
The init containers' ``args`` are run as written in ``deployment.yaml`` — only
the registry host and the volumes' mount paths are mapped to this machine —
against the local ``docker-registry``: the shipped, release-signed bundles go in
and the runner's own loader accepts what comes out; a bundle signed by anybody
else, signed only in the registry, or altered in the registry's storage makes
the command exit non-zero with nothing written.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from charter.core.errors import VerificationError
from charter.policy.bundle import SIGNATURES, build_tarball, read_archive
from charter.policy.loading import verify_bundle_file
from charter.policy.release import release_path, shipped_constitution_bundle
from charter.registry import cosign, oci
from charter.runner.config import RunnerConfig, load_config
from charter.runner.loading import Loader
from charter.trust import keys
from charter.trust.policy import load_policy
from charter.trust.watchdog import Watchdog
from tests.bundle_helpers import constitution_bundle
from tests.cli_helpers import CliResult, invoke
from tests.fixtures_registry import LocalRegistry, registry

__all__ = ["registry"]

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes"
PLACEHOLDER_REGISTRY = "oci://registry.acme.example/"
#: The oldest Kubernetes minor still supported upstream when this was written, and
#: the newest whose schemas the package ships.
VERSIONS = ("1.31.0", kubernetes_validate.utils.latest_version())
COSIGN = Path(__file__).parent / "assets" / "cosign"


@functools.cache
def manifests() -> dict[str, list[dict[str, Any]]]:
    """Every manifest, parsed once (tests copy before they change one)."""
    return {
        path.name: [d for d in yaml.safe_load_all(path.read_text()) if d]
        for path in sorted(DEPLOY.glob("*.yaml"))
        if path.name != "kustomization.yaml"
    }


def one(kind: str) -> dict[str, Any]:
    found = [d for docs in manifests().values() for d in docs if d["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


def deployment() -> dict[str, Any]:
    return one("Deployment")


def pod() -> dict[str, Any]:
    spec: dict[str, Any] = deployment()["spec"]["template"]["spec"]
    return spec


def containers() -> list[dict[str, Any]]:
    return [*pod()["initContainers"], *pod()["containers"]]


def runner() -> dict[str, Any]:
    (found,) = [c for c in pod()["containers"] if c["name"] == "runner"]
    return found


# ------------------------------------------------------------------ schemas
@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(version: str) -> None:
    docs = manifests()
    assert {"deployment.yaml", "service.yaml", "networkpolicy.yaml"} <= set(docs)
    for name, items in docs.items():
        for doc in items:
            # strict: a field the schema does not know (a typo) is an error too
            kubernetes_validate.validate(doc, version, strict=True)
            assert doc["metadata"].get("namespace", "charter") == "charter", name


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "replicas"), "two"),
        (("spec", "template", "spec", "containers", 0, "readOnlyRootFileSystem"), True),
        (("spec", "template", "spec", "initContainers", 0, "args"), "bundle pull"),
    ],
)
def test_the_schema_check_catches_a_broken_deployment(path: tuple[Any, ...], value: Any) -> None:
    doc = copy.deepcopy(deployment())
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(manifests())
    assert kustomization["namespace"] == "charter"


# ---------------------------------------------------------------- security
def test_every_container_is_unprivileged_with_a_read_only_root() -> None:
    spec = pod()
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for container in containers():
        ctx = container["securityContext"]
        assert ctx["readOnlyRootFilesystem"] is True, container["name"]
        assert ctx["allowPrivilegeEscalation"] is False, container["name"]
        assert ctx["capabilities"]["drop"] == ["ALL"], container["name"]
        assert "add" not in ctx["capabilities"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind]), container["name"]


def test_replicas_share_one_store_and_a_budget_keeps_one_up() -> None:
    assert deployment()["spec"]["replicas"] >= 2
    labels = deployment()["spec"]["template"]["metadata"]["labels"]
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        doc = one(kind)
        selector = doc["spec"].get("selector", doc["spec"].get("podSelector"))
        assert selector["matchLabels"].items() <= labels.items(), kind
    assert one("Service")["spec"]["selector"].items() <= labels.items()
    assert one("PodDisruptionBudget")["spec"]["minAvailable"] == 1
    config = runner_config_text()
    assert 'store = "postgresql://' in config  # one shared store, never a pod-local SQLite
    env = {e["name"]: e for e in runner()["env"]}
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "charter-postgres"
    assert "password" in one_secret("charter-postgres")["stringData"]


def test_probes_are_healthz_and_readyz_on_the_runner_port() -> None:
    c = runner()
    port = c["ports"][0]["name"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
    assert c["ports"][0]["containerPort"] == 8080
    assert 'listen = "0.0.0.0:8080"' in runner_config_text()


def test_network_policy_denies_by_default_and_allows_only_what_the_runner_needs() -> None:
    policy = one("NetworkPolicy")["spec"]
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert ingress["from"], "ingress must name who may call the runner"
    ports = sorted({p["port"] for rule in policy["egress"] for p in rule["ports"]})
    assert ports == [53, 443, 5432]


def mounts(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["mountPath"]: m for m in container["volumeMounts"]}


def test_the_runner_reads_only_the_verified_directory_read_only(tmp_path: Path) -> None:
    volumes = {v["name"]: v for v in pod()["volumes"]}
    bundles = mounts(runner())["/bundles"]
    assert bundles["readOnly"] is True
    assert "emptyDir" in volumes[bundles["name"]]
    for init in pod()["initContainers"]:
        assert mounts(init)["/bundles"].get("readOnly") is not True  # they write it
        assert mounts(init)["/etc/charter/trust"]["readOnly"] is True
    config = load_config_mapped(tmp_path, {})
    layers = [config.constitution, *config.packs]
    outputs = {arg_after(c["args"], "--output") for c in pod()["initContainers"]}
    assert {str(s.path) for s in layers if s is not None} == outputs
    assert all(o.startswith("/bundles/") for o in outputs)
    assert config.trust_policy == Path("/etc/charter/trust/trust.toml")
    assert "configMap" in volumes[mounts(runner())["/etc/charter/trust"]["name"]]
    assert "secret" in volumes[mounts(runner())["/etc/charter/runner"]["name"]]


def test_the_trust_configmap_pins_the_signers_charter_ships(tmp_path: Path) -> None:
    """As shipped, the ConfigMap trusts exactly what src/charter/release/trust.toml does
    (the release key for the constitution and the packs), and no overlay signer."""
    mine = tmp_path / "trust.toml"
    mine.write_text(one("ConfigMap")["data"]["trust.toml"])
    ours, shipped = load_policy(mine), load_policy(release_path() / "trust.toml")
    assert sorted(ours.layers) == sorted(shipped.layers) == ["constitution", "pack"]
    for layer in ours.layers:
        assert ours.for_layer(layer).key_ids == shipped.for_layer(layer).key_ids
        assert ours.for_layer(layer).keyless == ()


# ------------------------------------------------ the init containers, for real
def arg_after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def one_secret(name: str) -> dict[str, Any]:
    (found,) = [
        d
        for docs in manifests().values()
        for d in docs
        if d["kind"] == "Secret" and d["metadata"]["name"] == name
    ]
    return found


def runner_config_text() -> str:
    text: str = one_secret("charter-runner")["stringData"]["runner.toml"]
    return text


def remap(text: str, paths: dict[str, Path]) -> str:
    """Mount paths at the start of ``text`` or of a quoted TOML string, mapped (once)."""
    if not paths:
        return text
    mounts = "|".join(re.escape(m) for m in sorted(paths, key=len, reverse=True))
    pattern = re.compile(rf'(^|")({mounts})/', flags=re.MULTILINE)
    return pattern.sub(lambda m: f"{m[1]}{paths[m[2]]}/", text)


def load_config_mapped(base: Path, paths: dict[str, Path]) -> RunnerConfig:
    """The runner's config from the Secret, parsed by the runner (paths mapped)."""
    target = base / "runner.toml"
    target.write_text(remap(runner_config_text(), paths))
    return load_config(target)


class Pod:
    """The pod's volumes as directories on this machine, filled as Kubernetes would."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths: dict[str, Path] = {}
        volumes = {v["name"]: v for v in pod()["volumes"]}
        for container in containers():
            for mount in container["volumeMounts"]:
                local = root / mount["name"]
                local.mkdir(parents=True, exist_ok=True)
                self.paths[mount["mountPath"]] = local
                volume = volumes[mount["name"]]
                if "configMap" in volume:
                    data = one("ConfigMap")["data"]
                    for key, value in data.items():
                        (local / key).write_text(value)
                if "secret" in volume:
                    secret = one_secret(volume["secret"]["secretName"])
                    for key, value in secret["stringData"].items():
                        (local / key).write_text(value)

    def run(self, container: dict[str, Any], registry_host: str) -> CliResult:
        """The container's exact args, with the registry and mount paths mapped."""
        args = [
            remap(a, self.paths).replace(PLACEHOLDER_REGISTRY, f"oci://{registry_host}/")
            for a in container["args"]
        ]
        return invoke(*args)

    @property
    def bundles(self) -> Path:
        return self.paths["/bundles"]


@pytest.fixture
def fresh_pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pod]:
    the_pod = Pod(tmp_path / "pod")
    env = {e["name"]: e["value"] for e in pod()["initContainers"][0]["env"]}
    for name, value in env.items():
        monkeypatch.setenv(name, remap(value, the_pod.paths))
    # The image's ENV: the state directory is the pod's emptyDir.
    monkeypatch.setenv("CHARTER_STATE_DIR", str(the_pod.paths["/var/lib/charter"] / "state"))
    yield the_pod


def source_of(container: dict[str, Any]) -> str:
    (ref,) = [a for a in container["args"] if a.startswith("oci://")]
    return ref.removeprefix(PLACEHOLDER_REGISTRY)


def push_shipped(reg: LocalRegistry) -> None:
    """The release-signed bundles Charter ships, pushed where the manifest pins them."""
    shipped = {
        "constitution": shipped_constitution_bundle().read_bytes(),
        "pack": (release_path() / "pack-soc2.tar.gz").read_bytes(),
    }
    for init in pod()["initContainers"]:
        data = shipped[arg_after(init["args"], "--layer")]
        oci.push_bundle(data, oci.Reference.parse(f"oci://{reg.host}/{source_of(init)}"))


def test_init_containers_verify_the_shipped_bundles_and_the_runner_loads_them_again(
    registry: LocalRegistry, fresh_pod: Pod
) -> None:
    push_shipped(registry)
    for init in pod()["initContainers"]:
        result = fresh_pod.run(init, registry.host)
        assert result.returncode == 0, result.stderr
        assert "Verified" in result.stdout and "Signed by: sha256:" in result.stdout
    written = sorted(p.name for p in fresh_pod.bundles.iterdir())
    assert written == ["constitution.tar.gz", "pack-soc2.tar.gz"]
    # The runner, configured as in the Secret, verifies and serves exactly these.
    config = load_config_mapped(fresh_pod.root, fresh_pod.paths)
    policy = load_policy(config.trust_policy)
    state = fresh_pod.paths["/var/lib/charter"] / "state"
    loader = Loader(config, policy, state, Watchdog(interval=60), "audit.db")
    generation, _ = loader.load_stack(None)
    assert [(x.layer.kind, x.file) for x in generation.layers] == [
        ("constitution", str(fresh_pod.bundles / "constitution.tar.gz")),
        ("pack", str(fresh_pod.bundles / "pack-soc2.tar.gz")),
    ]
    release = keys.key_id(keys.load_public(release_path() / "charter-release.pub"))
    assert {x.layer.signer for x in generation.layers} == {release}
    assert loader.load_actions(None) is not None
    # A refresh verifies the files again: one swapped underneath is refused.
    forged = constitution_bundle(fresh_pod.root / "forged", keys.generate(), "2.0.1")
    (fresh_pod.bundles / "constitution.tar.gz").write_bytes(forged)
    with pytest.raises(VerificationError):
        loader.load_stack(generation)


def _only_constitution() -> dict[str, Any]:
    (init,) = [c for c in pod()["initContainers"] if "constitution" in c["name"]]
    return init


def _assert_refused(result: CliResult, the_pod: Pod) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3, result.stderr
    assert list(the_pod.bundles.iterdir()) == []  # nothing extracted, not even a temp file


def test_a_constitution_signed_by_another_key_is_refused_and_nothing_written(
    registry: LocalRegistry, fresh_pod: Pod, tmp_path: Path
) -> None:
    init = _only_constitution()
    forged = constitution_bundle(tmp_path, keys.generate(), "2.0.1")
    repo = source_of(init).replace("constitution", "forged-constitution")
    oci.push_bundle(forged, oci.Reference.parse(f"oci://{registry.host}/{repo}"))
    init = copy.deepcopy(init)
    init["args"] = [a.replace(source_of(_only_constitution()), repo) for a in init["args"]]
    result = fresh_pod.run(init, registry.host)
    _assert_refused(result, fresh_pod)
    assert result.returncode == 1
    assert "signature" in result.stderr.lower()


def test_a_bundle_altered_in_the_registry_storage_is_refused(
    tmp_path: Path, fresh_pod: Pod
) -> None:
    reg = LocalRegistry(tmp_path / "registry")
    reg.start()
    try:
        push_shipped(reg)
        init = _only_constitution()
        pulled = oci.pull_bundle(oci.Reference.parse(f"oci://{reg.host}/{source_of(init)}"))
        blob = reg.blob_path(pulled.blob_digest)
        data = bytearray(blob.read_bytes())
        data[-20] ^= 0xFF
        blob.write_bytes(bytes(data))
        result = fresh_pod.run(init, reg.host)
    finally:
        reg.stop()
    _assert_refused(result, fresh_pod)
    assert "digest" in result.stderr.lower()


def test_a_bundle_signed_only_in_the_registry_is_refused_before_the_runner_sees_it(
    registry: LocalRegistry, fresh_pod: Pod
) -> None:
    """A cosign signature of the manifest verifies the pull, but the archive alone
    carries no signature the runner could check again at a refresh: refused, nothing
    written (rather than a pod whose runner never becomes ready)."""
    init = _only_constitution()
    files = read_archive(shipped_constitution_bundle().read_bytes(), source="shipped")
    bare = build_tarball({n: b for n, b in files.items() if n != SIGNATURES})
    repo = source_of(init).replace("constitution", "registry-signed-constitution")
    ref = oci.Reference.parse(f"oci://{registry.host}/{repo}")
    pushed = oci.push_bundle(bare, ref)
    signer = keys.load_private(COSIGN / "cosign.key", b"")
    cosign.sign_manifest(oci.OciClient(pushed.reference), pushed.manifest_digest, signer)
    trust = fresh_pod.paths["/etc/charter/trust"] / "trust.toml"
    trust.write_text(
        trust.read_text().replace('keys = ["charter:release"]', f'keys = ["{COSIGN}/cosign.pub"]')
    )
    init = copy.deepcopy(init)
    init["args"] = [a.replace(source_of(_only_constitution()), repo) for a in init["args"]]
    result = fresh_pod.run(init, registry.host)
    _assert_refused(result, fresh_pod)
    assert "verify again at a refresh" in result.stderr


def test_the_written_archive_is_what_the_runner_verifies_again(
    registry: LocalRegistry, fresh_pod: Pod
) -> None:
    """Swapping the written file afterwards is caught by the runner's own check."""
    push_shipped(registry)
    init = _only_constitution()
    assert fresh_pod.run(init, registry.host).returncode == 0
    written = fresh_pod.bundles / "constitution.tar.gz"
    policy = load_policy(fresh_pod.paths["/etc/charter/trust"] / "trust.toml")
    assert verify_bundle_file(written, policy.for_layer("constitution")).manifest.version
    files = read_archive(written.read_bytes(), source="written")
    rule = next(n for n in files if n.endswith(".rego") and "_test" not in n)
    files[rule] = files[rule].replace(b"deny", b"allow", 1)
    written.write_bytes(build_tarball(files))
    with pytest.raises(VerificationError, match="has been modified"):
        verify_bundle_file(written, policy.for_layer("constitution"))


def test_trust_policy_excludes_other_signer_flags(registry: LocalRegistry, tmp_path: Path) -> None:
    result = invoke(
        "bundle",
        "pull",
        f"oci://{registry.host}/x/y:1",
        "--trust",
        str(release_path() / "trust.toml"),
        "--key",
        str(release_path() / "charter-release.pub"),
        "-o",
        str(tmp_path / "out.tar.gz"),
    )
    assert result.returncode == 2
    assert "--trust names the signers" in result.stderr
    assert not (tmp_path / "out.tar.gz").exists()


def test_a_rerun_over_the_same_volume_replaces_the_files_and_drops_stale_signatures(
    registry: LocalRegistry, fresh_pod: Pod
) -> None:
    """Init containers run again when a pod restarts, on the same emptyDir."""
    push_shipped(registry)
    init = _only_constitution()
    assert fresh_pod.run(init, registry.host).returncode == 0
    written = fresh_pod.bundles / "constitution.tar.gz"
    stale = fresh_pod.bundles / "constitution.tar.gz.sigstore.json"
    stale.write_text("{}")  # e.g. left by a keyless-signed version pulled before
    written.write_bytes(b"not what was verified")
    result = fresh_pod.run(init, registry.host)
    assert result.returncode == 0, result.stderr
    assert written.read_bytes() == shipped_constitution_bundle().read_bytes()
    assert sorted(p.name for p in fresh_pod.bundles.iterdir()) == ["constitution.tar.gz"]


def test_a_bundle_of_another_layer_at_the_pinned_reference_is_refused(
    registry: LocalRegistry, fresh_pod: Pod
) -> None:
    """The release key signs constitutions and packs alike; the pack init container
    still refuses the constitution pushed where the pack should be (the signature
    names its layer)."""
    (init,) = [c for c in pod()["initContainers"] if arg_after(c["args"], "--layer") == "pack"]
    repo = source_of(init).replace("soc2", "swapped")
    ref = oci.Reference.parse(f"oci://{registry.host}/{repo}")
    oci.push_bundle(shipped_constitution_bundle().read_bytes(), ref)
    init = copy.deepcopy(init)
    init["args"] = [a.replace(source_of(init), repo) for a in init["args"]]
    result = fresh_pod.run(init, registry.host)
    _assert_refused(result, fresh_pod)
    assert "constitution" in result.stderr and "pack" in result.stderr
