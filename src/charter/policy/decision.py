"""Decide a proposal against a compiled stack (docs/design.md, 'Verdicts', 'Proposal document').

load → verify → compile happen upstream; this module only evaluates and builds
the decision document. The verdict is the maximum over every entry; anything
that goes wrong during evaluation yields ``deny`` with the error as a reason.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from charter.core import heap, jsonio
from charter.core.decision import Decision, Reason, WaiverHook
from charter.core.errors import CharterError
from charter.core.verdict import Verdict, strictest
from charter.policy import proposal as proposal_mod
from charter.policy import secrets
from charter.policy.stack import CompiledStack

EVAL_ERROR_RULE = "CHARTER-EVALUATION-ERROR"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _moment_context(
    document: Mapping[str, Any], now: datetime, facts: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    citation = proposal_mod.parse_citation(document.get("body"))
    context: dict[str, Any] = {
        "now": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "now_ns": int(now.timestamp()) * 1_000_000_000 + now.microsecond * 1000,
        "weekday": WEEKDAYS[now.weekday()],
        "hour": now.hour,
        "minute": now.minute,
        "citation": citation.to_context(),
    }
    # CRED-NO-STATIC-SECRETS-001 decides on Charter's own scan of the patches
    # (none above secrets.SCAN_LIMIT: then the rule's Rego scans them).
    secret_scan = secrets.scan(document)
    if secret_scan is not None:
        context["secret_scan"] = secret_scan
    if facts is not None:
        context["facts"] = facts
    return context


def build_context(
    compiled: CompiledStack,
    document: Mapping[str, Any],
    now: datetime,
    facts: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``input.context`` as rules see it (docs/design.md, 'input.context')."""
    return {**_moment_context(document, now, facts), **compiled.stack.static_context}


def _input_digest(body: Mapping[str, Any]) -> str:
    """The digest of the canonical JSON of ``body``, the one serialisation a decision makes.

    It also proves ``body`` is JSON (no ``NaN``, nothing ``json`` cannot write)
    before the engine reads the same values. The text is hashed a piece at a time
    (:func:`charter.core.jsonio.canonical_sha256`), never held whole. After a large
    one the C heap's freed pages are handed back
    (:func:`charter.core.heap.release_freed_memory`): regorus copies the input with
    its own allocator, so it would not reuse what building the document left free.
    """
    digest, size = jsonio.canonical_sha256(body)
    if size >= heap.LARGE:
        heap.release_freed_memory()
    return digest


def _reasons_from_results(compiled: CompiledStack, results: Any) -> list[Reason]:
    stack = compiled.stack
    rules = stack.rules
    layers = compiled.package_layers
    ranked: list[tuple[tuple[int, str, str, str], Reason]] = []
    for group in results or []:
        entries = group.get("entries")
        if not entries:
            continue
        package, kind = group["package"], group["kind"]
        verdict = Verdict.DENY if kind == "deny" else Verdict.ASK
        rank = 0 if verdict is Verdict.DENY else 1  # deny first, then by layer, rule, message
        layer_kind = layers.get(package)
        if layer_kind is None:
            layer = stack.layer_of_package(package)
            layer_kind = layer.kind if layer else "unknown"
        for entry in entries:
            rule_id = entry.get("rule") if isinstance(entry, dict) else None
            msg = entry.get("msg") if isinstance(entry, dict) else None
            rule = rules.get(rule_id) if isinstance(rule_id, str) else None
            name = str(rule_id) if rule_id else f"{package}.{kind}"
            text = str(msg) if msg is not None else json.dumps(entry, sort_keys=True)
            # An entry that cites another layer's rule still counts (a verdict
            # is never lowered) but is attributed to the layer that emitted it.
            if rule is None or rule.layer != layer_kind:
                reason = Reason(name, layer_kind, "unknown", text, verdict)
            else:
                reason = Reason(
                    name,
                    layer_kind,
                    rule.severity,
                    text,
                    verdict,
                    rule.links,
                    rule.category,
                    rule.citation,
                )
            ranked.append(((rank, layer_kind, name, text), reason))
    ranked.sort(key=itemgetter(0))  # stable: equal keys keep the engine's order
    return [reason for _, reason in ranked]


def evaluate(
    compiled: CompiledStack,
    document: Any,
    *,
    now: datetime | None = None,
    waivers: WaiverHook | None = None,
    validate: bool = True,
    facts: Mapping[str, Any] | None = None,
) -> Decision:
    """Decide ``document`` (a proposal) against ``compiled``.

    ``facts`` becomes ``input.context.facts`` (what Charter derived and which
    declared facts contradicted it: :mod:`charter.facts.reconcile`).
    Invalid documents raise :class:`InputError`; everything after validation
    fails closed: an evaluation error is a ``deny`` citing the error.
    """
    if validate:
        proposal_mod.validate(document)
    moment = now or datetime.now(UTC)
    decision_id = str(uuid.uuid4())
    # Whatever the caller put in "context" is replaced and inline "evidence" is
    # Charter's to read: rules only ever see the context Charter computed.
    body = {k: v for k, v in document.items() if k not in proposal_mod.CARRIERS}
    digest = _input_digest(body)
    stack_doc = compiled.stack_document
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        # The engine reads the Python values themselves: no second serialisation
        # and no JSON text held next to the engine's own copy of the input.
        engine_input = {**body, "context": build_context(compiled, body, moment, facts)}
        compiled.engine.set_input_value(engine_input)
        results = compiled.results(engine_input, guarded=True)
        reasons = _reasons_from_results(compiled, results)
    except (CharterError, RuntimeError, ValueError, TypeError, KeyError) as exc:
        error = Reason(
            rule=EVAL_ERROR_RULE,
            layer="charter",
            severity="critical",
            msg=f"evaluation failed, failing closed: {exc}",
            verdict=Verdict.DENY,
        )
        return Decision(
            decision_id, Verdict.DENY, (error,), stack_doc, input_digest=digest, time=stamp
        )
    record = compiled.stack.profile_record
    decision = Decision(
        decision_id=decision_id,
        verdict=strictest(r.verdict for r in reasons),
        reasons=tuple(reasons),
        stack=stack_doc,
        input_digest=digest,
        time=stamp,
        # The Environment Profile file is an input too: which one, and its digest.
        extra={"profile": dict(record)} if record is not None else {},
    )
    return decision if waivers is None else apply_waivers(decision, waivers, document, moment)


def apply_waivers(
    decision: Decision, waivers: WaiverHook, document: Mapping[str, Any], moment: datetime
) -> Decision:
    """``decision`` with the waivers the hook grants (as :func:`evaluate` applies them).

    For callers that evaluate elsewhere (the runner's evaluator processes) and
    judge waivers where the keys are. A fail-closed evaluation error is never
    waived, and constitution rules are never waivable, whatever the hook returns.
    """
    reasons = list(decision.reasons)
    if any(r.rule == EVAL_ERROR_RULE for r in reasons):
        return decision
    kept, waived, ignored = waivers(reasons, document, moment)
    # Reasons are values (frozen dataclasses): a hook may hand back equal copies
    # (e.g. across a process boundary). Count them, so that of n equal reasons
    # exactly as many stay as the hook kept, and one it never saw adds nothing.
    remaining = Counter(kept)
    still: list[Reason] = []
    for reason in reasons:
        if remaining[reason] > 0:
            remaining[reason] -= 1
            still.append(reason)
        elif reason.layer == "constitution":
            still.append(reason)
    reasons = still
    return dataclasses.replace(
        decision,
        verdict=strictest(r.verdict for r in reasons),
        reasons=tuple(reasons),
        waived=tuple(decision.waived) + tuple(waived),
        ignored_waivers=tuple(decision.ignored_waivers) + tuple(ignored),
    )


def timed_evaluate(compiled: CompiledStack, document: Any) -> tuple[Decision, float]:
    """Evaluate and return the elapsed seconds (used by benchmarks)."""
    start = time.perf_counter()
    decision = evaluate(compiled, document)
    return decision, time.perf_counter() - start
