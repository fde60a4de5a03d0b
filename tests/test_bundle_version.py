"""``charter bundle version bump``: both version fields move together, judged by content."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from charter.cli import main
from charter.policy.build import build_bundle
from charter.policy.stack import shipped_constitution_path
from charter.policy.versioning import next_version
from charter.trust import keys
from tests.conftest import overlay_rule, write_bundle

TRUE = "true"


def overlay(directory: Path, version: str, rules: dict[str, str]) -> Path:
    """An overlay with one module per rule id; the value is the rule's severity."""
    files = {
        f"rules/r{i}.rego": overlay_rule(rid, TRUE, package=f"r{i}").replace(
            "severity: high", f"severity: {severity}"
        )
        for i, (rid, severity) in enumerate(sorted(rules.items()))
    }
    shutil.rmtree(directory, ignore_errors=True)
    return write_bundle(
        directory, layer="overlay", name="acme", roots=["charter/overlay"], files=files,
        version=version,
    )  # fmt: skip


def manifest(directory: Path) -> dict[str, object]:
    return json.loads((directory / ".manifest").read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("version", "level", "expected"),
    [("1.2.3", "patch", "1.2.4"), ("1.2.3", "minor", "1.3.0"), ("1.2.3", "major", "2.0.0"),
     ("2.0.0-rc.1", "patch", "2.0.0")],
)  # fmt: skip
def test_next_version(version: str, level: str, expected: str) -> None:
    assert next_version(version, level) == expected


def test_bump_moves_every_version_field_and_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "constitution"
    shutil.copytree(shipped_constitution_path(), target)
    before = manifest(target)
    old = before["revision"]
    assert main(["bundle", "version", "bump", "minor", str(target)]) == 0
    after = manifest(target)
    new = next_version(str(old), "minor")
    assert after["revision"] == new
    assert after["metadata"]["charter"]["version"] == new  # type: ignore[index]
    after["revision"] = old
    after["metadata"]["charter"]["version"] = old  # type: ignore[index]
    assert after == before
    # The bumped bundle builds and reports the new version.
    assert main(["bundle", "version", "bump", "patch", str(target), "--dry-run"]) == 0
    assert manifest(target)["revision"] == new


def test_disagreeing_fields_are_refused(tmp_path: Path) -> None:
    target = overlay(tmp_path / "o", "1.0.0", {"A-001": "high"})
    raw = manifest(target)
    raw["revision"] = "1.0.1"
    (target / ".manifest").write_text(json.dumps(raw))
    assert main(["bundle", "version", "bump", "patch", str(target)]) == 2
    assert manifest(target) == raw


@pytest.mark.parametrize(
    ("rules", "refused", "allowed"),
    [
        ({"A-001": "high"}, [], "patch"),                       # no rule change
        ({"A-001": "high", "B-001": "low"}, ["patch"], "minor"),  # a rule added
        ({"B-001": "high"}, ["patch", "minor"], "major"),      # a rule removed
        ({"A-001": "low"}, ["patch", "minor"], "major"),       # a rule re-graded
    ],
)  # fmt: skip
def test_bump_is_judged_by_content(
    tmp_path: Path, rules: dict[str, str], refused: list[str], allowed: str
) -> None:
    previous = overlay(tmp_path / "previous", "1.0.0", {"A-001": "high"})
    for level in refused:
        current = overlay(tmp_path / "current", "1.0.0", rules)
        args = ["bundle", "version", "bump", level, str(current), "--since", str(previous)]
        assert main(args) == 2
        assert manifest(current)["revision"] == "1.0.0"  # nothing written
    current = overlay(tmp_path / "current", "1.0.0", rules)
    args = ["bundle", "version", "bump", allowed, str(current), "--since", str(previous)]
    assert main(args) == 0
    assert manifest(current)["revision"] == next_version("1.0.0", allowed)


def test_since_must_be_older(tmp_path: Path) -> None:
    previous = overlay(tmp_path / "previous", "1.1.0", {"A-001": "high"})
    current = overlay(tmp_path / "current", "1.0.0", {"A-001": "high"})
    args = ["bundle", "version", "bump", "patch", str(current), "--since", str(previous)]
    assert main(args) == 2
    assert main(["bundle", "version", "bump", "huge", str(current)]) == 2


def test_since_may_be_a_released_archive(tmp_path: Path) -> None:
    previous = overlay(tmp_path / "previous", "1.0.0", {"A-001": "high"})
    key = keys.generate()
    archive = tmp_path / "acme-1.0.0.tar.gz"
    archive.write_bytes(build_bundle(previous, key, validators=()).data)
    current = overlay(tmp_path / "current", "1.0.0", {"B-001": "high"})
    args = ["bundle", "version", "bump", "minor", str(current), "--since", str(archive)]
    assert main(args) == 2
    args[3] = "major"
    assert main(args) == 0
    assert build_bundle(current, key, validators=()).manifest.version == "2.0.0"
