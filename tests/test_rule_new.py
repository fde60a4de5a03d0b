"""`charter rule new`: generated rules pass their own tests and lint; options stay data.

Each template case builds one rule through the real command line, then runs
`rule test FILE` and `rule lint FILE` on it (in-process, see cli_helpers). Git
cases use a real repository.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter.policy.applies import EVERYTHING
from charter.policy.bundle import load_directory
from charter.policy.decision import evaluate
from charter.policy.engine import Engine
from charter.policy.explain import explain, hypothetical
from charter.policy.stack import load_stack
from charter.policy.templates import Options, generate, rego_string
from tests.cli_helpers import CliResult, invoke

EXAMPLE_OVERLAY = Path(__file__).resolve().parents[1] / "examples" / "overlay"
HOSTILE = 'q"uo\\te\n}\n# METADATA\ndeny contains {"rule": "X"} if true\u2028`'


@pytest.fixture
def overlay(tmp_path: Path) -> Path:
    target = tmp_path / "overlay"
    shutil.copytree(EXAMPLE_OVERLAY, target)
    return target


def new(overlay: Path, *args: str) -> CliResult:
    return invoke("rule", "new", *args, "--dir", str(overlay), "--no-git")


def written(result: CliResult) -> Path:
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("Wrote "))
    return Path(line.removeprefix("Wrote ").strip())


CASES = {
    "change-ticket": ("change-ticket", "--id", "CM-TICKET-NEW-001"),
    "change-ticket-custom": (
        "change-ticket", "--id", "OPS-TICKET-001", "--pattern", r"OPS-[0-9]{3,}",
        "--example", "OPS-4711", "--kind", "merge", "--kind", "push", "--environment", "*",
        "--ask-label", "Emergency",
    ),
    "deploy-window-sunday-night": (
        "deploy-window", "--id", "DEPLOY-SUNDAY-001", "--path", "services/payments/**",
        "--day", "Sun", "--start", "22:00", "--end", "02:00", "--tz", "UTC",
    ),
    "deploy-window-freeze-zone": (
        "deploy-window", "--id", "DEPLOY-FREEZE-001", "--path", "services/*/deploy.yaml",
        "--day", "Fri,Sat", "--start", "09:00", "--end", "17:30", "--tz", "America/New_York",
        "--mode", "freeze",
    ),
    "approver": (
        "approver", "--id", "SEC-SG-APPROVER-001", "--path", "infra/security-groups/**",
        "--path", "terraform/sg/*.tf", "--group", "security",
    ),
    "blank": ("blank", "--id", "TEAM-BLANK-001"),
}  # fmt: skip

#: For each case: (kind, changed path, whether `explain` lists the rule as applying) —
#: its applies_to follows the options (kinds; the path globs where the template has them).
APPLIES = {
    "change-ticket": [("merge", "README.md", True), ("pull_request", "README.md", False),
                      ("push", "README.md", False)],
    "change-ticket-custom": [("push", "a/b.py", True), ("merge", "a/b.py", True),
                             ("pull_request", "a/b.py", False), ("release", "a/b.py", False)],
    "deploy-window-sunday-night": [("merge", "services/payments/api.py", True),
                                   ("push", "services/payments/a/b.py", True),
                                   ("merge", "services/billing/api.py", False),
                                   ("pull_request", "services/payments/api.py", False)],
    "deploy-window-freeze-zone": [("merge", "services/web/deploy.yaml", True),
                                  ("merge", "services/web/other.yaml", False),
                                  ("merge", "services/web/x/deploy.yaml", False)],
    "approver": [("merge", "infra/security-groups/a/b.tf", True),
                 ("merge", "terraform/sg/web.tf", True), ("merge", "terraform/sg/a/b.tf", False),
                 ("merge", "infra/network/a.tf", False),
                 ("pull_request", "infra/security-groups/a.tf", False)],
    # Blank: a commented example only, so the rule applies to every change.
    "blank": [("pull_request", "anything/else.md", True), ("release", "x", True)],
}  # fmt: skip


def _applies(overlay: Path, rule_id: str, changes: list[tuple[str, str, bool]]) -> None:
    stack = load_stack(overlay=overlay)
    compiled = stack.compile()
    for kind, path, expected in changes:
        document = hypothetical(modifies=[path], kind=kind, author_type="human")
        now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
        result = explain(stack, evaluate(compiled, document, now=now), document)
        assert (rule_id in result["applies"]) is expected, (kind, path)


@pytest.mark.parametrize("args", CASES.values(), ids=list(CASES))
def test_generated_rule_passes_its_tests_and_lint(overlay: Path, args: tuple[str, ...]) -> None:
    rule = written(new(overlay, *args))
    assert rule.is_file() and rule.with_name(f"{rule.stem}_test.rego").is_file()
    tested = invoke("rule", "test", str(rule))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # Only this rule's tests ran (the example overlay's own tests are not in the report).
    assert "ticket_required_test" not in tested.stdout
    assert tested.stdout.count(": PASS") >= 2
    assert ": FAIL" not in tested.stdout
    linted = invoke("rule", "lint", str(rule))
    assert linted.returncode == 0, linted.stdout
    assert "0 error(s), 0 warning(s)" in linted.stdout
    rules = {r.id: r for r in load_directory(overlay).rules}
    assert args[2] in rules
    case = next(k for k, v in CASES.items() if v == args)
    _applies(overlay, args[2], APPLIES[case])
    if args[0] == "blank":
        assert rules[args[2]].applies_to == EVERYTHING
        assert "#   # applies_to:" in rule.read_text()


def test_deploy_window_tests_catch_an_off_by_one_at_the_end(overlay: Path) -> None:
    rule = written(new(overlay, *CASES["deploy-window-sunday-night"]))
    test_file = rule.with_name(f"{rule.stem}_test.rego").read_text()
    for name in ("at_start_allowed", "one_minute_before_start_denied", "at_end_denied",
                 "last_minute_inside_allowed", "rename_out_of_path_denied"):  # fmt: skip
        assert f"test_{name} if" in test_file
    # 02:00 itself is outside: making the end inclusive must fail the generated tests.
    source = rule.read_text()
    assert "minute_of_day < end_minute" in source
    rule.write_text(source.replace("minute_of_day < end_minute", "minute_of_day <= end_minute"))
    result = invoke("rule", "test", str(rule))
    assert result.returncode == 1
    assert "test_at_end_denied: FAIL" in result.stdout


def test_change_ticket_tests_catch_a_rule_that_ignores_the_branch(overlay: Path) -> None:
    rule = written(new(overlay, *CASES["change-ticket"]))
    source = rule.read_text()
    rule.write_text(source.replace("regex.match(ticket_pattern, input.head)", "false"))
    result = invoke("rule", "test", str(rule))
    assert result.returncode == 1
    assert "test_ticket_in_branch_allowed: FAIL" in result.stdout


def test_hostile_option_values_stay_data(overlay: Path) -> None:
    result = new(
        overlay, "approver", "--id", "SEC-HOSTILE-001", "--path", 'infra/a"b\nc/**',
        "--example-path", 'infra/a"b\nc/d', "--group", HOSTILE, "--title", HOSTILE,
        "--description", HOSTILE, "--citation", HOSTILE, "--link", HOSTILE,
    )  # fmt: skip
    rule = written(result)
    assert invoke("rule", "test", str(rule)).returncode == 0
    assert invoke("rule", "lint", str(rule)).returncode == 0
    layer = load_directory(overlay)
    (meta,) = [r for r in layer.rules if r.id == "SEC-HOSTILE-001"]
    assert (meta.title, meta.description, meta.citation) == (HOSTILE, HOSTILE, HOSTILE)
    assert meta.links == (HOSTILE,)
    # The globs reach applies_to as data too (YAML-escaped in the METADATA block).
    assert meta.applies_to.paths == ('infra/a"b\nc/**',)
    assert meta.applies_to.kinds == ("merge",)
    engine = Engine()
    module = next(m for m in layer.policy_modules if m.path.endswith("sec_hostile_001.rego"))
    engine.add_module(module.path, module.source)
    assert engine.eval_rule(f"data.{module.info.package}.approver_group") == HOSTILE
    # The module holds exactly the template's rules: nothing came from the values.
    assert module.info.rule_names == {
        "rule_id", "kinds", "path_globs", "file_paths", "touches_paths", "approver_group",
        "counting_approval", "approved", "deny",
    }  # fmt: skip
    assert [x for x in module.source.splitlines() if x.startswith("deny")] == [
        'deny contains {"rule": rule_id, "msg": msg} if {'
    ]


@given(st.text(max_size=40))
def test_rego_string_round_trips_any_text(value: str) -> None:
    engine = Engine()
    engine.add_module("p.rego", f"package p\n\nimport rego.v1\n\nv := {rego_string(value)}\n")
    assert engine.eval_rule("data.p.v") == value


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("change-ticket", "--id", "X-TICKET-1", "--pattern", "CM-("), "regular expression"),
        (("change-ticket", "--id", "X-TICKET-1", "--pattern", "(?=CM)CM-1"), "regular expression"),
        (("change-ticket", "--id", "X-TICKET-1", "--pattern", ".*"), "--pattern"),
        (("change-ticket", "--id", "X-TICKET-1", "--pattern", "JIRA-\\d+"), "--example"),
        (("change-ticket", "--id", "X-TICKET-1", "--group", "security"), "--group"),
        (("deploy-window", "--id", "X-WIN-1", "--path", "s/**", "--start", "25:00"), "25:00"),
        (("deploy-window", "--id", "X-WIN-1", "--path", "s/**", "--end", "2pm"), "2pm"),
        (("deploy-window", "--id", "X-WIN-1", "--path", "s/**", "--tz", "Mars/Olympus"), "Mars"),
        (("deploy-window", "--id", "X-WIN-1", "--path", "s/**", "--tz", "../etc/x"), "--tz"),
        (("deploy-window", "--id", "X-WIN-1", "--path", "s/**", "--day", "Funday"), "Funday"),
        (("deploy-window", "--id", "X-WIN-1", "--path", "s/**", "--start", "02:00",
          "--end", "02:00"), "same time"),
        (("deploy-window", "--id", "X-WIN-1", "--path", "**"), "every path"),
        (("deploy-window", "--id", "X-WIN-1", "--path", 'infra/"x}/**'), "cannot read"),
        (("deploy-window", "--id", "X-WIN-1"), "--path"),
        (("approver", "--id", "X-APP-1", "--path", "infra/**"), "--group"),
        (("approver", "--id", "x-app-1", "--path", "infra/**", "--group", "g"), "stable rule id"),
        (("approver", "--id", "PROC-NO-SELF-APPROVAL-001", "--path", "infra/**", "--group", "g"),
         "already used"),
        (("bogus", "--id", "X-APP-1"), "no template"),
    ],
)  # fmt: skip
def test_bad_options_are_one_line_errors(overlay: Path, args: tuple[str, ...], needle: str) -> None:
    before = sorted(p for p in overlay.rglob("*"))
    result = new(overlay, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert sorted(p for p in overlay.rglob("*")) == before


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE_OVERLAY, root / "policy")
    git(root.parent, "init", "-q", "-b", "main", str(root))
    git(root, "config", "user.name", "Rule Author")
    git(root, "config", "user.email", "author@example.com")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    return root


def test_in_git_it_commits_on_a_policy_branch_and_prints_the_pr(repo: Path) -> None:
    (repo / "notes.txt").write_text("unstaged work stays out of the commit\n")
    result = invoke(
        "rule", "new", "change-ticket", "--id", "CM-GIT-001", "--dir", str(repo / "policy")
    )
    assert result.returncode == 0, result.stderr
    assert git(repo, "branch", "--show-current").strip() == "policy/cm-git-001"
    files = git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert files == [
        "policy/charter/overlay/change_management/cm_git_001.rego",
        "policy/charter/overlay/change_management/cm_git_001_test.rego",
    ]
    assert (
        git(repo, "log", "-1", "--format=%an <%ae>").strip() == "Rule Author <author@example.com>"
    )
    subject = git(repo, "log", "-1", "--format=%s").strip()
    assert subject == "policy: add CM-GIT-001 (Changes name their change ticket)"
    assert subject in result.stdout
    sections = ("PR title:", "## Why", "## What it denies", "## Edge cases handled",
                "## Waivers expected", "```charter", "test_ticket_in_branch_allowed")  # fmt: skip
    for section in sections:
        assert section in result.stdout
    assert "?? notes.txt" in git(repo, "status", "--short")


def test_a_dirty_index_is_refused_before_anything_is_written(repo: Path) -> None:
    (repo / "unrelated.txt").write_text("staged, not mine\n")
    git(repo, "add", "unrelated.txt")
    result = invoke("rule", "new", "blank", "--id", "TEAM-DIRTY-001", "--dir", str(repo / "policy"))
    assert result.returncode == 2
    assert "staged changes" in result.stderr
    assert git(repo, "branch", "--show-current").strip() == "main"
    assert not list((repo / "policy").rglob("team_dirty_001*"))
    assert git(repo, "diff", "--cached", "--name-only").split() == ["unrelated.txt"]


def test_no_git_writes_files_without_a_commit(repo: Path) -> None:
    result = invoke(
        "rule", "new", "blank", "--id", "TEAM-NOGIT-001", "--dir", str(repo / "policy"), "--no-git"
    )
    assert result.returncode == 0, result.stderr
    assert git(repo, "branch", "--show-current").strip() == "main"
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "1"
    assert "?? policy/charter/overlay/general/" in git(repo, "status", "--short")


def test_single_files_outside_a_bundle_are_one_line_errors(tmp_path: Path) -> None:
    lone = tmp_path / "lone.rego"
    lone.write_text("package lone\n\nimport rego.v1\n")
    for command in ("test", "lint"):
        result = invoke("rule", command, str(lone))
        assert result.returncode == 2
        assert "no .manifest" in result.stderr and ".manifest into" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_rule_test_on_a_test_file_runs_only_that_file(overlay: Path) -> None:
    test_file = overlay / "charter/overlay/change_management/ticket_required_test.rego"
    result = invoke("rule", "test", str(test_file))
    assert result.returncode == 0, result.stdout
    assert "PASS: 5/5" in result.stdout


def test_generate_uses_the_bundle_root_as_package_prefix() -> None:
    rule = generate("blank", "TEAM-PKG-001", "charter/packs/acme", Options(category="ops"))
    assert rule.package == "charter.packs.acme.ops.team_pkg_001"
    assert rule.rule_path == "charter/packs/acme/ops/team_pkg_001.rego"


TRICKY_WINDOWS = [
    Options(paths=("svc/**",), days=("Sat,Sun",), start="23:30", end="00:30",
            time_zone="Asia/Kolkata"),
    Options(paths=("svc/**",), days=("Mon",), start="00:00", end="06:00",
            time_zone="Pacific/Auckland"),
    Options(paths=("svc/**",), days=("Fri",), start="18:00", end="00:00", mode="freeze"),
    Options(paths=("svc/**",), days=("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
            start="22:00", end="02:00", time_zone="America/Los_Angeles"),
]  # fmt: skip


@pytest.mark.parametrize("options", TRICKY_WINDOWS, ids=["ist", "nz-midnight", "freeze", "daily"])
def test_tricky_windows_pass_their_own_boundary_tests(tmp_path: Path, options: Options) -> None:
    shutil.copy(EXAMPLE_OVERLAY / ".manifest", tmp_path / ".manifest")
    rule = generate("deploy-window", "DEPLOY-TRICKY-001", "charter/overlay", options)
    for rel, text in ((rule.rule_path, rule.rule_source), (rule.test_path, rule.test_source)):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    result = invoke("rule", "test", str(tmp_path / rule.rule_path))
    assert result.returncode == 0, result.stdout
    assert "PASS: 8/8" in result.stdout or "PASS: 7/7" in result.stdout


@pytest.mark.parametrize(
    ("now", "fires"),
    [
        ("2026-01-11T21:59:00Z", True),
        ("2026-01-11T22:00:00Z", False),
        ("2026-01-12T01:59:00Z", False),
        ("2026-01-12T02:00:00Z", True),
    ],
)
def test_the_generated_window_reads_charters_own_clock(
    overlay: Path, tmp_path: Path, now: str, fires: bool
) -> None:
    written(new(overlay, *CASES["deploy-window-sunday-night"]))
    proposal = tmp_path / "proposal.json"
    proposal.write_text(
        '{"kind": "merge", "repository": "acme/platform", "environment": "production",'
        ' "author": {"id": "alice", "type": "human"}, "head": "feature/cm-1", "body": "CM-1",'
        ' "files": [{"path": "services/payments/api.py", "status": "modified"}]}'
    )
    result = invoke(
        "check", str(proposal), "--overlay", str(overlay), "--now", now, "--format", "json"
    )
    assert result.returncode in (0, 1), result.stderr
    rules = {r.get("rule") for r in json.loads(result.stdout)["reasons"]}
    assert ("DEPLOY-SUNDAY-001" in rules) is fires


def test_the_blank_rules_commented_applies_to_holds_once_uncommented(overlay: Path) -> None:
    rule = written(new(overlay, "blank", "--id", "TEAM-BLANK-002", "--path", "ops/**"))
    source = rule.read_text()
    assert '#   #   paths: ["ops/**"]' in source
    rule.write_text(source.replace("#   # ", "#   ").replace(
        "#   what the rule looks at: uncomment and edit (rule lint checks it)\n", ""
    ))  # fmt: skip
    linted = invoke("rule", "lint", str(rule))
    assert linted.returncode == 0 and "0 error(s), 0 warning(s)" in linted.stdout, linted.stdout
    _applies(overlay, "TEAM-BLANK-002", [("merge", "ops/a.yaml", True),
                                         ("merge", "dev/a.yaml", False)])  # fmt: skip
