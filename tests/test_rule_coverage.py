"""Tests and lint a reviewer can trust (issue 15).

* L060: each rule needs its own firing and silent test, attributed by running
  the tests (coverage of the rule's body + each input evaluated on its own),
  never by other rules' tests.
* L012: "has no effect" follows the data flow into deny/ask, not rule names.
* `rule test`: opa-test conventions (SKIPPED, print output, tests outside
  *_test.rego, a Rego v0 module as an ERROR at file:line, plain boolean tests),
  and `--coverage` (opa-shaped JSON + the per-rule table).
* `rule sign`: signs the modules and data.json the rule reads, and says what it
  left out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.cli import main
from charter.cli._app import ReportFormat
from charter.cli.rule import rendered_test_report, stack_with
from charter.policy.build import rule_dependencies
from charter.policy.bundle import load_directory
from charter.policy.dataflow import dead_rules
from charter.policy.lint import lint_bundle
from charter.policy.stack import load_stack
from charter.policy.testing import TestReport, attribute, load_for_tests, run_tests
from charter.trust import keys, signing
from charter.trust import keys as keymod
from tests.bundle_helpers import make_key
from tests.conftest import write_bundle

HEADER = """# METADATA
# title: Rule {rid}
# description: A test rule.
# related_resources:
#   - ref: https://example.test/{rid}
# custom:
#   id: {rid}
#   severity: high
#   category: process
package charter.overlay.{pkg}

import rego.v1
"""

# Two conditions: production merges that touch deploy/.
DEPLOY = """
deny contains {{"rule": "{rid}", "msg": "deploy outside the window"}} if {{
	input.kind == "merge"
	some f in input.files
	startswith(f.path, "deploy/")
	not input.in_window
}}
"""

TICKET = """
deny contains {{"rule": "{rid}", "msg": "no ticket"}} if {{
	input.kind == "merge"
	not contains(object.get(input, "body", ""), "CM-")
}}
"""


def _rule(rid: str, pkg: str, body: str) -> str:
    text = body.replace("{rid}", rid).replace("{{", "{").replace("}}", "}")
    return HEADER.format(rid=rid, pkg=pkg) + text


def _tests(pkg: str, *tests: str) -> str:
    head = f"package charter.overlay.{pkg}_test\n\nimport rego.v1\n\n"
    head += f"import data.charter.overlay.{pkg}\n"
    return head + "\n".join(tests)


def _bundle(tmp: Path, files: dict[str, str]) -> Path:
    return write_bundle(tmp, layer="overlay", name="acme", roots=["charter/overlay"], files=files)


TICKET_TESTS = (
    """
test_merge_without_ticket_denied if {
	some e in ticket.deny with input as {"kind": "merge", "body": "x", "files": []}
	e.rule == "ACME-TICKET-001"
}
""",
    """
test_merge_with_ticket_allowed if {
	count(ticket.deny) == 0 with input as {
		"kind": "merge", "body": "CM-1", "files": [{"path": "docs/x"}],
	}
}
""",
)

DEPLOY_FIRES = """
test_deploy_outside_window_denied if {
	some e in window.deny with input as {
		"kind": "merge", "files": [{"path": "deploy/app.yaml"}],
	}
	e.rule == "ACME-WINDOW-001"
}
"""

DEPLOY_SILENT = """
test_deploy_inside_window_allowed if {
	count(window.deny) == 0 with input as {
		"kind": "merge", "in_window": true, "files": [{"path": "deploy/app.yaml"}],
	}
}
"""


# Named like the window rule's silent test, with an input that would be a near
# miss for it, but it only evaluates the ticket rule: it is not the window's.
NAMED_ONLY = """
test_window_rule_inside_window_allowed if {
	count(data.charter.overlay.ticket.deny) == 0 with input as {
		"kind": "merge", "body": "CM-2", "in_window": true, "files": [{"path": "deploy/a"}],
	}
}
"""


def _l060(report_path: Path) -> dict[str, str]:
    report = lint_bundle(report_path)
    return {f.message.split()[1]: f.message for f in report.findings if f.code == "CHARTER-L060"}


# ------------------------------------------------------------------ L060 attribution


def test_a_rule_with_only_a_firing_test_fails_even_when_other_rules_tests_would_fit(
    tmp_path: Path,
) -> None:
    # The ticket rule's silent test has an input that is a near miss for the
    # window rule too (a merge with a file outside deploy/): it must not count for
    # the window rule, since running it never evaluates the window rule.
    files = {
        "charter/overlay/ticket.rego": _rule("ACME-TICKET-001", "ticket", TICKET),
        "charter/overlay/ticket_test.rego": _tests("ticket", *TICKET_TESTS),
        "charter/overlay/window.rego": _rule("ACME-WINDOW-001", "window", DEPLOY),
        "charter/overlay/window_test.rego": _tests("window", DEPLOY_FIRES, NAMED_ONLY),
    }
    missing = _l060(_bundle(tmp_path / "b", files))
    assert set(missing) == {"ACME-WINDOW-001"}
    assert "stays silent" in missing["ACME-WINDOW-001"]
    assert "produces a violation" not in missing["ACME-WINDOW-001"]
    files["charter/overlay/window_test.rego"] = _tests("window", DEPLOY_FIRES, DEPLOY_SILENT)
    layer = load_directory(_bundle(tmp_path / "c", files))
    paths = {r.id: (r.package, r.file) for r in layer.rules}
    measured = attribute(stack_with(load_stack(), [layer]).layers, layer, paths)
    assert all(r.firing and r.silent for r in measured.rules)
    (window,) = (r for r in measured.rules if r.rule == "ACME-WINDOW-001")
    assert [t.rsplit(".", 1)[1] for t in window.silent] == ["test_deploy_inside_window_allowed"]


def test_a_silent_test_that_fails_the_first_condition_is_not_the_rules_own(
    tmp_path: Path,
) -> None:
    # A push never gets past `input.kind == "merge"`: it says nothing about the rule.
    push = """
test_push_allowed if {
	count(window.deny) == 0 with input as {"kind": "push", "files": [{"path": "deploy/a"}]}
}
"""
    files = {
        "charter/overlay/window.rego": _rule("ACME-WINDOW-001", "window", DEPLOY),
        "charter/overlay/window_test.rego": _tests("window", DEPLOY_FIRES, push),
    }
    assert set(_l060(_bundle(tmp_path / "b", files))) == {"ACME-WINDOW-001"}


def test_two_rules_in_one_package_are_attributed_separately(tmp_path: Path) -> None:
    # Same package, one test module: each test is attributed by which rule's
    # entries it produced, so the ticket rule's firing test is not the window's.
    both = (
        HEADER.format(rid="ACME-WINDOW-001", pkg="both")
        + DEPLOY.format(rid="ACME-WINDOW-001")
        + "\n# METADATA\n# title: Rule ACME-TICKET-001\n# description: A test rule.\n"
        "# related_resources:\n#   - ref: https://example.test/t\n# custom:\n"
        "#   id: ACME-TICKET-001\n#   severity: high\n#   category: process\n"
        + TICKET.format(rid="ACME-TICKET-001")
    )
    tests = _tests(
        "both",
        *(t.replace("ticket.deny", "both.deny") for t in TICKET_TESTS),
    )
    layer_dir = _bundle(tmp_path / "b", {"charter/overlay/both.rego": both,
                                         "charter/overlay/both_test.rego": tests})  # fmt: skip
    layer = load_directory(layer_dir)
    path = str(layer_dir / "charter/overlay/both.rego")
    pkg = "charter.overlay.both"
    measured = attribute(
        stack_with(load_stack(), [layer]).layers,
        layer,
        {"ACME-WINDOW-001": (pkg, path), "ACME-TICKET-001": (pkg, path)},
    )
    by_rule = {r.rule: r for r in measured.rules}
    assert [t.rsplit(".", 1)[1] for t in by_rule["ACME-TICKET-001"].firing] == [
        "test_merge_without_ticket_denied"
    ]
    assert by_rule["ACME-WINDOW-001"].firing == ()
    assert [t.rsplit(".", 1)[1] for t in by_rule["ACME-TICKET-001"].silent] == [
        "test_merge_with_ticket_allowed"
    ]
    # Both tests evaluate the whole package, and both inputs are merges, which
    # meet the window rule's first condition: for it they are near misses (the
    # documented limit of attribution within one package).
    assert sorted(t.rsplit(".", 1)[1] for t in by_rule["ACME-WINDOW-001"].silent) == [
        "test_merge_with_ticket_allowed",
        "test_merge_without_ticket_denied",
    ]


# ------------------------------------------------------------------ L012 data flow


def _l012(tmp: Path, module: str, *, lint: bool = False) -> set[str]:
    """The rules L012 warns about (through the whole linter with ``lint``)."""
    files = {
        "charter/overlay/window.rego": _rule("ACME-WINDOW-001", "window", module),
        "charter/overlay/window_test.rego": _tests("window", DEPLOY_FIRES, DEPLOY_SILENT),
    }
    bundle = _bundle(tmp, files)
    if not lint:
        return {r.name for r in dead_rules(load_directory(bundle).policy_modules)}
    report = lint_bundle(bundle)
    assert report.ok, [f.message for f in report.errors]
    return {f.message.split("`")[1] for f in report.findings if f.code == "CHARTER-L012"}


def test_a_helper_named_exception_that_feeds_deny_draws_no_warning(tmp_path: Path) -> None:
    module = """
exception if input.in_window

deny contains {"rule": "ACME-WINDOW-001", "msg": "deploy outside the window"} if {
	input.kind == "merge"
	some f in input.files
	startswith(f.path, "deploy/")
	not exception
}
"""
    assert _l012(tmp_path / "b", module, lint=True) == set()


def test_rules_named_like_effects_that_flow_nowhere_still_warn(tmp_path: Path) -> None:
    module = (
        DEPLOY
        + """
allow if input.kind == "push"

test_allow_is_a_test_not_a_rule if allow with input as {"kind": "push"}

exception contains f if some f in input.files

waiver_reason := "looks important"
"""
    )
    assert _l012(tmp_path / "b", module, lint=True) == {"allow", "exception", "waiver_reason"}


def test_a_field_of_a_functions_result_is_read(tmp_path: Path) -> None:
    """`f(x).field` reads `f` (and what its arguments name): the call is not a path."""
    module = """
parts(path) := {"dir": split(path, "/")[0]}

deploy_dirs := {"deploy"}

unused(path) := {"dir": path}

deny contains {"rule": "ACME-WINDOW-001", "msg": "deploy outside the window"} if {
	input.kind == "merge"
	some f in input.files
	parts(f.path).dir in deploy_dirs
	not input.in_window
}
"""
    assert _l012(tmp_path / "b", module) == {"unused"}


def test_an_oddly_named_chain_into_deny_across_packages_is_live(tmp_path: Path) -> None:
    helper = """package charter.overlay.lib

import rego.v1

zzz_quux := {"deploy/"}

frobnicate(path) if {
	some p in zzz_quux
	startswith(path, p)
}

unused_helper := 1
"""
    rule = _rule(
        "ACME-WINDOW-001",
        "window",
        """
import data.charter.overlay.lib as l

deny contains {{"rule": "{rid}", "msg": "deploy outside the window"}} if {{
	input.kind == "merge"
	some f in input.files
	l.frobnicate(f.path)
	not input.in_window
}}
""",
    )
    files = {
        "charter/overlay/lib.rego": helper,
        "charter/overlay/window.rego": rule,
        "charter/overlay/window_test.rego": _tests("window", DEPLOY_FIRES, DEPLOY_SILENT),
    }
    layer = load_directory(_bundle(tmp_path / "b", files))
    assert {r.name for r in dead_rules(layer.policy_modules)} == {"unused_helper"}


def test_an_entrypoint_is_live(tmp_path: Path) -> None:
    module = (
        DEPLOY
        + """
# METADATA
# entrypoint: true
summary := {"rules": 1}
"""
    )
    assert _l012(tmp_path / "b", module) == set()


# ------------------------------------------------------------------ opa test conventions


COMPAT_TESTS = """
todo_test_weekend_freeze if {
	false
}

test_prints_and_passes if {
	print("checking", "deploy/app.yaml")
	count(window.deny) == 0 with input as {"kind": "push"}
}

test_plain_boolean_fails if {
	1 == 2
}
"""


@pytest.fixture
def compat_bundle(tmp_path: Path) -> Path:
    rule = _rule("ACME-WINDOW-001", "window", DEPLOY) + (
        "\ntest_inline_rule_test if true\n\ntest_helper(x) if x == 1\n"
    )
    v0 = 'package charter.overlay.old\n\ndeny[msg] {\n  input.kind == "merge"\n  msg := "x"\n}\n'
    files = {
        "charter/overlay/window.rego": rule,
        "charter/overlay/window_test.rego": _tests("window", DEPLOY_FIRES, COMPAT_TESTS),
        "charter/overlay/old.rego": v0,
    }
    return _bundle(tmp_path / "b", files)


def test_opa_test_conventions(compat_bundle: Path) -> None:
    layer, broken = load_for_tests(compat_bundle)
    (error,) = broken
    assert error.status == "ERROR" and error.file.endswith("old.rego") and error.row == 3
    assert "Rego v0" in (error.error or "")
    report = run_tests(stack_with(load_stack(), [layer]), [layer])
    by_name = {r.name: r for r in report.results}
    assert by_name["todo_test_weekend_freeze"].status == "SKIPPED"
    assert by_name["test_prints_and_passes"].output == ("checking deploy/app.yaml",)
    assert by_name["test_inline_rule_test"].passed  # a test_ rule outside *_test.rego
    assert "test_helper" not in by_name  # a function is never a test
    plain = by_name["test_plain_boolean_fails"]
    assert plain.status == "FAIL" and plain.actual is None
    assert plain.reason is not None and "undefined" in plain.reason
    assert (report.passed, report.failed, report.skipped) == (3, 1, 1)


def test_rule_test_cli_reports_everything_and_keeps_running(
    compat_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rule", "test", str(compat_bundle)]) == 1
    out = capsys.readouterr().out
    assert "old.rego:3" in out and "Rego v0" in out
    assert "todo_test_weekend_freeze: SKIPPED" in out
    assert "\n  checking deploy/app.yaml\n" in out
    assert "test_inline_rule_test: PASS" in out
    assert "expected verdict: ?" not in out and "undefined" in out
    assert "SKIPPED: 1/" in out
    layer, broken = load_for_tests(compat_bundle)
    report = run_tests(stack_with(load_stack(), [layer]), [layer])
    report = TestReport((*broken, *report.results))
    for fmt in ReportFormat:
        text = rendered_test_report(report, fmt)
        assert "boolean" in text and "verdict ?" not in text, fmt
        assert "old.rego" in text, fmt
    junit = rendered_test_report(report, ReportFormat.junit)
    assert "<skipped" in junit and "<system-out>checking deploy/app.yaml</system-out>" in junit
    sarif = json.loads(rendered_test_report(report, ReportFormat.sarif))
    kinds = {r["ruleId"].rsplit(".", 1)[-1]: r["kind"] for r in sarif["runs"][0]["results"]}
    assert kinds["todo_test_weekend_freeze"] == "notApplicable"
    assert kinds["test_plain_boolean_fails"] == "fail"


def test_coverage_json_is_opa_shaped_with_the_per_rule_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "charter/overlay/window.rego": _rule("ACME-WINDOW-001", "window", DEPLOY)
        + '\ndeny contains {"rule": "ACME-WINDOW-001", "msg": "tag"} if {\n'
        '\tinput.kind == "tag"\n\tinput.never_reached == 1\n}\n',
        "charter/overlay/window_test.rego": _tests("window", DEPLOY_FIRES),
    }
    bundle = _bundle(tmp_path / "b", files)
    assert main(["rule", "test", str(bundle), "--coverage", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (path,) = doc["files"]
    entry = doc["files"][path]
    assert path.endswith("window.rego")
    covered = {r for x in entry["covered"] for r in range(x["start"]["row"], x["end"]["row"] + 1)}
    missing = {
        r for x in entry["not_covered"] for r in range(x["start"]["row"], x["end"]["row"] + 1)
    }
    source = (bundle / "charter/overlay/window.rego").read_text().splitlines()
    assert any("never_reached" in source[r - 1] for r in missing)
    assert any("startswith" in source[r - 1] for r in covered)
    assert entry["covered_lines"] == len(covered) and 0 < doc["coverage"] < 100
    (rule,) = doc["rules"]
    assert rule["rule"] == "ACME-WINDOW-001" and rule["silent_tests"] == []
    assert [t.rsplit(".", 1)[1] for t in rule["firing_tests"]] == [
        "test_deploy_outside_window_denied"
    ]
    assert main(["rule", "test", str(bundle), "--coverage"]) == 0
    text = capsys.readouterr().out
    assert "ACME-WINDOW-001" in text and "NONE" in text and "Line coverage" in text
    assert main(["rule", "test", str(bundle), "--coverage", "--format", "sarif"]) == 2


# ------------------------------------------------------------------ rule sign


def test_sign_covers_what_the_rule_reads_and_says_what_it_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    helper = """package charter.overlay.lib

import rego.v1

protected(path) if startswith(path, data.charter.overlay.approvers.prefix)
"""
    rule = _rule(
        "ACME-APPROVER-001",
        "approver",
        """
import data.charter.overlay.lib

deny contains {{"rule": "{rid}", "msg": msg}} if {{
	input.kind == "merge"
	some f in input.files
	lib.protected(f.path)
	not data.charter.overlay.approvers.group in input.groups
	limit := data.charter.constitution.parameters.max_waiver_days
	msg := sprintf("needs %s (%v)", [data.charter.overlay.approvers.group, limit])
}}
""",
    )
    tests = _tests(
        "approver",
        """
test_unapproved_denied if {
	some e in approver.deny with input as {
		"kind": "merge", "groups": [], "files": [{"path": "sg/a.tf"}],
	}
	e.rule == "ACME-APPROVER-001"
}

test_approved_allowed if {
	count(approver.deny) == 0 with input as {
		"kind": "merge", "groups": ["secops"], "files": [{"path": "sg/a.tf"}],
	}
}
""",
    )
    files = {
        "charter/overlay/lib.rego": helper,
        "charter/overlay/approvers/data.json": json.dumps({"group": "secops", "prefix": "sg/"}),
        "charter/overlay/approver.rego": rule,
        "charter/overlay/approver_test.rego": tests,
        "charter/overlay/unrelated.rego": _rule("ACME-TICKET-001", "unrelated", TICKET),
        "charter/overlay/unrelated_test.rego": _tests(
            "unrelated", *(t.replace("ticket.deny", "unrelated.deny") for t in TICKET_TESTS)
        ),
    }
    bundle = _bundle(tmp_path / "b", files)
    target = bundle / "charter/overlay/approver.rego"
    _, deps = rule_dependencies(target)
    assert deps.files[0] == "charter/overlay/approver.rego"
    assert set(deps.files[1:]) == {
        "charter/overlay/lib.rego",
        "charter/overlay/approvers/data.json",
    }
    assert deps.outside == ("data.charter.constitution.parameters.max_waiver_days",)
    key, public = make_key(tmp_path / "keys")
    keymod.write_private(tmp_path / "keys/signing.key", key)
    assert main(["rule", "sign", str(target), "--key", str(tmp_path / "keys/signing.key")]) == 0
    out = capsys.readouterr().out
    signed = signing.signed_entries(
        (bundle / ".signatures.json").read_bytes(), keys.load_public(public), scope="overlay"
    )
    assert set(signed or {}) == {
        ".manifest",
        "charter/overlay/approver.rego",
        "charter/overlay/approver_test.rego",
        "charter/overlay/lib.rego",
        "charter/overlay/approvers/data.json",
    }
    assert "approvers/data.json" in out and "lib.rego" in out
    # The approver group is bound by the signature: another group no longer matches.
    data = bundle / "charter/overlay/approvers/data.json"
    data.write_text(json.dumps({"group": "everyone", "prefix": "sg/"}))
    name = "charter/overlay/approvers/data.json"
    assert signing.file_hash(name, data.read_bytes()) != (signed or {})[name]
    assert "Left out" in out and "data.charter.constitution.parameters.max_waiver_days" in out
    assert "Not signed" in out and "unrelated.rego" in out
