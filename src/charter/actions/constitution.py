"""The agent-runtime constitution: a signed TOML file of boundaries and limits.

Format (docs/design.md, 'Action gate')::

    [identity]          version, checksum, signed_by, signature
    [boundaries]        forbidden, requires_approval, auto_allowed  (command patterns)
    [resource_limits]   max_api_cost_per_run, max_api_cost_per_day, max_execution_time,
                        max_concurrent_workflows, max_file_write_size,
                        allowed_directories, blocked_directories
    [model_permissions] <role> = { can_execute, can_read, can_write, sandbox_only }

**Checksum.** Parse the TOML, drop the ``[identity]`` table, turn TOML dates and
times into their ``str()`` text (``1979-05-27 07:32:00+00:00``), serialise the rest
with :func:`charter.core.jsonio.canonical` (compact JSON, sorted keys, UTF-8), and
take the SHA-256 (lower-case hex; an upper-case checksum in the file is the same
checksum). Whitespace, comments, key order and quoting style therefore do not
change the checksum; any value does. A leading UTF-8 byte order mark is ignored.

**Signature.** ``signature`` is base64 of the Ed25519 (or ECDSA P-256, DER)
signature over :func:`signed_message`, the UTF-8 bytes of::

    charter-constitution-signature-v2\n
    version=<[identity].version exactly as written>\n
    checksum=<the lower-case hex checksum>\n

so the version cannot be edited without breaking the signature. ``signed_by`` is the
key id (``sha256:`` + SHA-256 of the signer's SPKI DER). A file signed the old way
(over the bare hex checksum, which left the version unsigned) is refused with a hint
to re-sign it with ``charter constitution sign``.

**Layers.** A :class:`Constitution` is also what a stack of them composes to
(:mod:`charter.actions.layers`): ``layers`` then names each verified layer, and
:meth:`Constitution.attribute` names the layer behind each reason. A parsed file is
the one-layer case.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import semver
import tomlkit

from charter.core import jsonio
from charter.core.decision import Reason
from charter.core.errors import InputError, TrustError, VerificationError
from charter.trust import keys

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)?\s*$", re.IGNORECASE)
_UNITS = {
    "": 1, "B": 1,
    "K": 1000, "KB": 1000, "KIB": 1024,
    "M": 1000**2, "MB": 1000**2, "MIB": 1024**2,
    "G": 1000**3, "GB": 1000**3, "GIB": 1024**3,
    "T": 1000**4, "TB": 1000**4, "TIB": 1024**4,
}  # fmt: skip

IDENTITY_KEYS = {"version", "checksum", "signed_by", "signature"}
BOUNDARY_KEYS = {"forbidden", "requires_approval", "auto_allowed"}
LIMIT_KEYS = {
    "max_api_cost_per_run": "number",
    "max_api_cost_per_day": "number",
    "max_execution_time": "integer",
    "max_concurrent_workflows": "integer",
    "max_file_write_size": "size",
    "allowed_directories": "paths",
    "blocked_directories": "paths",
}
PERMISSION_KEYS = {"can_execute", "can_read", "can_write", "sandbox_only"}
TOP_KEYS = {"identity", "boundaries", "resource_limits", "model_permissions", "metadata"}


def parse_size(value: Any, where: str) -> int:
    """``"10MB"`` → 10_000_000; ``"1MiB"`` → 1_048_576; integers are bytes."""
    if isinstance(value, bool):
        raise InputError(f'{where} must be a size like "10MB", not a boolean')
    if isinstance(value, int):
        if value < 0:
            raise InputError(f"{where} must not be negative")
        return value
    if isinstance(value, str) and (m := _SIZE.match(value)):
        unit = (m[2] or "").upper()
        if unit in _UNITS:
            return int(float(m[1]) * _UNITS[unit])
    raise InputError(f"{where} = {value!r} is not a size", hint='write e.g. "10MB" or "512KiB"')


@dataclass(frozen=True)
class Identity:
    version: str
    checksum: str | None
    signed_by: str | None
    signature: str | None


@dataclass(frozen=True)
class ModelPermission:
    can_execute: bool = True
    can_read: bool = True
    can_write: bool = True
    sandbox_only: bool = False


@dataclass(frozen=True)
class ResourceLimits:
    max_api_cost_per_run: float | None = None
    max_api_cost_per_day: float | None = None
    max_execution_time: int | None = None
    max_concurrent_workflows: int | None = None
    max_file_write_size: int | None = None
    allowed_directories: tuple[str, ...] | None = None
    blocked_directories: tuple[str, ...] = ()


#: The reason's layer when no composed layer is named (a one-layer gate).
TOP_LABEL = "constitution"


@dataclass(frozen=True)
class LayerRef:
    """One verified layer of a composed constitution, as the decision's stack names it."""

    kind: str  # constitution | pack | overlay
    name: str
    label: str  # what a reason's ``layer`` says: "constitution", "pack:hipaa", "overlay:team"
    source: str
    version: str
    checksum: str
    key_id: str | None = None


@dataclass(frozen=True)
class Constitution:
    identity: Identity
    forbidden: tuple[str, ...]
    requires_approval: tuple[str, ...]
    auto_allowed: tuple[str, ...]
    limits: ResourceLimits
    model_permissions: dict[str, ModelPermission]
    document: dict[str, Any] = field(compare=False, repr=False)
    source: str = ""
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    #: The layers this constitution was composed from, upper first (empty: one parsed file).
    layers: tuple[LayerRef, ...] = field(default=(), compare=False)
    #: Composed only: rule → (layer label, the rule as that layer's file names it).
    origins: Mapping[str, tuple[str, str]] = field(default_factory=dict, compare=False, repr=False)
    #: Composed only: the roles the top layer lists (None: every role is known).
    known_roles: frozenset[str] | None = field(default=None, compare=False)

    @property
    def version(self) -> str:
        return self.identity.version

    @property
    def checksum(self) -> str:
        return canonical_checksum(self.document)

    @property
    def sources(self) -> tuple[str, ...]:
        """The files this constitution was read from (every layer's)."""
        if self.layers:
            return tuple(x.source for x in self.layers)
        return (self.source,) if self.source else ()

    def role_known(self, role: str) -> bool:
        """Whether ``role`` is listed: a role the top layer does not list is unknown when
        it lists any (a lower layer cannot make a role known; it can only restrict it)."""
        if self.known_roles is not None:
            return role in self.known_roles
        return not self.model_permissions or role in self.model_permissions

    def stack_entries(self) -> tuple[dict[str, str], ...]:
        """The decision's ``stack``: each layer with its version and content digest."""
        if not self.layers:
            return (
                {
                    "layer": "constitution",
                    "name": "agent-constitution",
                    "version": self.version,
                    "digest": "sha256:" + self.checksum,
                },
            )
        return tuple(
            {
                "layer": x.kind,
                "name": "agent-constitution" if x.kind == "constitution" else x.name,
                "version": x.version,
                "digest": "sha256:" + x.checksum,
            }
            for x in self.layers
        )

    def attribute(self, reasons: list[Reason]) -> list[Reason]:
        """``reasons`` with each one's ``layer`` naming the layer that decided it."""
        if len(self.layers) < 2:
            return reasons
        out: list[Reason] = []
        for r in reasons:
            origin = self.origins.get(r.rule)
            if origin is None and r.rule == "resource_limits.blocked_directories":
                origin = next(
                    (o for d, o in self.origins.items() if d.startswith("dir:") and d[4:] in r.msg),
                    None,
                )
            if origin is None or (origin[0] == r.layer and origin[1] == r.rule):
                out.append(r)
            else:
                out.append(dataclasses.replace(r, layer=origin[0], rule=origin[1]))
        return out


def _line_index(text: str) -> dict[str, int]:
    """Map ``table.key`` (and ``table``) to its 1-based line, for messages."""
    index: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if m := re.match(r"^\[\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]", stripped):
            table = m[1].replace('"', "").replace("'", "")
            index.setdefault(table, number)
        elif m := re.match(r"^([A-Za-z0-9_\-\"']+)\s*=", stripped):
            key = m[1].strip("\"'")
            index.setdefault(f"{table}.{key}" if table else key, number)
    return index


def _at(source: str, lines: dict[str, int], key: str) -> str:
    line = lines.get(key) or lines.get(key.rsplit(".", 1)[0])
    return f"{source}:{line}" if line else source


def json_value(value: Any, where: str = "") -> Any:
    """A parsed TOML value as JSON: dates and times become their ``str()`` text.

    That is the text the first checksums were computed on, so existing signatures
    keep verifying. A non-finite number (``inf``, ``nan``) has no JSON form.
    """
    if isinstance(value, dict):
        return {k: json_value(v, f"{where}.{k}" if where else k) for k, v in value.items()}
    if isinstance(value, list):
        return [json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(
            f"{where or 'the constitution'} = {value!r} is not a finite number",
            hint="see docs/design.md, 'Action gate'",
        )
    return value


def canonical_bytes(document: dict[str, Any]) -> bytes:
    """The bytes the checksum is taken over (everything but ``[identity]``)."""
    body = {k: v for k, v in document.items() if k != "identity"}
    return jsonio.canonical_bytes(json_value(body))


def canonical_checksum(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(document)).hexdigest()


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where} must be a list of strings")
    if any(not v.strip() for v in value):
        raise InputError(f"{where} must not contain empty patterns")
    return tuple(value)


def parse_text(text: str, source: str = "<constitution>") -> Constitution:
    """Parse and validate a constitution TOML document (signature not checked)."""
    text = text.removeprefix("\ufeff")  # a UTF-8 byte order mark is not content
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: malformed TOML: {exc}") from exc
    lines = _line_index(text)

    def at(key: str) -> str:
        return _at(source, lines, key)

    for key in document:
        if key not in TOP_KEYS:
            raise InputError(
                f"{at(key)}: unknown table or key [{key}]",
                hint=f"known tables: {', '.join(sorted(TOP_KEYS))}",
            )
    for key in TOP_KEYS & set(document):
        if not isinstance(document[key], dict):
            raise InputError(f"{at(key)}: [{key}] must be a table")
    if "identity" not in document:
        raise InputError(
            f"{source}: the constitution is not signed (it has no [identity] table)",
            hint='add [identity] with version = "1.0.0", then run `charter constitution sign FILE`',
        )
    identity = _identity(document["identity"], at)  # checked in the document's order
    patterns = _boundaries(document.get("boundaries", {}), at)
    limits = _limits(document.get("resource_limits", {}), at)
    return Constitution(
        identity=identity,
        forbidden=patterns["forbidden"],
        requires_approval=patterns["requires_approval"],
        auto_allowed=patterns["auto_allowed"],
        limits=limits,
        model_permissions=_permissions(document.get("model_permissions", {}), at),
        document=document,
        source=source,
        lines=lines,
    )


def _identity(ident: dict[str, Any], at: Callable[[str], str]) -> Identity:
    for key in ident:
        if key not in IDENTITY_KEYS:
            raise InputError(f"{at(f'identity.{key}')}: unknown key identity.{key}")
    version = ident.get("version")
    if (
        not isinstance(version, str)
        or not version.isascii()
        or not semver.Version.is_valid(version)
    ):
        raise InputError(
            f"{at('identity.version')}: identity.version must be a semantic "
            f"version, got {version!r}",
            hint='e.g. version = "1.0.0"',
        )
    for key in ("checksum", "signed_by", "signature"):
        if key in ident and not isinstance(ident[key], str):
            raise InputError(f"{at(f'identity.{key}')}: identity.{key} must be a string")
    return Identity(version, ident.get("checksum"), ident.get("signed_by"), ident.get("signature"))


def _boundaries(bounds: dict[str, Any], at: Callable[[str], str]) -> dict[str, tuple[str, ...]]:
    for key in bounds:
        if key not in BOUNDARY_KEYS:
            raise InputError(
                f"{at(f'boundaries.{key}')}: unknown key boundaries.{key}",
                hint=f"known keys: {', '.join(sorted(BOUNDARY_KEYS))}",
            )
    return {
        key: _strings(bounds.get(key, []), f"{at(f'boundaries.{key}')}: boundaries.{key}")
        for key in BOUNDARY_KEYS
    }


def _limits(raw_limits: dict[str, Any], at: Callable[[str], str]) -> ResourceLimits:
    limit_values: dict[str, Any] = {}
    for key, value in raw_limits.items():
        where = f"{at(f'resource_limits.{key}')}: resource_limits.{key}"
        kind = LIMIT_KEYS.get(key)
        if kind is None:
            raise InputError(
                f"{where}: unknown key", hint=f"known keys: {', '.join(sorted(LIMIT_KEYS))}"
            )
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise InputError(f"{where} must be a non-negative number, got {value!r}")
            limit_values[key] = float(value)
        elif kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"{where} must be a non-negative integer, got {value!r}")
            limit_values[key] = value
        elif kind == "size":
            limit_values[key] = parse_size(value, where)
        else:
            limit_values[key] = _strings(value, where)
    return ResourceLimits(**limit_values)


def _permissions(raw_perms: dict[str, Any], at: Callable[[str], str]) -> dict[str, ModelPermission]:
    perms: dict[str, ModelPermission] = {}
    for role, raw in raw_perms.items():
        where = at(f"model_permissions.{role}")
        if not isinstance(raw, dict):
            raise InputError(f"{where}: model_permissions.{role} must be an inline table")
        for key, value in raw.items():
            if key not in PERMISSION_KEYS:
                raise InputError(
                    f"{where}: unknown key model_permissions.{role}.{key}",
                    hint=f"known keys: {', '.join(sorted(PERMISSION_KEYS))}",
                )
            if not isinstance(value, bool):
                raise InputError(f"{where}: model_permissions.{role}.{key} must be true or false")
        perms[role] = ModelPermission(**raw)
    return perms


def read(path: str | Path) -> tuple[str, Constitution]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{p}: no such constitution file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read ({exc})") from exc
    return text, parse_text(text, str(p))


@dataclass(frozen=True)
class VerifyResult:
    constitution: Constitution
    checksum: str
    key_id: str


class ChecksumMismatch(VerificationError):
    """The constitution's content no longer matches its recorded checksum."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__("Constitution has been modified!")
        self.expected = expected
        self.actual = actual

    def __str__(self) -> str:
        return (
            f"VERIFICATION FAILED: Constitution has been modified! "
            f"Expected checksum: {self.expected} Actual checksum: {self.actual}"
        )


#: The first line of every signed message (a domain separator: no other Charter
#: signature, and no signature of the old format, can ever be over these bytes).
SIGNED_HEADER = "charter-constitution-signature-v2"


def signed_message(version: str, checksum: str) -> bytes:
    """The bytes a constitution's signature is over: the version and the checksum.

    ``version`` is ``[identity].version`` exactly as written; ``checksum`` is the
    lower-case hex SHA-256 of the canonical content (:func:`canonical_checksum`).
    """
    return f"{SIGNED_HEADER}\nversion={version}\nchecksum={checksum.lower()}\n".encode()


def verify_constitution(constitution: Constitution, public: keys.PublicKey) -> VerifyResult:
    """Check checksum, key id and the signature over version and checksum.

    Raise a :class:`TrustError` subclass; a file signed the old way (over the bare
    checksum, so its version is unsigned) is refused with a hint to re-sign it.
    """
    ident = constitution.identity
    if not ident.checksum or not ident.signature:
        raise VerificationError(
            f"{constitution.source}: the constitution is not signed",
            hint="run `charter constitution sign FILE`",
        )
    actual = canonical_checksum(constitution.document)
    if actual != ident.checksum.strip().lower():
        raise ChecksumMismatch(ident.checksum, actual)
    expected_id = keys.key_id(public)
    if ident.signed_by and ident.signed_by != expected_id:
        raise VerificationError(
            f"{constitution.source}: signed by {ident.signed_by}, "
            f"not by the given key {expected_id}",
            hint="pass the public key of the signer with --key",
        )
    try:
        signature = base64.b64decode(ident.signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(f"{constitution.source}: identity.signature is not base64") from exc
    try:
        keys.verify(public, signature, signed_message(ident.version, actual))
    except TrustError as exc:
        if _signed_the_old_way(public, signature, actual):
            raise VerificationError(
                f"{constitution.source}: signed the old way: the signature covers the "
                f"checksum but not [identity].version, so the version {ident.version} is "
                "not proven",
                hint="re-sign it with `charter constitution sign FILE` (then deploy it again)",
            ) from exc
        raise VerificationError(
            f"{constitution.source}: bad signature: the signature does not cover this "
            f"version ({ident.version}) and content with the given key",
            hint="the file was signed with another key, or its version or signature was altered",
        ) from exc
    return VerifyResult(constitution, actual, expected_id)


def _signed_the_old_way(public: keys.PublicKey, signature: bytes, checksum: str) -> bool:
    try:
        keys.verify(public, signature, checksum.encode("ascii"))
    except TrustError:
        return False
    return True


def load_verified(path: str | Path, public: keys.PublicKey | str | Path) -> Constitution:
    """Read a constitution and verify it before anything else looks at it."""
    key = public if not isinstance(public, (str, Path)) else keys.load_public(public)
    _, constitution = read(path)
    return verify_constitution(constitution, key).constitution


def sign_text(text: str, private: keys.PrivateKey, source: str = "<constitution>") -> str:
    """Return ``text`` with a fresh ``[identity]`` signature, comments preserved."""
    text = text.removeprefix("\ufeff")
    constitution = parse_text(text, source)
    checksum = canonical_checksum(constitution.document)
    message = signed_message(constitution.version, checksum)
    signature = base64.b64encode(keys.sign(private, message)).decode()
    doc = tomlkit.parse(text)
    ident = doc.get("identity")
    if ident is None:
        ident = tomlkit.table()
        ident["version"] = constitution.version
        doc.add("identity", ident)
    ident["checksum"] = checksum
    ident["signed_by"] = keys.key_id(private.public_key())
    ident["signature"] = signature
    out = tomlkit.dumps(doc)
    # Signing must never change the content it signs.
    written = tomllib.loads(out)
    if canonical_checksum(written) != checksum or written["identity"]["version"] != (
        constitution.version
    ):
        raise TrustError(f"{source}: signing changed the document; refusing to write it")
    return out
