"""The secret-scanning corpus (tests/assets/secrets/): samples, values, proposals.

Secrets are never stored: `corpus.tsv` holds lines with `<<placeholder>>` fields,
and :func:`load` fills each field with a fresh, format-valid random value drawn
from a generator seeded with the sample's line number, so every run decides the
same lines. Used by tests/test_secret_corpus.py and bench/bench_decisions.py.
"""

from __future__ import annotations

import copy
import json
import random
import re
import string
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS_DIR = Path(__file__).resolve().parent / "assets" / "secrets"
BASE_PROPOSAL = (
    Path(__file__).resolve().parents[1] / "examples" / "proposals" / "docs-pr-compliant.json"
)
RULE_ID = "CRED-NO-STATIC-SECRETS-001"
EXPECTATIONS = ("secret", "near-miss", "known-false-positive", "known-miss")

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
BASE32 = string.ascii_uppercase + "234567"
BASE64 = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True)
class Sample:
    """One patch line of the corpus and what the rule must say about it."""

    number: int  #: line number in corpus.tsv
    expect: str  #: "secret", "near-miss", "known-false-positive" or "known-miss"
    kind: str  #: for a secret: the finding the rule must report ("" otherwise)
    path: str  #: the file the line is added to
    line: str  #: the raw patch line, placeholders filled in


def _choices(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _base62(number: int, width: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = BASE62[rest] + digits
    return digits.rjust(width, "0")


def _github(prefix: str, rng: random.Random) -> str:
    # ghp_/gho_/ghs_/ghu_/ghr_: 30 random base62 characters and a 6-character
    # base62 CRC32 checksum of them (GitHub's published token format).
    body = _choices(rng, BASE62, 30)
    return f"{prefix}_{body}{_base62(zlib.crc32(body.encode()), 6)}"


def _password(rng: random.Random) -> str:
    # What a password generator emits: every class present, 20 characters.
    chars = [
        rng.choice(string.ascii_lowercase),
        rng.choice(string.ascii_uppercase),
        rng.choice(string.digits),
        rng.choice("!@#%^&*"),
    ] + [rng.choice(string.ascii_letters + string.digits + "!@#%^&*") for _ in range(16)]
    rng.shuffle(chars)
    return "".join(chars)


def _hex(rng: random.Random, n: int) -> str:
    value = _choices(rng, "0123456789abcdef", n)
    # A key with no letter or no digit does not exist in practice; keep it real.
    return value if re.search("[a-f]", value) and re.search("[0-9]", value) else _hex(rng, n)


GENERATORS: dict[str, Any] = {
    "aws_access_key_id": lambda rng: "AKIA" + _choices(rng, BASE32, 16),
    "aws_session_key_id": lambda rng: "ASIA" + _choices(rng, BASE32, 16),
    "aws_secret_access_key": lambda rng: _choices(rng, BASE64, 40),
    "ghp": lambda rng: _github("ghp", rng),
    "gho": lambda rng: _github("gho", rng),
    "ghs": lambda rng: _github("ghs", rng),
    "ghu": lambda rng: _github("ghu", rng),
    "ghr": lambda rng: _github("ghr", rng),
    "github_pat": lambda rng: (
        "github_pat_" + _choices(rng, BASE62, 22) + "_" + _choices(rng, BASE62, 59)
    ),
    "glpat": lambda rng: "glpat-" + _choices(rng, BASE62 + "_-", 20),
    "password": _password,
    "hex32": lambda rng: _hex(rng, 32),
    "hex40": lambda rng: _hex(rng, 40),
    "base62_32": lambda rng: _choices(rng, BASE62, 32),
    "base64_body": lambda rng: _choices(rng, BASE64, 64),
}

_FIELD = re.compile(r"<<([a-z0-9_]+)>>")
#: `\t` and `\uXXXX` let corpus.tsv state tabs and invisible characters; any
#: other backslash is kept as written (JSON samples carry a literal `\n`).
_ESCAPE = re.compile(r"\\t|\\u([0-9A-Fa-f]{4})")


def _unescape(match: re.Match[str]) -> str:
    return "\t" if match.group(1) is None else chr(int(match.group(1), 16))


def fill(template: str, seed: int) -> str:
    """``template`` with every ``<<name>>`` replaced by a fresh generated value."""
    rng = random.Random(seed)

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise KeyError(f"tests/assets/secrets/corpus.tsv: unknown placeholder <<{name}>>")
        return str(GENERATORS[name](rng))

    return _FIELD.sub(value, template)


def load(path: Path = CORPUS_DIR / "corpus.tsv") -> list[Sample]:
    """Every sample of the corpus (comment and blank lines skipped)."""
    samples: list[Sample] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip() or raw.startswith("#"):
            continue
        expect, kind, file_path, template = raw.split("\t", 3)
        if expect not in EXPECTATIONS:
            raise ValueError(f"{path}:{number}: unknown expectation {expect!r}")
        line = _ESCAPE.sub(_unescape, template)
        samples.append(Sample(number, expect, kind, file_path, fill(line, number)))
    return samples


def proposal(sample: Sample) -> dict[str, Any]:
    """A valid proposal (the compliant docs example) whose one file adds the sample."""
    document: dict[str, Any] = copy.deepcopy(json.loads(BASE_PROPOSAL.read_text()))
    document["files"] = [
        {
            "path": sample.path,
            "status": "modified",
            "previous_path": None,
            "patch": f"@@ -1,1 +1,2 @@\n context line\n{sample.line}\n",
        }
    ]
    return document
