"""The GitHub Action (action.yml) and `charter ci github`, the one command its steps run.

action.yml is parsed and its `run:` steps checked: one installs Charter, one runs
`charter ci github` with the action's inputs passed as the documented environment
variables (never interpolated into the script). That step is then run exactly as
written — its environment filled in the way the runner fills it — against real git
repositories and the real octokit webhook payloads of tests/assets/github/ (their
shas pointed at the test repository's commits), with GITHUB_EVENT_PATH,
GITHUB_STEP_SUMMARY and GITHUB_OUTPUT pointing at temporary files.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from charter import cli
from tests.cli_helpers import CliResult, invoke
from tests.github_api_helpers import FakeGitHub, Override, pull_lists, serve
from tests.test_cli_ci_formats import valid_sarif
from tests.test_facts_git import commit, git
from tests.test_facts_github import ASSETS
from tests.test_precommit import private_key

ROOT = Path(__file__).parent.parent
ACTION = ROOT / "action.yml"
NOW = "2026-11-20T10:00:00Z"
CITATION = (
    '```charter\nrules: [CRED-NO-CREDENTIAL-FILES-001]\nblast_radius: "docs only"\n'
    'rollback: "git revert"\n```\n'
)
PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")


def action() -> dict[str, Any]:
    loaded = yaml.safe_load(ACTION.read_text())
    assert isinstance(loaded, dict)
    return loaded


def steps() -> list[dict[str, Any]]:
    return list(action()["runs"]["steps"])


def decide_step() -> dict[str, Any]:
    (step,) = [s for s in steps() if s.get("id") == "decide"]
    return step


# --- the action's definition ---


def test_the_action_is_composite_with_pinned_actions() -> None:
    spec = action()
    assert spec["runs"]["using"] == "composite"
    used = [s["uses"] for s in steps() if "uses" in s]
    assert used and all(PINNED.fullmatch(u) for u in used), used
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in used)


def test_run_steps_install_charter_and_run_the_one_command() -> None:
    runs = [s for s in steps() if "run" in s]
    assert [s["run"].strip() for s in runs] == [
        'python -I -m pip install --disable-pip-version-check --quiet "$CHARTER_SOURCE"',
        "charter ci github",
    ]
    assert runs[0]["env"] == {"CHARTER_SOURCE": "${{ github.action_path }}"}
    for step in runs:
        assert step["shell"] == "bash"
        assert "${{" not in step["run"]  # inputs reach scripts only through the environment


def test_the_install_step_runs_no_code_of_the_checkout(tmp_path: Path) -> None:
    # The runner runs the step in $GITHUB_WORKSPACE, the pull request's checkout;
    # `python -m` puts the working directory first on sys.path, so a `pip` package the
    # change adds ran instead of pip — the agent's code, before Charter decided anything.
    checkout = tmp_path / "checkout"
    (checkout / "pip").mkdir(parents=True)
    (checkout / "pip" / "__init__.py").write_text("")
    (checkout / "pip" / "__main__.py").write_text("print('the checkout ran')\n")
    (install,) = [s for s in steps() if "run" in s and "pip" in s["run"]]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CHARTER_", "PIP_"))},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        # A source pip refuses at once: no build, no network; the hostile pip would not care.
        "CHARTER_SOURCE": str(tmp_path / "no-such-source"),
    }
    done = subprocess.run(
        [install["shell"], "-c", install["run"]],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert "the checkout ran" not in done.stdout + done.stderr
    assert done.returncode != 0 and "no-such-source" in done.stderr  # the real pip refused it


def ci_github_envvars() -> dict[str, str]:
    cli._load_commands(["ci"])
    group = typer.main.get_group(cli.app)
    command = group.commands["ci"].commands["github"]  # type: ignore[attr-defined]
    found = {}
    for param in command.params:
        if isinstance(param.envvar, str):
            found[param.envvar] = param.name or ""
    return found


def test_every_input_reaches_an_option_of_the_command() -> None:
    env = decide_step()["env"]
    options = ci_github_envvars()
    inputs = set(action()["inputs"])
    used = set()
    for variable, value in env.items():
        match = re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", value)
        assert match, (variable, value)
        used.add(match.group(1))
        assert variable in options or variable == "GITHUB_TOKEN", variable
    assert inputs - used == {"python-version"}  # used by setup-python
    # What the runner sets itself is read by the command too.
    assert {"GITHUB_EVENT_PATH", "GITHUB_WORKSPACE", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"} <= set(
        options
    )


def test_sarif_is_uploaded_only_when_written() -> None:
    (upload,) = [s for s in steps() if s.get("uses", "").startswith("github/codeql-action/")]
    assert "steps.decide.outputs.sarif != ''" in upload["if"]
    assert "!cancelled()" in upload["if"]  # also after a deny failed the decide step
    assert upload["with"]["sarif_file"] == "${{ steps.decide.outputs.sarif }}"


def test_outputs_come_from_the_decide_step() -> None:
    outputs = action()["outputs"]
    for name in ("verdict", "exit-code", "decision-id", "built-from"):
        assert outputs[name]["value"] == f"${{{{ steps.decide.outputs.{name} }}}}"


# --- the decide step, run as written ---


def step_env(inputs: dict[str, str]) -> dict[str, str]:
    """The decide step's environment as the runner builds it from the action's inputs."""
    defaults = {k: str(v.get("default", "")) for k, v in action()["inputs"].items()}
    values = {**defaults, **inputs}
    env = {}
    for variable, template in decide_step()["env"].items():
        name = re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", template).group(1)  # type: ignore[union-attr]
        value = values[name]
        env[variable] = "" if value.startswith("${{") else value  # ${{ github.token }}: none here
    return env


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("hello\n")
    commit(root, "base")
    return root


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def pull_request_event(tmp_path: Path, repo: Path, base: str, body: str | None) -> Path:
    payload = json.loads((ASSETS / "pull_request.opened.payload.json").read_text())
    pr = payload["pull_request"]
    pr["base"].update(sha=base, ref="main")
    pr["head"].update(sha=head(repo), ref="feature")
    pr["body"] = body
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return path


def push_event(tmp_path: Path, repo: Path, before: str) -> Path:
    payload = json.loads((ASSETS / "push.payload.json").read_text())
    payload.update(ref="refs/heads/main", before=before, after=head(repo), deleted=False)
    path = tmp_path / "push.json"
    path.write_text(json.dumps(payload))
    return path


@pytest.fixture
def identities(tmp_path: Path) -> Path:
    path = tmp_path / "ids.toml"
    path.write_text('[identities]\nhumans = ["Ada", "Codertocat"]\n')
    return path


def run_step(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    event: Path,
    repo: Path,
    **inputs: str,
) -> tuple[CliResult, dict[str, str], str]:
    """Run the decide step's script with the runner's and the inputs' environment."""
    summary, output = tmp_path / "summary.md", tmp_path / "output.txt"
    summary.write_text("earlier step\n")
    output.write_text("")
    runner = {
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_WORKSPACE": str(repo),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
    }
    for variable, value in {**step_env(inputs), **runner}.items():
        monkeypatch.setenv(variable, value)
    argv = shlex.split(decide_step()["run"])
    assert argv[0] == "charter"
    result = invoke(*argv[1:], "--now", NOW)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return result, outputs, summary.read_text()


def test_a_denied_pull_request_fails_the_job_with_summary_outputs_and_sarif(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path, identities: Path
) -> None:
    base = head(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "id_ed25519").write_bytes(private_key())
    commit(repo, "deploy key")
    event = pull_request_event(tmp_path, repo, base, f"Add a key\n\n{CITATION}")
    sarif = tmp_path / "out" / "charter.sarif"
    result, outputs, summary = run_step(
        monkeypatch, tmp_path, event, repo, identities=str(identities), sarif=str(sarif)
    )
    assert result.returncode == 1, result.stderr
    assert outputs["verdict"] == "deny" and outputs["exit-code"] == "1"
    assert outputs["built-from"] == "git" and outputs["sarif"] == str(sarif)
    assert re.fullmatch(r"[0-9a-f-]{36}", outputs["decision-id"])
    assert summary.startswith("earlier step\n### Charter: ")  # appended, not overwritten
    assert "CRED-NO-CREDENTIAL-FILES-001" in summary
    assert "Codertocat/Hello-World@&#8203;feature" in summary  # every @ broken (no autolink)
    assert "::error" in result.stdout and "id_ed25519" in result.stdout
    log = valid_sarif(sarif.read_text())
    rules = {r["ruleId"] for r in log["runs"][0]["results"]}
    assert "CRED-NO-CREDENTIAL-FILES-001" in rules


def test_an_allowed_pull_request_passes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path, identities: Path
) -> None:
    base = head(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "README.md").write_text("hello\nworld\n")
    commit(repo, "docs")
    event = pull_request_event(tmp_path, repo, base, f"Docs\n\n{CITATION}")
    result, outputs, summary = run_step(
        monkeypatch, tmp_path, event, repo, identities=str(identities)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (outputs["verdict"], outputs["exit-code"], outputs["sarif"]) == ("allow", "0", "")
    assert "### Charter: " in summary and "allow" in summary.lower()


@pytest.mark.parametrize(("fail_on_ask", "code"), [("false", 0), ("true", 3)])
def test_an_ask_passes_unless_fail_on_ask(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    repo: Path,
    identities: Path,
    fail_on_ask: str,
    code: int,
) -> None:
    # A human's direct push to the protected main branch, citing its rules: ask.
    before = head(repo)
    (repo / "README.md").write_text("hotfix\n")
    commit(repo, f"Hotfix\n\n{CITATION}")
    event = push_event(tmp_path, repo, before)
    result, outputs, summary = run_step(
        monkeypatch,
        tmp_path,
        event,
        repo,
        identities=str(identities),
        **{"fail-on-ask": fail_on_ask},
    )
    assert result.returncode == code, result.stdout + result.stderr
    assert (outputs["verdict"], outputs["exit-code"]) == ("ask", "3")
    assert "PROC-HUMAN-PUSH-PROTECTED-001" in summary
    assert "::warning" in result.stdout


def test_without_the_commits_or_a_token_the_step_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path
) -> None:
    event = pull_request_event(tmp_path, repo, "f" * 40, None)  # base not in the checkout
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    result, outputs, summary = run_step(monkeypatch, tmp_path, event, repo)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "GITHUB_TOKEN" in result.stderr
    assert outputs == {"verdict": "error", "exit-code": "2"}
    assert summary == "earlier step\n"


def test_without_the_commits_the_token_fetches_from_the_api(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path, identities: Path
) -> None:
    from tests.test_facts_github import hand_made_commits, hand_made_files, hand_made_reviews

    event = pull_request_event(tmp_path, repo, "f" * 40, f"Docs\n\n{CITATION}")
    lists = pull_lists(
        "Codertocat/Hello-World",
        2,
        files=hand_made_files(),
        reviews=hand_made_reviews(),
        commits=[{**hand_made_commits()[0], "sha": head(repo)}],  # the event's head
    )
    with serve(FakeGitHub(lists=lists)) as fake:
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        result, outputs, _ = run_step(
            monkeypatch, tmp_path, event, repo, identities=str(identities), token="ghs_test"
        )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert outputs["built-from"] == "github" and outputs["verdict"] in ("allow", "deny")
    assert fake.seen and all(s.headers["Authorization"] == "Bearer ghs_test" for s in fake.seen)


def test_a_review_event_without_the_commits_is_counted_by_the_fetched_pull_request(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path, identities: Path
) -> None:
    # A review event's payload has no changed_files/commits: the step reads pulls/N
    # itself, so a files answer cut short (one page of several) is refused, not decided.
    from tests.test_facts_github import hand_made_commits, hand_made_files, saved_pull

    payload = json.loads((ASSETS / "pull_request_review.submitted.payload.json").read_text())
    payload["pull_request"]["head"]["sha"] = head(repo)
    payload["pull_request"]["base"]["sha"] = "f" * 40  # not in the checkout
    event = tmp_path / "review.json"
    event.write_text(json.dumps(payload))
    commits = [{**hand_made_commits()[0], "sha": head(repo)}]
    lists = pull_lists("Codertocat/Hello-World", 2, files=hand_made_files(), reviews=[],
                       commits=commits)  # fmt: skip
    counted = saved_pull(changed_files=2, commits=1, head={"sha": head(repo)})
    pull = Override(200, json.dumps(counted).encode())
    with serve(FakeGitHub(lists=lists, overrides={PULL: pull})) as fake:
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        result, outputs, _ = run_step(
            monkeypatch, tmp_path, event, repo, identities=str(identities), token="ghs_test"
        )
        assert result.returncode == 2 and "changed_files=2" in result.stderr
        assert outputs == {"verdict": "error", "exit-code": "2"}
        fake.overrides[PULL] = Override(200, json.dumps({**counted, "changed_files": 1}).encode())
        result, outputs, _ = run_step(
            monkeypatch, tmp_path, event, repo, identities=str(identities), token="ghs_test"
        )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert outputs["built-from"] == "github"
    assert [s.path for s in fake.seen].count(PULL) == 2


PULL = "/repos/Codertocat/Hello-World/pulls/2"


def test_a_pull_request_from_the_checkout_keeps_the_event_framing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path, identities: Path
) -> None:
    base = head(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "requirements.txt").write_text("requests==2.32.3\n")
    commit(repo, "deps")
    event = pull_request_event(tmp_path, repo, base, "no citation here")
    built = invoke("proposal", "from-git", "--repo", str(repo), "--base", base, "--head", "HEAD")
    assert built.returncode == 0
    result, outputs, _ = run_step(
        monkeypatch, tmp_path, event, repo, identities=str(identities), format="json"
    )
    decision = json.loads(result.stdout)
    assert outputs["built-from"] == "git"
    rules = {r["rule"] for r in decision["reasons"]}
    # The lockfile was read from git (a whole-file fact the API cannot give) ...
    assert "SC-DEPENDENCY-SCAN-001" in rules
    # ... and the body is the pull request's, which has no citation block.
    assert "CITE-BLOCK-REQUIRED-001" in rules


def test_a_key_in_a_binary_file_asks_from_the_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path, identities: Path
) -> None:
    base = head(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    key = "-----BEGIN OPENSSH " + "PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    (repo / "blob.dat").write_bytes(b"\x00" + key.encode())
    commit(repo, "data")
    event = pull_request_event(tmp_path, repo, base, CITATION)
    result, outputs, _ = run_step(
        monkeypatch, tmp_path, event, repo, identities=str(identities), format="json"
    )
    assert outputs["built-from"] == "git"
    reasons = json.loads(result.stdout)["reasons"]
    assert any(
        r["rule"] == "CRED-UNSCANNED-PATCH-001" and "holds a private key block" in r["msg"]
        for r in reasons
    ), reasons
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in result.stdout


def test_reviews_become_approvals_and_a_merged_pull_request_is_a_merge(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path, identities: Path
) -> None:
    from charter.facts.github import GitHubEvent, build_in_checkout
    from charter.facts.identities import load_identities

    base = head(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "README.md").write_text("hello\nworld\n")
    commit(repo, "docs")
    event = pull_request_event(tmp_path, repo, base, CITATION)
    payload = json.loads(event.read_text())
    payload["pull_request"]["merged"] = True
    event.write_text(json.dumps(payload))
    api = tmp_path / "api" / "pulls" / "2"
    api.mkdir(parents=True)
    reviews = [
        {"id": 1, "user": {"login": "alice", "type": "User"}, "state": "APPROVED"},
        {"id": 2, "user": {"login": "ci[bot]", "type": "Bot"}, "state": "APPROVED"},
    ]
    (api / "reviews.json").write_text(json.dumps(reviews))
    spec = GitHubEvent(event=event, api_dir=tmp_path / "api")
    doc, built_from = build_in_checkout(spec, repo, load_identities(identities))
    assert built_from == "git" and doc["kind"] == "merge"
    assert (doc["base"], doc["head"], doc["head_sha"]) == ("main", "feature", head(repo))
    assert doc["author"] == {"id": "Codertocat", "type": "human"}
    assert doc["approvals"] == [
        {"by": "alice", "type": "agent"},
        {"by": "ci[bot]", "type": "agent"},
    ]
    assert doc["labels"] == ["bug"] and doc["body"] == CITATION
    assert [f["path"] for f in doc["files"]] == ["README.md"]


def test_a_branch_push_targets_the_pushed_branch_from_the_payload_and_the_checkout(
    tmp_path: Path, repo: Path, identities: Path
) -> None:
    from charter.facts.github import GitHubEvent, build_from_github, build_in_checkout
    from charter.facts.identities import load_identities

    before = head(repo)
    (repo / "README.md").write_text("hotfix\n")
    commit(repo, "Hotfix")
    event = push_event(tmp_path, repo, before)
    people = load_identities(identities)
    from_payload = build_from_github(GitHubEvent(event=event), people)
    from_checkout, built_from = build_in_checkout(GitHubEvent(event=event), repo, people)
    assert built_from == "git"
    assert from_payload["base"] == from_checkout["base"] == "main"


def test_an_unreadable_evidence_directory_is_an_error_not_a_verdict(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path, identities: Path
) -> None:
    base = head(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "README.md").write_text("hello\nworld\n")
    commit(repo, "docs")
    event = pull_request_event(tmp_path, repo, base, f"Docs\n\n{CITATION}")
    missing = tmp_path / "no-such-evidence"
    result, outputs, _ = run_step(
        monkeypatch, tmp_path, event, repo, identities=str(identities), evidence=str(missing)
    )
    assert result.returncode == 2 and result.stdout == ""
    assert str(missing) in result.stderr and result.stderr.count("\n") == 1
    assert outputs == {"verdict": "error", "exit-code": "2"}


def test_the_decide_step_runs_in_bash_as_a_process(
    tmp_path: Path, repo: Path, identities: Path
) -> None:
    # The process boundary the runner crosses: `bash -c RUN` with the step's environment,
    # the venv's `charter` first on PATH (as setup-python + pip install leave it).
    base = head(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "id_ed25519").write_bytes(private_key())
    commit(repo, "deploy key")
    event = pull_request_event(tmp_path, repo, base, CITATION)
    summary, output, sarif = tmp_path / "summary.md", tmp_path / "output.txt", tmp_path / "c.sarif"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CHARTER_", "GITHUB_"))},
        **step_env({"identities": str(identities), "sarif": str(sarif)}),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_WORKSPACE": str(repo),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
    }
    step = decide_step()
    done = subprocess.run(
        [step["shell"], "-c", step["run"]], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1, done.stderr
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert outputs["verdict"] == "deny" and outputs["built-from"] == "git"
    assert "CRED-NO-CREDENTIAL-FILES-001" in summary.read_text()
    assert valid_sarif(sarif.read_text())["runs"][0]["results"]
    assert "::error" in done.stdout and done.stderr == ""


def test_an_unwritable_sarif_path_fails_before_anything_is_recorded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path, identities: Path
) -> None:
    base = head(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "README.md").write_text("hello\nworld\n")
    commit(repo, "docs")
    event = pull_request_event(tmp_path, repo, base, f"Docs\n\n{CITATION}")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    audit = tmp_path / "audit.db"
    result, outputs, summary = run_step(
        monkeypatch, tmp_path, event, repo, identities=str(identities),
        sarif=str(blocker / "charter.sarif"), audit=str(audit),
    )  # fmt: skip
    assert result.returncode == 2 and "cannot write SARIF" in result.stderr
    assert outputs == {"verdict": "error", "exit-code": "2"}
    assert summary == "earlier step\n" and not audit.exists()


def test_a_given_audit_store_records_the_decision(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path, identities: Path
) -> None:
    base = head(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "README.md").write_text("hello\nworld\n")
    commit(repo, "docs")
    event = pull_request_event(tmp_path, repo, base, f"Docs\n\n{CITATION}")
    audit = tmp_path / "audit.db"
    result, outputs, _ = run_step(
        monkeypatch, tmp_path, event, repo, identities=str(identities), audit=str(audit)
    )
    assert result.returncode == 0, result.stderr
    exported = invoke("audit", "export", "--store", str(audit))
    assert exported.returncode == 0, exported.stderr
    assert outputs["decision-id"] in exported.stdout


@pytest.mark.parametrize("edit", ["edited", "added"])
def test_a_pull_request_that_edits_the_identity_map_in_the_checkout_is_judged_by_the_base_map(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path, edit: str
) -> None:
    # The README's setup reads .github/charter-identities.toml from the checkout: the
    # pull request's own version. An agent that adds itself there stays an agent.
    ids = repo / ".github" / "charter-identities.toml"
    ids.parent.mkdir()
    if edit == "edited":
        ids.write_text('[identities]\nhumans = ["Codertocat"]\n')
        commit(repo, "identities")
    base = head(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    ids.write_text('[identities]\nhumans = ["*"]\nhuman_emails = ["*"]\n')
    (repo / "README.md").write_text("hello\nworld\n")
    commit(repo, "docs", author="Bot <bot@agents.example>")
    event = pull_request_event(tmp_path, repo, base, f"Docs\n\n{CITATION}")
    result, outputs, _ = run_step(
        monkeypatch, tmp_path, event, repo, identities=str(ids), format="json"
    )
    assert outputs["built-from"] == "git", result.stderr
    from charter.facts.github import GitHubEvent, build_in_checkout
    from charter.facts.identities import load_identities

    spec = GitHubEvent(event=event)
    assert build_in_checkout(spec, repo, load_identities(ids))[0]["author"]["type"] == "human"
    from charter.cli.ci import built_in_checkout

    document, source = built_in_checkout(spec, repo, ids, None)
    assert (document["author"]["type"], source) == ("agent", "git")
    assert [c["author"]["type"] for c in document["commits"]] == ["agent"]


@pytest.mark.parametrize("link", ["charter.sarif", "out"])
def test_the_sarif_file_is_never_written_through_a_link_the_change_put_in_the_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path, identities: Path, link: str
) -> None:
    # The change commits charter.sarif (or the folder out/) as a symbolic link: writing
    # the report through it would overwrite a file of the runner's choosing.
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "charter.sarif").write_text("precious\n")
    base = head(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    target = victim / "charter.sarif" if link == "charter.sarif" else victim
    (repo / link).symlink_to(target)
    commit(repo, "a link")
    event = pull_request_event(tmp_path, repo, base, f"Link\n\n{CITATION}")
    sarif = repo / "out" / "charter.sarif" if link == "out" else repo / "charter.sarif"
    result, outputs, _ = run_step(
        monkeypatch, tmp_path, event, repo, identities=str(identities), sarif=str(sarif)
    )
    assert result.returncode == 2 and "symbolic link" in result.stderr, result.stderr
    assert outputs == {"verdict": "error", "exit-code": "2"}
    assert (victim / "charter.sarif").read_text() == "precious\n"


@pytest.mark.parametrize("link", ["audit.db", "audit.db-journal", "store"])
def test_a_relative_audit_store_is_never_opened_through_a_link_the_change_put_in_the_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path, identities: Path, link: str
) -> None:
    # CHARTER_AUDIT=audit.db (or store/audit.db) is relative to the workspace, the checkout:
    # a committed link there would make the job write the record where the change says.
    victim = tmp_path / "victim"
    victim.mkdir()
    base = head(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / link).symlink_to(victim if link == "store" else victim / link)
    commit(repo, "a link")
    event = pull_request_event(tmp_path, repo, base, f"Link\n\n{CITATION}")
    monkeypatch.chdir(repo)
    audit = "store/audit.db" if link == "store" else "audit.db"
    result, outputs, _ = run_step(
        monkeypatch, tmp_path, event, repo, identities=str(identities), audit=audit
    )
    assert result.returncode == 2 and "symbolic link" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert outputs == {"verdict": "error", "exit-code": "2"}
    assert list(victim.iterdir()) == []


def test_a_pull_request_that_edits_the_overlay_in_the_checkout_is_judged_by_the_base_overlay(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path, identities: Path
) -> None:
    # The overlay (and trust policy, packs, waivers) named from the checkout are the pull
    # request's own versions: an agent deleting the rule that stops it is still stopped.
    from tests.conftest import overlay_rule, write_bundle

    rule = 'some f in input.files\n\tf.path == "secrets.txt"'
    files = {"rules/r.rego": overlay_rule("ACME-NO-SECRETS-001", rule)}
    folder = repo / ".github" / "charter-overlay"
    write_bundle(folder, layer="overlay", name="acme", roots=["charter/overlay"], files=files)
    commit(repo, "overlay")
    base = head(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    (folder / "rules" / "r.rego").write_text(overlay_rule("ACME-NO-SECRETS-001", "false"))
    (repo / "secrets.txt").write_text("x\n")
    commit(repo, "secrets")
    event = pull_request_event(tmp_path, repo, base, f"Add\n\n{CITATION}")
    result, outputs, _ = run_step(
        monkeypatch, tmp_path, event, repo, identities=str(identities), overlay=str(folder),
        format="json",
    )  # fmt: skip
    assert outputs["built-from"] == "git", result.stderr
    assert outputs["verdict"] == "deny", result.stdout
    assert "ACME-NO-SECRETS-001" in {r["rule"] for r in json.loads(result.stdout)["reasons"]}
