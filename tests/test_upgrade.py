"""`charter upgrade check`: minor upgrades pass with the linter; majors list what must change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from charter.cli import main
from charter.core.errors import InputError, PolicyError
from charter.policy.build import build_bundle
from charter.policy.bundle import load_directory
from charter.policy.compat import judge
from charter.policy.stack import load_stack, shipped_constitution_path
from charter.policy.upgrade import changelog, check_upgrade, resolve_target
from charter.trust import keys
from tests.conftest import BundleFactory

ASSETS = Path(__file__).parent / "assets" / "lint"
V4 = ASSETS / "constitution-4.0.0"  # a hypothetical next major after the shipped 3.0.0
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
    log = changelog(load_directory(V4))
    assert log["4.0.0"].rules_renamed == {"PROC-NO-SELF-APPROVAL-001": "PROC-NO-SELF-APPROVAL-002"}


def test_major_upgrade_lists_required_changes(legacy_overlay: Path) -> None:
    report = check_upgrade(legacy_overlay, resolve_target(str(V4)))
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
    # The linter agrees: the parameter no longer exists in 4.0.0.
    assert "CHARTER-L022" in report.lint.codes()


def test_major_upgrade_of_a_clean_overlay_passes() -> None:
    report = check_upgrade(EXAMPLE, resolve_target(str(V4)))
    assert report.major and report.required == () and report.ok


def test_minor_upgrade_passes_when_lint_passes(tmp_path: Path, legacy_overlay: Path) -> None:
    target = tmp_path / "constitution-3.1.0"
    shutil.copytree(shipped_constitution_path(), target)
    manifest = json.loads((target / ".manifest").read_text())
    manifest["metadata"]["charter"]["version"] = "3.1.0"
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
    assert main(["upgrade", "check", "--overlay", str(legacy_overlay), "--to", str(V4)]) == 1
    out = capsys.readouterr().out
    assert "renamed to PROC-NO-SELF-APPROVAL-002" in out and "must NOT switch" in out
    assert main(["upgrade", "check", "--overlay", str(EXAMPLE), "--to", str(V4),
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
    # 2.0.0 and 3.0.0 (changed rules), 2.0.1 and 2.1.1 (speed only), 2.1.0 (new rule)
    target = resolve_target("3.0.0")
    for overlay in (legacy_overlay, EXAMPLE):
        report = check_upgrade(overlay, target, current=current)
        assert report.major and report.required == () and report.ok, report.to_dict()
        assert sorted(c.version for c in report.changes) == [
            "2.0.0",
            "2.0.1",
            "2.1.0",
            "2.1.1",
            "3.0.0",
        ]


def test_overlay_may_tighten_human_citation_to_deny_but_not_loosen_it(
    make_bundle: BundleFactory,
) -> None:
    target = resolve_target("3.0.0")
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


# --- Semantic versioning judged by content (charter.policy.compat) ---

ADDED_RULE = """# METADATA
# title: Example rule added in a minor release
# description: Denies a proposal titled exactly "forbidden".
# custom:
#   id: PROC-EXAMPLE-ADDED-001
#   severity: low
#   category: process
package charter.constitution.process.example_added

import rego.v1

deny contains {"rule": "PROC-EXAMPLE-ADDED-001", "msg": "forbidden title"} if {
	input.title == "forbidden"
}
"""
ADDED_TEST = """package charter.constitution.process.example_added_test

import rego.v1

import data.charter.constitution.process.example_added

test_forbidden_title_denied if {
	some e in example_added.deny with input as {"title": "forbidden"}
	e.rule == "PROC-EXAMPLE-ADDED-001"
}

test_other_title_allowed if {
	count(example_added.deny) == 0 with input as {"title": "fine"}
}
"""
PROCESS = "charter/constitution/process"


def _without_signed_sbom(tmp_path: Path, version: str) -> Path:
    """The shipped constitution as ``version`` without SC-SIGNED-SBOM-001 (rule and tests)."""
    copy = _as_version(tmp_path, version)
    chain = copy / "charter" / "constitution" / "supply_chain"
    (chain / "signed_sbom.rego").unlink()
    (chain / "signed_sbom_test.rego").unlink()
    fixtures = copy / "charter" / "constitution" / "testdata" / "fixtures_test.rego"
    fixtures.write_text(fixtures.read_text().replace('\t"SC-SIGNED-SBOM-001",\n', ""))
    return copy


def _with_added_rule(tmp_path: Path, version: str) -> Path:
    copy = _as_version(tmp_path, version)
    (copy / PROCESS / "example_added.rego").write_text(ADDED_RULE)
    (copy / PROCESS / "example_added_test.rego").write_text(ADDED_TEST)
    return copy


def _with_tightened_verdict(tmp_path: Path, version: str) -> Path:
    """PROC-NO-DIRECT-PUSH-001 denies (instead of asking about) a push naming no branch;
    its own tests are updated, so the bundle is valid, but the old test now fails."""
    copy = _as_version(tmp_path, version)
    rule = copy / PROCESS / "no_direct_push.rego"
    text = rule.read_text()
    marker = 'ask contains {"rule": "PROC-NO-DIRECT-PUSH-001"'
    assert marker in text
    rule.write_text(text.replace(marker, 'deny contains {"rule": "PROC-NO-DIRECT-PUSH-001"'))
    test = copy / PROCESS / "no_direct_push_test.rego"
    test.write_text(test.read_text().replace("no_direct_push.ask", "no_direct_push.deny"))
    return copy


def _with_comment(tmp_path: Path, version: str) -> Path:
    copy = _as_version(tmp_path, version)
    rule = copy / PROCESS / "no_direct_push.rego"
    rule.write_text(rule.read_text() + "\n# a clarifying comment: no decision changes\n")
    return copy


def test_a_patch_or_minor_without_a_rule_is_refused_by_upgrade_check(
    tmp_path: Path, legacy_overlay: Path
) -> None:
    target = load_directory(_without_signed_sbom(tmp_path / "3.1.0", "3.1.0"))
    report = check_upgrade(EXAMPLE, target)
    assert not report.ok and report.content is not None
    assert report.content.required == "major"
    assert report.content.removed == ("SC-SIGNED-SBOM-001",)
    major = load_directory(_without_signed_sbom(tmp_path / "4", "4.0.0"))
    assert check_upgrade(EXAMPLE, major).ok  # a major release may remove a rule


def test_cli_upgrade_check_says_why_a_rule_removal_may_not_switch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = _without_signed_sbom(tmp_path, "3.0.1")
    assert main(["upgrade", "check", "--overlay", str(EXAMPLE), "--to", str(target)]) == 1
    out = capsys.readouterr().out
    assert "rule SC-SIGNED-SBOM-001 removed (major)" in out
    assert "must NOT switch" in out and "may switch" not in out


def test_content_judgement_of_each_kind_of_change(tmp_path: Path) -> None:
    shipped = load_directory(shipped_constitution_path())
    cases = {
        "removed": (_without_signed_sbom, "major"),
        "added": (_with_added_rule, "minor"),
        "tightened": (_with_tightened_verdict, "major"),
        "comment": (_with_comment, "patch"),
    }
    for name, (make, required) in cases.items():
        found = judge(shipped, load_directory(make(tmp_path / name, "9.0.0")))
        assert found.required == required, (name, found.reasons())
        if name == "tightened":
            assert found.changed == ("PROC-NO-DIRECT-PUSH-001",) and not found.removed
        if name == "added":
            assert found.added == ("PROC-EXAMPLE-ADDED-001",) and not found.changed


@pytest.mark.parametrize(
    ("make", "refused", "accepted"),
    [
        (_without_signed_sbom, ("3.1.0",), "4.0.0"),  # the patch: the CLI test below
        (_with_tightened_verdict, ("3.1.0",), "4.0.0"),
        (_with_added_rule, ("3.0.1",), "3.1.0"),
        (_with_comment, (), "3.0.1"),
    ],
    ids=["removed-rule", "changed-verdict", "added-rule", "no-decision"],
)
def test_bundle_build_refuses_a_version_smaller_than_the_content(
    tmp_path: Path, make: Any, refused: tuple[str, ...], accepted: str
) -> None:
    key = keys.generate()
    for version in refused:
        with pytest.raises(PolicyError, match=f"{version} is a (patch|minor) release"):
            build_bundle(make(tmp_path / version, version), key)
    built = build_bundle(make(tmp_path / accepted, accepted), key)
    assert built.manifest.version == accepted


def test_cli_bundle_build_refuses_a_patch_without_a_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "signing.key"
    keys.write_private(key_file, keys.generate())
    source = _without_signed_sbom(tmp_path, "3.0.1")
    out = tmp_path / "c.tar.gz"
    code = main(["bundle", "build", str(source), "-o", str(out), "--key", str(key_file)])
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "needs a major one" in err and "SC-SIGNED-SBOM-001" in err


def test_cli_bundle_build_since_judges_a_pack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--since`` names the previous release (here of a pack, which has no default)."""
    key_file = tmp_path / "signing.key"
    keys.write_private(key_file, keys.generate())
    previous = Path(__file__).resolve().parents[1] / "examples" / "packs" / "soc2"
    pack = tmp_path / "soc2"
    shutil.copytree(previous, pack)
    manifest = json.loads((pack / ".manifest").read_text())
    major, minor, patch = manifest["metadata"]["charter"]["version"].split(".")
    # A patch release of the shipped pack that removes a rule: needs a major one.
    bumped = f"{major}.{minor}.{int(patch) + 1}"
    manifest["revision"] = manifest["metadata"]["charter"]["version"] = bumped
    (pack / ".manifest").write_text(json.dumps(manifest))
    rule = pack / "charter" / "packs" / "soc2" / "least_privilege.rego"
    test = rule.with_name("least_privilege_test.rego")
    rule.unlink()
    test.unlink()
    out = tmp_path / "p.tar.gz"
    args = ["bundle", "build", str(pack), "-o", str(out), "--key", str(key_file)]
    assert main(args) == 0  # packs have no default baseline
    out.unlink()
    assert main([*args, "--since", str(previous)]) == 2 and not out.exists()
    assert "needs a major one" in capsys.readouterr().err
