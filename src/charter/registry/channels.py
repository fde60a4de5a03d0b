"""Following a channel tag or a semantic-version range in a repository.

A bundle is pushed under its exact version and its channels (``1.0.1``,
``1.0``, ``1``); a consumer follows a channel by pulling that tag, or a range
by asking for the newest exact-version tag inside it. Ranges are small and
explicit: ``1`` / ``1.x`` (same major), ``1.0`` / ``~1.0`` (same minor),
``^1.2.3`` (same major, at least 1.2.3) or comparisons joined by commas
(``>=1.2.0,<2.0.0``). Pre-release tags are never chosen. Whatever is chosen
is still verified and checked against the accepted versions (no rollback).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import semver

from charter.core.errors import InputError, RegistryError
from charter.registry.oci import Connection, OciClient, Reference

_PARTIAL = re.compile(
    r"^(?P<op>[~^]?)(?P<major>\d+)(?:\.(?P<minor>\d+|x|\*))?(?:\.(?P<patch>\d+|x|\*))?$"
)
_COMPARISON = re.compile(r"^(>=|<=|>|<|==|!=)\s*(\d+\.\d+\.\d+)$")

Matcher = Callable[[semver.Version], bool]


def _partial(text: str) -> Matcher:
    found = _PARTIAL.match(text)
    if found is None:
        raise InputError(
            f"{text!r} is not a version range",
            hint="use 1, 1.0, ~1.0, ^1.2.3 or comparisons like >=1.2.0,<2.0.0",
        )
    op, major = found["op"], int(found["major"])
    minor = found["minor"] if found["minor"] not in (None, "x", "*") else None
    patch = found["patch"] if found["patch"] not in (None, "x", "*") else None
    floor = semver.Version(major, int(minor or 0), int(patch or 0))
    if op == "^" or (op == "" and minor is None):
        return lambda v: v.major == major and v >= floor
    if op == "~" or patch is None:
        return lambda v: (v.major, v.minor) == (floor.major, floor.minor) and v >= floor
    return lambda v: v == floor


def _comparison(expression: str) -> Matcher:
    return lambda v: bool(v.match(expression))


def parse_range(text: str) -> Matcher:
    """A predicate over versions for ``text`` (see the module docstring)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise InputError("an empty version range matches nothing", hint="e.g. 1 or >=1.2.0,<2")
    checks: list[Matcher] = []
    for part in parts:
        comparison = _COMPARISON.match(part)
        if comparison is None:
            checks.append(_partial(part))
            continue
        checks.append(_comparison(comparison[1] + comparison[2]))
    return lambda v: all(check(v) for check in checks)


def newest_in_range(tags: Sequence[str], text: str) -> str | None:
    """The exact-version tag (``X.Y.Z``, no pre-release) newest in the range, if any."""
    matches = parse_range(text)
    best: tuple[semver.Version, str] | None = None
    for tag in tags:
        try:
            version = semver.Version.parse(tag)
        except ValueError:
            continue  # channel tags (1.0, latest) and signature tags are not versions
        if version.prerelease or version.build or not matches(version):
            continue
        if best is None or version > best[0]:
            best = (version, tag)
    return best[1] if best else None


def resolve_range(
    reference: str | Reference, text: str, *, connection: Connection | None = None
) -> Reference:
    """``reference`` re-pointed at the newest version tag inside range ``text``."""
    ref = reference if isinstance(reference, Reference) else Reference.parse(reference)
    client = OciClient(ref, connection=connection)
    with client.open() as session:
        tags = client.list_tags(session)
    chosen = newest_in_range(tags, text)
    if chosen is None:
        raise RegistryError(
            f"{ref.registry}/{ref.repository}: no version tag matches {text!r}",
            hint="push the bundle under its exact version (bundle push --tag X.Y.Z)",
        )
    return Reference(ref.registry, ref.repository, chosen, None)
