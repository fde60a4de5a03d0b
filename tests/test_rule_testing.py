"""`charter rule test` internals: verdict words in test names, input locations, collection."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.cli import main
from charter.cli.rule import stack_with
from charter.policy import testing
from charter.policy.bundle import Layer, load_directory
from charter.policy.engine import Engine
from charter.policy.stack import _merge_data, load_stack
from charter.policy.testing import (
    VERDICT_WORDS,
    TestReport,
    TestResult,
    expected_verdict,
    expression_text,
    run_tests,
    with_input_texts,
)
from tests.conftest import BundleFactory, overlay_rule

ROOT = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "verdict"),
    [
        # "approval" is a noun in these names, never a verdict: the last verdict word wins.
        ("test_merge_approval_denied", "deny"),
        ("test_self_approval_claimed_as_human_denied", "deny"),
        ("test_approval_from_security_allowed", "allow"),
        ("test_missing_approval_asks", "ask"),
        ("test_denied_branch_now_allowed", "allow"),
        ("test_allow_list_entry_denied", "deny"),
        ("test_agent_push_without_base_asks", "ask"),
        ("test_push_to_main_deny", "deny"),
        ("test_release_ask", "ask"),
        ("test_docs_only_allow", "allow"),
        ("test_tag_asked", "ask"),
        ("test_feature_branch_allows", "allow"),
        ("test_force_push_denies", "deny"),
        # Negated or absent verdict words give no expectation.
        ("test_merge_not_denied", None),
        ("test_release_never_allowed", None),
        ("test_approval_flow", None),
        ("test_no_violation", None),
        ("test_merge_ok", None),
        ("test_denial_message_text", None),
        ("test_allowance_rules", None),
    ],
)
def test_expected_verdict_reads_the_last_verdict_word(name: str, verdict: str | None) -> None:
    assert expected_verdict(name) == verdict


WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.lists(st.one_of(WORDS, st.sampled_from(sorted(VERDICT_WORDS))), max_size=6),
    last=st.sampled_from(sorted(VERDICT_WORDS)),
    suffix=st.lists(WORDS.filter(lambda w: w not in VERDICT_WORDS), max_size=3),
)
def test_the_last_verdict_word_always_wins(prefix: list[str], last: str, suffix: list[str]) -> None:
    negated = bool(prefix) and prefix[-1] in ("not", "never")
    name = "_".join(["test", *prefix, last, *suffix])
    assert expected_verdict(name) == (None if negated else VERDICT_WORDS[last])


def _stack_and_engine(extra: list[Layer]) -> tuple[list[Layer], Engine, set[str]]:
    stack = stack_with(load_stack(), extra)
    engine = Engine()
    data: dict[str, object] = {}
    for layer in stack.layers:
        _merge_data(data, layer.data)
    engine.add_data(data)
    packages: set[str] = set()
    for layer in stack.layers:
        for module in layer.policy_modules:
            engine.add_module(module.path, module.source)
            if {"deny", "ask"} & module.info.rule_names:
                packages.add(module.info.package)
    for layer in stack.layers:
        for module in layer.test_modules:
            engine.add_module(module.path, module.source)
    return list(stack.layers), engine, packages


def test_shipped_and_example_test_names_match_their_actual_verdicts() -> None:
    extra = [
        load_directory(ROOT / "examples/overlay"),
        *(load_directory(p) for p in sorted((ROOT / "examples/packs").iterdir())),
    ]
    layers, engine, packages = _stack_and_engine(extra)
    measured = 0
    mismatches: set[str] = set()
    for layer in layers:
        for module in layer.test_modules:
            package = testing._tested_package(module.info, packages)
            for name, _ in testing.find_tests(module):
                expected = expected_verdict(name)
                assert expected is not None, f"{module.path}: {name} names no verdict"
                if package is None:
                    continue
                actual = testing._actual_verdict(engine, module, name, package)
                if actual is None:
                    continue  # the input comes from a helper: not measurable here
                measured += 1
                if actual != expected:
                    mismatches.add(name)
    assert measured >= 80
    # Every test's name states the verdict the rule really gives its input.
    assert not mismatches, mismatches


# --------------------------------------------------------------------------- locations

MULTILINE_SOURCE = """package charter.overlay.r1_test

import rego.v1

import data.charter.overlay.r1

# Braces in a comment { must not } confuse anything.
test_push_denied if {
\t"ünïcödé" != "x"; count(r1.deny) == 1 with input as {
\t\t"kind": "push", # a comment with a } brace
\t\t"body": "text with } and { and \\" quote",
\t\t"labels": [`raw ] string`],
\t}
}
"""


def _module(make_bundle: BundleFactory, source: str) -> Layer:
    path = make_bundle(
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files={
            "r1.rego": overlay_rule("ACME-MERGE-001", 'input.kind == "merge"'),
            "r1_test.rego": source,
        },
    )
    return load_directory(path)


def test_with_input_text_of_a_multiline_literal(make_bundle: BundleFactory) -> None:
    layer = _module(make_bundle, MULTILINE_SOURCE)
    (module,) = layer.test_modules
    (text,) = with_input_texts(module, "test_push_denied")
    assert text.startswith("{\n") and text.endswith("\t}")
    assert '"labels": [`raw ] string`],' in text
    assert '"body": "text with } and { and \\" quote",' in text


@pytest.mark.parametrize(
    ("source", "line", "col", "expected"),
    [
        ('x := {"a": [1, 2]} # tail\n', 1, 6, '{"a": [1, 2]}'),
        ('\tf(object.union(a, {"k": 1})) ; y\n', 1, 7, 'object.union(a, {"k": 1})'),
        # regorus columns count UTF-8 bytes and a tab as four.
        ('\t"é" == x; y with input as {"z": "}"}\n', 1, 32, '{"z": "}"}'),
        ("a\nb as {\n  1,\n}\nrest\n", 2, 6, "{\n  1,\n}"),
        ("short\n", 5, 1, ""),
    ],
)
def test_expression_text(source: str, line: int, col: int, expected: str) -> None:
    assert expression_text(source, line, col) == expected


def test_a_failing_multiline_test_reports_location_and_both_verdicts(
    make_bundle: BundleFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Wrong on purpose: the rule denies merges, not pushes.
    layer = _module(make_bundle, MULTILINE_SOURCE)
    report = run_tests(stack_with(load_stack(), [layer]), [layer])
    (result,) = report.results
    assert not result.passed
    assert result.row == 8 and result.file.endswith("r1_test.rego")
    assert (result.expected, result.actual) == ("deny", "allow")
    assert main(["rule", "test", str(Path(layer.source))]) == 1
    out = capsys.readouterr().out
    assert "r1_test.rego:8" in out
    assert "expected verdict: deny, actual verdict: allow" in out


def test_a_passing_multiline_test_whose_name_says_deny(make_bundle: BundleFactory) -> None:
    source = MULTILINE_SOURCE.replace('"kind": "push"', '"kind": "merge"')
    layer = _module(make_bundle, source)
    report = run_tests(stack_with(load_stack(), [layer]), [layer])
    assert report.ok
    (module,) = layer.test_modules
    _, engine, packages = _stack_and_engine([layer])
    assert testing._actual_verdict(engine, module, "test_push_denied", "charter.overlay.r1") == (
        "deny"
    )


# --------------------------------------------------------------------------- collection


def test_report_types_are_not_collected_by_pytest(tmp_path: Path) -> None:
    assert TestReport.__test__ is False and TestResult.__test__ is False  # type: ignore[attr-defined]
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        textwrap.dedent(
            """
            from charter.policy.testing import TestReport, TestResult

            def test_nothing():
                assert TestReport(results=()).ok is False
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-W", "error::pytest.PytestCollectionWarning", str(probe)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "cannot collect" not in result.stdout
