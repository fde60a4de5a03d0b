"""The secret scan of CRED-NO-STATIC-SECRETS-001, computed by Charter (docs/design.md, 'Secret scan').

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
from collections.abc import Iterator, Mapping
from typing import Any

PRIVATE_KEY = "a private key block"
AWS_KEY = "an AWS access key id"
GITHUB_TOKEN = "a GitHub token"
GITLAB_TOKEN = "a GitLab token"
GENERIC = "a hard-coded secret assignment"

#: The marker that lets a fixture line carry a fake credential (the rule decides).
MARKER = "charter:example-credential"

#: Token kinds: (kind, literals every match contains, pattern searched in one line).
_TOKENS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    (PRIVATE_KEY, ("PRIVATE KEY",), re.compile(r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")),
    (
        AWS_KEY,
        ("AKIA", "ASIA"),
        re.compile(r"(?:^|[^A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?:[^A-Za-z0-9]|\Z)"),
    ),
    (
        GITHUB_TOKEN,
        ("ghp_", "gho_", "ghs_", "ghu_", "ghr_", "github_pat_"),
        re.compile(
            r"(?:^|[^A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"
        ),
    ),
    (GITLAB_TOKEN, ("glpat-",), re.compile(r"(?:^|[^A-Za-z0-9_])glpat-[A-Za-z0-9_-]{20,}")),
)
_TOKEN_LITERALS = tuple(literal for _, literals, _ in _TOKENS for literal in literals)

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

#: Rust's ``\s``: the Unicode White_Space characters.
_WS = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: Rust's ``(?i)`` simple case folding of the ASCII letters.
_FOLDS = {"k": "kK\u212a", "s": "sS\u017f"}


def _folded(word: str) -> str:
    """``word`` as Rust's ``(?i)`` reads it (letters only; other characters as written)."""
    return "".join(
        f"[{_FOLDS.get(c, c + c.upper())}]" if c.isalpha() else re.escape(c) for c in word
    )


_NAME = "[a-zA-Z0-9_.\\-\u017f\u212a]*"
_ASSIGNMENT = re.compile(
    f"({_NAME}(?:{_folded('passw')}(?:{_folded('or')})?{_folded('d')}|{_folded('secret')}"
    f"|{_folded('token')}|{_folded('api')}[_-]?{_folded('key')}|{_folded('apikey')}"
    f"|{_folded('access')}[_-]?{_folded('key')}){_NAME})"
    f"[\"']?[{_WS}]*(?::=|=|:)[{_WS}]*[\"']?([^{_WS}\"',;]+)"
)
_SECRET_VALUE = re.compile(r"[A-Za-z0-9+/=_.~!@#$%^&*-]+")
_PLACEHOLDERS = ("example", "placeholder", "changeme", "dummy", "redacted", "your_", "your-")


def high_entropy(value: str) -> bool:
    """The rule's entropy heuristic for an assignment's value."""
    if len(value) < 16 or value.startswith("$") or not _SECRET_VALUE.fullmatch(value):
        return False
    if not any(c.isdigit() for c in value):
        return False
    lower = any("a" <= c <= "z" for c in value)
    upper = any("A" <= c <= "Z" for c in value)
    if not (lower and upper) and not (len(value) >= 32 and (lower or upper)):
        return False
    folded = value.lower()
    if any(word in folded for word in _PLACEHOLDERS):
        return False
    return len(set(value)) >= 10


def generic(line: str) -> bool:
    """Whether ``line`` assigns a random-looking value to a credential-named key."""
    folded = line.lower()
    if not any(guard in folded for guard in ASSIGNMENT_GUARDS):
        return False
    return any(high_entropy(m.group(2)) for m in _ASSIGNMENT.finditer(line))


def line_kinds(line: str) -> list[str]:
    """The finding kinds of one added patch line (without its newline)."""
    kinds = [
        kind
        for kind, literals, pattern in _TOKENS
        if any(literal in line for literal in literals) and pattern.search(line)
    ]
    if generic(line):
        kinds.append(GENERIC)
    return kinds


def _line_starts(patch: str) -> Iterator[int]:
    """Start offsets of the lines that hold a literal a finding needs (a superset)."""
    starts: set[int] = set()
    needles: list[tuple[str, str]] = [(patch, literal) for literal in _TOKEN_LITERALS]
    lowered = patch.lower()
    if len(lowered) == len(patch):
        # Lower-casing kept every offset (it only ever lengthens text), so an
        # offset in ``lowered`` is the same line in ``patch``.
        needles += [(lowered, guard) for guard in ASSIGNMENT_GUARDS]
        for text, needle in needles:
            at = text.find(needle)
            while at >= 0:
                start = patch.rfind("\n", 0, at) + 1
                starts.add(start)
                end = patch.find("\n", at)
                if end < 0:
                    break
                at = text.find(needle, end + 1)
        yield from sorted(starts)
        return
    # A character whose lower case is longer (U+0130): every line is a candidate.
    at = 0
    while at <= len(patch):
        yield at
        end = patch.find("\n", at)
        if end < 0:
            return
        at = end + 1


def patch_findings(patch: str) -> list[tuple[int, str, bool]]:
    """``(patch line, kind, line carries the marker)`` for each finding of one patch.

    The patch line is the 1-based line where the flagged line's text first occurs
    (as the rule computes it); a line repeated in the patch is reported once.
    """
    found: list[tuple[int, str, bool]] = []
    seen: set[str] = set()
    for start in _line_starts(patch):
        end = patch.find("\n", start)
        line = patch[start:] if end < 0 else patch[start:end]
        if line in seen or not line.startswith("+") or line.startswith("+++"):
            continue
        seen.add(line)
        kinds = line_kinds(line)
        if kinds:
            number = patch.count("\n", 0, patch.find(line)) + 1
            marked = MARKER in line
            found.extend((number, kind, marked) for kind in kinds)
    return found


def scan(document: Mapping[str, Any]) -> dict[str, Any]:
    """``input.context.secret_scan``: ``{"findings": [[file index, patch line, kind, marked], …]}``.

    Only files the rule reads count: an object with a string ``path`` and a string
    ``patch`` in a ``files`` list.
    """
    findings: list[list[Any]] = []
    files = document.get("files")
    if isinstance(files, list):
        for index, file in enumerate(files):
            if not isinstance(file, dict) or not isinstance(file.get("path"), str):
                continue
            patch = file.get("patch")
            if isinstance(patch, str):
                findings.extend(
                    [index, number, kind, marked]
                    for number, kind, marked in patch_findings(patch)
                )
    return {"findings": findings}
