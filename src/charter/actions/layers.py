"""Agent-runtime constitutions in layers: constitution → packs → overlay, composed to one.

Each layer is a signed constitution TOML, verified against its own pinned signer (a
``--key`` per layer, or the trust policy's signers for its kind), then composed
monotonically (docs/design.md, 'Layers and the ratchet'):

- ``forbidden`` and ``requires_approval`` are unions: whatever any layer denies or
  asks stays denied or asked; the verdict is the maximum over the layers.
- ``auto_allowed`` comes from the top layer only. A lower layer's own auto-allowed
  patterns can at most confirm the upper layer's allow (the linter checks they lie
  inside the upper's language, CHARTER-L030); they never allow what an upper layer
  asks, denies or does not mention. A command a lower layer does not mention keeps
  the upper layer's verdict, so an additions-only overlay changes nothing else.
- numeric limits take the smallest value any layer sets; allowed directories
  intersect, blocked directories unite; ``can_*`` are AND-ed and ``sandbox_only``
  OR-ed per role; a role the top layer does not list stays unknown (ask).

A gate built from one file is the one-layer case of the same code. The kind of each
layer is its position (the first is the ``constitution``; the last of two or more is
the ``overlay``, the ones between are ``pack``s) unless the signed ``[metadata]``
table says ``layer = "pack"``/``"overlay"``; ``[metadata] name`` names it (default:
the file's stem). Accepted versions are remembered per layer in the state directory
(:class:`charter.trust.versions.VersionState`): an older version, or the same
version with other content, is refused.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from charter.actions.constitution import (
    TOP_LABEL,
    Constitution,
    Identity,
    LayerRef,
    ModelPermission,
    ResourceLimits,
    parse_text,
    verify_constitution,
)
from charter.core.digests import sha256_bytes
from charter.core.errors import InputError, TrustError, VerificationError
from charter.trust import keys
from charter.trust.versions import VersionState

if TYPE_CHECKING:  # the policy module (and its keyless verifier) loads only with --trust
    from charter.trust.policy import TrustPolicy

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_NUMERIC = (
    "max_api_cost_per_run",
    "max_api_cost_per_day",
    "max_execution_time",
    "max_concurrent_workflows",
    "max_file_write_size",
)
#: The kinds of layer, top first (as :data:`charter.trust.policy.LAYER_KINDS`).
LAYER_KINDS = ("constitution", "pack", "overlay")
#: A version to record once the whole load succeeded: (key, version, checksum).
Accept = tuple[str, str, str]


@dataclass(frozen=True)
class LayerFile:
    """One verified constitution file and where it sits in the stack."""

    constitution: Constitution
    kind: str
    name: str
    path: str
    #: SHA-256 of the exact bytes verified (what the watchdog re-hashes).
    digest: str
    key_id: str
    #: How the accepted-version record names it: ``[metadata] name``, else the path.
    state_name: str

    @property
    def label(self) -> str:
        return TOP_LABEL if self.kind == "constitution" else f"{self.kind}:{self.name}"

    @property
    def state_key(self) -> str:
        return f"actions/{self.kind}/{self.state_name}"

    @property
    def ref(self) -> LayerRef:
        c = self.constitution
        return LayerRef(self.kind, self.name, self.label, self.path, c.version, c.checksum,
                        self.key_id)  # fmt: skip


# ------------------------------------------------------------------ kinds and names


def _metadata(c: Constitution, key: str) -> str | None:
    meta = c.document.get("metadata")
    value = meta.get(key) if isinstance(meta, dict) else None
    if value is None:
        return None
    if not isinstance(value, str) or not (_NAME.match(value) if key == "name" else True):
        raise InputError(
            f"{c.source}: metadata.{key} must be a short name (letters, digits, . _ -)"
        )
    return value


def layer_kinds(constitutions: Sequence[Constitution]) -> list[str]:
    """The kind of each layer, upper first: declared in ``[metadata] layer`` or by position.

    The first is the constitution; packs follow; at most one overlay comes last.
    """
    kinds: list[str] = []
    count = len(constitutions)
    for i, c in enumerate(constitutions):
        declared = _metadata(c, "layer")
        if declared is not None and declared not in LAYER_KINDS:
            raise InputError(
                f"{c.source}: metadata.layer = {declared!r} is not a layer kind",
                hint=", ".join(LAYER_KINDS),
            )
        default = "constitution" if i == 0 else ("overlay" if i == count - 1 else "pack")
        kinds.append(declared or default)
    order = {kind: n for n, kind in enumerate(LAYER_KINDS)}
    for i, (c, kind) in enumerate(zip(constitutions, kinds, strict=True)):
        if (i == 0) != (kind == "constitution"):
            raise InputError(
                f"{c.source}: is a {kind} layer in position {i + 1}; the first --constitution "
                "is the constitution and only it",
                hint="pass the layers upper first: constitution, packs, overlay",
            )
        if i and order[kind] < order[kinds[i - 1]]:
            raise InputError(
                f"{c.source}: a {kind} layer cannot come below the {kinds[i - 1]} layer",
                hint="pass the layers upper first: constitution, packs, overlay",
            )
    if kinds.count("overlay") > 1:
        raise InputError(
            "more than one overlay layer",
            hint='declare the others as packs: [metadata] layer = "pack"',
        )
    return kinds


# ------------------------------------------------------------------ verification


def verify_layer(
    c: Constitution, kind: str, key: keys.PublicKey | None, trust: TrustPolicy | None
) -> str:
    """Verify one layer against its own key, or the trust policy's signers for ``kind``;
    return the signer's key id. Raise a :class:`TrustError` subclass.

    A ``version`` pin in the policy is the bundle's (the Rego constitution and the TOML
    one are versioned apart); a TOML layer's versions are guarded by the accepted-version
    record instead (:func:`version_accepts`).
    """
    if key is not None:
        return verify_constitution(c, key).key_id
    if trust is None:
        raise VerificationError(
            f"{c.source}: no signer is pinned for this layer",
            hint="pass one --key per --constitution, in the same order, or --trust POLICY",
        )
    pinned = trust.for_layer(kind)
    if not pinned.keys:
        raise VerificationError(
            f"{c.source}: the trust policy pins no key for the {kind} layer (a constitution "
            "TOML is signed with a key, not keyless)",
            hint=f"add keys = [...] to [layers.{kind}] in {trust.source}",
        )
    signer = c.identity.signed_by
    candidates = [k for k in pinned.keys if signer is None or keys.key_id(k) == signer]
    if not candidates:
        raise VerificationError(
            f"{c.source}: signed by {signer}, which {trust.source} does not pin for the "
            f"{kind} layer",
            hint=f"sign it with a key listed under [layers.{kind}]",
        )
    failure: TrustError | None = None
    for candidate in candidates:
        try:
            return verify_constitution(c, candidate).key_id
        except TrustError as exc:
            failure = failure or exc
    assert failure is not None  # noqa: S101 - candidates is not empty
    raise failure


@functools.lru_cache(maxsize=32)
def _verified(text: str, source: str, key_pem: bytes | None) -> Constitution:
    """Parse and verify with one key; cached on the exact text and key."""
    c = parse_text(text, source)
    if key_pem is not None:
        verify_constitution(c, keys.public_from_pem(key_pem))
    return c


def read_layers(
    files: Sequence[str | Path],
    key_files: Sequence[str | Path] | None = None,
    *,
    trust: TrustPolicy | None = None,
) -> tuple[LayerFile, ...]:
    """Read each file once, verify those bytes against its own signer, upper first.

    Either one key per file (``key_files``, same order) or a trust policy; an
    unsigned, tampered, wrongly signed or misplaced layer raises before anything is
    composed.
    """
    if not files:
        raise InputError("no constitution given", hint="pass --constitution FILE")
    if key_files and trust is not None:
        raise InputError("pass either --key for each --constitution or --trust, not both")
    if trust is None and len(key_files or ()) != len(files):
        raise InputError(
            f"{len(files)} --constitution file(s) but {len(key_files or ())} --key file(s)",
            hint="pass one --key per --constitution in the same order, or one --trust policy",
        )
    texts: list[tuple[str, bytes, str]] = []
    for f in files:
        data, text = read_bytes(Path(f))
        texts.append((str(f), data, text))
    publics = [keys.load_public(k) for k in key_files or ()]
    parsed: list[Constitution] = []
    for i, (source, _, text) in enumerate(texts):
        pem = keys.public_pem(publics[i]) if publics else None
        parsed.append(_verified(text, source, pem))  # verified here when a key is given
    kinds = layer_kinds(parsed)
    layers: list[LayerFile] = []
    for i, ((source, data, _), c, kind) in enumerate(zip(texts, parsed, kinds, strict=True)):
        # verified above against its own key (cached), or now under the trust policy
        key_id = keys.key_id(publics[i]) if publics else verify_layer(c, kind, None, trust)
        name = _metadata(c, "name")
        layers.append(
            LayerFile(
                c,
                kind,
                name or Path(source).stem,
                source,
                sha256_bytes(data),
                key_id,
                name or str(Path(source).resolve()),
            )  # fmt: skip
        )
    return tuple(layers)


def read_bytes(path: Path) -> tuple[bytes, str]:
    """A constitution file's bytes (what is verified and watched) and its UTF-8 text."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such constitution file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        return data, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: the constitution must be UTF-8") from exc


# ------------------------------------------------------------------ versions


def version_accepts(layers: Sequence[LayerFile], state: VersionState) -> list[Accept]:
    """Check every layer against the accepted versions; what to record once it is used.

    Raise :class:`~charter.core.errors.RollbackError` for an older version, or the
    same version with other content, than the one accepted before.
    """
    accepts: list[Accept] = []
    for layer in layers:
        c = layer.constitution
        state.check(layer.state_key, c.version, c.checksum, allow_major=True)
        accepts.append((layer.state_key, c.version, c.checksum))
    return accepts


def accept_versions(accepts: Sequence[Accept], state: VersionState) -> None:
    """Record each version (checked again under the state's lock)."""
    for key, version, checksum in accepts:
        state.accept(key, version, checksum, allow_major=True)


# ------------------------------------------------------------------ composition


def dir_inside(inner: str, outer: str) -> bool:
    """Whether directory ``inner`` lies inside ``outer``, as written (``~`` and relative
    paths compared as written; ``/`` holds every absolute path, ``.`` every relative one)."""
    a, b = _normal_dir(inner), _normal_dir(outer)
    if b == ".":
        return not a.startswith(("/", "~", "..")) and a != ".."
    if b == "/":
        return a.startswith("/")
    return a == b or a.startswith(b.rstrip("/") + "/")


def _normal_dir(path: str) -> str:
    if path.startswith("~"):
        head, _, rest = path.partition("/")
        return head + ("/" + posixpath.normpath(rest) if rest else "")
    return posixpath.normpath(path)


def intersect_directories(upper: Sequence[str], lower: Sequence[str]) -> tuple[str, ...]:
    """The directories inside both lists: each entry of one that lies inside an entry
    of the other. What cannot be compared as written (``./src`` against ``/work``) is
    inside neither, so the intersection only ever shrinks."""
    inside = [d for d in lower if any(dir_inside(d, u) for u in upper)]
    inside += [u for u in upper if any(dir_inside(u, d) for d in lower)]
    return tuple(dict.fromkeys(inside))


def compose(layers: Sequence[LayerFile]) -> Constitution:
    """One constitution that decides as the stack does (one layer: that layer)."""
    if not layers:
        raise InputError("no constitution layer to compose")
    top = layers[0].constitution
    origins: dict[str, tuple[str, str]] = {}
    lists = {kind: _union(layers, kind, origins) for kind in ("forbidden", "requires_approval")}
    limits = _limits(layers, origins)
    perms = _permissions(layers, origins)
    document: dict[str, Any] = (
        top.document
        if len(layers) == 1
        else {"identity": top.document.get("identity", {}),
              "layers": [{k: v for k, v in x.constitution.document.items() if k != "identity"}
                         for x in layers]}
    )  # fmt: skip
    return Constitution(
        identity=Identity(
            top.identity.version,
            top.identity.checksum,
            top.identity.signed_by,
            top.identity.signature,
        ),  # fmt: skip
        forbidden=lists["forbidden"],
        requires_approval=lists["requires_approval"],
        auto_allowed=top.auto_allowed,
        limits=limits,
        model_permissions=perms,
        document=document,
        source=top.source,
        lines=top.lines,
        layers=tuple(x.ref for x in layers),
        origins=origins if len(layers) > 1 else {},
        known_roles=frozenset(top.model_permissions) if top.model_permissions else None,
    )


def _union(
    layers: Sequence[LayerFile], kind: str, origins: dict[str, tuple[str, str]]
) -> tuple[str, ...]:
    out: list[str] = []
    for layer in layers:
        upper = set(out)
        for i, text in enumerate(getattr(layer.constitution, kind)):
            if text in upper:
                continue  # restated from an upper layer: the upper layer's entry decides
            origins[f"boundaries.{kind}[{len(out)}]"] = (layer.label, f"boundaries.{kind}[{i}]")
            out.append(text)
    return tuple(out)


def _limits(layers: Sequence[LayerFile], origins: dict[str, tuple[str, str]]) -> ResourceLimits:
    values: dict[str, Any] = {}
    for key in _NUMERIC:
        best: tuple[Any, str] | None = None
        for layer in layers:
            value = getattr(layer.constitution.limits, key)
            if value is not None and (best is None or value < best[0]):
                best = (value, layer.label)
        if best is not None:
            values[key] = best[0]
            origins[f"resource_limits.{key}"] = (best[1], f"resource_limits.{key}")
    allowed: tuple[str, ...] | None = None
    for layer in layers:
        mine = layer.constitution.limits.allowed_directories
        if mine is None:
            continue
        allowed = mine if allowed is None else intersect_directories(allowed, mine)
        origins["resource_limits.allowed_directories"] = (
            layer.label, "resource_limits.allowed_directories"
        )  # fmt: skip
    blocked: list[str] = []
    for layer in layers:
        for d in layer.constitution.limits.blocked_directories:
            if d not in blocked:
                blocked.append(d)
                origins[f"dir:blocked directory {d!r}"] = (
                    layer.label, "resource_limits.blocked_directories"
                )  # fmt: skip
    return ResourceLimits(**values, allowed_directories=allowed, blocked_directories=tuple(blocked))


def _permissions(
    layers: Sequence[LayerFile], origins: dict[str, tuple[str, str]]
) -> dict[str, ModelPermission]:
    roles: dict[str, ModelPermission] = {}
    for layer in layers:
        for role, p in layer.constitution.model_permissions.items():
            old = roles.get(role)
            merged = (
                p
                if old is None
                else ModelPermission(
                    can_execute=old.can_execute and p.can_execute,
                    can_read=old.can_read and p.can_read,
                    can_write=old.can_write and p.can_write,
                    sandbox_only=old.sandbox_only or p.sandbox_only,
                )
            )
            for key in ("can_execute", "can_read", "can_write"):
                rule = f"model_permissions.{role}.{key}"
                if not getattr(p, key) and rule not in origins:
                    origins[rule] = (layer.label, rule)
            roles[role] = merged
    return roles


__all__ = [
    "Accept",
    "LayerFile",
    "accept_versions",
    "compose",
    "dir_inside",
    "intersect_directories",
    "layer_kinds",
    "read_layers",
    "verify_layer",
    "version_accepts",
]
