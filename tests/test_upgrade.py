"""`charter upgrade check`: minor upgrades pass with the linter; majors list what must change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from charter.cli import main
from charter.core.errors import InputError
from charter.policy.bundle import load_directory
from charter.policy.stack import shipped_constitution_path
from charter.policy.upgrade import changelog, check_upgrade, resolve_target
from tests.conftest import BundleFactory

ASSETS = Path(__file__).parent / "assets" / "lint"
V2 = ASSETS / "constitution-2.0.0"
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
    log = changelog(load_directory(V2))
    assert log["2.0.0"].rules_renamed == {"PROC-NO-SELF-APPROVAL-001": "PROC-NO-SELF-APPROVAL-002"}


def test_major_upgrade_lists_required_changes(legacy_overlay: Path) -> None:
    report = check_upgrade(legacy_overlay, resolve_target(str(V2)))
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
    report = check_upgrade(EXAMPLE, resolve_target(str(V2)))
    assert report.major and report.required == () and report.ok


def test_minor_upgrade_passes_when_lint_passes(tmp_path: Path, legacy_overlay: Path) -> None:
    target = tmp_path / "constitution-1.1.0"
    shutil.copytree(shipped_constitution_path(), target)
    manifest = json.loads((target / ".manifest").read_text())
    manifest["metadata"]["charter"]["version"] = "1.1.0"
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
    assert main(["upgrade", "check", "--overlay", str(legacy_overlay), "--to", str(V2)]) == 1
    out = capsys.readouterr().out
    assert "renamed to PROC-NO-SELF-APPROVAL-002" in out and "must NOT switch" in out
    assert main(["upgrade", "check", "--overlay", str(EXAMPLE), "--to", str(V2),
                 "--format", "json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert main(["upgrade", "check", "--overlay", str(EXAMPLE), "--to", "9.9.9"]) == 2
