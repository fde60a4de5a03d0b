"""The runner's state: the verified stack, its refresh, the watchdog and the audit log.

Loading a stack is the "init container" sequence, the same at startup and at
every refresh: **pull** (OCI, digests checked) → **verify** (signature under the
trust policy, before anything is parsed) → **version check** (no rollback, no
unpinned major move) → **extract** (parse Rego and data) → **compose and
compile**. Only a stack that passed every step replaces the one being served;
the accepted versions are recorded only then. A failed refresh keeps the last
good stack and marks the service ``degraded`` until a refresh succeeds.

Decisions are answered only after their audit record is durable. If the
watchdog sees any verified file change, every decision is ``deny``.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from charter.actions.gate import Gate, GateConfig, audit_files, load_constitution
from charter.audit import stores as audit_mod
from charter.core.decision import Decision, Reason
from charter.core.errors import (
    AuditError,
    CharterError,
    ConfigError,
    Conflict,
    EvaluationError,
    Forbidden,
    InputError,
    IntegrityLost,
    LoadError,
    NotFound,
    RollbackError,
    Unavailable,
)
from charter.core.verdict import Verdict
from charter.policy import waivers as waivers_mod
from charter.policy.bundle import Layer, load_directory
from charter.policy.decision import apply_waivers, evaluate
from charter.policy.loading import check_verified, verify_bundle_file
from charter.policy.stack import CompiledStack, Stack, shipped_constitution_path
from charter.policy.waivers import LoadedWaiver, WaiverSet
from charter.registry import oci
from charter.runner.bodies import parse_proposal, principal_id
from charter.runner.config import RunnerConfig, Source
from charter.runner.evaluators import EngineSlot, EvaluatorPool
from charter.runner.metrics import Metrics
from charter.runner.processes import Evaluated, ProcessEvaluators
from charter.trust import keys
from charter.trust.policy import TrustPolicy, load_policy
from charter.trust.versions import VersionState, default_state_dir, layer_key, parse_version
from charter.trust.watchdog import Watchdog

T = TypeVar("T")
INTEGRITY_RULE = "CHARTER-INTEGRITY-LOST"
PINS_FILE = "pins.json"
MAX_REMEMBERED = 100_000


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class NotReady(Unavailable):
    """No verified stack is loaded; decisions are refused (HTTP 503)."""


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
class Waivers:
    """The waiver files as read at one refresh, checked against one stack.

    Nothing here is judged against the clock: whether a waiver is expired is
    decided per decision, at the decision's time, by :class:`WaiverSet`.
    """

    directory: str
    files: tuple[LoadedWaiver, ...]
    trust: Mapping[str, Sequence[keys.PublicKey]]
    digest: str
    loaded_at: str
    #: Why the directory or a key could not be read; such a failure only ever
    #: removes waivers (no file → nothing waived; no key → nothing verifies).
    error: str | None = None
    hook: WaiverSet | None = None

    def apply(
        self, reasons: Sequence[Reason], document: Mapping[str, Any], now: datetime
    ) -> tuple[list[Reason], list[dict[str, Any]], list[dict[str, Any]]]:
        """The :data:`charter.policy.decision.WaiverHook`; a failure waives nothing."""
        if self.hook is None:
            return list(reasons), [], []
        try:
            return self.hook(reasons, document, now)
        except Exception as exc:  # noqa: BLE001 - a broken waiver check must not loosen
            why = f"waivers could not be checked ({type(exc).__name__}: {exc})"
            problem = {"waiver": None, "rule": None, "source": self.directory, "reason": why}
            return list(reasons), [], [problem]


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


class Pending(NamedTuple):
    """What the runner remembers of a decision, for approvals.

    Only strings, stored as a plain tuple: the garbage collector untracks an
    exact tuple of untracked objects, so 100,000 remembered decisions add
    nothing to its full collections (as nested dicts they made each one take
    ~90 ms, every few hundred milliseconds under load).
    """

    verdict: str
    input_digest: str
    #: The decision's ``stack`` as JSON text.
    stack: str
    requester: str
    author: str | None
    status: str = "pending"  # pending | approving | approved | rejected | final
    #: Each approval as JSON text.
    approvals: tuple[str, ...] = ()


class Pins:
    """Operator pins: a layer may move to a new major only to a pinned version."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / PINS_FILE

    def read(self) -> dict[str, str]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
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
        tmp.write_text(json.dumps(pins, indent=2, sort_keys=True))
        os.replace(tmp, self.path)


class RunnerService:
    """Everything behind the HTTP API; the app is a thin shell over it."""

    def __init__(
        self,
        config: RunnerConfig,
        *,
        dev: bool = False,
        clock: Callable[[], datetime] | None = None,
        manage_gc: bool = False,
    ) -> None:
        self.config = config
        self.dev = dev
        #: Freeze what a load leaves behind out of the garbage collector's way
        #: (see :meth:`_settle_gc`); a process-wide setting, so only the
        #: ``charter runner`` command, which owns its process, turns it on.
        self.manage_gc = manage_gc
        self._settled: tuple[object, object] | None = None
        #: The time of each decision (``input.context.now`` and waiver expiry).
        #: Clients cannot set it: a client-chosen time could revive an expired waiver.
        self.clock: Callable[[], datetime] = clock or _utcnow
        self.policy: TrustPolicy | None = (
            load_policy(config.trust_policy) if config.trust_policy else None
        )
        state_dir = config.state_dir or (
            self.policy.state_dir if self.policy and self.policy.state_dir else None
        )
        self.state_dir = Path(state_dir) if state_dir else default_state_dir()
        self.versions = VersionState(self.state_dir)
        self.pins = Pins(self.state_dir)
        self.cache = self.state_dir / "bundles"
        self.audit: audit_mod.AuditStore = audit_mod.open_store(config.audit_store)
        self.watchdog = Watchdog(interval=config.watchdog_interval, subject="runner stack")
        self.watchdog.on_integrity_lost(self._record_integrity)
        self._generation: Generation | None = None
        self._gate: Gate | None = None
        self._action_info: dict[str, Any] | None = None
        #: Proposal evaluation runs here, on a few long-lived threads, each with
        #: its own engine: regorus engines are thread-affine, and many threads
        #: evaluating at once (each with its own engine) contend for the GIL and
        #: the CPU caches, measured 2-3x slower per evaluation than two threads.
        self.evaluator = EvaluatorPool(config.evaluator_threads)
        #: Proposal bodies are evaluated here when configured (see .processes).
        self.processes = (
            ProcessEvaluators(config.evaluator_processes)
            if config.evaluator_processes and config.constitution is not None
            else None
        )
        #: Action decisions (the gate is CPU-bound and quick; the audit commit no
        #: longer parks a thread): a couple of threads, not a crowd contending
        #: for the GIL with the event loop.
        self.deciders = ThreadPoolExecutor(max_workers=2, thread_name_prefix="charter-gate")
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Plain tuples (see :class:`Pending`), read back with :meth:`_entry`.
        self._pending: OrderedDict[str, tuple[Any, ...]] = OrderedDict()
        self._stack_text: tuple[Any, str] | None = None
        self._pending_lock = threading.Lock()
        self.started_at = time.time()
        self.last_refresh: dict[str, Any] | None = None
        self.last_good_refresh: str | None = None
        self.degraded_reason: str | None = None
        self.load_error: str | None = None
        self.metrics = Metrics()

    # ------------------------------------------------------------ lifecycle
    def start(self) -> RunnerService:
        """Initial load (never raises: a failure is reported), then the timers."""
        self.refresh()
        self.watchdog.start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="charter-refresh", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.watchdog.stop(timeout=10)
        self.evaluator.shutdown()
        if self.processes is not None:
            self.processes.shutdown()
        self.deciders.shutdown(wait=True, cancel_futures=True)
        self.audit.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.config.refresh_interval):
            self.refresh()

    # -------------------------------------------------------------- loading
    def _fetch(self, source: Source, kind: str) -> tuple[Path, str | None]:
        """A local file for ``source``; OCI bundles are pulled into the cache."""
        if not source.is_oci:
            return source.path, None
        pulled = oci.pull_bundle(source.text, insecure=self.config.insecure_registries)
        self.cache.mkdir(parents=True, exist_ok=True)
        target = self.cache / f"{pulled.blob_digest.split(':', 1)[1]}.tar.gz"
        if not target.is_file() or audit_digest_of(target) != pulled.blob_digest:
            tmp = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(pulled.data)
            os.replace(tmp, target)
        return target, str(pulled.resolved)

    def _load_layer(
        self, source: Source, kind: str, previous: LoadedLayer | None, pins: Mapping[str, str]
    ) -> tuple[LoadedLayer, tuple[str, str, str, bool] | None]:
        path, resolved = self._fetch(source, kind)
        if self.policy is None:
            if path.is_file():
                raise LoadError(
                    f"{source}: a bundle archive needs trust_policy in the runner config",
                    hint="name the keys allowed to sign each layer",
                )
            layer = load_directory(path)
            if layer.kind != kind:
                raise LoadError(f"{source}: is a {layer.kind} bundle, configured as the {kind}")
            return LoadedLayer(layer, source.text, resolved, None), None
        trust = self.policy.for_layer(kind)
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
        key, content = checked.key, checked.content_digest
        if (
            previous is not None
            and previous.layer.digest == verified.digest
            and previous.layer.version == manifest.version
        ):
            # Same verified bytes as served: no need to parse them again.
            return dataclasses.replace(previous, resolved=resolved), None
        layer = verified.to_layer()
        loaded = LoadedLayer(layer, source.text, resolved, str(path))
        return loaded, (key, manifest.version, content, allow_major)

    def _load_stack(
        self, previous: Generation | None
    ) -> tuple[Generation, list[tuple[str, str, str, bool]]]:
        cfg = self.config
        pins = self.pins.read()
        prev = {(x.layer.kind, x.source): x for x in previous.layers} if previous else {}
        layers: list[LoadedLayer] = []
        accepts: list[tuple[str, str, str, bool]] = []
        if cfg.constitution is None:
            return Generation(0, (), None, _now()), []
        plan = [(cfg.constitution, "constitution")]
        plan += [(p, "pack") for p in cfg.packs]
        if cfg.overlay is not None:
            plan.append((cfg.overlay, "overlay"))
        for source, kind in plan:
            loaded, accept = self._load_layer(source, kind, prev.get((kind, source.text)), pins)
            layers.append(loaded)
            if accept is not None:
                accepts.append(accept)
        unchanged = previous is not None and [x.layer.digest for x in layers] == [
            x.layer.digest for x in previous.layers
        ]
        if unchanged and previous is not None and previous.stack is not None:
            return dataclasses.replace(previous, layers=tuple(layers)), []
        stack = Stack.compose([x.layer for x in layers])
        # Compile once here to prove the stack compiles; the engine stays here.
        probe = stack.compile()
        del probe
        number = (previous.number + 1) if previous else 1
        return Generation(number, tuple(layers), stack, _now()), accepts

    def _load_actions(self) -> tuple[Gate | None, dict[str, Any] | None]:
        cfg = self.config
        if cfg.action_constitution is None or cfg.action_key is None:
            return None, None
        current = self._action_info
        loaded = load_constitution(cfg.action_constitution, cfg.action_key)
        if current is not None and loaded.digest == current["digest"] and self._gate is not None:
            return self._gate, current
        if current is not None:
            old, new = (
                parse_version(current["version"], "actions"),
                parse_version(loaded.constitution.version, "actions"),
            )
            if new < old:
                raise RollbackError(
                    f"{cfg.action_constitution}: version {loaded.constitution.version} is "
                    f"older than the {current['version']} being served"
                )
        gate = Gate(
            loaded.constitution,
            # The gate records nothing: the service records each action itself,
            # without parking a thread on the commit (see submit_action).
            watchdog=self.watchdog,
            config=GateConfig(protected_paths=self.own_files(), source="runner"),
        )
        info = {
            "layer": "actions",
            "name": "agent-constitution",
            "version": loaded.constitution.version,
            "digest": loaded.digest,
            "source": loaded.path,
            "signer": loaded.constitution.identity.signed_by,
        }
        return gate, info

    def own_files(self) -> tuple[str, ...]:
        """The runner's own files, which its gate never lets an agent write.

        As ``charter gate`` protects its constitution, key, budget and audit log:
        the audit database (and its ``-wal``/``-shm``/``-journal`` files), the
        config (which holds the token hashes), the trust policy and every key
        it or the waiver settings name, the action constitution and its key,
        local layer files, and the state directory's version record and pins.
        """
        cfg = self.config
        files: list[str | Path] = [*audit_files(self.audit.location)]
        if not cfg.source.startswith("<"):
            files.append(cfg.source)
        files += [p for p in (cfg.trust_policy, cfg.action_constitution, cfg.action_key) if p]
        files += [path for _, path in cfg.waiver_keys]
        if self.policy is not None:
            for trust in self.policy.layers.values():
                files += [*trust.key_files, *filter(None, [trust.trusted_root])]
        for source in (cfg.constitution, *cfg.packs, cfg.overlay):
            if source is not None and not source.is_oci:
                files.append(source.path)
        files += [self.versions.path, self.state_dir / ".lock", self.pins.path]
        files.append(self.pins.path.with_suffix(".tmp"))
        return tuple(str(f) for f in files)

    def refresh(self) -> bool:
        """Pull, verify, version-check, extract and compile; swap only on full success.

        Waivers are re-read whatever the outcome, so a removed waiver stops
        applying even while the registry is down.
        """
        with self._refresh_lock:
            try:
                if self._refresh_stack():
                    return True
                if self._generation is not None:
                    self._generation = self._with_waivers(self._generation)
                return False
            finally:
                if self.manage_gc:
                    self._settle_gc()

    def settle_gc(self) -> None:
        """Collect and freeze now (e.g. once the HTTP app exists); see :meth:`_settle_gc`."""
        self._settled = None
        self._settle_gc()

    def _settle_gc(self) -> None:
        """After a new stack or gate: collect once, then freeze what is left.

        A runner's long-lived objects (compiled stacks, the gate's patterns,
        FastAPI, pydantic) made every full collection take ~70 ms under load,
        a stall for every request in flight. Frozen, they are never scanned
        again; the previous stack's objects are unfrozen and collected here,
        once per change, so nothing leaks across refreshes.
        """
        current = (self._generation.stack if self._generation else None, self._gate)
        if self._settled is not None and all(
            a is b for a, b in zip(current, self._settled, strict=True)
        ):
            return
        self._settled = current
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    def _with_waivers(self, gen: Generation) -> Generation:
        if self.config.waivers_dir is None or gen.stack is None:
            return gen
        try:
            waivers = self._read_waivers(gen.stack)
        except Exception as exc:  # noqa: BLE001 - unreadable waivers waive nothing
            why = f"waivers not loaded ({type(exc).__name__}: {exc})"
            waivers = Waivers(str(self.config.waivers_dir), (), {}, "", _now(), error=why)
        return dataclasses.replace(gen, waivers=waivers)

    def _read_waivers(self, stack: Stack) -> Waivers:
        directory = self.config.waivers_dir
        assert directory is not None  # noqa: S101 - checked by the caller
        problems: list[str] = []
        trust: dict[str, list[keys.PublicKey]] = {}
        for layer, path in self.config.waiver_keys:
            try:
                trust.setdefault(layer, []).append(keys.load_public(path))
            except (CharterError, OSError, ValueError) as exc:
                problems.append(f"waiver key {path} ({layer}) not loaded: {exc}")
        files: list[LoadedWaiver] = []
        h = hashlib.sha256()
        try:
            paths = sorted(directory.rglob("*.json")) if directory.is_dir() else None
        except OSError as exc:
            paths, problems = None, [*problems, f"{directory}: {exc}"]
        if paths is None:
            problems.append(f"{directory}: not a readable directory of waivers; none apply")
        for path in paths or []:
            source = str(path)
            try:
                # Parse the very bytes that are hashed, so the digest names what is applied.
                data = path.read_bytes()
            except OSError as exc:
                files.append(LoadedWaiver(source, None, f"cannot read waiver ({exc.strerror})"))
                continue
            h.update(
                f"{path.relative_to(directory)}\0{hashlib.sha256(data).hexdigest()}\n".encode()
            )
            try:
                files.append(LoadedWaiver(source, waivers_mod.parse_waiver(data, source)))
            except CharterError as exc:
                files.append(LoadedWaiver(source, None, str(exc)))
        return Waivers(
            directory=str(directory),
            files=tuple(files),
            trust=trust,
            digest="sha256:" + h.hexdigest(),
            loaded_at=_now(),
            error="; ".join(problems) or None,
            hook=WaiverSet(files, stack, trust) if files else None,
        )

    def _refresh_stack(self) -> bool:
        started = time.perf_counter()
        previous = self._generation
        try:
            generation, accepts = self._load_stack(previous)
            gate, action_info = self._load_actions()
        except CharterError as exc:
            return self._refresh_failed(str(exc), started)
        except Exception as exc:  # noqa: BLE001 - any failure keeps the last good stack
            return self._refresh_failed(f"{type(exc).__name__}: {exc}", started)
        try:
            for key, version, content, allow_major in accepts:
                self.versions.accept(key, version, content, allow_major=allow_major)
        except CharterError as exc:
            return self._refresh_failed(str(exc), started)
        for loaded in generation.layers:
            if loaded.file is not None:
                self.watchdog.watch(loaded.file, loaded.layer.digest)
        if action_info is not None and self.config.action_constitution is not None:
            self.watchdog.watch(self.config.action_constitution, action_info["digest"])
        changed = previous is None or generation.number != previous.number
        self._generation = self._with_waivers(generation)
        self._gate, self._action_info = gate, action_info
        self.degraded_reason = None
        self.load_error = None
        now = _now()
        self.last_good_refresh = now
        self.last_refresh = {
            "at": now,
            "ok": True,
            "changed": changed,
            "error": None,
            "seconds": round(time.perf_counter() - started, 4),
        }
        self.metrics.refresh(True)
        return True

    def _refresh_failed(self, reason: str, started: float) -> bool:
        self.last_refresh = {
            "at": _now(),
            "ok": False,
            "changed": False,
            "error": reason,
            "seconds": round(time.perf_counter() - started, 4),
        }
        if self._generation is None and self._gate is None:
            self.load_error = reason
        else:
            self.degraded_reason = reason
        self.metrics.refresh(False)
        return False

    def _record_integrity(self, event: Any) -> None:
        self.audit.append(
            {"decision_id": f"integrity-{int(time.time() * 1000)}", "verdict": "deny",
             "event": event.to_dict(), "stack": self.stack_doc()},
            source="runner",
            kind="event",
        )  # fmt: skip

    # --------------------------------------------------------------- status
    @property
    def ready(self) -> bool:
        return self.load_error is None and (self._generation is not None or self._gate is not None)

    @property
    def health(self) -> str:
        if not self.ready:
            return "failed"
        if not self.watchdog.healthy:
            return "integrity_lost"
        if self.degraded_reason:
            return "degraded"
        return "ok"

    def stack_doc(self) -> list[dict[str, Any]]:
        gen = self._generation
        docs = [x.layer.describe() for x in gen.layers] if gen else []
        if self._action_info is not None:
            docs.append({k: self._action_info[k] for k in ("layer", "name", "version", "digest")})
        return docs

    def status(self) -> dict[str, Any]:
        gen = self._generation
        return {
            "health": self.health,
            "ready": self.ready,
            "degraded": self.health != "ok",
            "reason": self.load_error or self.watchdog.reason or self.degraded_reason,
            "dev": self.dev,
            "generation": gen.number if gen else None,
            "stack_digest": gen.stack.digest if gen and gen.stack else None,
            "layers": [x.describe() for x in gen.layers] if gen else [],
            "actions": self._action_info,
            "loaded_at": gen.loaded_at if gen else None,
            "last_refresh": self.last_refresh,
            "last_good_refresh": self.last_good_refresh,
            "refresh_interval": self.config.refresh_interval,
            "integrity": {"ok": self.watchdog.healthy, "reason": self.watchdog.reason},
            "audit": {"store": self.audit.location},
            "waivers": self.waiver_status(gen),
            "evaluators": {
                "threads": self.config.evaluator_threads,
                "processes": self.processes.size if self.processes else 0,
                "process_restarts": self.processes.restarts if self.processes else 0,
            },
            "uptime_seconds": round(time.time() - self.started_at, 1),
        }

    def waiver_status(self, gen: Generation | None = None) -> dict[str, Any] | None:
        """The waivers read at the last refresh, each judged at the current time."""
        if self.config.waivers_dir is None:
            return None
        gen = gen or self._generation
        w = gen.waivers if gen is not None else None
        if w is None or gen is None or gen.stack is None:
            return {"directory": str(self.config.waivers_dir), "count": 0, "digest": None,
                    "active": 0, "expired": 0, "invalid": 0, "loaded_at": None,
                    "error": "no stack loaded", "files": []}  # fmt: skip
        now = self.clock()
        files = [waivers_mod.status(f, gen.stack, w.trust, now).to_dict() for f in w.files]
        states = [f["status"] for f in files]
        return {
            "directory": w.directory,
            "count": len(files),
            "digest": w.digest,
            "active": states.count("active"),
            "expired": states.count("expired"),
            "invalid": states.count("invalid"),
            "loaded_at": w.loaded_at,
            "error": w.error,
            "files": files,
        }

    # ------------------------------------------------------------ decisions
    def _stack(self, gen: Generation | None = None) -> Stack:
        gen = gen or self._generation
        if gen is None or gen.stack is None:
            raise NotReady(
                self.load_error or "no proposal stack is configured",
                hint="see GET /v1/status for why the stack did not load",
            )
        return gen.stack

    def _compiled(self, slot: EngineSlot, gen: Generation | None) -> CompiledStack:
        """The calling evaluator thread's engine for ``gen`` (see :mod:`.evaluators`)."""
        if gen is None or gen.stack is None:
            raise NotReady(
                self.load_error or "no proposal stack is configured",
                hint="see GET /v1/status for why the stack did not load",
            )
        return slot.compiled(gen.stack)

    def _evaluate(
        self, slot: EngineSlot, document: Any, gen: Generation | None, *, validate: bool = True
    ) -> Decision:
        compiled = self._compiled(slot, gen)
        hook = gen.waivers.apply if gen is not None and gen.waivers is not None else None
        try:
            return evaluate(compiled, document, now=self.clock(), waivers=hook, validate=validate)
        except CharterError:
            raise
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            # A Rust panic (pyo3's PanicException is a BaseException) may leave
            # the engine inconsistent: drop it so this thread compiles a new one,
            # and answer an error, never a decision (and never an HTTP 500).
            del compiled
            slot.clear()
            raise EvaluationError(
                f"evaluation failed ({type(exc).__name__}: {exc})",
                hint="see docs/design.md, 'Errors and exit codes'",
            ) from exc

    def evaluate_proposal(
        self, slot: EngineSlot, document: Any, *, validate: bool = True
    ) -> Decision:
        """Validate (unless the caller parsed it) and evaluate a proposal.

        The first half of a decision: runs on an evaluator thread, with its slot
        (see :attr:`evaluator`). Nothing is acknowledged until
        :meth:`_commit_async` has recorded it.
        """
        if not self.ready:
            raise NotReady(self.load_error or "the runner has not loaded a stack")
        return self._evaluate(slot, document, self._generation, validate=validate)

    def decide_proposal(self, document: Any, principal: str) -> dict[str, Any]:
        """Decide a proposal given as Python data: as its JSON body would be decided."""
        return self.submit_proposal(_as_body(document), principal, lambda doc: doc).result()

    def submit_proposal(
        self, body: bytes, principal: str, finish: Callable[[dict[str, Any]], T]
    ) -> Future[T]:
        """Decide a proposal body as a pipeline: parse and evaluate, record, finish.

        Parsing and evaluation run in an evaluator process (or on an evaluator
        thread when ``evaluator_processes = 0``); the record is queued for the
        audit log, and once it is durable the audit store's callback remembers
        the decision and runs ``finish`` (e.g. encoding the answer), so the
        caller (the event loop) is woken once, with the result or the first
        error. Waivers are judged here, where the trusted keys are.
        """
        result: Future[T] = Future()
        result.set_running_or_notify_cancel()

        if self.processes is None:

            def evaluate_then_commit(slot: EngineSlot) -> None:
                try:
                    document = parse_proposal(body)
                    decision = self.evaluate_proposal(slot, document, validate=False)
                    author = principal_id(document.get("author"))
                    self._commit_async(decision, principal, author, document, finish, result)
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                    result.set_exception(exc)

            self.evaluator.submit(evaluate_then_commit)
            return result

        gen = self._generation
        if not self.ready or gen is None or gen.stack is None:
            result.set_exception(NotReady(self.load_error or "the runner has not loaded a stack"))
            return result
        waivers = gen.waivers
        now = self.clock()
        want = waivers is not None or self.config.record_inputs

        def evaluated(done: Future[Evaluated]) -> None:
            try:
                answer = done.result()
                decision = answer.decision
                if waivers is not None and answer.document is not None:
                    decision = apply_waivers(decision, waivers.apply, answer.document, now)
                self._commit_async(
                    decision, principal, answer.author_id, answer.document, finish, result
                )
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                result.set_exception(exc)

        try:
            self.processes.submit(gen.stack, body, now, want_document=want).add_done_callback(
                evaluated
            )
        except CharterError as exc:
            result.set_exception(exc)
        return result

    def _commit_async(
        self,
        decision: Decision,
        principal: str,
        author_id: str | None,
        document: Mapping[str, Any] | None,
        finish: Callable[[dict[str, Any]], T],
        result: Future[T],
    ) -> None:
        """Record a proposal decision without parking a thread: the audit store calls
        back once the record is durable, and only then is the decision remembered
        and answered. The watchdog is consulted here, right before the record is
        queued, so an integrity loss noticed during evaluation still denies."""
        if not self.watchdog.healthy:
            decision = _integrity_deny(decision, self.watchdog.reason)
        doc = decision.to_dict()
        record = {**doc, "input": document} if self.config.record_inputs else doc
        self._record_then(record, "proposal", doc, "proposal", principal, author_id, finish, result)

    def _record_then(
        self,
        record: Mapping[str, Any],
        kind: str,
        doc: dict[str, Any],
        metric: str,
        principal: str,
        author_id: str | None,
        finish: Callable[[dict[str, Any]], T],
        result: Future[T],
    ) -> None:
        def recorded(_: dict[str, Any] | None, error: BaseException | None) -> None:
            if error is not None:
                self.metrics.audit_failure()
                result.set_exception(
                    error
                    if isinstance(error, AuditError)
                    else AuditError(f"cannot record the decision ({error})")
                )
                return
            try:
                self._remember(doc, principal, author_id)
                self.metrics.decision(metric, doc["verdict"])
                result.set_result(finish(doc))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                result.set_exception(exc)

        try:
            self.audit.submit(record, source="runner", kind=kind, callback=recorded)
        except Exception as exc:  # noqa: BLE001 - an unrecorded decision is not acknowledged
            recorded(None, exc)

    def decide_action(self, action: Mapping[str, Any], principal: str) -> dict[str, Any]:
        """Decide and record an action; return the decision once it is durable."""
        return self.submit_action(action, principal, lambda doc: doc).result()

    def submit_action(
        self, action: Mapping[str, Any], principal: str, finish: Callable[[dict[str, Any]], T]
    ) -> Future[T]:
        """Decide an action in the calling thread; record it, remember it, then ``finish``.

        The gate itself records nothing here (it is built without a store): the
        decision is queued for the audit log and the returned future resolves
        once its record is durable, so the calling thread is not parked on it.
        """
        result: Future[T] = Future()
        result.set_running_or_notify_cancel()
        if not self.ready:
            raise NotReady(self.load_error or "the runner has not loaded its constitution")
        gate = self._gate
        if gate is None:
            raise NotReady(
                "no agent-runtime constitution is configured",
                hint="set [actions] constitution and key in the runner config",
            )
        doc = gate.decide_action(dict(action)).to_dict()
        agent_id = principal_id(action.get("agent"))
        self._record_then(
            doc,
            "decision",
            doc,
            "action",
            principal,
            agent_id,
            finish,
            result,
        )
        return result

    def _record(self, doc: dict[str, Any], *, kind: str) -> None:
        try:
            self.audit.append(doc, source="runner", kind=kind)
        except AuditError:
            self.metrics.audit_failure()
            raise
        except Exception as exc:  # noqa: BLE001 - an unrecorded decision is not acknowledged
            self.metrics.audit_failure()
            raise AuditError(f"cannot record the decision ({exc})") from exc

    def _remember(self, doc: dict[str, Any], principal: str, author: str | None) -> None:
        stack = doc.get("stack", [])
        cached = self._stack_text
        if cached is None or cached[0] != stack:
            cached = self._stack_text = (stack, json.dumps(stack, separators=(",", ":")))
        entry = Pending(
            verdict=str(doc["verdict"]),
            input_digest=str(doc.get("input_digest", "")),
            stack=cached[1],
            requester=principal,
            author=author,
            status="pending" if doc["verdict"] == "ask" else "final",
        )
        with self._pending_lock:
            self._pending[doc["decision_id"]] = tuple(entry)
            while len(self._pending) > MAX_REMEMBERED:
                self._pending.popitem(last=False)

    def _entry(self, decision_id: str) -> Pending | None:
        raw = self._pending.get(decision_id)
        return Pending._make(raw) if raw is not None else None

    def decision_state(self, decision_id: str) -> dict[str, Any]:
        with self._pending_lock:
            entry = self._entry(decision_id)
            if entry is None:
                raise NotFound(f"no decision {decision_id} is known to this runner")
            return {
                "decision_id": decision_id,
                "verdict": entry.verdict,
                # An approval being written is not settled until it is durable.
                "status": "pending" if entry.status == "approving" else entry.status,
                "approvals": [json.loads(a) for a in entry.approvals],
            }

    def approve(
        self, decision_id: str, approve: bool, comment: str, principal: str
    ) -> dict[str, Any]:
        """Record a human's approval or rejection of a pending ``ask``.

        The entry is claimed (``approving``) under the lock, the record is
        written with no lock held, and the outcome is stored under the lock
        again; a failed write gives the claim back. No I/O ever runs under
        :attr:`_pending_lock`: the audit store's callbacks take it too.
        """
        with self._pending_lock:
            entry = self._claim(decision_id, principal)
        approval = {"by": principal, "approve": approve, "comment": comment, "at": _now()}
        outcome = "allow" if approve else "deny"
        record = {
            "decision_id": decision_id,
            "verdict": outcome,
            "reasons": [
                {
                    "rule": "CHARTER-HUMAN-APPROVAL",
                    "layer": "charter",
                    "severity": "high",
                    "msg": f"{'approved' if approve else 'rejected'} by {principal}",
                    "links": [],
                }
            ],
            "approvals": [approval],
            "stack": json.loads(entry.stack),
            "input_digest": entry.input_digest,
        }
        try:
            self._record(record, kind="approval")
        except BaseException:
            with self._pending_lock:
                self._pending[decision_id] = tuple(entry)
            raise
        entry = entry._replace(
            status="approved" if approve else "rejected",
            approvals=(*entry.approvals, json.dumps(approval)),
        )
        with self._pending_lock:
            self._pending[decision_id] = tuple(entry)
        self.metrics.approval(approve)
        return {"decision_id": decision_id, "verdict": outcome, "status": entry.status,
                "approval": approval}  # fmt: skip

    def _claim(self, decision_id: str, principal: str) -> Pending:
        """Mark a pending ``ask`` as being approved by ``principal`` (under the lock)."""
        entry = self._entry(decision_id)
        if entry is None:
            raise NotFound(f"no decision {decision_id} is known to this runner")
        if entry.status != "pending":
            state = "being approved" if entry.status == "approving" else entry.status
            raise Conflict(
                f"decision {decision_id} is {entry.verdict} "
                f"({state}); only a pending ask can be approved or rejected"
            )
        if principal in (entry.requester, entry.author):
            raise Forbidden(
                f"{principal} cannot approve a decision about their own change",
                hint="another approver must confirm it",
            )
        self._pending[decision_id] = tuple(entry._replace(status="approving"))
        return entry

    # ---------------------------------------------------------------- rules
    def rules(self, layer: str | None = None) -> list[dict[str, Any]]:
        stack = self._stack()
        return [
            r.to_dict()
            for r in stack.rules.values()
            if layer is None or r.layer == layer or r.layer_name == layer
        ]

    def rule(self, rule_id: str) -> dict[str, Any]:
        stack = self._stack()
        rule = stack.rules.get(rule_id)
        if rule is None:
            raise NotFound(f"no rule {rule_id} in the active stack")
        return rule.to_dict()

    def explain(self, document: Any, layer: str | None = None) -> dict[str, Any]:
        """Which rules fire for ``document``, with verdicts and links; not recorded.

        Waivers apply exactly as for a decision: a waived rule does not apply
        and its row names the waiver. Evaluates on an evaluator thread.
        """
        return self.explain_body(_as_body(document), layer, lambda doc: doc).result()

    def explain_body(
        self, body: bytes, layer: str | None, finish: Callable[[dict[str, Any]], T]
    ) -> Future[T]:
        """:meth:`explain` for a request body, parsed (as a proposal) and explained on an
        evaluator thread, then ``finish``-ed (e.g. encoded) there too."""

        def explain(slot: EngineSlot) -> T:
            document = parse_proposal(body)
            return finish(self.explain_with(slot, document, layer, validate=False))

        return self.evaluator.submit(explain)

    def explain_with(
        self, slot: EngineSlot, document: Any, layer: str | None = None, *, validate: bool = True
    ) -> dict[str, Any]:
        """:meth:`explain` on the calling evaluator thread, with its ``slot``."""
        gen = self._generation
        stack = self._stack(gen)
        decision = self._evaluate(slot, document, gen, validate=validate)
        fired: dict[str, list[Reason]] = {}
        for reason in decision.reasons:
            fired.setdefault(reason.rule, []).append(reason)
        waived = {w["rule"]: w for w in decision.waived}
        rows = []
        for rule in stack.rules.values():
            if layer is not None and rule.layer != layer:
                continue
            hits = fired.get(rule.id, [])
            verdict = max((r.verdict for r in hits), default=Verdict.ALLOW)
            rows.append(
                {
                    **rule.to_dict(),
                    "verdict": str(verdict),
                    "applies": bool(hits),
                    "messages": [r.msg for r in hits],
                    "waived": waived.get(rule.id),
                }
            )
        rows.sort(key=lambda r: (not r["applies"], -Verdict.parse(r["verdict"]), r["id"]))
        other = [r.to_dict() for r in decision.reasons if r.rule not in stack.rules]
        return {
            "verdict": str(decision.verdict),
            "applies": [r["id"] for r in rows if r["applies"]],
            "rules": rows,
            "other_reasons": other,
            "waived": list(decision.waived),
            "ignored_waivers": list(decision.ignored_waivers),
            "stack": list(decision.stack),
            "input_digest": decision.input_digest,
        }


def _integrity_deny(decision: Decision, reason: str | None) -> Decision:
    lost = Reason(
        rule=INTEGRITY_RULE,
        layer="charter",
        severity="critical",
        msg=reason or "integrity lost; failing closed",
        verdict=Verdict.DENY,
    )
    return dataclasses.replace(decision, verdict=Verdict.DENY, reasons=(lost, *decision.reasons))


def _as_body(document: Any) -> bytes:
    """Python data as the JSON body a client would send (ASCII, so nothing is lost)."""
    try:
        return json.dumps(document, allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise InputError(f"body: not JSON data ({exc})") from None


def audit_digest_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def dev_stack_source() -> Source:
    return Source(str(shipped_constitution_path()))


__all__ = [
    "Conflict",
    "Forbidden",
    "InputError",
    "IntegrityLost",
    "NotFound",
    "NotReady",
    "RunnerService",
]
