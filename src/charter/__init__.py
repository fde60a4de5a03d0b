"""Charter: a signed, layered, non-waivable constitution for AI coding agents.

The packages follow the data: ``core`` (errors, JSON, verdicts, the decision
record) ← ``trust`` (keys, signatures, trust policy, versions, watchdog) ←
``policy`` (bundles, the layered stack, the Rego engine, proposal decisions,
tests, lint, waivers) and ``actions`` (the shell parser, the program catalogue,
command patterns, the gate, the agent-runtime constitution) and ``audit`` (the
hash chain and its stores) ← ``facts`` (what Charter derives itself: git, GitHub,
lockfiles, identities, verified evidence; ``decide`` reconciles and decides) ←
``registry`` (OCI) ← ``render`` ← ``runner`` and ``cli``, which are thin shells
over the same pipeline. docs/design.md is the
design of record.

The public library API is what ``__all__`` names; everything else may change
between minor versions. Names are imported on first use, so ``import charter``
stays cheap.
"""

from __future__ import annotations

import importlib

# `typing` costs milliseconds the hook client (charter.hookd.client) pays on every
# tool call; mypy reads this flag as typing.TYPE_CHECKING.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.3.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "CharterError": "charter.core.errors",
    "Decision": "charter.core.decision",
    "Reason": "charter.core.decision",
    "Verdict": "charter.core.verdict",
    "parse_proposal": "charter.policy.proposal",
    "load_stack": "charter.policy.stack",
    "load_trusted_stack": "charter.policy.loading",
    "load_trust_policy": "charter.trust.policy",
    "evaluate": "charter.policy.decision",
    "decide": "charter.facts.decide",
    "explain": "charter.policy.explain",
    "read_profile": "charter.policy.profile",
    "Facts": "charter.facts.reconcile",
    "collect_evidence": "charter.facts.evidence",
    "load_identities": "charter.facts.identities",
    "load_constitution": "charter.actions.gate",
    "Gate": "charter.actions.gate",
    "open_store": "charter.audit.stores",
    "verify_audit": "charter.audit.chain",
}
#: Public names whose attribute in the defining module is spelled differently.
_RENAMED = {
    "parse_proposal": "parse",
    "load_trust_policy": "load_policy",
    "verify_audit": "verify",
    "collect_evidence": "collect",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'charter' has no attribute {name!r}")
    return getattr(importlib.import_module(module), _RENAMED.get(name, name))


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
