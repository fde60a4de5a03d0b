"""Constitution 3.0.0 decides exactly like 2.1.1, but for the changes it declares.

3.0.0 is a major release (docs/constitution-changelog.md): a changed rule.

- ENV-PROFILE-FILE-PROTECTED-001 compares paths without case, and also fires when
  Charter, reading the change from git, found the Environment Profile's contents changed
  (``input.context.profile_file.proposed`` is an object), whatever path the diff
  shows: an edit through a linked folder (``.charter -> conf``) shows as
  ``conf/profile.toml`` and escaped it in 2.1.1.
- CRED-UNSCANNED-PATCH-001 words its message for a binary file whose scan could not
  clear it (``patch_omitted: "binary; …"``): Charter did scan it.
- SC-DEPENDENCY-SCAN-001 words its advice for a scan that audited nothing: attach the
  scanner's own output as evidence (Charter no longer believes a declared scan).
- PROC-MERGE-HUMAN-APPROVALS-001 asks about a merge into a protected branch whose
  approvals would be enough but were not read from GitHub's reviews
  (``input.context.facts.approvals_verified``).

2.1.1 as released is a test asset (tests/assets/constitution-2.1.1). Every decision
here is made by both stacks; the older outcome, carried through exactly these
changes, must be the newer one (:mod:`tests.constitution_diff`). Anything else a
release changed by mistake fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.policy.bundle import load_directory
from charter.policy.compat import judge
from charter.policy.decision import build_context
from charter.policy.engine import Engine
from charter.policy.stack import load_stack, shipped_constitution_path
from tests import secret_corpus
from tests.constitution_diff import (
    ASSETS,
    NOW,
    Outcome,
    Stacks,
    adversarial_inputs,
    approvals_carry,
    bench_proposals,
    decide,
    proposal_documents,
    seen,
    sets,
)
from tests.strategies import proposals

PREVIOUS = ASSETS / "constitution-2.1.1"
PROTECTED = ("main",)  # the constitution's protected_branches
APPROVALS = "data.charter.constitution.process.merge_human_approvals.ask"
PROFILE_RULE = "ENV-PROFILE-FILE-PROTECTED-001"
UNSCANNED_RULE = "CRED-UNSCANNED-PATCH-001"
SCAN_RULE = "SC-DEPENDENCY-SCAN-001"
MERGE_RULE = "PROC-MERGE-HUMAN-APPROVALS-001"
SCAN = "data.charter.constitution.supply_chain.dependency_scan.deny"
OLD_SCAN_TAIL = (
    "; a scan that checked no package is not a scan: rerun it with its vulnerability "
    "database available (e.g. pip-audit online, grype, trivy or osv-scanner) and attach "
    "that result"
)
NEW_SCAN_TAIL = (
    "; attach the scanner's own JSON output as evidence (--evidence, or the runner's "
    "evidence) from a run that audited the packages, its vulnerability database available "
    "(e.g. grype, trivy, osv-scanner, or pip-audit online)"
)
PROFILE = "data.charter.constitution.environment_profile.profile_file_protected"
UNSCANNED = "data.charter.constitution.credential.unscanned_patch.ask"
OLD_BINARY = re.compile(
    r"(?P<path>.*) was not scanned for secrets: its patch is not in the proposal "
    r"\(binary; (?P<why>.*)\); review its added lines, or split the change so each "
    r"file's patch fits",
    re.S,
)

Engines = tuple[Engine, Engine, list[str], dict[str, Any]]


def rescanned(message: str) -> str:
    """SC-DEPENDENCY-SCAN-001's 2.1.1 message for a scan that audited nothing, as 3.0.0
    words its advice (the same reasons)."""
    return (
        message[: -len(OLD_SCAN_TAIL)] + NEW_SCAN_TAIL
        if message.endswith(OLD_SCAN_TAIL)
        else message
    )


def reworded(message: str) -> str:
    """CRED-UNSCANNED-PATCH-001's 2.1.1 message as 3.0.0 words it."""
    found = OLD_BINARY.fullmatch(message)
    if found is None:
        return message
    return (
        f"{found['path']} is a binary file Charter could not clear of credentials "
        f"({found['why']}); remove what it holds, or have a person review the file"
    )


def carry(document: Any, before: Outcome) -> Outcome:
    """What 3.0.0 answers where 2.1.1 answered ``before`` (through the API, where
    Charter writes the context: a hand-written proposal has no ``proposed``, and its
    approvals are the document's word)."""
    if isinstance(before, str):
        return before
    verdict, reasons = before
    words = {UNSCANNED_RULE: reworded, SCAN_RULE: rescanned}
    reworded_outcome = (
        verdict,
        sorted(
            (rule, level, words[rule](msg) if rule in words else msg)
            for rule, level, msg in reasons
        ),
    )
    return approvals_carry(document, reworded_outcome, PROTECTED)


_ORDER = ("allow", "ask", "deny")


def same_as_carried(stacks: Stacks, document: Any, *, validate: bool = True) -> None:
    """3.0.0 decides ``document`` as 2.1.1 did, carried through the declared changes. A
    changed path that names the profile file in another case may add the profile rule's
    reasons (their messages are the rule's own, pinned by its Rego tests): nothing else
    differs, and the verdict is the stricter of both."""
    newer, older = stacks
    now = seen(decide(newer, document, validate=validate))
    expected = carry(document, decide(older, document, validate=validate))
    if isinstance(now, str) or isinstance(expected, str) or not _in_another_case(document):
        assert now == expected, document
        return
    extra = [reason for reason in now[1] if reason not in expected[1]]
    assert all(rule == PROFILE_RULE for rule, _, _ in extra), document
    assert [reason for reason in now[1] if reason not in extra] == expected[1], document
    verdicts = [expected[0], *(level for _, level, _ in extra)]
    assert now[0] == max(verdicts, key=_ORDER.index), document


def _in_another_case(document: Any) -> bool:
    return isinstance(document, dict) and _names_profile_in_another_case(document)


@pytest.fixture(scope="module")
def stacks() -> Stacks:
    previous = load_stack(constitution=PREVIOUS).compile()
    assert previous.stack.layers[0].version == "2.1.1"
    return load_stack().compile(), previous


def test_the_shipped_constitution_is_3_0_0_with_the_same_sets(stacks: Stacks) -> None:
    shipped, previous = stacks
    assert shipped.stack.layers[0].version == "3.0.0"
    assert set(shipped.stack.rules) == set(previous.stack.rules)
    assert [path for _, _, path in shipped.rules] == [path for _, _, path in previous.rules]


def test_compat_finds_exactly_the_changed_rules(tmp_path: Path) -> None:
    """2.1.1's tests pass on 3.0.0's rules; 3.0.0's new tests fail on 2.1.1's for the
    rules it changes, and no other (the declared major covers it)."""
    found = judge(load_directory(PREVIOUS), load_directory(shipped_constitution_path()))
    assert (found.before, found.after, found.changed) == ("2.1.1", "3.0.0", ())
    assert set(found.new_decisions) == {PROFILE_RULE, UNSCANNED_RULE, SCAN_RULE, MERGE_RULE}
    assert found.ok and found.moved == "major"


def test_the_manifest_declares_the_changes(stacks: Stacks) -> None:
    manifest = json.loads((shipped_constitution_path() / ".manifest").read_text())
    entry = manifest["metadata"]["charter"]["changelog"]["3.0.0"]
    assert sorted(entry["rules_changed"]) == sorted(
        [PROFILE_RULE, UNSCANNED_RULE, SCAN_RULE, MERGE_RULE]
    )
    assert entry["rules_removed"] == [] and entry["parameters_removed"] == []


# ------------------------------------------------------------------ through the API


def test_the_benchmark_workload_is_decided_as_by_2_1_1(stacks: Stacks) -> None:
    for document in bench_proposals(400):
        same_as_carried(stacks, document)


def test_every_proposal_of_the_repository_is_decided_as_by_2_1_1(stacks: Stacks) -> None:
    documents = proposal_documents()
    assert len(documents) >= 17  # examples/proposals alone has 17
    for _, document in documents:
        same_as_carried(stacks, document, validate=False)


def test_the_secret_corpus_is_decided_as_by_2_1_1(stacks: Stacks) -> None:
    for sample in secret_corpus.load():
        same_as_carried(stacks, secret_corpus.proposal(sample))


@given(proposals())
def test_generated_proposals_are_decided_as_by_2_1_1(
    stacks: Stacks, document: dict[str, Any]
) -> None:
    same_as_carried(stacks, document)


def test_a_binary_the_scan_could_not_clear_is_worded_as_scanned(stacks: Stacks) -> None:
    document = {
        **bench_proposals(1)[0],
        "files": [
            {"path": "tool.bin", "status": "added", "patch_omitted": "binary; holds a private key"}
        ],
    }
    shipped, previous = stacks
    now, before = (
        decide(shipped, document, validate=True),
        decide(previous, document, validate=True),
    )
    assert not isinstance(now, str) and not isinstance(before, str)
    messages = [msg for rule, _, msg in now[1] if rule == UNSCANNED_RULE]
    assert messages == [
        "tool.bin is a binary file Charter could not clear of credentials (holds a private "
        "key); remove what it holds, or have a person review the file"
    ]
    assert now == carry(document, before) and now != before


# ------------------------------------------------------------- set by set, adversarial


@pytest.fixture(scope="module")
def engines(stacks: Stacks) -> Engines:
    shipped, previous = stacks
    base = build_context(shipped, {"kind": "pull_request", "files": []}, NOW)
    return (
        shipped.engine.clone(),
        previous.engine.clone(),
        [path for _, _, path in shipped.rules],
        base,
    )


def _member(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _declared(document: dict[str, Any]) -> bool:
    """The rule's ``declared``: a pull request or merge whose citation declares the change."""
    citation = _member(document, "context", "citation")
    return (
        isinstance(document.get("kind"), str)
        and document["kind"] in {"pull_request", "merge"}
        and isinstance(citation, dict)
        and "error" in citation
        and citation["error"] is None
        and citation.get("profile_change") is True
    )


def _must_fire(document: dict[str, Any], which: str) -> bool:
    """Whether 3.0.0's new body of the profile rule's ``which`` set must succeed."""
    author = document.get("author")
    if not isinstance(author, dict) or "id" not in author or "type" not in author:
        return False
    if not isinstance(_member(document, "context", "profile_file", "proposed"), dict):
        return False
    if _declared(document):
        return False
    if which == "deny":
        return author["type"] == "agent" and "kind" in document
    return author["type"] != "agent"


def _names_profile_in_another_case(document: dict[str, Any]) -> bool:
    """A changed path that is the profile path (the default) but for its case."""
    files = document.get("files")
    for entry in files if isinstance(files, list) else []:
        for key in ("path", "previous_path"):
            path = entry.get(key) if isinstance(entry, dict) else None
            if isinstance(path, str) and path.removeprefix("./").lstrip("/").lower() == (
                ".charter/profile.toml"
            ):
                return True
    return False


def _check_profile_set(document: dict[str, Any], which: str, now: Any, before: Any) -> None:
    if now == "error" or before == "error":
        assert now == before, document
        return
    extra = set(now) - set(before)
    assert set(before) <= set(now), document
    assert all(json.loads(e)["rule"] == PROFILE_RULE for e in extra), document
    proposed = _member(document, "context", "profile_file", "proposed")
    if not isinstance(proposed, dict) and not _names_profile_in_another_case(document):
        assert not extra, document
    if _must_fire(document, which):
        assert now, document


def _check_approvals_set(document: dict[str, Any], now: Any, before: Any) -> None:
    """3.0.0 adds one ask to a merge whose approvals Charter did not read from GitHub."""
    if now == "error" or before == "error":
        assert now == before, document
        return
    extra = set(now) - set(before)
    assert set(before) <= set(now), document
    for entry in map(json.loads, extra):
        assert entry["rule"] == "PROC-MERGE-HUMAN-APPROVALS-001", document
        assert "is approved only in the proposal" in entry["msg"], document
    verified = _member(document, "context", "facts", "approvals_verified") is True
    if document.get("kind") != "merge" or verified:
        assert not extra, document


def _reworded_set(value: Any, words: Any) -> Any:
    if value == "error":
        return value
    entries = [json.loads(e) for e in value]
    return sorted(json.dumps({**e, "msg": words(e["msg"])}, sort_keys=True) for e in entries)


@settings(max_examples=300)
@given(st.data())
def test_every_set_has_2_1_1s_value_but_the_declared_changes(
    engines: Engines, data: st.DataObject
) -> None:
    shipped, previous, paths, base = engines
    document = data.draw(adversarial_inputs(base))
    shipped.set_input(document)
    previous.set_input(document)
    for path, now, before in zip(paths, sets(shipped, paths), sets(previous, paths), strict=True):
        if path.startswith(PROFILE + "."):
            _check_profile_set(document, path.rsplit(".", 1)[1], now, before)
        elif path == APPROVALS:
            _check_approvals_set(document, now, before)
        elif path == UNSCANNED:
            assert now == _reworded_set(before, reworded), document
        elif path == SCAN:
            assert now == _reworded_set(before, rescanned), document
        else:
            assert now == before, (path, document)


@settings(max_examples=100)
@given(st.data())
def test_adversarial_proposals_are_decided_as_by_2_1_1(
    stacks: Stacks, engines: Engines, data: st.DataObject
) -> None:
    document = data.draw(adversarial_inputs(engines[3]))
    document.pop("context", None)
    same_as_carried(stacks, document, validate=False)


def test_the_profile_rule_fires_on_a_proposed_profile_at_any_path(engines: Engines) -> None:
    """The 3.0.0 change itself, one input: the diff shows conf/profile.toml only."""
    shipped, previous, _, base = engines
    context = json.loads(json.dumps(base))
    context["profile_file"]["proposed"] = {}
    document = {
        "kind": "pull_request",
        "author": {"id": "agent-7", "type": "agent"},
        "files": [{"path": "conf/profile.toml", "status": "modified", "patch": "+x\n"}],
        "context": context,
    }
    shipped.set_input(document)
    previous.set_input(document)
    assert previous.eval_rule(f"{PROFILE}.deny") == []
    assert [e["rule"] for e in shipped.eval_rule(f"{PROFILE}.deny")] == [PROFILE_RULE]
