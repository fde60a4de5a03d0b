"""Kind guards: a set proven unable to contribute for ``input.kind`` is skipped, and
skipping never changes a decision (charter.policy.guards)."""

from __future__ import annotations

import dataclasses
import json
import random
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import regorus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter.core.decision import Decision
from charter.policy.decision import evaluate
from charter.policy.engine import parse_module
from charter.policy.guards import kind_guards
from charter.policy.stack import CompiledStack, load_stack
from tests.conftest import write_bundle
from tests.strategies import overlay_files, proposals

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
BENCH = Path(__file__).resolve().parents[1] / "bench"
KINDS = ["pull_request", "merge", "push", "release"]
HEAD = "import rego.v1\n\n"


def _guards(*modules: tuple[str, str], data: dict[str, Any] | None = None) -> dict[str, Any]:
    infos = [
        parse_module(f"m{i}.rego", f"package {pkg}\n\n{text}")
        for i, (pkg, text) in enumerate(modules)
    ]
    return {k: sorted(v) for k, v in kind_guards(infos, data or {}).items()}


def _rule(name: str, *statements: str) -> str:
    body = "\n".join(f"\t{s}" for s in statements)
    return f'{name} contains {{"rule": "R-X-001", "msg": "m"}} if {{\n{body}\n}}\n'


# ------------------------------------------------------------------ the analysis
def test_the_shipped_constitution_has_proven_guards() -> None:
    guards = load_stack().compile().kind_guards
    base = "data.charter.constitution"
    assert guards[f"{base}.process.no_direct_push.deny"] == {"push"}
    assert guards[f"{base}.process.merge_human_approvals.ask"] == {"merge"}
    assert guards[f"{base}.supply_chain.signed_sbom.deny"] == {"release"}
    # A set with any unguarded definition is always evaluated.
    assert f"{base}.credential.no_static_secrets.deny" not in guards
    assert f"{base}.citation.block_required.deny" not in guards


def test_guard_forms_that_prove() -> None:
    got = _guards(
        ("p", HEAD + _rule("deny", 'input.kind == "push"', "input.x")),
        ("p", HEAD + _rule("deny", '"merge" == input.kind')),
        ("p", HEAD + _rule("ask", 'input["kind"] in {"release", "push"}', "true")),
        ("q", HEAD + _rule("deny", 'input.kind in ["merge"]')),
    )
    assert got == {
        "data.p.deny": ["merge", "push"],
        "data.p.ask": ["push", "release"],
        "data.q.deny": ["merge"],
    }


@pytest.mark.parametrize(
    "modules",
    [
        # the guard is not the first statement: what precedes it may raise an error
        [("p", HEAD + _rule("deny", "input.x", 'input.kind == "push"'))],
        # a with-modifier, a negation, a unification, a non-literal collection
        [("p", HEAD + _rule("deny", 'input.kind == "push" with input.kind as "push"'))],
        [("p", HEAD + _rule("deny", 'not input.kind == "push"'))],
        [("p", HEAD + _rule("deny", 'input.kind = "push"'))],
        [("p", HEAD + _rule("deny", 'input.kind in {"push", input.y}'))],
        [("p", HEAD + _rule("deny", "input.kind in input.kinds"))],
        [("p", HEAD + _rule("deny", 'input.kind != "push"'))],
        # one definition of the set is unguarded (in another file of the package)
        [("p", HEAD + _rule("deny", 'input.kind == "push"')), ("p", HEAD + _rule("deny", "true"))],
        # a default, a complete rule
        [("p", HEAD + "default deny := set()\n" + _rule("deny", 'input.kind == "push"'))],
        [("p", HEAD + 'deny := {"x"} if {\n\tinput.kind == "push"\n}\n')],
        # defined from elsewhere: a ref head, a parent package's rule, a package below
        [
            ("a.p", HEAD + _rule("deny", 'input.kind == "push"')),
            ("a", HEAD + _rule("p.deny", "true")),
        ],
        [("a.p", HEAD + _rule("deny", 'input.kind == "push"')), ("a", HEAD + 'p := {"deny": 1}\n')],
        [("p", HEAD + _rule("deny", 'input.kind == "push"')), ("p.deny", HEAD + "x := 1\n")],
        [
            ("a.p", HEAD + _rule("deny", 'input.kind == "push"')),
            ("a", HEAD + "p[k] := 1 if {\n\tk := input.k\n}\n"),
        ],
        # input rebound or aliased
        [("p", HEAD + _rule("deny", 'input.kind == "push"', "some input in [1]"))],
        [
            (
                "p",
                "import rego.v1\nimport data.q as input\n\n"
                + _rule("deny", 'input.kind == "push"'),
            )
        ],
    ],
)
def test_guard_forms_that_do_not_prove(modules: list[tuple[str, str]]) -> None:
    guards = _guards(*modules)
    assert "data.p.deny" not in guards
    assert "data.a.p.deny" not in guards


def test_data_at_the_package_voids_the_proof() -> None:
    module = ("p", HEAD + _rule("deny", 'input.kind == "push"'))
    assert _guards(module) == {"data.p.deny": ["push"]}
    assert _guards(module, data={"p": {"deny": ["x"]}}) == {}


def test_regorus_stops_a_body_at_its_first_failing_statement() -> None:
    """The engine behaviour the proof rests on: a failed guard hides a later error."""
    engine = regorus.Engine()
    engine.add_policy(
        "o.rego",
        "package o\nimport rego.v1\n"
        'deny contains x if {\n\tinput.kind == "push"\n\tx := 1 / 0\n}\n',
    )
    engine.set_input({"kind": "merge"})
    assert json.loads(engine.eval_rule_as_json("data.o.deny")) == []
    engine.set_input({"kind": "push"})
    with pytest.raises(RuntimeError, match="divide by zero"):
        engine.eval_rule_as_json("data.o.deny")


def test_a_guarded_set_that_would_raise_fails_closed_for_its_kind() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        text = (
            "# METADATA\n# title: t\n# description: d\n# custom:\n#   id: OVL-BOOM-001\n"
            "#   severity: high\n#   category: process\npackage charter.overlay.boom\n\n"
            + HEAD
            + 'deny contains {"rule": "OVL-BOOM-001", "msg": "m"} if {\n'
            '\tinput.kind == "push"\n\tx := 1 / 0\n\tx > 0\n}\n'
        )
        path = write_bundle(
            Path(tmp) / "overlay",
            layer="overlay",
            name="boom",
            roots=["charter/overlay"],
            files={"boom.rego": text},
        )
        compiled = load_stack(overlay=path).compile()
    assert compiled.kind_guards["data.charter.overlay.boom.deny"] == {"push"}
    document = {"kind": "push", "repository": "a/b", "author": {"id": "x", "type": "agent"}}
    pushed = evaluate(compiled, document, now=NOW)
    assert [r.rule for r in pushed.reasons] == ["CHARTER-EVALUATION-ERROR"]
    merged = evaluate(compiled, {**document, "kind": "merge"}, now=NOW)
    assert "CHARTER-EVALUATION-ERROR" not in {r.rule for r in merged.reasons}


# ------------------------------------------------------------------ skipping changes nothing
def _outcome(decision: Decision) -> tuple[str, list[tuple[str, str, str, str]]]:
    reasons = sorted((r.rule, str(r.verdict), r.layer, r.msg) for r in decision.reasons)
    return str(decision.verdict), reasons


def _same(compiled: CompiledStack, document: dict[str, Any]) -> None:
    unguarded = dataclasses.replace(compiled, kind_guards={})
    skipped = _outcome(evaluate(compiled, document, now=NOW, validate=False))
    every = _outcome(evaluate(unguarded, document, now=NOW, validate=False))
    assert skipped == every, document


@pytest.fixture(scope="module")
def shipped() -> CompiledStack:
    return load_stack().compile()


def test_the_benchmark_workload_of_every_kind_is_decided_alike(shipped: CompiledStack) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from bench_decisions import proposal
    finally:
        sys.path.remove(str(BENCH))
    rng = random.Random(5)
    # 60 documents: they already produce every (kind, reason) pair that 120 did
    # (measured: all but one appear within the first 6, the last at document 58).
    for i in range(60):
        document = proposal(rng, i)
        for kind in [*KINDS, "tag", 7, None]:
            _same(shipped, {**document, "kind": kind})
        _same(shipped, {k: v for k, v in document.items() if k != "kind"})


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(proposal=proposals(), files=overlay_files(), kind=st.sampled_from(KINDS))
def test_generated_proposals_and_overlays_are_decided_alike(
    proposal: dict[str, Any], files: dict[str, str], kind: str
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
    _same(composed, {**proposal, "kind": kind})
