"""Decide a proposal on facts: reconcile what it declares with what Charter derived, then evaluate.

Every front end — ``charter check``, the runner's evaluator threads and processes,
the GitHub Action — decides through :func:`decide`, so the same input gets the same
answer everywhere: the document is reconciled (:mod:`charter.facts.reconcile`),
the result is what the rules see, and ``input.context.facts`` tells them what was
derived and which declarations contradicted it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from charter.core.decision import Decision, WaiverHook
from charter.facts.reconcile import Facts, Reconciled, reconcile
from charter.policy import proposal
from charter.policy.decision import evaluate
from charter.policy.stack import CompiledStack


@dataclass(frozen=True)
class Decided:
    """A decision and the document it was made on (for renderers and the audit log)."""

    decision: Decision
    document: dict[str, Any]
    facts: dict[str, Any]


def decide(
    compiled: CompiledStack,
    declared: Mapping[str, Any] | None,
    facts: Facts | None = None,
    *,
    now: datetime | None = None,
    waivers: WaiverHook | None = None,
    validate: bool = True,
) -> Decided:
    """Reconcile ``declared`` with ``facts`` and decide the result.

    ``declared`` is the proposal as written (``None`` when it was only built from
    git or GitHub); ``validate=False`` when the caller already validated it.
    """
    if validate and declared is not None:
        proposal.validate(declared)
    reconciled: Reconciled = reconcile(declared, facts)
    # A document assembled from outside facts is checked again: what the rules see
    # must always satisfy the schema, whoever wrote which part of it.
    outside = facts is not None and (
        facts.built is not None or facts.artifacts is not None or facts.scan is not None
    )
    if outside:
        proposal.validate(reconciled.document)
    decision = evaluate(
        compiled,
        reconciled.document,
        now=now,
        waivers=waivers,
        validate=False,
        facts=reconciled.context,
    )
    return Decided(decision, reconciled.document, reconciled.context)
