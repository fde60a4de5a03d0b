"""Facts Charter derives itself instead of believing the proposal.

A proposal is written by the agent Charter governs, so what it says about
itself (``dependencies.changed``, versions, ...) is a claim. The modules here
derive the same facts from the change itself:

* :mod:`charter.facts.dependencies` — dependency changes read from the
  lockfiles and manifests a change touches
  (:func:`~charter.facts.dependencies.derive_dependency_changes`,
  :func:`~charter.facts.dependencies.is_dependency_file`); a file that cannot be
  read is reported as unparsed, never dropped.

This package depends on :mod:`charter.core` only.
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
