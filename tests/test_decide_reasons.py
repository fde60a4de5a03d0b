"""Turning a stack's results into reasons: the same reasons, in the same order, as the
plain construction they replaced (issue 11: the Python part of a decision)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from charter.core.decision import Reason
from charter.core.verdict import Verdict
from charter.policy.decision import _reasons_from_results
from charter.policy.stack import CompiledStack, load_stack

_COMPILED = load_stack().compile()


def _reference(compiled: CompiledStack, results: Any) -> list[Reason]:
    """The reasons as decision.py built them before (frozen ``Reason(...)``, sort by key)."""
    stack = compiled.stack
    layers = compiled.package_layers
    reasons: list[Reason] = []
    for group in results or []:
        entries = group.get("entries")
        if not entries:
            continue
        verdict = Verdict.DENY if group["kind"] == "deny" else Verdict.ASK
        layer_kind = layers.get(group["package"])
        if layer_kind is None:
            layer = stack.layer_of_package(group["package"])
            layer_kind = layer.kind if layer else "unknown"
        for entry in entries:
            rule_id = entry.get("rule") if isinstance(entry, dict) else None
            msg = entry.get("msg") if isinstance(entry, dict) else None
            rule = stack.rules.get(rule_id) if isinstance(rule_id, str) else None
            if rule is not None and rule.layer != layer_kind:
                rule = None
            reasons.append(
                Reason(
                    rule=str(rule_id) if rule_id else f"{group['package']}.{group['kind']}",
                    layer=layer_kind,
                    severity=rule.severity if rule else "unknown",
                    msg=str(msg) if msg is not None else json.dumps(entry, sort_keys=True),
                    verdict=verdict,
                    links=rule.links if rule else (),
                    category=rule.category if rule else None,
                    citation=rule.citation if rule else None,
                )
            )
    order = {Verdict.DENY: 0, Verdict.ASK: 1, Verdict.ALLOW: 2}
    reasons.sort(key=lambda r: (order[r.verdict], r.layer, r.rule, r.msg))
    return reasons


_PACKAGES = [*_COMPILED.packages, "charter.elsewhere.unknown", "charter.overlay.x"]
_RULE_IDS = st.one_of(
    st.sampled_from(sorted(_COMPILED.stack.rules)),  # the stack's own (and other layers')
    st.text(max_size=6),
    st.none(),
    st.integers(-2, 2),
)
_MSGS = st.one_of(st.sampled_from(["a", "b", ""]), st.text(max_size=8), st.none(), st.integers())
_ENTRIES = st.one_of(
    st.builds(lambda r, m: {"rule": r, "msg": m}, _RULE_IDS, _MSGS),
    st.builds(lambda r: {"rule": r}, _RULE_IDS),
    st.builds(lambda m, x: {"msg": m, "extra": x}, _MSGS, st.integers()),
    st.text(max_size=4),
    st.integers(),
    st.lists(st.integers(), max_size=2),
)
_GROUPS = st.lists(
    st.fixed_dictionaries(
        {
            "package": st.sampled_from(_PACKAGES),
            "kind": st.sampled_from(["deny", "ask"]),
            "entries": st.lists(_ENTRIES, max_size=4),
        }
    ),
    max_size=8,
)


@given(_GROUPS)
def test_reasons_are_those_of_the_plain_construction_in_the_same_order(
    results: list[dict[str, Any]],
) -> None:
    got = _reasons_from_results(_COMPILED, results)
    want = _reference(_COMPILED, results)
    assert got == want
    # equal values, and the same fields as a constructed Reason (type, order of fields)
    assert [vars(r) for r in got] == [vars(r) for r in want]
    assert [repr(r) for r in got] == [repr(r) for r in want]


def test_the_shipped_stack_gives_the_reasons_of_the_plain_construction() -> None:
    compiled = load_stack().compile()
    for kind in ("push", "pull_request", "merge", "release"):
        document = {"kind": kind, "repository": "a/b", "author": {"id": "x", "type": "agent"}}
        compiled.engine.set_input_value(document)
        results = compiled.results()
        got = _reasons_from_results(compiled, results)
        assert got and got == _reference(compiled, results)
