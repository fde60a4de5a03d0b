"""Command patterns as regular languages: containment with a counterexample.

The policy linter must prove that every ``auto_allowed`` pattern of a lower
layer is contained in the upper layer's auto-allowed language, and show a
concrete command when it is not. This module models both sides as regular
languages over *canonical command strings*:

    program SEP flag SEP flag … SEP operand SEP operand …

``SEP`` is one character (``\\x1f``) that no token contains; the program is its
base name (``/usr/bin/rm`` → ``rm``); flags are normalised exactly as the action
gate does it (:func:`charter.actions.patterns.split_args`: clusters split, aliases
folded, ``git branch -D`` = ``-d -f``) and sorted, so ``rm -rf /``,
``rm -fr /`` and ``rm -r -f /`` are one string; operands stay in order.

A pattern (the gate's ``auto_allowed`` semantics, see ``docs/patterns.md``):

- its program token and each operand token are globs *within one token*
  (``*`` = any non-separator characters, ``?`` = one);
- a whole-token ``*`` stands for any operands (zero or more) and lets the
  command carry extra flags;
- without a whole-token ``*`` the flag set must be exactly the pattern's.

**Approximations** (documented, all on the safe side for the linter):

- without a ``*`` token, flags must equal the pattern's set; the gate also
  tolerates extra ``--opt=value`` flags, which this model does not; with a
  ``*`` token the extra flags may come in any order in the model (strings
  that are not canonical are never produced by real commands, so this never
  makes a lower pattern look contained when it is not);
- ``[...]`` character classes are over-approximated by "any character" in a
  lower pattern and make an upper pattern count for nothing;
- multi-part patterns (``a | b``) and SQL patterns never auto-allow anything
  in the gate, so their language is empty here.

The decision is a lazy product walk of two small NFAs (breadth first, so the
counterexample is a shortest one). The walk also runs a small automaton that keeps
to strings the gate's argument parser can produce (flags before operands, a lone
``-`` is an operand, ``-abc`` is a cluster), and every counterexample is checked with
the gate's own matcher before it is shown: it is auto-allowed by the lower pattern and
by no upper pattern. Upper patterns are indexed by program, so a
lower pattern is only compared with the upper patterns that could share a
string with it. :func:`to_regex` renders the same language as a regular
expression for `greenery <https://github.com/qntm/greenery>`_, which the tests
use as an independent oracle (greenery itself is too slow for 1,000 patterns:
about 16 ms to build one pattern's FSM and a second to union twenty).
"""

from __future__ import annotations

import fnmatch
import itertools
import re
import shlex
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from charter.actions.patterns import (
    CONNECTORS,
    NO_CLUSTER,
    SQL_WORD,
    PatternSet,
    split_args,
    tokenise,
)
from charter.actions.shell import parse as parse_shell
from charter.actions.shell import program_name
from charter.core.errors import InputError

SEP = "\x1f"
#: A transition label matching every character but the separator.
NONSEP = ""
_READABLE = "xyzqjkwvabcdefghilmnoprstu0123456789"
#: How many model counterexamples are checked with the gate's matcher before giving up
#: on showing one (the pattern is still reported as not contained).
_WITNESS_TRIES = 64

# ---------------------------------------------------------------------- patterns

#: A token glob: literal characters, "*" (any non-separator run) or "?" (one).
Atom = str
#: An element of a pattern: ("tok", atoms) | ("anytok",) | ("flags",) — see _build.
Element = tuple[str, tuple[Atom, ...]]


@dataclass(frozen=True)
class CommandPattern:
    """A pattern compiled to the token-level model (see the module docstring)."""

    text: str
    program: tuple[Atom, ...]
    elements: tuple[Element, ...]
    #: empty language (multi-part or SQL pattern): it auto-allows nothing
    empty: bool = False
    #: False when the model is only an over-approximation ([...] classes)
    exact: bool = True

    @property
    def literal_program(self) -> str | None:
        if any(a in ("*", "?") for a in self.program):
            return None
        return "".join(self.program)

    @property
    def program_glob(self) -> str:
        return "".join(self.program)

    @property
    def key(self) -> tuple[tuple[Atom, ...], tuple[Element, ...], bool]:
        return (self.program, self.elements, self.empty)


def _glob_atoms(token: str) -> tuple[tuple[Atom, ...], bool]:
    """A token glob as atoms; the flag is False when [...] was approximated."""
    atoms: list[Atom] = []
    exact = True
    i = 0
    while i < len(token):
        c = token[i]
        if c == "[":
            end = token.find("]", i + 2)
            if end != -1:
                atoms.append("?")
                exact = False
                i = end + 1
                continue
        if c == SEP:
            raise InputError(f"pattern token {token!r} contains a control character")
        atoms.append(c if c not in "*?" else c)
        i += 1
    # Collapse runs of "*" (they mean the same thing).
    out: list[Atom] = []
    for a in atoms:
        if a == "*" and out and out[-1] == "*":
            continue
        out.append(a)
    return tuple(out), exact


def _literal_atoms(token: str) -> tuple[Atom, ...]:
    """A token compared literally (flags): a '*' or '?' in it stays a glob."""
    return _glob_atoms(token)[0]


def compile_command_pattern(text: str) -> CommandPattern:
    """Compile one ``auto_allowed`` pattern to the token-level model."""
    tokens = tokenise(text)  # an empty word ('') is a word, as at the gate
    if not tokens:
        raise InputError("empty command pattern")
    if any(t in CONNECTORS for t in tokens):
        return CommandPattern(text, (), (), empty=True)
    words = tokens
    if len(words) >= 2 and all(SQL_WORD.match(t) for t in words[:2]):
        return CommandPattern(text, (), (), empty=True)
    first = tokens[0].lstrip("\\")
    prog = program_name(first) if first != "*" else "*"
    program, exact = _glob_atoms(prog)
    args = split_args(prog, tokens[1:])
    has_star = "*" in tokens[1:] or "*" in args.operands
    elements: list[Element] = []
    flags = sorted(args.flags)
    if has_star:
        elements.append(("flags", ()))
        for f in flags:
            elements.append(("tok", _literal_atoms(f)))
            elements.append(("flags", ()))
    else:
        elements.extend(("tok", _literal_atoms(f)) for f in flags)
    for op in args.operands:
        if op == "*":
            if not elements or elements[-1][0] != "anytok":
                elements.append(("anytok", ()))
            continue
        atoms, ok = _glob_atoms(op)
        exact = exact and ok
        elements.append(("tok", atoms))
    return CommandPattern(text, program, tuple(elements), exact=exact)


def canonical_command(command: str) -> str:
    """A command's canonical string (program, sorted flags, operands) joined by SEP."""
    tokens = tokenise(command)
    if not tokens:
        raise InputError("empty command")
    prog = program_name(tokens[0])
    args = split_args(prog, tokens[1:])
    return SEP.join([prog, *sorted(args.flags), *args.operands])


def _is_flag(token: str) -> bool:
    """Whether the gate reads ``token`` as an option (``-`` and ``--`` are not)."""
    return token.startswith("-") and token not in ("-", "--")


def display(canonical: str) -> str:
    """A canonical string as a shell command a person can read and paste.

    Flags are a set for the gate, so their place does not matter; a leading
    plain operand (a sub-command such as ``git status``) is shown first.
    """
    tokens = canonical.split(SEP)
    rest = tokens[1:]
    n = 0
    while n < len(rest) and _is_flag(rest[n]):
        n += 1
    flags, operands = _option_words(rest[:n]), rest[n:]
    if flags and operands and re.fullmatch(r"[a-z][a-z0-9-]*", operands[0]):
        ordered = [tokens[0], operands[0], *flags, *operands[1:]]
    else:
        ordered = [tokens[0], *flags, *operands]
    return " ".join(shlex.quote(t) if t else "''" for t in ordered)


def _option_words(flags: Sequence[str]) -> list[str]:
    """Flags as the words that give them: an option with a value (``-C`` and ``-C=dir``
    from ``-C dir``, ``--git-dir`` and ``--git-dir=x`` from ``--git-dir=x``) is one."""
    valued = {f.split("=", 1)[0] for f in flags if "=" in f}
    words: list[str] = []
    for f in flags:
        name, eq, value = f.partition("=")
        if not eq and f in valued:
            continue  # shown with its value
        if eq and not name.startswith("--"):
            words.extend((name, value))
        else:
            words.append(f)
    return words


# --------------------------------------------------------------------------- NFA


@dataclass
class NFA:
    """Transitions on a literal character or on NONSEP; epsilon moves; finals."""

    trans: list[list[tuple[str, int]]] = field(default_factory=list)
    eps: list[list[int]] = field(default_factory=list)
    finals: set[int] = field(default_factory=set)
    chars: set[str] = field(default_factory=set)

    def new(self) -> int:
        self.trans.append([])
        self.eps.append([])
        return len(self.trans) - 1

    def edge(self, a: int, label: str, b: int) -> None:
        self.trans[a].append((label, b))
        if label != NONSEP:
            self.chars.add(label)

    def closure(self, states: Iterable[int]) -> frozenset[int]:
        seen = set(states)
        stack = list(seen)
        while stack:
            s = stack.pop()
            for t in self.eps[s]:
                if t not in seen:
                    seen.add(t)
                    stack.append(t)
        return frozenset(seen)


def _glob(nfa: NFA, start: int, atoms: Sequence[Atom]) -> int:
    cur = start
    for a in atoms:
        if a == "*":
            nfa.edge(cur, NONSEP, cur)
        elif a == "?":
            nxt = nfa.new()
            nfa.edge(cur, NONSEP, nxt)
            cur = nxt
        else:
            nxt = nfa.new()
            nfa.edge(cur, a, nxt)
            cur = nxt
    return cur


def _add_pattern(nfa: NFA, start: int, pattern: CommandPattern) -> None:
    if pattern.empty:
        return
    cur = _glob(nfa, start, pattern.program)
    for kind, atoms in pattern.elements:
        if kind == "tok":
            mid = nfa.new()
            nfa.edge(cur, SEP, mid)
            cur = _glob(nfa, mid, atoms)
        else:
            # ("anytok"): (SEP NONSEP+)*   ("flags"): (SEP '-' NONSEP*)*
            loop = nfa.new()
            nfa.eps[cur].append(loop)
            body = nfa.new()
            nfa.edge(loop, SEP, body)
            if kind == "flags":
                dash = nfa.new()
                nfa.edge(body, "-", dash)
                body = dash
            else:
                # A token is never empty: at least one character.
                first = nfa.new()
                nfa.edge(body, NONSEP, first)
                body = first
            nfa.edge(body, NONSEP, body)
            nfa.eps[body].append(loop)
            cur = loop
    nfa.finals.add(cur)


def build_nfa(patterns: Iterable[CommandPattern]) -> tuple[NFA, int]:
    """One NFA for the union of ``patterns`` (state 0 is the start)."""
    nfa = NFA()
    start = nfa.new()
    for p in patterns:
        s = nfa.new()
        nfa.eps[start].append(s)
        _add_pattern(nfa, s, p)
    return nfa, start


#: Transitions one runner keeps (each a state set and a character of some input).
MAX_CACHED_STEPS = 65536


class _Runner:
    """Lazy subset construction over one NFA, with a transition cache."""

    def __init__(self, nfa: NFA, start: int) -> None:
        self.nfa = nfa
        self.start = nfa.closure([start])
        self._cache: dict[tuple[frozenset[int], str], frozenset[int]] = {}
        self._labels: dict[frozenset[int], frozenset[str]] = {}

    def step(self, states: frozenset[int], char: str) -> frozenset[int]:
        key = (states, char)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        nxt: set[int] = set()
        for s in states:
            for label, t in self.nfa.trans[s]:
                if label == char or (label == NONSEP and char != SEP):
                    nxt.add(t)
        out = self.nfa.closure(nxt) if nxt else frozenset()
        if len(self._cache) >= MAX_CACHED_STEPS:
            self._cache.clear()  # keyed on input characters: bounded (see charter.core.memo)
        self._cache[key] = out
        return out

    def labels(self, states: frozenset[int]) -> frozenset[str]:
        hit = self._labels.get(states)
        if hit is None:
            hit = frozenset(
                label for s in states for label, _ in self.nfa.trans[s] if label != NONSEP
            )
            if len(self._labels) >= MAX_CACHED_STEPS:
                self._labels.clear()
            self._labels[states] = hit
        return hit

    def accepting(self, states: frozenset[int]) -> bool:
        return not self.nfa.finals.isdisjoint(states)


def _other_char(used: set[str]) -> str:
    for c in _READABLE:
        if c not in used:
            return c
    code = 0x100
    while chr(code) in used:
        code += 1
    return chr(code)


# Where a canonical string is, token by token (see _shape): the program, the start
# of a token in the flag or the operand part, or inside a token.
_PROG, _START_FLAGS, _START_OPERANDS = 0, 1, 2
_DASH, _DASH2, _SHORT, _FLAG_REST, _LONG, _OPERAND = 3, 4, 5, 6, 7, 8
_OP_DASH, _OP_DASH2 = 9, 10
_DEAD = -1


def _shape(state: int, char: str, clusters: bool) -> int:
    """One step of the automaton of strings the gate's argument parser can produce.

    Flags (``-x``, ``-x=value``, ``--long…``) come before operands; ``-`` and ``--`` are
    operands; with ``clusters``, ``-abc`` is not one token (the gate splits it). Every
    canonical string (:func:`canonical_command`) is accepted, so keeping to these
    strings never hides a real difference between two languages.
    """
    if char == SEP:
        if state in (_START_FLAGS, _PROG, _SHORT, _FLAG_REST, _LONG):
            return _START_FLAGS
        return _START_OPERANDS  # an operand ended (or an empty one)
    if state == _PROG:
        return _PROG
    if state == _START_FLAGS:
        return _DASH if char == "-" else _OPERAND
    if state == _START_OPERANDS:
        return _OP_DASH if char == "-" else _OPERAND
    if state == _DASH:
        return _DASH2 if char == "-" else _SHORT
    if state == _SHORT:
        return _FLAG_REST if char == "=" or not clusters else _DEAD
    if state in (_DASH2, _LONG):
        return _LONG
    if state == _OP_DASH:
        return _OP_DASH2 if char == "-" else _DEAD
    if state in (_FLAG_REST, _OPERAND):
        return state
    return _DEAD


Pair = tuple[frozenset[int], frozenset[int], int]


def _path(parents: dict[Pair, tuple[Pair | None, str]], node: Pair) -> str:
    chars: list[str] = []
    at: Pair | None = node
    while at is not None:
        prev, ch = parents[at]
        chars.append(ch)
        at = prev
    return "".join(reversed(chars))


def difference_witnesses(
    lower: _Runner,
    upper: _Runner,
    used_chars: set[str],
    *,
    clusters: bool = True,
    limit: int = 200_000,
) -> Iterator[str]:
    """Strings accepted by ``lower`` and not by ``upper``, shortest first.

    Only strings of the gate's argument shape are walked (see :func:`_shape`); at
    most one string per product state is produced, so the walk ends.
    """
    other = _other_char(used_chars | {SEP})
    start: Pair = (lower.start, upper.start, _PROG)
    parents: dict[Pair, tuple[Pair | None, str]] = {start: (None, "")}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        p, u, shape = node
        if lower.accepting(p) and not upper.accepting(u):
            yield _path(parents, node)
        if len(parents) > limit:
            raise InputError(
                "pattern containment check exceeded its state budget",
                hint="simplify the pattern (fewer in-token '*')",
            )
        candidates = sorted(lower.labels(p) | upper.labels(u) | {SEP})
        candidates.append(other)
        for ch in candidates:
            np = lower.step(p, ch)
            if not np:
                continue
            ns = _shape(shape, ch, clusters)
            if ns == _DEAD:
                continue
            nu = upper.step(u, ch) if u else u
            nxt = (np, nu, ns)
            if nxt not in parents:
                parents[nxt] = (node, ch)
                queue.append(nxt)


def difference_witness(
    lower: _Runner, upper: _Runner, used_chars: set[str], limit: int = 200_000
) -> str | None:
    """A shortest string accepted by ``lower`` and not by ``upper`` (None if none)."""
    return next(iter(difference_witnesses(lower, upper, used_chars, limit=limit)), None)


# ------------------------------------------------------------------ containment


@dataclass(frozen=True)
class Containment:
    """Result for one lower pattern: contained, or a command it would newly allow."""

    pattern: str
    contained: bool
    #: a command the lower pattern auto-allows and the upper layer does not (checked
    #: with the gate's matcher); None when contained or when none could be shown
    counterexample: str | None = None

    def __bool__(self) -> bool:
        return self.contained


class AllowedLanguage:
    """The auto-allowed language of an upper layer, indexed by program."""

    def __init__(self, patterns: Iterable[str]) -> None:
        patterns_list = list(patterns)
        self.patterns: list[CommandPattern] = []
        for text in patterns_list:
            compiled = compile_command_pattern(text)
            # An approximated upper pattern must not widen what counts as allowed.
            if compiled.exact and not compiled.empty:
                self.patterns.append(compiled)
        self._by_program: dict[str, list[int]] = {}
        self._glob_programs: list[int] = []
        self._keys = {p.key for p in self.patterns}
        for i, p in enumerate(self.patterns):
            lit = p.literal_program
            if lit is None:
                self._glob_programs.append(i)
            else:
                self._by_program.setdefault(lit, []).append(i)
        self._runners: dict[tuple[int, ...], tuple[_Runner, set[str]]] = {}
        self._texts = tuple(patterns_list)
        self._gate: PatternSet | None = None

    def _relevant(self, pattern: CommandPattern) -> tuple[int, ...]:
        lit = pattern.literal_program
        if lit is not None:
            found = list(self._by_program.get(lit, []))
            found += [
                i
                for i in self._glob_programs
                if fnmatch.fnmatchcase(lit, self.patterns[i].program_glob)
            ]
        else:
            glob = pattern.program_glob
            found = [
                i
                for name, idx in self._by_program.items()
                if fnmatch.fnmatchcase(name, glob)
                for i in idx
            ]
            found += self._glob_programs
        return tuple(sorted(set(found)))

    def _runner(self, indices: tuple[int, ...]) -> tuple[_Runner, set[str]]:
        hit = self._runners.get(indices)
        if hit is None:
            nfa, start = build_nfa(self.patterns[i] for i in indices)
            hit = (_Runner(nfa, start), nfa.chars)
            self._runners[indices] = hit
        return hit

    def contains(self, text: str) -> Containment:
        """Whether every command ``text`` auto-allows is auto-allowed here."""
        pattern = compile_command_pattern(text)
        if pattern.empty or pattern.key in self._keys:
            return Containment(text, True)
        upper, upper_chars = self._runner(self._relevant(pattern))
        nfa, start = build_nfa([pattern])
        lower = _Runner(nfa, start)
        clusters = pattern.literal_program not in NO_CLUSTER
        witnesses = difference_witnesses(lower, upper, nfa.chars | upper_chars, clusters=clusters)
        found = next(witnesses, None)
        if found is None:
            return Containment(text, True)
        checked = PatternSet(auto_allowed=[text])
        for tried, witness in enumerate(itertools.chain([found], witnesses)):
            command = display(witness)
            if self._real(checked, command, lower=True) and not self._real(
                self._gate_set(), command, lower=False
            ):
                return Containment(text, False, command)
            if tried >= _WITNESS_TRIES:
                break
        return Containment(text, False)

    def _gate_set(self) -> PatternSet:
        if self._gate is None:
            self._gate = PatternSet(auto_allowed=self._texts)
        return self._gate

    @staticmethod
    def _real(patterns: PatternSet, command: str, *, lower: bool) -> bool:
        """Whether the gate's matcher auto-allows ``command`` (one simple command)."""
        script = parse_shell(command)
        if len(script.commands) != 1 or script.uncertain:
            return not lower  # not a plain command: no counterexample either way
        match = patterns.match_script(script)[0]
        return match.auto_allowed and not match.command.uncertain

    def accepts(self, command: str) -> bool:
        """Whether a concrete command is in the language (for tests and messages)."""
        canonical = canonical_command(command)
        pattern = compile_command_pattern(command)
        upper, _ = self._runner(self._relevant(pattern))
        states = upper.start
        for ch in canonical:
            states = upper.step(states, ch)
            if not states:
                return False
        return upper.accepting(states)


def contained(lower: Iterable[str], upper: Iterable[str]) -> list[Containment]:
    """Check every lower pattern against the union of the upper patterns."""
    language = AllowedLanguage(upper)
    return [language.contains(text) for text in lower]


# ------------------------------------------------------------------ greenery view


def _regex_atoms(atoms: Sequence[Atom]) -> str:
    out: list[str] = []
    for a in atoms:
        if a == "*":
            out.append(f"[^{SEP}]*")
        elif a == "?":
            out.append(f"[^{SEP}]")
        elif a.isalnum():
            out.append(a)
        else:
            out.append("\\" + a if a in "\\.^$*+?{}[]|()" else a)
    return "".join(out)


def to_regex(pattern: CommandPattern) -> str | None:
    """The pattern's language as a regular expression (None: the empty language)."""
    if pattern.empty:
        return None
    parts = [_regex_atoms(pattern.program)]
    for kind, atoms in pattern.elements:
        if kind == "tok":
            parts.append(SEP + _regex_atoms(atoms))
        elif kind == "anytok":
            parts.append(f"({SEP}[^{SEP}]+)*")
        else:
            parts.append(f"({SEP}-[^{SEP}]*)*")
    return "".join(parts)


__all__ = [
    "SEP",
    "AllowedLanguage",
    "CommandPattern",
    "Containment",
    "canonical_command",
    "compile_command_pattern",
    "contained",
    "display",
    "to_regex",
    "tokenise",
]
