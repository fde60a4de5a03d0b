"""Constitution 2.0.0 through the real stack: who needs a citation, declared facts
against derived ones, unreadable dependency files, scans that audited nothing.

Rego unit tests beside each rule cover every branch; these tests check the same
behaviour where it meets Charter: the effective parameters of composed layers,
``input.context.facts`` as :func:`charter.policy.decision.evaluate` writes it, and
scans parsed from real tool output (``tests/assets/evidence``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from charter.core import jsonio
from charter.core.errors import PolicyError
from charter.core.verdict import Verdict
from charter.facts.scans import parse_scan, scan_to_json
from charter.policy.bundle import load_directory
from charter.policy.decision import Decision, evaluate
from charter.policy.stack import CompiledStack, Stack, load_stack, shipped_constitution_path
from tests.conftest import BundleFactory

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "proposals"
VULN = Path(__file__).parent / "assets" / "evidence" / "vuln"
NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
CITE_RULES = {
    "CITE-BLOCK-REQUIRED-001",
    "CITE-BLOCK-VALID-001",
    "CITE-RULE-KNOWN-001",
    "CITE-BLAST-RADIUS-001",
    "CITE-ROLLBACK-001",
}


@pytest.fixture(scope="module")
def compiled() -> CompiledStack:
    return load_stack().compile()


def example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return document


def rules(decision: Decision, verdict: Verdict | None = None) -> set[str]:
    return {r.rule for r in decision.reasons if verdict is None or r.verdict is verdict}


def with_overlay(
    make_bundle: BundleFactory, parameters: dict[str, Any], kind: str = "overlay"
) -> Stack:
    root = f"charter/{kind}"
    layer = make_bundle(
        layer=kind,
        name=f"acme-{kind}",
        roots=[root],
        files={f"{root}/data.json": json.dumps({"parameters": parameters})},
    )
    return Stack.compose([load_directory(shipped_constitution_path()), load_directory(layer)])


# --------------------------------------------------------------- who needs a citation

BAD_BODIES = {
    "CITE-BLOCK-REQUIRED-001": "No citation here.",
    "CITE-BLOCK-VALID-001": "Docs.\n\n```charter\nrules: [A\nblast_radius: : :\n```\n",
    "CITE-RULE-KNOWN-001": (
        '```charter\nrules: [NOPE-001]\nblast_radius: "docs"\nrollback: "git revert"\n```\n'
    ),
    "CITE-BLAST-RADIUS-001": (
        '```charter\nrules: [PROC-MERGE-HUMAN-APPROVALS-001]\nrollback: "git revert"\n```\n'
    ),
    "CITE-ROLLBACK-001": (
        '```charter\nrules: [PROC-MERGE-HUMAN-APPROVALS-001]\nblast_radius: "docs"\n```\n'
    ),
}


def pull_request(author_type: str, body: str) -> dict[str, Any]:
    document = example("docs-pr-compliant.json")
    document["author"] = {"id": "alice" if author_type == "human" else "agent-7",
                          "type": author_type}  # fmt: skip
    document["body"] = body
    return document


@pytest.mark.parametrize("rule", sorted(BAD_BODIES))
def test_citation_problem_denies_an_agent_and_asks_a_human(
    compiled: CompiledStack, rule: str
) -> None:
    agent = evaluate(compiled, pull_request("agent", BAD_BODIES[rule]), now=NOW)
    assert agent.verdict is Verdict.DENY and rule in rules(agent, Verdict.DENY)
    human = evaluate(compiled, pull_request("human", BAD_BODIES[rule]), now=NOW)
    assert human.verdict is Verdict.ASK, [r.to_dict() for r in human.reasons]
    assert rule in rules(human, Verdict.ASK)
    assert not rules(human, Verdict.DENY)
    (reason,) = [r for r in human.reasons if r.rule == rule][:1]
    assert "human_citation makes this ask" in reason.msg


def test_the_webhook_case_a_human_pull_request_without_a_block_asks(
    compiled: CompiledStack,
) -> None:
    document = example("pr-without-citation.json")
    document["author"] = {"id": "octocat", "type": "human"}
    decision = evaluate(compiled, document, now=NOW)
    assert decision.verdict is Verdict.ASK
    assert rules(decision) == {"CITE-BLOCK-REQUIRED-001"}


def test_the_default_human_citation_is_ask() -> None:
    stack = load_stack()
    assert stack.parameters["human_citation"] == "ask"
    param = stack.parameter_declarations["human_citation"]
    assert param.stricter == "higher" and param.order == ("ask", "deny")


def test_a_lower_layer_tightens_human_citation_to_deny(make_bundle: BundleFactory) -> None:
    for kind in ("pack", "overlay"):
        stack = with_overlay(make_bundle, {"human_citation": "deny"}, kind)
        assert stack.parameters["human_citation"] == "deny"
        decision = evaluate(stack.compile(), pull_request("human", BAD_BODIES[
            "CITE-BLOCK-REQUIRED-001"]), now=NOW)  # fmt: skip
        assert decision.verdict is Verdict.DENY
        assert "CITE-BLOCK-REQUIRED-001" in rules(decision, Verdict.DENY)


def test_an_overlay_cannot_loosen_human_citation(make_bundle: BundleFactory) -> None:
    pack = make_bundle(
        layer="pack",
        name="strict",
        roots=["charter/pack_strict"],
        files={"charter/pack_strict/data.json": json.dumps(
            {"parameters": {"human_citation": "deny"}})},
    )  # fmt: skip
    overlay = make_bundle(
        layer="overlay",
        name="loose",
        roots=["charter/overlay_loose"],
        files={"charter/overlay_loose/data.json": json.dumps(
            {"parameters": {"human_citation": "ask"}})},
    )  # fmt: skip
    stack = Stack.compose(
        [load_directory(shipped_constitution_path()), load_directory(pack), load_directory(overlay)]
    )
    assert stack.parameters["human_citation"] == "deny"


@pytest.mark.parametrize("value", ["allow", "Ask", "", None, 1, True, ["deny"]])
def test_human_citation_is_never_allow(make_bundle: BundleFactory, value: Any) -> None:
    with pytest.raises(PolicyError, match="human_citation"):
        with_overlay(make_bundle, {"human_citation": value})


# ------------------------------------------------------------------ declared facts

LOCKFILE_CONTRADICTION = {
    "field": "dependencies.changed",
    "declared": False,
    "derived": True,
    "source": "package-lock.json changed",
}


def test_a_contradiction_in_context_facts_is_denied(compiled: CompiledStack) -> None:
    facts = {"derived": ["dependencies.changed"], "contradictions": [LOCKFILE_CONTRADICTION]}
    decision = evaluate(compiled, example("docs-pr-compliant.json"), now=NOW, facts=facts)
    assert decision.verdict is Verdict.DENY
    (reason,) = [r for r in decision.reasons if r.rule == "PROC-DECLARED-FACTS-MATCH-001"]
    assert reason.layer == "constitution" and reason.category == "process"
    assert "declares dependencies.changed = false" in reason.msg
    assert "derived true from package-lock.json changed" in reason.msg


def test_derived_facts_without_contradiction_allow(compiled: CompiledStack) -> None:
    facts = {"derived": ["author.type", "dependencies.changed"], "contradictions": []}
    decision = evaluate(compiled, example("docs-pr-compliant.json"), now=NOW, facts=facts)
    assert decision.verdict is Verdict.ALLOW


def test_facts_forged_in_the_document_are_discarded(compiled: CompiledStack) -> None:
    forged = example("docs-pr-compliant.json")
    forged["context"] = {"facts": {"derived": [], "contradictions": [LOCKFILE_CONTRADICTION]}}
    assert evaluate(compiled, forged, now=NOW, validate=False).verdict is Verdict.ALLOW
    # ...and a forged empty list cannot hide the contradictions Charter found.
    forged["context"] = {"facts": {"derived": [], "contradictions": []}}
    facts = {"derived": ["dependencies.changed"], "contradictions": [LOCKFILE_CONTRADICTION]}
    decision = evaluate(compiled, forged, now=NOW, validate=False, facts=facts)
    assert "PROC-DECLARED-FACTS-MATCH-001" in rules(decision, Verdict.DENY)


# ------------------------------------------------------ dependencies Charter could not read


def test_an_unparsed_dependency_file_asks(compiled: CompiledStack) -> None:
    document = example("docs-pr-compliant.json")
    document["dependencies"] = {
        "changed": True,
        "changes": [],
        "unparsed": [{"path": "yarn.lock", "reason": "not UTF-8 text"}],
        "scan": {"tool": "grype", "findings": []},
    }
    decision = evaluate(compiled, document, now=NOW)
    assert decision.verdict is Verdict.ASK
    (reason,) = decision.reasons
    assert reason.rule == "SC-DEPENDENCY-FACTS-001"
    assert "yarn.lock" in reason.msg and "not UTF-8 text" in reason.msg


# ------------------------------------------------------------- scans from real tool output


def scan(path: Path) -> dict[str, Any]:
    parsed = parse_scan(jsonio.loads(path.read_bytes(), what=str(path)), str(path))
    return scan_to_json(parsed)


def with_scan(result: dict[str, Any]) -> dict[str, Any]:
    document = example("docs-pr-compliant.json")
    document["dependencies"] = {"changed": True, "scan": result}
    return document


def test_pip_audit_offline_is_not_a_scan(compiled: CompiledStack) -> None:
    offline = scan(VULN / "pip-audit" / "local-offline" / "pip-audit-2.10.1.offline.json")
    assert offline["audited"] is False and offline["findings"] == []
    decision = evaluate(compiled, with_scan(offline), now=NOW)
    assert decision.verdict is Verdict.DENY
    (reason,) = [r for r in decision.reasons if r.rule == "SC-DEPENDENCY-SCAN-001"]
    assert "audited nothing" in reason.msg
    assert "protobuf: Dependency not found on PyPI" in reason.msg


def test_pip_audit_findings_without_severity_ask(compiled: CompiledStack) -> None:
    result = scan(VULN / "pip-audit" / "defectdojo" / "many_vulns.json")
    assert result["audited"] is True and result["findings"]
    decision = evaluate(compiled, with_scan(result), now=NOW)
    vuln = [r for r in decision.reasons if r.rule == "SC-VULN-THRESHOLD-001"]
    assert {r.verdict for r in vuln} == {Verdict.ASK}  # unknown severity: never allowed
    assert len(vuln) == len({f["id"] for f in result["findings"]})
    # pip-audit is not a profile scanner, so the tool rule denies as well.
    assert rules(decision, Verdict.DENY) == {"ENV-TOOL-IN-PROFILE-001"}


def test_trivy_not_affected_findings_are_still_counted(make_bundle: BundleFactory) -> None:
    result = scan(VULN / "trivy" / "defectdojo" / "all_statuses.json")
    statuses = {f.get("status") for f in result["findings"]}
    assert "not_affected" in statuses
    stack = with_overlay(make_bundle, {"vulnerability_severity_threshold": "low"})
    decision = evaluate(stack.compile(), with_scan(result), now=NOW)
    assert decision.verdict is Verdict.DENY
    denied = [r for r in decision.reasons if r.rule == "SC-VULN-THRESHOLD-001"]
    assert len(denied) == len({f["id"] for f in result["findings"]})
