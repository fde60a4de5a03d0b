"""The Environment Profile as a file: `.charter/profile.toml` into every decision.

The constitution requires categories; layers add attribute requirements (a
FIPS-validated scanner) through the ratchet and never remove one; a profile file
names tools by their attributes, so `grype-fips` is accepted where the bundle's
default lists only knew `grype`. A change is judged under the profile it starts
from, and a change to the file is a proposal of its own whose diff is shown.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import charter
from charter.core.errors import InputError, PolicyError
from charter.policy.decision import evaluate
from charter.policy.lint import lint_bundle
from charter.policy.profile import (
    Profile,
    ProfileContext,
    diff,
    diff_lines,
    parse_profile,
    parse_requirement,
    problems,
)
from charter.policy.stack import Stack, load_stack, shipped_constitution_path
from charter.runner.config import parse_config
from tests.cli_helpers import invoke
from tests.conftest import write_bundle
from tests.runner_helpers import ThreadedRunner, auth, write_config
from tests.test_facts_git import commit, git

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
FIPS = "vulnerability-scan.fips_validated = true"
PROFILE = """\
[sbom]
tool = "syft"
version = "1.14.0"

[signing]
tool = "cosign"

[provenance]
tool = "slsa-github-generator"

[vulnerability-scan]
tool = "grype-fips"
fips_validated = true
"""
PLAIN = PROFILE.replace('tool = "grype-fips"\nfips_validated = true', 'tool = "grype"')
CITATION = '```charter\nrules: [SC-DEPENDENCY-SCAN-001]\nblast_radius: "x"\nrollback: "y"\n```\n'
SCANNED: dict[str, Any] = {
    "kind": "pull_request",
    "repository": "acme/platform",
    "base": "main",
    "head": "feature/x",
    "author": {"id": "agent-7", "type": "agent"},
    "body": CITATION,
    "files": [{"path": "src/app.py", "status": "modified", "patch": "+x = 1\n"}],
    "dependencies": {"changed": True, "scan": {"tool": "grype-fips", "findings": []}},
}


def fips_overlay(directory: Path, requirements: list[str] | None = None) -> Path:
    params = {"profile_requirements": requirements if requirements is not None else [FIPS]}
    return write_bundle(
        directory,
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files={"charter/overlay/data.json": json.dumps({"parameters": params})},
    )


def env_rules(stack: Stack, profile: Profile | None, document: dict[str, Any]) -> set[str]:
    compiled = stack.with_profile(ProfileContext(current=profile)).compile()
    decision = evaluate(compiled, document, now=NOW)
    return {r.rule for r in decision.reasons if r.rule.startswith("ENV-")}


# ------------------------------------------------------------------ the file


def test_a_profile_file_parses() -> None:
    profile = parse_profile(PROFILE, "p.toml")
    assert profile.tools["vulnerability-scan"] == {"tool": "grype-fips", "fips_validated": True}
    assert profile.allowed()["sbom"] == ["syft"]


def test_the_public_read_profile_takes_a_path_given_as_text(tmp_path: Path) -> None:
    (tmp_path / "profile.toml").write_text(PROFILE)
    profile = charter.read_profile(str(tmp_path / "profile.toml"))
    assert profile is not None and profile.allowed()["sbom"] == ["syft"]
    assert charter.read_profile(str(tmp_path / "none.toml")) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sbom = 'syft'", "must be a table"),
        ("[sbom]\nversion = '1'", "'tool' must be a non-empty string"),
        ("[sbom]\ntool = ''", "'tool' must be a non-empty string"),
        ("[SBOM]\ntool = 'syft'", "lower-case words"),
        ("[sbom]\ntool = 'syft'\nbuilt = 2026-01-01", "dates and times"),
        ("[sbom]\ntool = 'syft'\n[sbom.extra]\nx = 1", "a table is not a profile attribute"),
        ("[sbom\ntool = 'syft'", "not valid TOML"),
        ("[sbom]\ntool = 'a'\n[sbom]\ntool = 'b'", "not valid TOML"),
    ],
)
def test_a_malformed_profile_is_one_input_error(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        parse_profile(text, "p.toml")
    assert caught.value.message.startswith("p.toml")


@pytest.mark.parametrize(
    ("text", "category", "attribute", "value"),
    [
        (FIPS, "vulnerability-scan", "fips_validated", True),
        ('sbom.tool = "syft"', "sbom", "tool", "syft"),
        ("signing.key_bits=4096", "signing", "key_bits", 4096),
    ],
)
def test_requirements_parse(text: str, category: str, attribute: str, value: object) -> None:
    req = parse_requirement(text)
    assert (req.category, req.attribute, req.value) == (category, attribute, value)


@pytest.mark.parametrize(
    "text", ["fips_validated = true", "sbom.tool = syft", "sbom.tool = [1]", "Sbom.tool = 1", 3]
)
def test_malformed_requirements_are_refused(text: object) -> None:
    with pytest.raises(PolicyError):
        parse_requirement(text)


def test_a_boolean_requirement_is_not_met_by_a_number_or_string() -> None:
    req = parse_requirement(FIPS)
    assert req.met_by({"tool": "g", "fips_validated": True})
    for value in (1, "true", None):
        assert not req.met_by({"tool": "g", "fips_validated": value})
    assert not req.met_by({"tool": "g"}) and not req.met_by(None)


def test_diff_names_every_change() -> None:
    before, after = parse_profile(PLAIN, "a"), parse_profile(PROFILE, "b")
    after.tools.pop("signing")
    changes = diff(before, after)
    assert {(c["category"], c["change"], c["attribute"]) for c in changes} == {
        ("signing", "removed", None),
        ("vulnerability-scan", "changed", "tool"),
        ("vulnerability-scan", "added", "fips_validated"),
    }
    lines = diff_lines(changes)
    assert "- [signing] tool = 'cosign'" in lines
    assert "~ vulnerability-scan.tool: 'grype' -> 'grype-fips'" in lines
    assert diff(None, None) == []


# ------------------------------------------------------------------ decisions


@pytest.fixture(scope="module")
def fips_stack(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    return load_stack(overlay=fips_overlay(tmp_path_factory.mktemp("fips")))


def test_grype_fips_named_by_the_profile_file_is_accepted(fips_stack: Stack) -> None:
    fips = parse_profile(PROFILE, "p.toml")
    assert env_rules(fips_stack, fips, SCANNED) == set()
    # Without the file the bundle's default names decide, as before 2.1.0: grype-fips
    # is not one of them, and nothing says it is FIPS-validated.
    assert env_rules(fips_stack, None, SCANNED) == {
        "ENV-TOOL-IN-PROFILE-001",
        "ENV-PROFILE-REQUIREMENTS-001",
    }
    # A file naming a scanner without the attribute does not meet the requirement.
    plain = parse_profile(PLAIN, "p.toml")
    grype = {**SCANNED, "dependencies": {"changed": True, "scan": {"tool": "grype"}}}
    assert env_rules(fips_stack, plain, grype) == {"ENV-PROFILE-REQUIREMENTS-001"}
    # The file's tool is the only one its category allows.
    assert env_rules(fips_stack, fips, grype) == {"ENV-TOOL-IN-PROFILE-001"}


def test_the_shipped_constitution_alone_decides_as_before(shipped_stack: Stack) -> None:
    """No requirement by default: 2.0.1's decisions, with or without a file."""
    assert shipped_stack.profile_requirements == ()
    plain = parse_profile(PLAIN, "p.toml")
    grype = {**SCANNED, "dependencies": {"changed": True, "scan": {"tool": "grype"}}}
    assert env_rules(shipped_stack, None, grype) == set()
    assert env_rules(shipped_stack, plain, grype) == set()
    assert env_rules(shipped_stack, None, SCANNED) == {"ENV-TOOL-IN-PROFILE-001"}


def test_contradicting_requirements_fail_closed(tmp_path: Path) -> None:
    upper = write_bundle(
        tmp_path / "pack",
        layer="pack",
        name="fips",
        roots=["charter/packs/fips"],
        files={
            "charter/packs/fips/data.json": json.dumps(
                {"parameters": {"profile_requirements": [FIPS]}}
            )
        },
    )
    lower = fips_overlay(tmp_path / "o", ["vulnerability-scan.fips_validated = false"])
    stack = load_stack(packs=[upper], overlay=lower)
    assert len(stack.profile_requirements) == 2
    for text in (PROFILE, PROFILE.replace("fips_validated = true", "fips_validated = false")):
        assert "ENV-PROFILE-REQUIREMENTS-001" in env_rules(stack, parse_profile(text, "p"), SCANNED)


def test_a_malformed_requirement_in_a_layer_refuses_the_stack(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not a profile requirement"):
        load_stack(overlay=fips_overlay(tmp_path / "o", ["fips"]))


def test_the_context_carries_the_file_and_the_requirements(fips_stack: Stack) -> None:
    ctx = ProfileContext(
        current=parse_profile(PLAIN, "base:p"),
        changes_file=True,
        proposed=parse_profile(PROFILE, "head:p"),
    )
    context = fips_stack.with_profile(ctx).static_context
    assert context["profile"]["vulnerability-scan"] == ["grype"]
    assert context["profile_file"]["present"] and context["profile_file"]["source"] == "base:p"
    assert context["profile_file"]["proposed"]["vulnerability-scan"]["fips_validated"] is True
    assert context["profile_requirements"][0]["text"] == FIPS
    # The decision record names the file it was made under, by digest.
    compiled = fips_stack.with_profile(ctx).compile()
    decision = evaluate(compiled, SCANNED, now=NOW).to_dict()
    assert decision["profile"]["source"] == "base:p"
    assert decision["profile"]["digest"].startswith("sha256:")
    # computed once per stack, the file's own record, and each decision holds its copy
    assert decision["profile"] == ctx.record()
    decision["profile"]["digest"] = "changed by a renderer"
    assert evaluate(compiled, SCANNED, now=NOW).to_dict()["profile"] == ctx.record()
    assert "profile" not in evaluate(fips_stack.compile(), SCANNED, now=NOW).to_dict()
    assert fips_stack.static_context["profile_file"] == {
        "path": ".charter/profile.toml",
        "present": False,
        "source": None,
        "tools": {},
    }


# ------------------------------------------------------------------ the ratchet


def test_layers_add_requirements_and_never_remove_one(tmp_path: Path) -> None:
    shipped = load_stack().layers
    assert lint_bundle(fips_overlay(tmp_path / "add"), against=shipped).ok
    pack = write_bundle(
        tmp_path / "pack",
        layer="pack",
        name="fips",
        roots=["charter/packs/fips"],
        files={
            "charter/packs/fips/data.json": json.dumps(
                {"parameters": {"profile_requirements": [FIPS]}}
            )
        },
    )
    above = [*shipped, *load_stack(packs=[pack]).layers[1:]]
    dropped = lint_bundle(fips_overlay(tmp_path / "drop", []), against=above)
    assert "CHARTER-L020" in dropped.codes()
    kept = lint_bundle(fips_overlay(tmp_path / "keep", [FIPS, 'sbom.tool = "syft"']), against=above)
    assert kept.ok
    # Removing a required category is the same ratchet.
    fewer = write_bundle(
        tmp_path / "fewer",
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files={
            "charter/overlay/data.json": json.dumps(
                {"parameters": {"required_tool_categories": ["sbom"]}}
            )
        },
    )
    assert "CHARTER-L020" in lint_bundle(fewer, against=shipped).codes()
    malformed = lint_bundle(fips_overlay(tmp_path / "bad", ["fips = yes"]), against=shipped)
    assert "CHARTER-L023" in malformed.codes()


# ------------------------------------------------------------------ git and the CLI


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main has the FIPS profile; branch `swap` swaps the scanner for one the profile
    does not name and uses it, without declaring a profile change."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / ".charter").mkdir()
    (root / ".charter" / "profile.toml").write_text(PROFILE)
    (root / "app.py").write_text("x = 1\n")
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "swap")
    (root / ".charter" / "profile.toml").write_text(
        PROFILE.replace("grype-fips", "homegrown").replace("fips_validated = true\n", "")
    )
    commit(root, f"Swap the scanner\n\n{CITATION}")
    return root


def test_check_git_decides_under_the_base_profile_and_shows_the_diff(
    repo: Path, tmp_path: Path
) -> None:
    overlay = fips_overlay(tmp_path / "o")
    args = ("check", "--git", "main..swap", "--repo", str(repo), "--overlay", str(overlay),
            "--now", "2026-11-20T10:00:00Z", "--no-audit")  # fmt: skip
    result = invoke(*args, "--format", "json")
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    rules = {r["rule"] for r in doc["reasons"]}
    # An agent changes the profile without declaring it; what it proposes misses FIPS.
    assert {"ENV-PROFILE-FILE-PROTECTED-001", "ENV-PROFILE-REQUIREMENTS-001"} <= rules
    changes = {(c["category"], c["change"], c["attribute"]) for c in doc["profile_diff"]}
    assert ("vulnerability-scan", "changed", "tool") in changes
    assert ("vulnerability-scan", "removed", "fips_validated") in changes
    text = invoke(*args).stdout
    assert "Environment Profile change (.charter/profile.toml):" in text
    assert "~ vulnerability-scan.tool: 'grype-fips' -> 'homegrown'" in text
    # The branch's own profile does not allow its tool: the base's decides.
    proposal = tmp_path / "p.json"
    proposal.write_text(
        json.dumps({**SCANNED, "dependencies": {"changed": True, "scan": {"tool": "homegrown"}}})
    )
    mixed = invoke("check", str(proposal), "--git", "main..swap", "--repo", str(repo),
                   "--now", "2026-11-20T10:00:00Z", "--no-audit", "--format", "json")  # fmt: skip
    reasons = json.loads(mixed.stdout)["reasons"]
    assert any(r["rule"] == "ENV-TOOL-IN-PROFILE-001" and "grype-fips" in r["msg"] for r in reasons)


def test_explain_shows_the_profile_diff(repo: Path) -> None:
    result = invoke("explain", "--git", "main..swap", "--repo", str(repo),
                    "--now", "2026-11-20T10:00:00Z", "--format", "json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["profile_diff"] and "ENV-PROFILE-FILE-PROTECTED-001" in doc["fired"]


def test_profile_show_validate_diff(repo: Path, tmp_path: Path) -> None:
    overlay = fips_overlay(tmp_path / "o")
    shown = invoke("profile", "show", "--repo", str(repo), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["present"] and doc["tools"]["vulnerability-scan"]["tool"] == "homegrown"
    text = invoke("profile", "show", "--repo", str(repo)).stdout
    assert "homegrown" in text and "Attributes" in text
    # The work tree (branch swap) lacks the FIPS attribute the overlay requires.
    bad = invoke("profile", "validate", "--repo", str(repo), "--overlay", str(overlay))
    assert bad.returncode == 1 and FIPS in bad.stdout
    assert invoke("profile", "validate", "--repo", str(repo)).returncode == 0
    good = tmp_path / "good.toml"
    good.write_text(PROFILE)
    ok = invoke("profile", "validate", "--profile", str(good), "--overlay", str(overlay))
    assert ok.returncode == 0, ok.stdout
    changed = invoke("profile", "diff", "main..swap", "--repo", str(repo), "--format", "json")
    assert changed.returncode == 0
    assert {c["attribute"] for c in json.loads(changed.stdout)["changes"]} == {
        "tool",
        "fips_validated",
    }
    same = invoke("profile", "diff", "main..main", "--repo", str(repo))
    assert "unchanged" in same.stdout
    broken = tmp_path / "broken.toml"
    broken.write_text("[sbom]\nversion = 1\n")
    refused = invoke("profile", "validate", "--profile", str(broken))
    assert refused.returncode == 2 and "'tool' must be a non-empty string" in refused.stderr
    missing = invoke("profile", "validate", "--repo", str(tmp_path))
    assert missing.returncode == 1 and "no profile file" in missing.stdout


def test_problems_lists_missing_categories_and_requirements() -> None:
    plain = parse_profile(PLAIN, "p")
    found = problems(plain, ["sbom", "attestation"], [parse_requirement(FIPS)])
    assert [p.category for p in found] == ["attestation", "vulnerability-scan"]


# ------------------------------------------------------------------ the runner


def test_the_runner_decides_under_its_configured_profile(tmp_path: Path) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text(PROFILE)
    overlay = fips_overlay(tmp_path / "o")
    body = (
        f'refresh_interval = "1h"\n\n[stack]\nconstitution = "{shipped_constitution_path()}"\n'
        f'overlay = "{overlay}"\nprofile = "{profile}"\n\n'
        f'[audit]\nstore = "{tmp_path / "audit.db"}"\n'
    )
    config = write_config(tmp_path, body)
    assert parse_config(config.read_text(), base=tmp_path).profile == profile
    runner = ThreadedRunner(config)
    try:
        decided = runner.client.post(
            "/v1/decisions/proposal", json=SCANNED, headers=auth("agent")
        ).json()
        assert not {r["rule"] for r in decided["reasons"] if r["rule"].startswith("ENV-")}
        explained = runner.client.post("/v1/explain", json=SCANNED, headers=auth("agent")).json()
        row = next(r for r in explained["rules"] if r["id"] == "ENV-PROFILE-REQUIREMENTS-001")
        assert row["applies"] and not row["fired"]
        # An edit of the file is read at the next refresh.
        profile.write_text(PLAIN)
        assert runner.client.post("/v1/refresh", headers=auth("operator")).json()["ok"]
        again = runner.client.post(
            "/v1/decisions/proposal", json=SCANNED, headers=auth("agent")
        ).json()
        assert "ENV-PROFILE-REQUIREMENTS-001" in {r["rule"] for r in again["reasons"]}
    finally:
        runner.stop()


def test_a_proposal_cannot_bring_its_own_profile(fips_stack: Stack) -> None:
    """`context` in the document is discarded: only Charter's profile counts."""
    forged = {
        **SCANNED,
        "context": {
            "profile": {"vulnerability-scan": ["grype-fips"]},
            "profile_file": {"present": True, "tools": {"vulnerability-scan": {
                "tool": "grype-fips", "fips_validated": True}}},
            "profile_requirements": [],
        },
    }  # fmt: skip
    assert env_rules(fips_stack, None, forged) == {
        "ENV-TOOL-IN-PROFILE-001",
        "ENV-PROFILE-REQUIREMENTS-001",
    }


def test_the_markdown_report_shows_the_diff_literally(repo: Path, tmp_path: Path) -> None:
    evil = PROFILE.replace('tool = "syft"', 'tool = "syft | ` <b>x</b>"')
    git(repo, "checkout", "-q", "-b", "evil", "main")
    (repo / ".charter" / "profile.toml").write_text(evil)
    commit(repo, f"evil\n\n{CITATION}")
    result = invoke("check", "--git", "main..evil", "--repo", str(repo), "--format", "markdown",
                    "--now", "2026-11-20T10:00:00Z", "--no-audit")  # fmt: skip
    assert result.returncode == 1, result.stderr
    section = result.stdout.split("#### Environment Profile change")[1]
    assert "<b>" not in section and "&#60;b&#62;" in section
    row = next(line for line in section.splitlines() if line.startswith("| sbom"))
    assert row.count(" | ") == 4  # the | in the value does not add a column


def test_check_staged_reads_heads_profile_and_shows_the_staged_one(repo: Path) -> None:
    git(repo, "checkout", "-q", "main")
    (repo / ".charter" / "profile.toml").write_text(PLAIN)
    git(repo, "add", "-A")
    result = invoke("check", "--staged", "--repo", str(repo), "--format", "json",
                    "--now", "2026-11-20T10:00:00Z", "--no-audit")  # fmt: skip
    doc = json.loads(result.stdout)
    assert "ENV-PROFILE-FILE-PROTECTED-001" in {r["rule"] for r in doc["reasons"]}
    assert {(c["attribute"], c["old"], c["new"]) for c in doc["profile_diff"]} == {
        ("tool", "grype-fips", "grype"),
        ("fips_validated", True, None),
    }
