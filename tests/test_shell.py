"""Shell parsing: every simple command, with wrappers and uncertainty."""

from __future__ import annotations

from charter.shell import expand_braces, parse, peel


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
    assert nested == [("eval", "rm -rf /")]


def test_redirections() -> None:
    (cmd,) = parse("echo hi > out.txt 2>&1").commands
    writes = [r.target.value for r in cmd.redirects if r.writes and r.target]
    assert writes == ["out.txt"]


def test_brace_expansion() -> None:
    assert expand_braces("{rm,-rf,/}") == ["rm", "-rf", "/"]
    assert expand_braces("a{b,c}d") == ["abd", "acd"]
