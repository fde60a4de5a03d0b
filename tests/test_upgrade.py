"""`charter upgrade check`: minor upgrades pass with the linter; majors list what must change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from charter.cli import main
from charter.core.errors import InputError
from charter.policy.bundle import load_directory
from charter.policy.stack import load_stack, shipped_constitution_path
from charter.policy.upgrade import changelog, check_upgrade, resolve_target
from tests.conftest import BundleFactory

ASSETS = Path(__file__).parent / "assets" / "lint"
V3 = ASSETS / "constitution-3.0.0"  # a hypothetical next major after the shipped 2.0.0
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "overlay"

LEGACY_RULE = """# METADATA
# title: Self-approval is cited
# description: Asks when the citation block names the self-approval rule.
# related_resources:
#   - ref: https://example.test/ACME-CITE-001
# custom:
#   id: ACME-CITE-001
#   severity: low
#   category: process
package charter.overlay.cite

import rego.v1

ask contains {"rule": "ACME-CITE-001", "msg": "cites self-approval"} if {
	"PROC-NO-SELF-APPROVAL-001" in input.context.citation.rules
}
"""
LEGACY_TEST = """package charter.overlay.cite_test

import rego.v1

import data.charter.overlay.cite

test_cites_ask if {
	some e in cite.ask with input as {"context": {"citation": {
		"rules": ["PROC-NO-SELF-APPROVAL-001"],
	}}}
	e.rule == "ACME-CITE-001"
}

test_other_allowed if {
	count(cite.ask) == 0 with input as {"context": {"citation": {"rules": []}}}
}
"""


@pytest.fixture
def legacy_overlay(make_bundle: BundleFactory) -> Path:
    return make_bundle(
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files={
            "charter/overlay/cite.rego": LEGACY_RULE,
            "charter/overlay/cite_test.rego": LEGACY_TEST,
            "charter/overlay/data.json": json.dumps(
                {"parameters": {"vulnerability_severity_threshold": "medium"}}
            ),
        },
    )


def test_changelog_is_read_from_the_manifest() -> None:
    log = changelog(load_directory(V3))
    assert log["3.0.0"].rules_renamed == {"PROC-NO-SELF-APPROVAL-001": "PROC-NO-SELF-APPROVAL-002"}


def test_major_upgrade_lists_required_changes(legacy_overlay: Path) -> None:
    report = check_upgrade(legacy_overlay, resolve_target(str(V3)))
    assert report.major and not report.ok
    kinds = {(c.kind, c.name, c.replacement) for c in report.required}
    assert ("rule-renamed", "PROC-NO-SELF-APPROVAL-001", "PROC-NO-SELF-APPROVAL-002") in kinds
    assert (
        "parameter-renamed",
        "vulnerability_severity_threshold",
        "vulnerability_block_threshold",
    ) in kinds
    assert any(
        c.location.endswith("cite.rego:15") for c in report.required if c.kind == "rule-renamed"
    )
    # The linter agrees: the parameter no longer exists in 2.0.0.
    assert "CHARTER-L022" in report.lint.codes()


def test_major_upgrade_of_a_clean_overlay_passes() -> None:
    report = check_upgrade(EXAMPLE, resolve_target(str(V3)))
    assert report.major and report.required == () and report.ok


def test_minor_upgrade_passes_when_lint_passes(tmp_path: Path, legacy_overlay: Path) -> None:
    target = tmp_path / "constitution-2.1.0"
    shutil.copytree(shipped_constitution_path(), target)
    manifest = json.loads((target / ".manifest").read_text())
    manifest["metadata"]["charter"]["version"] = "2.1.0"
    (target / ".manifest").write_text(json.dumps(manifest))
    report = check_upgrade(legacy_overlay, resolve_target(str(target)))
    assert not report.major and report.ok


def test_downgrade_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "constitution-0.9.0"
    shutil.copytree(shipped_constitution_path(), target)
    manifest = json.loads((target / ".manifest").read_text())
    manifest["metadata"]["charter"]["version"] = "0.9.0"
    (target / ".manifest").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="older"):
        check_upgrade(EXAMPLE, resolve_target(str(target)))


def test_cli_upgrade_check(legacy_overlay: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upgrade", "check", "--overlay", str(legacy_overlay), "--to", str(V3)]) == 1
    out = capsys.readouterr().out
    assert "renamed to PROC-NO-SELF-APPROVAL-002" in out and "must NOT switch" in out
    assert main(["upgrade", "check", "--overlay", str(EXAMPLE), "--to", str(V3),
                 "--format", "json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert main(["upgrade", "check", "--overlay", str(EXAMPLE), "--to", "9.9.9"]) == 2


# --- The shipped 2.0.0 release: what a 1.0.0 overlay meets when it moves ---


def _as_version(tmp_path: Path, version: str) -> Path:
    copy = tmp_path / f"constitution-{version}"
    shutil.copytree(shipped_constitution_path(), copy)
    manifest = json.loads((copy / ".manifest").read_text())
    manifest["revision"] = version
    manifest["metadata"]["charter"]["version"] = version
    (copy / ".manifest").write_text(json.dumps(manifest))
    return copy


def test_shipped_2_0_0_changelog_names_what_changed() -> None:
    entry = changelog(load_directory(shipped_constitution_path()))["2.0.0"]
    assert set(entry.rules_added) == {
        "PROC-DECLARED-FACTS-MATCH-001",
        "SC-DEPENDENCY-FACTS-001",
        "CRED-UNSCANNED-PATCH-001",
    }
    assert {"CITE-BLOCK-REQUIRED-001", "SC-DEPENDENCY-SCAN-001", "SC-VULN-THRESHOLD-001"} <= set(
        entry.rules_changed
    )
    # 2.0.0 changes behaviour but removes and renames nothing an overlay can reference.
    assert entry.rules_removed == () and entry.parameters_removed == ()
    assert not entry.rules_renamed and not entry.parameters_renamed
    assert set(entry.rules_added) | set(entry.rules_changed) <= set(load_stack().rules)


def test_upgrade_from_1_0_0_to_shipped_2_0_0_is_major_and_needs_no_reference_change(
    tmp_path: Path, legacy_overlay: Path
) -> None:
    current = load_directory(_as_version(tmp_path, "1.0.0"))
    target = resolve_target("2.0.1")  # 2.0.0, then the 2.0.1 patch (speed only)
    for overlay in (legacy_overlay, EXAMPLE):
        report = check_upgrade(overlay, target, current=current)
        assert report.major and report.required == () and report.ok, report.to_dict()
        assert sorted(c.version for c in report.changes) == ["2.0.0", "2.0.1"]


def test_overlay_may_tighten_human_citation_to_deny_but_not_loosen_it(
    make_bundle: BundleFactory,
) -> None:
    target = resolve_target("2.0.1")
    codes: dict[str, set[str]] = {}
    for value in ("deny", "ask", "allow"):
        overlay = make_bundle(
            layer="overlay",
            name=f"acme-{value}",
            roots=["charter/overlay"],
            files={
                "charter/overlay/data.json": json.dumps({"parameters": {"human_citation": value}})
            },
        )
        codes[value] = check_upgrade(overlay, target).lint.codes()
    assert "CHARTER-L020" not in codes["deny"] and "CHARTER-L023" not in codes["deny"]
    assert "CHARTER-L023" in codes["allow"]  # not a value of its order: never allow
