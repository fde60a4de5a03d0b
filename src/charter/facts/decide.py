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
from charter.facts.identities import IdentityMap
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
    A document the builder already validated (:func:`proposal.validated`) is not
    validated again: see :func:`_needs_validation`.
    """
    if validate and declared is not None and not proposal.is_validated(declared):
        proposal.validate(declared)
    reconciled: Reconciled = reconcile(declared, facts)
    if _needs_validation(reconciled.document, declared, facts):
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


def _needs_validation(document: dict[str, Any], declared: object, facts: Facts | None) -> bool:
    """Whether the reconciled ``document`` must be checked against the schema again.

    A document assembled from outside facts is: what the rules see must always
    satisfy the schema, whoever wrote which part of it. The one exception is a
    document that *is* a validated built one: nothing declared, nothing from
    evidence, a built document carrying the proof of :func:`proposal.validated`,
    and reconciling kept every top-level value of it (the very objects, only the
    optional carriers dropped). A valid document with optional members removed
    is valid, so validating it again (a tenth of a second on a 5,000-file range)
    would prove nothing new.
    """
    if facts is None:
        return False
    if facts.built is None and facts.artifacts is None and facts.scan is None:
        return False
    built = facts.built
    if declared is not None or facts.artifacts is not None or facts.scan is not None:
        return True
    if not proposal.is_validated(built):
        return True
    kept = [k for k in built if k not in proposal.CARRIERS]
    return len(kept) != len(document) or any(
        k not in document or document[k] is not built[k] for k in kept
    )


def hypothetical_facts(document: Mapping[str, Any]) -> Facts | None:
    """The facts of a hypothetical change (:func:`charter.policy.explain.hypothetical`):
    its author is of the type the change says — the caller chose it (``charter explain
    --author-type``, the runner's ``POST /v1/explain/hypothetical``), no identity map
    classifies an author who does not exist. A real change's author type comes from the
    identity map, never from the document. ``None``: an agent (no facts needed)."""
    author = document.get("author")
    if isinstance(author, Mapping) and author.get("type") == "human":
        return Facts(identities=IdentityMap(humans=(str(author.get("id")),)))
    return None
