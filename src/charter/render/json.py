"""Machine output: one JSON document per command, written by the one compact writer.

The document is the library object's ``to_dict()`` as is; keys keep the order
the object gives them. :func:`document` renders without writing, so a caller
can render, record, then :func:`show`.
"""

from __future__ import annotations

from typing import Any

from charter.core import jsonio
from charter.render import _stream


def document(value: Any) -> str:
    """``value`` as one line of compact JSON (UTF-8 text, no NaN), newline-terminated."""
    return jsonio.compact(value) + "\n"


def show(value: Any) -> None:
    """Write ``value`` as JSON to standard output."""
    _stream.write(document(value))


def lines(values: Any) -> str:
    """JSON lines: one compact document per value."""
    return "".join(document(v) for v in values)


__all__ = ["document", "lines", "show"]
