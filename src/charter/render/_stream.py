"""Writing rendered output to the process's streams."""

from __future__ import annotations

import sys
from typing import TextIO


def printable(text: str) -> str:
    """``text`` with anything UTF-8 cannot encode (lone surrogates) as ``\\udcff`` escapes.

    Inside a JSON string that escape is valid JSON; in text it is visible. A
    surrogate in the output can then never turn into an encoding error after a
    decision was recorded.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def write(text: str, stream: TextIO | None = None) -> None:
    """Write ``text`` (already rendered) to ``stream`` (default standard output)."""
    out = sys.stdout if stream is None else stream
    out.write(printable(text))
    out.flush()
