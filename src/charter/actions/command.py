"""What a command string is made of: words, redirections, simple commands, scripts.

The data model shared by the shell parser (:mod:`charter.actions.shell`), wrapper
peeling (:mod:`charter.actions.wrappers`), the code programs run
(:mod:`charter.actions.embedded`) and the pattern matcher.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import NamedTuple

from charter.actions.catalogue import CATALOGUE

SHELLS = CATALOGUE.shells
#: Environment variables that change what a command runs or loads.
HIJACK_VARS = CATALOGUE.environment.hijack
HIJACK_PREFIXES = CATALOGUE.environment.hijack_prefixes
_HIJACK_RE = CATALOGUE.environment.hijack_patterns
#: Variables whose value is a command that the program runs.
EXEC_VARS = CATALOGUE.environment.runs


@dataclass(frozen=True)
class Word:
    """One shell word after quote removal.

    ``value`` is what the shell would pass when ``static``; for a dynamic word it
    is a best guess used only to make matching stricter (``${IFS}`` becomes a
    space, other expansions stay as written).
    """

    value: str
    static: bool = True
    glob: bool = False
    raw: str = ""
    ansi_c: bool = False
    #: dynamic, but its value is known from an earlier static assignment in the
    #: same string (``X=rm; $X``) or from ``bash -c SCRIPT ARG0 ARG…``: matched
    #: as if static (still at least ``ask`` when it is the command name)
    resolved: bool = False
    #: an unquoted expansion: its value is split on whitespace by the shell
    splittable: bool = False
    #: a dynamic word whose only expansions are ``$PWD`` and ``$$``: its value with
    #: those as :data:`RUNTIME_PWD` / :data:`RUNTIME_PID` (the gate fills them in)
    runtime_path: str | None = None
    #: the words bash's brace expansion makes of this one (``a{b,c}`` → ``ab ac``)
    braces: tuple[Word, ...] = ()
    #: a dynamic word that is one of these static values (a ``for`` loop's words)
    candidates: tuple[str, ...] = ()


#: Markers in :attr:`Word.runtime_path` for the command's directory and ``$$``.
RUNTIME_PWD = "\x00PWD\x00"  # noqa: S105 - a marker, not a password
RUNTIME_PID = "\x00PID\x00"


@dataclass(frozen=True)
class Redirect:
    """A redirection: ``op`` is ``>``, ``>>``, ``<``, ``&>``, ``<<``, ``<<<`` …"""

    op: str
    target: Word | None
    fd: str | None = None
    body: str | None = None

    @property
    def writes(self) -> bool:
        """``>``, ``>>``, ``>|``, ``&>``, ``&>>``, ``<>`` and ``>&FILE`` (a file, not a
        descriptor: the parser drops the target of ``>&2``) open a file for writing."""
        return self.target is not None and ">" in self.op and self.op != "<&"

    @property
    def reads(self) -> bool:
        return self.target is not None and self.op in ("<", "<>", "<&")


@dataclass(frozen=True)
class Variant:
    """One form of a simple command that is matched against the patterns.

    ``wrappers`` lists the wrappers peeled off to reach this form. A
    ``transparent`` form only runs other commands that are decided on their own
    (``bash -c 'git status'``, ``timeout 5 make``): when no pattern matches it,
    it does not add the default ``ask`` by itself.
    """

    argv: tuple[str, ...]
    wrappers: tuple[str, ...] = ()
    transparent: bool = False


@dataclass(frozen=True)
class SimpleCommand:
    """A command the shell would execute, with everything needed to decide it."""

    words: tuple[Word, ...]
    assignments: tuple[str, ...] = ()
    redirects: tuple[Redirect, ...] = ()
    variants: tuple[Variant, ...] = ()
    origin: tuple[str, ...] = ()
    uncertain: tuple[str, ...] = ()
    pipes: tuple[tuple[int, int], ...] = ()
    seq: int = 0
    stdin_text: str | None = None
    #: stdin comes from a pipe or file whose content is not known statically
    stdin_unknown: bool = False

    @property
    def argv(self) -> tuple[str, ...]:
        return tuple(w.value for w in self.words)

    @property
    def program(self) -> str:
        return program_name(self.words[0].value) if self.words else ""


@dataclass(frozen=True)
class Script:
    """The result of parsing one command string."""

    source: str
    commands: tuple[SimpleCommand, ...]
    redirects: tuple[Redirect, ...]
    uncertain: tuple[str, ...]


def program_name(value: str) -> str:
    """``/usr/bin/rm`` → ``rm``; the name a pattern's first token is compared with."""
    name = posixpath.basename(value.rstrip("/")) if "/" in value else value
    return name


class Nested(NamedTuple):
    """A string a command would run as shell code, found while peeling.

    ``script`` is ``None`` when the code is not visible statically (a script file,
    stdin, a dynamic word): the gate then asks. ``ask`` marks code reached through
    an option or setting that runs programs (``git -c core.pager=…``, ``sed e``,
    ``awk system()``…): the command is at least ``ask`` and the code is decided too.
    ``args`` are the positional parameters (``$0 $1 …``) of ``bash -c SCRIPT A0 A1``.
    """

    label: str
    script: str | None
    ask: bool = False
    args: tuple[str, ...] | None = None


#: Files that are the process's own stdin.
STDIN_PATHS = frozenset({"/dev/stdin", "/proc/self/fd/0", "/dev/fd/0"})
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


#: Variables that only take configuration away; commands that change nothing as a pager.
NEUTRAL_VARS = CATALOGUE.environment.neutral
PLAIN_COMMANDS = CATALOGUE.environment.plain_commands


def hijacks(name: str, value: str | None = None) -> bool:
    """Whether setting ``name`` (to ``value``, when known) changes what commands run.

    ``GIT_CONFIG_NOSYSTEM`` does not; neither does a program variable set to a plain
    command (``PAGER=cat``, ``GIT_PAGER=/bin/cat``).
    """
    if name in NEUTRAL_VARS:
        return False
    if value is not None and name in EXEC_VARS and value.strip() in PLAIN_COMMANDS:
        return False
    return (
        name in HIJACK_VARS
        or name.startswith(HIJACK_PREFIXES)
        or (_HIJACK_RE is not None and _HIJACK_RE.match(name) is not None)
    )


__all__ = [
    "ASSIGNMENT",
    "EXEC_VARS",
    "HIJACK_PREFIXES",
    "HIJACK_VARS",
    "NEUTRAL_VARS",
    "PLAIN_COMMANDS",
    "SHELLS",
    "STDIN_PATHS",
    "RUNTIME_PID",
    "RUNTIME_PWD",
    "Nested",
    "Redirect",
    "Script",
    "SimpleCommand",
    "Variant",
    "Word",
    "hijacks",
    "program_name",
]
