"""What two releases of the constitution decide, side by side (a test helper).

A release that claims to change no decision (a patch), or only the decisions it
declares, is checked by deciding the same inputs with both texts: through Charter's
API (validation, context, guards) and set by set on adversarial inputs (any JSON
value in place of a field of the proposal or of its context, fields missing,
Charter's context in shapes it never writes). ``tests/test_constitution_2_1_1.py``
and ``tests/test_constitution_3_0_0.py`` use it.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from charter.core.decision import Decision
from charter.core.errors import CharterError
from charter.policy.decision import EVAL_ERROR_RULE, evaluate
from charter.policy.engine import Engine
from charter.policy.stack import CompiledStack
from tests.strategies import proposals

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "tests" / "assets"
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
BENCH = ROOT / "bench"

#: (newer, older) compiled stacks.
Stacks = tuple[CompiledStack, CompiledStack]
#: What a decision came to: (verdict, sorted (rule, verdict, message)), or an exception's name.
Outcome = tuple[str, list[tuple[str, str, str]]] | str


def outcome(decision: Decision) -> tuple[str, list[tuple[str, str, str]]]:
    # An evaluation error is a deny in both; its text names the engine's file and
    # the first set that failed, which may differ.
    reasons = sorted(
        (r.rule, str(r.verdict), "" if r.rule == EVAL_ERROR_RULE else r.msg)
        for r in decision.reasons
    )
    return str(decision.verdict), reasons


def decide(compiled: CompiledStack, document: Any, *, validate: bool) -> Outcome:
    try:
        return outcome(evaluate(compiled, document, now=NOW, validate=validate))
    except (CharterError, RuntimeError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return type(exc).__name__


#: Carries an older release's outcome for a document to what a newer one must answer.
Carry = Callable[[Any, Outcome], Outcome]


def same(
    stacks: Stacks,
    document: Any,
    *,
    validate: bool = True,
    carry: Carry | None = None,
) -> None:
    """Both releases decide ``document`` alike: ``carry`` turns the older's outcome
    into what the newer one must answer (the declared changes), if any; the newer
    outcome is seen through :func:`seen` (messages a carry cannot rebuild)."""
    newer, older = stacks
    now = decide(newer, document, validate=validate)
    before = decide(older, document, validate=validate)
    expected = before if carry is None else carry(document, before)
    assert (now if carry is None else seen(now)) == expected, document


# ------------------------------------------- 3.0.0: declared approvals are not facts

APPROVALS_RULE = "PROC-MERGE-HUMAN-APPROVALS-001"
#: How the 3.0.0 ask for approvals only the proposal declares is compared (its message
#: counts the approvals as the rule does: pinned by its Rego tests).
APPROVALS_ASK = (APPROVALS_RULE, "ask", "<approved only in the proposal>")
_ORDER = ("allow", "ask", "deny")


def seen(outcome: Outcome) -> Outcome:
    """``outcome`` with the 3.0.0 approvals ask's message replaced by a token."""
    if isinstance(outcome, str):
        return outcome
    verdict, reasons = outcome
    return verdict, sorted(
        APPROVALS_ASK
        if (rule, level) == APPROVALS_ASK[:2] and "is approved only in the proposal" in msg
        else (rule, level, msg)
        for rule, level, msg in reasons
    )


def approvals_carry(document: Any, before: Outcome, protected: tuple[str, ...]) -> Outcome:
    """What a 3.0.0 decision adds to a 2.x one deciding ``document`` without Charter's
    facts (so approvals unverified): a merge into a protected branch that the older
    release did not deny for too few approvals asks."""
    if isinstance(before, str) or not isinstance(document, dict):
        return before
    verdict, reasons = before
    if document.get("kind") != "merge" or document.get("base") not in protected:
        return before
    if any(rule == APPROVALS_RULE and level == "deny" for rule, level, _ in reasons):
        return before
    if any(rule == EVAL_ERROR_RULE for rule, _, _ in reasons):
        return before  # the decision failed closed as a whole: no rule's answer shows
    if _qualifying(document) < 1:  # the constitution's min_human_approvals_for_main
        return before  # too few, or none the rule can count (its deny's message failed)
    return max(verdict, "ask", key=_ORDER.index), sorted([*reasons, APPROVALS_ASK])


def _qualifying(document: dict[str, Any]) -> int:
    """How many approvers PROC-MERGE-HUMAN-APPROVALS-001 counts (distinct humans other
    than the author), as Rego compares: none when the author has no ``id``."""
    author = document.get("author")
    if not isinstance(author, dict) or "id" not in author:
        return 0
    listed = document.get("approvals")
    found = {
        json.dumps(a["by"], sort_keys=True)
        for a in (listed if isinstance(listed, list) else [])
        if isinstance(a, dict)
        and a.get("type") == "human"
        and "by" in a
        and not _rego_equal(a["by"], author["id"])
    }
    return len(found)


def _rego_equal(x: Any, y: Any) -> bool:
    """Rego's ``==`` on JSON values: numbers by value (``1 == 1.0``), ``true`` never ``1``."""
    numbers = (int, float)
    if isinstance(x, numbers) and isinstance(y, numbers):
        if isinstance(x, bool) or isinstance(y, bool):
            return type(x) is type(y) and x == y
        return float(x) == float(y)
    return json.dumps(x, sort_keys=True) == json.dumps(y, sort_keys=True)


def bench_proposals(n: int) -> list[dict[str, Any]]:
    sys.path.insert(0, str(BENCH))
    try:
        from bench_decisions import proposal
    finally:
        sys.path.remove(str(BENCH))
    rng = random.Random(7)
    return [proposal(rng, i) for i in range(n)]


def proposal_files() -> Iterator[Path]:
    for top in (ROOT / "examples", ROOT / "tests" / "assets"):
        for path in sorted(top.rglob("*.json")):
            if "constitution" in path.parts[-2] or path.stat().st_size > 200_000:
                continue
            yield path


def proposal_documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in proposal_files():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(document, dict) and "kind" in document and "author" in document:
            found.append((str(path.relative_to(ROOT)), document))
    return found


# ------------------------------------------------------------- set by set, adversarial

WORDS = [
    "",
    " ",
    "agent",
    "human",
    "push",
    "merge",
    "release",
    "pull_request",
    "main",
    "ask",
    "deny",
    "low",
    "high",
    " HIGH ",
    "critical",
    "unknown",
    "negligible",
    "sbom",
    "signing",
    "provenance",
    "vulnerability-scan",
    "syft",
    "grype",
    "cosign",
    "tool",
    "fips_validated",
    "path",
    "patch",
    "status",
    "removed",
    "added",
    "production",
    ".charter/profile.toml",
    "./.charter/profile.toml",
    "deploy/.kube/config",
    "home/.aws/credentials",
    "fixtures/x.py",
    ".github/workflows/ci.yml",
    "+aws_access_key_id = AKIAIOSFODNN7EXAMPLQ",
    "+password = 'Zx9!kL2#mQ8$vB4^nR7&' charter:example-credential",
    '+  "type": "service_account",',
    "+    client-key-data: LS0tLS1CRUdJTg==",
    "PROC-NO-DIRECT-PUSH-001",
    "NOPE-001",
    "an AWS access key id",
    "a private key block",
    "a hard-coded secret assignment",
    "x" * 250,
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=40),
    st.sampled_from([0.5, 1.0, 1e20]),
    st.sampled_from(WORDS),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(WORDS[:40]), inner, max_size=3),
    ),
    max_leaves=6,
)


@st.composite
def requirement(draw: st.DrawFn) -> dict[str, Any]:
    category = draw(st.sampled_from(["sbom", "vulnerability-scan", "signing"]))
    attribute = draw(st.sampled_from(["tool", "fips_validated"]))
    value = draw(st.sampled_from([True, False, "syft", "grype", 1]))
    return {"category": category, "attribute": attribute, "value": value, "text": "req"}


entry = st.fixed_dictionaries(
    {"tool": st.sampled_from(["syft", "grype", "cosign"])},
    optional={"fips_validated": st.sampled_from([True, False, 1, "true"])},
)
profile_tools = st.dictionaries(
    st.sampled_from(["sbom", "vulnerability-scan", "signing", "provenance"]),
    st.one_of(entry, json_values),
    max_size=4,
)


@st.composite
def contexts(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """Charter's context for the proposal, with parts any shape Charter could or could not write."""
    context = json.loads(json.dumps(base))
    params = context["parameters"]
    params["human_citation"] = draw(st.sampled_from(["ask", "deny", "ask"]))
    params["vulnerability_severity_threshold"] = draw(
        st.sampled_from(["high", "low", "critical", "medium", "bogus"])
    )
    params["allow_source_code_export"] = draw(st.booleans())
    if draw(st.booleans()):
        reqs = draw(st.lists(requirement(), max_size=3))
        context["profile_requirements"] = reqs
    if draw(st.booleans()):
        file = context["profile_file"]
        file["tools"] = draw(profile_tools)
        if draw(st.booleans()):
            file["proposed"] = draw(st.one_of(profile_tools, json_values))
    citation = context["citation"]
    citation["present"] = draw(st.sampled_from([True, True, False, None, "true"]))
    citation["rules"] = draw(
        st.one_of(
            st.lists(st.sampled_from(["PROC-NO-DIRECT-PUSH-001", "NOPE-001", 1, None]), max_size=3),
            json_values,
        )
    )
    for field in ("blast_radius", "rollback"):
        citation[field] = draw(st.one_of(st.sampled_from(["", " ", "docs only"]), scalars))
    citation["error"] = draw(st.sampled_from([None, None, "bad block"]))
    citation["profile_change"] = draw(st.booleans())
    citation["profile"] = draw(st.one_of(st.builds(dict), profile_tools))
    if draw(st.booleans()):
        context["facts"] = draw(
            st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {
                        "derived": st.lists(st.sampled_from(WORDS[:10]), max_size=2),
                        "contradictions": st.one_of(
                            json_values,
                            st.lists(
                                st.one_of(
                                    json_values,
                                    st.fixed_dictionaries(
                                        {"field": scalars, "declared": json_values},
                                        optional={"derived": json_values, "source": scalars},
                                    ),
                                ),
                                max_size=2,
                            ),
                        ),
                    }
                ),
            )
        )
    if draw(st.booleans()):
        context.pop("secret_scan", None)  # the Rego scan then
    return context


def value_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from value_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from value_paths(item, (*prefix, i))


def mutate(document: Any, path: tuple[Any, ...], replacement: Any, delete: bool) -> Any:
    if not path:
        return replacement
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return document


#: Changed paths: the words that are paths, and the profile file in another case.
PATHS = [*WORDS[32:40], ".Charter/PROFILE.toml"]
#: ``patch_omitted`` as Charter writes it (and near misses).
OMITTED = [
    "too_large",
    "binary",
    "binary; holds an AWS access key id",
    "binary; larger than the 8388608-byte scan budget, not scanned for credentials",
    "binary;",
    "not UTF-8 text; binary; odd",
]

grants = st.fixed_dictionaries(
    {"environment": st.sampled_from(["production", "Prod", "staging", 1])},
    optional={
        "duration_hours": st.one_of(st.sampled_from([0, 1, 8, 9, 24.5, -1]), json_values),
        "principal": scalars,
        "role": scalars,
    },
)
# Fields the generated proposals never carry, which rules read.
EXTRA: dict[tuple[str, ...], st.SearchStrategy[Any]] = {
    ("dependencies",): st.fixed_dictionaries(
        {"changed": st.one_of(st.just(True), st.booleans(), json_values)},
        optional={
            "changes": st.one_of(st.lists(json_values, max_size=2), json_values),
            "unparsed": st.one_of(
                st.lists(
                    st.one_of(
                        json_values,
                        st.fixed_dictionaries({"path": scalars}, optional={"reason": scalars}),
                    ),
                    max_size=2,
                ),
                json_values,
            ),
            "scan": st.fixed_dictionaries(
                {
                    "findings": st.one_of(
                        st.lists(
                            st.one_of(
                                json_values,
                                st.fixed_dictionaries(
                                    {"severity": st.one_of(st.sampled_from(WORDS[9:16]), scalars)},
                                    optional={"id": scalars},
                                ),
                            ),
                            max_size=3,
                        ),
                        json_values,
                    ),
                },
                optional={
                    "tool": st.one_of(st.sampled_from(["grype", "trivy", "homegrown"]), scalars),
                    "audited": st.one_of(st.booleans(), json_values),
                    "not_audited": st.one_of(
                        st.lists(
                            st.one_of(
                                scalars,
                                st.fixed_dictionaries(
                                    {"reason": scalars},
                                    optional={"package": scalars, "name": scalars},
                                ),
                            ),
                            max_size=5,
                        ),
                        json_values,
                    ),
                },
            ),
        },
    ),
    ("access",): st.one_of(st.lists(st.one_of(grants, json_values), max_size=2), json_values),
    ("export",): st.one_of(
        st.fixed_dictionaries(
            {"source_code": st.one_of(st.booleans(), scalars)}, optional={"destination": scalars}
        ),
        json_values,
    ),
    ("tools",): st.one_of(
        st.dictionaries(
            st.sampled_from(["sbom", "signing", "provenance", "vulnerability-scan", "x"]),
            st.one_of(st.sampled_from(["syft", "cosign", "grype", "homegrown"]), scalars),
            max_size=3,
        ),
        json_values,
    ),
    ("files",): st.lists(
        st.fixed_dictionaries(
            {"path": st.one_of(st.sampled_from(PATHS), scalars)},
            optional={
                "previous_path": st.one_of(st.sampled_from(PATHS), scalars),
                "status": st.sampled_from(["added", "removed", "renamed", "modified"]),
                "patch": st.one_of(st.sampled_from(WORDS[38:42]), scalars),
                "patch_omitted": st.one_of(st.sampled_from(OMITTED), scalars),
            },
        ),
        max_size=3,
    ),
    ("approvals",): st.lists(
        st.one_of(
            st.fixed_dictionaries(
                {"by": st.sampled_from(["agent-7", "alice", "bob"])},
                optional={"type": st.sampled_from(["human", "agent"]), "groups": json_values},
            ),
            json_values,
        ),
        max_size=3,
    ),
}


@st.composite
def adversarial_inputs(draw: st.DrawFn, base_context: dict[str, Any]) -> dict[str, Any]:
    # A copy: the mutations below must not reach values the strategies share.
    document = json.loads(json.dumps(draw(proposals())))
    for (key,), strategy in EXTRA.items():
        if draw(st.booleans()):
            document[key] = draw(strategy)
    document["context"] = draw(contexts(base_context))
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        found = [p for p in value_paths(document) if p[:2] != ("context", "stack") and p]
        path = draw(st.sampled_from(found))
        document = mutate(document, path, draw(json_values), draw(st.booleans()))
    return document


def sets(engine: Engine, paths: list[str]) -> list[object]:
    out: list[object] = []
    for path in paths:
        try:
            value = engine.eval_rule(path)
        except CharterError:
            out.append("error")
        else:
            out.append(sorted(json.dumps(v, sort_keys=True) for v in value or []))
    return out
