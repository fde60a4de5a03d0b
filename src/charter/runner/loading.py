"""What the runner serves, loaded: the verified stack and the agent-runtime gate.

Loading a stack is the "init container" sequence, the same at startup and at
every refresh: **pull** (OCI, digests checked) → **verify** (signature under the
trust policy, before anything is parsed) → **version check** (no rollback, no
unpinned major move) → **extract** (parse Rego and data) → **compose and
compile**. :class:`Loader` builds a :class:`Generation` and the versions to
accept; the service swaps it in, and records the versions, only once every
step passed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from charter.actions.gate import BudgetView, Gate, GateConfig, audit_files, load_layers
from charter.actions.layers import Accept as ActionAccept
from charter.core import jsonio
from charter.core.digests import sha256_file
from charter.core.errors import CharterError, ConfigError, LoadError, RollbackError
from charter.policy.bundle import Layer, VerifiedBundle, load_directory
from charter.policy.loading import check_verified, verify_bundle_file
from charter.policy.profile import ProfileContext, read_profile
from charter.policy.release import is_shipped_name, shipped_artefact, shipped_trust_policy
from charter.policy.stack import Stack
from charter.registry import channels, cosign, oci
from charter.runner.approval_store import files_of as approval_files
from charter.runner.config import RunnerConfig, Source
from charter.runner.shared_state import files_of as state_files
from charter.runner.waivers import Waivers, read_waivers
from charter.trust.policy import LayerTrust, TrustPolicy, load_policy
from charter.trust.versions import VersionState, layer_key, parse_version
from charter.trust.watchdog import Watchdog

PINS_FILE = "pins.json"
#: A version to record once the whole load succeeded: (key, version, content digest, major ok).
Accept = tuple[str, str, str, bool]


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class LoadedLayer:
    layer: Layer
    source: str
    resolved: str | None = None
    file: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            **self.layer.describe(),
            "source": self.source,
            "resolved": self.resolved,
            "signer": self.layer.signer,
        }


@dataclass(frozen=True)
class Generation:
    """One verified, compiled stack as served."""

    number: int
    layers: tuple[LoadedLayer, ...]
    #: The composed stack; each worker thread compiles its own engine from it,
    #: since a regorus engine may only be used and dropped by its own thread.
    stack: Stack | None
    loaded_at: str
    #: Re-read at every refresh (even a failed one) and swapped in with the
    #: generation, so a decision never pairs waivers with another stack.
    waivers: Waivers | None = None


@dataclass(frozen=True)
class ActionGate:
    """The agent-runtime constitution as served: its gate and what status shows of it."""

    gate: Gate
    info: dict[str, Any]
    #: The layer versions to record as accepted once this gate is swapped in.
    accepts: tuple[ActionAccept, ...] = ()


class Pins:
    """Operator pins: a layer may move to a new major only to a pinned version."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / PINS_FILE

    def read(self) -> dict[str, str]:
        try:
            raw = jsonio.loads(self.path.read_bytes(), what=str(self.path))
        except FileNotFoundError:
            return {}
        except (OSError, CharterError) as exc:
            raise ConfigError(f"{self.path}: unreadable pins ({exc})") from exc
        if not isinstance(raw, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
        ):
            raise ConfigError(f"{self.path}: pins must map layers to versions")
        return raw

    def pin(self, layer: str, version: str) -> None:
        parse_version(version, layer)
        pins = self.read()
        pins[layer] = version
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(pins, indent=2, sort_keys=True))  # for people to read
        os.replace(tmp, self.path)


class Loader:
    """Pull, verify, version-check, extract and compile what one runner config names."""

    def __init__(
        self,
        config: RunnerConfig,
        policy: TrustPolicy | None,
        state_dir: Path,
        watchdog: Watchdog,
        audit_location: str,
    ) -> None:
        self.config = config
        self.policy = policy
        self.state_dir = state_dir
        self.versions = VersionState(state_dir)
        self.pins = Pins(state_dir)
        self.cache = state_dir / "bundles"
        self.watchdog = watchdog
        #: The spend the gate counts against the constitution's limits (set by the service).
        self.budget: BudgetView | None = None
        #: The runner's own files, which its gate protects (see :meth:`own_files`).
        self.protected = self.own_files(audit_location)

    # ---------------------------------------------------------------- stack
    def load_stack(self, previous: Generation | None) -> tuple[Generation, list[Accept]]:
        """The next generation (``previous`` again when nothing changed) and versions to accept."""
        cfg = self.config
        if cfg.constitution is None:
            return Generation(0, (), None, now_text()), []
        pins = self.pins.read()
        prev = {(x.layer.kind, x.source): x for x in previous.layers} if previous else {}
        plan = [(cfg.constitution, "constitution"), *((p, "pack") for p in cfg.packs)]
        if cfg.overlay is not None:
            plan.append((cfg.overlay, "overlay"))
        layers: list[LoadedLayer] = []
        accepts: list[Accept] = []
        for source, kind in plan:
            loaded, accept = self.load_layer(source, kind, prev.get((kind, source.text)), pins)
            layers.append(loaded)
            if accept is not None:
                accepts.append(accept)
        digests = [x.layer.digest for x in layers]
        profile = self._profile()
        if previous is not None and previous.stack is not None:
            kept = previous.stack.profile_file
            same = kept is not None and kept.current == profile.current
            if same and digests == [x.layer.digest for x in previous.layers]:
                return dataclasses.replace(previous, layers=tuple(layers)), []
        stack = Stack.compose([x.layer for x in layers])
        stack = stack.with_profile(dataclasses.replace(profile, path=stack.profile_path))
        # Compile once here to prove the stack compiles; the engine stays here.
        probe = stack.compile()
        del probe
        number = (previous.number + 1) if previous else 1
        return Generation(number, tuple(layers), stack, now_text()), accepts

    def _profile(self) -> ProfileContext:
        """``stack.profile`` read again at every load (a refresh picks up an edit)."""
        path = self.config.profile
        return ProfileContext(current=read_profile(path) if path is not None else None)

    def load_layer(
        self, source: Source, kind: str, previous: LoadedLayer | None, pins: Mapping[str, str]
    ) -> tuple[LoadedLayer, Accept | None]:
        resolved: str | None
        if self.policy is not None and source.is_oci:
            trust = self.policy.for_layer(kind)
            path, resolved, verified = self.fetch_verified(source, trust)
        else:
            path, resolved = self.fetch(source)
            shipped_or_policy = self.layer_trust(source, kind)
            if shipped_or_policy is None:
                return _unsigned_layer(source, kind, path, resolved), None
            trust = shipped_or_policy
            verified = verify_bundle_file(path, trust)
        manifest = verified.manifest
        allow_major = (
            pins.get(kind) == manifest.version
            or pins.get(layer_key(manifest.layer, manifest.name)) == manifest.version
        )
        try:
            checked = check_verified(
                verified,
                trust,
                state=self.versions,
                allow_major=allow_major,
                pin_hint=f"change layers.{kind}.version in the trust policy to move on purpose",
            )
        except RollbackError as exc:
            if "major" not in exc.message:
                raise
            raise RollbackError(
                exc.message,
                hint=f"pin it on purpose: charter runner pin --config CONFIG {kind} "
                f"{manifest.version}",
            ) from exc
        if (
            previous is not None
            and previous.layer.digest == verified.digest
            and previous.layer.version == manifest.version
        ):
            # Same verified bytes as served: no need to parse them again.
            return dataclasses.replace(previous, resolved=resolved), None
        loaded = LoadedLayer(verified.to_layer(), source.text, resolved, str(path))
        return loaded, (checked.key, manifest.version, checked.content_digest, allow_major)

    def layer_trust(self, source: Source, kind: str) -> LayerTrust | None:
        """Who may sign ``source``: the trust policy's signers for ``kind``; without a
        policy, the release key for a shipped ``charter:`` bundle, nobody (unsigned
        directories, authoring only) for anything else."""
        if self.policy is not None:
            return self.policy.for_layer(kind)
        if is_shipped_name(source.text):
            return load_policy(shipped_trust_policy()).for_layer(kind)
        return None

    def fetch(self, source: Source) -> tuple[Path, str | None]:
        """A local file for ``source``; OCI bundles are pulled into the cache."""
        if is_shipped_name(source.text):
            return shipped_artefact(source.text), None
        if not source.is_oci:
            return source.path, None
        connection = self.connection()
        pulled = oci.pull_bundle(self.reference(source, connection), connection=connection)
        return self._cache(pulled)

    def reference(self, source: Source, connection: oci.Connection) -> oci.Reference:
        """The reference to pull: a version range resolves to its newest version tag."""
        if source.version_range is None:
            return oci.Reference.parse(source.text)
        return channels.resolve_range(source.text, source.version_range, connection=connection)

    def connection(self) -> oci.Connection:
        """Registry access as configured (logins come from the docker/podman auth file)."""
        cfg = self.config
        return oci.Connection(ca_file=cfg.registry_ca_file, insecure=cfg.insecure_registries)

    def fetch_verified(self, source: Source, trust: LayerTrust) -> tuple[Path, str, VerifiedBundle]:
        """Pull an OCI bundle, verify it with the signatures stored next to it in the
        registry (cosign ``.sig`` tag, Sigstore referrers) or embedded, then cache it."""
        connection = self.connection()
        pulled = oci.pull_bundle(self.reference(source, connection), connection=connection)
        found = cosign.fetch_signatures(
            pulled.reference, pulled.manifest_digest, connection=connection
        )
        verified = cosign.verify_pulled(pulled, found, trust)
        path, _ = self._cache(pulled)
        return path, str(pulled.resolved), verified

    def _cache(self, pulled: oci.PulledBundle) -> tuple[Path, str]:
        self.cache.mkdir(parents=True, exist_ok=True)
        target = self.cache / f"{pulled.blob_digest.split(':', 1)[1]}.tar.gz"
        if not target.is_file() or sha256_file(target) != pulled.blob_digest:
            tmp = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(pulled.data)
            os.replace(tmp, target)
        return target, str(pulled.resolved)

    def with_waivers(self, generation: Generation) -> Generation:
        """``generation`` with the waiver files as they are now (none apply on a failure)."""
        if self.config.waivers_dir is None or generation.stack is None:
            return generation
        try:
            waivers = read_waivers(self.config, generation.stack, now_text())
        except Exception as exc:  # noqa: BLE001 - unreadable waivers waive nothing
            why = f"waivers not loaded ({type(exc).__name__}: {exc})"
            waivers = Waivers(str(self.config.waivers_dir), (), {}, "", now_text(), error=why)
        return dataclasses.replace(generation, waivers=waivers)

    # -------------------------------------------------------------- actions
    def load_actions(self, current: ActionGate | None) -> ActionGate | None:
        """The gate for the configured agent-runtime constitution layers (``current`` if
        unchanged): each layer verified against its own key or the trust policy's signers
        for its layer, checked against the accepted versions (no rollback, also after a
        restart), and composed. The versions to record are in ``ActionGate.accepts``."""
        cfg = self.config
        files = tuple(_shipped_path(f) for f in cfg.action_files)
        if not files:
            return None
        keys = cfg.action_keys
        keys = tuple(_shipped_path(k) for k in keys) if keys is not None else None
        if keys is None and self.policy is None:
            raise ConfigError(
                f"{cfg.source}: [actions] names no key and there is no trust_policy",
                hint="set actions.key (one per layer) or trust_policy",
            )
        loaded = load_layers(
            files, keys, trust=self.policy if keys is None else None, state=self.versions
        )
        if current is not None and loaded.digest == current.info["digest"]:
            return current
        if current is not None:
            old = parse_version(current.info["version"], "actions")
            if parse_version(loaded.constitution.version, "actions") < old:
                raise RollbackError(
                    f"{loaded.path}: version {loaded.constitution.version} is "
                    f"older than the {current.info['version']} being served"
                )
        gate = Gate(
            loaded.constitution,
            # The gate records nothing: the service records each action itself,
            # without parking a thread on the commit (see submit_action).
            watchdog=self.watchdog,
            budget=self.budget,
            config=GateConfig(protected_paths=self.protected, source="runner"),
        )
        info = {
            "layer": "actions",
            "name": "agent-constitution",
            "version": loaded.constitution.version,
            "digest": loaded.digest,
            "source": loaded.path,
            "signer": loaded.layers[0].key_id,
            "layers": [
                {"layer": x.kind, "name": x.name, "version": x.constitution.version,
                 "source": x.path, "signer": x.key_id, "digest": x.digest}
                for x in loaded.layers
            ],
            "files": loaded.files,
        }  # fmt: skip
        return ActionGate(gate, info, loaded.accepts)

    def own_files(self, audit_location: str) -> tuple[str, ...]:
        """The runner's own files, which its gate never lets an agent write.

        As ``charter gate`` protects its constitution, key, budget and audit log:
        the audit database (and its ``-wal``/``-shm``/``-journal`` files), the
        config (which holds the token hashes), the trust policy and every key
        it (layers and ``[evidence]``) or the waiver settings name, the action
        constitution and its key, local layer files, and the state directory's
        version record and pins.
        """
        cfg = self.config
        files: list[str | Path] = [
            *audit_files(audit_location),
            *approval_files(audit_location),
            *state_files(audit_location),
        ]
        if not cfg.source.startswith("<"):
            files.append(cfg.source)
        actions = (*cfg.action_files, *(cfg.action_keys or ()))
        files += [_shipped_path(p) for p in (cfg.trust_policy, *actions) if p]
        files += [cfg.registry_ca_file] if cfg.registry_ca_file else []
        files += [path for _, path in cfg.waiver_keys]
        if self.policy is not None:
            for trust in self.policy.layers.values():
                files += trust.key_files
                if trust.trusted_root is not None:
                    files.append(trust.trusted_root)
            evidence = self.policy.evidence  # who may sign CI evidence
            files += evidence.key_files
            if evidence.trusted_root is not None:
                files.append(evidence.trusted_root)
        for source in (cfg.constitution, *cfg.packs, cfg.overlay):
            if source is not None and is_shipped_name(source.text):
                files.append(shipped_artefact(source.text))
            elif source is not None and not source.is_oci:
                files.append(source.path)
        files += [self.versions.path, self.state_dir / ".lock", self.pins.path]
        files.append(self.pins.path.with_suffix(".tmp"))
        return tuple(str(f) for f in files)


def _shipped_path(path: Path) -> Path:
    """A config path written as ``charter:NAME`` (a shipped release artefact) resolved;
    the config reads it relative to its directory, so only the last component counts."""
    return shipped_artefact(path.name) if is_shipped_name(path.name) else path


def _unsigned_layer(source: Source, kind: str, path: Path, resolved: str | None) -> LoadedLayer:
    """A bundle directory, served without a trust policy (authoring and ``--dev`` only)."""
    if path.is_file():
        raise LoadError(
            f"{source}: a bundle archive needs trust_policy in the runner config",
            hint="name the keys allowed to sign each layer",
        )
    layer = load_directory(path)
    if layer.kind != kind:
        raise LoadError(f"{source}: is a {layer.kind} bundle, configured as the {kind}")
    return LoadedLayer(layer, source.text, resolved, None)


__all__ = ["ActionGate", "Generation", "LoadedLayer", "Loader", "Pins"]
