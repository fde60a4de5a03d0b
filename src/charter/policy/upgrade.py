"""Constitution upgrades: may a runner switch an overlay to a new constitution version?

The constitution bundle carries its changelog in the manifest metadata::

    "metadata": {"charter": {"layer": "constitution", "version": "2.0.0", "changelog": {
        "2.0.0": {"rules_added": [...], "rules_changed": [...], "rules_removed": [...],
                  "rules_renamed": {"OLD-ID": "NEW-ID"},
                  "parameters_renamed": {"old": "new"}, "parameters_removed": [...]}}}}

:func:`check_upgrade` lints the overlay against the target version and, for a
major upgrade, lists every reference the overlay makes to a rule or parameter
that the versions in between removed or renamed (Rego string literals and
references, read from regorus's AST, and parameter values in its data). Minor
and patch upgrades pass when the linter passes and the content fits the
version (:mod:`charter.policy.compat`: a minor or patch that removes a rule or
changes a verdict on its own tests is refused, a patch that adds a rule or a
decision too); a major upgrade also needs an empty list of required changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import semver

from charter.core.errors import InputError, PolicyError
from charter.policy.bundle import Layer, load_directory
from charter.policy.compat import Judgement, judge, version_step
from charter.policy.engine import walk_ast
from charter.policy.lint import LintReport, lint_bundle
from charter.policy.stack import load_stack


@dataclass(frozen=True)
class VersionChanges:
    """What one constitution version changed (from its changelog entry)."""

    version: str
    rules_added: tuple[str, ...] = ()
    rules_changed: tuple[str, ...] = ()
    rules_removed: tuple[str, ...] = ()
    rules_renamed: Mapping[str, str] | None = None
    parameters_renamed: Mapping[str, str] | None = None
    parameters_removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequiredChange:
    """One thing the overlay must change before the runner may switch."""

    location: str
    kind: str  # rule-removed | rule-renamed | parameter-removed | parameter-renamed
    name: str
    replacement: str | None
    version: str

    def describe(self) -> str:
        what = "rule" if self.kind.startswith("rule") else "parameter"
        if self.replacement:
            return (
                f"{self.location}: {what} {self.name} was renamed to {self.replacement} in "
                f"{self.version}; use {self.replacement}"
            )
        return f"{self.location}: {what} {self.name} was removed in {self.version}; drop it"

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "kind": self.kind,
            "name": self.name,
            "replacement": self.replacement,
            "version": self.version,
            "message": self.describe(),
        }


@dataclass(frozen=True)
class UpgradeReport:
    overlay: str
    current: str
    target: str
    major: bool
    changes: tuple[VersionChanges, ...]
    required: tuple[RequiredChange, ...]
    lint: LintReport
    #: For a minor or patch upgrade: the content judged against the version step.
    content: Judgement | None = None

    @property
    def ok(self) -> bool:
        fits = self.content is None or self.content.ok
        return self.lint.ok and fits and not (self.major and self.required)

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "overlay": self.overlay,
            "from": self.current,
            "to": self.target,
            "major": self.major,
            "required_changes": [c.to_dict() for c in self.required],
            "content": self.content.to_dict() if self.content is not None else None,
            "lint": self.lint.to_dict(),
        }


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _mapping(value: Any) -> dict[str, str] | None:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None


def changelog(layer: Layer) -> dict[str, VersionChanges]:
    """The changelog of a constitution layer, by version."""
    raw = layer.manifest.charter_metadata.get("changelog", {})
    if not isinstance(raw, dict):
        raise PolicyError(f"{layer.source}: metadata.charter.changelog must be an object")
    out: dict[str, VersionChanges] = {}
    for version, entry in raw.items():
        if not semver.Version.is_valid(version) or not isinstance(entry, dict):
            raise PolicyError(f"{layer.source}: changelog entry {version!r} is malformed")
        out[version] = VersionChanges(
            version=version,
            rules_added=_strings(entry.get("rules_added")),
            rules_changed=_strings(entry.get("rules_changed")),
            rules_removed=_strings(entry.get("rules_removed")),
            rules_renamed=_mapping(entry.get("rules_renamed")),
            parameters_renamed=_mapping(entry.get("parameters_renamed")),
            parameters_removed=_strings(entry.get("parameters_removed")),
        )
    return out


def _between(log: Mapping[str, VersionChanges], current: str, target: str) -> list[VersionChanges]:
    low, high = semver.Version.parse(current), semver.Version.parse(target)
    return [
        log[v]
        for v in sorted(log, key=semver.Version.parse)
        if low < semver.Version.parse(v) <= high
    ]


def _references(overlay: Layer) -> list[tuple[str, str]]:
    """(location, name) of every string literal and reference segment in the overlay."""
    found: list[tuple[str, str]] = []
    for module in overlay.modules:
        for node in walk_ast(module.info.ast.get("rules", [])):
            line = node.get("span", {}).get("line") if isinstance(node.get("span"), dict) else None
            if "String" in node and isinstance(node["String"], dict):
                value = node["String"].get("value")
                span = node["String"].get("span", {})
                found.append((f"{module.path}:{span.get('line', line or 1)}", str(value)))
            if "RefDot" in node and isinstance(node["RefDot"], dict):
                inner = node["RefDot"]
                field = inner.get("field")
                if isinstance(field, list) and len(field) == 2:
                    where = field[0].get("line", 1) if isinstance(field[0], dict) else 1
                    found.append((f"{module.path}:{where}", str(field[1])))
    return found


def _parameter_settings(overlay: Layer) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for root, params in overlay.root_data("parameters"):
        if isinstance(params, dict):
            found.extend((f"{overlay.source} data {root}/parameters", name) for name in params)
    return found


def required_changes(overlay: Layer, changes: Sequence[VersionChanges]) -> list[RequiredChange]:
    refs = _references(overlay)
    params = _parameter_settings(overlay) + refs
    out: list[RequiredChange] = []
    seen: set[tuple[str, str]] = set()

    def add(where: str, kind: str, name: str, new: str | None, version: str) -> None:
        if (where, name) not in seen:
            seen.add((where, name))
            out.append(RequiredChange(where, kind, name, new, version))

    for change in changes:
        gone_rules = dict.fromkeys(change.rules_removed) | dict(change.rules_renamed or {})
        gone_params = dict.fromkeys(change.parameters_removed) | dict(
            change.parameters_renamed or {}
        )
        for where, name in refs:
            if name in gone_rules:
                new = gone_rules[name]
                add(where, "rule-renamed" if new else "rule-removed", name, new, change.version)
        for where, name in params:
            if name in gone_params:
                new = gone_params[name]
                kind = "parameter-renamed" if new else "parameter-removed"
                add(where, kind, name, new, change.version)
    return out


def resolve_target(to: str) -> Layer:
    """``--to``: a constitution bundle directory, or the shipped version number."""
    path = Path(to)
    if path.is_dir():
        layer = load_directory(path)
    else:
        shipped = load_stack().layers[0]
        if to != shipped.version:
            raise InputError(
                f"--to {to!r}: no constitution bundle for that version here",
                hint="pass the target constitution bundle directory",
            )
        layer = shipped
    if layer.kind != "constitution":
        raise InputError(f"{to}: is a {layer.kind} bundle, not a constitution")
    return layer


def check_upgrade(
    overlay_dir: str | Path,
    target: Layer,
    *,
    current: Layer | None = None,
    packs: Sequence[Layer] = (),
) -> UpgradeReport:
    """Whether an overlay can move to ``target``, and what it must change first."""
    present = current or load_stack().layers[0]
    old, new = semver.Version.parse(present.version), semver.Version.parse(target.version)
    if new < old:
        raise InputError(
            f"--to {target.version} is older than the current {present.version}",
            hint="a runner never moves to an older constitution (rollback)",
        )
    overlay = load_directory(overlay_dir)
    changes = _between(changelog(target), present.version, target.version)
    required = required_changes(overlay, changes) if new.major > old.major else []
    report = lint_bundle(overlay_dir, [target, *packs])
    step = version_step(present.version, target.version)
    content = judge(present, target) if step in ("minor", "patch") else None
    return UpgradeReport(
        overlay=str(overlay_dir),
        current=present.version,
        target=target.version,
        major=new.major > old.major,
        changes=tuple(changes),
        required=tuple(required),
        lint=report,
        content=content,
    )


__all__ = [
    "RequiredChange",
    "UpgradeReport",
    "VersionChanges",
    "changelog",
    "check_upgrade",
    "required_changes",
    "resolve_target",
]
