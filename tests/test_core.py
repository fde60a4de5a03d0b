"""The core every front end shares: strict JSON reader, canonical writer, error table."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.core import errors, jsonio
from charter.core.errors import (
    ArchiveError,
    AuditError,
    CharterError,
    Conflict,
    EvaluationError,
    Forbidden,
    InputError,
    IntegrityLost,
    NotFound,
    PolicyError,
    Rejected,
    RollbackError,
    Unavailable,
    VerificationError,
)

# Valid JSON values, with non-ASCII text but no lone surrogates.
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_every_valid_document_round_trips(value: Any) -> None:
    encoded = json.dumps(value, ensure_ascii=False)
    assert jsonio.loads(encoded, what="doc") == value
    assert jsonio.loads(encoded.encode(), what="doc") == value


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_canonical_is_sorted_compact_utf8_and_stable(value: Any) -> None:
    canonical = jsonio.canonical(value)
    assert canonical == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert jsonio.canonical(jsonio.loads(canonical, what="doc")) == canonical
    assert jsonio.canonical_bytes(value) == canonical.encode("utf-8")


# What a Python caller may hand canonical(): keys json.dumps converts, tuples, NaN,
# lone surrogates, keys of mixed types (which sort_keys cannot order).
_keys = st.one_of(st.text(max_size=3), st.integers(-3, 3), st.booleans(), st.none(), st.floats())
python_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(_keys, children, max_size=3)
    ),
    max_leaves=15,
)


def _outcome(write: Any, value: Any) -> tuple[str, str]:
    try:
        return "ok", write(value)
    except (TypeError, ValueError) as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=300, deadline=None)
@given(python_values)
def test_canonical_writes_and_refuses_exactly_what_json_dumps_does(value: Any) -> None:
    """The encoder built once gives json.dumps's text, or its error, for any value."""

    def dumps(v: Any) -> str:
        return json.dumps(
            v, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )

    assert _outcome(jsonio.canonical, value) == _outcome(dumps, value)


def _sha256_of_canonical(value: Any) -> tuple[str, int]:
    data = jsonio.canonical(value).encode("utf-8")
    return "sha256:" + hashlib.sha256(data).hexdigest(), len(data)


@settings(max_examples=300, deadline=None)
@given(python_values | json_values)
def test_canonical_pieces_join_to_the_canonical_text_or_its_error(value: Any) -> None:
    """Small runs (1-2 elements) and every depth: each way of cutting the text."""
    for depth, items in ((3, 1), (3, 2), (1, 1), (8, 1)):
        pieces = jsonio.canonical_pieces(value, depth=depth, items=items)
        assert _outcome(lambda v, p=pieces: "".join(p), value) == _outcome(jsonio.canonical, value)
    assert _outcome(jsonio.canonical_sha256, value) == _outcome(_sha256_of_canonical, value)


def test_canonical_sha256_of_a_large_document_is_that_of_its_text() -> None:
    """Runs of 256 elements two levels down, keys that need escaping, and the errors."""
    document = {
        "files": [{"path": f"src/é{i}.py", "patch": "+x\n" * i, "n": i / 3} for i in range(700)],
        "deps": {
            "changes": [{"name": f"p{i}", "old": None, "direct": i % 2 == 0} for i in range(600)]
        },
        '\u2028 "quoted"\n': [[1, 2], [], {}],
    }
    assert jsonio.canonical_sha256(document) == _sha256_of_canonical(document)
    assert jsonio.digest(document) == _sha256_of_canonical(document)[0]
    cycle: dict[str, Any] = {"a": []}
    cycle["a"].append(cycle)
    with pytest.raises(ValueError, match="Circular reference"):
        jsonio.canonical_sha256(cycle)
    with pytest.raises(UnicodeEncodeError):
        jsonio.canonical_sha256({"text": "\ud800"})


def test_canonical_is_safe_to_share_between_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    documents = [{"n": i, "nested": {"b": [i] * 50, "a": str(i) * 20}} for i in range(400)]
    want = [json.dumps(d, sort_keys=True, separators=(",", ":")) for d in documents]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(jsonio.canonical, documents)) == want


def test_canonical_refuses_what_json_cannot_express() -> None:
    with pytest.raises(ValueError):
        jsonio.canonical({"x": math.inf})
    with pytest.raises(TypeError):
        jsonio.canonical({"when": object()})  # no default=str: a bug, not a string


def test_digest_ignores_key_order_and_names_its_algorithm() -> None:
    assert jsonio.digest({"a": 1, "b": [2]}) == jsonio.digest({"b": [2], "a": 1})
    assert jsonio.digest({"a": 1}).startswith("sha256:")
    assert jsonio.digest({"a": 1}) != jsonio.digest({"a": 2})


@pytest.mark.parametrize(
    ("document", "needle"),
    [
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ('{"x": {"b": [{"k": 1, "k": 1}]}}', "duplicate key 'k'"),
        ('{"n": NaN}', "NaN"),
        ('{"n": Infinity}', "Infinity"),
        ('{"n": -Infinity}', "-Infinity"),
        ('{"n": 1e999}', "1e999"),
        ('{"n": -1e999}', "-1e999"),
        ('{"repository": "acme/\\ud800"}', "lone surrogate"),
        ('{"\\udfff": 1}', "lone surrogate"),
        ("[" * 10_000 + "]" * 10_000, "nested deeper than"),
        ("[" * 200 + "]" * 200, "nested deeper than 128"),
        ('{"a": ', "malformed JSON"),
        ("", "malformed JSON"),
    ],
)
def test_what_parsers_disagree_on_is_refused_by_name(document: str, needle: str) -> None:
    with pytest.raises(InputError) as caught:
        jsonio.loads(document, what="proposal.json")
    message = str(caught.value)
    assert message.startswith("proposal.json")
    assert needle in message
    assert "\n" not in message


def test_bytes_must_be_utf8_and_a_bom_is_accepted() -> None:
    assert jsonio.loads(b'\xef\xbb\xbf{"a": 1}', what="doc") == {"a": 1}
    with pytest.raises(InputError, match="not UTF-8"):
        jsonio.loads(b'{"a": "\xff"}', what="doc")


def test_nesting_up_to_the_limit_is_accepted() -> None:
    deep = "[" * jsonio.MAX_DEPTH + "]" * jsonio.MAX_DEPTH
    assert jsonio.loads(deep, what="doc") is not None


def test_an_object_is_required_where_one_is_expected() -> None:
    assert jsonio.loads_object('{"a": 1}', what="body") == {"a": 1}
    with pytest.raises(InputError, match="body: must be a JSON object, not list"):
        jsonio.loads_object("[1]", what="body")


@pytest.mark.parametrize(
    ("error", "exit_code", "status"),
    [
        (CharterError("x"), 2, 422),
        (InputError("x"), 2, 422),
        (PolicyError("x"), 2, 422),
        (EvaluationError("x"), 2, 422),
        (VerificationError("x"), 1, 422),
        (ArchiveError("x"), 1, 422),
        (IntegrityLost("x"), 1, 503),
        (Rejected("x"), 1, 422),
        (RollbackError("x"), 2, 409),
        (Conflict("x"), 2, 409),
        (NotFound("x"), 2, 404),
        (Forbidden("x"), 2, 403),
        (Unavailable("x"), 2, 503),
        (AuditError("x"), 2, 503),
        (RuntimeError("a bug"), 2, 500),
    ],
)
def test_one_table_maps_errors_to_exit_codes_and_statuses(
    error: BaseException, exit_code: int, status: int
) -> None:
    assert errors.exit_code(error) == exit_code
    assert errors.http_status(error) == status


def test_the_most_specific_class_wins() -> None:
    class LintLike(Rejected, PolicyError):
        pass

    class Lost(Unavailable, EvaluationError):
        pass

    assert (errors.exit_code(LintLike("x")), errors.http_status(LintLike("x"))) == (1, 422)
    assert errors.http_status(Lost("x")) == 503


def test_errors_carry_a_hint() -> None:
    error = InputError("proposal.author: is required", hint="see docs/design.md")
    assert str(error) == "proposal.author: is required (see docs/design.md)"


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


any_text = st.text(max_size=6)  # surrogates (category Cs) included
any_values = st.recursive(
    st.none() | st.integers() | any_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(any_text, children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(any_values, st.booleans())
def test_lone_surrogates_are_refused_however_they_are_written(value: Any, ascii_only: bool) -> None:
    # The fast path skips the tree walk only when no surrogate can be present.
    encoded = json.dumps(value, ensure_ascii=ascii_only)
    if _has_lone_surrogate(value):
        with pytest.raises(InputError, match="lone surrogate"):
            jsonio.loads(encoded, what="doc")
    else:
        assert jsonio.loads(encoded, what="doc") == value
