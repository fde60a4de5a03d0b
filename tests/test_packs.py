"""The shipped packs (SOC 2, HIPAA, PCI DSS, community CI/containers) on real samples.

Every pack under ``examples/packs`` ships signed in ``src/charter/release/`` and is
decided here as shipped: the signed archives, verified against the release key,
composed on the shipped constitution (one compile for the module). The samples are
real workflows and Dockerfiles (``tests/assets/packs/README.md``) committed to a
small git repository and turned into proposals by ``charter proposal from-git``'s
builder, so the rules read the same patches a real pull request carries.
"""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from charter.core.decision import Decision
from charter.core.verdict import Verdict
from charter.facts.identities import IdentityMap
from charter.facts.proposal import GitRange, build_from_git
from charter.policy.bundle import Layer, load_directory
from charter.policy.decision import EVAL_ERROR_RULE, evaluate
from charter.policy.lint import lint_bundle
from charter.policy.loading import load_trusted_stack
from charter.policy.release import release_path
from charter.policy.rules import Rule
from charter.policy.stack import CompiledStack, load_stack
from charter.trust.policy import parse_policy
from charter.trust.versions import VersionState
from tests.test_facts_git import commit, git

REPO = Path(__file__).resolve().parents[1]
PACKS = REPO / "examples" / "packs"
PACK_NAMES = sorted(p.name for p in PACKS.iterdir() if p.is_dir())
ASSETS = Path(__file__).parent / "assets" / "packs"
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
KINDS = {"pull_request", "merge", "push", "release"}
CITATION = (
    '```charter\nrules: [CI-GHA-WRITE-ALL-001]\nblast_radius: "the files this change adds"\n'
    'rollback: "git revert"\n```\n'
)


# ----------------------------------------------------------------- the packs as shipped


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> CompiledStack:
    """The shipped constitution and every shipped pack, verified with the release key."""
    policy = parse_policy(
        '[layers.constitution]\nkeys = ["charter:release"]\n'
        '[layers.pack]\nkeys = ["charter:release"]\n'
    )
    archives = [release_path() / f"pack-{name}.tar.gz" for name in PACK_NAMES]
    state = VersionState(tmp_path_factory.mktemp("state"))
    return load_trusted_stack(policy, packs=archives, state=state, record=False).compile()


@pytest.fixture(scope="module")
def pack_layers() -> dict[str, Layer]:
    return {name: load_directory(PACKS / name) for name in PACK_NAMES}


def pack_rules(compiled: CompiledStack) -> dict[str, Rule]:
    return {rid: r for rid, r in compiled.stack.rules.items() if r.layer == "pack"}


def test_the_four_packs_ship_signed(compiled: CompiledStack) -> None:
    assert {"soc2", "hipaa", "pci-dss", "community-ci"} <= set(PACK_NAMES)
    shipped = {p.name for p in release_path().glob("pack-*.tar.gz")}
    assert {f"pack-{name}.tar.gz" for name in PACK_NAMES} == shipped
    layers = {(x.kind, x.name) for x in compiled.stack.layers}
    assert {("pack", "soc2"), ("pack", "hipaa"), ("pack", "pci-dss"), ("pack", "community-ci")} <= (
        layers
    )


@pytest.mark.parametrize("name", PACK_NAMES)
def test_each_pack_only_tightens_the_constitution_and_the_other_packs(
    name: str, pack_layers: dict[str, Layer]
) -> None:
    """The ratchet linter (namespaces, rule ids, parameters, waivers) accepts each pack
    on the shipped constitution plus the other packs. Its tests and per-rule coverage
    (L060/L061) are linted where every shipped bundle is built, by `scripts/release-sign`
    (tests/test_release.py)."""
    others = [layer for other, layer in pack_layers.items() if other != name]
    report = lint_bundle(PACKS / name, against=load_stack(packs=others), run_tests=False)
    assert report.ok, [f"{f.code} {f.location}: {f.message}" for f in report.findings]


@dataclass(frozen=True)
class Expected:
    minimum: int
    citation: re.Pattern[str]


EXPECTED = {
    "soc2": Expected(5, re.compile(r"^SOC2 CC(6\.1|6\.6|7\.1|7\.2|8\.1)$")),
    "hipaa": Expected(
        5,
        re.compile(
            r"^45 CFR 164\.312(\(a\)\(1\)|\(a\)\(2\)\(iv\)|\(b\)|\(c\)\(1\)|\(d\)|\(e\)\(1\))$"
        ),
    ),
    "pci-dss": Expected(5, re.compile(r"^PCI DSS v4\.0 6\.[2-5](\.\d+)*$")),
    "community-ci": Expected(5, re.compile(r"^CWE-\d+")),
}


@pytest.mark.parametrize("name", PACK_NAMES)
def test_every_rule_carries_its_control_link_and_scope(
    name: str, pack_layers: dict[str, Layer]
) -> None:
    rules = pack_layers[name].rules
    expected = EXPECTED[name]
    assert len(rules) >= expected.minimum
    for rule in rules:
        assert rule.title and rule.description and rule.severity in {
            "low", "medium", "high", "critical"
        }, rule.id  # fmt: skip
        assert rule.citation and expected.citation.match(rule.citation), (rule.id, rule.citation)
        assert rule.links and all(link.startswith("https://") for link in rule.links), rule.id
        scope = rule.custom.get("applies_to")
        if scope is None:
            continue
        assert isinstance(scope, dict) and set(scope) <= {"kinds", "paths"}, rule.id
        assert set(scope.get("kinds", [])) <= KINDS, rule.id
        assert all(isinstance(p, str) and p for p in scope.get("paths", [])), rule.id


def _lib_parts(path: Path) -> tuple[str, dict[str, str]]:
    """A pack's copy of a shared lib module: its header (package name made generic)
    and its top-level blocks (comment and rule, or test) by the name they define."""
    text = re.sub(r"charter\.packs\.\w+\.", "charter.packs.PACK.", path.read_text("utf-8"))
    head, _, body = text.partition("\nimport rego.v1\n")
    blocks: dict[str, str] = {}
    for block in body.strip("\n").split("\n\n"):
        code = next(ln for ln in block.splitlines() if not ln.startswith("#"))
        name = re.match(r"(?:import |)([\w.]+)", code)
        assert name is not None, (path, block)
        # a rule defined by several bodies is one entry
        blocks[name[1]] = f"{blocks[name[1]]}\n\n{block}" if name[1] in blocks else block
    return head, blocks


@pytest.mark.parametrize("module", ["patch.rego", "patch_test.rego"])
def test_the_copies_of_the_patch_helpers_agree(module: str) -> None:
    """Each pack carries lib/patch.rego with only the helpers its rules use (a helper
    no rule reads is a lint warning, CHARTER-L012) and the tests of those helpers: a
    helper or test present in several packs is the same text in each, and so is the
    module's header."""
    copies = {
        name: _lib_parts(p)
        for name in PACK_NAMES
        for p in PACKS.glob(f"{name}/charter/packs/*/lib/{module}")
    }
    assert set(copies) == set(PACK_NAMES)
    heads = {head for head, _ in copies.values()}
    assert len(heads) == 1, heads
    texts: dict[str, set[str]] = {}
    for _, blocks in copies.values():
        for name, block in blocks.items():
            texts.setdefault(name, set()).add(block)
    differing = sorted(name for name, variants in texts.items() if len(variants) > 1)
    assert not differing, f"lib/{module} differs between packs in: {differing}"
    if module == "patch.rego":  # what every pack's rules build on
        shared = set.intersection(*(set(blocks) for _, blocks in copies.values()))
        assert {"text", "body", "candidates", "changed", "chosen", "selector"} <= shared


def test_docs_list_every_pack_rule_with_its_citation(compiled: CompiledStack) -> None:
    text = (REPO / "docs" / "packs.md").read_text("utf-8")
    for rule in pack_rules(compiled).values():
        row = next((ln for ln in text.splitlines() if ln.startswith(f"| `{rule.id}` |")), None)
        assert row is not None, f"docs/packs.md does not list {rule.id}"
        assert rule.citation is not None and rule.citation in row, rule.id
    assert "docs/packs.md" in (REPO / "README.md").read_text("utf-8")


# ------------------------------------------------------ real samples, through git


def _glob_regex(glob: str) -> re.Pattern[str]:
    """A changed-path glob as the rules use it (`**/` also matches no directory)."""
    out = ""
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif glob[i] == "*":
            out, i = out + "[^/]*", i + 1
        else:
            out, i = out + re.escape(glob[i]), i + 1
    return re.compile(out + r"\Z")


@dataclass(frozen=True)
class Scenario:
    files: dict[str, str]  # path in the repository -> sample under tests/assets/packs
    kind: str = "pull_request"


# main holds a README and a real workflow; each scenario is a branch off main.
BASE_WORKFLOW = ".github/workflows/ci.yml"
SCENARIOS = {
    "workflows-bad": Scenario({
        ".github/workflows/several-vulnerabilities.yml": "workflows/several-vulnerabilities.yml",
        ".github/workflows/untrusted_checkout.yml": "workflows/untrusted_checkout.yml",
        ".github/workflows/menagerie-of-uses.yml": "workflows/menagerie-of-uses.yml",
        ".github/workflows/label.yml": "workflows/label_trusted_checkout1.yml",
    }),
    "workflows-good": Scenario({
        ".github/workflows/labeler.yml": "workflows/actions-labeler.yml",
        ".github/workflows/lint.yaml": "workflows/false-positive-menagerie.yml",
    }),
    "workflow-modified": Scenario({BASE_WORKFLOW: "workflows/workflow-write-all.yml"}),
    "docker-bad": Scenario({
        "Dockerfile": "dockerfiles/zizmor.Dockerfile",
        "services/legacy/Dockerfile": "dockerfiles/checkov-add-exists.Dockerfile",
        "tools/Dockerfile.root": "dockerfiles/checkov-root-user.Dockerfile",
    }),
    "docker-good": Scenario({"Dockerfile": "dockerfiles/cdxgen-secure.Dockerfile"}),
    "docker-no-user": Scenario({"Dockerfile": "dockerfiles/grype-node-subprocess.Dockerfile"}),
    "terraform-bad": Scenario({"infra/main.tf": "terraform/public-bucket.tf"}),
    "terraform-good": Scenario({"infra/main.tf": "terraform/private-bucket.tf"}),
}  # fmt: skip

# Hand-written code (no real sample in the shared data): TLS verification off and SQL
# built from an f-string, with no test; decided as a pull request and as a merge.
CLIENT_PY = (
    "import requests\n\n\ndef fetch(url, cur, oid):\n"
    '    cur.execute(f"SELECT * FROM records WHERE id = {oid}")\n'
    "    return requests.get(url, verify=False)\n"
)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("packs") / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("demo\n")
    (root / BASE_WORKFLOW).parent.mkdir(parents=True)
    shutil.copy(ASSETS / "workflows" / "false-positive-menagerie.yml", root / BASE_WORKFLOW)
    commit(root, "base")
    for branch, scenario in SCENARIOS.items():
        git(root, "checkout", "-q", "-b", branch, "main")
        for path, sample in scenario.files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ASSETS / sample, root / path)
        commit(root, f"{branch}\n\n{CITATION}")
    git(root, "checkout", "-q", "-b", "code", "main")
    (root / "app").mkdir()
    (root / "app" / "client.py").write_text(CLIENT_PY)
    commit(root, f"code\n\n{CITATION}")
    git(root, "checkout", "-q", "main")
    return root


@pytest.fixture(scope="module")
def proposals(repo: Path) -> dict[str, dict[str, Any]]:
    built = {
        branch: build_from_git(GitRange(repo, "main", branch), IdentityMap())
        for branch in [*SCENARIOS, "code"]
    }
    built["code-merge"] = build_from_git(
        GitRange(repo, "main", "code", kind="merge"), IdentityMap()
    )
    return built


def decide(compiled: CompiledStack, proposal: dict[str, Any]) -> Decision:
    return evaluate(compiled, copy.deepcopy(proposal), now=NOW)


def fired(decision: Decision) -> dict[str, set[Verdict]]:
    out: dict[str, set[Verdict]] = {}
    for reason in decision.reasons:
        if reason.layer.startswith("pack"):
            out.setdefault(reason.rule, set()).add(reason.verdict)
    return out


DENY, ASK = {Verdict.DENY}, {Verdict.ASK}
OUTCOMES: dict[str, tuple[Verdict, dict[str, set[Verdict]]]] = {
    "workflows-bad": (Verdict.DENY, {
        "CI-GHA-WRITE-ALL-001": DENY,
        "CI-GHA-PRT-CHECKOUT-001": DENY,
        "CI-GHA-UNPINNED-ACTION-001": DENY,
    }),
    "workflows-good": (Verdict.ALLOW, {}),
    "workflow-modified": (Verdict.DENY, {"CI-GHA-WRITE-ALL-001": DENY}),
    "docker-bad": (Verdict.DENY, {
        "CI-DOCKER-BASE-PINNED-001": DENY,
        "CI-DOCKER-ADD-URL-001": DENY,
        "CI-DOCKER-NON-ROOT-001": ASK,
    }),
    "docker-good": (Verdict.ALLOW, {}),
    "docker-no-user": (Verdict.ASK, {"CI-DOCKER-NON-ROOT-001": ASK}),
    "terraform-bad": (Verdict.DENY, {
        "CI-TF-PUBLIC-BUCKET-001": DENY,
        "CI-TF-IAM-WILDCARD-001": DENY,
        "SOC2-CC6-1-LEAST-PRIVILEGE-001": DENY,
        "SOC2-CC6-6-OPEN-INGRESS-001": DENY,
        "HIPAA-164-312-A1-ACCESS-CONTROL-001": DENY,
    }),
    "terraform-good": (Verdict.ALLOW, {}),
    "code": (Verdict.DENY, {
        "HIPAA-164-312-E1-TLS-VERIFY-001": DENY,
        "PCI-6-2-4-SQL-INJECTION-001": ASK,
        "SOC2-CC8-1-TESTS-WITH-CODE-001": ASK,
    }),
}  # fmt: skip


@pytest.mark.parametrize("branch", sorted(OUTCOMES))
def test_real_samples_are_decided(
    branch: str, compiled: CompiledStack, proposals: dict[str, dict[str, Any]]
) -> None:
    verdict, rules = OUTCOMES[branch]
    decision = decide(compiled, proposals[branch])
    assert fired(decision) == rules, [r.msg for r in decision.reasons]
    assert decision.verdict == verdict, [(r.rule, r.msg) for r in decision.reasons]


def test_the_modified_workflow_is_read_from_its_patch(
    proposals: dict[str, dict[str, Any]],
) -> None:
    """The proposal carries a patch of a changed file, not the file: the rule that
    judged it worked from the added lines."""
    (entry,) = proposals["workflow-modified"]["files"]
    assert entry["status"] == "modified" and "\n+permissions: write-all" in entry["patch"]


def test_a_merge_of_unreviewed_code_is_denied_by_pci(
    compiled: CompiledStack, proposals: dict[str, dict[str, Any]]
) -> None:
    merge = fired(decide(compiled, proposals["code-merge"]))
    assert merge["PCI-6-2-3-INDEPENDENT-REVIEW-001"] == DENY
    reviewed = copy.deepcopy(proposals["code-merge"])
    reviewed["approvals"] = [{"by": "carol", "type": "human"}]
    # A review read from GitHub (pci-dss 2.0.0: only those are facts) lets it through;
    # the same review only declared by the proposal asks for a person to confirm it.
    verified = {"derived": [], "contradictions": [], "approvals_verified": True}
    on_github = evaluate(compiled, copy.deepcopy(reviewed), now=NOW, facts=verified)
    assert "PCI-6-2-3-INDEPENDENT-REVIEW-001" not in fired(on_github)
    assert fired(decide(compiled, reviewed))["PCI-6-2-3-INDEPENDENT-REVIEW-001"] == ASK
    # The reviewer being a commit author does not count (6.2.3.1).
    author = reviewed["commits"][0]["author"]["email"]
    reviewed["approvals"] = [{"by": author.upper(), "type": "human"}]
    by_author = evaluate(compiled, copy.deepcopy(reviewed), now=NOW, facts=verified)
    assert fired(by_author)["PCI-6-2-3-INDEPENDENT-REVIEW-001"] == DENY


def _changed_paths(proposal: dict[str, Any]) -> Iterator[str]:
    for entry in proposal["files"]:
        yield entry["path"]
        if entry.get("previous_path"):
            yield entry["previous_path"]


def test_rules_fire_only_within_their_declared_scope(
    compiled: CompiledStack, proposals: dict[str, dict[str, Any]]
) -> None:
    """``custom.applies_to`` (what `charter explain` reads) is true to the Rego: a rule
    that fired for a proposal declares its kind and one of its changed paths."""
    rules = pack_rules(compiled)
    checked = 0
    for proposal in proposals.values():
        for rule_id in fired(decide(compiled, proposal)):
            scope = rules[rule_id].custom.get("applies_to") or {}
            if "kinds" in scope:
                assert proposal["kind"] in scope["kinds"], rule_id
            if "paths" in scope:
                globs = [_glob_regex(g) for g in scope["paths"]]
                paths = list(_changed_paths(proposal))
                assert any(g.match(p) for g in globs for p in paths), (rule_id, paths)
            checked += 1
    assert checked >= 15


def test_the_same_content_outside_the_scoped_paths_is_not_judged(
    compiled: CompiledStack, proposals: dict[str, dict[str, Any]]
) -> None:
    """Adversarial: moving the bad samples to paths no glob names silences exactly the
    rules that declare paths (the rest, like the live-PAN check, read every file)."""
    rules = pack_rules(compiled)
    scoped = {
        rid for rid, rule in rules.items() if "paths" in (rule.custom.get("applies_to") or {})
    }
    for branch in ("workflows-bad", "docker-bad", "terraform-bad"):
        moved = copy.deepcopy(proposals[branch])
        for i, entry in enumerate(moved["files"]):
            entry["path"] = f"notes/sample-{i}.txt"
        assert not set(fired(decide(compiled, moved))) & scoped, branch


def test_files_without_patches_and_invalid_yaml_never_fail_the_decision(
    compiled: CompiledStack, proposals: dict[str, dict[str, Any]]
) -> None:
    """A binary or too-large file has no patch, and an added workflow may not parse:
    neither may turn into an evaluation error (which would deny everything)."""
    broken = copy.deepcopy(proposals["workflows-good"])
    for entry in broken["files"]:
        entry["patch"] = None
        entry["patch_omitted"] = "too large (more than 1048576 bytes)"
    without = decide(compiled, broken)
    assert fired(without) == {} and without.verdict != Verdict.DENY
    # Only the constitution's own "patch not scanned" question remains.
    assert {r.rule for r in without.reasons} == {"CRED-UNSCANNED-PATCH-001"}
    invalid = copy.deepcopy(proposals["workflows-good"])
    invalid["files"][0]["patch"] = "@@ -0,0 +1,2 @@\n+on: [push\n+jobs: {\n"
    decision = decide(compiled, invalid)
    assert fired(decision) == {"CI-GHA-PRT-CHECKOUT-001": ASK}
    assert all(r.rule != EVAL_ERROR_RULE for r in decision.reasons)


@pytest.mark.parametrize("kind", ["pull_request", "push"])
def test_a_declared_approval_does_not_clear_an_agents_codeowners_change(
    compiled: CompiledStack, tmp_path: Path, kind: str
) -> None:
    """An agent hands itself CODEOWNERS; its own document says alice approved. Built from
    git (no reviews there) the approvals stay the document's word, so the access change
    is still asked about (soc2 1.x allowed it; 2.0.0 checks approvals_verified)."""
    from charter.facts.decide import decide as decide_facts
    from charter.facts.reconcile import Facts

    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "CODEOWNERS").write_text("* @alice\n")
    commit(root, "base")
    git(root, "branch", "dev")  # not protected: only the pack's rule holds the change
    git(root, "checkout", "-q", "-b", "owners")
    (root / "CODEOWNERS").write_text("* @agent-7\n")
    commit(root, f"owners\n\n{CITATION}", author="agent-7 <agent-7@example.com>")
    identities = IdentityMap(agents=("agent-*",), humans=("alice",))
    built = build_from_git(GitRange(root, "dev", "owners", kind=kind), identities)
    declared = {**built, "approvals": [{"by": "alice", "type": "human"}]}
    unapproved = decide_facts(compiled, built, Facts(built=built, identities=identities), now=NOW)
    assert fired(unapproved.decision)["SOC2-CC6-1-ACCESS-FILES-REVIEWED-001"] == ASK
    assert unapproved.decision.verdict == Verdict.ASK
    decided = decide_facts(compiled, declared, Facts(built=built, identities=identities), now=NOW)
    assert decided.facts["approvals_verified"] is False
    assert fired(decided.decision).get("SOC2-CC6-1-ACCESS-FILES-REVIEWED-001") == ASK
    assert decided.decision.verdict == Verdict.ASK
