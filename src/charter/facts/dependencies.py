"""Dependency changes derived from the lockfiles and manifests a change touches.

API::

    result = derive_dependency_changes({path: (before, after), ...})
    result.changes   # tuple[DependencyChange, ...], sorted
    result.unparsed  # tuple[UnparsedFile, ...], sorted
    is_dependency_file(path) -> bool

``before``/``after`` are the file's bytes on each side, ``None`` where the file
does not exist (added: before is None; removed: after is None). Paths that are
not dependency files are ignored. Files read: package-lock.json and
npm-shrinkwrap.json (lockfileVersion 1-3), yarn.lock (v1 and berry),
pnpm-lock.yaml (v5-v9), requirements*.txt, poetry.lock, uv.lock, Pipfile.lock,
go.mod (go.sum is checked for form only: go.mod decides the versions built),
Cargo.lock and Gemfile.lock; the manifests package.json, pyproject.toml,
Pipfile and Cargo.toml (declared requirements, overrides and sources); files
that decide what is installed but are not read (Gemfile, setup.py, .npmrc, …),
and the lockfiles of ecosystems Charter does not read (composer.lock, gradle.lockfile,
packages.lock.json, …: ``charter.facts.lockfiles.UNREAD_LOCKFILES``), are always
unparsed. Names compare case-insensitively.

A :class:`DependencyChange` is one package whose locked version changed: added
(``old`` None), removed (``new`` None) or changed. When a file locks several
versions of one name (npm nested ``node_modules``), the versions that left are
paired with the versions that arrived in version order; an unmatched one is an
addition or a removal. A change with ``old == new`` is the same version fetched
from another place or with another checksum (``resolved``/``integrity``,
``source``/``checksum``, ``--hash``, a git ``revision``): a lockfile-injection
signal, never hidden.

requirements*.txt (and ``requirements/*.txt``): a requirement without an exact
``==`` pin has version ``None``, so there ``None`` can also mean "not pinned";
a direct reference ``name @ url`` has the version ``"@ url"``; the options that
change where packages come from (``--index-url``, ``--extra-index-url``,
``--find-links``, ``--trusted-host``, ``--editable``) are entries named by the
long option with its value as the version, so adding or changing one shows.
go.mod: a ``replace`` makes the version ``"<required> => <target>"``.
``direct`` is whether the project declares the package itself, ``None`` where
the file does not say (yarn v1, poetry.lock, requirements*.txt, Pipfile.lock).

A file that cannot be read with certainty — malformed, not UTF-8, duplicate
keys, a control character (NUL) in a name or version, a yarn or npm entry
whose registry ``resolved`` URL downloads another package or version than it
states, an unknown go.mod directive or Gemfile.lock section, larger than
:data:`MAX_FILE_BYTES` — yields an :class:`UnparsedFile` naming the path and the
problem, and no changes from that file: its dependency change is unknown, and
callers must treat it as such (at least ``ask``). Nothing here raises on bad
input. See docs/design.md, "Proposal document".
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import zip_longest
from typing import cast

from charter.core.errors import InputError
from charter.core.memo import bytes_lru, text_weight
from charter.facts.lockfiles import Inventory, OriginsWanted, Unreadable, package_lock, reader_for

#: Largest dependency file read (bytes); a larger one is reported unparsed.
MAX_FILE_BYTES = 64 * 1024 * 1024

#: One side of a dependency file: its bytes, a function returning them (called once,
#: when the file is read: only one file's bytes are then held at a time), or None
#: where the file does not exist.
Side = bytes | Callable[[], bytes] | None
FileSides = tuple[Side, Side]


@dataclass(frozen=True, slots=True)
class DependencyChange:
    ecosystem: str
    name: str
    old: str | None
    new: str | None
    file: str
    direct: bool | None


@dataclass(frozen=True, order=True)
class UnparsedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class DependencyFacts:
    changes: tuple[DependencyChange, ...]
    unparsed: tuple[UnparsedFile, ...]


def is_dependency_file(path: str) -> bool:
    """Whether Charter reads dependency versions from the file at ``path``."""
    return reader_for(path) is not None


# A lockfile repeats the same few versions thousands of times; bounded by bytes
# (a version string is input), see charter.core.memo.
@bytes_lru(text_weight(16), max_bytes=4 * 2**20, max_entries=4096)
def _version_key(version: str | None) -> tuple[tuple[int, int | str], ...]:
    if version is None:
        return ()
    return tuple(
        (0, int(p)) if p.isdigit() else (1, p) for p in re.findall(r"\d+|[^\d.]+", version)
    )


def _change_key(change: DependencyChange) -> tuple[object, ...]:
    return (
        change.file,
        change.ecosystem,
        change.name,
        change.old is not None,
        _version_key(change.old),
        change.old or "",
        change.new is not None,
        _version_key(change.new),
        change.new or "",
    )


def _read(
    path: str, given: Side, side: str, max_bytes: int, origins: OriginsWanted = None
) -> Inventory | None:
    if given is None:
        return None
    reader = reader_for(path)
    try:
        # The bytes are handed to the reader, not kept here: it may let them go
        # once it has decoded them (package_lock.json does).
        if reader is package_lock:  # the one reader told which origins to keep
            return package_lock(_bytes(given, max_bytes), path, origins=origins)
        return reader(_bytes(given, max_bytes), path) if reader is not None else None
    except Unreadable as exc:
        raise Unreadable(f"{side}: {exc}") from None
    except (
        InputError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        RecursionError,
    ) as exc:
        # Safety net: a shape no reader foresaw is still a named, unparsed file.
        raise Unreadable(f"{side}: unexpected structure ({type(exc).__name__})") from None


def _bytes(given: Side, max_bytes: int) -> bytes:
    """The bytes of one side (read now if ``given`` reads them), at most ``max_bytes``."""
    data = given() if callable(given) else given
    if data is None:
        raise Unreadable("no bytes")  # unreachable: _read handles an absent side
    if len(data) > max_bytes:
        raise Unreadable(f"{len(data)} bytes, more than the {max_bytes} read")
    return data


def _diff(
    path: str, ecosystem: str, before: Inventory | None, after: Inventory | None
) -> list[DependencyChange]:
    changes: list[DependencyChange] = []
    old_locked = before.locked if before is not None else {}
    new_locked = after.locked if after is not None else {}
    for name in _names(before, after):
        old, new = old_locked.get(name, _ABSENT), new_locked.get(name, _ABSENT)
        if not isinstance(old, set) and not isinstance(new, set):
            _diff_one(changes, (path, ecosystem, name), (before, old), (after, new))
            continue
        olds = before.versions(name) if before else set()
        news = after.versions(name) if after else set()
        gone, came = _in_order(olds - news), _in_order(news - olds)
        side = after if after is not None and news else before
        direct = side.is_direct(name) if side is not None else None
        for old, new in zip_longest(gone, came, fillvalue=None):
            changes.append(DependencyChange(ecosystem, name, old, new, path, direct))
        # Same version, fetched from elsewhere or with another checksum: old == new.
        changes.extend(
            DependencyChange(ecosystem, name, kept, kept, path, direct)
            for kept in olds & news
            if _origins(before, name, kept) != _origins(after, name, kept)
        )
    return changes


#: A name one side does not lock (``None`` is a version: "not pinned").
_ABSENT = object()


def _diff_one(
    changes: list[DependencyChange],
    where: tuple[str, str, str],
    before: tuple[Inventory | None, object],
    after: tuple[Inventory | None, object],
) -> None:
    """:func:`_diff` of a name locked at most once on each side (almost every name)."""
    path, ecosystem, name = where
    (old_inv, old), (new_inv, new) = before, after
    side = new_inv if new is not _ABSENT else old_inv
    direct = side.is_direct(name) if side is not None else None
    if old != new:
        changes.append(
            DependencyChange(ecosystem, name, _version(old), _version(new), path, direct)
        )
    elif _origins(old_inv, name, _version(old)) != _origins(new_inv, name, _version(old)):
        changes.append(
            DependencyChange(ecosystem, name, _version(old), _version(old), path, direct)
        )


def _version(held: object) -> str | None:
    """The one version a side locks (None when absent or not pinned)."""
    return None if held is _ABSENT else cast("str | None", held)


def _names(before: Inventory | None, after: Inventory | None) -> Iterator[str]:
    """Every name either side locks, once (without building a set of them)."""
    if before is not None:
        yield from before.locked
    if after is not None:
        yield from (name for name in after.locked if before is None or name not in before.locked)


def _in_order(versions: set[str | None]) -> list[str | None]:
    if len(versions) < 2:  # almost always: one version gone, one come
        return list(versions)
    return sorted(versions, key=lambda v: (_version_key(v), v or ""))


def _origins(inventory: Inventory | None, name: str, version: str | None) -> set[bytes]:
    return inventory.origins_of(name, version) if inventory else set()


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Python's cycle collector paused (when it runs) for the block, resumed after.

    Reading a large lockfile makes hundreds of thousands of objects, tens of
    thousands of which live until the sides are compared, so the collector runs
    full collections over the whole heap (a tenth of a second on a 40,000-package
    package-lock.json) to find cycles that none of it can form: parsed JSON,
    tuples and frozen dataclasses of text refer to nothing that refers back. The
    pause is process-wide; a collector already paused is left paused.
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _none(name: str, version: str | None) -> bool:
    """No package's origin is wanted."""
    return False


def derive_dependency_changes(
    files: Mapping[str, FileSides], *, max_bytes: int = MAX_FILE_BYTES
) -> DependencyFacts:
    """The dependency changes between the two sides of each changed dependency file."""
    with _cycle_collector_paused():
        return _derive(files, max_bytes)


def _derive(files: Mapping[str, FileSides], max_bytes: int) -> DependencyFacts:
    changes: list[DependencyChange] = []
    unparsed: list[UnparsedFile] = []
    for path, (before, after) in files.items():
        if not is_dependency_file(path) or before == after:
            continue
        try:
            # An origin is compared only where both sides lock that version (_diff):
            # a side without the other keeps none, the second side only those.
            old = _read(path, before, "before", max_bytes, None if after is not None else _none)
            new = _read(path, after, "after", max_bytes, _none if old is None else old.locks)
        except Unreadable as exc:
            unparsed.append(UnparsedFile(path, str(exc)))
            continue
        present = new or old
        if present is not None:
            changes.extend(_diff(path, present.ecosystem, old, new))
    return DependencyFacts(tuple(sorted(changes, key=_change_key)), tuple(sorted(unparsed)))
