"""Kind guards: a set proven unable to contribute for ``input.kind`` is skipped, and
skipping never changes a decision (charter.policy.guards)."""

from __future__ import annotations

import dataclasses
import json
import random
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import regorus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter.core.decision import Decision
from charter.policy.decision import evaluate
from charter.policy.engine import parse_module
from charter.policy.guards import AnyOf, Guard, _PathIndex, admits, input_guards, kind_guards
from charter.policy.stack import CompiledStack, load_stack
from tests.conftest import write_bundle
from tests.strategies import overlay_files, proposals

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
BENCH = Path(__file__).resolve().parents[1] / "bench"
KINDS = ["pull_request", "merge", "push", "release"]
HEAD = "import rego.v1\n\n"


def _guards(*modules: tuple[str, str], data: dict[str, Any] | None = None) -> dict[str, Any]:
    infos = [
        parse_module(f"m{i}.rego", f"package {pkg}\n\n{text}")
        for i, (pkg, text) in enumerate(modules)
    ]
    return {k: sorted(v) for k, v in kind_guards(infos, data or {}).items()}


def _rule(name: str, *statements: str) -> str:
    body = "\n".join(f"\t{s}" for s in statements)
    return f'{name} contains {{"rule": "R-X-001", "msg": "m"}} if {{\n{body}\n}}\n'


# ------------------------------------------------------------------ the analysis
def test_the_shipped_constitution_has_proven_guards() -> None:
    guards = load_stack().compile().kind_guards
    base = "data.charter.constitution"
    assert guards[f"{base}.process.no_direct_push.deny"] == {"push"}
    assert guards[f"{base}.process.merge_human_approvals.ask"] == {"merge"}
    assert guards[f"{base}.supply_chain.signed_sbom.deny"] == {"release"}
    # A set with any unguarded definition is always evaluated.
    assert f"{base}.credential.no_static_secrets.deny" not in guards
    assert f"{base}.citation.block_required.deny" not in guards


def test_guard_forms_that_prove() -> None:
    got = _guards(
        ("p", HEAD + _rule("deny", 'input.kind == "push"', "input.x")),
        ("p", HEAD + _rule("deny", '"merge" == input.kind')),
        ("p", HEAD + _rule("ask", 'input["kind"] in {"release", "push"}', "true")),
        ("q", HEAD + _rule("deny", 'input.kind in ["merge"]')),
    )
    assert got == {
        "data.p.deny": ["merge", "push"],
        "data.p.ask": ["push", "release"],
        "data.q.deny": ["merge"],
    }


@pytest.mark.parametrize(
    "modules",
    [
        # the guard is not the first statement: what precedes it may raise an error
        [("p", HEAD + _rule("deny", "input.x", 'input.kind == "push"'))],
        # a with-modifier, a negation, a unification, a non-literal collection
        [("p", HEAD + _rule("deny", 'input.kind == "push" with input.kind as "push"'))],
        [("p", HEAD + _rule("deny", 'not input.kind == "push"'))],
        [("p", HEAD + _rule("deny", 'input.kind = "push"'))],
        [("p", HEAD + _rule("deny", 'input.kind in {"push", input.y}'))],
        [("p", HEAD + _rule("deny", "input.kind in input.kinds"))],
        [("p", HEAD + _rule("deny", 'input.kind != "push"'))],
        # one definition of the set is unguarded (in another file of the package)
        [("p", HEAD + _rule("deny", 'input.kind == "push"')), ("p", HEAD + _rule("deny", "true"))],
        # a default, a complete rule
        [("p", HEAD + "default deny := set()\n" + _rule("deny", 'input.kind == "push"'))],
        [("p", HEAD + 'deny := {"x"} if {\n\tinput.kind == "push"\n}\n')],
        # defined from elsewhere: a ref head, a parent package's rule, a package below
        [
            ("a.p", HEAD + _rule("deny", 'input.kind == "push"')),
            ("a", HEAD + _rule("p.deny", "true")),
        ],
        [("a.p", HEAD + _rule("deny", 'input.kind == "push"')), ("a", HEAD + 'p := {"deny": 1}\n')],
        [("p", HEAD + _rule("deny", 'input.kind == "push"')), ("p.deny", HEAD + "x := 1\n")],
        [
            ("a.p", HEAD + _rule("deny", 'input.kind == "push"')),
            ("a", HEAD + "p[k] := 1 if {\n\tk := input.k\n}\n"),
        ],
        # input rebound or aliased
        [("p", HEAD + _rule("deny", 'input.kind == "push"', "some input in [1]"))],
        [
            (
                "p",
                "import rego.v1\nimport data.q as input\n\n"
                + _rule("deny", 'input.kind == "push"'),
            )
        ],
    ],
)
def test_guard_forms_that_do_not_prove(modules: list[tuple[str, str]]) -> None:
    guards = _guards(*modules)
    assert "data.p.deny" not in guards
    assert "data.a.p.deny" not in guards


segments = st.lists(st.sampled_from(["a", "b", "deny", "ask"]), min_size=1, max_size=4)


@given(paths=st.lists(segments.map(tuple), max_size=12), target=segments.map(tuple))
def test_the_path_index_finds_exactly_the_overlapping_rules(
    paths: list[tuple[str, ...]], target: tuple[str, ...]
) -> None:
    """The index answers what comparing every rule's path with the set's would."""
    entries = [(path, (str(i), [], None)) for i, path in enumerate(paths)]
    found = sorted(pkg for pkg, _, _ in _PathIndex(entries).overlapping(target))
    shorter = [min(len(path), len(target)) for path in paths]
    brute = sorted(
        str(i)
        for i, (path, n) in enumerate(zip(paths, shorter, strict=True))
        if path[:n] == target[:n]
    )
    assert found == brute


def test_guards_on_other_input_fields() -> None:
    """Any static path below input proves, as input.kind does; bodies on different
    paths prove any of their guards (``c``)."""
    got = {
        k: v if isinstance(v, AnyOf) else (v.path, sorted(v.values), v.excluded)
        for k, v in input_guards(
            [
                parse_module(
                    "a.rego", "package a\n\n" + HEAD + _rule("deny", 'input.author.type == "agent"')
                ),
                parse_module(
                    "b.rego",
                    "package b\n\n"
                    + HEAD
                    + _rule("ask", 'input["author"].type in {"human", "bot"}'),
                ),
                parse_module(
                    "c.rego",
                    "package c\n\n"
                    + HEAD
                    + _rule("deny", 'input.author.type == "agent"')
                    + _rule("deny", 'input.kind == "push"'),
                ),
                parse_module(
                    "d.rego", "package d\n\n" + HEAD + _rule("deny", 'input.files[_].path == "x"')
                ),
                parse_module(
                    "e.rego", "package e\n\n" + HEAD + _rule("deny", 'input.author.type != "agent"')
                ),
                parse_module("f.rego", "package f\n\n" + HEAD + _rule("deny", 'input == "x"')),
            ],
            {},
        ).items()
    }
    assert got == {
        "data.a.deny": (("author", "type"), ["agent"], False),
        "data.b.ask": (("author", "type"), ["bot", "human"], False),
        "data.c.deny": AnyOf(
            (Guard(("author", "type"), frozenset({"agent"})), Guard(("kind",), frozenset({"push"})))
        ),
        "data.e.deny": (("author", "type"), ["agent"], True),
    }


@pytest.mark.parametrize(
    ("document", "admitted"),
    [
        ({"author": {"type": "agent"}}, True),
        ({"author": {"type": "human"}}, False),
        ({"author": {"type": ["agent"]}}, False),
        ({"author": {}}, False),
        ({"author": "agent"}, False),
        ({"author": ["agent"]}, False),
        ({}, False),
    ],
)
def test_admits_only_an_admitted_string_at_the_path(
    document: dict[str, Any], admitted: bool
) -> None:
    assert admits(Guard(("author", "type"), frozenset({"agent"})), document) is admitted
    # input.author.type != "agent": any value there but that string, never no value.
    excluded = admits(Guard(("author", "type"), frozenset({"agent"}), excluded=True), document)
    author = document.get("author")
    assert excluded is (isinstance(author, dict) and "type" in author and not admitted)


def test_guards_on_booleans_null_and_presence() -> None:
    """``== true``/``false``/``null``, ``!= null`` and ``x := input.F`` prove too; bodies
    guarded on different paths or in different ways give any of their guards."""
    got = input_guards(
        [
            parse_module(
                "a.rego",
                "package a\n\n"
                + HEAD
                + _rule("deny", "input.dependencies.changed == true", "input.x")
                + _rule("deny", "changes := input.dependencies.changes", "is_array(changes)"),
            ),
            parse_module(
                "b.rego",
                "package b\n\n"
                + HEAD
                + _rule("ask", "facts := input.context.facts", "facts.x")
                + _rule("ask", "input.context.facts != null"),
            ),
            parse_module(
                "c.rego", "package c\n\n" + HEAD + _rule("deny", "false == input.export.source")
            ),
            parse_module("d.rego", "package d\n\n" + HEAD + _rule("deny", "input.z == null")),
            parse_module(
                "e.rego",
                "package e\n\n"
                + HEAD
                + _rule("deny", "v := input.access", "v.x")
                + _rule("deny", "w := input.access", "w.y"),
            ),
        ],
        {},
    )
    assert got == {
        "data.a.deny": AnyOf(
            (
                Guard(("dependencies", "changed"), frozenset({True})),
                Guard(("dependencies", "changes"), frozenset(), defined=True),
            )
        ),
        "data.b.ask": AnyOf(
            (
                Guard(("context", "facts"), frozenset(), defined=True),
                Guard(("context", "facts"), frozenset({None}), excluded=True),
            )
        ),
        "data.c.deny": Guard(("export", "source"), frozenset({False})),
        "data.d.deny": Guard(("z",), frozenset({None})),
        "data.e.deny": Guard(("access",), frozenset(), defined=True),
    }
    assert kind_guards([], {}) == {}


@pytest.mark.parametrize(
    "statement",
    [
        "input.x == 1",  # numbers: 1 == 1.0 in Rego, not proven
        "input.x != [1]",  # a non-empty collection
        "input.x == set()",
        "input.x == input.y",
        "[v] := input.x",  # a pattern on the left may fail on the value's shape
        "v = input.x",  # unification
        "v := input.x[_]",
        "v := input.x[i]",
        'v := object.get(input, "x", null)',
        "not input.x == true",
        "input.x == true with input.x as true",
    ],
)
def test_more_forms_that_do_not_prove(statement: str) -> None:
    info = parse_module("p.rego", "package p\n\n" + HEAD + _rule("deny", statement, "true"))
    assert input_guards([info], {}) == {}


class _Text(str):
    """A string subclass (as an enum's value is): the engine reads it as the string."""


class _List(list):  # type: ignore[type-arg]
    """A list subclass: the engine reads it as an array, as it does a tuple."""


# Every shape a value at input.a.b (or on the way there) can have, including the
# Python types a library caller may hand over for JSON's.
SHAPES: list[dict[str, Any]] = [
    {},
    {"a": None},
    {"a": "b"},
    {"a": 1},
    {"a": ["b"]},
    {"a": True},
    {"a": {}},
    *(
        {"a": {"b": value}}
        for value in [None, True, False, 0, 1, 1.0, "", "true", "v", [], {}, [[]], {"b": {}}, [1]]
    ),
    *(
        {"a": {"b": value}}
        for value in [_Text("v"), _Text("true"), _Text(""), _List(), _List([1]), (), (1,)]
    ),
]
GUARDED = [
    "input.a.b == true",
    "input.a.b == false",
    "true == input.a.b",
    "input.a.b == null",
    "input.a.b != null",
    "input.a.b != true",
    "input.a.b != []",
    "input.a.b == []",
    "input.a.b != {}",
    "{} == input.a.b",
    'input.a.b == "v"',
    'input.a.b != "v"',
    'input.a.b in {"v", "true"}',
    "v := input.a.b",
]


@pytest.mark.parametrize("statement", GUARDED)
def test_admits_exactly_when_regorus_gets_past_the_first_statement(statement: str) -> None:
    """The engine behaviour the proof rests on, for every guard form and every shape:
    a body whose guard does not admit the input fails at its first statement, without
    an error (the division by zero after it never runs); one it admits gets past it."""
    source = f"package o\nimport rego.v1\ndeny contains x if {{\n\t{statement}\n\tx := 1 / 0\n}}\n"
    guard = input_guards([parse_module("o.rego", source)], {})["data.o.deny"]
    engine = regorus.Engine()
    engine.add_policy("o.rego", source)
    for document in SHAPES:
        engine.set_input(document)
        try:
            engine.eval_rule_as_json("data.o.deny")
        except RuntimeError as exc:
            assert "divide by zero" in str(exc)
            passed = True
        else:
            passed = False
        assert admits(guard, document) is passed, (statement, document)


def test_data_at_the_package_voids_the_proof() -> None:
    module = ("p", HEAD + _rule("deny", 'input.kind == "push"'))
    assert _guards(module) == {"data.p.deny": ["push"]}
    assert _guards(module, data={"p": {"deny": ["x"]}}) == {}


def test_regorus_stops_a_body_at_its_first_failing_statement() -> None:
    """The engine behaviour the proof rests on: a failed guard hides a later error."""
    engine = regorus.Engine()
    engine.add_policy(
        "o.rego",
        "package o\nimport rego.v1\n"
        'deny contains x if {\n\tinput.kind == "push"\n\tx := 1 / 0\n}\n',
    )
    engine.set_input({"kind": "merge"})
    assert json.loads(engine.eval_rule_as_json("data.o.deny")) == []
    engine.set_input({"kind": "push"})
    with pytest.raises(RuntimeError, match="divide by zero"):
        engine.eval_rule_as_json("data.o.deny")


def test_regorus_stops_a_body_at_a_failing_or_undefined_not_equal() -> None:
    """``input.F != "v"`` fails, hiding a later error, when F is "v" and when F is undefined."""
    engine = regorus.Engine()
    engine.add_policy(
        "o.rego",
        "package o\nimport rego.v1\n"
        'deny contains x if {\n\tinput.author.type != "agent"\n\tx := 1 / 0\n}\n',
    )
    for document in ({"author": {"type": "agent"}}, {"author": {}}, {"author": "x"}, {}):
        engine.set_input(document)
        assert json.loads(engine.eval_rule_as_json("data.o.deny")) == [], document
    for document in ({"author": {"type": "human"}}, {"author": {"type": None}}):
        engine.set_input(document)
        with pytest.raises(RuntimeError, match="divide by zero"):
            engine.eval_rule_as_json("data.o.deny")


def test_a_guarded_set_that_would_raise_fails_closed_for_its_kind() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        text = (
            "# METADATA\n# title: t\n# description: d\n# custom:\n#   id: OVL-BOOM-001\n"
            "#   severity: high\n#   category: process\npackage charter.overlay.boom\n\n"
            + HEAD
            + 'deny contains {"rule": "OVL-BOOM-001", "msg": "m"} if {\n'
            '\tinput.kind == "push"\n\tx := 1 / 0\n\tx > 0\n}\n'
        )
        path = write_bundle(
            Path(tmp) / "overlay",
            layer="overlay",
            name="boom",
            roots=["charter/overlay"],
            files={"boom.rego": text},
        )
        compiled = load_stack(overlay=path).compile()
    assert compiled.kind_guards["data.charter.overlay.boom.deny"] == {"push"}
    document = {"kind": "push", "repository": "a/b", "author": {"id": "x", "type": "agent"}}
    pushed = evaluate(compiled, document, now=NOW)
    assert [r.rule for r in pushed.reasons] == ["CHARTER-EVALUATION-ERROR"]
    merged = evaluate(compiled, {**document, "kind": "merge"}, now=NOW)
    assert "CHARTER-EVALUATION-ERROR" not in {r.rule for r in merged.reasons}


# ------------------------------------------------------------------ skipping changes nothing
def _outcome(decision: Decision) -> tuple[str, list[tuple[str, str, str, str]]]:
    reasons = sorted((r.rule, str(r.verdict), r.layer, r.msg) for r in decision.reasons)
    return str(decision.verdict), reasons


def _same(
    compiled: CompiledStack, document: dict[str, Any], facts: dict[str, Any] | None = None
) -> None:
    unguarded = dataclasses.replace(compiled, input_guards={})
    skipped = _outcome(evaluate(compiled, document, now=NOW, validate=False, facts=facts))
    every = _outcome(evaluate(unguarded, document, now=NOW, validate=False, facts=facts))
    assert skipped == every, (document, facts)


@pytest.fixture(scope="module")
def shipped() -> CompiledStack:
    return load_stack().compile()


def test_each_set_reads_its_own_guard_among_the_distinct_ones(shipped: CompiledStack) -> None:
    """results() judges each distinct guard once: every guarded set points at an equal guard."""
    guards, slots = shipped._guard_slots
    assert len(set(guards)) == len(guards) < len(shipped.input_guards)  # shared guards
    assert len(slots) == len(shipped.rules)
    for (_, _, path), slot in zip(shipped.rules, slots, strict=True):
        assert (guards[slot] if slot is not None else None) == shipped.input_guards.get(path)


def test_the_benchmark_workload_of_every_kind_is_decided_alike(shipped: CompiledStack) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from bench_decisions import proposal
    finally:
        sys.path.remove(str(BENCH))
    rng = random.Random(5)
    # 60 documents: they already produce every (kind, reason) pair that 120 did
    # (measured: all but one appear within the first 6, the last at document 58).
    for i in range(60):
        document = proposal(rng, i)
        for kind in [*KINDS, "tag", 7, None]:
            _same(shipped, {**document, "kind": kind})
        # A library caller's str subclass (an enum's value) is the string to the engine.
        _same(shipped, {**document, "kind": _Text(document["kind"])})
        _same(shipped, {**document, "author": {**document["author"], "type": _Text("agent")}})
        _same(shipped, {k: v for k, v in document.items() if k != "kind"})
        # The sets guarded on input.author.type: every type, a missing one, odd authors.
        author = document["author"]
        for author_type in ["human", "agent", "Human", "", None, 1]:
            _same(shipped, {**document, "author": {**author, "type": author_type}})
        _same(shipped, {**document, "author": {"id": author["id"]}})
        for odd in ("human", ["human"], None):
            _same(shipped, {**document, "author": odd})
        _same(shipped, {k: v for k, v in document.items() if k != "author"})


ODD = [None, True, False, 1, "true", "", [], [1], {}, {"x": 1}]


def test_the_benchmark_workload_with_any_dependency_export_access_or_facts(
    shipped: CompiledStack,
) -> None:
    """The sets guarded on dependencies.changed/changes/unparsed, export.source_code,
    access and context.facts: every shape there, missing or not, decides alike."""
    sys.path.insert(0, str(BENCH))
    try:
        from bench_decisions import proposal
    finally:
        sys.path.remove(str(BENCH))
    rng = random.Random(9)
    grant = {"environment": "production", "principal": "ci", "role": "admin"}
    for i in range(12):
        document = proposal(rng, i)
        dependencies = document["dependencies"]
        for value in ODD:
            for key in ("changed", "changes", "unparsed"):
                _same(shipped, {**document, "dependencies": {**dependencies, key: value}})
            _same(shipped, {**document, "export": {"source_code": value}})
            _same(shipped, {**document, "access": value})
            _same(shipped, {**document, "access": [{**grant, "duration_hours": value}]})
            _same(shipped, {**document, "dependencies": value})
            _same(shipped, document, facts={"derived": [], "contradictions": value})
        _same(shipped, {k: v for k, v in document.items() if k != "dependencies"})
        _same(shipped, {k: v for k, v in document.items() if k != "export"})
        for profile in ("{sbom: syft}", "{sbom: [homegrown]}", "{}", "[]", "x"):
            body = document["body"].replace("```\n", f"profile: {profile}\n```\n", 1)
            _same(shipped, {**document, "body": body})
        contradiction = {"field": "dependencies.changed", "declared": False, "derived": True}
        _same(shipped, document, facts={"derived": [], "contradictions": [contradiction]})


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(proposal=proposals(), files=overlay_files(), kind=st.sampled_from(KINDS))
def test_generated_proposals_and_overlays_are_decided_alike(
    proposal: dict[str, Any], files: dict[str, str], kind: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_bundle(
            Path(tmp) / "overlay",
            layer="overlay",
            name="rand",
            roots=["charter/overlay"],
            files=files,
        )
        composed = load_stack(overlay=path).compile()
    _same(composed, {**proposal, "kind": kind})
