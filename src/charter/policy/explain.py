"""Explain a decision: every rule of the stack, whether it applies and whether it fired.

One function answers ``charter explain`` and the runner's ``POST /v1/explain``
(docs/design.md, 'Explain'). A rule **applies** to a proposal when its
``custom.applies_to`` (:mod:`charter.policy.applies`) covers the proposal's kind
and changed paths — it could fire for this kind of change; it **fired** when the
decision has a reason of it. A rule that fired applies whatever it declares
(then ``why`` says its declaration is narrower than the rule): the answer never
hides a rule that decided.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from charter.core.decision import Decision, Reason
from charter.core.verdict import Verdict
from charter.policy.applies import changed_paths
from charter.policy.stack import Stack

#: The repository a hypothetical change (``charter explain --adds``) names.
HYPOTHETICAL_REPOSITORY = "explain/hypothetical"


def hypothetical(
    *,
    adds: Sequence[str] = (),
    modifies: Sequence[str] = (),
    removes: Sequence[str] = (),
    kind: str = "pull_request",
    author_type: str = "agent",
    body: str | None = None,
    base: str = "main",
) -> dict[str, Any]:
    """The proposal document of a change that does not exist yet (``explain --adds``)."""
    files = [
        {"path": path, "status": status, "previous_path": None, "patch": ""}
        for status, paths in (("added", adds), ("modified", modifies), ("removed", removes))
        for path in paths
    ]
    document: dict[str, Any] = {
        "kind": kind,
        "repository": HYPOTHETICAL_REPOSITORY,
        "base": base,
        "head": "explain/hypothetical" if kind != "release" else "v0.0.0",
        "author": {"id": f"hypothetical-{author_type}", "type": author_type},
        "title": "hypothetical change",
        "body": body,
        "files": files,
        "approvals": [],
    }
    return document


def explain(
    stack: Stack,
    decision: Decision,
    document: Mapping[str, Any],
    *,
    layer: str | None = None,
) -> dict[str, Any]:
    """The explanation of ``decision`` (made on ``document`` against ``stack``).

    ``layer`` keeps only the rules of one layer kind (``constitution``, ``pack``,
    ``overlay``) or layer name. Rows are ordered: fired first (deny, then ask),
    then the other rules that apply, then the rest; by rule id within each.
    """
    kind = document.get("kind")
    paths = changed_paths(document)
    fired: dict[str, list[Reason]] = {}
    for reason in decision.reasons:
        fired.setdefault(reason.rule, []).append(reason)
    waived = {w.get("rule"): w for w in decision.waived}
    rows: list[dict[str, Any]] = []
    for rule in stack.rules.values():
        if layer is not None and layer not in (rule.layer, rule.layer_name):
            continue
        hits = fired.get(rule.id, [])
        declared, why = rule.applies_to.judge(kind, paths)
        if hits and not declared:
            why = f"fired although its applies_to says: {why} (the declaration is narrower)"
        verdict = max((r.verdict for r in hits), default=Verdict.ALLOW)
        rows.append(
            {
                **rule.to_dict(),
                "applies": declared or bool(hits),
                "why": why,
                "fired": bool(hits),
                "verdict": str(verdict),
                "messages": [r.msg for r in hits],
                "waived": waived.get(rule.id),
            }
        )
    rows.sort(
        key=lambda r: (not r["fired"], -Verdict.parse(r["verdict"]), not r["applies"], r["id"])
    )
    other = [r.to_dict() for r in decision.reasons if r.rule not in stack.rules]
    profile = stack.profile_file
    return {
        "verdict": str(decision.verdict),
        "proposal": {"kind": kind, "paths": paths},
        "applies": [r["id"] for r in rows if r["applies"]],
        "fired": [r["id"] for r in rows if r["fired"]],
        "rules": rows,
        "other_reasons": other,
        "waived": list(decision.waived),
        "ignored_waivers": list(decision.ignored_waivers),
        "profile_path": stack.profile_path,
        "profile_diff": profile.diff() if profile is not None else [],
        "stack": list(decision.stack),
        "input_digest": decision.input_digest,
    }
