"""Command patterns: compile once, match token by token (docs/patterns.md).

A pattern is split into shell tokens. The first token names the program; the
others are *flags* (``-x``, ``--long``) compared as sets after cluster
splitting and alias normalisation, and *operands* compared in order, each a
glob within the token. ``*`` as a whole token stands for any tokens. ``|``,
``&&``, ``||`` and ``;`` join segments into a pattern that spans a pipeline
or a list.

Matching is three-valued: :data:`YES`, :data:`MAYBE` (a dynamic word could make
it match) and :data:`NO`. ``forbidden`` and ``requires_approval`` patterns
match *loosely* (extra flags and operands in the command still match);
``auto_allowed`` patterns match *exactly* unless they contain ``*``.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from charter.actions.catalogue import CATALOGUE
from charter.actions.files import expand_tilde
from charter.actions.shell import Script, SimpleCommand, Variant, program_name
from charter.actions.shell import parse as parse_shell
from charter.core.errors import InputError
from charter.core.memo import bytes_lru, text_weight

NO, MAYBE, YES = 0, 1, 2
CONNECTORS = frozenset({"|", "&&", "||", ";", "&", "|&"})

# Program knowledge comes from the catalogue (catalogue.toml), never from here.
_ARGS = {name: p.patterns for name, p in CATALOGUE.programs.items() if p.patterns is not None}
#: Programs whose single-dash options are words (``find -name``), not clusters.
NO_CLUSTER = CATALOGUE.option_words
#: Options that take the next token as their value, per program.
VALUE_OPTIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {name: a.value_options for name, a in _ARGS.items() if a.value_options}
)
#: Long options (and a few short ones) that mean the same as a short option.
ALIASES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {name: a.aliases for name, a in _ARGS.items() if a.aliases}
)
#: Every long option of a program, for GNU-style unique-prefix abbreviations
#: (``rm --rec --for`` is ``rm --recursive --force``; ``git push --forc``).
LONG_OPTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {name: a.long_options for name, a in _ARGS.items() if a.long_options}
)
#: Expansions of one short flag into several (``git branch -D`` = ``-d -f``).
EXPANSIONS: Mapping[tuple[str, str], tuple[str, ...]] = MappingProxyType(
    {(name, flag): more for name, a in _ARGS.items() for flag, more in a.expansions.items()}
)
SQL_CLIENTS = CATALOGUE.sql_clients
_SQL_FILE_FLAGS = CATALOGUE.sql_file_options
_GIT_NEUTRAL = CATALOGUE.git.neutral_global_options
SQL_WORD = re.compile(r"^[A-Z][A-Z_]*$")
#: whitespace or SQL comments between two words (``DROP/**/DATABASE``)
_SQL_SEP = r"(?:\s|/\*.*?\*/|--[^\n]*(?:\n|$)|#[^\n]*(?:\n|$))+"
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]*$")


# ------------------------------------------------------------------ normalisation


def normalise_path(token: str, cwd: str | None = None) -> str:
    """``//a/./b/../c/`` → ``/a/c``; ``./x`` → ``x``; ``~`` is expanded."""
    if token.startswith("~"):
        token = os.path.expanduser(token)
    if "/" not in token and token not in (".", ".."):
        return token
    absolute = token.startswith("/")
    out = posixpath.normpath(token)
    if absolute:
        out = "/" + out.lstrip("/")
    if cwd and not absolute:
        return posixpath.normpath(posixpath.join(cwd, out))
    return out


def _normalise_operand(token: str) -> str:
    if "=" in token and not token.startswith(("/", ".", "~")):
        key, _, value = token.partition("=")
        if value.startswith(("/", ".", "~")):
            return f"{key}={normalise_path(value)}"
        return token
    return normalise_path(token)


@dataclass(frozen=True)
class Args:
    """A command's (or a pattern segment's) arguments, normalised."""

    program: str
    flags: frozenset[str]
    operands: tuple[str, ...]
    #: candidate spellings of each operand (normalised, absolute, glob prefix)
    candidates: tuple[tuple[str, ...], ...]
    #: whether each operand is dynamic (its value is not known statically)
    dynamic: tuple[bool, ...]
    any_dynamic: bool


def _flag_tokens(prog: str, token: str) -> list[str]:
    aliases = ALIASES.get(prog, {})
    if token.startswith("--"):
        name, eq, value = token.partition("=")
        name = aliases.get(name, _unabbreviate(prog, name))
        more = EXPANSIONS.get((prog, name), (name,))
        return [*more, f"{name}={value}"] if eq else list(more)
    if token in aliases:
        return [aliases[token]]
    if prog in NO_CLUSTER or len(token) <= 2:
        flags = [token]
    else:
        flags = [f"-{c}" for c in token[1:]]
    out: list[str] = []
    for f in flags:
        f = aliases.get(f, f)
        out.extend(EXPANSIONS.get((prog, f), (f,)))
    return out


def _unabbreviate(prog: str, name: str) -> str:
    """``--rec`` → ``-r`` for ``rm``: a unique prefix of a long option means it."""
    known = LONG_OPTIONS.get(prog)
    if not known or name in known or len(name) < 3:
        return name
    aliases = ALIASES.get(prog, {})
    meant = {aliases.get(o, o) for o in known if o.startswith(name)}
    return meant.pop() if len(meant) == 1 else name


def _chmod_mode(token: str) -> str:
    """``0777``, ``a+rwx``, ``ugo=rwx`` → ``777`` (the bits a mode surely sets)."""
    if re.fullmatch(r"[0-7]{1,5}", token):
        return format(int(token, 8), "o")
    bits = 0
    for clause in token.split(","):
        m = re.fullmatch(r"([ugoa]*)([-+=])([rwxXst]*)", clause)
        if m is None:
            return token
        who = m[1] or "a"
        perms = sum({"r": 4, "w": 2, "x": 1}.get(c, 0) for c in m[3])
        shifts = {6 if "u" in who or "a" in who else -1, 3 if "g" in who or "a" in who else -1,
                  0 if "o" in who or "a" in who else -1} - {-1}  # fmt: skip
        for sh in shifts:
            if m[2] == "-":
                bits &= ~(perms << sh)
            elif m[2] == "=":
                bits = (bits & ~(7 << sh)) | (perms << sh)
            else:
                bits |= perms << sh
    return format(bits, "o") if bits == 0o777 else token


def _broad_glob(name: str) -> bool:
    """A glob that matches (nearly) every name in a directory: ``*``, ``?*``, ``[a-z]*``."""
    return all(fnmatch.fnmatchcase(s, name) for s in ("bin", "etc", "usr", "home", "x"))


def split_args(
    prog: str,
    args: Sequence[str],
    dynamic: Sequence[bool] = (),
    cwd: str | tuple[str, ...] | None = None,
) -> Args:
    """Split ``args`` into a flag set and an ordered operand list."""
    flags: set[str] = set()
    operands: list[str] = []
    cands: list[tuple[str, ...]] = []
    dyn: list[bool] = []
    valued = VALUE_OPTIONS.get(prog, frozenset())
    cwds = (cwd,) if isinstance(cwd, str) else (cwd or ())
    end_of_options = False
    i = 0
    while i < len(args):
        token = args[i]
        is_dynamic = bool(dynamic) and i < len(dynamic) and dynamic[i]
        if not end_of_options and token == "--":  # noqa: S105
            end_of_options = True
        elif not end_of_options and not is_dynamic and token.startswith("-") and token != "-":  # noqa: S105
            if prog == "git" and not operands and token in _GIT_NEUTRAL:
                pass  # ``git --no-pager status`` is ``git status``
            elif token in valued and i + 1 < len(args):
                flags.add(token)
                flags.add(f"{token}={args[i + 1]}")
                i += 1
            else:
                flags.update(_flag_tokens(prog, token))
        elif _PLAIN.match(token) and prog != "chmod":  # nothing to normalise
            operands.append(token)
            cands.append((token,))
            dyn.append(is_dynamic)
        else:
            if prog == "git" and token.startswith("+") and len(token) > 1:
                flags.add("-f")  # ``git push origin +main`` is a force push
                token = token[1:]
            if prog == "chmod" and not operands:
                token = _chmod_mode(token)
            norm = _normalise_operand(token)
            spellings = [norm]
            for where in cwds:
                if token in (".", "..") or token.startswith(("./", "../")):
                    spellings.append(normalise_path(token, where))
                elif norm == "*":
                    spellings.append(where)
            head, _, last = norm.rpartition("/")
            if norm.endswith("/*") or norm == "*":
                base = norm[:-2] or "/"
                spellings.append(base if norm != "*" else ".")
            elif last and any(c in last for c in "*?[") and _broad_glob(last):
                spellings.append(head or ("/" if norm.startswith("/") else "."))
            operands.append(norm)
            cands.append(tuple(dict.fromkeys(spellings)))
            dyn.append(is_dynamic)
        i += 1
    return Args(prog, frozenset(flags), tuple(operands), tuple(cands), tuple(dyn), any(dyn))


# ------------------------------------------------------------------- patterns


@dataclass(frozen=True)
class Segment:
    """One simple-command part of a pattern."""

    program: str
    program_re: re.Pattern[str] | None
    flags: frozenset[str]
    operands: tuple[str, ...]
    operand_res: tuple[re.Pattern[str] | None, ...]
    #: leading plain words (sub-commands) that must open the command's operands
    anchors: int
    has_star: bool


@dataclass(frozen=True)
class Pattern:
    """A compiled pattern from one of the three boundary lists."""

    text: str
    kind: str  # forbidden | requires_approval | auto_allowed
    index: int
    segments: tuple[Segment, ...]
    connectors: tuple[str, ...]
    sql: re.Pattern[str] | None = None

    @property
    def rule(self) -> str:
        return f"boundaries.{self.kind}[{self.index}]"

    @property
    def loose(self) -> bool:
        return self.kind != "auto_allowed"


def _glob_re(token: str) -> re.Pattern[str] | None:
    if not re.search(r"[*?\[]", token):
        return None
    return re.compile(fnmatch.translate(token), re.DOTALL)


def tokenise(text: str) -> list[str]:
    """Split a pattern into shell words (``|&;`` are connectors): the one tokeniser of
    patterns, used by the gate and by the ratchet linter (:mod:`charter.actions.automata`)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars="|&;")
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError as exc:
        raise InputError(f"pattern {text!r} does not tokenise ({exc})") from exc


def compile_pattern(text: str, kind: str = "forbidden", index: int = 0) -> Pattern:
    """Compile one pattern string; raise :class:`InputError` when malformed."""
    tokens = tokenise(text)
    if not tokens:
        raise InputError(f"empty pattern in boundaries.{kind}")
    words = [t for t in tokens if t not in CONNECTORS]
    if len(words) >= 2 and all(SQL_WORD.match(t) for t in words[:2]):
        body = _SQL_SEP.join(".*" if t == "*" else re.escape(t).replace(r"\*", ".*") for t in words)
        return Pattern(
            text, kind, index, (), (), re.compile(rf"(?<![\w]){body}(?![\w])", re.I | re.S)
        )
    segments: list[list[str]] = [[]]
    connectors: list[str] = []
    for t in tokens:
        if t in CONNECTORS:
            connectors.append("|" if t in ("|", "|&") else ";")
            segments.append([])
        else:
            segments[-1].append(t)
    if any(not s for s in segments):
        raise InputError(f"pattern {text!r} has an empty part around a connector")
    return Pattern(text, kind, index, tuple(_segment(s) for s in segments), tuple(connectors))


def _segment(tokens: list[str]) -> Segment:
    first = tokens[0].lstrip("\\")
    prog = program_name(first) if first != "*" else "*"
    args = split_args(prog, tokens[1:])
    operands = args.operands
    anchors = 0
    for op in operands:
        if op == "*" or not _PLAIN.match(op):
            break
        anchors += 1
    return Segment(
        program=prog,
        program_re=_glob_re(prog),
        flags=args.flags,
        operands=operands,
        operand_res=tuple(_glob_re(o) if o != "*" else None for o in operands),
        anchors=anchors,
        has_star="*" in tokens[1:] or any(t == "*" for t in operands),
    )


# -------------------------------------------------------------------- matching


def _token(seg: Segment, k: int, args: Args, j: int) -> int:
    if args.dynamic[j]:
        return MAYBE
    rx = seg.operand_res[k]
    want = seg.operands[k]
    for c in args.candidates[j]:
        if rx.match(c) if rx is not None else c == want:
            return YES
    return NO


def _flags(seg: Segment, args: Args, exact: bool) -> int:
    if not seg.flags and not args.flags:
        return YES
    missing = False
    for f in seg.flags if not seg.flags <= args.flags else ():
        if f in args.flags:
            continue
        if "=" in f or any(c in f for c in "*?["):
            if any(fnmatch.fnmatchcase(g, f) for g in args.flags):
                continue
        if f.startswith("--") and any(g.startswith(f + "=") for g in args.flags):
            continue
        missing = True
    if exact and not seg.has_star:
        extra = {g for g in args.flags if "=" not in g} - seg.flags
        extra -= {f.split("=", 1)[0] for f in seg.flags}
        if extra:
            return NO
    if missing:
        return MAYBE if args.any_dynamic else NO
    return YES


def match_segment(seg: Segment, args: Args, loose: bool) -> int:
    """Match one segment against one command variant's arguments."""
    if seg.program_re is not None:
        if not seg.program_re.match(args.program):
            return NO
    elif seg.program != args.program:
        return NO
    if seg.anchors and seg.operand_res[0] is None:
        # the first sub-command word (``git push …``) must open the operands: the
        # cheapest test first (the operand rules below would say NO too)
        if not args.operands:
            return NO
        if not args.dynamic[0] and seg.operands[0] not in args.candidates[0]:
            return NO
    flags = _flags(seg, args, exact=not loose)
    if flags == NO:
        return NO
    ops = _loose_operands(seg, args) if loose else _exact_operands(seg, args)
    return min(flags, ops)


def _loose_operands(seg: Segment, args: Args) -> int:
    n = len(args.operands)
    if seg.anchors > n:
        return NO
    best = YES
    for k in range(seg.anchors):
        r = _token(seg, k, args, k)
        if r == NO:
            return NO
        best = min(best, r)
    rest = [k for k in range(seg.anchors, len(seg.operands)) if seg.operands[k] != "*"]
    if not rest:
        return best
    return min(best, _loose_rest(seg, args, rest, 0, seg.anchors, {}))


def _loose_rest(
    seg: Segment, args: Args, rest: list[int], i: int, j: int, memo: dict[tuple[int, int], int]
) -> int:
    """Whether ``rest[i:]`` of the pattern's operands match, in order, among the
    command's operands from ``j`` (a module function: a recursive closure would be a
    reference cycle left for the garbage collector on every call)."""
    if i == len(rest):
        return YES
    if len(args.operands) - j < len(rest) - i:
        return NO
    key = (i, j)
    if key in memo:
        return memo[key]
    here = _token(seg, rest[i], args, j)
    take = min(here, _loose_rest(seg, args, rest, i + 1, j + 1, memo)) if here else NO
    out = take if take == YES else max(take, _loose_rest(seg, args, rest, i, j + 1, memo))
    memo[key] = out
    return out


def _exact_operands(seg: Segment, args: Args) -> int:
    return _exact_from(seg, args, 0, 0, {})


def _exact_from(seg: Segment, args: Args, k: int, j: int, memo: dict[tuple[int, int], int]) -> int:
    """Whether the pattern's operands from ``k`` match the command's from ``j`` exactly."""
    ops, n = seg.operands, len(args.operands)
    if k == len(ops):
        return YES if j == n else NO
    key = (k, j)
    if key in memo:
        return memo[key]
    if ops[k] == "*":
        out = max(_exact_from(seg, args, k + 1, jj, memo) for jj in range(j, n + 1))
    elif j >= n:
        out = NO
    else:
        here = _token(seg, k, args, j)
        out = min(here, _exact_from(seg, args, k + 1, j + 1, memo)) if here else NO
    memo[key] = out
    return out


# ------------------------------------------------------------------ pattern sets


@dataclass(frozen=True)
class Hit:
    """A pattern that matched (or might match) a command."""

    pattern: Pattern
    strength: int  # YES or MAYBE
    argv: tuple[str, ...]


@dataclass(frozen=True)
class CommandMatch:
    """What the patterns say about one simple command."""

    command: SimpleCommand
    hits: tuple[Hit, ...]
    #: every non-transparent variant is auto-allowed
    auto_allowed: bool
    allowed_by: tuple[str, ...]
    #: every working directory the command may run in (``cd`` earlier in the string)
    cwds: tuple[str, ...] = ()
    #: an earlier ``cd`` went to a directory only known at run time
    cwd_unknown: bool = False


class PatternSet:
    """All patterns of a constitution, compiled once and indexed by program."""

    def __init__(
        self,
        forbidden: Iterable[str] = (),
        requires_approval: Iterable[str] = (),
        auto_allowed: Iterable[str] = (),
    ) -> None:
        self.patterns: list[Pattern] = []
        for kind, texts in (
            ("forbidden", forbidden),
            ("requires_approval", requires_approval),
            ("auto_allowed", auto_allowed),
        ):
            for i, text in enumerate(texts):
                self.patterns.append(compile_pattern(text, kind, i))
        self._single: dict[str, list[Pattern]] = {}
        self._generic: list[Pattern] = []
        self.multi: list[Pattern] = []
        self.sql: list[Pattern] = []
        for p in self.patterns:
            if p.sql is not None:
                self.sql.append(p)
            elif len(p.segments) > 1:
                self.multi.append(p)
            elif p.segments[0].program_re is not None:
                self._generic.append(p)
            else:
                self._single.setdefault(p.segments[0].program, []).append(p)

        self._forbidden = any(p.kind == "forbidden" for p in self.patterns)
        programs = {
            p.segments[0].program
            for p in self.patterns
            if p.kind == "forbidden" and p.segments and p.segments[0].program_re is None
        }
        if any(p.kind == "forbidden" for p in self.sql):
            programs |= SQL_CLIENTS
        self._forbidden_programs = frozenset(programs)
        self._forbidden_globs = tuple(
            p.segments[0].program_re
            for p in self.patterns
            if p.kind == "forbidden" and p.segments and p.segments[0].program_re is not None
        )

        #: program → its candidates (see :meth:`_entries`); short names only, and cleared
        #: when full: the names come from the commands decided
        self._by_program: dict[str, tuple[_Entry, ...]] = {}
        #: the programs each multi-part pattern needs (``None``: one is a glob)
        self._multi_programs = [
            None
            if any(seg.program_re is not None for seg in p.segments)
            else frozenset(seg.program for seg in p.segments)
            for p in self.multi
        ]

    def candidates(self, program: str) -> list[Pattern]:
        single = self._single.get(program)
        if single is None:
            return self._generic
        return single + self._generic if self._generic else single

    def _entries(self, program: str) -> tuple[_Entry, ...]:
        """The single-part patterns that may match a command of ``program``, in
        :meth:`candidates`' order, without the generic ones whose program glob does
        not match it (:func:`match_segment` would say NO at once)."""
        found = self._by_program.get(program)
        if found is not None:
            return found
        found = tuple(
            _entry(p)
            for p in self.candidates(program)
            if p.segments[0].program_re is None or p.segments[0].program_re.match(program)
        )
        if len(program) <= _ENTRY_NAME:
            if len(self._by_program) >= _ENTRY_PROGRAMS:
                self._by_program.clear()
            self._by_program[program] = found
        return found

    def match_script(self, script: Script, cwd: str | None = None) -> list[CommandMatch]:
        results: list[list[Hit]] = [[] for _ in script.commands]
        parsed: list[list[tuple[Variant, Args]]] = []
        allowed: list[bool] = []
        allowed_by: list[list[str]] = []
        cwds: tuple[str, ...] = (cwd,) if cwd else ()
        at: list[tuple[tuple[str, ...], bool]] = []
        unknown = False
        for ci, cmd in enumerate(script.commands):
            if cmd.program in ("cd", "pushd"):
                cwds, moved = _change_dir(cwds, cmd)
                unknown = unknown or not moved
            at.append((cwds, unknown))
            forms = []
            ok = True
            by: list[str] = []
            static = all(w.static or w.resolved for w in cmd.words)
            for v in cmd.variants:
                if not v.argv:
                    continue
                args = args_for(v.argv, () if static else _dynamic_mask(cmd, v), cwds)
                forms.append((v, args))
                this_ok = False
                # a pattern's sub-command (``git push …``) must open the operands: the
                # cheapest test first, as in match_segment
                first = args.candidates[0] if args.operands and not args.dynamic[0] else None
                for p, seg, loose, anchor in self._entries(args.program):
                    if anchor is not None and (
                        not args.operands or (first is not None and anchor not in first)
                    ):
                        continue
                    r = match_segment(seg, args, loose)
                    if r == NO:
                        continue
                    if p.kind == "auto_allowed":
                        if r == YES:
                            this_ok = True
                            by.append(p.text)
                    else:
                        results[ci].append(Hit(p, r, v.argv))
                if not this_ok and not v.transparent:
                    ok = False
            results[ci].extend(self._sql_hits(cmd, forms))
            if not (ok and forms) and self._forbidden:
                results[ci].extend(self._guessed_hits(cmd, cwds))
            parsed.append(forms)
            allowed.append(ok and bool(forms))
            allowed_by.append(by)
        present = {args.program for forms in parsed for _v, args in forms}
        for p, needs in zip(self.multi, self._multi_programs, strict=True):
            if p.kind == "auto_allowed":
                continue  # multi-part auto_allowed patterns never allow on their own
            if needs is not None and not needs <= present:
                continue  # a part's program runs nowhere in the string: no part matches
            self._match_multi(p, script, parsed, results)
        return [
            CommandMatch(
                cmd, tuple(results[i]), allowed[i], tuple(dict.fromkeys(allowed_by[i])), *at[i]
            )
            for i, cmd in enumerate(script.commands)
        ]

    def _guessed_hits(self, cmd: SimpleCommand, cwds: tuple[str, ...]) -> list[Hit]:
        """Forbidden patterns against what an *unknown* wrapper may run.

        A command that is not auto-allowed asks anyway; this only finds a
        ``forbidden`` command hidden behind a wrapper Charter does not know
        (``chronic rm -rf /``, ``ssh host 'rm -rf /'``, ``/bin/r? -rf /``): every
        argv suffix that starts with a program word, and every operand that reads
        like a shell command, is matched as if run directly.
        """
        hits: list[Hit] = []
        seen: set[tuple[str, ...]] = {v.argv for v in cmd.variants}
        for argv in _guesses(cmd, self._forbidden_programs):
            if argv in seen or not argv:
                continue
            seen.add(argv)
            args = args_for(argv, (), cwds)
            hits.extend(
                Hit(p, YES, argv)
                for p in self.candidates(args.program)
                if p.kind == "forbidden" and match_segment(p.segments[0], args, True) == YES
            )
            if self.sql and args.program in SQL_CLIENTS:
                text = " ".join(argv[1:])
                hits.extend(
                    Hit(p, YES, argv)
                    for p in self.sql
                    if p.kind == "forbidden" and p.sql is not None and p.sql.search(text)
                )
        return hits

    def _sql_hits(self, cmd: SimpleCommand, forms: list[tuple[Variant, Args]]) -> list[Hit]:
        if not self.sql:
            return []
        hits: list[Hit] = []
        for v, args in forms:
            if args.program not in SQL_CLIENTS:
                # a bare statement given as the action (``DROP DATABASE prod``): the
                # pattern as written, from the first word
                whole = " ".join(v.argv)
                hits.extend(
                    Hit(p, YES, v.argv)
                    for p in self.sql
                    if p.kind != "auto_allowed" and p.sql is not None and p.sql.match(whole)
                )
                continue
            text = " ".join(v.argv[1:]) + "\n" + (cmd.stdin_text or "")
            unknown = (
                cmd.stdin_unknown
                or bool(args.flags & _SQL_FILE_FLAGS)
                or any(r.op == "<" for r in cmd.redirects)
            )
            for p in self.sql:
                if p.kind == "auto_allowed" or p.sql is None:
                    continue
                if p.sql.search(text):
                    hits.append(Hit(p, YES, v.argv))
                elif unknown or args.any_dynamic:
                    hits.append(Hit(p, MAYBE, v.argv))
        return hits

    def _match_multi(
        self,
        p: Pattern,
        script: Script,
        parsed: list[list[tuple[Variant, Args]]],
        results: list[list[Hit]],
    ) -> None:
        per_seg: list[list[tuple[int, int]]] = []
        for seg in p.segments:
            found: list[tuple[int, int]] = []
            for ci, forms in enumerate(parsed):
                best = NO
                for _v, args in forms:
                    best = max(best, match_segment(seg, args, True))
                if best:
                    found.append((ci, best))
            if not found:
                return
            per_seg.append(found)
        cmds = script.commands

        def linked(a: int, b: int, connector: str) -> bool:
            if cmds[b].seq <= cmds[a].seq and not (connector == "|"):
                return False
            if connector == "|":
                pa = dict(cmds[a].pipes)
                return any(pid in pa and pos > pa[pid] for pid, pos in cmds[b].pipes)
            return True

        def search(
            k: int, prev: int | None, chain: list[tuple[int, int]]
        ) -> list[tuple[int, int]] | None:
            if k == len(per_seg):
                return chain
            for ci, strength in per_seg[k]:
                if prev is not None and not linked(prev, ci, p.connectors[k - 1]):
                    continue
                out = search(k + 1, ci, [*chain, (ci, strength)])
                if out is not None:
                    return out
            return None

        chain = search(0, None, [])
        if chain is None:
            return
        strength = min(s for _, s in chain)
        for ci, _ in chain:
            results[ci].append(Hit(p, strength, script.commands[ci].argv))


#: A candidate of :meth:`PatternSet._entries`: the pattern, its only segment, whether it
#: matches loosely, and the sub-command that must open the operands (``None``: none).
_Entry = tuple[Pattern, Segment, bool, str | None]
#: Program names longer than this are not kept by :meth:`PatternSet._entries`, and it
#: keeps at most this many: bounded however many names the commands make up.
_ENTRY_NAME = 64
_ENTRY_PROGRAMS = 1024


def _entry(p: Pattern) -> _Entry:
    seg = p.segments[0]
    anchor = seg.operands[0] if seg.anchors and seg.operand_res[0] is None else None
    return (p, seg, p.loose, anchor)


def _dynamic_mask(cmd: SimpleCommand, v: Variant) -> tuple[bool, ...]:
    """Which argv positions of a variant are dynamic (aligned from the end).

    A word whose value is known from an earlier assignment in the same string
    (``X=/; rm -rf $X``) is matched as static.
    """
    words = cmd.words
    if len(words) != len(cmd.variants[0].argv) or all(w.static or w.resolved for w in words):
        return ()
    tail = words[len(words) - len(v.argv) :] if len(v.argv) <= len(words) else words
    return tuple(not (w.static or w.resolved) for w in tail)[1:]


def _change_dir(cwds: tuple[str, ...], cmd: SimpleCommand) -> tuple[tuple[str, ...], bool]:
    """The directories a ``cd``/``pushd`` may have entered (all kept: approximate).

    The flag is false when the directory is only known at run time (``cd "$D"``).
    """
    words = list(cmd.words[1:])
    while words and words[0].static and words[0].value in ("-L", "-P", "-e", "-@", "--"):
        words.pop(0)
    if not words:
        target = "~"
    elif len(words) > 1 or words[0].value in ("-", "+1", "-1", "+0", "-0"):
        return cwds, True  # ``cd -``/``pushd +N``: a directory already entered
    elif (words[0].static or words[0].resolved) and not words[0].glob:
        target = words[0].value
    else:
        return cwds, False  # ``cd "$D"``, ``cd se*``: where it goes is known at run time
    if target.startswith("~"):
        expanded = [expand_tilde(target, c) for c in (cwds or ("/",))]
        if any(e is None or e.startswith("~") for e in expanded):
            return cwds, False  # ``cd ~-``, ``cd ~N``, an unknown user
        new = [normalise_path(e) for e in expanded if e is not None]
    elif target.startswith("/"):
        new = [normalise_path(target)]
    else:
        new = [normalise_path(posixpath.join(c, target)) for c in (cwds or ("/",))]
    return tuple(dict.fromkeys((*cwds, *new)))[-16:], True


_PROGRAM_WORD = re.compile(r"^(?:[A-Za-z0-9_.+-]*/)*[A-Za-z_][A-Za-z0-9_.+-]*$")


def _guesses(cmd: SimpleCommand, programs: frozenset[str]) -> list[tuple[str, ...]]:
    """Argv forms an unknown wrapper may run (see ``PatternSet._guessed_hits``)."""
    out: list[tuple[str, ...]] = []
    words = cmd.words
    if words and words[0].glob and words[0].static:
        base = program_name(words[0].value)
        rest = tuple(w.value for w in words[1:])
        out.extend((prog, *rest) for prog in programs if fnmatch.fnmatchcase(prog, base))
    for v in cmd.variants:
        argv = v.argv
        for i in range(1, len(argv)):
            token = argv[i]
            if _PROGRAM_WORD.match(token) and program_name(token) in programs:
                out.append(argv[i:])
            elif (" " in token or "\t" in token or ";" in token) and len(token) < 4096:
                _, _, value = token.partition("=") if token.startswith("-") else ("", "", token)
                out.extend(_script_forms(value))
    return out


def _script_forms(text: str) -> list[tuple[str, ...]]:
    try:
        script = parse_shell(text)
    except RecursionError:  # pragma: no cover - pathological nesting
        return []
    out: list[tuple[str, ...]] = []
    for c in script.commands:
        for v in c.variants:
            out.extend(v.argv[i:] for i in range(len(v.argv)))
    return out


# Bounded by bytes too (argv can be thousands of words): see charter.core.memo.
# Kept across decisions although ``~``/``~user`` operands are expanded here: a pattern's
# are expanded once, when the constitution is compiled, and the two must agree to match
# (an expansion read afresh after a home directory moved would slip past a forbidden
# ``rm -rf ~alice/*``). The file-path checks expand ``~`` for every action.
@bytes_lru(text_weight(32), max_bytes=16 * 2**20, max_entries=256, short=1024)
def args_for(argv: tuple[str, ...], dynamic: tuple[bool, ...], cwd: tuple[str, ...]) -> Args:
    return split_args(program_name(argv[0]), argv[1:], dynamic, cwd)


__all__ = [
    "MAYBE",
    "NO",
    "YES",
    "Args",
    "CommandMatch",
    "Hit",
    "Pattern",
    "PatternSet",
    "Segment",
    "compile_pattern",
    "match_segment",
    "normalise_path",
    "split_args",
    "tokenise",
]
