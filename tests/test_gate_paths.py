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
        "printf *", "cd *", "sort *", "wc *", "diff *", "git *", "rm *", ":", "rg *", "sed *",
        "find *", "awk *", "tail *", "base64 *", "sha256sum *", "less *"]  # fmt: skip


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
    protected = (
        str(work / "constitution.toml"),
        str(work / ".charter" / "constitution.toml"),
        str(work / "audit.db"),
    )
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
    # words after a redirection are the command's arguments (tree-sitter files them
    # under the redirection)
    "tee </dev/null {T}",
    "tee <<EOF >/dev/null {T}\nhello\nEOF",
    "tee 2>/dev/null </dev/null sub/other {T}",
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


# ------------------------------------------------------ 3. expansion the gate must perform


def _layout(work: Path) -> None:
    """The files of the glob corpus: protected files, a blocked file, a link to .charter."""
    (work / "secrets").mkdir(parents=True, exist_ok=True)
    (work / "sub").mkdir(exist_ok=True)
    (work / ".charter").mkdir(exist_ok=True)
    for name in ("constitution.toml", ".charter/constitution.toml", "audit.db", "secrets/k"):
        (work / name).write_text("orig\n")
    (work / "notes.txt").write_text("a\n")
    (work / "lnk").symlink_to(".charter")


#: (command, the file bash really writes). Each is denied: the file is protected or
#: in the blocked ``secrets/``.
GLOBS = [
    ("echo x > ln?/constitution.toml", ".charter/constitution.toml"),
    ("echo x > .charter/constitution.tom?", ".charter/constitution.toml"),
    ("echo x > .c*/constitution.toml", ".charter/constitution.toml"),
    ("echo x > audit.d[b]", "audit.db"),
    ("echo x >> audit.d[a-c]", "audit.db"),
    ("echo x > constitution.tom[!x]", "constitution.toml"),
    ("echo x > constitution.tom[^x]", "constitution.toml"),
    ("cat <<EOF > co*.toml\nx\nEOF", "constitution.toml"),
    ("cp notes.txt audit.d?", "audit.db"),
    ("tee ln?/*.toml < notes.txt", ".charter/constitution.toml"),
    ("sort -o audit.* notes.txt", "audit.db"),
    ("echo x > sec*/k", "secrets/k"),
    ("echo x > s[!u]*/k", "secrets/k"),
    ("echo x > secrets/?", "secrets/k"),
    ("touch -d 2001-01-01 secr??s/*", "secrets/k"),
    ("tee secr{e,x}ts/k < notes.txt", "secrets/k"),
    ("echo x > se{c..c}rets/k", "secrets/k"),
    ("tee {sub,secrets}/k2 < notes.txt", "secrets/k2"),
    ("tee s{u,e}{b,c}rets/k2 < notes.txt", "secrets/k2"),
    ("cp notes.txt {sub,secrets}/", "secrets/notes.txt"),
    ("tee audit.{db,x} < notes.txt", "audit.db"),
    ("echo x > $PWD/ln?/constitution.toml", ".charter/constitution.toml"),
]


def _changed(path: Path) -> bool:
    return path.exists() and (path.read_text() != "orig\n" or path.stat().st_mtime < 1_000_000_000)


@needs_bash
@pytest.mark.parametrize(("command", "written"), GLOBS)
def test_bash_expands_into_the_file(tmp_path: Path, command: str, written: str) -> None:
    work = tmp_path / "w"
    _layout(work)
    result = run_bash(command, work)
    assert _changed(work / written), (command, result.stderr)


@pytest.mark.parametrize(("command", "written"), GLOBS)
def test_expansion_into_protected_or_blocked_files_is_denied(
    tmp_path: Path, command: str, written: str
) -> None:
    gate, work = path_gate(tmp_path)
    _layout(work)
    v, why = verdict(gate, work, command)
    assert v is Verdict.DENY, (command, why)
    assert any("PROTECTED" in w or "blocked_directories" in w for w in why), (command, written, why)


#: Globs and braces that name only files in the allowed directory keep their verdict.
HARMLESS_EXPANSIONS = [
    "echo x > sub/*.txt", "rm -f sub/*", "touch sub/{a,b,c}", "echo x > no?match",
    "cp notes.txt sub/n{1..3}", "cat *.txt", "ls -la s*", "echo {a..e}", "touch sub/x{,.bak}",
    "echo x > sub/[ab]*",
]  # fmt: skip


@pytest.mark.parametrize("command", HARMLESS_EXPANSIONS)
def test_expansion_inside_the_allowed_directory_is_allowed(tmp_path: Path, command: str) -> None:
    gate, work = path_gate(tmp_path)
    _layout(work)
    (work / "sub" / "a.txt").write_text("a")
    v, why = verdict(gate, work, command)
    assert v is Verdict.ALLOW, (command, why)


@pytest.mark.parametrize(
    "command",
    [
        "echo x > [[:alpha:]]ecrets/k",
        "echo x > ~-/*",
        "touch {1..100000}",
    ],
)
def test_expansion_the_gate_cannot_perform_asks(tmp_path: Path, command: str) -> None:
    gate, work = path_gate(tmp_path)
    _layout(work)
    v, why = verdict(gate, work, command)
    assert v is Verdict.ASK, (command, why)


#: Words whose brace expansion is compared with bash's, word for word.
BRACE_WORDS = [
    "{a,b}", "x{,}y", 'r"m"{,}', "/e{t..t}c/shadow", "{1..10..3}", "{01..3}", "{5..1..2}",
    "{-01..2}", "{01..-2}", "{a..e}", "{e..a..2}", "{a{b,c}", "\\{a,b}", "{a,b\\}c}",
    '"{a,b}"{c,d}', "{a,{b,c}d}", "{1..3}{a,b}", "{}", "{a}", "{,a}", "a{b..d}}",
    "'{x,y}'z", "{%..+}", "{a..c..0}", "pre{1..2}post{x,y}", "{,}",
]  # fmt: skip


@needs_bash
@pytest.mark.parametrize("word", BRACE_WORDS)
def test_brace_expansion_is_bashs(tmp_path: Path, word: str) -> None:
    from charter.actions.shell import parse

    line = f"printf '%s\\n' {word}"
    out = run_bash(line, tmp_path).stdout.splitlines()
    (cmd,) = parse(line).commands
    assert list(cmd.argv[2:]) == out, (word, out)


def test_brace_expansion_decides_the_command_it_makes(tmp_path: Path) -> None:
    gate, work = path_gate(tmp_path)
    v, why = verdict(gate, work, 'r"m"{,} -rf /')
    assert v is Verdict.DENY, why
    v, why = verdict(gate, work, "{rm,-rf,/}")
    assert v is Verdict.DENY, why
    v, why = verdict(gate, work, "cat /e{t..t}c/shadow")
    assert v is Verdict.DENY, why


@needs_bash
def test_a_redirect_to_several_brace_words_is_refused_by_bash_and_denied(tmp_path: Path) -> None:
    """bash refuses ``> audit.{db,x}`` (ambiguous redirect); the gate checks every word."""
    work = tmp_path / "w"
    _layout(work)
    result = run_bash("echo x > audit.{db,x}", work)
    assert "ambiguous redirect" in result.stderr
    gate, gwork = path_gate(tmp_path / "g")
    _layout(gwork)
    assert verdict(gate, gwork, "echo x > audit.{db,x}")[0] is Verdict.DENY
    assert verdict(gate, gwork, "echo x > sub/{a,b}")[0] is Verdict.ALLOW


# ------------------------------------------------------------------ 4. reads of secrets


def read_gate(tmp_path: Path) -> tuple[Gate, Path, dict[str, str]]:
    """``work/secrets`` blocked; ``home/.aws/credentials`` a secret; ``keys/signing.key``
    the private half of the protected ``keys/signing.pub``."""
    gate0, work = path_gate(tmp_path)
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\n")
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "signing.pub").write_text("pub")
    (keys / "signing.key").write_text("key")
    (work / "secrets" / "k").write_text("secret\n")
    (work / "sub" / "a").write_text("a\n")
    (work / "sub" / "b").write_text("b\n")
    (work / "notes.txt").write_text("n\n")
    (work / "peek").symlink_to("secrets")
    config = GateConfig(
        protected_paths=(*gate0.config.protected_paths, str(keys / "signing.pub")),
        secret_paths=(str(home / ".aws" / "credentials"),),
    )
    gate = Gate(gate0.constitution, config=config)
    return gate, work, {"H": str(home), "K": str(keys), "W": str(work)}


READ_DENY = [
    "cat secrets/k", "cat peek/k", "cat pee?/k", "cat {{sub,secrets}}/k", "head -n 3 secrets/k",
    "tail -n 1 secrets/k", "sort secrets/k", "sed -n 1p secrets/k", "awk '{{print}}' secrets/k",
    "base64 secrets/k", "sha256sum secrets/k", "wc -c < secrets/k", "grep -e x secrets/k",
    "grep x -- secrets/k", "diff sub/a secrets/k", "grep -r X .", "grep -rn X", "grep -R X {W}",
    "grep --recursive X .", "diff -r sub .", "git diff --no-index notes.txt secrets/k",
    "git diff --no-index sub .", "cp -r . sub/copy", "cp -a {W} sub/copy",
    'for f in secrets/*; do cat "$f"; done', 'for f in sub/a secrets/k; do head "$f"; done',
    "cat {K}/signing.key", "grep -r X {K}", "cat < {K}/signing.key", "less {K}/signing.key",
    "cat $PWD/secrets/k", "git grep x -- secrets", "git grep -n x", "git grep x secrets",
    "tee < secrets/k sub/x", "cat sub/a < secrets/k", "grep -r x s*", "grep -r x ../w*",
    'for d in */; do grep -r x "$d"; done', "cp -r s[e]* sub/c",
]  # fmt: skip
READ_ASK = [
    "cat {H}/.aws/credentials", "head -c 100 {H}/.aws/credentials", "grep -r key {H}",
    "cp -r {H} sub/h", "cat $F", 'grep x "$F"', "cat < $F", "head $(ls)", "cat ~-/x",
    "sort `echo x`", 'while read f; do cat "$f"; done < notes.txt',
]  # fmt: skip
READ_ALLOW = [
    "grep -rn '/etc/passwd' sub/", "echo /etc/hosts", "echo {W}/secrets/k",
    "printf '%s\\n' secrets/k", "grep -e secrets/k sub/a", "grep secrets/k sub/a",
    'for f in sub/*; do cat "$f"; done', "cat sub/a", "grep -r TODO sub", "rg -n TODO sub",
    "git diff --no-index sub/a sub/b", "diff -r sub sub", "cat notes.txt sub/*",
    "grep -rn '~/.ssh/id_rsa' sub", "echo ~/.aws/credentials", "head -n 5 /usr/share/dict/x",
    "git grep x -- sub", "git grep -e secrets sub", "tee < sub/a sub/b",
]  # fmt: skip


@pytest.mark.parametrize("template", READ_DENY)
def test_reads_of_blocked_files_and_charters_key_are_denied(tmp_path: Path, template: str) -> None:
    gate, work, where = read_gate(tmp_path)
    line = template.format(**where)
    v, why = verdict(gate, work, line)
    assert v is Verdict.DENY, (line, why)


@pytest.mark.parametrize("template", READ_ASK)
def test_reads_of_secrets_and_of_run_time_paths_ask(tmp_path: Path, template: str) -> None:
    gate, work, where = read_gate(tmp_path)
    line = template.format(**where)
    v, why = verdict(gate, work, line)
    assert v is Verdict.ASK, (line, why)
    assert any("SECRET" in w or "UNRESOLVED" in w for w in why), (line, why)


@pytest.mark.parametrize("template", READ_ALLOW)
def test_text_that_looks_like_a_path_is_not_a_read(tmp_path: Path, template: str) -> None:
    gate, work, where = read_gate(tmp_path)
    line = template.format(**where)
    v, why = verdict(gate, work, line)
    assert v is Verdict.ALLOW, (line, why)
    assert not any("SECRET" in w or "blocked" in w or "UNRESOLVED" in w for w in why), (line, why)


def test_defaults_protect_credentials_without_configuration(tmp_path: Path) -> None:
    gate, work = path_gate(tmp_path)
    for command in ("cat ~/.aws/credentials", "cat ~/.git-credentials", "cat ~/.pypirc",
                    "cat ~/.kube/config", "cat ~/.docker/config.json", "cat ~/.netrc",
                    "head ~/.npmrc", "cat ~/.config/gcloud/credentials.db",
                    "grep -r token ~/.azure", "cat ~/.ssh/../.aws/credentials"):  # fmt: skip
        v, why = verdict(gate, work, command)
        assert v is Verdict.ASK, (command, why)
        assert any("CHARTER-GATE-SECRET-FILE" in w for w in why), why
    # writes to them are at least asked too (``~/.ssh`` is blocked here: deny)
    assert verdict(gate, work, "echo x >> ~/.npmrc")[0] >= Verdict.ASK
    assert verdict(gate, work, "cat ~/.charter/keys/signing.key")[0] is Verdict.DENY


@needs_bash
def test_the_tools_really_read_what_the_gate_says(tmp_path: Path) -> None:
    """grep -r, rg-less grep without a path, cp -r and diff -r read below a directory;
    a for loop's variable takes the glob's files."""
    work = tmp_path / "w"
    (work / "deep" / "er").mkdir(parents=True)
    (work / "deep" / "er" / "k").write_text("TOKEN-1234\n")
    (work / "a.txt").write_text("a\n")
    (work / "b.txt").write_text("b\n")
    assert "TOKEN-1234" in run_bash("grep -r TOKEN deep", work).stdout
    assert "TOKEN-1234" in run_bash("grep -rh TOKEN", work).stdout
    run_bash("cp -r deep copy", work)
    assert (work / "copy" / "er" / "k").read_text() == "TOKEN-1234\n"
    assert "TOKEN-1234" in run_bash("mkdir -p e/er; diff -r e deep; true", work).stdout + (
        run_bash("mkdir -p e/er; touch e/er/k; diff -r e deep; true", work).stdout
    )
    loop = run_bash('for f in *.txt; do echo "$f"; done', work).stdout.split()
    assert loop == ["a.txt", "b.txt"]
    if shutil.which("git"):
        out = run_bash("mkdir -p empty/er; touch empty/er/k; git diff --no-index empty deep", work)
        assert "TOKEN-1234" in out.stdout


# --------------------------------------------------------------- 5. false positives gone

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
NOT_ASKED = [
    "git --no-pager status", "git -P status", "git --no-pager log -5", "GIT_PAGER=cat git log -5",
    "PAGER=cat git log -5", "PAGER=/usr/bin/cat git diff HEAD", "git -c core.pager=cat log",
    "GIT_CONFIG_NOSYSTEM=1 git log", "env GIT_PAGER=cat git log", f"echo '{FAMILY} family'",
    f'echo "{FAMILY}"', "echo '\U0001f44d\U0001f3fd'", "grep -rn '$IFS' sub/", "echo '${IFS}'",
    "grep -rn '/etc/passwd' sub/", "grep -rn /etc/passwd sub/", "echo /etc/hosts",
    "echo ~/.ssh/id_rsa", "printf '%s\\n' /etc/shadow", "grep -e /etc/x -r sub",
]  # fmt: skip
STILL_ASKED = [
    "GIT_PAGER=less git log", "PAGER='sh -c id' git log", "git -c core.pager='cat; id' log",
    "git -c core.pager=more log", "echo 'a\u200db'", "r\u200dm -rf /tmp/x", "echo '\u200d'",
    'grep -rn "$IFS" sub/', "echo x$IFS", "GIT_CONFIG_GLOBAL=/tmp/x git log",
    "GIT_CONFIG_COUNT=1 git log", "git --no-pager -c core.pager=vim log",
]  # fmt: skip


@pytest.mark.parametrize("command", NOT_ASKED)
def test_harmless_commands_are_not_asked(tmp_path: Path, command: str) -> None:
    gate, work = path_gate(tmp_path)
    v, why = verdict(gate, work, command)
    assert v is Verdict.ALLOW, (command, why)


@pytest.mark.parametrize("command", STILL_ASKED)
def test_their_lookalikes_still_ask(tmp_path: Path, command: str) -> None:
    gate, work = path_gate(tmp_path)
    v, why = verdict(gate, work, command)
    assert v >= Verdict.ASK, (command, why)


def test_neutral_options_do_not_hide_forbidden_commands(tmp_path: Path) -> None:
    from charter.actions.constitution import parse_text as parse

    gate = Gate(
        parse(
            '[identity]\nversion = "1.0.0"\n[boundaries]\n'
            'forbidden = ["git push --force * main"]\nauto_allowed = ["git *", "cat *"]\n'
        )
    )
    for command in ("git --no-pager push --force origin main", "PAGER=cat git push -f origin main",
                    "GIT_CONFIG_NOSYSTEM=1 git push --force origin main"):  # fmt: skip
        assert gate.decide_command(command, str(tmp_path)).verdict is Verdict.DENY, command


@needs_bash
def test_bash_keeps_quoted_text_as_text(tmp_path: Path) -> None:
    out = run_bash(f"printf '%s\\n' '$IFS' '{FAMILY}' /etc/hosts", tmp_path).stdout
    assert out.splitlines() == ["$IFS", FAMILY, "/etc/hosts"]
    # unquoted, $IFS is split away: that one still asks
    assert run_bash("printf '[%s]' x$IFS", tmp_path).stdout == "[x]"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_no_pager_is_git(tmp_path: Path) -> None:
    git = shutil.which("git")
    assert git is not None
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}
    subprocess.run([git, "init", "-q", str(tmp_path)], check=True, env=env)  # noqa: S603
    plain = subprocess.run([git, "status"], cwd=tmp_path, env=env, capture_output=True, text=True)  # noqa: S603
    quiet = subprocess.run(  # noqa: S603
        [git, "--no-pager", "status"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert plain.stdout == quiet.stdout and plain.returncode == quiet.returncode == 0


# ------------------------------------------------- directories entered through shortcuts


@needs_bash
def test_bash_cd_expands_globs_and_tildes(tmp_path: Path) -> None:
    work = tmp_path / "w"
    _layout(work)
    run_bash("cd se*; echo x > k2; cd ~+/../sub && echo y > k3", work)
    assert (work / "secrets" / "k2").read_text() == "x\n"
    assert (work / "sub" / "k3").read_text() == "y\n"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("cd se*; echo x > k", Verdict.ASK),  # where cd goes is only known at run time
        ("cd s?crets && touch k", Verdict.ASK),
        ("cd ~+/secrets && echo x > k", Verdict.DENY),
        ("cd ~0/secrets && echo x > k", Verdict.DENY),
        ("cd ~+/sub && echo x > k", Verdict.ALLOW),
        ("cd ~-; echo x > k", Verdict.ASK),
        ("cd se{c..c}rets; echo x > k", Verdict.DENY),
        ('cd "se*"; echo x > k', Verdict.ALLOW),  # a quoted glob is a name: cd fails
    ],
)
def test_cd_through_shortcuts(tmp_path: Path, command: str, expected: Verdict) -> None:
    gate, work = path_gate(tmp_path)
    _layout(work)
    v, why = verdict(gate, work, command)
    assert v is expected, (command, why)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("tar -czf sub/o.tgz secrets", Verdict.DENY),
        ("tar czf sub/o.tgz -C secrets .", Verdict.DENY),
        ("tar -czf sub/o.tgz {K}/signing.key", Verdict.DENY),
        ("tar -czf sub/o.tgz {H}/.aws/credentials", Verdict.ASK),
        ("zip sub/o.zip secrets/k", Verdict.DENY),
        ("zip -r sub/o.zip .", Verdict.DENY),  # everything below ., secrets/ included
        ("zip -r sub/o.zip {H}", Verdict.ASK),
        ("zip -r sub/o.zip sub", Verdict.ALLOW),
        ("tar -czf sub/o.tgz sub notes.txt", Verdict.ALLOW),
        ("tar -xzf sub/o.tgz -C sub", Verdict.ALLOW),
    ],
)
def test_archivers_read_their_members(tmp_path: Path, command: str, expected: Verdict) -> None:
    gate, work, where = read_gate(tmp_path)
    auto = Gate(
        parse_text(
            '[identity]\nversion = "1.0.0"\n[boundaries]\nauto_allowed = ["tar *", "zip *"]\n'
            f'[resource_limits]\nblocked_directories = ["{work}/secrets"]\n'
        ),
        config=gate.config,
    )
    line = command.format(**where)
    v, why = verdict(auto, work, line)
    assert v is expected, (line, why)


def test_names_xargs_reads_from_stdin_are_run_time_paths(tmp_path: Path) -> None:
    gate = Gate(
        parse_text(
            '[identity]\nversion = "1.0.0"\n[boundaries]\n'
            'auto_allowed = ["xargs *", "find *", "echo *", "cat *"]\n'
        )
    )
    # names from anything but ``find ROOT``: only known at run time
    for command in ("ls | xargs cat", "xargs -a list.txt cat", "git ls-files | xargs cat"):
        d = gate.decide_command(command, str(tmp_path))
        assert d.verdict is Verdict.ASK, (command, [r.msg for r in d.reasons])
    # from ``find ROOT``: every file below ROOT, which holds credentials here
    d = gate.decide_command("find ~/.aws -print0 | xargs -0 cat", str(tmp_path))
    assert d.verdict is Verdict.ASK, [r.msg for r in d.reasons]
    assert "CHARTER-GATE-SECRET-FILE" in {r.rule for r in d.reasons}
    # the home directory also holds Charter's private keys (~/.charter/keys): deny
    d = gate.decide_command("find ~ -name '*.pem' | xargs cat", str(tmp_path))
    assert d.verdict is Verdict.DENY, [r.msg for r in d.reasons]
    for command in ("echo | xargs echo", "echo a.txt | xargs cat", "find . | xargs cat"):
        d = gate.decide_command(command, str(tmp_path))
        assert d.verdict is Verdict.ALLOW, (command, [r.msg for r in d.reasons])


def test_the_read_and_write_tools_meet_the_same_rules(tmp_path: Path) -> None:
    """``file_read``/``file_write`` actions (an agent's Read/Write tools) take the path
    literally, but resolve it as the kernel would and meet secrets and keys too."""
    gate, work, where = read_gate(tmp_path)
    d = gate.decide_read(f"{where['H']}/.aws/credentials", str(work))
    # an explicit read outside the allowed directories denies; the secret is named too
    assert d.verdict is Verdict.DENY
    assert "CHARTER-GATE-SECRET-FILE" in {r.rule for r in d.reasons}
    assert gate.decide_read(f"{where['K']}/signing.key", str(work)).verdict is Verdict.DENY
    assert gate.decide_read("peek/k", str(work)).verdict is Verdict.DENY
    assert gate.decide_read("/proc/self/cwd/secrets/k", str(work)).verdict is Verdict.DENY
    assert gate.decide_read("sub/a", str(work)).verdict is Verdict.ALLOW
    assert gate.decide_write("~+/secrets/x", cwd=str(work)).verdict is Verdict.DENY
    shortcut = f"/dev/fd/../../..{work}/x"
    assert gate.decide_write(shortcut, cwd=str(work)).verdict is Verdict.ALLOW
    assert gate.decide_write("~-/x", cwd=str(work)).verdict is Verdict.ASK


@needs_bash
def test_a_lone_redirection_in_a_substitution_reads_the_file(tmp_path: Path) -> None:
    """``$(<FILE)`` is bash's ``$(cat FILE)``."""
    gate, work, _ = read_gate(tmp_path)
    assert run_bash('printf %s "$(<secrets/k)"', work).stdout == "secret"
    for command in ("echo $(<secrets/k)", 'x="$(< secrets/k)"', "local v=$(<peek/k)"):
        v, why = verdict(gate, work, command)
        assert v is Verdict.DENY, (command, why)
    assert verdict(gate, work, "echo $(<sub/a)")[0] is Verdict.ALLOW
    assert verdict(gate, work, "echo $(<$F)")[0] is Verdict.ASK


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("cat ~/.aws/cred*", Verdict.ASK),
        ("cat ~/.a*/credentials", Verdict.ASK),
        ("head ~/.ss?/id_*", Verdict.ASK),
        ("cat ~/.charter/k*/*", Verdict.DENY),
        ("cat ~/.kube/conf[i]g", Verdict.ASK),
        ("cat ~/notes-*.txt", Verdict.ALLOW),
    ],
)
def test_globs_that_may_name_a_secret(tmp_path: Path, command: str, expected: Verdict) -> None:
    """Whether or not the files exist now, a pattern that may name a secret is a read
    of it (bash keeps an unmatched pattern literal, but the file may appear)."""
    gate = Gate(
        parse_text(
            '[identity]\nversion = "1.0.0"\n[boundaries]\nauto_allowed = ["cat *", "head *"]\n'
        )
    )
    d = gate.decide_command(command, str(tmp_path))
    assert d.verdict is expected, (command, [r.msg for r in d.reasons])


def test_urls_are_not_local_paths_but_file_urls_are(tmp_path: Path) -> None:
    gate = Gate(
        parse_text(
            '[identity]\nversion = "1.0.0"\n[boundaries]\n'
            'auto_allowed = ["curl https://*", "curl file:*", "mytool *"]\n'
            '[resource_limits]\nblocked_directories = ["/etc"]\n'
        )
    )
    for command in ("curl https://example.com/etc/passwd", "mytool --url=https://x/etc/x"):
        assert gate.decide_command(command, str(tmp_path)).verdict is Verdict.ALLOW, command
    for command in ("curl file:///etc/passwd", "mytool --src=file:///etc/shadow"):
        assert gate.decide_command(command, str(tmp_path)).verdict is Verdict.DENY, command


@needs_bash
def test_a_loop_variable_the_body_assigns_is_not_its_words(tmp_path: Path) -> None:
    """``read f`` (or ``f=…``, ``printf -v f``) inside the loop changes ``$f``."""
    out = run_bash('for f in a; do read f; echo "$f"; done <<< changed', tmp_path).stdout
    assert out.strip() == "changed"
    gate, work, _ = read_gate(tmp_path)
    for command in ('for f in sub/a; do read f; cat "$f"; done',
                    'for f in sub/a; do printf -v f %s x; head "$f"; done'):  # fmt: skip
        v, why = verdict(gate, work, command)
        assert v is not Verdict.ALLOW, (command, why)
    v, why = verdict(gate, work, 'for f in sub/a; do f=secrets/k; cat "$f"; done')
    assert v is Verdict.DENY, why
    v, why = verdict(gate, work, 'for f in sub/a sub/b; do cat "${f}"; done')
    assert v is Verdict.ALLOW, why
