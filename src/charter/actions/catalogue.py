"""The program catalogue (``catalogue.toml``), loaded once into frozen typed records.

What Charter knows about the programs an agent runs — which options take a value,
write or read a file, run a program or inline code, or set the directory of the
command a wrapper runs — is data in ``catalogue.toml`` next to this module, written
for a security reviewer. The shell parser (:mod:`charter.actions.shell`), the pattern
matcher (:mod:`charter.actions.patterns`) and the gate (:mod:`charter.actions.gate`)
read it from :data:`CATALOGUE`; none of them lists program options itself.

A malformed catalogue is a packaging bug: :func:`parse` refuses unknown keys and
wrong types with a :class:`CatalogueError` naming the entry.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

from charter.core.errors import CharterError

#: The rules a ``files.operands`` entry may name (their code is in the gate).
OPERAND_RULES = frozenset(
    {"none", "all", "first", "second", "after_mode", "dest", "move", "link", "install",
     "transfer", "sed", "awk", "compress", "patch", "split", "csplit", "script", "mktemp",
     "dd", "chattr", "words", "perl", "tar", "unzip", "curl", "wget", "git", "find",
     "socat"}
)  # fmt: skip

#: The rules a ``files.read_operands`` entry may name (their code is in files.py).
READ_RULES = frozenset(
    {"none", "all", "first", "after_first", "pattern", "sources", "git", "tar", "find"}
)

_EMPTY: Mapping[str, str] = MappingProxyType({})


def _no_aliases() -> Mapping[str, str]:
    return _EMPTY


class CatalogueError(CharterError):
    """``catalogue.toml`` is malformed (a packaging bug)."""


@dataclass(frozen=True)
class OptionSyntax:
    """How a program writes its options (getopt style); see catalogue.toml."""

    short_values: str = ""
    long_values: frozenset[str] = frozenset()
    aliases: Mapping[str, str] = field(default_factory=_no_aliases)
    optional_values: str = ""
    only_short: str | None = None
    posix: bool = False

    def value_options(self) -> frozenset[str]:
        """Every option spelling that takes a value (``-o``, ``--output``)."""
        return frozenset({f"-{c}" for c in self.short_values} | self.long_values)


@dataclass(frozen=True)
class Files:
    """Files a program writes and reads by name."""

    operands: str = "none"
    writes: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    like: str | None = None
    #: which operands the program reads (``None``: not said; path-like words count)
    read_operands: str | None = None
    #: options that give the pattern/script, so that every operand is a file
    pattern_options: tuple[str, ...] = ()
    #: options that make directory operands read recursively (``*``: always)
    recursive: tuple[str, ...] = ()
    #: options that make the program write (delete, chmod) everything below its
    #: directory operands (``rm -r``, ``chmod -R``, ``find -delete``)
    recursive_writes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Wrapper:
    """A program that runs another command."""

    skip: int = 0
    transparent: bool = False
    shell_options: frozenset[str] = frozenset()
    stop: frozenset[str] = frozenset()
    assignments: bool = False
    chdir: frozenset[str] = frozenset()
    #: the program runs a command only through these sub-commands (``uv run CMD``,
    #: ``npm exec CMD``); empty: always
    subcommands: frozenset[str] = frozenset()
    #: without a command it starts an interactive shell (``chroot DIR``, ``unshare``)
    shell_when_empty: bool = False


@dataclass(frozen=True)
class PatternArgs:
    """How command patterns read a program's arguments."""

    value_options: frozenset[str] = frozenset()
    aliases: Mapping[str, str] = field(default_factory=_no_aliases)
    long_options: tuple[str, ...] = ()
    expansions: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Unseen:
    """When a program runs code (or starts a shell) the command line does not show:
    a local package's maintainer scripts, an editor or a shell it opens, a process it
    attaches to, a kernel setting it writes. Any of these asks (``why`` says what)."""

    why: str
    #: options that alone mean it (``dpkg -i``, ``snap --dangerous``, ``fzf --listen``):
    #: matched as the whole word, as ``--opt=VALUE``, or as ``-xVALUE`` for a short one
    options: frozenset[str] = frozenset()
    #: sub-commands (the first operand) that mean it (``ansible-test shell``)
    subcommands: frozenset[str] = frozenset()
    #: sub-commands whose operands are packages: one that is a file or a URL, not a
    #: name from a repository (``apt install ./x.deb``, ``yum install http://…``)
    file_subcommands: frozenset[str] = frozenset()
    #: run with no operand at all (only options) it means it (``tmux``, ``crontab``)
    bare: bool = False
    #: options that make a bare run mean nothing of the kind (``crontab -l``, ``tmux -V``)
    stops: frozenset[str] = frozenset()
    #: any operand means it (``gcore PID``, ``crontab FILE``)
    operands: bool = False
    #: an operand ``KEY=VALUE`` means it (``sysctl k=v``)
    assignments: bool = False


@dataclass(frozen=True)
class Program:
    """Everything the catalogue says about one program."""

    name: str
    options: OptionSyntax = field(default_factory=OptionSyntax)
    files: Files | None = None
    wrapper: Wrapper | None = None
    patterns: PatternArgs | None = None
    runs_options: tuple[str, ...] | None = None
    code_options: tuple[str, ...] | None = None
    unseen: Unseen | None = None


@dataclass(frozen=True)
class GitSubcommand:
    options: OptionSyntax = field(default_factory=OptionSyntax)
    runs_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Git:
    global_value_options: frozenset[str]
    global_attached_options: frozenset[str]
    writers: frozenset[str]
    runs_settings: re.Pattern[str]
    ask_settings: re.Pattern[str]
    subcommands: Mapping[str, GitSubcommand]
    neutral_global_options: frozenset[str] = frozenset()

    @property
    def global_options_taking_a_word(self) -> frozenset[str]:
        """Global options read as taking the next word (a bare attached one too)."""
        return self.global_value_options | self.global_attached_options

    def subcommand(self, name: str) -> GitSubcommand:
        """A sub-command's entry (``*``: the options every other one shares)."""
        return self.subcommands.get(name) or self.subcommands["*"]


@dataclass(frozen=True)
class Environment:
    hijack: frozenset[str]
    hijack_prefixes: tuple[str, ...]
    runs: frozenset[str]
    neutral: frozenset[str] = frozenset()
    plain_commands: frozenset[str] = frozenset()
    #: whole-name regular expressions (``CARGO_.*_RUNNER``, ``(?i:npm_config_.*)``)
    hijack_patterns: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Catalogue:
    programs: Mapping[str, Program]
    environment: Environment
    git: Git
    shells: frozenset[str]
    awks: frozenset[str]
    versioned: tuple[str, ...]
    option_words: frozenset[str]
    sql_clients: frozenset[str]
    sql_file_options: frozenset[str]
    #: programs that only look at the files they name (``ls``, ``stat``, ``which``)
    names_only: frozenset[str] = frozenset()
    #: programs that create a symbolic link or move or unpack one into place
    makes_links: frozenset[str] = frozenset()
    #: programs whose writes change metadata only (``chmod``, ``touch``)
    metadata_writers: frozenset[str] = frozenset()
    #: programs that run their stdin as a shell script later (``at``, ``batch``)
    schedulers: frozenset[str] = frozenset()
    #: programs that read the names of the files they read from stdin (``cpio -o``)
    names_from_stdin: frozenset[str] = frozenset()
    #: files that change what an auto-allowed tool does (``.git/config``, ``Makefile``):
    #: trailing path components, each an ``fnmatch`` glob
    configures: tuple[str, ...] = ()
    #: programs that connect to a host their arguments name (``curl``, ``whois``)
    network_clients: frozenset[str] = frozenset()
    #: programs that connect when an operand names a remote (``rsync HOST:PATH``)
    network_when_remote: frozenset[str] = frozenset()

    def with_role(self, role: str) -> dict[str, Program]:
        """The programs that have ``role`` (``files``, ``wrapper``, ``patterns``, …)."""
        return {n: p for n, p in self.programs.items() if getattr(p, role) is not None}


# ----------------------------------------------------------------------- reading


class _Table:
    """One TOML table read key by key; leftover keys are an error."""

    def __init__(self, raw: Any, where: str) -> None:
        if not isinstance(raw, dict):
            raise CatalogueError(f"catalogue.toml: {where} must be a table")
        self.raw = dict(raw)
        self.where = where

    def _take(self, key: str, kind: type, default: Any) -> Any:
        if key not in self.raw:
            return default
        value = self.raw.pop(key)
        if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
            raise CatalogueError(
                f"catalogue.toml: {self.where}.{key} must be a {kind.__name__}, got {value!r}"
            )
        return value

    def text(self, key: str, default: str = "") -> str:
        return str(self._take(key, str, default))

    def maybe_text(self, key: str) -> str | None:
        value = self._take(key, str, None)
        return None if value is None else str(value)

    def flag(self, key: str) -> bool:
        return bool(self._take(key, bool, False))

    def number(self, key: str) -> int:
        return int(self._take(key, int, 0))

    def words(self, key: str) -> tuple[str, ...] | None:
        value = self._take(key, list, None)
        if value is None:
            return None
        if not all(isinstance(v, str) and v for v in value):
            raise CatalogueError(f"catalogue.toml: {self.where}.{key} must list non-empty strings")
        if len(set(value)) != len(value):
            raise CatalogueError(f"catalogue.toml: {self.where}.{key} lists a word twice")
        return tuple(value)

    def names(self, key: str) -> frozenset[str]:
        return frozenset(self.words(key) or ())

    def table(self, key: str) -> _Table | None:
        value = self.raw.pop(key, None)
        return None if value is None else _Table(value, f"{self.where}.{key}")

    def mapping(self, key: str) -> Mapping[str, str]:
        sub = self.table(key)
        if sub is None:
            return _EMPTY
        out = {k: sub.text(k) for k in list(sub.raw)}
        return MappingProxyType(out)

    def done(self) -> None:
        if self.raw:
            raise CatalogueError(
                f"catalogue.toml: unknown key {self.where}.{sorted(self.raw)[0]}",
                hint="see the field list at the top of catalogue.toml",
            )


def _options(t: _Table) -> OptionSyntax:
    only = t.maybe_text("only_short")
    return OptionSyntax(
        short_values=t.text("short_values"),
        long_values=t.names("long_values"),
        aliases=t.mapping("aliases"),
        optional_values=t.text("optional_values"),
        only_short=only,
        posix=t.flag("posix"),
    )


def _files(t: _Table) -> Files:
    files = Files(
        operands=t.text("operands", "none"),
        writes=t.words("writes") or (),
        reads=t.words("reads") or (),
        like=t.maybe_text("like"),
        read_operands=t.maybe_text("read_operands"),
        pattern_options=t.words("pattern_options") or (),
        recursive=t.words("recursive") or (),
        recursive_writes=t.words("recursive_writes") or (),
    )
    if files.operands not in OPERAND_RULES:
        raise CatalogueError(f"catalogue.toml: {t.where}.operands: no rule {files.operands!r}")
    if files.read_operands is not None and files.read_operands not in READ_RULES:
        raise CatalogueError(
            f"catalogue.toml: {t.where}.read_operands: no rule {files.read_operands!r}"
        )
    t.done()
    return files


def _wrapper(t: _Table) -> Wrapper:
    wrapper = Wrapper(
        skip=t.number("skip"),
        transparent=t.flag("transparent"),
        shell_options=t.names("shell_options"),
        stop=t.names("stop"),
        assignments=t.flag("assignments"),
        chdir=t.names("chdir"),
        subcommands=t.names("subcommands"),
        shell_when_empty=t.flag("shell_when_empty"),
    )
    t.done()
    return wrapper


def _unseen(t: _Table) -> Unseen:
    why = t.text("why")
    if not why:
        raise CatalogueError(f"catalogue.toml: {t.where}.why is required")
    unseen = Unseen(
        why=why,
        options=t.names("options"),
        subcommands=t.names("subcommands"),
        file_subcommands=t.names("file_subcommands"),
        bare=t.flag("bare"),
        stops=t.names("stops"),
        operands=t.flag("operands"),
        assignments=t.flag("assignments"),
    )
    t.done()
    return unseen


def _pattern_args(t: _Table, extra_values: frozenset[str]) -> PatternArgs:
    expansions: dict[str, tuple[str, ...]] = {}
    sub = t.table("expansions")
    if sub is not None:
        for flag in list(sub.raw):
            expansions[flag] = sub.words(flag) or ()
        sub.done()
    args = PatternArgs(
        value_options=t.names("value_options") | extra_values,
        aliases=t.mapping("aliases"),
        long_options=t.words("long_options") or (),
        expansions=MappingProxyType(expansions),
    )
    t.done()
    return args


def _program(name: str, t: _Table, git_values: frozenset[str]) -> Program:
    options = t.table("options")
    syntax = OptionSyntax() if options is None else _options(options)
    if options is not None:
        options.done()
    files, wrapper, patterns = t.table("files"), t.table("wrapper"), t.table("patterns")
    unseen = t.table("unseen")
    program = Program(
        name=name,
        options=syntax,
        files=None if files is None else _files(files),
        wrapper=None if wrapper is None else _wrapper(wrapper),
        patterns=None
        if patterns is None
        else _pattern_args(patterns, git_values if name == "git" else frozenset()),
        runs_options=t.words("runs_options"),
        code_options=t.words("code_options"),
        unseen=None if unseen is None else _unseen(unseen),
    )
    t.done()
    return program


def _alternatives(t: _Table, key: str) -> re.Pattern[str]:
    return re.compile("^(" + "|".join(t.words(key) or ()) + ")$")


def _git(t: _Table) -> Git:
    subs: dict[str, GitSubcommand] = {}
    table = t.table("subcommands")
    if table is not None:
        for name in list(table.raw):
            sub = table.table(name)
            assert sub is not None  # noqa: S101 - the key was just listed
            runs = sub.words("runs_options") or ()
            subs[name] = GitSubcommand(_options(sub), runs)
            sub.done()
    git = Git(
        global_value_options=t.names("global_value_options"),
        global_attached_options=t.names("global_attached_options"),
        writers=t.names("writers"),
        runs_settings=_alternatives(t, "runs_settings"),
        ask_settings=_alternatives(t, "ask_settings"),
        subcommands=MappingProxyType(subs),
        neutral_global_options=t.names("neutral_global_options"),
    )
    t.done()
    if "*" not in subs:
        raise CatalogueError('catalogue.toml: [git.subcommands."*"] is missing')
    return git


def parse(text: str) -> Catalogue:
    """Read the catalogue's TOML text into frozen records (CatalogueError if malformed)."""
    try:
        top = _Table(tomllib.loads(text), "catalogue")
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"catalogue.toml: malformed TOML: {exc}") from exc
    env, groups, git_table = top.table("environment"), top.table("groups"), top.table("git")
    if env is None or groups is None or git_table is None:
        raise CatalogueError("catalogue.toml: [environment], [groups] and [git] are required")
    git = _git(git_table)
    environment = Environment(
        env.names("hijack"),
        env.words("hijack_prefixes") or (),
        env.names("runs"),
        env.names("neutral"),
        env.names("plain_commands"),
        _alternatives(env, "hijack_patterns") if "hijack_patterns" in env.raw else None,
    )
    env.done()
    files_table = top.table("files") or _Table({}, "files")
    configures = files_table.words("configures") or ()
    files_table.done()
    programs_table = top.table("programs") or _Table({}, "programs")
    programs = {
        name: _program(name, _Table(raw, f"programs.{name}"), git.global_options_taking_a_word)
        for name, raw in programs_table.raw.items()
    }
    catalogue = Catalogue(
        programs=MappingProxyType(programs),
        environment=environment,
        git=git,
        shells=groups.names("shells"),
        awks=groups.names("awks"),
        versioned=groups.words("versioned") or (),
        option_words=groups.names("option_words"),
        sql_clients=groups.names("sql_clients"),
        sql_file_options=groups.names("sql_file_options"),
        configures=configures,
        names_only=groups.names("names_only"),
        makes_links=groups.names("makes_links"),
        schedulers=groups.names("schedulers"),
        metadata_writers=groups.names("metadata_writers"),
        names_from_stdin=groups.names("names_from_stdin"),
        network_clients=groups.names("network_clients"),
        network_when_remote=groups.names("network_when_remote"),
    )
    groups.done()
    top.done()
    for program in programs.values():
        like = program.files.like if program.files else None
        if like is not None and (programs.get(like) is None or programs[like].files is None):
            raise CatalogueError(f"catalogue.toml: programs.{program.name}.files.like: {like!r}")
    return catalogue


def load() -> Catalogue:
    """The catalogue shipped with Charter."""
    text = resources.files("charter.actions").joinpath("catalogue.toml").read_text("utf-8")
    return parse(text)


#: The shipped catalogue, read once at import (frozen records, no mutable state).
CATALOGUE = load()

__all__ = [
    "CATALOGUE",
    "OPERAND_RULES",
    "READ_RULES",
    "Catalogue",
    "CatalogueError",
    "Files",
    "Git",
    "GitSubcommand",
    "OptionSyntax",
    "PatternArgs",
    "Program",
    "Unseen",
    "Wrapper",
    "load",
    "parse",
]
