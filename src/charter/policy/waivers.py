"""Waivers: signed, scoped, expiring exceptions to pack and overlay rules.

See docs/design.md, 'Waivers'.

A waiver is a JSON document with a detached signature field::

    {"charter_waiver": 1, "id": "W-…", "rule": "CM-TICKET-REQUIRED-001", "layer": "overlay",
     "scope": {"repo": ["acme/platform"], "path": ["infra/**"], "branch": ["main"]},
     "reason": "…", "approver": "alice", "created": "2026-10-01T00:00:00Z",
     "expires": "2026-12-31",
     "signature": {"key_id": "sha256:…", "algorithm": "ed25519", "value": "<base64>"}}

The signature covers the canonical JSON (sorted keys, no whitespace, UTF-8) of
the document without ``signature``. An ``expires`` date means "through the end
of that day, UTC"; an RFC 3339 time means that instant.

**Scope.** ``repo`` globs match ``repository``; ``branch`` globs match the
target branch (``base``, else ``head``); ``path`` globs (``**`` crosses
directories, ``*`` does not) must match *every* changed file (and its previous
path), because a decision does not say which file made a rule fire. Every
scope key given must match; ``repo`` is mandatory.

**Applying.** :class:`WaiverSet` is a :data:`charter.policy.decision.WaiverHook`. A
waiver applies only when it is well formed, names a pack or overlay rule of the
active stack, is signed by a key trusted *for that rule's layer*, has not
expired at the decision's time, runs no longer than ``max_waiver_days`` and is
in scope. Everything else is reported as ignored, with the reason. Constitution
rules are never waived (and ``decision.evaluate`` re-checks that).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from charter.core import jsonio
from charter.core.decision import Reason
from charter.core.errors import CharterError, InputError, TrustError, WaiverError
from charter.policy.stack import Stack
from charter.trust import keys

FORMAT_VERSION = 1
DEFAULT_MAX_DAYS = 90
SCOPE_KEYS = ("repo", "path", "branch")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _canonical(document: Mapping[str, Any]) -> bytes:
    """The signed bytes: the canonical JSON of the document without ``signature``."""
    return jsonio.canonical_bytes({k: v for k, v in document.items() if k != "signature"})


def parse_expiry(value: str) -> datetime:
    """``2026-12-31`` → the end of that day (next midnight, UTC); RFC 3339 as given."""
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise WaiverError(
            f"expiry {value!r} is neither a date nor an RFC 3339 time",
            hint="e.g. --expires 2026-12-31",
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_time(value: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise WaiverError(f"waiver {what} {value!r} is not an RFC 3339 time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _glob_re(pattern: str) -> re.Pattern[str]:
    """A path glob: ``**`` crosses directories, ``*`` and ``?`` stay within one."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


@dataclass(frozen=True)
class Scope:
    repo: tuple[str, ...]
    path: tuple[str, ...] = ()
    branch: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, list[str]]:
        out = {"repo": list(self.repo)}
        if self.path:
            out["path"] = list(self.path)
        if self.branch:
            out["branch"] = list(self.branch)
        return out

    def mismatch(self, document: Mapping[str, Any]) -> str | None:
        """Why ``document`` is out of scope, or None when it is in scope."""
        repo = document.get("repository")
        if not isinstance(repo, str) or not any(fnmatch.fnmatchcase(repo, r) for r in self.repo):
            return f"repository {repo!r} is not in scope ({', '.join(self.repo)})"
        if self.branch:
            branch = document.get("base") or document.get("head")
            if not isinstance(branch, str) or not any(
                fnmatch.fnmatchcase(branch, b) for b in self.branch
            ):
                return f"branch {branch!r} is not in scope ({', '.join(self.branch)})"
        if self.path:
            globs = [_glob_re(p) for p in self.path]
            files = document.get("files") or []
            paths: list[str] = []
            for item in files if isinstance(files, list) else []:
                if isinstance(item, dict):
                    paths.extend(str(item[k]) for k in ("path", "previous_path") if item.get(k))
            if not paths:
                return f"the proposal changes no files under {', '.join(self.path)}"
            for p in paths:
                if not any(g.match(p) for g in globs):
                    return f"file {p} is outside the waiver's paths ({', '.join(self.path)})"
        return None


def parse_scope(items: Sequence[str]) -> Scope:
    """``["repo=acme/platform", "path=infra/**"]`` → :class:`Scope`."""
    found: dict[str, list[str]] = {k: [] for k in SCOPE_KEYS}
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in SCOPE_KEYS or not value.strip():
            raise WaiverError(
                f"--scope {item!r} is not KEY=VALUE with KEY one of {', '.join(SCOPE_KEYS)}",
                hint="e.g. --scope repo=acme/platform --scope path=infra/**",
            )
        found[key].append(value.strip())
    if not found["repo"]:
        raise WaiverError("a waiver needs a repository scope", hint="add --scope repo=OWNER/NAME")
    return Scope(tuple(found["repo"]), tuple(found["path"]), tuple(found["branch"]))


@dataclass(frozen=True)
class Waiver:
    id: str
    rule: str
    layer: str
    scope: Scope
    reason: str
    approver: str
    created: str
    expires: str
    document: dict[str, Any] = field(compare=False, repr=False)
    source: str = ""

    @property
    def expires_at(self) -> datetime:
        return parse_expiry(self.expires)

    @property
    def created_at(self) -> datetime:
        return _parse_time(self.created, "created time")

    @property
    def signature(self) -> dict[str, Any] | None:
        sig = self.document.get("signature")
        return sig if isinstance(sig, dict) else None

    @property
    def key_id(self) -> str | None:
        sig = self.signature
        return str(sig.get("key_id")) if sig and sig.get("key_id") else None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def to_json(self) -> str:
        return json.dumps(self.document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def summary(self) -> dict[str, Any]:
        return {
            "waiver": self.id,
            "rule": self.rule,
            "expires": self.expires,
            "approver": self.approver,
            "reason": self.reason,
            "scope": self.scope.to_dict(),
            "source": self.source,
        }


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise WaiverError(f"{where} must be a list of non-empty strings")
    return tuple(value)


def from_document(document: Any, source: str = "<waiver>") -> Waiver:
    """Validate a waiver document (its signature is checked separately)."""
    if not isinstance(document, dict) or document.get("charter_waiver") != FORMAT_VERSION:
        raise WaiverError(f"{source}: not a Charter waiver (charter_waiver: 1 missing)")
    for key in ("id", "rule", "layer", "reason", "approver", "created", "expires"):
        if not isinstance(document.get(key), str) or not document[key].strip():
            raise WaiverError(f"{source}: waiver field {key!r} is missing or empty")
    if not _ID.match(document["id"]):
        raise WaiverError(f"{source}: waiver id {document['id']!r} is not a plain identifier")
    scope_raw = document.get("scope")
    if not isinstance(scope_raw, dict) or set(scope_raw) - set(SCOPE_KEYS):
        raise WaiverError(f"{source}: scope must be an object with keys {', '.join(SCOPE_KEYS)}")
    scope = Scope(
        _strings(scope_raw.get("repo"), f"{source}: scope.repo"),
        _strings(scope_raw.get("path", []), f"{source}: scope.path") if "path" in scope_raw else (),
        _strings(scope_raw.get("branch", []), f"{source}: scope.branch")
        if "branch" in scope_raw
        else (),
    )
    waiver = Waiver(
        id=document["id"],
        rule=document["rule"],
        layer=document["layer"],
        scope=scope,
        reason=document["reason"],
        approver=document["approver"],
        created=document["created"],
        expires=document["expires"],
        document=document,
        source=source,
    )
    waiver.expires_at  # noqa: B018 - validate the expiry now
    waiver.created_at  # noqa: B018
    return waiver


def parse_waiver(data: bytes, source: str = "<waiver>") -> Waiver:
    try:
        document = jsonio.loads(data, what=source)
    except InputError as exc:
        detail = exc.message.removeprefix(source).lstrip(":").strip()
        raise WaiverError(f"{source}: not valid JSON ({detail})") from None
    return from_document(document, source)


def read_waiver(path: str | Path) -> Waiver:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise WaiverError(f"{p}: cannot read waiver ({exc.strerror})") from exc
    return parse_waiver(data, str(p))


def max_waiver_days(stack: Stack) -> int:
    value = stack.parameters.get("max_waiver_days", DEFAULT_MAX_DAYS)
    return int(value) if isinstance(value, (int, float)) else DEFAULT_MAX_DAYS


def check_duration(waiver: Waiver, max_days: int) -> None:
    """Refuse a waiver that runs longer than ``max_days`` from its creation."""
    limit = waiver.created_at + timedelta(days=max_days)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", waiver.expires.strip()):
        too_late = date.fromisoformat(waiver.expires.strip()) > limit.date()
    else:
        too_late = waiver.expires_at > limit
    if too_late:
        raise WaiverError(
            f"waiver {waiver.id} expires {waiver.expires}, more than the constitution's "
            f"max_waiver_days ({max_days}) after its creation ({waiver.created[:10]})",
            hint=f"choose an expiry no later than {(limit).date().isoformat()}",
        )


def _rule_layer(stack: Stack, rule_id: str) -> str:
    rule = stack.rules.get(rule_id)
    if rule is None:
        raise WaiverError(
            f"rule {rule_id} is not in the active stack",
            hint="check the id with `charter rule list` (pass --overlay/--pack for their rules)",
        )
    if rule.layer == "constitution":
        raise WaiverError(
            f"rule {rule_id} belongs to the constitution, which is non-waivable",
            hint="only pack and overlay rules can be waived; fix the proposal instead",
        )
    return rule.layer


def create_waiver(
    *,
    rule: str,
    scope: Scope,
    reason: str,
    expires: str | None,
    approver: str,
    key: keys.PrivateKey,
    stack: Stack,
    now: datetime | None = None,
    waiver_id: str | None = None,
) -> Waiver:
    """Create and sign a waiver; refuse constitution rules and over-long expiries."""
    layer = _rule_layer(stack, rule)
    if not expires:
        raise WaiverError("a waiver needs an expiry", hint="pass --expires YYYY-MM-DD")
    if not reason.strip():
        raise WaiverError("a waiver needs a reason", hint='pass --reason "…"')
    if not approver.strip():
        raise WaiverError("a waiver needs an approver", hint="pass --approver NAME")
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    expiry = parse_expiry(expires)
    if expiry <= moment:
        raise WaiverError(f"expiry {expires} is already in the past")
    created = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    document: dict[str, Any] = {
        "charter_waiver": FORMAT_VERSION,
        "id": "",
        "rule": rule,
        "layer": layer,
        "scope": scope.to_dict(),
        "reason": reason.strip(),
        "approver": approver.strip(),
        "created": created,
        "expires": expires.strip(),
    }
    digest = hashlib.sha256(_canonical(document)).hexdigest()
    document["id"] = waiver_id or f"W-{created[:10]}-{digest[:8]}"
    waiver = from_document(document, "<new waiver>")
    check_duration(waiver, max_waiver_days(stack))
    return sign_waiver(waiver, key)


def sign_waiver(waiver: Waiver, key: keys.PrivateKey) -> Waiver:
    document = {k: v for k, v in waiver.document.items() if k != "signature"}
    signature = keys.sign(key, _canonical(document))
    document["signature"] = {
        "key_id": keys.key_id(key.public_key()),
        "algorithm": keys.key_type(key),
        "value": base64.b64encode(signature).decode(),
    }
    return from_document(document, waiver.source)


def verify_signature(waiver: Waiver, trusted: Sequence[keys.PublicKey]) -> str:
    """Return the signer's key id; raise :class:`WaiverError` unless a trusted key signed it."""
    sig = waiver.signature
    if sig is None:
        raise WaiverError(f"waiver {waiver.id} is not signed")
    if not trusted:
        raise WaiverError(
            f"waiver {waiver.id}: no key is trusted for the {waiver.layer} layer's waivers",
            hint=f"pass --waiver-key {waiver.layer}=PUB",
        )
    try:
        value = base64.b64decode(str(sig.get("value", "")), validate=True)
    except (binascii.Error, ValueError):
        raise WaiverError(f"waiver {waiver.id}: the signature is not base64") from None
    message = _canonical(waiver.document)
    for public in trusted:
        if keys.key_id(public) != sig.get("key_id"):
            continue
        try:
            keys.verify(public, value, message)
        except TrustError:
            raise WaiverError(
                f"waiver {waiver.id}: the signature does not verify (altered after signing?)"
            ) from None
        return keys.key_id(public)
    raise WaiverError(
        f"waiver {waiver.id} is signed by {sig.get('key_id')}, which is not trusted for the "
        f"{waiver.layer} layer",
        hint="sign it with a key pinned for that layer",
    )


# ------------------------------------------------------------------ loading


@dataclass(frozen=True)
class LoadedWaiver:
    """A waiver file as found on disk: parsed, or the reason it could not be."""

    source: str
    waiver: Waiver | None
    problem: str | None = None


def load_file(path: str | Path) -> LoadedWaiver:
    """One waiver file, parsed or with the reason it could not be."""
    try:
        return LoadedWaiver(str(path), read_waiver(path))
    except CharterError as exc:
        return LoadedWaiver(str(path), None, str(exc))


def load_directory(directory: str | Path) -> list[LoadedWaiver]:
    """Every ``*.json`` under ``directory`` (sorted); unreadable files are kept with why."""
    d = Path(directory)
    if not d.is_dir():
        raise WaiverError(f"{d}: not a directory of waivers")
    return [load_file(path) for path in sorted(d.rglob("*.json"))]


Trust = Mapping[str, Sequence[keys.PublicKey]]


def parse_trust(items: Sequence[str]) -> dict[str, list[keys.PublicKey]]:
    """``["overlay=keys/acme.pub", "pack=keys/packs.pub"]`` → keys trusted per layer."""
    trust: dict[str, list[keys.PublicKey]] = {}
    for item in items:
        layer, eq, path = item.partition("=")
        if not eq or layer not in ("pack", "overlay"):
            raise WaiverError(
                f"--waiver-key {item!r} is not LAYER=PUB with LAYER pack or overlay",
                hint="constitution rules cannot be waived, so no key is trusted for them",
            )
        trust.setdefault(layer, []).append(keys.load_public(path))
    return trust


@dataclass(frozen=True)
class Status:
    """Where one waiver stands: active, expired or invalid (with why)."""

    source: str
    state: str
    detail: str
    waiver: Waiver | None = None

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"source": self.source, "status": self.state, "detail": self.detail}
        if self.waiver is not None:
            doc.update(self.waiver.summary())
        return doc


def status(loaded: LoadedWaiver, stack: Stack, trust: Trust | None, now: datetime) -> Status:
    """Validate everything but scope; ``trust=None`` skips the signature check."""
    w = loaded.waiver
    if w is None:
        return Status(loaded.source, "invalid", loaded.problem or "unreadable")
    try:
        layer = _rule_layer(stack, w.rule)
        if w.layer != layer:
            raise WaiverError(f"waiver names the {w.layer} layer but {w.rule} is a {layer} rule")
        if trust is not None:
            verify_signature(w, list(trust.get(layer, ())))
        elif w.signature is None:
            raise WaiverError(f"waiver {w.id} is not signed")
        check_duration(w, max_waiver_days(stack))
    except CharterError as exc:
        return Status(loaded.source, "invalid", exc.message, w)
    if w.expired(now):
        return Status(loaded.source, "expired", f"expired on {w.expires}", w)
    detail = "valid" if trust is not None else "valid (signature not checked: no keys given)"
    return Status(loaded.source, "active", detail, w)


class WaiverSet:
    """A :data:`charter.policy.decision.WaiverHook` over waivers loaded from disk."""

    def __init__(self, waivers: Sequence[LoadedWaiver], stack: Stack, trust: Trust) -> None:
        self.waivers = list(waivers)
        self.stack = stack
        self.trust = trust

    @classmethod
    def from_directory(cls, directory: str | Path, stack: Stack, trust: Trust) -> WaiverSet:
        return cls(load_directory(directory), stack, trust)

    def __call__(
        self, reasons: Sequence[Reason], document: Mapping[str, Any], now: datetime
    ) -> tuple[list[Reason], list[dict[str, Any]], list[dict[str, Any]]]:
        moment = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
        applicable: dict[str, list[Waiver]] = {}
        ignored: list[dict[str, Any]] = []
        for loaded in self.waivers:
            st = status(loaded, self.stack, self.trust, moment)
            w = st.waiver
            if st.state != "active" or w is None:
                ignored.append(
                    {
                        "waiver": w.id if w else loaded.source,
                        "rule": w.rule if w else None,
                        "source": loaded.source,
                        "reason": st.detail,
                    }
                )
                continue
            why = w.scope.mismatch(document)
            if why is not None:
                ignored.append(
                    {"waiver": w.id, "rule": w.rule, "source": loaded.source, "reason": why}
                )
                continue
            applicable.setdefault(w.rule, []).append(w)
        kept: list[Reason] = []
        waived: list[dict[str, Any]] = []
        applied: set[tuple[str, str]] = set()
        for reason in reasons:
            # Only the layer that owns the rule can have its entries waived; an entry
            # another layer emits under the same id (or any constitution entry) stays.
            candidates = [
                w
                for w in applicable.get(reason.rule, [])
                if reason.layer == w.layer and reason.layer != "constitution"
            ]
            if not candidates:
                kept.append(reason)
                continue
            w = max(candidates, key=lambda x: x.expires_at)
            if (w.rule, w.id) not in applied:
                applied.add((w.rule, w.id))
                waived.append(
                    {
                        "rule": w.rule,
                        "waiver": w.id,
                        "expires": w.expires,
                        # who approved it, when, and why: the audit record of a
                        # waived rule names the approval (docs/design.md, 'Audit')
                        "approver": w.approver,
                        "created": w.created,
                        "reason": w.reason,
                        "signed_by": w.key_id,
                    }
                )
        return kept, waived, ignored


__all__ = [
    "LoadedWaiver",
    "Scope",
    "Status",
    "Waiver",
    "WaiverSet",
    "check_duration",
    "create_waiver",
    "from_document",
    "load_directory",
    "load_file",
    "max_waiver_days",
    "parse_expiry",
    "parse_scope",
    "parse_trust",
    "read_waiver",
    "sign_waiver",
    "status",
    "verify_signature",
]
