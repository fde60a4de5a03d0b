"""What the gate remembers between two decisions, attacked: the same command string is
planned once (its text decides its plan), but everything the filesystem decides is
looked at again for every action. Between two decisions of the same string the
adversary swaps a link, renames a directory or turns a blocked directory into a link,
and the second decision must see it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from charter.actions import gate as gate_mod
from charter.actions.constitution import parse_text
from charter.actions.files import lookup, resolve_found
from charter.actions.gate import Gate
from charter.core.verdict import Verdict


def _gate(work: Path, blocked: Path, extra_blocked: str = "") -> Gate:
    text = f"""
[identity]
version = "1.0.0"

[boundaries]
forbidden = []
requires_approval = []
auto_allowed = ["cat *", "git status*", "wc *", "cp *", "ls *", "cd *"]

[resource_limits]
allowed_directories = ["{work}"]
blocked_directories = ["{blocked}"{extra_blocked}]
"""
    return Gate(parse_text(text))


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    work = tmp_path / "work"
    (work / "plain").mkdir(parents=True)
    (work / "plain" / "notes.txt").write_text("x")
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "notes.txt").write_text("secret")
    return work, blocked


def _rules(decision: object) -> set[str]:
    return {r.rule for r in decision.reasons}  # type: ignore[attr-defined]


def test_a_link_swapped_between_two_decisions_is_seen(tmp_path: Path) -> None:
    work, blocked = _setup(tmp_path)
    gate = _gate(work, blocked)
    (work / "link").symlink_to(work / "plain")
    command = "git status && cat link/notes.txt | wc -l"
    first = gate.decide_command(command, str(work))
    assert first.verdict is Verdict.ALLOW
    (work / "link").unlink()
    (work / "link").symlink_to(blocked)  # the same string now reads the blocked file
    second = gate.decide_command(command, str(work))
    assert second.verdict is Verdict.DENY
    assert "resource_limits.blocked_directories" in _rules(second)
    (work / "link").unlink()
    (work / "link").symlink_to(work / "plain")
    assert gate.decide_command(command, str(work)).verdict is Verdict.ALLOW


def test_a_directory_renamed_between_two_decisions_is_seen(tmp_path: Path) -> None:
    work, blocked = _setup(tmp_path)
    gate = _gate(work, blocked)
    command = "cp plain/notes.txt copy.txt"
    assert gate.decide_command(command, str(work)).verdict is Verdict.ALLOW
    # ``plain`` becomes a link to the blocked directory: renamed away, a link in its place
    (work / "plain").rename(work / "elsewhere")
    (work / "plain").symlink_to(blocked)
    assert gate.decide_command(command, str(work)).verdict is Verdict.DENY


def test_a_blocked_directory_that_becomes_a_link_is_followed_at_once(tmp_path: Path) -> None:
    """The blocked directories are resolved for every decision: a blocked directory
    replaced by a link to the work directory blocks the work directory at once."""
    work, _ = _setup(tmp_path)
    sneaky = tmp_path / "sneaky"
    sneaky.mkdir()
    gate = _gate(work, sneaky)
    command = "cat plain/notes.txt"
    assert gate.decide_command(command, str(work)).verdict is Verdict.ALLOW
    sneaky.rmdir()
    sneaky.symlink_to(work / "plain")
    second = gate.decide_command(command, str(work))
    assert second.verdict is Verdict.DENY
    assert "resource_limits.blocked_directories" in _rules(second)


def test_a_blocked_directorys_parent_swapped_for_a_link_is_followed(tmp_path: Path) -> None:
    """Two blocked directories under one parent share its lookup within a decision;
    the parent swapped for a link between decisions changes where both lead."""
    work, _ = _setup(tmp_path)
    parent = tmp_path / "home"
    (parent / ".ssh").mkdir(parents=True)
    (parent / ".aws").mkdir()
    gate = _gate(work, parent / ".ssh", f', "{parent}/.aws"')
    command = "cat plain/notes.txt && cat plain/../plain/notes.txt"
    assert gate.decide_command(command, str(work)).verdict is Verdict.ALLOW
    (parent / ".ssh").rmdir()
    (parent / ".aws").rmdir()
    parent.rename(tmp_path / "old-home")
    parent.mkdir()
    (parent / ".aws").symlink_to(work)
    assert gate.decide_command(command, str(work)).verdict is Verdict.DENY


def test_the_working_directory_swapped_between_two_decisions_is_seen(tmp_path: Path) -> None:
    work, blocked = _setup(tmp_path)
    gate = _gate(work, blocked)
    cwd = work / "here"
    cwd.symlink_to(work / "plain")
    command = "cat notes.txt"
    assert gate.decide_command(command, str(cwd)).verdict is Verdict.ALLOW
    cwd.unlink()
    cwd.symlink_to(blocked)
    assert gate.decide_command(command, str(cwd)).verdict is Verdict.DENY


def test_the_same_string_in_another_directory_is_planned_there(tmp_path: Path) -> None:
    """The plan of a string depends on its working directory: ``cd`` and relative
    paths are not carried from one directory to another."""
    work, blocked = _setup(tmp_path)
    gate = _gate(work, blocked)
    (blocked / "plain").mkdir()
    (blocked / "plain" / "notes.txt").write_text("secret")
    command = "cat plain/notes.txt"
    assert gate.decide_command(command, str(work)).verdict is Verdict.ALLOW
    assert gate.decide_command(command, str(blocked)).verdict is Verdict.DENY
    assert gate.decide_command(command, str(work)).verdict is Verdict.ALLOW


@pytest.mark.parametrize("command", ["cd && cat notes.txt", "cd ~ && cat notes.txt"])
def test_home_is_read_when_the_command_is_decided(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """``cd`` alone and ``cd ~`` go where HOME is when the command is decided, not where
    it was when the same string was first decided."""
    work, blocked = _setup(tmp_path)
    gate = _gate(work, blocked)
    monkeypatch.setenv("HOME", str(work / "plain"))
    assert gate.decide_command(command, str(work)).verdict is Verdict.ALLOW
    monkeypatch.setenv("HOME", str(blocked))
    second = gate.decide_command(command, str(work))
    assert second.verdict is Verdict.DENY
    assert any("'notes.txt'" in r.msg for r in second.reasons)


def test_a_decisions_lookups_are_its_own(tmp_path: Path) -> None:
    """Within one decision an entry is looked at once (``seen``); a new decision's
    memo starts empty, so it looks again."""
    target = tmp_path / "a"
    target.mkdir()
    seen: dict[str, str | None] = {}
    assert lookup(str(target), seen) == ""
    target.rmdir()
    target.symlink_to(tmp_path)
    assert lookup(str(target), seen) == ""  # the same decision: as first seen
    assert lookup(str(target), {}) == str(tmp_path)  # a new decision sees the link
    assert resolve_found(str(target / "x"), "/", seen={})[0] == str(tmp_path / "x")
    target.unlink()
    assert lookup(str(target), {}) is None


def test_decision_ids_are_distinct_across_threads_and_forks() -> None:
    ids = {gate_mod._decision_id() for _ in range(2000)}
    assert len(ids) == 2000
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, "\n".join(gate_mod._decision_id() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        child = set(f.read().split("\n"))
    os.waitpid(pid, 0)
    parent = {gate_mod._decision_id() for _ in range(10)}
    assert len(child) == 10
    assert not child & parent


def test_program_globs_match_however_many_programs_were_seen() -> None:
    """The per-program candidate lists are bounded (program names come from the
    commands decided) and a generic pattern (``mkfs*``) still matches after the
    lists were dropped for room."""
    gate = Gate(
        parse_text(
            '[identity]\nversion = "1.0.0"\n[boundaries]\nforbidden = ["mkfs*"]\n'
            'requires_approval = []\nauto_allowed = ["ls*", "cat *"]\n'
        )
    )
    patterns = gate.patterns
    for i in range(1100):
        assert gate.decide_command(f"tool{i}", "/").verdict is Verdict.ASK
    assert 0 < len(patterns._by_program) <= 1024
    assert gate.decide_command("mkfs.ext4 /dev/sda1", "/").verdict is Verdict.DENY
    assert gate.decide_command("lsblk", "/").verdict is Verdict.ALLOW
    assert gate.decide_command("x" * 100 + " y", "/").verdict is Verdict.ASK
    assert "x" * 100 not in patterns._by_program


@pytest.mark.parametrize(
    "command",
    [
        "cd $'\\x7e'root && cat x",  # ANSI-C quoting decodes to ~root
        "cd $\\\n'\\x7e'root && cat x",  # across a line continuation
        "X=$'\\x7e'root; cd $X && cat y",  # an assignment's value
        "for d in $'\\x7e'root; do cd $d; cat x; done",  # a loop's word
        "cat < $'\\x7e'root/x",  # a redirection
    ],
)
def test_a_tilde_only_the_parse_shows_is_planned_every_time(command: str) -> None:
    """``~user`` is looked up in the password database (a file): a string whose words
    hold a "~" once decoded, though its text shows none, is never taken from the memo."""
    assert "~" not in command
    gate = _gate(Path("/tmp"), Path("/nonexistent-blocked"))
    assert gate._plan(command, "/tmp", "/root").tilde
    assert gate._plan("git status && cat src/app.py | wc -l", "/tmp", "/root").tilde is False
    assert gate._plan("cat $PWD/x && echo $'a b' \\\n x", "/tmp", "/root").tilde is False


def _tool_gate() -> Gate:
    text = (
        '[identity]\nversion = "1.0.0"\n[boundaries]\nforbidden = []\n'
        'requires_approval = []\nauto_allowed = ["tool", "tool *"]\n'
    )
    return Gate(parse_text(text))


def _decide(gate: Gate, command: str, cwd: Path) -> tuple[Verdict, list[str]]:
    d = gate.decide_command(command, str(cwd))
    return d.verdict, [f"{r.rule}: {r.msg}" for r in d.reasons]


def test_a_program_added_to_a_path_directory_after_a_decision_is_trusted_then(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long-lived gate (the runner, hookd) sees PATH directories as they are now."""
    path_dir = tmp_path / "bin"
    path_dir.mkdir()
    monkeypatch.setenv("PATH", f"{path_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    gate = _tool_gate()
    command = f"{path_dir}/tool run"
    v, why = _decide(gate, command, tmp_path)
    assert v is Verdict.ASK and any("CHARTER-GATE-PROGRAM-PATH" in w for w in why), why
    (path_dir / "tool").write_text("#!/bin/sh\necho tool\n")
    (path_dir / "tool").chmod(0o755)
    assert _decide(gate, command, tmp_path)[0] is Verdict.ALLOW  # installed since: found


def test_a_program_removed_from_a_path_directory_after_a_decision_is_no_longer_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stale answer that would allow: a PATH entry that led to a file of the work
    tree is gone, and the work tree's file is just a file of the work tree again."""
    path_dir, work = tmp_path / "bin", tmp_path / "work"
    path_dir.mkdir()
    work.mkdir()
    (work / "tool").write_text("#!/bin/sh\necho tool\n")
    (work / "tool").chmod(0o755)
    (path_dir / "tool").symlink_to(work / "tool")
    monkeypatch.setenv("PATH", f"{path_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    gate = _tool_gate()
    assert _decide(gate, "./tool run", work)[0] is Verdict.ALLOW  # the PATH's tool, linked
    (path_dir / "tool").unlink()
    v, why = _decide(gate, "./tool run", work)
    assert v is Verdict.ASK and any("CHARTER-GATE-PROGRAM-PATH" in w for w in why), why


def test_a_path_link_retargeted_outside_the_path_directory_is_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As ``update-alternatives`` does: the PATH directory's entry is a link to a link in
    another directory, and only that one changes (the PATH directory itself does not)."""
    path_dir, alternatives, work = tmp_path / "bin", tmp_path / "alt", tmp_path / "work"
    for folder in (path_dir, alternatives, work):
        folder.mkdir()
    for name in ("tool", "other"):
        (work / name).write_text("#!/bin/sh\necho tool\n")
        (work / name).chmod(0o755)
    (alternatives / "tool").symlink_to(work / "tool")
    (path_dir / "tool").symlink_to(alternatives / "tool")
    monkeypatch.setenv("PATH", f"{path_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    gate = _tool_gate()
    assert _decide(gate, "./tool run", work)[0] is Verdict.ALLOW
    (alternatives / "tool").unlink()
    (alternatives / "tool").symlink_to(work / "other")
    v, why = _decide(gate, "./tool run", work)
    assert v is Verdict.ASK and any("CHARTER-GATE-PROGRAM-PATH" in w for w in why), why
