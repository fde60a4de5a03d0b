"""The one exception hierarchy of Charter.

Every error carries a sentence a person can act on: what is wrong and how to fix
it. Front ends map an error to an exit code or an HTTP status through
:func:`exit_code` and :func:`http_status` — the one table of that mapping — and
never print a traceback unless asked to with ``--verbose``.
"""

from __future__ import annotations


class CharterError(Exception):
    """Root of every error Charter raises on purpose."""

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


class Rejected(CharterError):
    """A check ran and refused its input (lint findings, a refused run): exit 1."""


class NotFound(CharterError):
    """The thing named does not exist (HTTP 404)."""


class Forbidden(CharterError):
    """The caller may not do this (HTTP 403)."""


class Conflict(CharterError):
    """The request conflicts with the current state (HTTP 409)."""


class Unavailable(CharterError):
    """A service Charter depends on cannot answer now; retry later (HTTP 503)."""


#: The one mapping from error class to (exit code, HTTP status). The most
#: specific class in an error's MRO wins; CharterError is the fallback.
_CODES: dict[type[CharterError], tuple[int, int]] = {
    CharterError: (2, 422),
    VerificationError: (1, 422),
    IntegrityLost: (1, 503),
    Rejected: (1, 422),
    RollbackError: (2, 409),
    NotFound: (2, 404),
    Forbidden: (2, 403),
    Conflict: (2, 409),
    Unavailable: (2, 503),
    AuditError: (2, 503),
    RegistryError: (2, 503),
}


def _codes(error: BaseException) -> tuple[int, int]:
    for cls in type(error).__mro__:
        found = _CODES.get(cls)
        if found is not None:
            return found
    return (2, 500)


def exit_code(error: BaseException) -> int:
    """The CLI's exit code for ``error``: 1 for a refusal, 2 for anything else."""
    return _codes(error)[0]


def http_status(error: BaseException) -> int:
    """The runner's HTTP status for ``error`` (500 only for a bug, never for input)."""
    return _codes(error)[1]
