"""The one JSON reader and the one canonical JSON writer of Charter.

Every document Charter reads from outside (proposals, action requests, hook
payloads, waivers, bundle data, request bodies) goes through :func:`loads`,
which accepts exactly the JSON that every part of Charter — Python, regorus,
PostgreSQL, the canonical writer — reads the same way:

* duplicate keys are refused (RFC 8259 leaves them undefined; parsers disagree
  on which one wins, so an attacker could show a reviewer one value and the
  engine another);
* ``NaN``, ``Infinity`` and numbers too large for a double (``1e999``) are
  refused: JSON cannot express them and the engine would see a different value;
* lone surrogates (``"\\ud800"``) are refused: they are not Unicode text and
  cannot be encoded, hashed or stored;
* nesting deeper than :data:`MAX_DEPTH` is refused (the C scanner raises
  RecursionError long before Python's stack is at risk; :func:`check_tree`
  enforces the limit without recursion).

:func:`canonical` is the one serialisation that is hashed or signed: sorted
keys, no whitespace, UTF-8 text, no ``default=`` fallback (a value that is not
JSON is a bug, not something to stringify).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from typing import Any

from charter.core.errors import InputError

#: Deepest nesting accepted in any document (proposals are a few levels deep).
MAX_DEPTH = 128

_SURROGATES = range(0xD800, 0xE000)


#: The encoder :func:`json.dumps` would build for :func:`canonical`'s arguments, built
#: once (it keeps no state between calls: ``encode`` makes a fresh C encoder each time).
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical(document: Any) -> str:
    """Sorted keys, compact separators, UTF-8 text; the form that is hashed and signed."""
    return _CANONICAL.encode(document)


def canonical_bytes(document: Any) -> bytes:
    return canonical(document).encode("utf-8")


def digest(document: Any) -> str:
    """``sha256:<hex>`` of the canonical form."""
    return canonical_sha256(document)[0]


def canonical_sha256(document: Any) -> tuple[str, int]:
    """``sha256:<hex>`` of the canonical form and its length in bytes, hashed a piece at
    a time (:func:`canonical_pieces`): a large document's text is never held whole.

    Raises what :func:`canonical` raises, and UnicodeEncodeError for a lone surrogate
    (as encoding :func:`canonical`'s text would).
    """
    if not _large(document, _PIECE_DEPTH, _PIECE_ITEMS):  # small: one encoder call
        data = canonical_bytes(document)
        return "sha256:" + hashlib.sha256(data).hexdigest(), len(data)
    hashed = hashlib.sha256()
    size = 0
    for piece in canonical_pieces(document):
        data = piece.encode("utf-8")
        size += len(data)
        hashed.update(data)
    return "sha256:" + hashed.hexdigest(), size


#: Levels of objects and arrays :func:`canonical_pieces` opens itself (a proposal's
#: ``dependencies.changes`` is the third); anything deeper is written whole.
_PIECE_DEPTH = 3
#: Elements of an array written in one piece, at most.
_PIECE_ITEMS = 256
#: An object's key as the encoder writes it (``ensure_ascii=False``).
_key = json.encoder.encode_basestring


def canonical_pieces(
    document: Any, *, depth: int = _PIECE_DEPTH, items: int = _PIECE_ITEMS
) -> Iterator[str]:
    """:func:`canonical`'s text in pieces: joined, exactly ``canonical(document)``.

    The objects (with text keys only) and arrays of the top ``depth`` levels are
    written here, member by member and a run of ``items`` elements at a time, each
    run by the canonical encoder (``[…]`` without its brackets); everything else is
    the encoder's own writing of it. A value the encoder refuses raises the same
    error (the encoder meets it in the piece that holds it); the pieces before it
    are already yielded.
    """
    if not _large(document, depth, items):  # one encoder call: a proposal's usual case
        yield _CANONICAL.encode(document)
        return
    if type(document) is dict:
        if all(type(key) is str for key in document):  # else the encoder decides
            yield from _object_pieces(document, depth, items)
            return
    if depth > 0 and type(document) is list and len(document) > items:
        yield "["
        for start in range(0, len(document), items):
            run = _CANONICAL.encode(document[start : start + items])[1:-1]
            yield run if start == 0 else "," + run
        yield "]"
        return
    yield _CANONICAL.encode(document)


def _large(value: Any, depth: int, items: int) -> bool:
    """Whether :func:`canonical_pieces` would split ``value``: an array of more than
    ``items`` elements, or an object holding one, within ``depth`` levels (objects are
    looked into, arrays only measured: a few calls for a small proposal)."""
    if depth <= 0:
        return False
    if type(value) is list:
        return len(value) > items
    if type(value) is not dict:
        return False
    for member in value.values():  # a loop, not a call per member: most are scalars
        kind = type(member)
        if kind is list:
            if depth > 1 and len(member) > items:
                return True
        elif kind is dict and depth > 1 and _large(member, depth - 1, items):
            return True
    return False


def _object_pieces(document: dict[str, Any], depth: int, items: int) -> Iterator[str]:
    opening = "{"
    for key in sorted(document):  # the encoder's order: keys are unique, so items sort so
        yield opening + _key(key) + ":"
        yield from canonical_pieces(document[key], depth=depth - 1, items=items)
        opening = ","
    yield "}"


def compact(document: Any) -> str:
    """Compact JSON in the document's own key order (for engines and wire formats)."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:32]} does not fit a 64-bit float")
    return value


def _path(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(document)"


def _bad_text(text: str) -> bool:
    return any(ord(ch) in _SURROGATES for ch in text) if not text.isascii() else False


def check_tree(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse lone surrogates and nesting deeper than ``max_depth``, without recursion."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, where = stack.pop()
        if len(where) > max_depth:
            raise ValueError(f"nested deeper than {max_depth} levels at {_path(where[:8])}…")
        if isinstance(item, str):
            if _bad_text(item):
                raise ValueError(f"{_path(where)}: a lone surrogate is not Unicode text")
        elif isinstance(item, dict):
            for key, child in item.items():
                if _bad_text(key):
                    raise ValueError(f"{_path(where)}: a key with a lone surrogate")
                stack.append((child, [*where, key]))
        elif isinstance(item, list):
            stack.extend((child, [*where, i]) for i, child in enumerate(item))


#: A JSON string (the text already parsed, so well formed) and a run of non-brackets.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _deeper_than(text: str, max_depth: int) -> bool:
    """Whether the brackets of the parsed JSON ``text`` nest deeper than ``max_depth``.

    Counting every bracket (the quick answer) flags any large document; this
    follows the nesting of the brackets outside strings, at C speed but for
    the loop over the brackets themselves.
    """
    if text.count("[") + text.count("{") <= max_depth:
        return False
    depth = 0
    for bracket in _NOT_BRACKET.sub("", _STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > max_depth:
            return True
    return False


def _may_need_tree_check(text: str, max_depth: int) -> bool:
    """Whether ``text`` could hold a lone surrogate or nest deeper than ``max_depth``.

    Both are rare; these C-speed scans spare the tree walk for almost every
    document (a surrogate needs a ``\\uD8xx``-``\\uDFxx`` escape or a raw
    surrogate in a ``str``; depth needs that many brackets).
    """
    if _deeper_than(text, max_depth):
        return True
    if "\\ud" in text or "\\uD" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def strict_decoder() -> json.JSONDecoder:
    """The decoder :func:`loads` parses with (duplicate keys, ``NaN``, numbers beyond a
    double refused), for a reader that walks a large document value by value
    (``raw_decode``); it must still :func:`check_tree` what it parsed."""
    return json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_finite)


def loads(
    text: str | bytes, *, what: str, hint: str | None = None, max_depth: int = MAX_DEPTH
) -> Any:
    """Parse ``text`` strictly; any problem is an :class:`InputError` naming ``what``."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8-sig" if text.startswith(b"\xef\xbb\xbf") else "utf-8")
        value = json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_constant=_constant,
            parse_float=_finite,
        )
        if _may_need_tree_check(text, max_depth):
            check_tree(value, max_depth=max_depth)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{what}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}", hint=hint
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{what}: not UTF-8 text ({exc.reason})", hint=hint) from None
    except RecursionError:
        raise InputError(
            f"{what}: malformed JSON: nested deeper than {max_depth} levels", hint=hint
        ) from None
    except ValueError as exc:
        raise InputError(f"{what}: malformed JSON: {exc}", hint=hint) from None
    return value


def loads_object(
    text: str | bytes, *, what: str, hint: str | None = None, max_depth: int = MAX_DEPTH
) -> dict[str, Any]:
    """:func:`loads`, and the document must be one JSON object."""
    value = loads(text, what=what, hint=hint, max_depth=max_depth)
    if not isinstance(value, dict):
        raise InputError(f"{what}: must be a JSON object, not {type(value).__name__}", hint=hint)
    return value
