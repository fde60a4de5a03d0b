"""The program catalogue: well formed, consistent, every entry used, and enforced.

The behaviour tests drive the real gate with options taken from the catalogue, so an
entry that nothing enforces (or that the gate reads differently) fails here.
"""

from __future__ import annotations

import re
import shlex
from importlib import resources
from pathlib import Path

import pytest

from charter.actions import command, embedded, patterns, wrappers
from charter.actions import files as files_mod
from charter.actions.catalogue import CATALOGUE, OPERAND_RULES, CatalogueError, Program, parse
from charter.actions.constitution import parse_text
from charter.actions.gate import Gate, GateConfig
from charter.core.verdict import Verdict
from tests.gate_helpers import constitution_text

TEXT = resources.files("charter.actions").joinpath("catalogue.toml").read_text("utf-8")
PROGRAMS = sorted(CATALOGUE.programs)
GATE = Gate(parse_text(constitution_text()))
CWD = "/work/project"


def verdict(argv: list[str], gate: Gate = GATE) -> Verdict:
    return gate.decide_command(shlex.join(argv), CWD).verdict


# ------------------------------------------------------------------ well formed


def test_the_shipped_catalogue_parses() -> None:
    assert parse(TEXT) == CATALOGUE
    assert len(CATALOGUE.programs) > 150


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[programs.x.files]\noperands = 'nope'\n", "no rule 'nope'"),
        ("[programs.x.files]\nwritez = ['-o']\n", "unknown key programs.x.files.writez"),
        ("[programs.x.options]\nshort_values = 3\n", "must be a str"),
        ("[programs.x.wrapper]\ntransparent = 'yes'\n", "must be a bool"),
        ("[programs.x.files]\nwrites = ['-o', '-o']\n", "lists a word twice"),
        ("[programs.x.files]\nlike = 'y'\n", "files.like: 'y'"),
        ("[programs.x]\nwhat = 1\n", "unknown key programs.x.what"),
        ("[programs.x\n", "malformed TOML"),
    ],
)
def test_malformed_entries_are_refused_by_name(text: str, message: str) -> None:
    with pytest.raises(CatalogueError, match=re.escape(message)):
        parse(_with_required(text))


def _with_required(programs: str) -> str:
    head = TEXT.split("\n[programs.", 1)[0]
    return head + "\n" + programs


def test_the_catalogue_is_immutable() -> None:
    with pytest.raises(TypeError):
        CATALOGUE.programs["rm"] = CATALOGUE.programs["rm"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        CATALOGUE.programs["rm"].files = None  # type: ignore[misc]


# ------------------------------------------------------------------ consistent


def _takes_value(p: Program, option: str) -> bool:
    o = p.options
    target = o.aliases.get(option, option)
    if target.startswith("--"):
        return target in o.long_values
    return len(target) == 2 and target[1] in o.short_values + o.optional_values


@pytest.mark.parametrize("name", PROGRAMS)
def test_every_program_is_consistent(name: str) -> None:
    p = CATALOGUE.programs[name]
    o = p.options
    assert "-" not in o.short_values and len(set(o.short_values)) == len(o.short_values)
    assert all(long.startswith("--") for long in o.long_values)
    assert all(k.startswith("-") and v.startswith("-") for k, v in o.aliases.items())
    if o.only_short is not None:
        assert set(o.short_values) <= set(o.only_short) | set(o.short_values)
    if p.files is not None and p.files.operands not in ("words", "find"):
        for option in (*p.files.writes, *p.files.reads):
            assert _takes_value(p, option), f"{name}: {option} is not an option with a value"
    if p.files is not None and p.files.operands in ("words", "find"):
        assert all(w.startswith("-") for w in (*p.files.writes, *p.files.reads))
    if p.wrapper is not None:
        for option in (*p.wrapper.shell_options, *p.wrapper.chdir):
            assert _takes_value(p, option), f"{name}: {option} must take a value"
        assert all(s.startswith("-") for s in p.wrapper.stop)
    if p.patterns is not None:
        a = p.patterns
        assert all(v.startswith("-") for v in a.value_options)
        assert all(k.startswith("-") and v.startswith("-") for k, v in a.aliases.items())
        assert all(long.startswith("--") for long in a.long_options)
        assert all(k.startswith("-") and all(x.startswith("-") for x in v)
                   for k, v in a.expansions.items())  # fmt: skip
    for option in (*(p.runs_options or ()), *(p.code_options or ())):
        assert option.startswith("-") or (name, option) == ("deno", "eval"), (name, option)


def test_git_and_groups_are_consistent() -> None:
    git = CATALOGUE.git
    assert all(o.startswith("-") for o in git.global_value_options)
    assert git.writers <= set(git.subcommands) | {"bundle"}
    assert git.runs_settings.match("core.pager") and git.ask_settings.match("core.hookspath")
    assert not git.runs_settings.match("user.name") and not git.ask_settings.match("user.name")
    assert CATALOGUE.awks and CATALOGUE.shells and CATALOGUE.sql_clients
    assert CATALOGUE.environment.runs <= CATALOGUE.environment.hijack
    assert set(OPERAND_RULES) == {
        *files_mod.OPERAND_RULES, *files_mod.PROGRAM_RULES, "words"
    }  # fmt: skip


# ------------------------------------------------------------------ every entry used


def test_every_program_has_a_use() -> None:
    option_only = {"xargs", "parallel", "watch"}  # read by their own parsers in wrappers.py
    for name, p in CATALOGUE.programs.items():
        roles = [p.files, p.wrapper, p.patterns, p.runs_options, p.code_options, p.unseen]
        assert any(r is not None for r in roles) or name in option_only, name


def test_every_entry_reaches_its_reader() -> None:
    for name, p in CATALOGUE.programs.items():
        assert (name in files_mod.FILE_PROGRAMS) is (p.files is not None), name
        assert (name in wrappers.WRAPPERS) is (p.wrapper is not None), name
        assert (name in embedded.EXEC_OPTIONS) is (p.runs_options is not None), name
        assert (name in embedded.INTERPRETERS) is (p.code_options is not None), name
        if p.patterns is not None:
            a = p.patterns
            assert patterns.ALIASES.get(name, {}) == a.aliases
            assert patterns.VALUE_OPTIONS.get(name, frozenset()) == a.value_options
            assert patterns.LONG_OPTIONS.get(name, ()) == a.long_options
    assert command.SHELLS == CATALOGUE.shells and embedded.AWKS == CATALOGUE.awks
    assert patterns.NO_CLUSTER == CATALOGUE.option_words
    assert patterns.SQL_CLIENTS == CATALOGUE.sql_clients
    assert command.HIJACK_VARS == CATALOGUE.environment.hijack


# ------------------------------------------------------------------ behaviour


def _gate_with_limits(tmp_path: Path) -> tuple[Gate, Path, Path]:
    protected = tmp_path / "charter.key"
    blocked = tmp_path / "secrets"
    blocked.mkdir()
    text = constitution_text(f'[resource_limits]\nblocked_directories = ["{blocked}"]\n')
    gate = Gate(parse_text(text), config=GateConfig(protected_paths=(str(protected),)))
    return gate, protected, blocked


# Arguments some programs need around a file option to be doing anything at all.
_CONTEXT: dict[str, tuple[list[str], list[str]]] = {
    "sed": (["-i"], ["s/a/b/", "f"]),
    "awk": (["-i", "inplace"], ["1", "f"]),
    "gawk": (["-i", "inplace"], ["1", "f"]),
    "curl": ([], ["https://example.test/x"]),
    "wget": ([], ["https://example.test/x"]),
    "tar": (["-c"], ["dir"]),
}


def _file_cases() -> list[tuple[str, str, str]]:
    cases: list[tuple[str, str, str]] = []
    for name, p in sorted(CATALOGUE.with_role("files").items()):
        assert p.files is not None
        cases.extend((name, option, "write") for option in p.files.writes)
        cases.extend((name, option, "read") for option in p.files.reads)
    return cases


@pytest.mark.parametrize(("name", "option", "how"), _file_cases())
def test_listed_file_options_reach_the_gate(
    tmp_path: Path, name: str, option: str, how: str
) -> None:
    """Every option listed as writing (reading) a file is a write (read) at the gate:
    writing a protected file denies, reading from a blocked directory denies."""
    gate, protected, blocked = _gate_with_limits(tmp_path)
    before, after = _CONTEXT.get(name, ([], []))
    target = str(protected if how == "write" else blocked / "x")
    argv = [name, *before, option, target, *after]
    decision = gate.decide_command(shlex.join(argv), str(tmp_path))
    assert decision.verdict is Verdict.DENY, (argv, decision.reasons)
    rules = {r.rule for r in decision.reasons}
    expected = (
        "CHARTER-GATE-PROTECTED-FILE" if how == "write" else "resource_limits.blocked_directories"
    )
    assert expected in rules, (argv, rules)


def _wrapper_argv(name: str) -> list[str]:
    p = CATALOGUE.programs[name]
    assert p.wrapper is not None
    return [name, *["1"] * p.wrapper.skip, "rm", "-rf", "/"]


@pytest.mark.parametrize("name", sorted(CATALOGUE.with_role("wrapper")))
def test_every_wrapper_is_seen_through(name: str) -> None:
    """The command a listed wrapper runs is decided: ``WRAPPER rm -rf /`` is denied."""
    assert verdict(_wrapper_argv(name)) is Verdict.DENY


@pytest.mark.parametrize(
    ("name", "option"),
    sorted(
        (n, o)
        for n, p in CATALOGUE.with_role("wrapper").items()
        if p.wrapper is not None
        for o in p.wrapper.shell_options
    ),
)
def test_every_wrapper_shell_option_is_parsed(name: str, option: str) -> None:
    p = CATALOGUE.programs[name]
    assert p.wrapper is not None
    argv = [name, option, "rm -rf /", *["1"] * p.wrapper.skip]
    if p.wrapper.skip:
        argv = [name, *["1"] * p.wrapper.skip, option, "rm -rf /"]
    assert verdict(argv) is Verdict.DENY


@pytest.mark.parametrize(
    ("name", "option"),
    sorted((n, o) for n, opts in wrappers.CHDIR_OPTIONS.items() for o in opts),
)
def test_every_chdir_option_moves_the_command(tmp_path: Path, name: str, option: str) -> None:
    gate, _, blocked = _gate_with_limits(tmp_path)
    argv = [name, option, str(blocked), "touch", "x"]
    decision = gate.decide_command(shlex.join(argv), str(tmp_path))
    assert decision.verdict is Verdict.DENY, decision.reasons


_RUNS_VALUE = {
    ("ssh", "-o"): "ProxyCommand=rm -rf /",
    ("scp", "-o"): "ProxyCommand=rm -rf /",
    ("sftp", "-o"): "ProxyCommand=rm -rf /",
    ("tar", "--checkpoint-action"): "exec=rm -rf /",
}


@pytest.mark.parametrize(
    ("name", "option"),
    sorted((n, o) for n, p in CATALOGUE.programs.items() for o in p.runs_options or ()),
)
def test_every_option_that_runs_a_program_is_decided(name: str, option: str) -> None:
    value = _RUNS_VALUE.get((name, option), "rm -rf /")
    argv = [name, f"{option}={value}" if option.startswith("--") else option, "x"]
    if not option.startswith("--"):
        argv = [name, option, value, "x"]
    got = verdict(argv)
    assert got is not Verdict.ALLOW, argv
    if name != "make":  # make --eval text is make syntax, not a command: asked
        assert got is Verdict.DENY, argv


@pytest.mark.parametrize(
    ("name", "option"),
    sorted((n, o) for n, p in CATALOGUE.programs.items() for o in p.code_options or ()),
)
def test_every_code_option_is_not_auto_allowed(name: str, option: str) -> None:
    assert verdict([name, option, 'system("rm -rf /")']) is not Verdict.ALLOW


@pytest.mark.parametrize("variable", sorted(CATALOGUE.environment.hijack))
def test_every_hijacking_variable_asks(variable: str) -> None:
    assert verdict(["env", f"{variable}=/tmp/x", "git", "status"]) is not Verdict.ALLOW
    assert GATE.decide_command(f"{variable}=/tmp/x git status", CWD).verdict is not Verdict.ALLOW


@pytest.mark.parametrize("variable", sorted(CATALOGUE.environment.runs))
def test_every_variable_that_runs_a_command_is_decided(variable: str) -> None:
    assert GATE.decide_command(f"{variable}='rm -rf /' git log", CWD).verdict is Verdict.DENY


@pytest.mark.parametrize("option", sorted(CATALOGUE.git.global_options_taking_a_word))
def test_git_global_options_do_not_hide_the_sub_command(option: str) -> None:
    """``git OPT VALUE push --force x main`` is still the forbidden force push."""
    argv = ["git", option, "v", "push", "--force", "origin", "main"]
    assert verdict(argv) is Verdict.DENY, argv


@pytest.mark.parametrize(
    ("sub", "option"),
    sorted(
        (s, o) for s, entry in CATALOGUE.git.subcommands.items() if s != "*"
        for o in entry.runs_options
    ),
)  # fmt: skip
def test_git_options_that_run_a_program_are_decided(sub: str, option: str) -> None:
    argv = ["git", sub, option, "rm -rf /"] if not option.startswith("--") else [
        "git", sub, f"{option}=rm -rf /"]  # fmt: skip
    assert verdict(argv) is Verdict.DENY, argv


@pytest.mark.parametrize("key", ["core.pager", "core.sshCommand", "diff.external"])
def test_git_settings_that_run_a_program_are_decided(key: str) -> None:
    assert verdict(["git", "-c", f"{key}=rm -rf /", "log"]) is Verdict.DENY


@pytest.mark.parametrize("name", sorted(CATALOGUE.shells))
def test_every_shell_runs_its_c_string(name: str) -> None:
    assert verdict([name, "-c", "rm -rf /"]) is Verdict.DENY


@pytest.mark.parametrize("name", sorted(CATALOGUE.awks))
def test_every_awk_runs_system(name: str) -> None:
    assert verdict([name, 'BEGIN { system("rm -rf /") }']) is Verdict.DENY


@pytest.mark.parametrize("name", sorted(CATALOGUE.sql_clients))
def test_every_sql_client_is_matched(name: str) -> None:
    assert verdict([name, "-c", "DROP DATABASE prod"]) is Verdict.DENY


@pytest.mark.parametrize(
    ("name", "alias", "short"),
    sorted(
        (n, k, v)
        for n, p in CATALOGUE.programs.items()
        if p.patterns is not None
        for k, v in p.patterns.aliases.items()
        if k != v
    ),
)
def test_every_pattern_alias_is_folded(name: str, alias: str, short: str) -> None:
    assert patterns.split_args(name, [alias]).flags == patterns.split_args(name, [short]).flags


def test_pytest_basetemp_is_a_write_of_that_directory(tmp_path: Path) -> None:
    """pytest empties --basetemp before the run: a protected or blocked path there denies."""
    gate, protected, blocked = _gate_with_limits(tmp_path)
    for argv in (
        ["pytest", f"--basetemp={blocked}", "tests"],
        ["pytest", "-q", "--basetemp", str(blocked / "t")],
        ["python", "-m", "pytest", f"--basetemp={blocked}"],
    ):
        decision = gate.decide_command(shlex.join(argv), str(tmp_path))
        assert decision.verdict is Verdict.DENY, (argv, decision.reasons)
    ok = gate.decide_command("pytest -q -p no:cacheprovider tests", str(tmp_path))
    assert ok.verdict is Verdict.ALLOW


@pytest.mark.parametrize("variable", ["PYTEST_ADDOPTS", "PYTEST_PLUGINS", "RUSTC_WRAPPER"])
def test_tool_environment_variables_ask(variable: str) -> None:
    assert GATE.decide_command(f"{variable}=x pytest -q", CWD).verdict is not Verdict.ALLOW
