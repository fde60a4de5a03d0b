"""The file-path layer of the action gate, attacked (issue 12, 'File-path layer').

Each class is a corpus of commands with the verdict expected; where a case claims what
bash does (which file a redirect writes, how a glob or a brace expands, what ``~+``
means) the claim is checked against the real ``bash`` in a temporary directory with a
harmless target, so the corpus cannot drift from the shell it models.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from charter.actions.constitution import parse_text
from charter.actions.gate import Gate, GateConfig
from charter.core.verdict import Verdict

BASH = shutil.which("bash")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")

AUTO = ["cat *", "echo *", "tee *", "touch *", "cp *", "ls *", "grep *", "head *", "true",
        "printf *", "cd *", "sort *", "wc *", "diff *", "git *", "rm *", ":"]  # fmt: skip


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def path_gate(tmp_path: Path) -> tuple[Gate, Path]:
    """``work/`` writable with ``work/secrets`` blocked; ``/etc`` and ``~/.ssh`` blocked;
    ``work/constitution.toml`` protected."""
    work = tmp_path / "work"
    (work / "secrets").mkdir(parents=True, exist_ok=True)
    (work / "sub").mkdir(exist_ok=True)
    text = f"""
[identity]
version = "1.0.0"

[boundaries]
forbidden = ["rm -rf /"]
requires_approval = []
auto_allowed = {_toml_list(AUTO)}

[resource_limits]
allowed_directories = ["{work}"]
blocked_directories = ["{work}/secrets", "~/.ssh", "/etc"]
"""
    protected = (str(work / "constitution.toml"),)
    return Gate(parse_text(text), config=GateConfig(protected_paths=protected)), work


def verdict(gate: Gate, cwd: Path, command: str) -> tuple[Verdict, list[str]]:
    d = gate.decide_command(command, str(cwd))
    return d.verdict, [f"{r.rule}: {r.msg}" for r in d.reasons]


def run_bash(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert BASH is not None  # noqa: S101
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    return subprocess.run(  # noqa: S603 - a fixed bash, a test script
        [BASH, "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=20
    )


# ----------------------------------------------------- 1. redirects detached from the command

#: ``{T}`` is the file written. Every line writes ``{T}`` when run by bash.
REDIRECTS = [
    "cat <<EOF >{T}\nhello\nEOF",
    "cat <<'EOF' >>{T}\nhello\nEOF",
    "cat <<-EOF > {T}\n\thello\n\tEOF",
    "cat <<EOF >{T} && echo done\nhello\nEOF",
    "cat <<EOF 2>/dev/null >{T}\nhello\nEOF",
    "cat <<EOF | tee /dev/null >{T}\nhello\nEOF",
    "X=1 cat <<EOF >{T}\nhello\nEOF",
    "cat <<EOF <<<x >{T}\nhello\nEOF",
    "while read l; do echo $l; done <<EOF >{T}\nhello\nEOF",
    "if true; then cat; fi <<EOF >{T}\nhello\nEOF",
    "echo x >&{T}",
    "echo x >& {T}",
    "echo x &>{T}",
    "echo x &>>{T}",
    "echo x >|{T}",
    "echo x 2>{T}",
    "echo x 2>>{T}",
    "echo x 1<>{T}",
    "echo x <>{T}",
    "echo x 3>{T}",
    "> {T}",
    "2>{T}",
    ">{T} echo x",
    "{{ echo x; }} >{T}",
    "(echo x) >{T}",
    "for i in 1; do echo $i; done >{T}",
    "true; cat <<EOF >{T}\nhello\nEOF\necho after",
    "bash -c 'cat <<EOF >{T}\nhello\nEOF'",
]


@needs_bash
@pytest.mark.parametrize("template", REDIRECTS)
def test_bash_writes_the_redirect_target(tmp_path: Path, template: str) -> None:
    """The claim behind every case: bash really opens ``{T}`` for writing."""
    target = tmp_path / "written"
    result = run_bash(template.format(T=target), tmp_path)
    assert target.exists(), (template, result.stderr)


@pytest.mark.parametrize("template", REDIRECTS)
def test_redirect_into_a_blocked_directory_is_denied(tmp_path: Path, template: str) -> None:
    gate, work = path_gate(tmp_path)
    for target in ("secrets/k", "/etc/cron.d/x", "~/.ssh/authorized_keys", "constitution.toml"):
        v, why = verdict(gate, work, template.format(T=target))
        assert v is Verdict.DENY, (template, target, why)


@pytest.mark.parametrize("template", REDIRECTS)
def test_redirect_outside_the_allowed_directories_is_denied(tmp_path: Path, template: str) -> None:
    gate, work = path_gate(tmp_path)
    v, why = verdict(gate, work, template.format(T=tmp_path / "elsewhere"))
    assert v is Verdict.DENY, (template, why)
    assert any("allowed_directories" in w for w in why), why


#: the same lines writing inside the allowed directory: their verdict is the commands'
REDIRECTS_ALLOWED = dict.fromkeys(REDIRECTS, Verdict.ALLOW) | {
    "while read l; do echo $l; done <<EOF >{T}\nhello\nEOF": Verdict.ASK,  # read: not auto
    # tree-sitter-bash misreads ``<>`` without a descriptor: a parse failure asks
    "echo x <>{T}": Verdict.ASK,
}


@pytest.mark.parametrize("template", REDIRECTS)
def test_redirect_inside_the_allowed_directory_keeps_its_verdict(
    tmp_path: Path, template: str
) -> None:
    gate, work = path_gate(tmp_path)
    v, why = verdict(gate, work, template.format(T="sub/k"))
    assert v is REDIRECTS_ALLOWED[template], (template, why)
    assert not any(w.startswith("resource_limits") for w in why), why


@pytest.mark.parametrize(
    "command", ["echo x >&2", "echo x 2>&1", "echo x 1>&2 2>&-", "echo x >&-", "cat 0<&3"]
)
def test_descriptor_duplication_is_not_a_file(tmp_path: Path, command: str) -> None:
    gate, work = path_gate(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    v, why = verdict(gate, outside, command)
    assert v is Verdict.ALLOW, why


def test_dynamic_redirect_targets_ask(tmp_path: Path) -> None:
    gate, work = path_gate(tmp_path)
    for command in ("cat <<EOF >$OUT\nx\nEOF", "echo x >&$F", 'echo x &>"$F"', "> $(mktemp)"):
        v, why = verdict(gate, work, command)
        assert v is Verdict.ASK, (command, why)


# ------------------------------------------------------------------------ 2. path shortcuts

#: ``{B}`` is a directory spelled plainly; each line writes ``{B}/written`` through a
#: shortcut bash and the kernel follow. ``{A}`` is ``{B}`` as an absolute path.
SHORTCUTS = [
    "echo x > /dev/fd/../../..{A}/written",
    "echo x > /dev/fd/../fd/../root{A}/written",
    "echo x > /proc/self/root{A}/written",
    "echo x > /proc/thread-self/root{A}/written",
    "echo x > /proc/$$/root{A}/written",
    "echo x > /proc/${{$}}/root{A}/written",
    "echo x > /proc/self/cwd/{B}/written",
    "echo x > ~+/{B}/written",
    "echo x > ~0/{B}/written",
    "echo x > ~+0/{B}/written",
    "echo x > $PWD/{B}/written",
    "echo x > ${{PWD}}/{B}/written",
    'echo x > "$PWD"/{B}/written',
    "cd sub && echo x > $PWD/../{B}/written",
    "echo x > sub/../{B}/written",
    "echo x > /{A}/written",
    "echo x > {B}/./written",
    "echo x > ./{B}//written",
    "echo x > link/written",
    "echo x > hop/written",
    "echo x > sub/up/{B}/written",
    "touch ~+/{B}/written",
    "cp /dev/null /proc/self/root{A}/written",
    "touch $PWD/{B}/written",
    "cat <<EOF > ~+/{B}/written\nx\nEOF",
]


def _links(work: Path, target: Path) -> None:
    """``link`` → target, ``hop`` → ``link`` (two levels), ``sub/up`` → ``..``."""
    (work / "link").symlink_to(target)
    (work / "hop").symlink_to("link")
    (work / "sub" / "up").symlink_to("..")


@needs_bash
@pytest.mark.parametrize("template", SHORTCUTS)
def test_bash_follows_the_shortcut(tmp_path: Path, template: str) -> None:
    work = tmp_path / "w"
    (work / "sub").mkdir(parents=True)
    (work / "plain").mkdir()
    _links(work, work / "plain")
    line = template.format(A=work / "plain", B="plain")
    result = run_bash(line, work)
    assert (work / "plain" / "written").exists(), (line, result.stderr)


@pytest.mark.parametrize("template", SHORTCUTS)
def test_shortcuts_into_a_blocked_directory_are_denied(tmp_path: Path, template: str) -> None:
    gate, work = path_gate(tmp_path)
    _links(work, work / "secrets")
    line = template.format(A=work / "secrets", B="secrets")
    v, why = verdict(gate, work, line)
    assert v is Verdict.DENY, (line, why)
    assert any("blocked_directories" in w for w in why), why


@pytest.mark.parametrize("template", SHORTCUTS)
def test_shortcuts_inside_the_allowed_directory_are_allowed(tmp_path: Path, template: str) -> None:
    gate, work = path_gate(tmp_path)
    (work / "plain").mkdir()
    _links(work, work / "plain")
    line = template.format(A=work / "plain", B="plain")
    if line.startswith("cd "):
        # every directory the string may have entered counts, so ``$PWD/..`` after
        # ``cd sub`` is also checked from work/ (documented; use absolute paths)
        line = line.replace("cd sub && ", "").replace("$PWD/../", "$PWD/")
    v, why = verdict(gate, work, line)
    assert v is Verdict.ALLOW, (line, why)
    assert not any(w.startswith(("resource_limits", "CHARTER-GATE-UNRESOLVED")) for w in why), why


@needs_bash
def test_bash_tilde_forms(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    out = run_bash("cd sub && echo ~+ ~0 ~+0; cd ..; echo ~-", tmp_path).stdout.split()
    assert out == [str(tmp_path / "sub")] * 3 + [str(tmp_path / "sub")]
    # without an earlier cd, ``~-`` is $OLDPWD of whoever started the shell: unknown here
    unset = run_bash("unset OLDPWD; echo ~- ~1 ~nosuchuser-charter", tmp_path).stdout.split()
    assert unset == ["~-", "~1", "~nosuchuser-charter"]
    assert run_bash("echo ~root", tmp_path).stdout.strip() == os.path.expanduser("~root")


@pytest.mark.parametrize(
    "command",
    [
        "echo x > ~-/k",
        "cd secrets; cd ..; echo x > ~-/k",
        "echo x > ~1/k",
        "echo x > ~-1/k",
        "echo x > /proc/1/root/tmp/k",
        "echo x > /proc/1/cwd/k",
        "echo x > /dev/fd/0/../../k",
        "echo x > /proc/self/exe",
        "echo x > loop/k",
    ],
)
def test_paths_only_known_at_run_time_ask(tmp_path: Path, command: str) -> None:
    gate, work = path_gate(tmp_path)
    (work / "loop").symlink_to("loop")
    v, why = verdict(gate, work, command)
    assert v in (Verdict.ASK, Verdict.DENY), (command, why)
    assert v is not Verdict.ALLOW
    assert any("CHARTER-GATE-UNRESOLVED" in w or "resource_limits" in w for w in why), why


def test_tilde_user_is_that_users_home(tmp_path: Path) -> None:
    gate, work = path_gate(tmp_path)
    home = os.path.expanduser("~")
    user = Path(home).owner()
    v, why = verdict(gate, work, f"echo x > ~{user}/.ssh/authorized_keys")
    assert v is Verdict.DENY, why
    # no such user: bash writes the literal relative path ``./~nosuchuser-charter/k``
    v, why = verdict(gate, work, "echo x > ~nosuchuser-charter/k")
    assert v is Verdict.ALLOW, why


def test_a_variable_named_pwd_set_in_the_string_is_not_the_directory(tmp_path: Path) -> None:
    gate, work = path_gate(tmp_path)
    v, why = verdict(gate, work, f"PWD={work}/sub; echo x > $PWD/k")
    assert v is Verdict.ASK, why
    v, why = verdict(gate, work, 'cd "$D"; echo x > $PWD/k')
    assert v is Verdict.ASK, why


def test_descriptors_and_devices_are_not_files(tmp_path: Path) -> None:
    gate, work = path_gate(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for command in ("echo x > /dev/null", "echo x > /dev/stdout", "echo x > /dev/stderr",
                    "echo x > /dev/fd/2", "echo x > /proc/self/fd/1",
                    "exec 3>&1; echo x >/dev/fd/3", "echo x > /dev/fd/./1"):  # fmt: skip
        v, why = verdict(gate, outside, command)
        assert v in (Verdict.ALLOW, Verdict.ASK), (command, why)
        assert not any("resource_limits" in w for w in why), (command, why)
