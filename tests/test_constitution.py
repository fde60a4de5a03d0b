"""The shipped constitution: its rules, their Rego tests and the example proposals.

Everything here runs the real stack: the library API (load_stack → compile →
evaluate) and the command line (``python -m charter``) in a subprocess.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from charter.core.verdict import Verdict
from charter.policy import testing
from charter.policy.bundle import layer_from_files, read_directory_files
from charter.policy.decision import evaluate
from charter.policy.stack import CompiledStack, Stack, load_stack, shipped_constitution_path
from charter.policy.testing import expected_verdict, run_tests
from tests.cli_helpers import CliResult, invoke

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "proposals"
IDENTITIES = ROOT / "examples" / "identities.toml"
NOW_TEXT = "2026-11-20T10:00:00Z"
NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
CATEGORIES = {
    "process",
    "credential",
    "supply-chain",
    "citation",
    "data-residency",
    "environment-profile",
}
EXIT = {"allow": 0, "deny": 1, "ask": 3}

#: example file → (verdict, rule ids that must be among the reasons)
EXPECTED: dict[str, tuple[str, set[str]]] = {
    "docs-pr-compliant.json": ("allow", set()),
    # alice's approval is declared, not read from GitHub: a person confirms it (3.0.0).
    "merge-approved.json": ("ask", {"PROC-MERGE-HUMAN-APPROVALS-001"}),
    "release-declared-signed.json": ("allow", set()),
    "pr-profile-change-declared.json": ("allow", set()),
    "pr-test-fixture-credentials.json": ("allow", set()),
    "agent-push-to-main.json": ("deny", {"PROC-NO-DIRECT-PUSH-001"}),
    "merge-self-approved.json": (
        "deny",
        {"PROC-MERGE-HUMAN-APPROVALS-001", "PROC-NO-SELF-APPROVAL-001"},
    ),
    "pr-aws-key-in-ci.json": ("deny", {"CRED-NO-STATIC-SECRETS-001"}),
    "release-unsigned-sbom.json": ("deny", {"SC-SIGNED-SBOM-001", "SC-SIGNED-PROVENANCE-001"}),
    "pr-without-citation.json": ("deny", {"CITE-BLOCK-REQUIRED-001"}),
    "human-pr-without-citation.json": ("ask", {"CITE-BLOCK-REQUIRED-001"}),
    "pr-dependency-scan-not-audited.json": ("deny", {"SC-DEPENDENCY-SCAN-001"}),
    "pr-dependency-critical-cve.json": ("deny", {"SC-VULN-THRESHOLD-001"}),
    "pr-standing-production-access.json": ("deny", {"CRED-SHORT-LIVED-PROD-ACCESS-001"}),
    "pr-source-code-export.json": ("deny", {"DATA-NO-SOURCE-EXPORT-001"}),
    "human-hotfix-push.json": ("ask", {"PROC-HUMAN-PUSH-PROTECTED-001"}),
    "release-without-artifacts.json": ("ask", {"SC-RELEASE-ARTIFACTS-LISTED-001"}),
}

#: `charter check` reconciles declared facts with derived ones (facts.decide): without
#: --evidence a declared `signed: true` is not believed, so the signed release the
#: library allows is denied by the CLI for the contradiction and the missing signatures.
CLI_EXPECTED: dict[str, tuple[str, set[str]]] = {
    **EXPECTED,
    "release-declared-signed.json": (
        "deny",
        {"PROC-DECLARED-FACTS-MATCH-001", "SC-SIGNED-SBOM-001", "SC-SIGNED-PROVENANCE-001"},
    ),
}


def charter(*args: str, cwd: Path = ROOT) -> CliResult:
    return invoke(*args, cwd=cwd)


def test_python_dash_m_charter_decides_in_its_own_process() -> None:
    name = "agent-push-to-main.json"
    result = subprocess.run(
        [sys.executable, "-m", "charter", "check", str(EXAMPLES / name), "--now", NOW_TEXT,
         "--format", "json"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == EXIT[EXPECTED[name][0]], result.stderr
    assert json.loads(result.stdout)["verdict"] == EXPECTED[name][0]


def load_example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return document


@pytest.fixture(scope="module")
def compiled() -> CompiledStack:
    return load_stack().compile()


@pytest.fixture(scope="module")
def report() -> testing.TestReport:
    return run_tests(load_stack())


def test_every_example_has_an_expectation() -> None:
    assert {p.name for p in EXAMPLES.glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_verdict_through_the_library(compiled: CompiledStack, name: str) -> None:
    verdict, rules = EXPECTED[name]
    decision = evaluate(compiled, load_example(name), now=NOW)
    reasons = {r.rule for r in decision.reasons}
    assert str(decision.verdict) == verdict, [r.to_dict() for r in decision.reasons]
    assert rules <= reasons
    for reason in decision.reasons:
        # every reason comes from a documented constitution rule, never an error
        assert reason.layer == "constitution"
        assert reason.category in CATEGORIES
        assert reason.links and reason.msg
    if verdict == "allow":
        assert decision.reasons == ()


@pytest.mark.parametrize("name", sorted(CLI_EXPECTED))
def test_example_verdict_through_the_cli(name: str) -> None:
    verdict, rules = CLI_EXPECTED[name]
    result = charter(
        "check", str(EXAMPLES / name), "--now", NOW_TEXT, "--format", "json",
        "--identities", str(IDENTITIES),
    )  # fmt: skip
    assert result.returncode == EXIT[verdict], result.stderr
    doc = json.loads(result.stdout)
    assert doc["verdict"] == verdict
    assert rules <= {r["rule"] for r in doc["reasons"]}
    assert doc["stack"][0]["layer"] == "constitution"


def test_without_an_identity_map_a_declared_human_is_not_believed() -> None:
    # merge-approved.json's only human approval is alice's: unknown to an absent map,
    # she counts as an agent, so the merge lacks its human approval.
    result = charter("check", str(EXAMPLES / "merge-approved.json"), "--now", NOW_TEXT,
                     "--format", "json", "--no-audit")  # fmt: skip
    assert result.returncode == 1, result.stderr
    rules = {r["rule"] for r in json.loads(result.stdout)["reasons"]}
    assert "PROC-MERGE-HUMAN-APPROVALS-001" in rules
    assert "PROC-DECLARED-FACTS-MATCH-001" not in rules  # unverified, not contradicted


def test_aws_key_in_ci_is_a_credential_denial(compiled: CompiledStack) -> None:
    decision = evaluate(compiled, load_example("pr-aws-key-in-ci.json"), now=NOW)
    (reason,) = [r for r in decision.reasons if r.category == "credential"]
    assert reason.rule == "CRED-NO-STATIC-SECRETS-001"
    assert reason.severity == "critical"
    assert ".github/workflows/deploy-billing.yml" in reason.msg
    assert "AKIA" not in reason.msg, "a reason must never echo the secret"


def test_marker_does_not_excuse_an_aws_key_in_ci(compiled: CompiledStack) -> None:
    document = load_example("pr-aws-key-in-ci.json")
    file = document["files"][0]
    file["path"] = "tests/fixtures/.github/workflows/deploy.yml"
    file["patch"] = file["patch"].replace(
        "AKIAZ4Q7XK2MBN5TRW3P", "AKIAZ4Q7XK2MBN5TRW3P  # charter:example-credential"
    )
    decision = evaluate(compiled, document, now=NOW)
    assert "CRED-NO-STATIC-SECRETS-001" in {r.rule for r in decision.reasons}
    # the same marked line in a non-CI fixture file is excused
    file["path"] = "tests/fixtures/deploy.env"
    assert evaluate(compiled, document, now=NOW).verdict is Verdict.ALLOW


def test_self_approval_claimed_as_human_does_not_count(compiled: CompiledStack) -> None:
    document = load_example("merge-approved.json")
    document["approvals"] = [{"by": "agent-7", "type": "human", "groups": []}]
    reasons = {r.rule for r in evaluate(compiled, document, now=NOW).reasons}
    assert {"PROC-MERGE-HUMAN-APPROVALS-001", "PROC-NO-SELF-APPROVAL-001"} <= reasons


def test_pull_request_needs_no_approval(compiled: CompiledStack) -> None:
    document = load_example("docs-pr-compliant.json")
    assert document["approvals"] == []
    assert evaluate(compiled, document, now=NOW).verdict is Verdict.ALLOW
    merged = {**document, "kind": "merge"}
    assert evaluate(compiled, merged, now=NOW).verdict is Verdict.DENY


def test_citing_an_unknown_rule_is_denied(compiled: CompiledStack) -> None:
    document = load_example("docs-pr-compliant.json")
    document["body"] = document["body"].replace("PROC-MERGE-HUMAN-APPROVALS-001", "NOPE-001")
    decision = evaluate(compiled, document, now=NOW)
    assert decision.verdict is Verdict.DENY
    (reason,) = decision.reasons
    assert reason.rule == "CITE-RULE-KNOWN-001" and "NOPE-001" in reason.msg


def test_unparseable_citation_block_is_denied_with_the_error(compiled: CompiledStack) -> None:
    document = load_example("docs-pr-compliant.json")
    document["body"] = "Docs.\n\n```charter\nrules: [A\nblast_radius: : :\n```\n"
    decision = evaluate(compiled, document, now=NOW)
    reason = next(r for r in decision.reasons if r.rule == "CITE-BLOCK-VALID-001")
    assert "not valid YAML" in reason.msg


def test_rule_list_covers_every_category() -> None:
    result = charter("rule", "list", "--layer", "constitution", "--format", "json")
    assert result.returncode == 0, result.stderr
    rules = json.loads(result.stdout)
    assert len(rules) >= 12
    assert {r["category"] for r in rules} == CATEGORIES
    assert len({r["id"] for r in rules}) == len(rules)
    for rule in rules:
        assert rule["layer"] == "constitution"
        assert rule["severity"] in {"low", "medium", "high", "critical"}
        assert rule["title"]


def test_shipped_rules_have_metadata_and_are_cited_by_examples() -> None:
    stack = load_stack()
    cited: set[str] = set()
    for name in EXPECTED:
        body = load_example(name).get("body") or ""
        cited |= set(re.findall(r"[A-Z]+(?:-[A-Z0-9]+)+-\d{3}", body))
    assert cited <= set(stack.rules), cited - set(stack.rules)
    for rule in stack.rules.values():
        assert rule.description and rule.links, rule.id
        assert all(link.startswith("https://") for link in rule.links), rule.id
        assert rule.citation, rule.id


def test_rule_test_cli_passes() -> None:
    result = charter("rule", "test", "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["failed"] == 0 and doc["passed"] == doc["total"] >= 60


def test_every_rule_file_has_passing_tests(report: testing.TestReport) -> None:
    assert report.ok, [r.to_dict() for r in report.results if not r.passed]
    stack = load_stack()
    for rule in stack.rules.values():
        tests = [r for r in report.results if r.package == f"{rule.package}_test"]
        assert len(tests) >= 2, rule.id
        verdicts = {expected_verdict(t.name) for t in tests}
        assert "allow" in verdicts, rule.id
        assert verdicts & {"deny", "ask"}, rule.id


def _mutant_report(stack: Stack, rel: str, package: str, mutate: str) -> testing.TestReport:
    """Run one rule's tests against a copy of the constitution with that rule mutated."""
    files = read_directory_files(shipped_constitution_path())
    source = files[rel].decode()
    rule_id = re.search(r"^#\s+id:\s*(\S+)", source, re.MULTILINE)
    assert rule_id is not None
    if mutate == "silent":
        source = re.sub(r"^(deny|ask) contains", r"mutant_off_\1 contains", source, flags=re.M)
        source += "\ndeny := set()\n\nask := set()\n"
    else:
        entry = f'{{"rule": "{rule_id[1]}", "msg": "mutant"}}'
        source += f"\ndeny contains {entry}\n\nask contains {entry}\n"
    files[rel] = source.encode()
    # Only this rule's own tests run: the other test modules need not be compiled.
    own_tests = rel.removesuffix(".rego") + "_test.rego"
    files = {
        p: b
        for p, b in files.items()
        if not p.endswith("_test.rego") or p == own_tests or "/testdata/" in p
    }
    layer = layer_from_files(files, source="mutant:constitution")
    return run_tests(Stack.compose([layer]), match=re.escape(f"data.{package}_test.") + "test_")


@pytest.mark.parametrize("rule_id", sorted(load_stack().rules))
def test_rule_tests_really_evaluate_the_rule(rule_id: str) -> None:
    """A silenced rule fails its violation tests; an always-firing one fails its allow tests."""
    stack = load_stack()
    rule = stack.rules[rule_id]
    rel = rule.file.split("/", 1)[1]
    silent = _mutant_report(stack, rel, rule.package, "silent")
    loud = _mutant_report(stack, rel, rule.package, "loud")
    assert silent.results and loud.results
    for result in silent.results:
        expected = expected_verdict(result.name)
        assert result.passed is (expected == "allow"), (rule_id, "silenced", result.name)
    for result in loud.results:
        if expected_verdict(result.name) == "allow":
            assert not result.passed, (rule_id, "always firing", result.name)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"kind": "push",\n "repository": }', "malformed JSON"),
        ('{"kind": "push", "repository": "acme/platform", "author": "x"}', "proposal.author"),
        (
            '{"kind": 5, "repository": "acme/platform", "author": {"id": "a", "type": "agent"}}',
            "proposal.kind",
        ),
        (
            '{"kind": "merge", "repository": "acme/platform", '
            '"author": {"id": "a", "type": "agent"}, "approvals": [{"by": "b", "type": "robot"}]}',
            "proposal.approvals[0].type",
        ),
    ],
)
def test_bad_proposals_exit_2_naming_the_field(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "proposal.json"
    path.write_text(content)
    result = charter("check", str(path), "--format", "json")
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
