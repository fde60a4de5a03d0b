"""What a decision hands the engine and hashes: one serialisation, the validation proof."""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter.core import heap, jsonio
from charter.core.digests import sha256_text
from charter.core.errors import EvaluationError, InputError
from charter.facts.decide import _needs_validation, decide
from charter.facts.reconcile import Facts, reconcile
from charter.policy import proposal
from charter.policy.decision import build_context, evaluate
from charter.policy.engine import Engine
from charter.policy.stack import CompiledStack, load_stack
from tests.strategies import proposals

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
BUILT: dict[str, Any] = {
    "kind": "push",
    "repository": "acme/app",
    "base": "main",
    "head": "main",
    "author": {"id": "agent-7", "type": "agent"},
    "files": [{"path": "src/app.py", "status": "modified", "patch": "+x = 1\n+é 😀"}],
    "commits": [],
    "dependencies": {"changed": False, "changes": []},
}


_SHIPPED = load_stack().compile()


@pytest.fixture(scope="module")
def shipped() -> CompiledStack:
    return _SHIPPED


# ------------------------------------------------------------------ the digest
@given(st.text(max_size=300), st.integers(min_value=1, max_value=7))
def test_sha256_text_is_the_digest_of_the_utf8_bytes(text: str, repeat: int) -> None:
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            sha256_text(text)
        return
    assert sha256_text(text) == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_sha256_text_of_a_large_text_hashed_by_slices() -> None:
    text = ("é😀a" * 700_001)[:2_100_003]  # over two slices, a code point on each boundary
    assert sha256_text(text) == "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@given(proposals())
def test_the_input_digest_is_the_canonical_digest_and_the_engine_sees_the_document(
    document: dict[str, Any],
) -> None:
    compiled = _SHIPPED
    decision = evaluate(compiled, document, now=NOW)
    assert decision.input_digest == jsonio.digest(document)
    seen = json.loads(compiled.engine._engine.eval_query_as_json("x := input"))
    value = seen["result"][0]["bindings"]["x"]
    assert {k: v for k, v in value.items() if k != "context"} == json.loads(
        jsonio.canonical(document)
    )
    assert value["context"] == json.loads(
        json.dumps(build_context(compiled, document, NOW), sort_keys=True)
    )


def test_a_large_input_is_decided_alike_after_freed_memory_is_handed_back(
    shipped: CompiledStack,
) -> None:
    # Over heap.LARGE: the decision trims the C heap between its digest and the
    # engine's copy; the digest, what the engine sees and the verdict are unchanged.
    patch = "+x = 1\n" * (heap.LARGE // 7 + 1)
    large = {**BUILT, "files": [{**BUILT["files"][0], "patch": patch}]}
    assert len(jsonio.canonical(large)) >= heap.LARGE
    decision = evaluate(shipped, large, now=NOW)
    assert decision.input_digest == jsonio.digest(large)
    seen = json.loads(shipped.engine._engine.eval_query_as_json("x := input.files[0].patch"))
    assert seen["result"][0]["bindings"]["x"] == patch
    small = evaluate(shipped, {**BUILT, "files": [{**BUILT["files"][0], "patch": "+x = 1\n"}]},
                     now=NOW)  # fmt: skip
    assert (decision.verdict, [r.rule for r in decision.reasons]) == (
        small.verdict,
        [r.rule for r in small.reasons],
    )


def test_a_value_json_cannot_write_is_refused_before_the_engine(shipped: CompiledStack) -> None:
    document = {**BUILT, "title": float("nan")}
    with pytest.raises(ValueError, match="JSON"):
        evaluate(shipped, document, now=NOW, validate=False)
    engine = Engine()
    with pytest.raises(EvaluationError, match="not a JSON document"):
        engine.set_input_value({"x": object()})


# ------------------------------------------------------------------ the validation proof
def test_a_validated_proposal_carries_the_proof_until_changed() -> None:
    doc = proposal.validated(copy.deepcopy(BUILT))
    assert proposal.is_validated(doc)
    assert isinstance(doc, dict) and doc == BUILT
    for change in (
        lambda d: d.__setitem__("title", 5),
        lambda d: d.update(title="x"),
        lambda d: d.pop("base"),
        lambda d: d.setdefault("labels", []),
        lambda d: d.__delitem__("head"),
        lambda d: d.popitem(),
        lambda d: d.clear(),
        lambda d: d.__ior__({"title": 1}),
    ):
        fresh = proposal.validated(copy.deepcopy(BUILT))
        change(fresh)
        assert not proposal.is_validated(fresh)
    # a copy, a pickle round trip of a changed one, a plain dict: no proof
    assert not proposal.is_validated(dict(doc))
    assert not proposal.is_validated(doc.copy())
    again = pickle.loads(pickle.dumps(doc))  # noqa: S301 - our own bytes
    assert proposal.is_validated(again)
    changed = proposal.validated(copy.deepcopy(BUILT))
    changed["title"] = 1
    again = pickle.loads(pickle.dumps(changed))  # noqa: S301 - our own bytes
    assert not proposal.is_validated(again)


def test_a_document_cannot_claim_the_proof() -> None:
    forged = jsonio.loads(json.dumps({**BUILT, "_changed": False}), what="x")
    assert not proposal.is_validated(forged)
    with pytest.raises(InputError):
        proposal.validated({**BUILT, "kind": "teleport"})


def test_only_an_unchanged_validated_build_skips_the_second_validation() -> None:
    built = proposal.validated(copy.deepcopy(BUILT))
    facts = Facts(built=built)
    assert not _needs_validation(reconcile(None, facts).document, None, facts)
    # not proven: a plain dict, a changed one, a declared document, evidence
    plain = Facts(built=dict(built))
    assert _needs_validation(reconcile(None, plain).document, None, plain)
    changed = proposal.validated(copy.deepcopy(BUILT))
    changed["author"] = {"id": "x", "type": "robot"}
    assert _needs_validation(
        reconcile(None, Facts(built=changed)).document, None, Facts(built=changed)
    )
    declared = {**BUILT}
    assert _needs_validation(reconcile(declared, facts).document, declared, facts)
    scanned = Facts(built=built, scan={"tool": "grype", "findings": []})
    assert _needs_validation(reconcile(None, scanned).document, None, scanned)
    # reconciling replaced a top-level value (a self-approval made the author's)
    approved = proposal.validated(
        {**copy.deepcopy(BUILT), "approvals": [{"by": "Agent-7", "type": "agent"}]}
    )
    with_approval = Facts(built=approved)
    assert _needs_validation(reconcile(None, with_approval).document, None, with_approval)


def test_a_changed_build_is_validated_again_when_decided(shipped: CompiledStack) -> None:
    built = proposal.validated(copy.deepcopy(BUILT))
    built["files"] = "not a list"  # changed after validation: the proof is withdrawn
    with pytest.raises(InputError, match="files"):
        decide(shipped, None, Facts(built=built), now=NOW)
    good = proposal.validated(copy.deepcopy(BUILT))
    assert decide(shipped, None, Facts(built=good), now=NOW).decision.verdict is not None
