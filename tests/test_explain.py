"""`charter explain` and `custom.applies_to`: which rules apply to a change, and what they say.

The Coordinator's question — "which rules apply when I open a PR that adds a
Dockerfile?" — is answered from the rules' own METADATA, deterministically, with
the verdict each gives; the runner's /v1/explain is the same library function.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from charter.core.errors import PolicyError
from charter.policy.applies import AppliesTo, changed_paths, glob_match, parse_applies_to
from charter.policy.decision import evaluate
from charter.policy.engine import Engine
from charter.policy.explain import explain, hypothetical
from charter.policy.lint import lint_bundle
from charter.policy.rules import rules_from_module
from charter.policy.stack import CompiledStack, Stack, load_stack, shipped_packs_path
from tests.cli_helpers import invoke
from tests.conftest import BundleFactory

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
KIND_ONLY = {
    "PROC-NO-DIRECT-PUSH-001": ("push",),
    "PROC-HUMAN-PUSH-PROTECTED-001": ("push",),
    "PROC-MERGE-HUMAN-APPROVALS-001": ("merge",),
    "SC-SIGNED-SBOM-001": ("release",),
    "SC-SIGNED-PROVENANCE-001": ("release",),
    "SC-RELEASE-ARTIFACTS-LISTED-001": ("release",),
    "ENV-RELEASE-TOOLS-DECLARED-001": ("release",),
}


# ------------------------------------------------------------------ globs


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("**/Dockerfile", "Dockerfile", True),
        ("**/Dockerfile", "services/api/Dockerfile", True),
        ("**/Dockerfile", "./services/Dockerfile", True),
        ("**/Dockerfile", "services/xDockerfile", False),
        ("**/Dockerfile", "Dockerfile.dev", False),
        ("Dockerfile", "sub/Dockerfile", False),
        ("*.tf", "main.tf", True),
        ("*.tf", "infra/main.tf", False),  # * never crosses a /
        ("infra/**", "infra/a/b.tf", True),
        (".github/workflows/*.yml", ".github/workflows/ci.yml", True),
        (".github/workflows/*.yml", ".github/workflows/sub/ci.yml", False),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("[ab].txt", "a.txt", True),
        ("[ab].txt", "c.txt", False),
        ("[!ab].txt", "c.txt", True),
        ("[!ab].txt", "a.txt", False),
        ("x[!a]y", "x/y", False),  # a negated class never matches the separator
        ("[a-c]x", "bx", True),
        ("[ab", "[ab", True),  # unterminated: literal
        ("*.{yml,yaml}", "ci.yaml", True),
        ("*.{yml,yaml}", "ci.json", False),
        (".github/{workflows,actions}/**", ".github/actions/a/action.yml", True),
        ("{a", "{a", True),
        ("\\*.md", "*.md", True),
        ("\\*.md", "x.md", False),
        ("**.tf", "infra/main.tf", True),
        ("src/**/test_*.py", "src/test_a.py", True),
        ("src/**/test_*.py", "src/a/b/test_a.py", True),
        ("src/**/test_*.py", "lib/test_a.py", False),
        ("docs/*.md", "docs/.md", True),
    ],
)
def test_glob_semantics(pattern: str, path: str, expected: bool) -> None:
    assert glob_match(pattern, path) is expected


def test_renames_count_by_their_previous_path() -> None:
    document = {"files": [{"path": "old.txt", "status": "renamed", "previous_path": "Dockerfile"}]}
    declared = AppliesTo(paths=("Dockerfile",))
    assert changed_paths(document) == ["old.txt", "Dockerfile"]
    assert declared.judge("pull_request", changed_paths(document))[0]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kinds": ["pull-request"]}, "unknown kind 'pull-request'"),
        ({"kinds": []}, "non-empty list"),
        ({"paths": "Dockerfile"}, "non-empty list"),
        ({"paths": [""]}, "non-empty list"),
        ({"files": ["x"]}, "only 'kinds' and 'paths'"),
        (["pull_request"], "only 'kinds' and 'paths'"),
    ],
)
def test_malformed_applies_to_is_refused(raw: object, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_applies_to({"applies_to": raw}, "x.rego:1")


def test_applies_to_is_read_from_metadata() -> None:
    source = """# METADATA
# title: t
# description: d
# custom:
#   id: PACK-DOCKER-001
#   severity: high
#   category: containers
#   applies_to:
#     kinds: [pull_request, merge]
#     paths: ["**/Dockerfile", "Dockerfile"]
package charter.packs.x
"""
    (rule,) = rules_from_module("x.rego", source, package="p", layer="pack", layer_name="x")
    assert rule.applies_to == AppliesTo(("pull_request", "merge"), ("**/Dockerfile", "Dockerfile"))
    assert rule.to_dict()["applies_to"]["kinds"] == ["pull_request", "merge"]


# ------------------------------------------------------------------ the Dockerfile question


def _stacks() -> list[Stack]:
    """The shipped constitution alone, and with every pack this tree ships or exemplifies."""
    packs = [p for p in sorted((ROOT / "examples" / "packs").iterdir()) if p.is_dir()]
    shipped = shipped_packs_path()
    if shipped.is_dir():
        packs += [p for p in sorted(shipped.iterdir()) if (p / ".manifest").is_file()]
    return [load_stack(), load_stack(packs=packs)]


@pytest.fixture(scope="module")
def stacks() -> list[tuple[Stack, CompiledStack]]:
    return [(s, s.compile()) for s in _stacks()]


def _explained(stack: Stack, compiled: CompiledStack, document: dict[str, Any]) -> dict[str, Any]:
    return explain(stack, evaluate(compiled, document, now=NOW), document)


def test_a_pr_that_adds_a_dockerfile(stacks: list[tuple[Stack, CompiledStack]]) -> None:
    document = hypothetical(adds=["Dockerfile"])
    for stack, compiled in stacks:
        result = _explained(stack, compiled, document)
        rows = {r["id"]: r for r in result["rules"]}
        constitution = {i for i, r in rows.items() if r["layer"] == "constitution"}
        # The constitution part: every rule that looks at any pull request applies,
        # the push-, merge- and release-only rules do not. The profile rule applies to
        # every change since 3.0.0 (through a link, any path may reach the file).
        assert constitution - set(KIND_ONLY) <= set(result["applies"])
        for rule_id in KIND_ONLY:
            assert not rows[rule_id]["applies"] and "looks only at" in rows[rule_id]["why"]
        assert rows["ENV-PROFILE-FILE-PROTECTED-001"]["applies"]
        # An agent's PR without a citation block: denied, and the row says so.
        cite = rows["CITE-BLOCK-REQUIRED-001"]
        assert cite["applies"] and cite["fired"] and cite["verdict"] == "deny"
        assert cite["messages"] and cite["citation"] and cite["links"]
        assert result["verdict"] == "deny"
        # Any loaded pack: a rule applies exactly when its declaration covers a PR
        # adding a Dockerfile (or when it fired), whatever globs it declares.
        fired = {r.rule for r in evaluate(compiled, document, now=NOW).reasons}
        for rule in stack.rules.values():
            declared, _ = rule.applies_to.judge("pull_request", ["Dockerfile"])
            row = rows[rule.id]
            assert row["applies"] == (declared or row["fired"]), rule.id
            assert row["fired"] == (rule.id in fired), rule.id


def test_applies_and_fired_are_distinct(stacks: list[tuple[Stack, CompiledStack]]) -> None:
    stack, compiled = stacks[0]
    push = hypothetical(adds=[".charter/profile.toml"], kind="push")
    result = _explained(stack, compiled, push)
    rows = {r["id"]: r for r in result["rules"]}
    protected = rows["ENV-PROFILE-FILE-PROTECTED-001"]
    assert protected["applies"] and protected["fired"] and protected["verdict"] == "deny"
    assert protected["why"] == "no applies_to: every proposal"
    # Applies but silent: the release-only rules do not apply to a push; the push rule
    # applies; a rule that applies without firing says allow.
    assert rows["PROC-NO-DIRECT-PUSH-001"]["applies"]
    assert not rows["SC-SIGNED-SBOM-001"]["applies"]
    silent = [r for r in result["rules"] if r["applies"] and not r["fired"]]
    assert silent and all(r["verdict"] == "allow" and not r["messages"] for r in silent)
    # Order: fired rules first.
    fired = [r["fired"] for r in result["rules"]]
    assert fired == sorted(fired, reverse=True)


def test_a_rule_that_fires_outside_its_declaration_still_applies(
    make_bundle: BundleFactory,
) -> None:
    """A declaration narrower than the rule never hides the rule that decided."""
    rule = """# METADATA
# title: Narrow
# description: declares docs only but fires on everything
# related_resources:
#   - ref: https://example.test/narrow
# custom:
#   id: ACME-NARROW-001
#   severity: high
#   category: process
#   applies_to:
#     paths: ["docs/**"]
package charter.overlay.narrow

import rego.v1

deny contains {"rule": "ACME-NARROW-001", "msg": "no"} if input.kind
"""
    path = make_bundle(
        layer="overlay", name="acme", roots=["charter/overlay"], files={"narrow.rego": rule}
    )
    stack = load_stack(overlay=path)
    document = hypothetical(adds=["src/app.py"])
    result = _explained(stack, stack.compile(), document)
    row = next(r for r in result["rules"] if r["id"] == "ACME-NARROW-001")
    assert row["applies"] and row["fired"] and "narrower" in row["why"]


# ------------------------------------------------------------------ lint


def test_lint_refuses_a_declaration_narrower_than_the_tests(make_bundle: BundleFactory) -> None:
    def bundle(applies: str) -> Path:
        rule = f"""# METADATA
# title: Docker user
# description: A Dockerfile must name a USER.
# related_resources:
#   - ref: https://example.test/docker
# custom:
#   id: ACME-DOCKER-USER-001
#   severity: high
#   category: containers
{applies}package charter.overlay.docker

import rego.v1

deny contains {{"rule": "ACME-DOCKER-USER-001", "msg": "no USER"}} if {{
	some f in input.files
	endswith(f.path, "Dockerfile")
	not contains(f.patch, "USER")
}}
"""
        test = """package charter.overlay.docker_test

import rego.v1

import data.charter.overlay.docker

root_push := {"kind": "push", "files": [{"path": "Dockerfile", "patch": "FROM x"}]}

svc_pr := {"kind": "pull_request", "files": [{"path": "svc/Dockerfile", "patch": "USER a"}]}

test_root_dockerfile_denied if {
	some e in docker.deny with input as root_push
	e.rule == "ACME-DOCKER-USER-001"
}

test_user_allowed if {
	count(docker.deny) == 0 with input as svc_pr
}
"""
        return make_bundle(
            layer="overlay",
            name="acme",
            roots=["charter/overlay"],
            files={"docker.rego": rule, "docker_test.rego": test},
        )

    wide = "#   applies_to:\n#     paths: ['**/Dockerfile']\n"
    assert lint_bundle(bundle(wide)).ok
    for narrow, why in (
        ("#   applies_to:\n#     paths: ['services/**/Dockerfile']\n", "no changed path"),
        ("#   applies_to:\n#     kinds: [pull_request]\n", "looks only at pull_request"),
    ):
        report = lint_bundle(bundle(narrow))
        found = [f for f in report.findings if f.code == "CHARTER-L063"]
        assert found and not report.ok, report
        assert "ACME-DOCKER-USER-001" in found[0].message and why in found[0].message
        assert found[0].location.endswith("docker_test.rego:11")
    bad = bundle("#   applies_to:\n#     kinds: [pr]\n")
    assert "CHARTER-L050" in lint_bundle(bad).codes()


# ------------------------------------------------------------------ CLI


def test_cli_explain_adds_a_dockerfile_json() -> None:
    result = invoke("explain", "--adds", "Dockerfile", "--now", "2026-11-20T10:00:00Z",
                    "--format", "json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["proposal"] == {"kind": "pull_request", "paths": ["Dockerfile"]}
    assert "CITE-BLOCK-REQUIRED-001" in doc["fired"]
    assert "PROC-NO-DIRECT-PUSH-001" not in doc["applies"]
    assert set(doc["fired"]) <= set(doc["applies"])
    row = doc["rules"][0]
    assert {"applies", "fired", "why", "verdict", "layer", "severity", "citation", "links"} <= set(
        row
    )


def test_cli_explain_text_is_a_table_and_escapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An 80-column terminal still shows every column, the reasons included.
    monkeypatch.setenv("COLUMNS", "80")
    proposal = {
        "kind": "push",
        "repository": "acme/x",
        "base": "feature",
        "author": {"id": "evil\x1b[2J\x1b[32mallow", "type": "agent"},
        "files": [{"path": ".charter/profile.toml", "status": "modified", "patch": ""}],
    }
    path = tmp_path / "p.json"
    path.write_text(json.dumps(proposal))
    result = invoke("explain", str(path), "--now", "2026-11-20T10:00:00Z")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\x1b" not in out and "\\x1b[2J" in out
    for column in ("Rule", "Applies", "Fired", "Verdict", "Why"):
        assert column in out
    assert "ENV-PROFILE-FILE-PROTECTED-001" in out and "PROC-NO-DIRECT-PUSH-001" in out
    assert "SC-SIGNED-SBOM-001" not in out  # does not apply; --all lists it
    every = invoke("explain", str(path), "--now", "2026-11-20T10:00:00Z", "--all")
    assert "SC-SIGNED-SBOM-001" in every.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--adds", "Dockerfile", "--kind", "pr"], "is not a proposal kind"),
        (["--adds", "Dockerfile", "--author-type", "robot"], "--author-type"),
        (["--adds", "Dockerfile", "--git", "main..x"], "describe a change of their own"),
        ([], "give a proposal file"),
    ],
)
def test_cli_explain_bad_input_is_one_line(args: list[str], message: str) -> None:
    result = invoke("explain", *args)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 2


def test_cli_explain_a_humans_hypothetical_pr_asks() -> None:
    result = invoke("explain", "--adds", "Dockerfile", "--author-type", "human", "--format",
                    "json", "--now", "2026-11-20T10:00:00Z")  # fmt: skip
    doc = json.loads(result.stdout)
    assert doc["verdict"] == "ask" and doc["fired"] == ["CITE-BLOCK-REQUIRED-001"]


GLOBS = ["**/Dockerfile", "Dockerfile", "*.tf", "infra/**", "**.tf", "src/**/test_*.py",
         "[ab].txt", "[!ab].txt", "*.{yml,yaml}", ".github/workflows/*.yml", "a?c", "\\*.md",
         "docs/**/*.md", "{src,lib}/**"]  # fmt: skip
PATHS = ["Dockerfile", "svc/Dockerfile", "svc/Dockerfile.dev", "main.tf", "infra/main.tf",
         "infra/a/b.tf", "src/test_a.py", "src/a/test_b.py", "a.txt", "c.txt", "x/a.txt",
         "ci.yml", "ci.yaml", ".github/workflows/ci.yml", ".github/workflows/x/ci.yml", "abc",
         "a/c", "*.md", "x.md", "docs/a.md", "docs/a/b.md", "lib/x", "src", "srcx/y"]  # fmt: skip


def test_globs_are_never_narrower_than_regos_glob_match() -> None:
    """A pack author copies the globs of their rule's `glob.match(g, ["/"], path)` into
    applies_to: every path Rego matches, applies_to matches too."""
    engine = Engine()
    engine.add_module(
        "g.rego",
        "package g\nimport rego.v1\n"
        f"pairs := [[g, p] | some g in {json.dumps(GLOBS)}; some p in {json.dumps(PATHS)}; "
        'glob.match(g, ["/"], p)]\n',
    )
    rego = {tuple(pair) for pair in engine.eval_rule("data.g.pairs")}
    assert rego, "the engine matched nothing: the cross-check would prove nothing"
    ours = {(g, p) for g in GLOBS for p in PATHS if glob_match(g, p)}
    assert rego <= ours, rego - ours
    # Where they differ, ours is wider, and only through `**` (`**/` matching no
    # directory; regorus's `**.tf` stays inside one segment).
    assert all("**" in g for g, _ in ours - rego), ours - rego
