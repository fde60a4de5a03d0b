"""`charter rule list/show/test` through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import BundleFactory, overlay_rule


def charter(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from charter.cli import main; sys.exit(main())", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        check=False,
    )


def test_rule_list_json_has_the_contract_fields() -> None:
    result = charter("rule", "list", "--layer", "constitution", "--format", "json")
    assert result.returncode == 0, result.stderr
    rules = json.loads(result.stdout)
    assert rules
    for rule in rules:
        assert set(rule) >= {"id", "layer", "severity", "category", "title"}
        assert rule["layer"] == "constitution"


def test_rule_list_rejects_unknown_layer() -> None:
    result = charter("rule", "list", "--layer", "basement")
    assert result.returncode == 2
    assert "basement" in result.stderr
    assert "Traceback" not in result.stderr


def test_rule_show_unknown_id_is_exit_2() -> None:
    result = charter("rule", "show", "NOPE-NOPE-001")
    assert result.returncode == 2
    assert "no rule 'NOPE-NOPE-001'" in result.stderr


def test_rule_show_json() -> None:
    result = charter("rule", "show", "PROC-NO-DIRECT-PUSH-001", "--format", "json")
    assert result.returncode == 0, result.stderr
    rule = json.loads(result.stdout)
    assert rule["id"] == "PROC-NO-DIRECT-PUSH-001"
    assert rule["links"]
    assert ".rego:" in rule["location"]


def _overlay_with_tests(make_bundle: BundleFactory, test_body: str) -> Path:
    return make_bundle(
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files={
            "r1.rego": overlay_rule("ACME-MERGE-001", 'input.kind == "merge"'),
            "r1_test.rego": (
                "package charter.overlay.r1_test\n\nimport rego.v1\n\n"
                "import data.charter.overlay.r1\n\n" + test_body
            ),
        },
    )


def test_rule_test_reports_passes_like_opa(make_bundle: BundleFactory) -> None:
    path = _overlay_with_tests(
        make_bundle,
        'test_merge_denied if {\n\tcount(r1.deny) == 1 with input as {"kind": "merge"}\n}\n\n'
        'test_push_allowed if {\n\tcount(r1.deny) == 0 with input as {"kind": "push"}\n}\n',
    )
    result = charter("rule", "test", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "data.charter.overlay.r1_test.test_merge_denied: PASS (" in result.stdout
    assert "PASS: 2/2" in result.stdout


def test_rule_test_failure_names_test_location_and_verdicts(make_bundle: BundleFactory) -> None:
    path = _overlay_with_tests(
        make_bundle,
        # Wrong on purpose: a push is not denied by the rule.
        'test_push_denied if {\n\tcount(r1.deny) == 1 with input as {"kind": "push"}\n}\n',
    )
    result = charter("rule", "test", str(path))
    assert result.returncode == 1
    assert "data.charter.overlay.r1_test.test_push_denied: FAIL" in result.stdout
    assert "r1_test.rego:7" in result.stdout
    assert "expected verdict: deny, actual verdict: allow" in result.stdout
    assert "FAIL: 1/1" in result.stdout


def test_rule_test_parse_error_is_exit_2_with_location(make_bundle: BundleFactory) -> None:
    path = make_bundle(
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files={
            "bad_test.rego": "package charter.overlay.bad_test\n\nimport rego.v1\n\ntest_x if {\n"
        },
    )
    result = charter("rule", "test", str(path))
    assert result.returncode == 2
    assert "bad_test.rego:" in result.stderr
    assert "Traceback" not in result.stderr


def test_rule_test_json_output(make_bundle: BundleFactory) -> None:
    path = _overlay_with_tests(
        make_bundle,
        'test_merge_denied if {\n\tcount(r1.deny) == 1 with input as {"kind": "merge"}\n}\n',
    )
    result = charter("rule", "test", str(path), "--format", "json")
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["passed"] == 1 and report["failed"] == 0


def test_unknown_command_is_usage_error() -> None:
    result = charter("frobnicate")
    assert result.returncode == 2
    assert "No such command" in result.stderr
