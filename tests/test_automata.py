"""Pattern containment on automata, cross-checked against greenery."""

from __future__ import annotations

import pytest
from greenery import parse
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.actions import automata
from charter.actions import patterns as gate_patterns
from charter.actions.automata import (
    SEP,
    AllowedLanguage,
    canonical_command,
    compile_command_pattern,
    contained,
    to_regex,
)
from charter.actions.constitution import parse_text
from charter.actions.lint import lint_constitution_toml
from charter.actions.patterns import PatternSet
from charter.actions.shell import parse as parse_shell
from tests.gate_helpers import constitution_text

UPPER = ["git status*", "git diff*", "git log *", "cat *", "ls*", "echo *", "rm *.tmp"]


@pytest.mark.parametrize(
    ("lower", "ok", "example"),
    [
        ("git status", True, None),
        ("git log --oneline *", True, None),
        ("cat README.md", True, None),
        ("/usr/bin/git diff", True, None),
        ("rm build.tmp", True, None),
        ("npm publish*", False, "npm publish"),
        ("git *", False, "git"),
        ("git status --short", False, "git status --short"),
        ("rm *", False, "rm"),
        ("rm -rf *.tmp", False, "rm -f -r .tmp"),
        ("a | b", True, None),  # multi-part auto_allowed patterns never allow anything
    ],
)
def test_containment_and_counterexample(lower: str, ok: bool, example: str | None) -> None:
    result = AllowedLanguage(UPPER).contains(lower)
    assert result.contained is ok
    assert result.counterexample == example
    if example is not None:
        assert not AllowedLanguage(UPPER).accepts(example)


def test_token_level_not_substring() -> None:
    lang = AllowedLanguage(["git *"])
    assert lang.accepts("git push")
    assert not lang.accepts("digit push")


def test_flags_are_sets() -> None:
    assert canonical_command("rm -rf /") == canonical_command("rm -fr /")
    assert canonical_command("rm -rf /") == canonical_command("rm -r -f /")
    assert canonical_command("/bin/rm -r --force /") == canonical_command("rm -rf /")
    assert contained(["rm -fr /tmp/x"], ["rm -r -f /tmp/x"])[0].contained


def test_in_token_glob_stays_in_token() -> None:
    lang = AllowedLanguage(["dd * of=/dev/*"])
    assert lang.accepts("dd if=x of=/dev/sda")
    assert not lang.contains("dd *").contained


def test_unions_are_needed() -> None:
    # Neither upper pattern alone contains the lower one; their union does.
    upper = ["make test?*", "make test"]
    assert not contained(["make test*"], upper[:1])[0].contained
    assert contained(["make test*"], upper)[0].contained


def test_bench_size_is_fast_enough() -> None:
    upper = [f"tool{i % 200} sub{i // 200}*" for i in range(1000)]
    lower = [f"tool{i % 200} sub{i // 200}x" for i in range(1000)]
    assert all(r.contained for r in contained(lower, upper))


# --------------------------------------------------------------------------- oracle

TOKENS = st.sampled_from(["git", "push", "log", "a", "ab", "-f", "-v", "*", "a*", "*b", "x?"])


@st.composite
def patterns(draw: st.DrawFn) -> str:
    words = draw(st.lists(TOKENS, min_size=0, max_size=3))
    program = draw(st.sampled_from(["git", "g*", "ls"]))
    return " ".join([program, *words])


def _fsm(text: str):  # type: ignore[no-untyped-def]
    regex = to_regex(compile_command_pattern(text))
    return parse(regex).to_fsm() if regex is not None else None


@settings(max_examples=40, deadline=None)
@given(lower=patterns(), upper=st.lists(patterns(), min_size=1, max_size=2))
def test_agrees_with_greenery(lower: str, upper: list[str]) -> None:
    ours = AllowedLanguage(upper).contains(lower)
    low = _fsm(lower)
    ups = [f for f in (_fsm(u) for u in upper) if f is not None]
    union = ups[0]
    for f in ups[1:]:
        union = union | f
    theirs = low is None or (low - union).empty()
    assert ours.contained == theirs
    if not ours.contained:
        assert ours.counterexample is not None
        witness = canonical_command(ours.counterexample).replace(" ", SEP)
        assert low is not None and low.accepts(witness)
        assert not union.accepts(witness)


# ------------------------------------------------------------- counterexamples


def _gate_allows(patterns: list[str], command: str) -> bool:
    """The gate's own verdict: is ``command`` auto-allowed by ``patterns``?"""
    script = parse_shell(command)
    assert len(script.commands) == 1 and not script.uncertain, command
    match = PatternSet(auto_allowed=patterns).match_script(script)[0]
    return match.auto_allowed


def test_counterexample_of_a_star_between_words_is_accepted_by_the_lower_pattern() -> None:
    """Regression: ``git * git`` against ``git git`` printed ``git git -`` (issue 10, 5)."""
    result = AllowedLanguage(["git git"]).contains("git * git")
    assert not result.contained
    assert result.counterexample == "git - git"
    assert _gate_allows(["git * git"], result.counterexample)
    assert not _gate_allows(["git git"], result.counterexample)


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        ("git * git", ["git git"]),
        ("git * push", ["git push", "git -f push"]),
        ("ls * -l", ["ls -l"]),
        ("rm * x", ["rm x", "rm -r x"]),
        ("cat * -", ["cat -"]),
        ("git -C * status", ["git status"]),
    ],
)
def test_counterexamples_are_real_at_the_gate(lower: str, upper: list[str]) -> None:
    result = AllowedLanguage(upper).contains(lower)
    assert not result.contained
    assert result.counterexample is not None
    assert _gate_allows([lower], result.counterexample)
    assert not _gate_allows(upper, result.counterexample)
    assert AllowedLanguage([lower]).accepts(result.counterexample)
    assert not AllowedLanguage(upper).accepts(result.counterexample)


WIDE_TOKENS = st.sampled_from(
    ["git", "push", "a", "-", "--", "-f", "-rf", "-C", "--force", "--x=1", "*", "a*", "*b",
     "-*", "x?", "+main", "./a", "a/", "k=v"]
)  # fmt: skip


@st.composite
def wide_patterns(draw: st.DrawFn) -> str:
    words = draw(st.lists(WIDE_TOKENS, min_size=0, max_size=4))
    program = draw(st.sampled_from(["git", "g*", "rm", "ls", "find"]))
    return " ".join([program, *words])


@settings(max_examples=150, deadline=None)
@given(lower=wide_patterns(), upper=st.lists(wide_patterns(), min_size=1, max_size=3))
def test_every_counterexample_is_in_lower_and_not_in_upper(lower: str, upper: list[str]) -> None:
    """A counterexample is auto-allowed by the lower pattern and not by the upper layer,
    in the model and at the gate (its own matcher on the parsed command)."""
    result = AllowedLanguage(upper).contains(lower)
    if result.contained or result.counterexample is None:
        return
    example = result.counterexample
    assert _gate_allows([lower], example), (lower, upper, example)
    assert not _gate_allows(upper, example), (lower, upper, example)


def test_one_tokeniser_for_gate_and_linter() -> None:
    """The linter splits patterns with the gate's own tokeniser (no copy to drift)."""
    assert automata.tokenise is gate_patterns.tokenise
    assert gate_patterns.tokenise("git log --grep='a b' | head") == [
        "git", "log", "--grep=a b", "|", "head"
    ]  # fmt: skip


def test_linter_never_shows_an_unconfirmed_counterexample() -> None:
    """When no command can be confirmed at the gate, the finding says so instead of
    showing an empty or wrong command (it is still an error)."""
    upper = parse_text(
        constitution_text().replace('"find * -name *",', '"find * -name *", "tool a",')
    )
    lower_text = constitution_text().replace('"pwd",', '"pwd", "tool -*", "git * git",')
    findings = lint_constitution_toml(parse_text(lower_text), upper)
    by_pattern = {f.message.split("'")[1]: f.message for f in findings if f.code == "CHARTER-L030"}
    assert "may auto-allow commands the upper layer does not" in by_pattern["tool -*"]
    assert "``" not in by_pattern["tool -*"]
    assert "would newly auto-allow `git git` (upper layer: ask" in by_pattern["git * git"]
