"""The secret scan of CRED-NO-STATIC-SECRETS-001, computed by Charter (design: 'Deciding fast').

Charter finds the credential-looking added lines of a proposal's patches here, in
Python, and hands them to the rule as ``input.context.secret_scan``; the rule still
decides (which findings a fixture marker excuses, and the message). The Rego text
of the rule keeps its own scan for evaluators that do not provide this fact (plain
OPA or conftest on the bundle): both must find exactly the same lines, which
tests/test_secret_corpus.py checks on the corpus and on generated patches.

The definitions are the rule's, with the regular-expression semantics of Rust's
``regex`` crate (what regorus runs) spelled out for Python's ``re``:

* ``(?i)`` folds an ASCII letter with its upper case and, for ``k`` and ``s``,
  with KELVIN SIGN (U+212A) and LATIN SMALL LETTER LONG S (U+017F) — Python's
  IGNORECASE also folds ``i`` with U+0130/U+0131, so classes are written out
  instead of using the flag;
* ``\\s`` is Unicode ``White_Space`` — Python's also matches U+001C..U+001F;
* ``$`` is the end of the text (the lines scanned here hold no newline).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

PRIVATE_KEY = "a private key block"
AWS_KEY = "an AWS access key id"
GITHUB_TOKEN = "a GitHub token"  # noqa: S105 (a finding kind, not a credential)
GITLAB_TOKEN = "a GitLab token"  # noqa: S105 (a finding kind, not a credential)
GENERIC = "a hard-coded secret assignment"

#: The marker that lets a fixture line carry a fake credential (the rule decides).
MARKER = "charter:example-credential"

#: Token kinds, the literals one of which every match of the kind holds, and the
#: pattern searched in one line (only in a line holding one of its literals).
_TOKENS: tuple[tuple[str, frozenset[str], re.Pattern[str]], ...] = (
    (
        PRIVATE_KEY,
        frozenset({"PRIVATE KEY"}),
        re.compile(r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"),
    ),
    (
        AWS_KEY,
        frozenset({"AKIA", "ASIA"}),
        re.compile(r"(?:^|[^A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?:[^A-Za-z0-9]|\Z)"),
    ),
    (
        GITHUB_TOKEN,
        frozenset({"ghp_", "gho_", "ghs_", "ghu_", "ghr_", "github_pat_"}),
        re.compile(
            r"(?:^|[^A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"
        ),
    ),
    (
        GITLAB_TOKEN,
        frozenset({"glpat-"}),
        re.compile(r"(?:^|[^A-Za-z0-9_])glpat-[A-Za-z0-9_-]{20,}"),
    ),
)
#: Every token literal. No literal's end overlaps another kind's literal's start, so
#: the non-overlapping matches of this pattern name every kind a line may hold.
_TOKEN_LITERALS = tuple(literal for _, literals, _ in _TOKENS for literal in sorted(literals))
_TOKEN_LITERAL = re.compile("|".join(_TOKEN_LITERALS))

#: A generic assignment is only considered on a line whose lower-cased text holds one.
ASSIGNMENT_GUARDS = (
    "passw",
    "secret",
    "token",
    "api_key",
    "api-key",
    "apikey",
    "access_key",
    "access-key",
    "accesskey",
)
_GUARD = re.compile("|".join(re.escape(guard) for guard in ASSIGNMENT_GUARDS))

#: Rust's ``\\s``: the Unicode White_Space characters.
_WS = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: Rust's ``(?i)`` simple case folding of the ASCII letters.
_FOLDS = {"k": "kK\u212a", "s": "sS\u017f"}


def _folded(word: str) -> str:
    """``word`` as Rust's ``(?i)`` reads it (letters only; other characters as written)."""
    return "".join(
        f"[{_FOLDS.get(c, c + c.upper())}]" if c.isalpha() else re.escape(c) for c in word
    )


_NAME_CHAR = "[a-zA-Z0-9_.\\-\u017f\u212a]"
#: The rule's assignment, ``NAME* KEYWORD NAME*`` then the separator and the value.
#: A match's name is a whole run of name characters (what follows it, a quote, a
#: space or the operator, is not one), so it starts where a run starts. Python's
#: backtracking engine would try the keyword at every split of every run (Rust's
#: engine has no such cost): the name is matched here as the whole run, possessively,
#: and :data:`_CREDENTIAL_NAME` then looks for the keyword in it (:func:`generic`).
_ASSIGNMENT = re.compile(
    f"(?<!{_NAME_CHAR})({_NAME_CHAR}++)[\"']?[{_WS}]*(?::=|=|:)[{_WS}]*[\"']?([^{_WS}\"',;]+)"
)
_CREDENTIAL_NAME = re.compile(
    f"{_folded('passw')}(?:{_folded('or')})?{_folded('d')}|{_folded('secret')}"
    f"|{_folded('token')}|{_folded('api')}[_-]?{_folded('key')}|{_folded('apikey')}"
    f"|{_folded('access')}[_-]?{_folded('key')}"
)
_SECRET_VALUE = re.compile(r"[A-Za-z0-9+/=_.~!@#$%^&*-]+")
_PLACEHOLDER = re.compile("example|placeholder|changeme|dummy|redacted|your_|your-")


_DIGITS = frozenset("0123456789")
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def high_entropy(value: str) -> bool:
    """The rule's entropy heuristic for an assignment's value."""
    if len(value) < 16 or value.startswith("$") or not _SECRET_VALUE.fullmatch(value):
        return False
    used = set(value)
    if len(used) < 10 or used.isdisjoint(_DIGITS):
        return False
    lower, upper = not used.isdisjoint(_LOWER), not used.isdisjoint(_UPPER)
    if not (lower and upper) and (len(value) < 32 or not (lower or upper)):
        return False
    return _PLACEHOLDER.search(value.lower()) is None


def generic(line: str) -> bool:
    """Whether ``line`` assigns a random-looking value to a credential-named key.

    The rule's non-overlapping matches, left to right: a run of name characters
    followed by an assignment is a match only when the run holds a keyword; when
    it does not, no match starts inside the run and the search goes on after it
    (its value may hold the next match's name).
    """
    if not _GUARD.search(line.lower()):
        return False
    at = 0
    while (match := _ASSIGNMENT.search(line, at)) is not None:
        if _CREDENTIAL_NAME.search(match.group(1)) is None:
            at = match.end(1)
        elif high_entropy(match.group(2)):
            return True
        else:
            at = match.end()
    return False


def line_kinds(line: str) -> list[str]:
    """The finding kinds of one added patch line (without its newline)."""
    kinds = []
    held = _TOKEN_LITERAL.findall(line)
    if held:
        kinds = [
            kind
            for kind, literals, pattern in _TOKENS
            if not literals.isdisjoint(held) and pattern.search(line)
        ]
    if generic(line):
        kinds.append(GENERIC)
    return kinds


_UTF8 = "utf-8"
#: KELVIN SIGN: ``str.lower`` makes it ``k``, ``bytes.lower`` leaves it alone.
_KELVIN = "\u212a".encode(_UTF8)
#: Fewer, shorter needles than the literals and guards (each search is a pass
#: over the text): every token literal holds one of the first, every guard one
#: of the second. A needle that also finds other lines only costs a line check.
_TOKEN_NEEDLES = (b"PRIVATE KEY", b"IA", b"gh", b"_pat_", b"glpat-")
_GUARD_NEEDLES = (b"passw", b"secret", b"token", b"api", b"access")


def _line_starts(data: bytes) -> set[int]:
    """Start offsets (in UTF-8 ``data``) of the lines that may hold a finding.

    A line is a candidate when it holds a token literal, or when its lower case
    (``str.lower``, as the rule's ``lower``) holds a guard. Searching bytes for
    literals is far faster than a regular expression with alternatives or text
    with wide characters; ``bytes.lower`` folds A-Z only, which gives the same
    guards as ``str.lower`` except for KELVIN SIGN (``k``), so text holding one
    takes every line. (U+0130 lower-cases to ``i`` and a combining dot, which
    completes no guard: each ``i`` in one is followed by another letter or ``_``.)
    """
    starts = {0}
    if not data.isascii() and _KELVIN in data:
        at = data.find(b"\n")
        while at >= 0:
            starts.add(at + 1)
            at = data.find(b"\n", at + 1)
        return starts
    starts.clear()
    lowered = data.lower()
    for haystack, needles in ((data, _TOKEN_NEEDLES), (lowered, _GUARD_NEEDLES)):
        for needle in needles:
            at = haystack.find(needle)
            while at >= 0:
                starts.add(data.rfind(b"\n", 0, at) + 1)
                at = haystack.find(needle, at + len(needle))
    return starts


def _encoded(text: str) -> bytes:
    # surrogatepass: a lone surrogate (which a document should not hold) still
    # round-trips instead of failing the decision.
    return text.encode(_UTF8, "surrogatepass")


#: Above this many characters of patch text Charter leaves the scan to the rule's
#: Rego: each regorus regular-expression call costs microseconds however short the
#: text (a fresh matching cache every call; the rule's scan makes about ten, 0.1-0.5 ms
#: of a small proposal's decision), but Rust's regex engine then reads more bytes per
#: second than this module. Measured crossover: 32-64 KB (bench_decisions.py).
SCAN_LIMIT = 32 * 1024


def scan(document: Mapping[str, Any]) -> dict[str, Any] | None:
    """``input.context.secret_scan``: ``{"findings": [[path, line, kind], …], "marked": […]}``.

    Only files the rule reads count: an object with a string ``path`` and a string
    ``patch`` in a ``files`` list. The patch line is the 1-based line where the
    flagged line's text first occurs in its patch (as the rule computes it); a
    line repeated in a patch is reported once. A finding on a line that carries
    :data:`MARKER` goes under ``marked``: the rule decides whether it is excused.
    ``None`` (the rule scans) when the patches hold more than :data:`SCAN_LIMIT`
    characters.
    """
    files = document.get("files")
    patches: list[tuple[str, str]] = []
    if isinstance(files, list):
        patches = [
            (file["path"], file["patch"])
            for file in files
            if isinstance(file, dict)
            and isinstance(file.get("path"), str)
            and isinstance(file.get("patch"), str)
        ]
    if sum(len(patch) for _, patch in patches) > SCAN_LIMIT:
        return None
    found: dict[tuple[str, int, str], bool] = {}
    if patches:
        for position, line, kinds in _flagged(patches):
            path, patch = patches[position]
            number = patch.count("\n", 0, patch.find(line)) + 1
            marked = MARKER in line
            for kind in kinds:
                # Two lines can share a key: a line whose text first occurs inside
                # an earlier, longer line. Unmarked wins: one line without the
                # marker is a finding nothing excuses.
                found[(path, number, kind)] = found.get((path, number, kind), True) and marked
    return {
        "findings": [list(key) for key, marked in found.items() if not marked],
        "marked": [list(key) for key, marked in found.items() if marked],
    }


def _flagged(patches: list[tuple[str, str]]) -> list[tuple[int, str, list[str]]]:
    """``(patch position, line, kinds)`` for each flagged added line of each patch."""
    # All patches at once: joined by newlines, their lines are the text's lines. A
    # final newline ends the last line too, so every line ends at the next newline.
    encoded = [_encoded(patch) for _, patch in patches]
    data = b"\n".join([*encoded, b""])
    offsets = list(accumulate((len(chunk) + 1 for chunk in encoded), initial=0))
    judged: dict[bytes, tuple[str, list[str]] | None] = {}  # each distinct line once
    found: dict[tuple[int, bytes], tuple[str, list[str]]] = {}
    for start in _line_starts(data):
        raw = data[start : data.find(b"\n", start)]
        flagged = judged.get(raw, _UNJUDGED)
        if flagged is _UNJUDGED:
            flagged = judged[raw] = _judged(raw)
        if flagged is not None:
            found.setdefault((bisect_right(offsets, start) - 1, raw), flagged)
    return [(position, line, kinds) for (position, _), (line, kinds) in sorted(found.items())]


#: What :func:`_flagged` has not judged yet (``None`` is a judged line without findings).
_UNJUDGED: Any = object()


def _judged(raw: bytes) -> tuple[str, list[str]] | None:
    """``(line, kinds)`` for a patch line (UTF-8, without its newline) that is added and
    flagged, else ``None``."""
    if not raw.startswith(b"+") or raw.startswith(b"+++"):
        return None
    line = raw.decode(_UTF8, "surrogatepass")
    kinds = line_kinds(line)
    return (line, kinds) if kinds else None
