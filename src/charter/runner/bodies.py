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
from charter.core.errors import InputError
from charter.policy import proposal
from charter.runner.limits import Limits, check_action, check_proposal, loads_limited

#: What a body is called in error messages (and the ``field`` of a 422 answer).
BODY = "body"


def parse_object(raw: bytes, limits: Limits | None = None) -> dict[str, Any]:
    """The request body as one JSON object (an action); anything else is an InputError."""
    if limits is None:
        return jsonio.loads_object(raw, what=BODY, hint="the body must be one JSON object")
    value = loads_limited(raw, limits, BODY, "the body must be one JSON object")
    if not isinstance(value, dict):
        raise InputError(
            f"{BODY}: must be a JSON object, not {type(value).__name__}",
            hint="the body must be one JSON object",
        )
    check_action(value, limits)
    return value


def parse_proposal(raw: bytes, limits: Limits | None = None) -> dict[str, Any]:
    """A proposal body, parsed and validated as every front end does, within ``limits``
    (nesting and files are checked before the schema is)."""
    if limits is None:
        return proposal.parse(raw, what=BODY)
    document = loads_limited(raw, limits, BODY, "the proposal must be one JSON object")
    check_proposal(document, limits)
    return proposal.validate(document)


def principal_id(value: Any) -> str | None:
    """The ``id`` of a document's ``author`` or ``agent`` object, if it is a string."""
    found = value.get("id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None
