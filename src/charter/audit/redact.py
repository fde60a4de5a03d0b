"""Redacted audit exports: what may leave the store, per a data-residency policy.

Complete by construction. An exported record is *built* from an allow-list,
not copied and then scrubbed: every field it may carry is named in the
schema below with the shape it must have (a rule id, a layer, a verdict, a
severity, a decision id, a time, a hash or digest, a count). A value of
another shape, or a field the schema does not name, does not pass: it is
dropped (or replaced by a keyed hash, see below). Free text — reason
messages, commands, paths, code, identities, waiver reasons, comments, the
recorded input — belongs to a *sensitive class*, and each class is ``drop``
(the default), ``hash`` or ``keep``, as the policy says::

    [export]
    messages = "drop"      # reasons[].msg (and links, citation), waiver reasons, approval
                           # comments, event reasons
    commands = "drop"      # action.command, a tool call's name and arguments
    paths = "drop"         # action.path and cwd, an integrity event's path
    source_code = "drop"   # action content/patch; in a kept input: patches, file contents,
                           # fenced code blocks of the body
    identities = "drop"    # agent, model role, approvers, who answered an ask
    inputs = "drop"        # the whole recorded input document (a proposal)
    secrets = false        # true: kept text is not scrubbed of credential-looking values
    hash_key_env = "CHARTER_REDACT_KEY"  # key of the "hash" mode (HMAC-SHA256)
    drop = ["approvals"]   # more top-level fields to remove

``true``/``false`` mean ``keep``/``drop``. ``hash`` replaces a value by
``hmac-sha256:<hex>`` of its canonical JSON under a key only the exporter
holds: equal values stay correlatable, and a short command cannot be guessed
by hashing candidates, as it could with a plain hash.

A message is written by a rule from whatever the input holds (a path, a
line of code, a command), so ``messages = "keep"`` is refused unless
every other class is kept too (``"hash"`` keeps them correlatable instead); likewise a kept
input needs ``paths`` and ``identities`` kept (its title and body go with
it; code is still stripped from it unless ``source_code`` is kept).

A redacted record keeps its original ``hash``, so whoever holds the full log
can match it, and lists the JSON paths it lost or hashed under ``redacted``.
Redacted records do not verify on their own, by design: verify the store, not
the export.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from charter.core import jsonio
from charter.core.errors import ConfigError

REDACTED = "[REDACTED]"
Mode = Literal["drop", "hash", "keep"]
MODES: tuple[Mode, ...] = ("drop", "hash", "keep")
#: The sensitive classes of free text, each dropped unless the policy says otherwise.
CLASSES = ("messages", "commands", "paths", "source_code", "identities", "inputs")
_CODE_BLOCK = re.compile(r"```(?!charter\b)[^\n]*\n.*?```", re.DOTALL)
#: Credential-looking values and what replaces them (groups keep the context).
_SECRETS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL
        ),
        REDACTED,
    ),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), REDACTED),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}\b"), REDACTED),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"), REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{20,}\b"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"), REDACTED),
    (
        re.compile(
            r"(?i)\b((?:password|passwd|secret|token|api[_-]?key|access[_-]?key)"
            r"\s*[=:]\s*)(?!\[REDACTED\])[^\s'\"&;]+"
        ),
        r"\g<1>" + REDACTED,
    ),
    (re.compile(r"(?i)(authorization:\s*(?:bearer|basic)\s+)[^\s'\"]+"), r"\g<1>" + REDACTED),
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+(@)"), r"\g<1>" + REDACTED + r"\g<2>"),
]
_POLICY_KEYS = {*CLASSES, "secrets", "drop", "hash_key_env"}
_PROTECTED = ("seq", "hash", "prev_hash", "decision_id")


@dataclass(frozen=True)
class RedactionPolicy:
    messages: Mode = "drop"
    commands: Mode = "drop"
    paths: Mode = "drop"
    source_code: Mode = "drop"
    identities: Mode = "drop"
    inputs: Mode = "drop"
    secrets: bool = False
    drop: tuple[str, ...] = ()
    #: The key of the ``hash`` mode; required when any class is ``hash``.
    hash_key: bytes | None = field(default=None, repr=False)
    source: str = "<default policy>"

    def mode(self, cls: str) -> Mode:
        value: Mode = getattr(self, cls)
        return value


def check_policy(policy: RedactionPolicy) -> RedactionPolicy:
    """Refuse a policy whose opt-ins would leak what it claims to hide."""
    where = policy.source
    if policy.messages == "keep":
        hidden = [c for c in CLASSES if c != "messages" and policy.mode(c) != "keep"]
        if hidden:
            raise ConfigError(
                f"{where}: export.messages = keep would leak {hidden[0]} (rule messages quote "
                "the input)",
                hint=f'keep {", ".join(hidden)} too, or use messages = "hash"',
            )
    if policy.inputs == "keep":
        hidden = [c for c in ("paths", "identities") if policy.mode(c) != "keep"]
        if hidden:
            raise ConfigError(
                f"{where}: export.inputs = keep would leak {hidden[0]} (a proposal names its "
                "files, author and approvers)",
                hint=f'keep {", ".join(hidden)} too, or use inputs = "hash"',
            )
    if policy.hash_key is None and any(policy.mode(c) == "hash" for c in CLASSES):
        raise ConfigError(
            f'{where}: a class is "hash" but no key is given',
            hint="set export.hash_key_env to a variable holding the HMAC key",
        )
    return policy


def _mode(value: Any, key: str, where: str) -> Mode:
    if value is True:
        return "keep"
    if value is False:
        return "drop"
    if value in MODES:
        mode: Mode = value
        return mode
    raise ConfigError(f"{where}: export.{key} must be drop, hash or keep (or true/false)")


def load_policy(path: str | Path | None) -> RedactionPolicy:
    """Read an export policy; ``None`` gives the default (remove everything sensitive)."""
    if path is None:
        return RedactionPolicy()
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such redaction policy") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the redaction policy ({exc})") from exc
    unknown = set(raw) - {"export"}
    if unknown:
        raise ConfigError(f"{p}: unknown table {sorted(unknown)[0]}", hint="use [export]")
    table = raw.get("export", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{p}: [export] must be a table")
    return policy_from_table(table, str(p))


def policy_from_table(table: Mapping[str, Any], where: str) -> RedactionPolicy:
    """A policy from the keys of an ``[export]`` table (a policy file's, or a runner's)."""
    bad = set(table) - _POLICY_KEYS
    if bad:
        raise ConfigError(
            f"{where}: unknown key export.{sorted(bad)[0]}", hint=", ".join(sorted(_POLICY_KEYS))
        )
    modes = {c: _mode(table.get(c, "drop"), c, where) for c in CLASSES}
    secrets = table.get("secrets", False)
    if not isinstance(secrets, bool):
        raise ConfigError(f"{where}: export.secrets must be true or false")
    drop = table.get("drop", [])
    if not isinstance(drop, list) or not all(isinstance(d, str) for d in drop):
        raise ConfigError(f"{where}: export.drop must be a list of field names")
    return check_policy(
        RedactionPolicy(
            **modes,
            secrets=secrets,
            drop=tuple(drop),
            hash_key=_hash_key(table.get("hash_key_env"), where),
            source=where,
        )
    )


def _hash_key(variable: Any, where: str) -> bytes | None:
    if variable is None:
        return None
    if not isinstance(variable, str) or not variable:
        raise ConfigError(f"{where}: export.hash_key_env must name an environment variable")
    value = os.environ.get(variable, "")
    if len(value) < 16:
        raise ConfigError(
            f"{where}: environment variable {variable} is unset or shorter than 16 characters",
            hint="export a long random key, e.g. openssl rand -hex 32",
        )
    return value.encode()


def scrub_secrets(text: str) -> str:
    """``text`` with every credential-looking value replaced by ``[REDACTED]``."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_secrets(value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


# ------------------------------------------------------------------ shapes
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/+-]{0,127}$")
#: Rule ids: tokens, and the gate's names of constitution entries (``boundaries.forbidden[9]``).
_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/+\[\]-]{0,127}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$")
_VERDICTS = {"allow", "deny", "ask", "pass", "fail", "error"}

Shape = Callable[[Any], bool]


def _matches(pattern: re.Pattern[str]) -> Shape:
    return lambda v: isinstance(v, str) and pattern.match(v) is not None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


TOKEN = _matches(_TOKEN)
RULE = _matches(_RULE)
HEX64 = _matches(_HEX64)
DIGEST = _matches(_DIGEST)
TIME = _matches(_TIME)
VERSION = _matches(_VERSION)


def VERDICT(value: Any) -> bool:  # noqa: N802 - a shape, named like the others
    return isinstance(value, str) and value in _VERDICTS


def INT(value: Any) -> bool:  # noqa: N802
    return _is_int(value)


def BOOL(value: Any) -> bool:  # noqa: N802
    return isinstance(value, bool)


def NULL_OR(shape: Shape) -> Shape:  # noqa: N802
    return lambda v: v is None or shape(v)


#: A field is a shape (passes when the value has it), a sensitive class name,
#: a nested object schema, or a one-item list of an object schema.
Field = Shape | str | dict[str, Any] | list[dict[str, Any]]

_REASON: dict[str, Field] = {
    "rule": RULE, "layer": TOKEN, "severity": TOKEN, "verdict": VERDICT,
    "category": NULL_OR(TOKEN), "msg": "messages", "links": "messages", "citation": "messages",
}  # fmt: skip
_WAIVER: dict[str, Field] = {
    "rule": RULE, "waiver": TOKEN, "expires": TIME, "created": TIME, "signed_by": NULL_OR(DIGEST),
    "approver": "identities", "reason": "messages",
}  # fmt: skip
_APPROVAL: dict[str, Field] = {
    "by": "identities", "at": TIME, "type": TOKEN, "approve": BOOL, "expired": BOOL,
    "comment": "messages",
}  # fmt: skip
_STACK: dict[str, Field] = {"layer": TOKEN, "name": TOKEN, "version": VERSION, "digest": DIGEST}
_EVENT: dict[str, Field] = {
    "event": TOKEN, "expected": DIGEST, "actual": NULL_OR(DIGEST), "at": TIME,
    "approved": TOKEN, "path": "paths", "reason": "messages",
}  # fmt: skip
_ACTION: dict[str, Field] = {
    "kind": TOKEN, "size": INT, "command": "commands", "tool": "commands",
    "arguments": "commands", "path": "paths", "cwd": "paths", "content": "source_code",
    "patch": "source_code", "model_role": "identities", "agent": "identities",
}  # fmt: skip
RECORD: dict[str, Field] = {
    "seq": INT, "hash": HEX64, "prev_hash": HEX64, "decision_id": TOKEN, "time": TIME,
    "source": TOKEN, "kind": TOKEN, "input_digest": DIGEST, "verdict": VERDICT,
    "reasons": [_REASON], "waived": [_WAIVER], "approvals": [_APPROVAL], "stack": [_STACK],
    "event": _EVENT, "action": _ACTION, "input": "inputs",
}  # fmt: skip


class _Redactor:
    def __init__(self, policy: RedactionPolicy) -> None:
        self.policy = policy
        self.removed: list[str] = []

    def keyed(self, value: Any) -> str:
        key = self.policy.hash_key or b""
        digest = hmac.new(key, jsonio.canonical_bytes(value), hashlib.sha256).hexdigest()
        return "hmac-sha256:" + digest

    def hidden(self, value: Any, where: str) -> tuple[bool, Any]:
        """A value that does not pass: hashed when there is a key, else dropped."""
        self.removed.append(where)
        if self.policy.hash_key is not None and value is not None:
            return True, self.keyed(value)
        return False, None

    def field(self, spec: Field, value: Any, where: str) -> tuple[bool, Any]:
        """(present, value) of one field in the export."""
        if isinstance(spec, str):
            return self.sensitive(spec, value, where)
        if isinstance(spec, dict):
            if value is None:
                return True, None
            if not isinstance(value, Mapping):
                return self.hidden(value, where)
            return True, self.obj(spec, value, where)
        if isinstance(spec, list):
            if not isinstance(value, list):
                return self.hidden(value, where)
            out = []
            for index, item in enumerate(value):
                present, kept = self.field(spec[0], item, f"{where}[{index}]")
                if present:
                    out.append(kept)
            return True, out
        if spec(value):
            return True, value
        return self.hidden(value, where)

    def obj(
        self, schema: Mapping[str, Field], value: Mapping[str, Any], where: str
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in sorted(value, key=str):
            spec = schema.get(key) if isinstance(key, str) else None
            if spec is None:
                # A field the schema does not name is dropped, and so is its name.
                unlisted = f"{where}.(unlisted field)" if where else "(unlisted field)"
                if unlisted not in self.removed:
                    self.removed.append(unlisted)
                continue
            path = f"{where}.{key}" if where else key
            present, kept = self.field(spec, value[key], path)
            if present:
                out[key] = kept
        return out

    def sensitive(self, cls: str, value: Any, where: str) -> tuple[bool, Any]:
        mode = self.policy.mode(cls)
        if value is None or value == "" or value == [] or value == {}:
            return True, value  # nothing to hide, and the field's absence would say as much
        if mode == "keep":
            if cls == "inputs" and self.policy.source_code != "keep" and isinstance(value, dict):
                return True, self.strip_code(value, where)
            return True, value
        self.removed.append(where)
        if mode == "hash":
            return True, self.keyed(value)
        return False, None

    def strip_code(self, document: Mapping[str, Any], where: str) -> dict[str, Any]:
        """A kept input without its code: patches, file contents, fenced blocks of the body."""
        out = dict(document)
        files = out.get("files")
        if isinstance(files, list):
            clean: list[Any] = []
            for index, item in enumerate(files):
                if isinstance(item, dict):
                    item = dict(item)
                    for key in ("patch", "content"):
                        if key in item:
                            present, kept = self.sensitive(
                                "source_code", item.pop(key), f"{where}.files[{index}].{key}"
                            )
                            if present:
                                item[key] = kept
                clean.append(item)
            out["files"] = clean
        body = out.get("body")
        if isinstance(body, str) and _CODE_BLOCK.search(body):
            out["body"] = _CODE_BLOCK.sub("```\n" + REDACTED + "\n```", body)
            self.removed.append(f"{where}.body")
        return out


def redact_record(record: Mapping[str, Any], policy: RedactionPolicy) -> dict[str, Any]:
    """The exported form of ``record``: only allow-listed fields of the right shape."""
    redactor = _Redactor(policy)
    source = {k: v for k, v in record.items() if k not in policy.drop or k in _PROTECTED}
    redactor.removed.extend(sorted(k for k in record if k not in source))
    out = redactor.obj(RECORD, source, "")
    if not policy.secrets:
        scrubbed = {
            k: (v if k in (*_PROTECTED, "input_digest") else _scrub(v)) for k, v in out.items()
        }
        redactor.removed.extend(f"{k} (secrets)" for k in sorted(out) if scrubbed[k] != out[k])
        out = scrubbed
    if redactor.removed:
        out["redacted"] = redactor.removed
    return out


def redact_text(value: Any, cls: str, policy: RedactionPolicy) -> tuple[bool, Any]:
    """One value of the sensitive class ``cls`` (e.g. who asked, ``identities``) as an
    export carries it: ``(present, value)``; dropped, hashed, or kept (and scrubbed of
    credential-looking values unless ``secrets``), as ``policy`` says."""
    if cls not in CLASSES:
        raise ValueError(f"not a sensitive class: {cls!r}")
    present, kept = _Redactor(policy).sensitive(cls, value, cls)
    if present and not policy.secrets:
        kept = _scrub(kept)
    return present, kept


def export(
    records: Iterable[Mapping[str, Any]], policy: RedactionPolicy
) -> Iterator[dict[str, Any]]:
    for record in records:
        yield redact_record(record, policy)


__all__ = [
    "CLASSES",
    "MODES",
    "RECORD",
    "REDACTED",
    "RedactionPolicy",
    "check_policy",
    "export",
    "load_policy",
    "redact_text",
    "policy_from_table",
    "redact_record",
    "scrub_secrets",
]
