"""Configuration inside the judged repository that the change touches is read at its base.

`charter check --git/--staged/--github-event` and `charter ci github` are told where
the trust policy (and its keys), the bundles, the waivers and the profile are: often
inside the checkout, which holds the change's own versions. A change that rewrites
them is judged by them as they were (real repositories, real bundles and keys).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from charter.core.errors import InputError
from tests.bundle_helpers import make_key, overlay_bundle
from tests.cli_helpers import invoke
from tests.conftest import overlay_rule, write_bundle
from tests.test_facts_evidence import nested, remove_nested
from tests.test_facts_git import commit, git

NOW = "2026-11-20T10:00:00Z"
CITATION = (
    '```charter\nrules: [SC-DEPENDENCY-SCAN-001]\nblast_radius: "docs only"\n'
    'rollback: "git revert"\n```\n'
)
RULE = "ACME-NO-SECRETS-001"
DENY = 'some f in input.files\n\tf.path == "secrets.txt"'


def overlay(folder: Path, condition: str) -> Path:
    return write_bundle(
        folder,
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files={"rules/r.rego": overlay_rule(RULE, condition)},
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("hello\n")
    overlay(root / "policy" / "overlay", DENY)
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "agent")
    return root


def check(repo: Path, *args: str) -> tuple[int, str, str]:
    result = invoke(
        "check", "--git", "main..agent", "--repo", str(repo), *args,
        "--now", NOW, "--format", "json", "--no-audit",
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def rules(stdout: str) -> set[str]:
    return {r["rule"] for r in json.loads(stdout)["reasons"]}


@pytest.mark.parametrize("how", ["edit", "remove-rule", "link"])
def test_an_overlay_the_change_rewrites_is_read_at_the_base(repo: Path, how: str) -> None:
    rule = repo / "policy" / "overlay" / "rules" / "r.rego"
    if how == "edit":
        rule.write_text(overlay_rule(RULE, "false"))
    elif how == "remove-rule":
        rule.unlink()
    else:  # the overlay's rule becomes a link to a file the change writes elsewhere
        (repo / "mine.rego").write_text(overlay_rule(RULE, "false"))
        rule.unlink()
        rule.symlink_to("../../../mine.rego")
    (repo / "secrets.txt").write_text("x\n")
    commit(repo, f"Add\n\n{CITATION}")
    code, out, err = check(repo, "--overlay", str(repo / "policy" / "overlay"))
    assert code == 1, err
    assert RULE in rules(out)
    assert (repo / "policy" / "overlay" / "rules").exists()  # the checkout is left alone


def test_an_overlay_reached_through_a_link_the_change_edits_is_read_at_the_base(
    repo: Path,
) -> None:
    git(repo, "checkout", "-q", "main")
    (repo / "conf").symlink_to("policy")
    commit(repo, "link")
    git(repo, "checkout", "-q", "-B", "agent")
    (repo / "policy" / "overlay" / "rules" / "r.rego").write_text(overlay_rule(RULE, "false"))
    (repo / "secrets.txt").write_text("x\n")
    commit(repo, f"Add\n\n{CITATION}")
    code, out, err = check(repo, "--overlay", str(repo / "conf" / "overlay"))
    assert code == 1, err
    assert RULE in rules(out)


@pytest.mark.parametrize("links", [1, 2])
def test_an_overlay_reached_through_links_the_change_retargets_is_read_at_the_base(
    repo: Path, links: int
) -> None:
    # conf -> policy, or conf -> mid -> policy; the base also holds a harmless overlay
    # (examples/overlay, untouched). The change only retargets the last link to it.
    git(repo, "checkout", "-q", "main")
    overlay(repo / "examples" / "overlay", "false")
    (repo / "conf").symlink_to("mid" if links == 2 else "policy")
    if links == 2:
        (repo / "mid").symlink_to("policy")
    commit(repo, "links")
    git(repo, "checkout", "-q", "-B", "agent")
    retargeted = repo / ("mid" if links == 2 else "conf")
    retargeted.unlink()
    retargeted.symlink_to("examples")
    (repo / "secrets.txt").write_text("x\n")
    commit(repo, f"Add\n\n{CITATION}")
    code, out, err = check(repo, "--overlay", str(repo / "conf" / "overlay"))
    assert code == 1, err
    assert RULE in rules(out)
    assert (repo / "conf" / "overlay").resolve() == repo / "examples" / "overlay"


def test_an_overlay_path_the_change_turns_into_a_link_loop_is_one_line_not_a_traceback(
    repo: Path,
) -> None:
    (repo / "loop-a").symlink_to("loop-b")
    (repo / "loop-b").symlink_to("loop-a")
    commit(repo, f"Loop\n\n{CITATION}")
    code, out, err = check(repo, "--overlay", str(repo / "loop-a" / "overlay"))
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and "loop-a" in err, err


def test_an_overlay_the_change_leaves_alone_is_read_as_given(repo: Path) -> None:
    (repo / "secrets.txt").write_text("x\n")
    commit(repo, f"Add\n\n{CITATION}")
    # Not committed (a CI step wrote it): the checkout's version is the one configured.
    overlay(repo / "generated", "false")
    code, out, err = check(repo, "--overlay", str(repo / "generated"))
    assert code in (0, 3), err
    assert RULE not in rules(out)


def test_an_overlay_the_change_adds_is_refused(repo: Path) -> None:
    overlay(repo / "new-overlay", "false")
    commit(repo, f"Add\n\n{CITATION}")
    code, out, err = check(repo, "--overlay", str(repo / "new-overlay"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "new-overlay" in err and "adds" in err, err


@pytest.fixture
def signed(tmp_path: Path, repo: Path) -> Path:
    """The base trusts keys/overlay.pub for overlays; a bundle signed by another key."""
    git(repo, "checkout", "-q", "main")
    _, public = make_key(tmp_path / "trusted")
    (repo / "keys").mkdir()
    (repo / "keys" / "overlay.pub").write_bytes(public.read_bytes())
    (repo / "trust.toml").write_text('[layers.overlay]\nkeys = ["keys/overlay.pub"]\n')
    commit(repo, "trust")
    git(repo, "checkout", "-q", "-B", "agent")
    agent, agent_public = make_key(tmp_path / "agent")
    bundle = tmp_path / "agent-overlay.tar.gz"
    bundle.write_bytes(overlay_bundle(tmp_path / "b", agent, kind="ask"))
    return agent_public


@pytest.mark.parametrize("how", ["key", "policy", "added-policy"])
def test_a_trust_policy_or_key_the_change_rewrites_is_read_at_the_base(
    tmp_path: Path, repo: Path, signed: Path, how: str
) -> None:
    if how == "key":  # the policy is untouched; the key file it names is the agent's
        (repo / "keys" / "overlay.pub").write_bytes(signed.read_bytes())
    elif how == "policy":
        (repo / "keys" / "agent.pub").write_bytes(signed.read_bytes())
        (repo / "trust.toml").write_text('[layers.overlay]\nkeys = ["keys/agent.pub"]\n')
    else:
        (repo / "other.toml").write_text(f'[layers.overlay]\nkeys = ["{signed}"]\n')
    commit(repo, f"Trust me\n\n{CITATION}")
    policy = repo / ("other.toml" if how == "added-policy" else "trust.toml")
    code, out, err = check(
        repo, "--trust", str(policy), "--overlay", str(tmp_path / "agent-overlay.tar.gz"),
        "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    assert code == 2 and out == "", out
    assert err.count("\n") == 1, err
    assert ("adds" in err) if how == "added-policy" else ("agent-overlay.tar.gz" in err), err


def test_a_trust_policy_reached_through_a_link_chain_whose_middle_link_moves_is_read_at_the_base(
    tmp_path: Path, repo: Path, signed: Path
) -> None:
    # ci-trust.toml -> conf/trust.toml -> ../trust.toml. The base also holds another
    # policy (sandbox.toml, trusting the agent's key); the change retargets the middle
    # link to it and touches neither end of the chain.
    git(repo, "checkout", "-q", "main")
    (repo / "conf").mkdir()
    (repo / "conf" / "trust.toml").symlink_to("../trust.toml")
    (repo / "ci-trust.toml").symlink_to("conf/trust.toml")
    (repo / "sandbox.toml").write_text(f'[layers.overlay]\nkeys = ["{signed}"]\n')
    commit(repo, "chain")
    git(repo, "checkout", "-q", "-B", "agent")
    (repo / "conf" / "trust.toml").unlink()
    (repo / "conf" / "trust.toml").symlink_to("../sandbox.toml")
    commit(repo, f"Retarget\n\n{CITATION}")
    code, out, err = check(
        repo, "--trust", str(repo / "ci-trust.toml"),
        "--overlay", str(tmp_path / "agent-overlay.tar.gz"),
        "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    assert code == 2 and out == "", out
    assert err.count("\n") == 1 and "agent-overlay.tar.gz" in err, err


def test_a_trust_policy_the_change_leaves_alone_is_read_as_given(
    tmp_path: Path, repo: Path, signed: Path
) -> None:
    (repo / "README.md").write_text("more\n")
    commit(repo, f"Docs\n\n{CITATION}")
    (repo / "trust.toml").write_text(f'[layers.overlay]\nkeys = ["{signed}"]\n')  # not committed
    code, out, err = check(
        repo, "--trust", str(repo / "trust.toml"),
        "--overlay", str(tmp_path / "agent-overlay.tar.gz"),
        "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    assert code in (0, 3), err


def test_a_waiver_folder_the_change_adds_counts_as_none(repo: Path) -> None:
    (repo / "waivers").mkdir()
    (repo / "waivers" / "w.json").write_text("{}")
    (repo / "secrets.txt").write_text("x\n")
    commit(repo, f"Add\n\n{CITATION}")
    code, out, err = check(
        repo, "--overlay", str(repo / "policy" / "overlay"), "--waivers", str(repo / "waivers")
    )
    assert code == 1, err
    assert json.loads(out)["ignored_waivers"] == []  # not even read


def test_a_base_missing_from_the_checkout_is_named(repo: Path) -> None:
    (repo / "policy" / "overlay" / "rules" / "r.rego").write_text(overlay_rule(RULE, "false"))
    from charter.facts.at_base import base_view

    document = {"base_sha": "1" * 40, "files": [{"path": "policy/overlay/rules/r.rego"}]}
    with base_view(repo, document) as view, pytest.raises(InputError) as caught:
        view.path(repo / "policy" / "overlay", "overlay bundle")
    assert "1111111111" in caught.value.message and "overlay bundle" in caught.value.message
    assert "\n" not in caught.value.message


def test_an_identity_map_whose_base_is_missing_from_the_checkout_is_named(repo: Path) -> None:
    from charter.facts.identities import edited_by_change

    (repo / "identities.toml").write_text('humans = ["*"]\n')
    document = {"base_sha": "1" * 40, "files": [{"path": "identities.toml"}]}
    with pytest.raises(InputError) as caught:
        edited_by_change(repo / "identities.toml", repo, document)
    assert "1111111111" in caught.value.message and "identity map" in caught.value.message
    assert "\n" not in caught.value.message


def test_a_trust_policy_read_at_the_base_keeps_its_state_folder_beside_the_policy(
    tmp_path: Path, repo: Path, signed: Path
) -> None:
    from charter.cli._stack import trust_policy_at
    from charter.facts.at_base import base_view

    git(repo, "checkout", "-q", "main")
    policy = repo / "trust.toml"
    policy.write_text('state_dir = "state"\n[layers.overlay]\nkeys = ["keys/overlay.pub"]\n')
    commit(repo, "state")
    policy.write_text('state_dir = "elsewhere"\n[layers.overlay]\nkeys = ["keys/overlay.pub"]\n')
    document = {
        "base_sha": git(repo, "rev-parse", "HEAD").strip(),
        "files": [{"path": "trust.toml"}],
    }
    with base_view(repo, document) as view:
        loaded = trust_policy_at(policy, view)
    assert loaded is not None and loaded.state_dir == repo / "state"


def test_the_staged_change_is_judged_by_the_overlay_of_head(repo: Path) -> None:
    # The pre-commit hook: an agent staging an edit of the overlay with its change.
    git(repo, "checkout", "-q", "main")
    (repo / "policy" / "overlay" / "rules" / "r.rego").write_text(overlay_rule(RULE, "false"))
    (repo / "secrets.txt").write_text("x\n")
    git(repo, "add", "-A")
    result = invoke(
        "check", "--staged", "--repo", str(repo), "--overlay", str(repo / "policy" / "overlay"),
        "--now", NOW, "--format", "json", "--no-audit",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert RULE in rules(result.stdout)


def test_a_signed_bundle_the_change_swaps_for_an_older_one_is_read_at_the_base(
    tmp_path: Path, repo: Path
) -> None:
    # Both are signed by the trusted key; the change rolls the overlay back to a version
    # without the rule (a CI job keeps no accepted-version state between runs).
    git(repo, "checkout", "-q", "main")
    key, public = make_key(tmp_path / "trusted")
    (repo / "keys").mkdir()
    (repo / "keys" / "overlay.pub").write_bytes(public.read_bytes())
    (repo / "trust.toml").write_text('[layers.overlay]\nkeys = ["keys/overlay.pub"]\n')
    bundle = repo / "overlay.tar.gz"
    bundle.write_bytes(
        overlay_bundle(tmp_path / "v2", key, "2.0.0", rule_id=RULE, condition=DENY, kind="deny")
    )
    commit(repo, "overlay 2.0.0")
    git(repo, "checkout", "-q", "-B", "agent")
    bundle.write_bytes(overlay_bundle(tmp_path / "v1", key, "1.0.0", condition="false"))
    (repo / "secrets.txt").write_text("x\n")
    commit(repo, f"Add\n\n{CITATION}")
    code, out, err = check(
        repo, "--trust", str(repo / "trust.toml"), "--overlay", str(bundle),
        "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    assert code == 1, err
    assert RULE in rules(out)


def test_a_policy_repository_judged_by_its_own_overlay_is_judged_by_its_base(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = overlay(tmp_path / "policy", DENY)
    git(root, "init", "-q", "-b", "main")
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "agent")
    (root / "rules" / "r.rego").write_text(overlay_rule(RULE, "false"))
    (root / "secrets.txt").write_text("x\n")
    commit(root, f"Add\n\n{CITATION}")
    code, out, err = check(root, "--overlay", str(root))
    assert code == 1, err
    assert RULE in rules(out)
    monkeypatch.chdir(root)
    code, out, err = check(root, "--overlay", ".")
    assert code == 1, err


def test_check_never_opens_a_relative_audit_store_through_a_committed_link(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path
) -> None:
    victim = tmp_path / "victim.db"
    (repo / "audit.db").symlink_to(victim)
    commit(repo, f"Link\n\n{CITATION}")
    monkeypatch.chdir(repo)
    result = invoke("check", "--git", "main..agent", "--now", NOW, "--audit", "audit.db")
    assert result.returncode == 2 and "symbolic link" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and not victim.exists()


def _logging_git(folder: Path, log: Path) -> Path:
    """A ``git`` for PATH that writes each command line to ``log``, then runs the real one."""
    real = shutil.which("git")
    assert real is not None
    folder.mkdir()
    script = folder / "git"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real}" "$@"\n')
    script.chmod(0o755)
    return folder


@pytest.mark.parametrize("source", ["--git", "--staged"])
def test_the_work_tree_top_is_asked_of_git_once_for_the_identity_map_and_the_base(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    # The change edits both the identity map and the overlay: both are read at the base,
    # and both need the top of the work tree, which one question to git answers.
    (repo / "identities.toml").write_text('[identities]\nhumans = ["*"]\n')
    (repo / "policy" / "overlay" / "rules" / "r.rego").write_text(overlay_rule(RULE, "false"))
    (repo / "secrets.txt").write_text("x\n")
    git(repo, "add", "-A")
    if source == "--git":
        commit(repo, f"Add\n\n{CITATION}")
    log = tmp_path / "git.log"
    bin_dir = _logging_git(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    args = ["--git", "main..agent"] if source == "--git" else ["--staged"]
    result = invoke(
        "check", *args, "--repo", str(repo), "--identities", str(repo / "identities.toml"),
        "--overlay", str(repo / "policy" / "overlay"), "--now", NOW, "--format", "json",
        "--no-audit",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # the base's overlay denies secrets.txt
    assert RULE in rules(result.stdout)
    asked = [line for line in log.read_text().splitlines() if "--show-toplevel" in line]
    assert len(asked) == 1, asked


def test_an_overlay_the_change_nests_deeper_than_the_recursion_limit_is_read_at_the_base(
    repo: Path,
) -> None:
    # Looking for links under the configured folder recursed once per folder: 1,200
    # nested folders in the change were an "internal error", not a decision.
    folders = nested(repo / "policy" / "overlay", 1200)
    try:
        (folders[-1] / "x.txt").write_text("x\n")
        (repo / "secrets.txt").write_text("x\n")
        commit(repo, f"Add\n\n{CITATION}")
        code, out, err = check(repo, "--overlay", str(repo / "policy" / "overlay"))
    finally:
        remove_nested(folders)
    assert code == 1, err
    assert RULE in rules(out)
