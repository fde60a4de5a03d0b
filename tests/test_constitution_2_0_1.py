"""Constitution 2.0.1 decides exactly like 2.0.0 (a patch release: speed only).

2.0.1 moved the secret scan of CRED-NO-STATIC-SECRETS-001 into a fact Charter
computes (charter.policy.secrets) and rewrote parts of other rules for speed. The
2.0.0 text is kept as a test asset (tests/assets/constitution-2.0.0, the bundle as
released, without its Rego tests); every decision here is made by both stacks
through the same API and must be equal: verdict, and every reason's rule, verdict
and message.
"""

from __future__ import annotations

import random
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter.core.decision import Decision
from charter.policy.decision import evaluate
from charter.policy.stack import CompiledStack, load_stack
from tests import secret_corpus
from tests.constitution_diff import approvals_carry, seen
from tests.strategies import proposals

RELEASED = Path(__file__).resolve().parent / "assets" / "constitution-2.0.0"
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def stacks() -> tuple[CompiledStack, CompiledStack]:
    released = load_stack(constitution=RELEASED).compile()
    assert released.stack.layers[0].version == "2.0.0"
    return load_stack().compile(), released


def _outcome(decision: Decision) -> tuple[str, list[tuple[str, str, str]]]:
    reasons = sorted((r.rule, str(r.verdict), r.msg) for r in decision.reasons)
    return str(decision.verdict), reasons


def _same(stacks: tuple[CompiledStack, CompiledStack], document: dict[str, Any]) -> None:
    """Equal, but for the one 3.0.0 change these inputs reach: a merge whose approvals
    are only declared asks (tests/test_constitution_3_0_0.py pins the rest)."""
    shipped, released = stacks
    now = seen(_outcome(evaluate(shipped, document, now=NOW)))
    before = _outcome(evaluate(released, document, now=NOW))
    assert now == approvals_carry(document, before, ("main",)), document


def test_the_shipped_constitution_is_2_0_1(stacks: tuple[CompiledStack, CompiledStack]) -> None:
    layer = stacks[0].stack.layers[0]
    assert layer.version == "3.0.0"
    # 2.1.0 only adds a rule that is silent unless a layer sets profile_requirements,
    # 2.1.1 changes no decision of 2.1.0's (tests/test_constitution_2_1_1.py), and
    # 3.0.0 changes two rules only where Charter's git facts or a binary file's scan
    # reach them (tests/test_constitution_3_0_0.py), so every decision below is still
    # 2.0.0's.
    added = set(stacks[0].stack.rules) - set(stacks[1].stack.rules)
    assert added == {"ENV-PROFILE-REQUIREMENTS-001"}
    assert set(stacks[1].stack.rules) <= set(stacks[0].stack.rules)


CREDENTIAL_PATHS = [
    "deploy/.kube/config",
    "a/kubeconfig.yaml",
    "x.kubeconfig",
    "home/.aws/credentials",
    ".config/gcloud/adc.json",
    "application_default_credentials.json",
    ".azure/token.json",
    ".docker/config.json",
    "_netrc",
    ".git-credentials",
    ".pgpass",
    "keys/id_ed25519",
    "docs/kube-intro.md",
    "src/id_card.py",
    "notes\n.aws/credentials\n.txt",
    ".charter/profile.toml",
    "./.charter/profile.toml",
    "src/app.py",
]
CONTENT = [
    '+  "type": "service_account",',
    "+    client-key-data: LS0tLS1CRUdJTg==",
    "+    client-certificate-data:",
    "+no-data here",
    "+password = 'Zx9!kL2#mQ8$vB4^nR7&'",
    "+AKIAZ4Q7XK2MBN5TRW3P",
    "-removed",
    "+ordinary",
]


@st.composite
def credential_files(draw: st.DrawFn) -> list[dict[str, Any]]:
    return draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "path": st.sampled_from(CREDENTIAL_PATHS),
                    "status": st.sampled_from(["added", "modified", "removed", "renamed"]),
                    "patch": st.lists(st.sampled_from(CONTENT), max_size=4).map("\n".join),
                }
            ),
            max_size=5,
        )
    )


@given(proposals(), credential_files())
def test_generated_proposals_are_decided_as_by_2_0_0(
    stacks: tuple[CompiledStack, CompiledStack],
    document: dict[str, Any],
    more: list[dict[str, Any]],
) -> None:
    document["files"] = [*document["files"], *more]
    _same(stacks, document)


def test_the_benchmark_workload_is_decided_as_by_2_0_0(
    stacks: tuple[CompiledStack, CompiledStack],
) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from bench_decisions import proposal
    finally:
        sys.path.remove(str(BENCH))
    rng = random.Random(11)
    for i in range(150):
        _same(stacks, proposal(rng, i))


def test_the_secret_corpus_is_decided_as_by_2_0_0(
    stacks: tuple[CompiledStack, CompiledStack],
) -> None:
    for sample in secret_corpus.load():
        _same(stacks, secret_corpus.proposal(sample))


# ------------------------------------ CRED-NO-CREDENTIAL-FILES-001's written-out patterns

CREDENTIAL_FILES = "data.charter.constitution.credential.no_credential_files"


def _value(stacks: tuple[CompiledStack, CompiledStack], name: str) -> Any:
    engine = stacks[0].engine.clone()
    engine.set_input({})
    return engine.eval_rule(f"{CREDENTIAL_FILES}.{name}")


def test_any_path_is_the_alternation_of_the_path_patterns(
    stacks: tuple[CompiledStack, CompiledStack],
) -> None:
    patterns = _value(stacks, "path_patterns")
    expected = "|".join(f"({patterns[kind]})" for kind in sorted(patterns))
    assert _value(stacks, "any_path") == expected


def test_every_credential_path_holds_a_path_literal(
    stacks: tuple[CompiledStack, CompiledStack],
) -> None:
    """The pre-check never hides a path the patterns match (a superset test)."""
    any_path = re.compile(_value(stacks, "any_path"))
    literals = re.compile(_value(stacks, "path_literals"))
    matched = [p for p in CREDENTIAL_PATHS if any_path.search(p)]
    assert len(matched) >= 12
    assert all(literals.search(p) for p in matched)
    for alternative in ("id_rsa", "id_dsa", "id_ecdsa", "kubeconfig.json", ".kube/config"):
        assert any_path.search(alternative) and literals.search(alternative)


def test_content_literals_are_the_content_guards(
    stacks: tuple[CompiledStack, CompiledStack],
) -> None:
    guards = _value(stacks, "content_guards")
    assert sorted(_value(stacks, "content_literals").split("|")) == sorted(guards.values())
