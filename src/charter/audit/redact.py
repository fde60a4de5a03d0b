"""Redacted audit exports: what may leave the store, per a data-residency policy.

An export policy is TOML; everything is removed unless the policy opts in::

    [export]
    source_code = false   # patches, file contents, the proposal body's code blocks
    secrets = false       # values that look like credentials, in any string
    commands = true       # the command line of a gated action (secrets still scrubbed)
    inputs = false        # the whole recorded input document
    drop = ["approvals"]  # more top-level record fields to remove

A redacted record keeps its original ``hash``, so whoever holds the full log
can match it, and lists the JSON paths it lost under ``redacted``. Redacted
records do not verify on their own, by design: verify the store, not the export.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter.core.errors import ConfigError

REDACTED = "[REDACTED]"
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
_POLICY_KEYS = {"source_code", "secrets", "commands", "inputs", "drop"}


@dataclass(frozen=True)
class RedactionPolicy:
    source_code: bool = False
    secrets: bool = False
    commands: bool = True
    inputs: bool = False
    drop: tuple[str, ...] = ()
    source: str = "<default policy>"


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
    bad = set(table) - _POLICY_KEYS
    if bad:
        raise ConfigError(
            f"{p}: unknown key export.{sorted(bad)[0]}", hint=", ".join(sorted(_POLICY_KEYS))
        )
    flags: dict[str, bool] = {}
    for key in ("source_code", "secrets", "commands", "inputs"):
        value = table.get(key, getattr(RedactionPolicy, key))
        if not isinstance(value, bool):
            raise ConfigError(f"{p}: export.{key} must be true or false")
        flags[key] = value
    drop = table.get("drop", [])
    if not isinstance(drop, list) or not all(isinstance(d, str) for d in drop):
        raise ConfigError(f"{p}: export.drop must be a list of field names")
    return RedactionPolicy(**flags, drop=tuple(drop), source=str(p))


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


def _strip_code(document: dict[str, Any], removed: list[str], where: str) -> dict[str, Any]:
    out = dict(document)
    files = out.get("files")
    if isinstance(files, list):
        clean = []
        for index, item in enumerate(files):
            if isinstance(item, dict):
                item = dict(item)
                for key in ("patch", "content"):
                    if key in item:
                        item.pop(key)
                        removed.append(f"{where}.files[{index}].{key}")
            clean.append(item)
        out["files"] = clean
    body = out.get("body")
    if isinstance(body, str) and _CODE_BLOCK.search(body):
        out["body"] = _CODE_BLOCK.sub("```\n" + REDACTED + "\n```", body)
        removed.append(f"{where}.body")
    return out


def redact_record(record: Mapping[str, Any], policy: RedactionPolicy) -> dict[str, Any]:
    out = dict(record)
    removed: list[str] = []
    for name in policy.drop:
        if name in out and name not in ("seq", "hash", "prev_hash", "decision_id"):
            out.pop(name)
            removed.append(name)
    if "input" in out:
        if not policy.inputs:
            out.pop("input")
            removed.append("input")
        elif not policy.source_code and isinstance(out["input"], dict):
            out["input"] = _strip_code(out["input"], removed, "input")
    action = out.get("action")
    if isinstance(action, dict):
        action = dict(action)
        if not policy.commands and "command" in action:
            action["command"] = REDACTED
            removed.append("action.command")
        if not policy.source_code:
            for key in ("content", "patch"):
                if key in action:
                    action.pop(key)
                    removed.append(f"action.{key}")
        out["action"] = action
    if not policy.secrets:
        scrubbed = {
            k: (
                v if k in ("seq", "hash", "prev_hash", "decision_id", "input_digest") else _scrub(v)
            )
            for k, v in out.items()
        }
        changed = sorted(k for k in scrubbed if scrubbed[k] != out[k])
        removed.extend(f"{k} (secrets)" for k in changed)
        out = scrubbed
    if removed:
        out["redacted"] = removed
    return out


def export(
    records: Iterable[Mapping[str, Any]], policy: RedactionPolicy
) -> Iterator[dict[str, Any]]:
    for record in records:
        yield redact_record(record, policy)
