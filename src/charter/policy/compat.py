"""Semantic versioning judged by content: how big a change between two releases is.

A release's version must say what its content does (docs/design.md, 'Trust'):

- **major**: a rule was removed, or a rule's verdict changed on its own tests
  (the previous release's tests fail against the new rules);
- **minor**: a rule was added, or the new release's tests fail against the
  previous rules (a decision the old release did not make);
- **patch**: no decision changed (both test suites pass on both rule sets,
  same rules).

:func:`judge` measures the change, :func:`check_version` refuses a version
that moves less than the content requires. ``bundle build`` and ``upgrade
check`` both use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import semver

from charter.core.errors import PolicyError
from charter.policy.bundle import Layer
from charter.policy.testing import TestResult, run_layer_tests

Level = Literal["patch", "minor", "major"]
LEVELS: tuple[Level, ...] = ("patch", "minor", "major")


@dataclass(frozen=True)
class Judgement:
    """What changed from ``before`` to ``after`` and the least version step it needs."""

    before: str
    after: str
    required: Level
    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    #: Rules (or, when no rule is found for a test file, tests) whose previous tests fail.
    changed: tuple[str, ...] = ()
    #: Rules (or tests) whose new tests fail against the previous rules.
    new_decisions: tuple[str, ...] = ()

    @property
    def moved(self) -> Level | None:
        """How far the version moves (None: not forward)."""
        return version_step(self.before, self.after)

    @property
    def ok(self) -> bool:
        """The version moves at least as far as the content requires (or does not move)."""
        moved = self.moved
        return moved is None or LEVELS.index(moved) >= LEVELS.index(self.required)

    def reasons(self) -> list[str]:
        out = [f"rule {r} removed (major)" for r in self.removed]
        out += [f"{r}: verdict changed on its own tests (major)" for r in self.changed]
        out += [f"rule {r} added (minor)" for r in self.added]
        out += [f"{r}: new decision, its new tests fail on {self.before} (minor)"
                for r in self.new_decisions]  # fmt: skip
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.before,
            "to": self.after,
            "moves": self.moved,
            "requires": self.required,
            "ok": self.ok,
            "reasons": self.reasons(),
        }


def version_step(old: str, new: str) -> Level | None:
    """How far ``new`` moves from ``old`` (None: not forward)."""
    a, b = semver.Version.parse(old), semver.Version.parse(new)
    if b <= a:
        return None
    if b.major != a.major:
        return "major"
    return "minor" if b.minor != a.minor else "patch"


def _relative(file: str, layer: Layer) -> str:
    """``file`` relative to the layer's directory (module paths are absolute)."""
    root = Path(layer.source)
    try:
        return Path(file).relative_to(root).as_posix()
    except ValueError:
        return Path(file).as_posix()


def _failing(results: Sequence[TestResult], tested: Layer, rules_of: Layer) -> tuple[str, ...]:
    """The rules whose tests failed (the test's qualified name when no rule matches)."""
    by_file: dict[str, list[str]] = {}
    for rule in rules_of.rules:
        by_file.setdefault(_relative(rule.file, rules_of), []).append(rule.id)
    found: set[str] = set()
    for result in results:
        if not result.failed:
            continue
        rel = _relative(result.file, tested)
        rule_file = rel[: -len("_test.rego")] + ".rego" if rel.endswith("_test.rego") else rel
        found.update(by_file.get(rule_file) or [result.qualified])
    return tuple(sorted(found))


def judge(before: Layer, after: Layer, upper: Sequence[Layer] = ()) -> Judgement:
    """Compare two releases of one layer by their rules and by each other's tests."""
    old = {r.id for r in before.rules}
    new = {r.id for r in after.rules}
    removed = tuple(sorted(old - new))
    added = tuple(sorted(new - old))
    old_on_new = run_layer_tests([*upper, after], before)
    changed = tuple(r for r in _failing(old_on_new, before, before) if r not in removed)
    fresh: tuple[str, ...] = ()
    if not (removed or changed):  # already major: the other direction cannot add to it
        new_on_old = run_layer_tests([*upper, before], after)
        fresh = tuple(r for r in _failing(new_on_old, after, after) if r not in added)
    required: Level = "major" if removed or changed else "minor" if added or fresh else "patch"
    return Judgement(before.version, after.version, required, removed, added, changed, fresh)


def check_version(before: Layer, after: Layer, upper: Sequence[Layer] = ()) -> Judgement:
    """Raise unless ``after``'s version moves from ``before``'s as far as its content does.

    A major step needs no judgement (anything may change); an unchanged or older
    version is not judged here (rollback is refused where versions are accepted).
    """
    step = version_step(before.version, after.version)
    if step is None or step == "major":
        return Judgement(before.version, after.version, "patch")
    found = judge(before, after, upper)
    if not found.ok:
        raise PolicyError(
            f"{after.source}: {after.version} is a {step} release after {before.version}, "
            f"but its content needs a {found.required} one: {'; '.join(found.reasons()[:5])}",
            hint=f"release it as a {found.required} version (a removed rule or a changed "
            "verdict is major, with a migration note in the changelog)",
        )
    return found


__all__ = ["LEVELS", "Judgement", "Level", "check_version", "judge", "version_step"]
