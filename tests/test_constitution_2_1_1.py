"""Constitution 2.1.1 decides exactly like 2.1.0 (a patch release: speed only).

2.1.1 rewrote rule bodies for regorus's cost model (fewer helper-rule references,
a cheap selective test first, no message built before a body has succeeded). Both
releases are kept as test assets (tests/assets/constitution-2.1.0, the bundle as
released without its Rego tests, and tests/assets/constitution-2.1.1 with them), so
this test keeps its meaning after later releases: every decision here is made by
both stacks and must be equal.

Two levels (:mod:`tests.constitution_diff`):

- through the API (validation, Charter's context, the guards that skip sets):
  verdict and every reason's rule, verdict and message, on the benchmark workload,
  every proposal under examples/ and tests/assets/, the secret corpus and
  generated proposals;
- every ``deny``/``ask`` set on its own, evaluated on adversarial inputs: the same
  value, or an error in both. This is the rule text's meaning as any evaluator
  would read it (plain OPA included), guards or not.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.policy.bundle import load_directory
from charter.policy.compat import judge
from charter.policy.decision import build_context
from charter.policy.engine import Engine
from charter.policy.stack import load_stack
from tests import secret_corpus
from tests.constitution_diff import (
    ASSETS,
    NOW,
    Stacks,
    adversarial_inputs,
    bench_proposals,
    proposal_documents,
    same,
    sets,
)
from tests.strategies import proposals

RELEASED = ASSETS / "constitution-2.1.0"
PATCHED = ASSETS / "constitution-2.1.1"

Engines = tuple[Engine, Engine, list[str], dict[str, Any]]


@pytest.fixture(scope="module")
def stacks() -> Stacks:
    released = load_stack(constitution=RELEASED).compile()
    assert released.stack.layers[0].version == "2.1.0"
    return load_stack(constitution=PATCHED).compile(), released


def test_2_1_1_is_a_patch_of_2_1_0(stacks: Stacks) -> None:
    patched, released = stacks
    assert patched.stack.layers[0].version == "2.1.1"
    assert set(patched.stack.rules) == set(released.stack.rules)
    assert [path for _, _, path in patched.rules] == [path for _, _, path in released.rules]


def test_compat_judges_2_1_1_a_patch_of_2_1_0(tmp_path: Path) -> None:
    """Each release's Rego tests pass against the other's rules. 2.1.1 changed no test,
    so 2.1.0 as released is the asset with 2.1.1's tests and test data beside it."""
    before = tmp_path / "constitution-2.1.0"
    shutil.copytree(RELEASED, before)
    tests = [p for p in PATCHED.rglob("*.rego") if p.name.endswith("_test.rego")]
    assert len(tests) >= 20
    for test in tests:
        target = before / test.relative_to(PATCHED)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(test, target)
    found = judge(load_directory(before), load_directory(PATCHED))
    assert (found.before, found.after, found.required) == ("2.1.0", "2.1.1", "patch")
    assert found.reasons() == [] and found.ok


def test_the_credential_literals_written_out_are_the_rules(stacks: Stacks) -> None:
    """CRED-NO-CREDENTIAL-FILES-001's sets write path_literals and content_literals out
    (tests/test_constitution_2_0_1.py checks those rules against the patterns)."""
    package = "data.charter.constitution.credential.no_credential_files"
    engine = stacks[0].engine.clone()
    engine.set_input({})
    source = next(
        m.source
        for m in stacks[0].stack.layers[0].policy_modules
        if m.info.package == package.removeprefix("data.")
    )
    for name in ("path_literals", "content_literals"):
        literal = engine.eval_rule(f"{package}.{name}")
        assert source.count(f"regex.match(`{literal}`, concat(") == 2, name
    assert "regex.match(path_literals" not in source


# ------------------------------------------------------------------ through the API


def test_the_benchmark_workload_is_decided_as_by_2_1_0(stacks: Stacks) -> None:
    for document in bench_proposals(400):
        same(stacks, document)


def test_every_proposal_of_the_repository_is_decided_as_by_2_1_0(stacks: Stacks) -> None:
    documents = proposal_documents()
    assert len(documents) >= 17  # examples/proposals alone has 17
    for _, document in documents:
        same(stacks, document, validate=False)


def test_the_secret_corpus_is_decided_as_by_2_1_0(stacks: Stacks) -> None:
    for sample in secret_corpus.load():
        same(stacks, secret_corpus.proposal(sample))


@given(proposals())
def test_generated_proposals_are_decided_as_by_2_1_0(
    stacks: Stacks, document: dict[str, Any]
) -> None:
    same(stacks, document)


# ------------------------------------------------------------- set by set, adversarial


@pytest.fixture(scope="module")
def engines(stacks: Stacks) -> Engines:
    patched, released = stacks
    base = build_context(patched, {"kind": "pull_request", "files": []}, NOW)
    return (
        patched.engine.clone(),
        released.engine.clone(),
        [path for _, _, path in patched.rules],
        base,
    )


@settings(max_examples=250)
@given(st.data())
def test_every_set_has_2_1_0s_value_on_adversarial_inputs(
    engines: Engines, data: st.DataObject
) -> None:
    patched, released, paths, base = engines
    document = data.draw(adversarial_inputs(base))
    patched.set_input(document)
    released.set_input(document)
    assert sets(patched, paths) == sets(released, paths), document


@settings(max_examples=100)
@given(st.data())
def test_adversarial_proposals_are_decided_as_by_2_1_0(
    stacks: Stacks, engines: Engines, data: st.DataObject
) -> None:
    document = data.draw(adversarial_inputs(engines[3]))
    document.pop("context", None)
    same(stacks, document, validate=False)
