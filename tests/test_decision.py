"""Deciding proposals: max over entries, context, fail-closed, monotone overlays."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from charter.core.decision import Decision, Reason, parse_now
from charter.core.errors import EvaluationError, InputError
from charter.core.verdict import Verdict
from charter.policy import proposal
from charter.policy.decision import EVAL_ERROR_RULE, apply_waivers, build_context, evaluate
from charter.policy.engine import Engine
from charter.policy.stack import CompiledStack, load_stack
from tests.conftest import BundleFactory, overlay_rule, write_bundle
from tests.strategies import overlay_files, proposals

NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
PUSH = {
    "kind": "push",
    "repository": "acme/platform",
    "base": "main",
    "head": "main",
    "author": {"id": "agent-7", "type": "agent"},
}


def test_direct_agent_push_is_denied_with_citation(shipped_compiled: CompiledStack) -> None:
    decision = evaluate(shipped_compiled, PUSH, now=NOW)
    assert decision.verdict is Verdict.DENY
    rules = {r.rule for r in decision.reasons}
    assert "PROC-NO-DIRECT-PUSH-001" in rules
    reason = next(r for r in decision.reasons if r.rule == "PROC-NO-DIRECT-PUSH-001")
    assert reason.layer == "constitution"
    assert reason.severity == "critical"
    assert reason.links
    doc = decision.to_dict()
    assert doc["verdict"] == "deny"
    assert doc["stack"][0]["layer"] == "constitution"
    assert doc["decision_id"]


def test_context_is_filled_from_now(shipped_compiled: CompiledStack) -> None:
    ctx = build_context(shipped_compiled, PUSH, NOW)
    assert ctx["now"].startswith("2026-11-20T10:30:00")
    assert ctx["weekday"] == "Friday"
    assert (ctx["hour"], ctx["minute"]) == (10, 30)
    assert ctx["now_ns"] == int(NOW.timestamp()) * 1_000_000_000
    assert ctx["parameters"]["vulnerability_severity_threshold"] == "high"
    assert "PROC-NO-DIRECT-PUSH-001" in ctx["stack"]["rule_ids"]


def test_caller_cannot_forge_context(make_bundle: BundleFactory) -> None:
    path = make_bundle(
        layer="overlay", name="o", roots=["charter/overlay"],
        files={"r.rego": overlay_rule("ACME-HOUR-001", "input.context.hour == 10")},
    )  # fmt: skip
    compiled = load_stack(overlay=path).compile()
    forged = {**PUSH, "base": "develop", "context": {"hour": 3}}
    assert evaluate(compiled, forged, now=NOW).verdict is Verdict.DENY


def test_same_now_gives_same_verdict_and_digest(shipped_compiled: CompiledStack) -> None:
    a = evaluate(shipped_compiled, PUSH, now=NOW)
    b = evaluate(shipped_compiled, PUSH, now=NOW)
    assert a.verdict == b.verdict and a.input_digest == b.input_digest
    assert [r.to_dict() for r in a.reasons] == [r.to_dict() for r in b.reasons]
    assert a.decision_id != b.decision_id


def test_verdict_is_the_max_over_entries(make_bundle: BundleFactory) -> None:
    path = make_bundle(
        layer="overlay", name="o", roots=["charter/overlay"],
        files={
            "a.rego": overlay_rule("ACME-ASK-001", "true", kind="ask", package="a"),
            "b.rego": overlay_rule("ACME-DENY-001", 'input.base == "develop"', package="b"),
        },
    )  # fmt: skip
    compiled = load_stack(overlay=path).compile()
    pr = {**PUSH, "kind": "pull_request", "author": {"id": "bob", "type": "human"}}
    on_main = evaluate(compiled, pr, now=NOW)
    assert Verdict.ASK <= on_main.verdict
    assert "ACME-ASK-001" in {r.rule for r in on_main.reasons}
    on_develop = evaluate(compiled, {**pr, "base": "develop"}, now=NOW)
    assert on_develop.verdict is Verdict.DENY


def test_runtime_error_fails_closed(make_bundle: BundleFactory) -> None:
    path = make_bundle(
        layer="overlay", name="o", roots=["charter/overlay"],
        files={"r.rego": overlay_rule("ACME-BOOM-001", "to_number(input.title) > 1")},
    )  # fmt: skip
    compiled = load_stack(overlay=path).compile()
    decision = evaluate(compiled, {**PUSH, "base": "develop", "title": "not a number"}, now=NOW)
    assert decision.verdict is Verdict.DENY
    assert decision.reasons[0].rule == EVAL_ERROR_RULE
    assert "failing closed" in decision.reasons[0].msg


def test_entry_citing_another_layers_rule_still_counts(make_bundle: BundleFactory) -> None:
    path = make_bundle(
        layer="overlay", name="o", roots=["charter/overlay"],
        files={"r.rego": overlay_rule("ACME-X-001", "true").replace(
            '"rule": "ACME-X-001"', '"rule": "PROC-NO-DIRECT-PUSH-001"')},
    )  # fmt: skip
    compiled = load_stack(overlay=path).compile()
    decision = evaluate(compiled, {**PUSH, "base": "develop"}, now=NOW)
    assert decision.verdict is Verdict.DENY
    # The constitution also denies (no citation block); the overlay's entry
    # must still be reported, attributed to the layer that produced it.
    overlay = [r for r in decision.reasons if r.layer == "overlay"]
    assert [r.rule for r in overlay] == ["PROC-NO-DIRECT-PUSH-001"]
    assert overlay[0].severity == "unknown"


@pytest.mark.parametrize(
    ("document", "needle"),
    [
        ([], "JSON object"),
        ({**PUSH, "kind": 5}, "proposal.kind"),
        ({**PUSH, "author": "agent-7"}, "proposal.author"),
        ({k: v for k, v in PUSH.items() if k != "repository"}, "repository"),
        ({**PUSH, "files": [{"status": "added"}]}, "proposal.files[0]"),
        ({**PUSH, "approvals": [{"by": "x", "type": "robot"}]}, "proposal.approvals[0].type"),
    ],
)
def test_invalid_proposals_name_the_field(
    shipped_compiled: CompiledStack, document: Any, needle: str
) -> None:
    with pytest.raises(InputError) as info:
        evaluate(shipped_compiled, document)
    assert needle in str(info.value)


def test_every_invalid_field_is_reported_in_one_message() -> None:
    # Before: only the first error fastjsonschema met ("author ... required").
    document = {k: v for k, v in PUSH.items() if k != "author"}
    document["files"] = "README.md"
    with pytest.raises(InputError) as info:
        proposal.validate(document)
    message = info.value.message
    assert message == (
        "invalid proposal: proposal.author: is required; proposal.files: must be an array"
    )
    assert info.value.hint == "see docs/design.md, 'Proposal document'"


def test_invalid_fields_are_sorted_by_path_and_nested_ones_named() -> None:
    document = {
        **PUSH,
        "kind": "teleport",
        "repository": "",
        "files": [{"status": "added"}, {"path": 3}],
        "approvals": [{"by": "x", "type": "robot"}],
    }
    with pytest.raises(InputError) as info:
        proposal.validate(document)
    fields = [part.split(":")[0] for part in info.value.message.split(": ", 1)[1].split("; ")]
    assert fields == [
        "proposal.approvals[0].type",
        "proposal.files[0].path",
        "proposal.files[1].path",
        "proposal.kind",
        "proposal.repository",
    ]


def test_list_indexes_sort_numerically_and_long_lists_are_capped() -> None:
    document = {**PUSH, "labels": [1] * 12}
    with pytest.raises(InputError) as info:
        proposal.validate(document)
    parts = info.value.message.split(": ", 1)[1].split("; ")
    assert parts[:3] == [
        "proposal.labels[0]: must be a string",
        "proposal.labels[1]: must be a string",
        "proposal.labels[2]: must be a string",
    ]
    assert len(parts) == proposal.MAX_LISTED + 1
    assert parts[-1] == "and 2 more"


def test_a_valid_proposal_never_loads_the_slow_validator() -> None:
    code = (
        "import sys, json; from charter.policy import proposal; "
        f"proposal.validate({json.dumps(PUSH)}); print('jsonschema' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_parse_now() -> None:
    assert parse_now("2026-11-20T10:00:00Z") == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert parse_now("2026-11-20T12:00:00+02:00") == datetime(2026, 11, 20, 10, tzinfo=UTC)
    with pytest.raises(InputError, match="RFC 3339"):
        parse_now("yesterday")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(proposal=proposals(), files=overlay_files())
def test_adding_an_overlay_never_lowers_a_verdict(
    shipped_compiled: CompiledStack, proposal: dict[str, Any], files: dict[str, str]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_bundle(
            Path(tmp) / "overlay",
            layer="overlay",
            name="rand",
            roots=["charter/overlay"],
            files=files,
        )
        composed = load_stack(overlay=path).compile()
    alone = evaluate(shipped_compiled, proposal, now=NOW)
    together = evaluate(composed, proposal, now=NOW)
    assert together.verdict >= alone.verdict, json.dumps(files)
    # every constitution reason survives composition
    assert {r.rule for r in alone.reasons if r.layer == "constitution"} <= {
        r.rule for r in together.reasons
    }


def _reason(rule: str, layer: str = "overlay", msg: str = "m") -> Reason:
    return Reason(rule=rule, layer=layer, severity="high", msg=msg, verdict=Verdict.DENY)


def _decision(*reasons: Reason) -> Decision:
    return Decision("d", Verdict.DENY, tuple(reasons), ())


def test_a_hook_returning_equal_copies_keeps_every_reason() -> None:
    # Before: reasons were matched by id(), so a hook that returned equal copies
    # (as one across a process boundary does) waived every pack/overlay reason.
    def copying(reasons: Sequence[Reason], document: Any, now: datetime) -> Any:
        return [dataclasses.replace(r) for r in reasons], [], []

    first, second = _reason("ACME-A-001"), _reason("ACME-B-001")
    decided = apply_waivers(_decision(first, second), copying, PUSH, NOW)
    assert decided.reasons == (first, second)
    assert decided.verdict is Verdict.DENY


def test_of_equal_reasons_exactly_as_many_stay_as_the_hook_kept() -> None:
    twin_a, twin_b = _reason("ACME-A-001"), _reason("ACME-A-001")
    other = _reason("ACME-B-001")
    assert twin_a == twin_b and twin_a is not twin_b

    def keep_one_twin(reasons: Sequence[Reason], document: Any, now: datetime) -> Any:
        return [dataclasses.replace(twin_a)], [{"rule": "ACME-B-001", "waiver": "W-1"}], []

    decided = apply_waivers(_decision(twin_a, other, twin_b), keep_one_twin, PUSH, NOW)
    assert decided.reasons == (twin_a,)
    assert decided.waived == ({"rule": "ACME-B-001", "waiver": "W-1"},)


def test_a_hook_cannot_add_reasons_or_drop_constitution_ones() -> None:
    constitution = _reason("PROC-NO-DIRECT-PUSH-001", layer="constitution")
    overlay = _reason("ACME-A-001")

    def forging(reasons: Sequence[Reason], document: Any, now: datetime) -> Any:
        return [_reason("ACME-NEW-001", msg="invented")], [], []

    decided = apply_waivers(_decision(constitution, overlay), forging, PUSH, NOW)
    assert decided.reasons == (constitution,)


BOOM = """package charter.overlay.boom
import rego.v1

deny contains {"rule": "ACME-BOOM-002", "msg": "never"} if {
\tinput.kind == "push"
\tcount(input.labels) == 1 / 0
}
"""


def test_a_regorus_error_is_a_one_line_evaluation_error() -> None:
    # Before: the message carried regorus's multi-line source excerpt.
    engine = Engine()
    engine.add_module("boom.rego", BOOM)
    engine.set_input_text(json.dumps({"kind": "push", "labels": []}))
    with pytest.raises(EvaluationError) as info:
        engine.eval_rule("data.charter.overlay.boom.deny")
    assert info.value.message == (
        "evaluating data.charter.overlay.boom.deny failed: boom.rego:6:30: divide by zero"
    )
    assert "\n" not in str(info.value)
    with pytest.raises(EvaluationError, match="input is not a JSON document"):
        engine.set_input({"not json": object()})  # before: a bare TypeError


def test_an_evaluation_error_denies_with_a_one_line_reason(make_bundle: BundleFactory) -> None:
    path = make_bundle(
        layer="overlay", name="o", roots=["charter/overlay"],
        files={"r.rego": overlay_rule("ACME-BOOM-001", "count(input.labels) == 1 / 0")},
    )  # fmt: skip
    decision = evaluate(load_stack(overlay=path).compile(), {**PUSH, "labels": []}, now=NOW)
    assert decision.verdict is Verdict.DENY
    [reason] = decision.reasons
    assert reason.rule == EVAL_ERROR_RULE
    assert reason.msg.startswith("evaluation failed, failing closed: evaluating data.charter")
    assert "r.rego:" in reason.msg and reason.msg.endswith("divide by zero")
    assert "\n" not in reason.msg
