"""Shell parsing: every simple command, with wrappers and uncertainty."""

from __future__ import annotations

import pytest

from charter.actions.embedded import embedded_commands, sed_exec
from charter.actions.shell import expand_braces, parse
from charter.actions.wrappers import peel


def argvs(command: str) -> list[tuple[str, ...]]:
    return [c.argv for c in parse(command).commands]


def test_lists_pipelines_substitutions() -> None:
    assert argvs("a && b | c; d") == [("a",), ("b",), ("c",), ("d",)]
    assert ("rm", "-rf", "/") in argvs('echo "$(rm -rf /)"')
    assert ("id",) in argvs("echo `id` <(ls)")


def test_quotes_are_removed_and_words_kept_whole() -> None:
    (cmd,) = parse("r''m \"a b\" 'c d' \\e").commands
    assert cmd.argv == ("rm", "a b", "c d", "e")
    assert all(w.static for w in cmd.words)


def test_dynamic_words_and_uncertainty() -> None:
    (cmd,) = parse("$X -rf /").commands
    assert not cmd.words[0].static
    assert cmd.uncertain
    assert parse("ls; (git status").uncertain


def test_shell_c_and_heredoc_recursion() -> None:
    script = parse("bash -lc 'sudo rm -rf /'")
    inner = [c for c in script.commands if c.origin == ("bash -c",)]
    assert inner[0].argv == ("sudo", "rm", "-rf", "/")
    assert ("rm", "-rf", "/") in argvs("cat <<EOF | sh\nrm -rf /\nEOF")


def test_peel_wrappers() -> None:
    variants, _ = peel(("sudo", "-u", "root", "timeout", "5", "rm", "-rf", "/"))
    forms = [v.argv for v in variants]
    assert ("sudo", "timeout", "5", "rm", "-rf", "/") in forms
    assert ("rm", "-rf", "/") in forms
    variants, nested = peel(("eval", "rm", "-rf", "/"))
    assert [(n.label, n.script) for n in nested] == [("eval", "rm -rf /")]


def test_redirections() -> None:
    (cmd,) = parse("echo hi > out.txt 2>&1").commands
    writes = [r.target.value for r in cmd.redirects if r.writes and r.target]
    assert writes == ["out.txt"]


def test_brace_expansion() -> None:
    assert expand_braces("{rm,-rf,/}") == ["rm", "-rf", "/"]
    assert expand_braces("a{b,c}d") == ["abd", "acd"]


def test_getopt_style_wrapper_options() -> None:
    forms = [v.argv for v in peel(("sudo", "-iu", "root", "rm", "-rf", "/"))[0]]
    assert ("rm", "-rf", "/") in forms
    _, nested = peel(("env", "-iS", "rm -rf /"))
    assert [(n.label, n.script) for n in nested] == [("env -S", "rm -rf /")]
    forms = [v.argv for v in peel(("timeout", "-sKILL", "5", "ls"))[0]]
    assert forms[-1] == ("ls",)


def test_xargs_with_static_stdin_and_find_placeholders() -> None:
    forms = [v.argv for v in peel(("xargs", "rm", "-rf"), stdin="/")[0]]
    assert ("rm", "-rf", "/") in forms
    forms = [v.argv for v in peel(("xargs", "-I{}", "rm", "{}"), stdin="a\nb")[0]]
    assert ("rm", "a") in forms and ("rm", "b") in forms
    forms = [v.argv for v in peel(("find", "/", "-exec", "rm", "-rf", "{}", "+"))[0]]
    assert ("rm", "-rf", "/") in forms


def test_git_settings_and_options_that_run_code() -> None:
    def scripts(*argv: str) -> list[tuple[str | None, bool]]:
        return [(n.script, n.ask) for n in peel(("git", *argv))[1]]

    assert scripts("-c", "core.pager=less -R", "log") == [("less -R", True)]
    assert scripts("-c", "alias.x=!id", "x", "a") == [("id", False), ("id a", False)]
    assert scripts("-c", "core.hooksPath=/tmp/h", "commit") == [(None, False)]
    assert scripts("-c", "color.ui=always", "log") == []
    assert scripts("rebase", "--exec=make test", "main") == [("make test", False)]
    assert scripts("config", "--global", "core.editor", "vim") == [("vim", True)]
    assert scripts("config", "user.name", "bob") == []
    forms = [v.argv for v in peel(("git", "-c", "alias.p=push -f", "p", "origin"))[0]]
    assert ("git", "push", "-f", "origin") in forms


@pytest.mark.parametrize(
    ("program", "runs", "writes"),
    [
        ("s/a/b/g", [], False),
        ("1e rm -rf /", ["rm -rf /"], False),
        ("/x/!e id", ["id"], False),
        ("s/x/y/e", [None], False),
        ("s|a|b|w out", [], True),
        ("$a\\\nfoo", [], False),
        ("y/abc/xyz/;p", [], False),
        ("1!G;h;$!d", [], False),
        ("\\%a%d", [], False),
    ],
)
def test_sed_program_scanner(program: str, runs: list[str | None], writes: bool) -> None:
    assert sed_exec(program) == (runs, writes)


def test_embedded_commands_in_inline_code() -> None:
    assert embedded_commands('import os; os.system("rm -rf /")') == ["rm -rf /"]
    assert embedded_commands("subprocess.run(['rm', '-rf', '/'])") == ["rm -rf /"]
    assert embedded_commands("print(`id`)") == ["id"]
    assert embedded_commands("print('hello')") == []


def test_variables_line_continuations_and_herestring_quirk() -> None:
    assert ("rm", "-rf", "/") in argvs("X=rm; $X -rf /")
    assert ("rm", "-rf", "/") in argvs("D='-rf /'; rm $D")
    assert ("rm", "-rf", "/") in argvs("r\\\nm -rf /")
    script = parse("bash 2>&1 <<< 'rm -rf /'")
    assert not script.uncertain
    assert ("rm", "-rf", "/") in [c.argv for c in script.commands]
    assert parse("ls\r -la").uncertain
    assert parse("echo a\u200bb").uncertain
    assert not parse("echo héllo").uncertain


@pytest.mark.parametrize("option", ["--exec-path", "--list-cmds"])
def test_a_bare_attached_git_option_is_read_both_ways(option: str) -> None:
    """``git --exec-path -c core.pager=CMD log``: whether or not the bare option takes a
    word, the pager setting is found (the old reading of --list-cmds missed it)."""
    _, nested = peel(("git", option, "-c", "core.pager=rm -rf /", "log"))
    assert any(n.script == "rm -rf /" for n in nested)
    _, nested = peel(("git", option, "x", "-c", "core.pager=rm -rf /", "log"))
    assert any(n.script == "rm -rf /" for n in nested)
