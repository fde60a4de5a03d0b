"""Pattern compilation and token-level matching."""

from __future__ import annotations

import pytest

from charter.actions.patterns import (
    MAYBE,
    NO,
    YES,
    compile_pattern,
    match_segment,
    normalise_path,
    split_args,
)
from charter.core.errors import InputError


def m(
    pattern: str, argv: list[str], kind: str = "forbidden", dynamic: tuple[bool, ...] = ()
) -> int:
    p = compile_pattern(pattern, kind)
    return match_segment(p.segments[0], split_args(argv[0], argv[1:], dynamic), p.loose)


@pytest.mark.parametrize(
    ("pattern", "argv", "want"),
    [
        ("git *", ["git", "push"], YES),
        ("git *", ["digit", "push"], NO),
        ("rm -rf /", ["rm", "-fr", "/"], YES),
        ("rm -rf /", ["rm", "-r", "-f", "//"], YES),
        ("rm -rf /", ["rm", "-rfv", "/"], YES),
        ("rm -rf /", ["rm", "--recursive", "--force", "/."], YES),
        ("rm -rf /", ["rm", "-r", "/"], NO),
        ("rm -rf /", ["rm", "-rf", "/tmp"], NO),
        ("dd * of=/dev/*", ["dd", "if=x", "of=/dev/sda"], YES),
        ("chmod -R 777 /", ["chmod", "--recursive", "777", "/"], YES),
        ("git push --force * main", ["git", "push", "-f", "origin", "main"], YES),
        ("git push --force * main", ["git", "log", "push", "-f", "main"], NO),
    ],
)
def test_loose_matching(pattern: str, argv: list[str], want: int) -> None:
    assert m(pattern, argv) == want


def test_exact_matching_for_auto_allowed() -> None:
    assert m("git status", ["git", "status"], "auto_allowed") == YES
    assert m("git status", ["git", "status", "-s"], "auto_allowed") == NO
    assert m("ls *", ["ls", "-la", "/tmp"], "auto_allowed") == YES
    assert m("ls -la", ["ls", "-al"], "auto_allowed") == YES


def test_dynamic_operands_may_match() -> None:
    assert m("rm -rf /", ["rm", "-rf", "$X"], dynamic=(False, True)) == MAYBE


def test_path_normalisation() -> None:
    assert normalise_path("//a/./b/../c/") == "/a/c"
    assert normalise_path("./x") == "x"
    assert normalise_path("x/../x") == "x"


def test_sql_and_multi_part_patterns() -> None:
    sql = compile_pattern("DROP DATABASE")
    assert sql.sql is not None and sql.sql.search("drop  database prod")
    pipe = compile_pattern("curl * | sh")
    assert [s.program for s in pipe.segments] == ["curl", "sh"]
    with pytest.raises(InputError):
        compile_pattern("curl * | ")


@pytest.mark.parametrize(
    ("pattern", "argv", "want"),
    [
        ("rm -rf /", ["rm", "--rec", "--for", "/"], YES),
        ("rm -rf /", ["rm", "--re", "-f", "/"], YES),
        ("git push --force *", ["git", "push", "--forc", "o", "main"], YES),
        ("git push --force *", ["git", "push", "--fo", "o", "main"], NO),  # also --follow-tags
        ("chmod -R 777 /", ["chmod", "-R", "a+rwx", "/"], YES),
        ("chmod -R 777 /", ["chmod", "-R", "0777", "/"], YES),
        ("chmod -R 777 /", ["chmod", "-R", "a+rwx,o-w", "/"], NO),
        ("chmod -R 777 /", ["chmod", "-R", "755", "/"], NO),
        ("rm -rf /", ["rm", "-rf", "/?*"], YES),
        ("rm -rf ~", ["rm", "-rf", "~/*.bak"], NO),
    ],
)
def test_abbreviations_modes_and_globs(pattern: str, argv: list[str], want: int) -> None:
    assert m(pattern, argv) == want


def test_sql_patterns_see_through_comments() -> None:
    sql = compile_pattern("DROP DATABASE").sql
    assert sql is not None
    assert sql.search("drop/**/database x") and sql.search("DROP -- c\nDATABASE x")
    assert not sql.search("DROPDATABASE")
