"""Escapes of the shipped agent-runtime constitution found by attack (wave 2, attack 5):
a repository git is pointed at by ``--git-dir`` or a ``.git`` file, configuration files
auto-allowed programs read (``.pytest.ini``, ``mypy.ini``, ``rust-toolchain.toml``, an
agent's ``.mcp.json``), and mypy's ``--python-executable``/``--config-file``/``@FILE``.

Each claim about what a program does is checked against the real program in a
temporary directory where it is installed; every case is decided by the constitution
Charter ships (``src/charter/defaults/constitution.toml``), which auto-allows
``git commit *``, ``pytest*``, ``mypy *`` and ``echo *``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from charter.actions import hooks
from charter.actions.constitution import parse_text
from charter.actions.gate import Gate
from charter.actions.lint import default_constitution_toml
from charter.core.verdict import Verdict

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


def shipped() -> Gate:
    return Gate(parse_text(default_constitution_toml().read_text()))


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PYTEST_"))}
    env.update(GIT_CONFIG_NOSYSTEM="1", HOME=str(cwd), GIT_CONFIG_GLOBAL="/dev/null")
    env.update(EMAIL="a@example.com", GIT_AUTHOR_NAME="a", GIT_COMMITTER_NAME="a")
    return subprocess.run(  # noqa: S603 - fixed programs, test arguments
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def marker_script(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    path.chmod(0o755)


@needs_git
def test_git_dir_naming_a_repository_the_agent_wrote_asks(tmp_path: Path) -> None:
    assert GIT is not None
    work = tmp_path / "w"
    work.mkdir()
    run([GIT, "init", "-q", "--bare", "evil"], work)
    marker = tmp_path / "ran"
    # the hook is written where no configuration rule looks: evil/hooks/, not .git/hooks/
    gate = shipped()
    assert gate.decide_write("evil/hooks/pre-commit", 10, str(work)).verdict is Verdict.ALLOW
    marker_script(work / "evil" / "hooks" / "pre-commit", marker)
    command = "git --git-dir=evil --work-tree=. commit --allow-empty -m x"
    run(command.split(), work)
    assert marker.exists()  # git commit ran the hook of the repository --git-dir names
    for spelled in (command, "git --git-dir evil --work-tree . commit --allow-empty -m x"):
        assert gate.decide_command(spelled, str(work)).verdict is Verdict.ASK, spelled
    assert gate.decide_command("git commit -m x", str(work)).verdict is Verdict.ALLOW


@needs_git
def test_a_dot_git_file_is_configuration(tmp_path: Path) -> None:
    assert GIT is not None
    work = tmp_path / "w"
    (work / "sub").mkdir(parents=True)
    run([GIT, "init", "-q", "--bare", "evil"], work)
    marker = tmp_path / "ran"
    marker_script(work / "evil" / "hooks" / "pre-commit", marker)
    (work / "evil" / "config").write_text("[core]\n\tbare = false\n\tworktree = ../sub\n")
    (work / "sub" / ".git").write_text("gitdir: ../evil\n")
    run([GIT, "commit", "--allow-empty", "-m", "x"], work / "sub")
    assert marker.exists()  # a .git file sends git to a repository (and hooks) elsewhere
    gate = shipped()
    assert gate.decide_write("sub/.git", 16, str(work)).verdict is Verdict.ASK
    d = gate.decide_command("echo 'gitdir: ../evil' > sub/.git", str(work))
    assert d.verdict is Verdict.ASK


def test_pytest_reads_dot_pytest_ini(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "evilplug.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (tmp_path / ".pytest.ini").write_text("[pytest]\npythonpath = .\naddopts = -p evilplug\n")
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], tmp_path)
    assert marker.exists()  # .pytest.ini loaded a plugin: code the next ``pytest`` runs
    gate = shipped()
    assert gate.decide_write(".pytest.ini", 10, str(tmp_path)).verdict is Verdict.ASK
    assert gate.decide_command("echo x >> .pytest.ini", str(tmp_path)).verdict is Verdict.ASK


CONFIGURES = [
    "mypy.ini", ".mypy.ini", "rust-toolchain", "rust-toolchain.toml", ".mcp.json",
    ".cursor/mcp.json", ".git/config.worktree",
]  # fmt: skip


@pytest.mark.parametrize("name", CONFIGURES)
def test_writes_to_more_configuration_files_ask(tmp_path: Path, name: str) -> None:
    gate = shipped()
    assert gate.decide_write(name, 10, str(tmp_path)).verdict is Verdict.ASK
    assert gate.decide_command(f"echo x > {name}", str(tmp_path)).verdict is Verdict.ASK
    assert gate.decide_write("src/app.py", 10, str(tmp_path)).verdict is Verdict.ALLOW


MYPY = pytest.mark.skipif(
    subprocess.run(  # noqa: S603 - the test's own interpreter
        [sys.executable, "-c", "import mypy"], capture_output=True, check=False
    ).returncode
    != 0,
    reason="mypy is not installed",
)


@MYPY
def test_mypy_runs_its_python_executable(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    marker_script(tmp_path / "evil", marker)
    (tmp_path / "a.py").write_text("x = 1\n")
    run([sys.executable, "-m", "mypy", "--python-executable", "./evil", "a.py"], tmp_path)
    assert marker.exists()
    marker.unlink()
    (tmp_path / "args.txt").write_text("--python-executable=./evil\na.py\n")
    run([sys.executable, "-m", "mypy", "@args.txt"], tmp_path)
    assert marker.exists()  # argparse's @FILE: the option is not on the command line
    gate = shipped()
    for command in (
        "mypy --python-executable ./evil a.py",
        "mypy --python-executable=./evil a.py",
        "mypy --python-exec=./evil a.py",
        "mypy @args.txt",
        "mypy --config-file x.ini a.py",
    ):
        assert gate.decide_command(command, str(tmp_path)).verdict is Verdict.ASK, command
    for command in ("mypy a.py", "mypy --strict src tests", "mypy -p pkg"):
        assert gate.decide_command(command, str(tmp_path)).verdict is Verdict.ALLOW, command


@MYPY
def test_a_mypy_config_file_loads_plugins(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "plug.py").write_text(
        f"open({str(marker)!r}, 'w').close()\ndef plugin(version):\n    raise SystemExit(1)\n"
    )
    (tmp_path / "x.ini").write_text("[mypy]\nplugins = plug.py\n")
    (tmp_path / "a.py").write_text("x = 1\n")
    run([sys.executable, "-m", "mypy", "--config-file", "x.ini", "a.py"], tmp_path)
    assert marker.exists()
    for command in ("mypy --config-file x.ini a.py", "mypy --config-file=x.ini a.py"):
        assert shipped().decide_command(command, str(tmp_path)).verdict is Verdict.ASK


RUFF = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
needs_ruff = pytest.mark.skipif(not Path(RUFF).exists(), reason="ruff is not installed")


@needs_ruff
def test_ruff_writes_the_files_it_formats_fixes_and_reports_to(tmp_path: Path) -> None:
    work = tmp_path / "w"
    work.mkdir()
    outside = tmp_path / "out.py"
    outside.write_text("x   =  1\n")
    run([RUFF, "format", "--no-cache", str(outside)], work)
    assert outside.read_text() == "x = 1\n"  # ruff format rewrote a file outside ./
    report = tmp_path / "report.txt"
    (work / "a.py").write_text("import os\n")
    run([RUFF, "check", "--no-cache", "-o", str(report), "a.py"], work)
    assert report.exists()
    gate = shipped()
    for command in (
        f"ruff format {outside}",
        f"ruff check --fix {outside}",
        f"ruff check --fix --unsafe-fixes {outside}",
        f"ruff check -o {report} .",
        f"ruff check --output-file={report} .",
        "ruff check --output-file ~/.bashrc .",
        "ruff check --cache-dir /opt/c .",
    ):
        assert gate.decide_command(command, str(work)).verdict is Verdict.DENY, command
    d = gate.decide_command("ruff check -o .git/hooks/pre-commit .", str(work))
    assert d.verdict is Verdict.ASK
    for command in ("ruff check .", "ruff format src", "ruff check --fix --select F401 src"):
        assert gate.decide_command(command, str(work)).verdict is Verdict.ALLOW, command


@MYPY
def test_mypy_writes_its_reports(tmp_path: Path) -> None:
    work = tmp_path / "w"
    work.mkdir()
    (work / "a.py").write_text("x = 1\n")
    report = tmp_path / "junit.xml"
    run([sys.executable, "-m", "mypy", "--junit-xml", str(report), "a.py"], work)
    assert report.exists()
    gate = shipped()
    for command in (
        f"mypy --junit-xml {report} a.py",
        f"mypy --junit-xml={report} a.py",
        "mypy --html-report /opt/r a.py",
        "mypy --cache-dir ~/c a.py",
    ):
        assert gate.decide_command(command, str(work)).verdict is Verdict.DENY, command
    d = gate.decide_command("mypy --junit-xml .git/hooks/pre-commit a.py", str(work))
    assert d.verdict is Verdict.ASK
    d = gate.decide_command("mypy --junit-xml out.xml --cache-dir .mypy_cache a.py", str(work))
    assert d.verdict is Verdict.ALLOW


@pytest.mark.parametrize("cut", ["\x1c", "\r", "\x0b", "\x0c", "\u2028", "\x85"])
def test_codex_patch_lines_end_only_at_newline(tmp_path: Path, cut: str) -> None:
    """Codex splits a patch with Rust's ``str::lines`` (``\\n``; openai/codex,
    codex-rs/apply-patch/src/parser.rs: ``patch.trim().lines()``, the path is the rest of
    the header line). Python's ``splitlines`` also cuts at ``\\r``, ``\\x1c``, U+2028 …:
    the gate saw ``x`` while Codex wrote through ``x<cut>/..`` into ``.git/hooks``."""
    work = tmp_path / "w"
    (work / ".git" / "hooks").mkdir(parents=True)
    path = f"x{cut}/../.git/hooks/pre-commit"
    # what Codex does with that path (create_dir_all of its parent, then write) lands here:
    os.makedirs(work / path.rsplit("/", 1)[0], exist_ok=True)
    (work / path).write_text("#!/bin/sh\n")
    assert (work / ".git" / "hooks" / "pre-commit").exists()
    shutil.rmtree(work / f"x{cut}")
    patch = f"*** Begin Patch\n*** Add File: {path}\n+#!/bin/sh\n+id\n*** End Patch\n"
    doc = {
        "hook_event_name": "PreToolUse",
        "tool_name": "apply_patch",
        "tool_input": {"command": patch},
        "cwd": str(work),
    }
    got = hooks.respond("codex", shipped(), json.dumps(doc))
    assert got.decision.verdict is not Verdict.ALLOW, got.decision.reasons
    assert '"deny"' in got.stdout
    assert hooks.patch_files(patch) == [(path, len("#!/bin/sh\nid\n"))]


@needs_git
def test_a_directory_made_a_repository_by_its_head_file_asks(tmp_path: Path) -> None:
    """git takes a directory holding HEAD, objects/ and refs/ for a repository (its
    config's core.worktree, its hooks/): writing ``x/HEAD`` makes ``cd x && git commit``
    run ``x/hooks/pre-commit``."""
    assert GIT is not None
    work = tmp_path / "w"
    repo = work / "x"
    for sub in ("objects", "refs"):
        (repo / sub).mkdir(parents=True)
    marker = tmp_path / "ran"
    marker_script(repo / "hooks" / "pre-commit", marker)
    (repo / "config").write_text(
        "[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tworktree = .\n"
    )
    (repo / "HEAD").write_text("ref: refs/heads/main\n")
    run([GIT, "commit", "--allow-empty", "-m", "x"], repo)
    assert marker.exists()
    gate = shipped()
    assert gate.decide_write("x/HEAD", 21, str(work)).verdict is Verdict.ASK
    d = gate.decide_command("echo 'ref: refs/heads/main' > x/HEAD", str(work))
    assert d.verdict is Verdict.ASK
    assert gate.decide_write("x/config", 10, str(work)).verdict is Verdict.ALLOW  # data


@pytest.mark.parametrize("path", ["/dev/fd/3", "/proc/self/fd/7", "/dev/fd/12"])
def test_a_file_tool_on_a_descriptor_of_the_agent_asks(tmp_path: Path, path: str) -> None:
    """A Read or Write tool runs in the agent's own process: its descriptor 3 may be any
    file the agent holds open. In a shell command the descriptor is the shell's own."""
    gate = shipped()
    assert gate.decide_read(path, str(tmp_path)).verdict is Verdict.ASK
    assert gate.decide_write(path, 10, str(tmp_path)).verdict is Verdict.ASK
    for standard in ("/dev/fd/1", "/proc/self/fd/2", "/dev/stdout"):
        assert gate.decide_write(standard, 10, str(tmp_path)).verdict is Verdict.ALLOW
    assert gate.decide_command(f"cat {path}", str(tmp_path)).verdict is Verdict.ALLOW


@pytest.mark.parametrize(
    "path", [".GIT/hooks/pre-commit", ".Git/config", "Makefile", ".PYTEST.ini", "sub/.MCP.json"]
)
def test_configuration_files_are_recognised_in_any_case(tmp_path: Path, path: str) -> None:
    """On a case-insensitive file system (macOS, Windows) these are the files git, make,
    pytest and the agent's MCP client read; on Linux asking about them is only stricter."""
    gate = shipped()
    assert gate.decide_write(path, 10, str(tmp_path)).verdict is Verdict.ASK, path
    assert gate.decide_write("src/app.py", 10, str(tmp_path)).verdict is Verdict.ALLOW
