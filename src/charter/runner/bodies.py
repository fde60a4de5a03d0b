"""Request bodies: read with Charter's one strict JSON reader, wherever they are evaluated.

Proposals enter through :func:`charter.policy.proposal.parse` (strict JSON, then
the proposal schema), exactly as in ``charter check`` and the hooks; action
bodies through :func:`parse_object`. Either way a body that is not JSON as
:mod:`charter.core.jsonio` reads it (duplicate keys, ``NaN``, ``1e999``, lone
surrogates, absurd nesting) is an :class:`~charter.core.errors.InputError`
naming ``body`` (HTTP 422), never a 500.
"""

from __future__ import annotations

from typing import Any

from charter.core import jsonio
from charter.policy import proposal

#: What a body is called in error messages (and the ``field`` of a 422 answer).
BODY = "body"


def parse_object(raw: bytes) -> dict[str, Any]:
    """The request body as one JSON object (an action); anything else is an InputError."""
    return jsonio.loads_object(raw, what=BODY, hint="the body must be one JSON object")


def parse_proposal(raw: bytes) -> dict[str, Any]:
    """A proposal body, parsed and validated as every front end does."""
    return proposal.parse(raw, what=BODY)


def principal_id(value: Any) -> str | None:
    """The ``id`` of a document's ``author`` or ``agent`` object, if it is a string."""
    found = value.get("id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None
