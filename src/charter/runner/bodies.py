"""Request bodies: one JSON object, parsed strictly, wherever a decision is evaluated."""

from __future__ import annotations

import json
import math
from typing import Any

from charter.core.errors import InputError


class InvalidBody(InputError):
    """The request body is not one JSON object (422, field ``body``)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        # 1e999 would reach the engine as Infinity, which JSON cannot express.
        raise ValueError(f"{text[:32]} does not fit a finite number")
    return value


def parse_object(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object; anything else is :class:`InvalidBody`."""
    try:
        # NaN and Infinity are Python extensions, not JSON (as in `charter check`).
        value = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite)
    except (ValueError, RecursionError) as exc:
        raise InvalidBody(f"invalid request: body: not a JSON document ({exc})") from None
    if not isinstance(value, dict):
        raise InvalidBody(
            f"invalid request: body: must be a JSON object, not {type(value).__name__}"
        )
    return value


def principal_id(value: Any) -> str | None:
    """The ``id`` of a document's ``author`` or ``agent`` object, if it is a string."""
    found = value.get("id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None
