"""Bumping a bundle's version: every field that carries it, judged against its content.

A bundle's ``.manifest`` carries its version twice: OPA's ``revision`` and
Charter's ``metadata.charter.version``. :func:`bump_directory` moves both
together (and refuses a manifest where they already disagree, instead of
silently taking one). Given the previous release (``since``), it also refuses a
bump smaller than the content demands: a removed rule or a rule whose severity
(its verdict) changed needs a major version, an added rule at least a minor
one; a patch changes no rule.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import semver

from charter.core import jsonio
from charter.core.errors import InputError, PolicyError
from charter.policy.bundle import MANIFEST, Layer, parse_manifest
from charter.policy.compat import LEVELS, Level, version_step


def next_version(version: str, level: str) -> str:
    """``version`` bumped by ``level`` (pre-release and build parts are dropped)."""
    try:
        current = semver.Version.parse(version)
    except ValueError as exc:
        raise InputError(f"{version!r} is not a semantic version") from exc
    if level == "major":
        return str(current.bump_major())
    if level == "minor":
        return str(current.bump_minor())
    if level == "patch":
        base = semver.Version(current.major, current.minor, current.patch)
        return str(base if current.prerelease else base.bump_patch())
    raise InputError(f"unknown bump level {level!r}", hint="patch, minor or major")


@dataclass(frozen=True)
class ContentChange:
    """What changed in the rules between two releases, and the least bump it needs."""

    level: Level
    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def reasons(self) -> list[str]:
        out = [f"rule {r} removed (major)" for r in self.removed]
        out += [f"rule {r} changed severity (major)" for r in self.changed]
        out += [f"rule {r} added (minor)" for r in self.added]
        return out


def content_change(before: Layer, after: Layer) -> ContentChange:
    old = {r.id: r for r in before.rules}
    new = {r.id: r for r in after.rules}
    removed = tuple(sorted(set(old) - set(new)))
    added = tuple(sorted(set(new) - set(old)))
    changed = tuple(sorted(i for i in set(old) & set(new) if old[i].severity != new[i].severity))
    level: Level = "major" if removed or changed else "minor" if added else "patch"
    return ContentChange(level, removed, added, changed)


@dataclass(frozen=True)
class Bump:
    directory: Path
    old: str
    new: str
    fields: tuple[str, ...]
    change: ContentChange | None = None
    written: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "from": self.old,
            "to": self.new,
            "fields": list(self.fields),
            "written": self.written,
            "content": None
            if self.change is None
            else {"requires": self.change.level, "reasons": self.change.reasons()},
        }


def _read(directory: Path) -> tuple[Path, dict[str, Any], str]:
    path = directory / MANIFEST
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the bundle manifest ({exc.strerror})") from exc
    manifest = parse_manifest(data, str(path))
    raw = dict(manifest.raw)
    revision = raw.get("revision")
    if revision is not None and revision != manifest.version:
        raise PolicyError(
            f"{path}: revision {revision!r} and metadata.charter.version "
            f"{manifest.version!r} disagree",
            hint="set both to the released version by hand once; bump keeps them together",
        )
    return path, raw, manifest.version


def bump_directory(
    directory: Path,
    level: str,
    *,
    since: Layer | None = None,
    current: Layer | None = None,
    write: bool = True,
) -> Bump:
    """Bump the version of the bundle in ``directory`` by ``level``.

    With ``since`` (the previous release) and ``current`` (this directory,
    loaded), the new version must be newer than ``since`` by at least what the
    rule changes require; otherwise nothing is written.
    """
    path, raw, old = _read(directory)
    new = next_version(old, level)
    change: ContentChange | None = None
    if since is not None and current is not None:
        change = content_change(since, current)
        moved = version_step(since.version, new)
        if moved is None:
            raise PolicyError(
                f"{directory}: {new} is not newer than the previous release {since.version}"
            )
        if LEVELS.index(moved) < LEVELS.index(change.level):
            raise PolicyError(
                f"{directory}: a {moved} release ({since.version} → {new}) cannot carry "
                f"these changes: {'; '.join(change.reasons())}",
                hint=f"bump {change.level} (a removed or re-graded rule is a major change)",
            )
    fields = ["metadata.charter.version"]
    raw["metadata"]["charter"]["version"] = new
    if "revision" in raw:
        raw["revision"] = new
        fields.insert(0, "revision")
    if write:
        _write(path, raw)
    return Bump(directory, old, new, tuple(fields), change, written=write)


def _write(path: Path, raw: dict[str, Any]) -> None:
    text = json.dumps(raw, indent=2, ensure_ascii=False) + "\n"
    jsonio.loads(text.encode(), what=str(path))  # what is written reads back
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".manifest.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
