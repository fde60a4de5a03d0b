"""The runner configuration (TOML), parsed into frozen dataclasses.

See docs/runner.md for the reference and a full example. Relative paths are
relative to the config file. Unknown keys are errors (a typo must not silently
turn a protection off).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charter.core import hosts
from charter.core.errors import CharterError, ConfigError
from charter.facts.identities import IdentityMap, parse_identities
from charter.registry import channels
from charter.registry.oci import is_oci_reference
from charter.runner.auth import ROLES, TokenEntry, parse_token_hash
from charter.runner.limits import Limits, parse_limits

DEFAULT_LISTEN = "127.0.0.1:8080"
DEFAULT_REFRESH = 60.0
#: The range of every interval (refresh_interval, watchdog_interval), in seconds.
MIN_DURATION = 0.001
MAX_DURATION = 7 * 24 * 3600.0
#: Proposal evaluation holds the GIL for much of its time, so a few threads
#: (each with its own engine) beat many (see RunnerService.evaluator): by
#: default one core is left to the event loop, and at most four evaluate.
DEFAULT_EVALUATOR_THREADS = max(1, min(4, (os.cpu_count() or 1) - 1))
MAX_EVALUATOR_THREADS = 64
#: Proposals are evaluated in worker processes when there is more than one
#: CPU (regorus holds the GIL, so threads alone keep a runner on one core): one
#: per CPU, at most 4, since the runner process itself needs only about half a
#: core for HTTP and the audit log at full load (bench_runner: 57 % of the bare
#: endpoint with one worker on 2 CPUs, 63 % with two). 0 evaluates them on the
#: evaluator threads instead.
DEFAULT_EVALUATOR_PROCESSES = 0 if (os.cpu_count() or 1) < 2 else min(4, os.cpu_count() or 1)
MAX_EVALUATOR_PROCESSES = 64
_TOP = {"listen", "refresh_interval", "trust_policy", "state_dir", "insecure_registries",
        "registry_ca_file",
        "watchdog_interval", "public_metrics", "stack", "actions", "audit", "tokens",
        "waivers", "evaluator_threads", "evaluator_processes", "identities",
        "approvals", "export", "limits", "budget"}  # fmt: skip
_STACK = {"constitution", "packs", "overlay", "profile"}
_ACTIONS = {"constitution", "key"}
_AUDIT = {"store", "record_inputs"}
_APPROVALS = {"ttl", "poll_interval", "claim_lease", "webhook"}
_BUDGET = {"refresh_interval"}
_TOKEN = {"name", "role", "sha256", "scrypt"}
_WAIVERS = {"directory", "keys"}
#: Only pack and overlay rules can be waived (see docs/design.md, 'Waivers'), so only
#: they take waiver keys.
WAIVABLE_LAYERS = ("pack", "overlay")


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    @property
    def is_loopback(self) -> bool:
        return hosts.is_loopback(self.host)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_listen(text: str, where: str = "listen") -> Listen:
    raw = text.strip()
    if raw.startswith("["):
        host, _, port = raw[1:].partition("]:")
    else:
        host, _, port = raw.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{where}: {text!r} is not HOST:PORT", hint="e.g. 127.0.0.1:8080")
    return Listen(host, int(port))


@dataclass(frozen=True)
class Source:
    """Where one layer comes from: an ``oci://`` reference or a local path."""

    text: str
    base: Path = field(default=Path("."), compare=False)
    #: For ``oci://`` sources: follow the newest version tag in this range.
    version_range: str | None = None

    @property
    def is_oci(self) -> bool:
        return is_oci_reference(self.text)

    @property
    def path(self) -> Path:
        p = Path(self.text).expanduser()
        return p if p.is_absolute() else self.base / p

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class RunnerConfig:
    listen: Listen = field(default_factory=lambda: parse_listen(DEFAULT_LISTEN))
    refresh_interval: float = DEFAULT_REFRESH
    trust_policy: Path | None = None
    state_dir: Path | None = None
    insecure_registries: bool = False
    #: PEM CAs for registries with a private CA (HTTPS, also on loopback).
    registry_ca_file: Path | None = None
    watchdog_interval: float = 5.0
    public_metrics: bool = False
    evaluator_threads: int = DEFAULT_EVALUATOR_THREADS
    evaluator_processes: int = DEFAULT_EVALUATOR_PROCESSES
    constitution: Source | None = None
    packs: tuple[Source, ...] = ()
    overlay: Source | None = None
    #: ``stack.profile``: the Environment Profile file every proposal is decided under.
    profile: Path | None = None
    #: The agent-runtime constitution (the top layer) and its signer's key (None: the
    #: trust policy's signers for each layer).
    action_constitution: Path | None = None
    action_key: Path | None = None
    #: Lower layers (packs, then an overlay), upper first, and their keys (same order).
    action_layers: tuple[Path, ...] = ()
    action_layer_keys: tuple[Path, ...] = ()
    audit_store: str | None = None
    record_inputs: bool = False
    #: How long an ``ask`` waits for a person before it expires (answer: deny).
    approval_ttl: float = 86400.0
    #: How often a replica looks for answers given on other replicas to its waiters.
    approval_poll: float = 0.5
    #: How long an approver's claim on an ask holds; a claim whose replica crashed is
    #: recovered once it lapses (see charter.runner.approvals).
    approval_lease: float = 60.0
    #: How stale a replica's view of the shared spend may be (``[budget]``).
    budget_refresh: float = 1.0
    #: ``[approvals.webhook]``: who is told, HMAC-signed, that an ``ask`` waits (None: off).
    approval_webhook: WebhookConfig | None = None
    tokens: tuple[TokenEntry, ...] = ()
    #: Directory of signed waiver files, re-read at every refresh.
    waivers_dir: Path | None = None
    #: (layer, public key file) pairs trusted to sign waivers of that layer's rules.
    waiver_keys: tuple[tuple[str, Path], ...] = ()
    #: Who is an agent (``[identities]``, as ``charter check --identities``); None: not derived.
    identities: IdentityMap | None = None
    #: What leaves the data plane: ``[export.http]`` and ``[export.checkpoint]`` (see below).
    export: ExportConfig = field(default_factory=lambda: ExportConfig())
    #: ``[limits]``: request limits, per-token admission and fairness (see .limits).
    limits: Limits = field(default_factory=Limits)
    source: str = "<config>"

    @property
    def action_files(self) -> tuple[Path, ...]:
        """Every agent-runtime constitution layer, upper first (empty: none served)."""
        top = self.action_constitution
        return (top, *self.action_layers) if top is not None else ()

    @property
    def action_keys(self) -> tuple[Path, ...] | None:
        """One key per layer, same order; None: each layer's signer is the trust policy's."""
        if self.action_key is None:
            return None
        return (self.action_key, *self.action_layer_keys)


def _duration(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f'{where} must be a duration like 60 or "30s", "5m"')
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().lower()
        units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        unit = next((u for u in ("ms", "s", "m", "h") if text.endswith(u)), "s")
        number = text[: -len(unit)] if text.endswith(unit) else text
        try:
            seconds = float(number) * units[unit]
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not a duration") from None
    else:
        raise ConfigError(f'{where} must be a duration like 60 or "30s", "5m"')
    # NaN fails every comparison; inf, 1e308 and 0 are out of range (a timer
    # thread waiting that long dies of OverflowError while reporting healthy).
    if not MIN_DURATION <= seconds <= MAX_DURATION:
        raise ConfigError(
            f"{where}: {value!r} is not a duration from 1 ms to 7 days",
            hint='e.g. 60, "30s", "5m"',
        )
    return seconds


def _table(raw: Mapping[str, Any], key: str, allowed: set[str], where: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    unknown = set(value) - allowed
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {key}.{sorted(unknown)[0]}", hint=", ".join(sorted(allowed))
        )
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty string")
    return value


def _path(base: Path, value: Any, where: str) -> Path:
    p = Path(_str(value, where)).expanduser()
    return p if p.is_absolute() else base / p


def _bool(raw: Mapping[str, Any], key: str, where: str, default: bool = False) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {key} must be true or false")
    return value


def _waivers(
    raw: Mapping[str, Any], root: Path, source: str
) -> tuple[Path | None, tuple[tuple[str, Path], ...]]:
    table = _table(raw, "waivers", _WAIVERS, source)
    if not table:
        return None, ()
    where = f"{source}: [waivers]"
    if "directory" not in table:
        raise ConfigError(f"{where} needs directory (the folder of signed waiver files)")
    directory = _path(root, table["directory"], f"{where} directory")
    keys_raw = table.get("keys", {})
    if not isinstance(keys_raw, dict):
        raise ConfigError(f"{where}: keys must be a table of LAYER = [public key files]")
    pairs: list[tuple[str, Path]] = []
    for layer, value in keys_raw.items():
        if layer not in WAIVABLE_LAYERS:
            raise ConfigError(
                f"{where}: keys.{layer}: only pack and overlay rules can be waived",
                hint="constitution rules are non-waivable, so no key is trusted for them",
            )
        files = [value] if isinstance(value, str) else value
        if not isinstance(files, list) or not files:
            raise ConfigError(f"{where}: keys.{layer} must be a key file or a list of them")
        pairs.extend((layer, _path(root, f, f"{where}: keys.{layer}[]")) for f in files)
    if not pairs:
        raise ConfigError(
            f"{where}: no keys: without a trusted key no waiver can apply",
            hint='e.g. [waivers.keys] overlay = ["keys/overlay-waivers.pub"]',
        )
    return directory, tuple(pairs)


def _count(raw: Mapping[str, Any], key: str, default: int, low: int, high: int, source: str) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{source}: {key} must be an integer from {low} to {high}")
    return value


def _source(value: Any, root: Path, where: str) -> Source:
    """A path or reference, or ``{ ref = "oci://HOST/REPO", version = "RANGE" }``."""
    if not isinstance(value, dict):
        return Source(_str(value, where), root)
    if set(value) != {"ref", "version"}:
        raise ConfigError(
            f"{where}: a table needs exactly ref and version",
            hint='e.g. { ref = "oci://registry.example/charter/constitution", version = "~1.2" }',
        )
    ref, version = _str(value["ref"], f"{where}.ref"), _str(value["version"], f"{where}.version")
    if not is_oci_reference(ref) or "@" in ref or ":" in ref.split("/", 3)[-1]:
        raise ConfigError(f"{where}.ref: a version range follows an oci://HOST/REPO without tag")
    try:
        channels.parse_range(version)
    except CharterError as exc:
        raise ConfigError(f"{where}.version: {exc.message}", hint=exc.hint) from None
    return Source(ref, root, version)


def _stack(
    stack: Mapping[str, Any], root: Path, source: str
) -> tuple[Source | None, tuple[Source, ...], Source | None]:
    """``[stack]``: the constitution, packs and overlay sources."""
    packs_raw = stack.get("packs", [])
    if not isinstance(packs_raw, list):
        raise ConfigError(f"{source}: stack.packs must be a list")
    packs = tuple(_source(p, root, f"{source}: stack.packs[]") for p in packs_raw)
    constitution, overlay = (
        _source(stack[key], root, f"{source}: stack.{key}") if key in stack else None
        for key in ("constitution", "overlay")
    )
    if (packs or overlay) and constitution is None:
        raise ConfigError(f"{source}: stack.packs/overlay need stack.constitution")
    return constitution, packs, overlay


def _paths(base: Path, value: Any, where: str) -> tuple[Path, ...]:
    """One path or a non-empty list of them."""
    if isinstance(value, list) and value:
        return tuple(_path(base, v, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(value, list):
        raise ConfigError(f"{where} must not be empty")
    return (_path(base, value, where),)


def _actions(
    actions: Mapping[str, Any], root: Path, source: str, trusted: bool
) -> tuple[tuple[Path, ...], tuple[Path, ...] | None]:
    """``[actions]``: the agent-runtime constitution layers (upper first) and their keys.

    ``constitution`` is a file or a list of files (constitution, packs, overlay);
    ``key`` names each one's signer in the same order, or is left out when the trust
    policy pins the signers of each layer.
    """
    if not actions:
        return (), None
    if "constitution" not in actions:
        raise ConfigError(f"{source}: [actions] needs constitution")
    files = _paths(root, actions["constitution"], f"{source}: actions.constitution")
    if "key" not in actions:
        if not trusted:
            raise ConfigError(
                f"{source}: [actions] needs key (one per constitution) or a trust_policy",
                hint="the trust policy's [layers.*] keys then sign each layer",
            )
        return files, None
    keys = _paths(root, actions["key"], f"{source}: actions.key")
    if len(keys) != len(files):
        raise ConfigError(
            f"{source}: actions.constitution lists {len(files)} file(s) but actions.key "
            f"{len(keys)}",
            hint="one key per constitution layer, in the same order",
        )
    return files, keys


def _tokens(raw: Mapping[str, Any], source: str) -> tuple[TokenEntry, ...]:
    """``[[tokens]]``: one name, role and secret hash each; names are unique."""
    tokens_raw = raw.get("tokens", [])
    if not isinstance(tokens_raw, list):
        raise ConfigError(f"{source}: tokens must be an array of tables ([[tokens]])")
    tokens = tuple(_token(item, f"{source}: tokens[{i}]") for i, item in enumerate(tokens_raw))
    if len({t.name for t in tokens}) != len(tokens):
        raise ConfigError(f"{source}: token names must be unique")
    return tokens


def _token(item: Any, where: str) -> TokenEntry:
    if not isinstance(item, dict):
        raise ConfigError(f"{where} must be a table")
    bad = set(item) - _TOKEN
    if bad:
        raise ConfigError(
            f"{where}: unknown key {sorted(bad)[0]}", hint="name, role, sha256, scrypt"
        )
    name = _str(item.get("name"), f"{where}.name")
    role = _str(item.get("role"), f"{where}.role")
    if role not in ROLES:
        raise ConfigError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
    hashes = [k for k in ("sha256", "scrypt") if k in item]
    if len(hashes) != 1:
        raise ConfigError(
            f"{where}: give exactly one of sha256 or scrypt (the hash of the secret)",
            hint="`charter runner token --role ROLE` prints a secret and its hash",
        )
    return parse_token_hash(name, role, hashes[0], _str(item[hashes[0]], where), where)


def _audit_store(audit: Mapping[str, Any], root: Path, source: str) -> str | None:
    store = audit.get("store")
    if store is None:
        return None
    if str(store).startswith(("postgres://", "postgresql://")):
        return str(store)
    return str(_path(root, store, f"{source}: audit.store"))


def _optional_path(raw: Mapping[str, Any], key: str, root: Path, source: str) -> Path | None:
    value = raw.get(key)
    return _path(root, value, f"{source}: {key}") if value is not None else None


def _load_toml(text: str, source: str) -> dict[str, Any]:
    try:
        raw = tomllib.loads(text.removeprefix("\ufeff"))  # a BOM some editors write
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: malformed TOML: {exc}") from exc
    unknown = set(raw) - _TOP
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {sorted(unknown)[0]}", hint=", ".join(sorted(_TOP))
        )
    return raw


def parse_config(text: str, *, source: str = "<config>", base: Path | None = None) -> RunnerConfig:
    raw = _load_toml(text, source)
    root = base if base is not None else Path.cwd()
    stack = _table(raw, "stack", _STACK, source)
    actions = _table(raw, "actions", _ACTIONS, source)
    audit = _table(raw, "audit", _AUDIT, source)
    approvals = _table(raw, "approvals", _APPROVALS, source)
    budget = _table(raw, "budget", _BUDGET, source)
    if "constitution" not in stack and "constitution" not in actions:
        raise ConfigError(
            f"{source}: nothing to serve: set stack.constitution and/or actions.constitution"
        )
    constitution, packs, overlay = _stack(stack, root, source)
    action_files, action_keys = _actions(actions, root, source, "trust_policy" in raw)
    waivers_dir, waiver_keys = _waivers(raw, root, source)
    if waivers_dir is not None and constitution is None:
        raise ConfigError(f"{source}: [waivers] apply to proposal rules: set stack.constitution")
    return RunnerConfig(
        listen=parse_listen(str(raw.get("listen", DEFAULT_LISTEN)), f"{source}: listen"),
        refresh_interval=_duration(
            raw.get("refresh_interval", DEFAULT_REFRESH), f"{source}: refresh_interval"
        ),
        trust_policy=_optional_path(raw, "trust_policy", root, source),
        state_dir=_optional_path(raw, "state_dir", root, source),
        insecure_registries=_bool(raw, "insecure_registries", source),
        registry_ca_file=_optional_path(raw, "registry_ca_file", root, source),
        watchdog_interval=_duration(
            raw.get("watchdog_interval", 5.0), f"{source}: watchdog_interval"
        ),
        public_metrics=_bool(raw, "public_metrics", source),
        evaluator_threads=_count(
            raw, "evaluator_threads", DEFAULT_EVALUATOR_THREADS, 1, MAX_EVALUATOR_THREADS, source
        ),
        evaluator_processes=_count(
            raw,
            "evaluator_processes",
            DEFAULT_EVALUATOR_PROCESSES,
            0,
            MAX_EVALUATOR_PROCESSES,
            source,
        ),  # fmt: skip
        constitution=constitution,
        packs=packs,
        overlay=overlay,
        profile=_optional_path(stack, "profile", root, f"{source}: [stack]"),
        action_constitution=action_files[0] if action_files else None,
        action_key=action_keys[0] if action_keys else None,
        action_layers=action_files[1:],
        action_layer_keys=action_keys[1:] if action_keys else (),
        audit_store=_audit_store(audit, root, source),
        record_inputs=_bool(audit, "record_inputs", f"{source}: [audit]"),
        approval_ttl=_duration(approvals.get("ttl", 86400.0), f"{source}: approvals.ttl"),
        approval_poll=_duration(
            approvals.get("poll_interval", 0.5), f"{source}: approvals.poll_interval"
        ),
        approval_lease=_duration(
            approvals.get("claim_lease", 60.0), f"{source}: approvals.claim_lease"
        ),
        budget_refresh=_duration(
            budget.get("refresh_interval", 1.0), f"{source}: budget.refresh_interval"
        ),
        approval_webhook=parse_webhook(approvals, root, source),
        tokens=_tokens(raw, source),
        waivers_dir=waivers_dir,
        identities=(
            parse_identities(raw["identities"], where=source) if "identities" in raw else None
        ),
        waiver_keys=waiver_keys,
        export=parse_export(raw, root, source),
        limits=parse_limits(raw, source),
        source=source,
    )


# ------------------------------------------------------------------- [export]
_EXPORT = {"http", "checkpoint"}
_EXPORT_HTTP = {"url", "secret_env", "key", "passphrase_env", "redact", "batch_size",
                "flush_interval", "queue_size", "timeout", "max_backoff"}  # fmt: skip
_EXPORT_CHECKPOINT = {"path", "key", "passphrase_env", "interval", "origin"}


@dataclass(frozen=True)
class HttpExport:
    """``[export.http]``: ship redacted records to ``url``, HMAC-signed, batched, retried."""

    url: str
    #: The environment variable holding the HMAC-SHA256 key (never the key itself).
    secret_env: str | None = None
    #: A private key (Ed25519 or P-256) signing each body too: receivers then need no secret.
    key: Path | None = None
    passphrase_env: str | None = None
    #: A redaction policy file (docs/design.md, 'Audit'); None: every class dropped.
    redact: Path | None = None
    batch_size: int = 100
    flush_interval: float = 1.0
    queue_size: int = 10000
    timeout: float = 10.0
    max_backoff: float = 60.0


@dataclass(frozen=True)
class CheckpointExport:
    """``[export.checkpoint]``: a signed checkpoint of the audit log, written to ``path``."""

    path: Path
    key: Path
    passphrase_env: str | None = None
    interval: float = 60.0
    origin: str | None = None


@dataclass(frozen=True)
class ExportConfig:
    http: HttpExport | None = None
    checkpoint: CheckpointExport | None = None


def _export_url(value: Any, where: str) -> str:
    url = _str(value, where)
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    host = host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0]
    if scheme == "https" and host:
        return url
    if scheme == "http" and hosts.is_loopback(host):
        return url
    raise ConfigError(
        f"{where}: {url!r} must be an https:// URL (plain http only to the loopback)",
        hint="records and their signatures must not cross the network in clear",
    )


def _env_name(value: Any, where: str) -> str:
    name = _str(value, where)
    if not name.replace("_", "").isalnum():
        raise ConfigError(f"{where}: {name!r} is not an environment variable name")
    return name


def _optional_env(table: Mapping[str, Any], key: str, where: str) -> str | None:
    return _env_name(table[key], f"{where}.{key}") if key in table else None


def parse_export(raw: Mapping[str, Any], root: Path, source: str) -> ExportConfig:
    """``[export]``: off unless ``[export.http]`` or ``[export.checkpoint]`` is given."""
    table = _table(raw, "export", _EXPORT, source)
    http = _table(table, "http", _EXPORT_HTTP, f"{source}: [export]") if "http" in table else None
    cp = (
        _table(table, "checkpoint", _EXPORT_CHECKPOINT, f"{source}: [export]")
        if "checkpoint" in table
        else None
    )
    where = f"{source}: export.http"
    if http is not None and "secret_env" not in http and "key" not in http:
        raise ConfigError(
            f"{where}: bodies must be signed: set secret_env (HMAC-SHA256) and/or key (Ed25519)"
        )
    return ExportConfig(
        http=None
        if http is None
        else HttpExport(
            url=_export_url(http.get("url"), f"{where}.url"),
            secret_env=_optional_env(http, "secret_env", where),
            key=_optional_path(http, "key", root, where),
            passphrase_env=_optional_env(http, "passphrase_env", where),
            redact=_optional_path(http, "redact", root, where),
            batch_size=_count(http, "batch_size", 100, 1, 10000, where),
            flush_interval=_duration(http.get("flush_interval", 1.0), f"{where}.flush_interval"),
            queue_size=_count(http, "queue_size", 10000, 1, 10_000_000, where),
            timeout=_duration(http.get("timeout", 10.0), f"{where}.timeout"),
            max_backoff=_duration(http.get("max_backoff", 60.0), f"{where}.max_backoff"),
        ),
        checkpoint=None if cp is None else _checkpoint_export(cp, root, source),
    )


def _checkpoint_export(cp: Mapping[str, Any], root: Path, source: str) -> CheckpointExport:
    where = f"{source}: export.checkpoint"
    for required in ("path", "key"):
        if required not in cp:
            raise ConfigError(f"{where} needs {required}", hint="path = FILE, key = PRIVATE KEY")
    origin = cp.get("origin")
    return CheckpointExport(
        path=_path(root, cp["path"], f"{where}.path"),
        key=_path(root, cp["key"], f"{where}.key"),
        passphrase_env=_optional_env(cp, "passphrase_env", where),
        interval=_duration(cp.get("interval", 60.0), f"{where}.interval"),
        origin=_str(origin, f"{where}.origin") if origin is not None else None,
    )


# ------------------------------------------------------- [approvals.webhook]
_WEBHOOK = {"url", "secret_env", "runner_url", "redact", "batch_size", "flush_interval",
            "queue_size", "timeout", "max_backoff"}  # fmt: skip


@dataclass(frozen=True)
class WebhookConfig:
    """``[approvals.webhook]``: POST each ``ask`` (redacted, HMAC-signed) to ``url``."""

    url: str
    #: The environment variable holding the HMAC-SHA256 key (never the key itself).
    secret_env: str
    #: The runner as approvers reach it (the load balancer): the base of the links to
    #: the console and the API that the payload carries.
    runner_url: str
    #: A redaction policy file (docs/design.md, 'Audit'); None: every class dropped.
    redact: Path | None = None
    #: 1: one request per ask; more: up to that many asks per request.
    batch_size: int = 1
    flush_interval: float = 1.0
    queue_size: int = 1000
    timeout: float = 10.0
    max_backoff: float = 60.0


def _runner_url(value: Any, where: str) -> str:
    url = _str(value, where).rstrip("/")
    scheme, _, rest = url.partition("://")
    if scheme not in ("http", "https") or not rest or any(c in rest for c in "?#@ \"'<>"):
        raise ConfigError(
            f"{where}: {value!r} is not an http(s) URL without query, fragment or credentials",
            hint='the runner as approvers reach it, e.g. "https://charter.example.com"',
        )
    return url


def parse_webhook(approvals: Mapping[str, Any], root: Path, source: str) -> WebhookConfig | None:
    """``[approvals.webhook]``: off unless given; ``url``, ``secret_env`` and ``runner_url``
    are required (bodies are always signed)."""
    if "webhook" not in approvals:
        return None
    where = f"{source}: approvals.webhook"
    table = _table(approvals, "webhook", _WEBHOOK, f"{source}: [approvals]")
    for required in ("url", "secret_env", "runner_url"):
        if required not in table:
            raise ConfigError(
                f"{where} needs {required}",
                hint='url = "https://…", secret_env = "CHARTER_WEBHOOK_SECRET", '
                'runner_url = "https://charter.example.com"',
            )
    return WebhookConfig(
        url=_export_url(table["url"], f"{where}.url"),
        secret_env=_env_name(table["secret_env"], f"{where}.secret_env"),
        runner_url=_runner_url(table["runner_url"], f"{where}.runner_url"),
        redact=_optional_path(table, "redact", root, where),
        batch_size=_count(table, "batch_size", 1, 1, 1000, where),
        flush_interval=_duration(table.get("flush_interval", 1.0), f"{where}.flush_interval"),
        queue_size=_count(table, "queue_size", 1000, 1, 1_000_000, where),
        timeout=_duration(table.get("timeout", 10.0), f"{where}.timeout"),
        max_backoff=_duration(table.get("max_backoff", 60.0), f"{where}.max_backoff"),
    )


def load_config(path: str | Path) -> RunnerConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such runner config") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the runner config ({exc})") from exc
    return parse_config(text, source=str(p), base=p.resolve().parent)
