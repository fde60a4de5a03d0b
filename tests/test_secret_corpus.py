"""CRED-NO-STATIC-SECRETS-001 against a corpus of real secret formats and near misses.

Every sample of tests/assets/secrets/corpus.tsv is one added patch line in an
otherwise compliant proposal, decided through the shipped constitution
(load_stack → compile → evaluate). Secret values are generated at test time
(tests/secret_corpus.py); the corpus file stores none.

The rule's evaluation was rewritten for speed without changing what it decides:
the last test compares it with its 1.0.0 text (kept as a test asset) on
generated proposals.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter.policy import secrets
from charter.policy.decision import EVAL_ERROR_RULE, build_context, evaluate
from charter.policy.engine import Engine
from charter.policy.stack import CompiledStack, load_stack, shipped_constitution_path
from tests import secret_corpus
from tests.secret_corpus import RULE_ID, Sample

SAMPLES = secret_corpus.load()
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
LOCKFILES = Path(__file__).resolve().parent / "assets" / "lockfiles"
RULE_SOURCE = "charter/constitution/credential/no_static_secrets.rego"
PACKAGE = "data.charter.constitution.credential.no_static_secrets"


@pytest.fixture(scope="module")
def compiled() -> CompiledStack:
    return load_stack().compile()


def findings(compiled: CompiledStack, document: dict[str, Any]) -> set[str]:
    """The kinds the rule reports (``adds <kind>;``) for ``document``."""
    decision = evaluate(compiled, document)
    kinds: set[str] = set()
    for reason in decision.reasons:
        if reason.rule == RULE_ID:
            match = re.search(r"\) adds (.+?); remove it", reason.msg)
            assert match, reason.msg
            kinds.add(match.group(1))
    return kinds


def _ids(sample: Sample) -> str:
    return f"{sample.number}-{sample.expect}"


def test_corpus_covers_every_finding_kind_and_near_miss_group() -> None:
    kinds = {s.kind for s in SAMPLES if s.expect == "secret"}
    assert kinds == {
        "a private key block",
        "an AWS access key id",
        "a GitHub token",
        "a GitLab token",
        "a hard-coded secret assignment",
    }
    assert sum(s.expect == "secret" for s in SAMPLES) >= 50
    assert sum(s.expect == "near-miss" for s in SAMPLES) >= 40


def test_corpus_file_stores_no_secret_value() -> None:
    """Secret rows carry placeholders (or a bare key header), never a literal value."""
    raw = (secret_corpus.CORPUS_DIR / "corpus.tsv").read_text(encoding="utf-8")
    for row in raw.splitlines():
        if row.startswith("secret\t"):
            assert "<<" in row or re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY", row), row


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("aws_access_key_id", r"AKIA[A-Z2-7]{16}"),
        ("aws_session_key_id", r"ASIA[A-Z2-7]{16}"),
        ("aws_secret_access_key", r"[A-Za-z0-9+/]{40}"),
        ("ghp", r"ghp_[A-Za-z0-9]{36}"),
        ("gho", r"gho_[A-Za-z0-9]{36}"),
        ("ghs", r"ghs_[A-Za-z0-9]{36}"),
        ("ghu", r"ghu_[A-Za-z0-9]{36}"),
        ("ghr", r"ghr_[A-Za-z0-9]{36}"),
        ("github_pat", r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}"),
        ("glpat", r"glpat-[A-Za-z0-9_-]{20}"),
        ("hex40", r"(?=.*[a-f])(?=.*[0-9])[0-9a-f]{40}"),
    ],
)
def test_generated_values_have_the_vendor_format(name: str, pattern: str) -> None:
    values = {secret_corpus.fill(f"<<{name}>>", seed) for seed in range(50)}
    assert len(values) == 50  # fresh per seed
    assert all(re.fullmatch(pattern, v) for v in values), values


def test_generated_values_are_the_same_for_the_same_seed() -> None:
    assert secret_corpus.fill("<<ghp>> <<password>>", 7) == secret_corpus.fill(
        "<<ghp>> <<password>>", 7
    )


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.expect == "secret"], ids=_ids)
def test_secret_is_denied_with_its_kind(compiled: CompiledStack, sample: Sample) -> None:
    assert sample.kind in findings(compiled, secret_corpus.proposal(sample)), sample


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.expect == "near-miss"], ids=_ids)
def test_near_miss_is_not_a_finding(compiled: CompiledStack, sample: Sample) -> None:
    assert findings(compiled, secret_corpus.proposal(sample)) == set(), sample


@pytest.mark.parametrize(
    "sample", [s for s in SAMPLES if s.expect == "known-false-positive"], ids=_ids
)
def test_known_false_positive_is_still_flagged(compiled: CompiledStack, sample: Sample) -> None:
    """Keeps the corpus's list of false positives true; a fix moves the sample."""
    assert findings(compiled, secret_corpus.proposal(sample)), sample


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.expect == "known-miss"], ids=_ids)
def test_known_miss_is_still_missed(compiled: CompiledStack, sample: Sample) -> None:
    """Keeps the corpus's list of misses (counted against recall) true."""
    assert findings(compiled, secret_corpus.proposal(sample)) == set(), sample


@pytest.mark.parametrize(
    "lockfile",
    sorted(LOCKFILES.glob("*/after/*")),
    ids=lambda p: f"{p.parent.parent.name}/{p.name}",
)
def test_real_lockfile_added_whole_is_not_a_finding(
    compiled: CompiledStack, lockfile: Path
) -> None:
    """Integrity hashes, go.sum h1: lines and packages named *token* are no secrets."""
    lines = lockfile.read_text(encoding="utf-8").splitlines()
    document = secret_corpus.proposal(Sample(0, "near-miss", "", lockfile.name, ""))
    document["files"][0]["patch"] = "\n".join(
        [f"@@ -0,0 +1,{len(lines)} @@", *(f"+{line}" for line in lines)]
    )
    assert findings(compiled, document) == set()


# ------------------------------------------------ same decisions as rule 1.0.0


def _rule_engine(source: str, package: str) -> Engine:
    engine = Engine()
    engine.add_module(f"{package}.rego", source.replace(PACKAGE[5:], package, 1))
    return engine


@pytest.fixture(scope="module")
def engines() -> tuple[Engine, Engine]:
    shipped = (shipped_constitution_path() / RULE_SOURCE).read_text(encoding="utf-8")
    old = (secret_corpus.CORPUS_DIR / "no_static_secrets-1.0.0.rego").read_text(encoding="utf-8")
    return _rule_engine(shipped, "shipped"), _rule_engine(old, "released_1_0_0")


FRAGMENTS = [
    "+",
    "-",
    " ",
    "+++ b/x",
    "\r",
    "password",
    "PassWord",
    "pa\u017f\u017fword",
    "to\u212aen",
    "token",
    "api_key",
    "API-KEY",
    "apikey",
    "access_key",
    "secret",
    " = ",
    "=",
    ":",
    ":=",
    '"',
    "'",
    "\t",
    ",",
    ";",
    "$",
    "${X}",
    "Xy9kLm2Qw8pRt5ZsVb",
    "Zx9!kL2#mQ8$vB4^nR7&",
    "7f3a9c2e41b84d06a5e19f7c3b2d8e4a90c1f6b7",
    "AKIAZ4Q7XK2MBN5TRW3P",
    "ASIAZ4Q7XK2MBN5TRW3P",
    "xAKIAZ4Q7XK2MBN5TRW3P",
    "ghp_R2d4Xk9LmQw3ZpT7vYb1NcHs6JfUe8GaKo0i",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
    "glpat-x7Rk2LmQ9vTz4NbW8sYc",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----BEGIN PGP PRIVATE KEY BLOCK-----",
    "PRIVATE KEY",
    "example",
    "your_key",
    "charter:example-credential",
    "abcdefghijABCDEFGHIJ0123",
    "\u00e9",
    "\u0130",
    "\u00a0",
    "\x1c",
    "\u2028",
    "\u212a",
    "x",
    "_",
    ".",
]
PATHS = [
    "src/a.py",
    "tests/fixtures/a.env",
    ".github/workflows/ci.yml",
    "a/testdata/.gitlab-ci.yml",
]

lines = st.tuples(
    st.sampled_from(["+", "+", "-", " ", ""]), st.lists(st.sampled_from(FRAGMENTS), max_size=8)
)
patches = st.lists(lines.map(lambda t: t[0] + "".join(t[1])), max_size=9).flatmap(
    lambda ls: st.sampled_from(["\n", "\r\n"]).map(lambda sep: sep.join(ls))
)
files = st.one_of(
    st.fixed_dictionaries({"path": st.sampled_from(PATHS), "patch": st.one_of(st.none(), patches)}),
    st.sampled_from(["junk", 7]),
)
documents = st.lists(files, max_size=5).map(lambda fs: {"files": fs})


@given(documents)
def test_shipped_rule_decides_like_release_1_0_0(
    engines: tuple[Engine, Engine], document: dict[str, Any]
) -> None:
    shipped, old = engines
    shipped.set_input(document)
    old.set_input(document)
    new_entries = shipped.eval_rule("data.shipped.deny")
    old_entries = old.eval_rule("data.released_1_0_0.deny")
    assert sorted(e["msg"] for e in new_entries) == sorted(e["msg"] for e in old_entries)


def test_shipped_rule_decides_like_release_1_0_0_on_the_corpus(
    engines: tuple[Engine, Engine],
) -> None:
    shipped, old = engines
    for sample in SAMPLES:
        document = secret_corpus.proposal(sample)
        shipped.set_input(document)
        old.set_input(document)
        assert shipped.eval_rule("data.shipped.deny") == old.eval_rule(
            "data.released_1_0_0.deny"
        ), sample


# ------------------------------------- Charter's scan decides like the Rego scan
#
# Charter evaluates the rule on its own scan (charter.policy.secrets, passed as
# input.context.secret_scan); plain OPA runs the Rego scan. Both must deny the
# same lines with the same messages as release 1.0.0.


def _charter_messages(compiled: CompiledStack, document: dict[str, Any]) -> list[str]:
    decision = evaluate(compiled, document, validate=False)
    assert all(r.rule != EVAL_ERROR_RULE for r in decision.reasons), decision.reasons
    return sorted(r.msg for r in decision.reasons if r.rule == RULE_ID)


def _released_messages(old: Engine, document: dict[str, Any]) -> list[str]:
    old.set_input(document)
    return sorted({e["msg"] for e in old.eval_rule("data.released_1_0_0.deny")})


@pytest.fixture(scope="module")
def charter_rule() -> Engine:
    """The shipped rule as Charter evaluates it: its data root says the scan is Charter's."""
    shipped = (shipped_constitution_path() / RULE_SOURCE).read_text(encoding="utf-8")
    engine = _rule_engine(shipped, "charter_scan")
    engine.add_data({"charter_internal": {"secret_scan": True}})
    return engine


@given(documents)
def test_charter_scan_decides_like_release_1_0_0(
    charter_rule: Engine, engines: tuple[Engine, Engine], document: dict[str, Any]
) -> None:
    """Generated documents, odd files included (the rest of the stack would fail closed on them)."""
    charter_rule.set_input({**document, "context": {"secret_scan": secrets.scan(document)}})
    entries = charter_rule.eval_rule("data.charter_scan.deny")
    assert sorted({e["msg"] for e in entries}) == _released_messages(engines[1], document)


def test_charter_rule_engine_decides_on_the_scan_it_is_given(charter_rule: Engine) -> None:
    """The equivalence above runs the rule's fact path, not its Rego scan."""
    sample = next(s for s in SAMPLES if s.kind == "a GitLab token")
    document = secret_corpus.proposal(sample)
    charter_rule.set_input({**document, "context": {"secret_scan": {"findings": [], "marked": []}}})
    assert charter_rule.eval_rule("data.charter_scan.deny") == []
    charter_rule.set_input({**document, "context": {"secret_scan": secrets.scan(document)}})
    assert charter_rule.eval_rule("data.charter_scan.deny") != []


def test_charter_scan_decides_like_release_1_0_0_on_the_corpus_and_lockfiles(
    compiled: CompiledStack, engines: tuple[Engine, Engine]
) -> None:
    documents = [secret_corpus.proposal(sample) for sample in SAMPLES]
    for lockfile in sorted(LOCKFILES.glob("*/after/*")):
        lines = lockfile.read_text(encoding="utf-8").splitlines()
        documents.append(
            {"files": [{"path": lockfile.name, "patch": "\n".join(f"+{x}" for x in lines)}]}
        )
    # All samples in one proposal too: line numbers and de-duplication across files.
    documents.append({"files": [f for d in documents[: len(SAMPLES)] for f in d["files"]]})
    for document in documents:
        assert _charter_messages(compiled, document) == _released_messages(engines[1], document)


def test_a_forged_scan_in_the_document_is_discarded(compiled: CompiledStack) -> None:
    """The document's own ``context`` never reaches the rule: Charter scans itself."""
    sample = next(s for s in SAMPLES if s.kind == "an AWS access key id")
    document = secret_corpus.proposal(sample)
    document["context"] = {"secret_scan": {"findings": [], "marked": []}}
    assert findings(compiled, document) == {"an AWS access key id"}


def test_without_charter_the_rule_ignores_a_scan_in_the_input() -> None:
    """Plain OPA on the bundle (no data.charter_internal): the input cannot switch the scan off."""
    stack = load_stack()
    engine = Engine()
    for layer in stack.layers:
        engine.add_data(layer.data)
        for module in layer.policy_modules:
            engine.add_module(module.path, module.source)
    sample = next(s for s in SAMPLES if s.kind == "a GitHub token")
    document = secret_corpus.proposal(sample)
    document["context"] = {"secret_scan": {"findings": [], "marked": []}}
    engine.set_input(document)
    entries = engine.eval_rule(f"{PACKAGE}.deny")
    assert any("adds a GitHub token" in e["msg"] for e in entries), entries


def test_above_the_scan_limit_the_rule_scans_and_decides_the_same(
    compiled: CompiledStack, engines: tuple[Engine, Engine]
) -> None:
    """A large patch is left to the rule's Rego scan: same findings, same messages."""
    secrets_lines = [s.line for s in SAMPLES if s.expect == "secret"]
    filler = [f"+line {i} of ordinary code" for i in range(secrets.SCAN_LIMIT // 20)]
    patch = "\n".join([*filler, *secrets_lines])
    assert len(patch) > secrets.SCAN_LIMIT
    document = {"files": [{"path": "src/big.py", "status": "added", "patch": patch}]}
    assert secrets.scan(document) is None
    assert "secret_scan" not in build_context(compiled, document, NOW)
    small = {"files": [{"path": "src/big.py", "patch": "\n".join(secrets_lines)}]}
    assert "secret_scan" in build_context(compiled, small, NOW)
    messages = _charter_messages(compiled, document)
    assert len(messages) >= len(secrets_lines) - 5  # nearly every line is its own finding
    assert messages == _released_messages(engines[1], document)


def test_an_unmarked_line_is_not_excused_by_a_marked_line_of_the_same_number(
    compiled: CompiledStack, engines: tuple[Engine, Engine]
) -> None:
    """A line's number is where its text first occurs, possibly inside a longer line.

    Here the unmarked assignment (line 2) first occurs inside line 1, which carries
    the fixture marker: both are "patch line 1", and the unmarked one must still deny.
    """
    secret = 'DB_PASSWORD = "Xy9kLm2Qw8pRt5ZsVb"'
    patch = f"+{secret}  # charter:example-credential\n+{secret}"
    for lines in (patch, "\n".join(reversed(patch.split("\n")))):
        document = {"files": [{"path": "tests/fixtures/app.env", "patch": lines}]}
        released = _released_messages(engines[1], document)
        assert _charter_messages(compiled, document) == released
    assert released  # the line without the marker is denied in either order


added_lines = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=6).map(
    lambda fs: "+" + "".join(fs)
)
extended_patches = st.lists(
    st.tuples(added_lines, st.sampled_from([" # charter:example-credential", "x", " ", ""])),
    min_size=1,
    max_size=4,
).flatmap(lambda pairs: st.permutations([x for a, b in pairs for x in (a, a + b)]))


@given(extended_patches, st.sampled_from(PATHS))
def test_lines_inside_longer_lines_are_decided_like_release_1_0_0(
    charter_rule: Engine, engines: tuple[Engine, Engine], lines: list[str], path: str
) -> None:
    """Each line also appears extended (marker, text): line numbers and excuses collide."""
    document = {"files": [{"path": path, "patch": "\n".join(lines)}]}
    charter_rule.set_input({**document, "context": {"secret_scan": secrets.scan(document)}})
    entries = charter_rule.eval_rule("data.charter_scan.deny")
    assert sorted({e["msg"] for e in entries}) == _released_messages(engines[1], document)


def test_token_literals_of_different_kinds_never_overlap() -> None:
    """line_kinds reads the kinds a line may hold from the non-overlapping matches of
    one pattern of every literal: exact only while no literal's end is another kind's
    literal's start and none holds another kind's literal."""
    kinds = [(kind, literal) for kind, literals, _ in secrets._TOKENS for literal in literals]
    for kind, literal in kinds:
        for other_kind, other in kinds:
            if kind == other_kind:
                continue
            assert other not in literal
            assert not any(literal.endswith(other[:n]) for n in range(1, len(other)))


@given(
    st.lists(
        st.sampled_from(
            [*secrets._TOKEN_LITERALS, "-----BEGIN ", "-----", " ", "x", "_", "A", "Z", "9"]
            + ["AKIAIOSFODNN7EXAMPLE", "ghp_" + "a1" * 11, "glpat-" + "b2" * 11]
        ),
        max_size=12,
    ).map("".join)
)
def test_line_kinds_searches_each_pattern_only_where_it_can_match(text: str) -> None:
    line = "+" + text
    every = [kind for kind, _, pattern in secrets._TOKENS if pattern.search(line)]
    assert [k for k in secrets.line_kinds(line) if k != secrets.GENERIC] == every


# The rule's assignment as one pattern, transcribed as the rule writes it (with Rust's
# (?i) and \s spelled out as charter.policy.secrets does): generic() must find what
# its non-overlapping matches find.
_FOLDED = {c: f"[{c}{c.upper()}]" for c in "abcdefghijlmnopqrtuvwxyz"} | {
    "k": "[kK\u212a]",
    "s": "[sS\u017f]",
}
_NAME_RUN = "[a-zA-Z0-9_.\\-\u017f\u212a]*"
_KEYWORD = "|".join(
    "".join(_FOLDED.get(c, re.escape(c)) for c in word)
    for word in ("passw", "secret", "token", "apikey")
).replace("[wW]", "[wW](?:[oO][rR])?[dD]", 1)
_KEYWORD += "|" + "|".join(
    "".join(_FOLDED[c] for c in word) + "[_-]?" + "".join(_FOLDED[c] for c in "key")
    for word in ("api", "access")
)
_RULE_ASSIGNMENT = re.compile(
    f"({_NAME_RUN}(?:{_KEYWORD}){_NAME_RUN})"
    f"[\"']?[{secrets._WS}]*(?::=|=|:)[{secrets._WS}]*[\"']?([^{secrets._WS}\"',;]+)"
)


def _rule_generic(line: str) -> bool:
    if not any(guard in line.lower() for guard in secrets.ASSIGNMENT_GUARDS):
        return False
    return any(secrets.high_entropy(m.group(2)) for m in _RULE_ASSIGNMENT.finditer(line))


ASSIGNMENT_FRAGMENTS = [
    *FRAGMENTS,
    "passwd",
    "PASSWORD_",
    "db.",
    "-x",
    "my_token",
    "k",
    "s",
    "=x=",
    "a=b",
    "x:",
    "${{ secrets.X }}",
    "Xy9kLm2Qw8pRt5ZsVb=",
]


@given(st.lists(st.sampled_from(ASSIGNMENT_FRAGMENTS), max_size=10).map("".join))
def test_generic_finds_what_the_rules_assignment_pattern_finds(text: str) -> None:
    """generic() matches a run of name characters and then looks for the keyword in it:
    the same lines as the rule's one pattern, whose name part backtracks through the run."""
    for line in (text, "+" + text):
        assert secrets.generic(line) == _rule_generic(line), line


def test_a_keyword_free_assignment_does_not_hide_the_next_one() -> None:
    """The value of an assignment whose name holds no keyword may hold the next name."""
    line = "+x=password=Xy9kLm2Qw8pRt5ZsVb"
    assert _rule_generic(line)
    assert secrets.generic(line)
    assert not secrets.generic("+x=passw0rd_is_Xy9kLm2Qw8pRt5ZsVb;")
