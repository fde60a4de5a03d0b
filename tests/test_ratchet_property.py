"""Property: whatever passes the linter can only keep or raise a verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from charter.actions.automata import AllowedLanguage, tokenise
from charter.actions.patterns import YES, compile_pattern, match_segment, split_args
from charter.actions.shell import program_name
from charter.core.verdict import Verdict
from charter.policy.bundle import layer_from_files
from charter.policy.decision import evaluate
from charter.policy.lint import lint_bundle
from charter.policy.stack import Stack, load_stack
from tests.conftest import write_bundle
from tests.strategies import overlay_files, proposals

ORDER = {Verdict.ALLOW: 0, Verdict.ASK: 1, Verdict.DENY: 2}
BASE = load_stack()
BASE_COMPILED = BASE.compile()


def _with_links(files: dict[str, str]) -> dict[str, str]:
    """The shared overlay strategy omits links; the linter requires one."""
    return {
        name: text.replace(
            "# custom:\n", "# related_resources:\n#   - ref: https://example.test/r\n# custom:\n"
        )
        for name, text in files.items()
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=overlay_files(), docs=st.lists(proposals(), min_size=1, max_size=4))
def test_overlays_that_pass_the_linter_never_lower_a_verdict(
    tmp_path_factory: Any, files: dict[str, str], docs: list[dict[str, Any]]
) -> None:
    directory = write_bundle(
        Path(tmp_path_factory.mktemp("ov")),
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files=_with_links(files),
    )
    # Tests are not generated for random rules, so coverage is not part of this property.
    report = lint_bundle(directory, BASE, run_tests=False)
    assume(report.ok)
    overlay = layer_from_files(
        {p.relative_to(directory).as_posix(): p.read_bytes() for p in directory.rglob("*")
         if p.is_file()},
        source=str(directory),
    )  # fmt: skip
    composed = Stack.compose([*BASE.layers, overlay]).compile()
    for doc in docs:
        alone = evaluate(BASE_COMPILED, doc)
        together = evaluate(composed, doc)
        assert ORDER[together.verdict] >= ORDER[alone.verdict]
        assert {r.rule for r in alone.reasons} <= {r.rule for r in together.reasons}


UPPER = ["git status*", "git diff*", "git log *", "cat *", "ls*", "echo *", "npm test*"]
WORDS = ["git", "npm", "cat", "ls", "echo", "status", "diff", "log", "test", "publish",
         "-v", "--oneline", "-rf", "a.txt", "*", "s*", "x?"]  # fmt: skip
COMMAND_WORDS = [w for w in WORDS if "*" not in w and "?" not in w] + ["statusx", "xy"]


def _gate_allows(patterns: list[str], command: str) -> bool:
    tokens = tokenise(command)
    prog = program_name(tokens[0])
    args = split_args(prog, tokens[1:])
    for text in patterns:
        p = compile_pattern(text, "auto_allowed")
        if p.sql is None and len(p.segments) == 1:
            if match_segment(p.segments[0], args, False) == YES:
                return True
    return False


@settings(max_examples=150, deadline=None)
@given(
    lower=st.lists(
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join),
        min_size=1,
        max_size=3,
    ),
    commands=st.lists(
        st.lists(st.sampled_from(COMMAND_WORDS), min_size=1, max_size=4).map(" ".join),
        min_size=1,
        max_size=8,
    ),
)
def test_contained_auto_allowed_patterns_never_allow_more(
    lower: list[str], commands: list[str]
) -> None:
    """Contained lower patterns allow nothing new at the gate; counterexamples are real."""
    language = AllowedLanguage(UPPER)
    kept: list[str] = []
    for pattern in lower:
        result = language.contains(pattern)
        if result.contained:
            kept.append(pattern)
            continue
        example = result.counterexample
        assert example is not None
        # The counterexample is a command the lower pattern allows and the upper does not.
        assert _gate_allows([pattern], example), (pattern, example)
        assert not _gate_allows(UPPER, example), (pattern, example)
    for command in commands:
        if _gate_allows(kept, command):
            assert _gate_allows(UPPER, command), (kept, command)
