"""Facts Charter derives itself instead of believing the proposal.

A proposal is written by the agent Charter governs, so what it says about
itself (``dependencies.changed``, versions, ...) is a claim. The modules here
derive the same facts from the change itself:

* :mod:`charter.facts.dependencies` — dependency changes read from the
  lockfiles and manifests a change touches
  (:func:`~charter.facts.dependencies.derive_dependency_changes`,
  :func:`~charter.facts.dependencies.is_dependency_file`); a file that cannot be
  read is reported as unparsed, never dropped;
* :mod:`charter.facts.git` — changed files, patches (with stated limits) and
  commits of a git range, read with the git CLI and never through a shell;
* :mod:`charter.facts.github` — the proposal built from a GitHub webhook payload and
  saved REST API answers (offline); a changed dependency file is reported as unparsed;
* :mod:`charter.facts.identities` — who is an agent, from configuration
  (``[identities]``); an identity the map does not know counts as an agent;
* :mod:`charter.facts.proposal` — the proposal document assembled from those
  facts and validated by :mod:`charter.policy.proposal`;
* :mod:`charter.facts.attestations` — DSSE envelopes, Sigstore bundles and blob
  signatures from CI, verified offline under the trust policy's ``[evidence]``.

This package depends on :mod:`charter.core`, :mod:`charter.trust` (evidence
signers) and :mod:`charter.policy` (the proposal schema) only.
"""

from __future__ import annotations

from charter.facts.dependencies import (
    MAX_FILE_BYTES,
    DependencyChange,
    DependencyFacts,
    UnparsedFile,
    derive_dependency_changes,
    is_dependency_file,
)

__all__ = [
    "MAX_FILE_BYTES",
    "DependencyChange",
    "DependencyFacts",
    "UnparsedFile",
    "derive_dependency_changes",
    "is_dependency_file",
]
