"""The one exception hierarchy of Charter.

Every error carries a sentence a person can act on: what is wrong and how to fix
it. The CLI prints ``str(error)`` and maps the class to an exit code; it never
prints a traceback unless asked to with ``--verbose``.
"""

from __future__ import annotations


class CharterError(Exception):
    """Root of every error Charter raises on purpose."""

    #: Exit code the CLI uses for this error (2: usage or input error).
    exit_code: int = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class InputError(CharterError):
    """A document given to Charter (proposal, action, config) is malformed."""


class PolicyError(CharterError):
    """A Rego module, bundle manifest or rule metadata is invalid."""


class LoadError(PolicyError):
    """A layer or stack could not be assembled (duplicate IDs, roots, ...)."""


class EvaluationError(CharterError):
    """The engine failed while evaluating; decisions fail closed on it."""


class TrustError(CharterError):
    """A signature, key, digest or version check failed."""


class VerificationError(TrustError):
    """Signed content does not verify (tampered, wrong key, unsigned)."""

    exit_code = 1


class RollbackError(TrustError):
    """An older version than the one already accepted was offered."""


class ConfigError(CharterError):
    """A configuration file (trust policy, runner config, ...) is invalid."""


class WaiverError(CharterError):
    """A waiver is invalid, expired or not allowed."""


class AuditError(CharterError):
    """The audit store could not record or verify a decision."""


class RegistryError(CharterError):
    """An OCI registry could not be reached or answered unexpectedly."""


class ArchiveError(VerificationError):
    """A bundle archive is malformed or unsafe (truncated, links, ``..``, too large)."""


class IntegrityLost(TrustError):
    """Something verified at load time changed on disk; decisions fail closed."""

    exit_code = 1
