"""Split a shell command string into every simple command it would execute.

The string is parsed with a real shell grammar (tree-sitter-bash), never with
regular expressions. Every ``command`` node anywhere in the tree is collected:
lists, pipelines, subshells, ``{ …; }`` groups, ``if``/``for``/``while``/``case``
bodies, function bodies, command and process substitutions (also inside double
quotes), assignments' values and redirection targets. Strings that a shell would
run again are parsed again, recursively: ``bash|sh|zsh|dash -c STR``, ``eval``,
``su -c``, ``watch``, here-documents and here-strings fed to a shell, and
``echo …``/``printf …``/``cat <<EOF`` piped into a shell.

Each :class:`SimpleCommand` carries its words (each marked static or dynamic),
its redirections, and its *variants*: the argv as written, then the argv after
each wrapper (``sudo``, ``env``, ``timeout``, ``xargs``, ``find -exec`` …) is
peeled off. Whatever cannot be resolved statically is recorded in
``uncertain``; the gate turns every uncertainty into at least ``ask``.
"""

from __future__ import annotations

import os
import re
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import NamedTuple

import tree_sitter
import tree_sitter_bash

from charter.actions.catalogue import CATALOGUE
from charter.actions.command import (
    EXEC_VARS,
    PLAIN_COMMANDS,
    RUNTIME_PID,
    RUNTIME_PWD,
    SHELLS,
    STDIN_PATHS,
    Nested,
    Redirect,
    Script,
    SimpleCommand,
    Variant,
    Word,
    hijacks,
    program_name,
)
from charter.actions.wrappers import CHDIR_OPTIONS, peel, wrapper_chdir
from charter.core.memo import bytes_lru, text_weight

#: How deep ``bash -c "bash -c '…'"`` nesting is followed before giving up (ask).
MAX_DEPTH = 12
#: Longer inputs are still parsed, but flagged: nobody reviews a 64 KiB command.
MAX_LENGTH = 65536

_GLOB = re.compile(r"[*?\[]")
_IFS = re.compile(r"\$IFS\b|\$\{IFS[^}]*\}")

_LANGUAGE = tree_sitter.Language(tree_sitter_bash.language())


# --------------------------------------------------------------------------- words


def _unescape(text: str, escapable: str | None = None) -> str:
    """Bash's backslash removal: ``\\c`` is ``c`` and ``\\<newline>`` joins lines.

    ``escapable`` limits which characters a backslash escapes (inside double
    quotes only ``$ ` " \\`` and newline); elsewhere the backslash is kept.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and (escapable is None or text[i + 1] in escapable):
            if text[i + 1] != "\n":
                out.append(text[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


#: What a backslash escapes inside double quotes.
_DOUBLE_QUOTED = '$`"\\\n'


_ANSI = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b",
         "f": "\f", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}  # fmt: skip


def decode_ansi_c(body: str) -> str:
    """Decode the inside of ``$'…'`` the way bash does (enough for matching)."""
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\" or i + 1 >= len(body):
            out.append(c)
            i += 1
            continue
        n = body[i + 1]
        if n in _ANSI:
            out.append(_ANSI[n])
            i += 2
        elif n == "x" and (m := re.match(r"[0-9A-Fa-f]{1,2}", body[i + 2 :])):
            out.append(chr(int(m[0], 16)))
            i += 2 + len(m[0])
        elif n in "uU" and (m := re.match(r"[0-9A-Fa-f]{1,8}", body[i + 2 :])):
            out.append(chr(min(int(m[0], 16), 0x10FFFF)))
            i += 2 + len(m[0])
        elif n in "01234567" and (m := re.match(r"[0-7]{1,3}", body[i + 1 :])):
            out.append(chr(int(m[0], 8) & 0xFF))
            i += 1 + len(m[0])
        elif n == "c" and i + 2 < len(body):
            out.append(chr(ord(body[i + 2]) & 0x1F))
            i += 3
        else:
            out.append(c + n)
            i += 2
    return "".join(out)


_HOME = re.compile(r"\$\{?HOME\}?")
_SIMPLE_VAR = re.compile(
    r"\$(?:([A-Za-z_][A-Za-z0-9_]*|[0-9@*])|\{([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*])\})"
)


def _guess_dynamic(raw: str) -> str:
    """A best guess for a dynamic fragment: ``$IFS`` is whitespace, ``$HOME`` is ``~``."""
    return _HOME.sub("~", _IFS.sub(" ", raw))


class _Part(NamedTuple):
    """One piece of a word: its value, whether static, a glob, ``$'…'``-quoted.

    ``path`` is set on a dynamic piece whose value the gate knows when it resolves a
    path: ``$PWD`` (the command's directory) and ``$$`` (the shell: ``/proc/self``),
    as the markers :data:`~charter.actions.command.RUNTIME_PWD` and ``RUNTIME_PID``.
    """

    value: str
    static: bool
    glob: bool
    ansi: bool
    path: str | None = None
    #: unquoted, unescaped text: its ``{ , .. }`` are brace expansion syntax
    active: bool = False
    #: the static words a ``for`` variable takes (``for f in *.py; do … "$f"``)
    choices: tuple[str, ...] | None = None


def _unquoted_parts(raw: str) -> list[_Part]:
    """An unquoted word's text: active runs, and the characters a backslash escapes."""
    if "\\" not in raw:
        return [_Part(raw, True, _GLOB.search(raw) is not None, False, None, True)]
    out: list[_Part] = []
    run: list[str] = []
    i = 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw):
            if run:
                text = "".join(run)
                out.append(_Part(text, True, _GLOB.search(text) is not None, False, None, True))
                run = []
            if raw[i + 1] != "\n":
                out.append(_Part(raw[i + 1], True, False, False))
            i += 2
            continue
        run.append(raw[i])
        i += 1
    if run:
        text = "".join(run)
        out.append(_Part(text, True, _GLOB.search(text) is not None, False, None, True))
    return out


#: More words than this from one brace expansion: the rest is not decided (ask).
MAX_BRACE_WORDS = 256


def brace_alternatives(parts: list[_Part]) -> list[list[_Part]] | None:
    """Bash's brace expansion over a word's pieces (``None``: too many words).

    Only active (unquoted, unescaped) ``{``, ``,``, ``}`` and ``..`` count: ``r"m"{,}``
    is ``rm rm``, ``/e{t..t}c`` is ``/etc``, ``"{a,b}"`` stays. Lists (``{a,b}``, nested),
    integer sequences (``{1..10..3}``, ``{01..3}``) and letter sequences (``{a..e}``).
    """
    atoms: list[_Part] = []
    for p in parts:
        if p.active:
            atoms.extend(_Part(c, True, c in "*?[", False, None, True) for c in p.value)
        else:
            atoms.append(p)
    out: list[list[_Part]] = []
    if not _expand_atoms(atoms, out):
        return None
    return [_merge(a) for a in out]


def _merge(atoms: list[_Part]) -> list[_Part]:
    """Adjacent active characters back into one piece (what the rest of the parser sees)."""
    out: list[_Part] = []
    for a in atoms:
        if out and a.active and out[-1].active:
            prev = out[-1]
            out[-1] = _Part(prev.value + a.value, True, prev.glob or a.glob, False, None, True)
        else:
            out.append(a)
    return out


def _expand_atoms(atoms: list[_Part], out: list[list[_Part]]) -> bool:
    for i, a in enumerate(atoms):
        if not (a.active and a.value == "{") or (
            i and atoms[i - 1].active and atoms[i - 1].value == "$"
        ):
            continue
        depth, commas, close = 0, [], -1
        for j in range(i + 1, len(atoms)):
            b = atoms[j]
            if not b.active:
                continue
            if b.value == "{":
                depth += 1
            elif b.value == "}":
                if depth == 0:
                    close = j
                    break
                depth -= 1
            elif b.value == "," and depth == 0:
                commas.append(j)
        if close < 0:
            continue
        if commas:
            bounds = [i, *commas, close]
            alts = [atoms[bounds[k] + 1 : bounds[k + 1]] for k in range(len(bounds) - 1)]
        else:
            inner = atoms[i + 1 : close]
            seq = (
                _sequence("".join(x.value for x in inner)) if all(x.active for x in inner) else None
            )
            if seq is None:
                continue
            alts = [[_Part(v, True, False, False)] for v in seq]
        for alt in alts:
            if not _expand_atoms([*atoms[:i], *alt, *atoms[close + 1 :]], out):
                return False
        return True
    out.append(atoms)
    return len(out) <= MAX_BRACE_WORDS


_INT_SEQ = re.compile(r"([+-]?[0-9]+)\.\.([+-]?[0-9]+)(?:\.\.([+-]?[0-9]+))?")
_CHAR_SEQ = re.compile(r"([A-Za-z])\.\.([A-Za-z])(?:\.\.([+-]?[0-9]+))?")


def _sequence(text: str) -> list[str] | None:
    """``1..5``, ``01..10..3``, ``a..e``: the words of a sequence expression (else None)."""
    m = _INT_SEQ.fullmatch(text) or _CHAR_SEQ.fullmatch(text)
    if m is None:
        return None
    chars = not m[1].lstrip("+-").isdigit()
    start, end = (ord(m[1]), ord(m[2])) if chars else (int(m[1]), int(m[2]))
    step = abs(int(m[3])) if m[3] else 1
    step = step or 1
    if abs(end - start) // step >= MAX_BRACE_WORDS:
        return [m[1]] * (MAX_BRACE_WORDS + 1)  # too many: the caller gives up (ask)
    values = range(start, end + (1 if end >= start else -1), step if end >= start else -step)
    if chars:
        return [chr(v) for v in values]
    width = max(len(m[1]), len(m[2]))
    padded = any(x.lstrip("+-").startswith("0") and len(x.lstrip("+-")) > 1 for x in (m[1], m[2]))
    return [(f"{v:0{width}d}" if padded else str(v)) for v in values]


#: Expansions whose value the gate knows at decision time, as path markers.
_RUNTIME = {"$PWD": RUNTIME_PWD, "${PWD}": RUNTIME_PWD, "$$": RUNTIME_PID, "${$}": RUNTIME_PID}


class _Parser:
    """One parse of one string; recursion for nested shells uses new instances."""

    def __init__(
        self,
        walker: _Walker,
        source: bytes,
        depth: int,
        origin: tuple[str, ...],
        positional: tuple[str, ...] | None = None,
    ):
        self.w = walker
        self.src = source
        self.depth = depth
        self.origin = origin
        self.positional = positional
        self.resolved: list[str] = []

    def text(self, node: tree_sitter.Node) -> str:
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")

    # -- words -------------------------------------------------------------

    def word(self, node: tree_sitter.Node, pipes: tuple[tuple[int, int], ...]) -> Word:
        if node.type in ("word", "number"):  # the common case, without the general machinery
            raw = self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")
            if "{" not in raw:
                value = _unescape(raw) if "\\" in raw else raw
                return Word(value=value, glob=_GLOB.search(raw) is not None, raw=raw)
        parts: list[_Part] = []
        before = len(self.resolved)
        self._word_parts(node, parts, pipes, quoted=False)
        raw = self.text(node)
        word = self._from_parts(parts, raw, node.type, before)
        if any(p.active and "{" in p.value for p in parts):
            alternatives = brace_alternatives(parts)
            if alternatives is None:
                self.w.uncertain.append(
                    f"brace expansion of {_clip(raw)!r} makes more than {MAX_BRACE_WORDS} words"
                )
                alternatives = [parts]
            if alternatives != [parts]:
                words = tuple(
                    self._from_parts(alt, "".join(a.value for a in alt), node.type, before)
                    for alt in alternatives
                    if any(a.value or not a.active for a in alt)  # an unquoted null goes
                )
                word = replace(word, braces=words or (replace(word, value=""),))
        del self.resolved[before:]
        return word

    def _from_parts(self, parts: list[_Part], raw: str, kind: str, before: int) -> Word:
        value = "".join(p.value for p in parts)
        static = all(p.static for p in parts)
        if static:
            glob = any(p.glob for p in parts)
            return Word(
                value=value,
                glob=glob,
                raw=raw,
                ansi_c=any(p.ansi for p in parts),
                splittable=kind in ("simple_expansion", "expansion"),
            )
        resolved = (
            not static
            and len(self.resolved) > before
            and all(p.static or p.value in self.resolved[before:] for p in parts)
        )
        runtime = (
            None
            if static or not all(p.static or p.path is not None for p in parts)
            else "".join(p.value if p.path is None else p.path for p in parts)
        )
        loops = [i for i, p in enumerate(parts) if p.choices is not None]
        candidates: tuple[str, ...] = ()
        if len(loops) == 1 and all(p.static for i, p in enumerate(parts) if i != loops[0]):
            k = loops[0]
            head = "".join(p.value for p in parts[:k])
            tail = "".join(p.value for p in parts[k + 1 :])
            candidates = tuple(head + c + tail for c in parts[k].choices or ())
        return Word(
            value=value,
            static=static,
            candidates=candidates,
            runtime_path=runtime,
            glob=any(p.glob for p in parts),
            raw=raw,
            ansi_c=any(p.ansi for p in parts),
            resolved=resolved,
            splittable=kind in ("simple_expansion", "expansion"),
        )

    def _lookup(self, text: str) -> str | None:
        """The value of ``$NAME``/``${NAME}``/``$1``/``$@`` when known statically."""
        m = _SIMPLE_VAR.fullmatch(text)
        if m is None:
            return None
        name = m[1] or m[2]
        if self.positional is not None:
            if name.isdigit():
                k = int(name)
                return self.positional[k] if k < len(self.positional) else ""
            if name in ("@", "*"):
                return " ".join(self.positional[1:])
        return self.w.vars.get(name)

    def _word_parts(
        self,
        node: tree_sitter.Node,
        parts: list[_Part],
        pipes: tuple[tuple[int, int], ...],
        quoted: bool,
    ) -> None:
        kind = node.type
        if kind in ("word", "number", "special_character"):
            raw = self.text(node)
            if quoted:
                parts.append(_Part(raw, True, False, False))
            else:
                parts.extend(_unquoted_parts(raw))
        elif kind == "brace_expression":  # ``{1..3}``
            parts.append(_Part(self.text(node), True, False, False, None, True))
        elif kind == "raw_string":
            parts.append(_Part(self.text(node)[1:-1], True, False, False))
        elif kind == "ansi_c_string":
            parts.append(_Part(decode_ansi_c(self.text(node)[2:-1]), True, False, True))
        elif kind in ("string", "translated_string"):
            self._string_parts(node, parts, pipes)
        elif kind == "concatenation":
            for child in node.children:
                self._word_parts(child, parts, pipes, quoted)
        elif kind in ("command_substitution", "process_substitution"):
            self.w.walk_children(self, node, pipes)
            parts.append(_Part(self.text(node), False, False, False))
        elif kind in ("simple_expansion", "expansion") and self.text(node) in ("$HOME", "${HOME}"):
            # $HOME is the agent's home: as good as ``~`` for matching and paths.
            parts.append(_Part(os.path.expanduser("~"), True, False, False))
        elif (
            kind in ("simple_expansion", "expansion")
            and (marker := _RUNTIME.get(self.text(node))) is not None
            and "PWD" not in self.w.vars
        ):
            parts.append(_Part(self.text(node), False, False, False, marker))
        elif (
            kind in ("simple_expansion", "expansion")
            and (loop := _SIMPLE_VAR.fullmatch(self.text(node))) is not None
            and (choices := self.w.loops.get(loop[1] or loop[2])) is not None
            and (loop[1] or loop[2]) not in self.w.vars
        ):
            parts.append(_Part(self.text(node), False, False, False, choices=choices))
        elif kind in ("simple_expansion", "expansion") and (
            (known := self._lookup(self.text(node))) is not None
        ):
            # set earlier in the same string (``X=rm; $X``) or a ``bash -c`` argument
            self.resolved.append(known)
            parts.append(_Part(known, False, False, False))
        elif kind in ("simple_expansion", "expansion", "arithmetic_expansion"):
            self.w.walk_children(self, node, pipes)
            parts.append(_Part(_guess_dynamic(self.text(node)), False, False, False))
        elif kind == "string_content":
            parts.append(_Part(_unescape(self.text(node), _DOUBLE_QUOTED), True, False, False))
        elif kind in ("$",):
            # ``$"…"`` (translated string) tokenised as ``$`` + string.
            return
        elif node.is_error or node.is_missing:
            self.w.uncertain.append("the command does not parse as shell")
            parts.append(_Part(self.text(node), False, False, False))
        else:
            # brace expressions, extglobs and other rarely used word forms
            self.w.walk_children(self, node, pipes)
            parts.append(_Part(self.text(node), False, bool(_GLOB.search(self.text(node))), False))

    def _string_parts(
        self,
        node: tree_sitter.Node,
        parts: list[_Part],
        pipes: tuple[tuple[int, int], ...],
    ) -> None:
        # Fill the gaps between children from the source so nothing is lost.
        start = node.start_byte
        end = node.end_byte
        children = list(node.children)
        if children and children[0].type in ('"', "$"):
            start = children[0].end_byte
            children = children[1:]
            if children and children[0].type == '"':
                start = children[0].end_byte
                children = children[1:]
        if children and children[-1].type == '"':
            end = children[-1].start_byte
            children = children[:-1]
        pos = start
        for child in children:
            if child.start_byte > pos:
                gap = self.src[pos : child.start_byte].decode("utf-8", "replace")
                parts.append(_Part(_unescape(gap, _DOUBLE_QUOTED), True, False, False))
            if child.type == "string_content":
                parts.append(_Part(_unescape(self.text(child), _DOUBLE_QUOTED), True, False, False))
            else:
                self._word_parts(child, parts, pipes, quoted=True)
            pos = child.end_byte
        if end > pos:
            text = self.src[pos:end].decode("utf-8", "replace")
            parts.append(_Part(_unescape(text, _DOUBLE_QUOTED), True, False, False))


# ------------------------------------------------------------------- the walker

_STATEMENTS_WITH_PIPES = ("pipeline",)


class _Walker:
    def __init__(self, parser: tree_sitter.Parser) -> None:
        self.ts = parser
        self.commands: list[SimpleCommand] = []
        self.redirects: list[Redirect] = []
        self.uncertain: list[str] = []
        self.seq = 0
        self.pipe_ids = 0
        #: static values of variables assigned earlier in the string (None: ambiguous)
        self.vars: dict[str, str | None] = {}
        #: ``for`` variables of the loops being walked, and the static words they take
        self.loops: dict[str, tuple[str, ...]] = {}

    # -- entry -------------------------------------------------------------

    def parse(
        self,
        text: str,
        depth: int,
        origin: tuple[str, ...],
        pipes: tuple[tuple[int, int], ...] = (),
        positional: tuple[str, ...] | None = None,
    ) -> list[int]:
        """Parse ``text``; return the indexes of the commands it produced."""
        first = len(self.commands)
        if depth > MAX_DEPTH:
            self.uncertain.append(f"shell strings nested deeper than {MAX_DEPTH} levels")
            return []
        data = text.encode("utf-8", "surrogatepass")
        tree = self.ts.parse(data)
        p = _Parser(self, data, depth, origin, positional)
        if tree.root_node.has_error and not _only_herestring_quirks(tree.root_node):
            self.uncertain.append("the command does not parse as shell (syntax error)")
            self._fallback(text, depth, origin)
        self.walk(p, tree.root_node, pipes)
        if "\\\n" in text and depth <= MAX_DEPTH:
            # A backslash-newline is removed before bash splits words, even inside a
            # word (``r\⏎m`` is ``rm``): also decide the joined text.
            joined = text.replace("\\\r\n", "").replace("\\\n", "")
            self.parse(joined, depth + 1, (*origin, "line continuation"), pipes, positional)
        return list(range(first, len(self.commands)))

    def _fallback(self, text: str, depth: int, origin: tuple[str, ...]) -> None:
        """For unparsable input, also match a crude tokenisation (stricter)."""
        for chunk in re.split(r"[;&|\n()`]+|\$\(", text):
            tokens: list[str] = []
            for token in chunk.split():
                tokens.extend(expand_braces(token.strip("'\"")))
            tokens = [t for t in tokens if t]
            if tokens:
                self._add(
                    _Parser(self, b"", depth, origin),
                    tuple(Word(t, raw=t) for t in tokens),
                    (),
                    (),
                    (),
                    extra_uncertain=("guessed from input that does not parse",),
                )

    # -- generic walk -----------------------------------------------------

    def walk_children(
        self, p: _Parser, node: tree_sitter.Node, pipes: tuple[tuple[int, int], ...]
    ) -> None:
        for child in node.children:
            self.walk(p, child, pipes)

    def walk(self, p: _Parser, node: tree_sitter.Node, pipes: tuple[tuple[int, int], ...]) -> None:
        kind = node.type
        if node.is_missing or kind == "ERROR":
            self.uncertain.append("the command does not parse as shell (syntax error)")
            self.walk_children(p, node, pipes)
            return
        if kind == "command":
            self.command(p, node, pipes, ())
        elif kind == "redirected_statement":
            self.redirected(p, node, pipes)
        elif kind == "pipeline":
            self.pipeline(p, list(node.named_children), pipes, node)
        elif kind == "for_statement":
            self.for_loop(p, node, pipes)
        elif kind in ("declaration_command", "unset_command"):
            self.declaration(p, node, pipes)
        elif kind == "variable_assignment":
            self.assignment(p, node, pipes)
        elif kind in ("heredoc_body", "comment", "heredoc_start", "heredoc_end"):
            return
        elif kind in ("file_redirect", "herestring_redirect", "heredoc_redirect"):
            # a redirection standing alone (``$(<FILE)`` reads FILE): decided as a
            # command without words
            alone: list[Redirect] = []
            trailing: list[tuple[tree_sitter.Node, bool]] = []
            self.redirect(p, node, pipes, trailing, collect=alone)
            self._add(p, (), (), tuple(alone), pipes)
            for stmt, _ in trailing:
                self.walk(p, stmt, pipes)
        elif kind in ("string", "concatenation", "command_substitution", "process_substitution",
                      "expansion", "simple_expansion", "arithmetic_expansion"):  # fmt: skip
            p.word(node, pipes)
        else:
            self.walk_children(p, node, pipes)

    def for_loop(
        self, p: _Parser, node: tree_sitter.Node, pipes: tuple[tuple[int, int], ...]
    ) -> None:
        """``for NAME in WORDS; do …; done``: in the body, ``$NAME`` is one of WORDS
        (when every word is static), which the gate uses for the paths it names."""
        name: str | None = None
        values: list[str] = []
        known = True
        listed = False
        for child in node.children:
            if child.type == "variable_name" and name is None:
                name = p.text(child)
            elif child.type == "in":
                listed = True
            elif child.type in ("do_group", "compound_statement"):
                saved = self.loops.get(name) if name else None
                # ``read f``, ``f=…``, ``printf -v f`` in the body: NAME may take any value
                named = name is not None and _names_variable(p.text(child), name)
                if name and listed and known and not named:
                    self.loops[name] = tuple(values)
                self.walk(p, child, pipes)
                if name and saved is not None:
                    self.loops[name] = saved
                elif name:
                    self.loops.pop(name, None)
            elif listed and child.is_named and child.type != "comment":
                w = p.word(child, pipes)
                forms = w.braces or (w,)
                known = known and all(f.static for f in forms)
                values.extend(f.value for f in forms)
            else:
                self.walk(p, child, pipes)

    def pipeline(
        self,
        p: _Parser,
        elements: Sequence[tree_sitter.Node],
        pipes: tuple[tuple[int, int], ...],
        node: tree_sitter.Node | None,
        head: list[int] | None = None,
    ) -> None:
        self.pipe_ids += 1
        pid = self.pipe_ids
        produced: list[list[int]] = []
        offset = 0
        if head is not None:
            produced.append(head)
            offset = 1
        for index, element in enumerate(elements):
            before = len(self.commands)
            stdin = self._producer_text(produced[-1]) if produced else None
            piped = bool(produced)
            self._element(p, element, (*pipes, (pid, index + offset)), stdin, piped)
            produced.append(list(range(before, len(self.commands))))
        if head is not None:
            for i in head:  # the head joins this pipeline at position 0
                c = self.commands[i]
                self.commands[i] = _replace(c, pipes=(*c.pipes, (pid, 0)))
        del node

    def _element(
        self,
        p: _Parser,
        node: tree_sitter.Node,
        pipes: tuple[tuple[int, int], ...],
        stdin: str | None,
        piped: bool,
    ) -> None:
        if node.type == "command":
            self.command(p, node, pipes, (), stdin=stdin, piped=piped)
        elif (
            node.type == "redirected_statement"
            and node.named_children
            and node.named_children[0].type == "command"
        ):
            self.redirected(p, node, pipes, stdin=stdin, piped=piped)
        else:
            self.walk(p, node, pipes)

    def _producer_text(self, indexes: list[int]) -> str | None:
        """Static text a pipeline element writes to stdout, when obvious."""
        if len(indexes) != 1:
            return None
        c = self.commands[indexes[0]]
        if not c.words or not all(w.static for w in c.words):
            return None
        prog = c.program
        args = [w.value for w in c.words[1:]]
        if prog == "echo":
            while args and re.fullmatch(r"-[neE]+", args[0]):
                args = args[1:]
            return " ".join(args)
        if prog == "printf" and args:
            return args[0].replace("\\n", "\n") + " " + " ".join(args[1:])
        if prog == "cat" and not args and c.stdin_text is not None:
            return c.stdin_text
        return None

    def redirected(
        self,
        p: _Parser,
        node: tree_sitter.Node,
        pipes: tuple[tuple[int, int], ...],
        stdin: str | None = None,
        piped: bool = False,
    ) -> None:
        children = node.named_children
        body = children[0] if children else None
        redirect_nodes = list(children[1:])
        if body is not None and body.type in ("file_redirect", "heredoc_redirect"):
            # ``> FILE`` alone (truncates FILE): redirections without a command
            body, redirect_nodes = None, list(children)
        redirects: list[Redirect] = []
        trailing: list[tuple[tree_sitter.Node, bool]] = []
        extra: list[Word] = []
        herestring = False
        for r in redirect_nodes:
            if _is_herestring_quirk(r):
                # ``cmd 2>&1 <<< 'x'``: tree-sitter-bash only knows ``<<<`` right after
                # the words and reads it as ERROR(``<<``) + ``< 'x'``.
                herestring = True
                continue
            if herestring and r.type == "file_redirect":
                herestring = False
                target = [c for c in r.named_children if c.type != "file_descriptor"]
                w = p.word(target[0], pipes) if target else None
                extra.extend(p.word(c, pipes) for c in target[1:])
                hs = Redirect("<<<", None, None, w.value if w is not None and w.static else None)
                self.redirects.append(hs)
                redirects.append(hs)
                continue
            self.redirect(p, r, pipes, trailing, collect=redirects, extra=extra)
        if body is not None and body.type == "command":
            index = self.command(
                p, body, pipes, tuple(redirects), stdin=stdin, piped=piped, extra=extra
            )
        else:
            for w in extra:
                self._extra_word(w, None)
            before = len(self.commands)
            if body is not None:
                self.walk(p, body, pipes)
            index = None
            for i in range(before, len(self.commands)):
                c = self.commands[i]
                self.commands[i] = _replace(c, redirects=(*c.redirects, *redirects))
            if before == len(self.commands) and redirects:
                # nothing runs, but the files are still opened: decide them
                index = self._add(p, (), (), tuple(redirects), pipes)
        for stmt, is_pipe in trailing:
            if is_pipe and index is not None:
                self.pipeline(p, list(stmt.named_children), pipes, stmt, head=[index])
            else:
                self.walk(p, stmt, pipes)

    def redirect(
        self,
        p: _Parser,
        node: tree_sitter.Node,
        pipes: tuple[tuple[int, int], ...],
        trailing: list[tuple[tree_sitter.Node, bool]],
        collect: list[Redirect] | None = None,
        extra: list[Word] | None = None,
    ) -> None:
        """One redirection. ``extra`` receives the words tree-sitter-bash files under a
        redirection although they are the command's arguments (``tee <IN OUT``)."""
        kind = node.type
        fd: str | None = None
        op = ""
        target: Word | None = None
        body: str | None = None
        if kind == "heredoc_redirect":
            op = "<<"
            seen_start = False
            for child in node.children:
                if child.type == "heredoc_start":
                    seen_start = True
                elif child.type == "heredoc_body":
                    raw = p.text(child)
                    # An unquoted delimiter lets the body expand $(…): walk it.
                    for sub in child.named_children:
                        p.word(sub, pipes)
                    body = raw
                elif child.type in ("<<", "<<-", "heredoc_end", "&&", "||", ";", "|", "&"):
                    continue
                elif seen_start and child.type in ("file_redirect", "herestring_redirect"):
                    # ``cat <<EOF >FILE``: the redirection after the delimiter is the
                    # command's own, not a statement of its own.
                    self.redirect(p, child, pipes, trailing, collect, extra)
                elif seen_start and child.is_named:
                    is_pipe = (
                        child.type == "pipeline"
                        and bool(child.children)
                        and child.children[0].type == "|"
                    )
                    trailing.append((child, is_pipe))
        elif kind == "herestring_redirect":
            op = "<<<"
            for child in node.named_children:
                w = p.word(child, pipes)
                body = w.value if w.static else None
        else:
            for child in node.children:
                if child.type == "file_descriptor":
                    fd = p.text(child)
                elif not child.is_named:
                    op += p.text(child)
                elif child.type == "ERROR" and p.text(child) in ("<", ">") and target is None:
                    op += p.text(child)  # ``N<>FILE`` (read-write): tree-sitter misreads it
                elif target is None:
                    target = p.word(child, pipes)
                else:  # ``tee <IN OUT``: OUT is an argument of the command
                    self._extra_word(p.word(child, pipes), extra)
        if op in (">&", "<&") and target is not None and re.fullmatch(r"\d+-?|-", target.value):
            target = None  # fd duplication, not a file
        r = Redirect(op=op or "?", target=target, fd=fd, body=body)
        self.redirects.append(r)
        if collect is not None:
            collect.append(r)

    def _extra_word(self, w: Word, extra: list[Word] | None) -> None:
        if extra is not None:
            extra.append(w)
        else:
            self.uncertain.append(f"the word {w.raw!r} after a redirection belongs to no command")

    def assignment(
        self, p: _Parser, node: tree_sitter.Node, pipes: tuple[tuple[int, int], ...]
    ) -> Word:
        """``NAME=value`` as a statement (or in ``export``…): it lasts for the string."""
        name = p.text(node.children[0]) if node.children else ""
        value = [p.word(c, pipes) for c in node.children[2:]]
        text = "".join(v.value for v in value)
        static = all(v.static or v.resolved for v in value)
        base = name.split("[", 1)[0]
        if base in self.vars and self.vars[base] != text:
            self.vars[base] = None  # assigned twice: which one holds is not static
        else:
            self.vars[base] = text if static else None
        if hijacks(base, text if static else None):
            self.uncertain.append(f"the assignment {base}=… changes what later commands run")
            if base in EXEC_VARS and static:
                self._nested(
                    p, Nested(f"{base}=", _exec_var_script(base, text), True), pipes, self.uncertain
                )
        return Word(f"{name}={text}", static=all(v.static for v in value), raw=p.text(node))

    def declaration(
        self, p: _Parser, node: tree_sitter.Node, pipes: tuple[tuple[int, int], ...]
    ) -> None:
        words: list[Word] = [Word(p.text(node.children[0]), raw=p.text(node.children[0]))]
        for child in node.children[1:]:
            if child.type == "variable_assignment":
                words.append(self.assignment(p, child, pipes))
            elif child.is_named:
                w = p.word(child, pipes)
                if hijacks(w.value):  # ``export PATH``
                    self.uncertain.append(f"{w.value} is exported and changes what commands run")
                words.append(w)
        self._add(p, tuple(words), (), (), pipes)

    # -- simple commands -------------------------------------------------

    def command(
        self,
        p: _Parser,
        node: tree_sitter.Node,
        pipes: tuple[tuple[int, int], ...],
        redirects: tuple[Redirect, ...],
        *,
        stdin: str | None = None,
        piped: bool = False,
        extra: list[Word] | None = None,
    ) -> int:
        assignments: list[str] = []
        words: list[Word] = []
        own: list[Redirect] = []
        uncertain: list[str] = []
        for child in node.children:
            kind = child.type
            if kind == "variable_assignment":
                name = p.text(child.children[0])
                value = [p.word(c, pipes) for c in child.children[2:]]
                text = "".join(v.value for v in value)
                assignments.append(name + "=" + text)
                if hijacks(name, text if all(v.static for v in value) else None):
                    uncertain.append(f"the assignment {name}=… changes what the command runs")
                    if name in EXEC_VARS and all(v.static for v in value):
                        self._nested(
                            p,
                            Nested(f"{name}=", _exec_var_script(name, text), True),
                            pipes,
                            uncertain,
                        )
            elif kind == "command_name":
                words.extend(p.word(sub, pipes) for sub in child.named_children)
            elif kind in ("file_redirect", "herestring_redirect", "heredoc_redirect"):
                self.redirect(p, child, pipes, [], collect=own, extra=words)
            elif kind == "comment":
                continue
            elif child.is_named:
                words.append(p.word(child, pipes))
            elif kind == "$":
                continue
        words.extend(extra or ())
        words = _expand_words(words)
        all_redirects = (*redirects, *own)
        for r in all_redirects:
            if r.op in ("<<", "<<<") and r.body is not None:
                stdin = r.body
            elif r.op in ("<<", "<<<"):
                stdin = None
        if any(r.op == "<" for r in all_redirects):
            stdin, piped = None, True
        return self._add(
            p, tuple(words), tuple(assignments), all_redirects, pipes,
            extra_uncertain=tuple(uncertain), stdin=stdin, piped=piped,
            raw=_after_assignments(p, node),
        )  # fmt: skip

    def _add(
        self,
        p: _Parser,
        words: tuple[Word, ...],
        assignments: tuple[str, ...],
        redirects: tuple[Redirect, ...],
        pipes: tuple[tuple[int, int], ...],
        *,
        extra_uncertain: tuple[str, ...] = (),
        stdin: str | None = None,
        piped: bool = False,
        raw: str = "",
    ) -> int:
        uncertain = list(extra_uncertain)
        if words:
            first = words[0]
            if not first.static:
                uncertain.append(f"the command name {first.raw!r} is computed at run time")
            elif first.glob:
                uncertain.append(f"the command name {first.raw!r} is a glob")
            if any(w.ansi_c for w in words):
                uncertain.append("ANSI-C quoting ($'…') hides what runs")
            if any("IFS" in w.raw and not w.static for w in words) or (
                ("$IFS" in raw or "${IFS" in raw) and not all(w.static for w in words)
            ):  # ``grep '$IFS' f``: quoted text, nothing is split
                uncertain.append("$IFS word splitting hides what runs")
        # The guessed split of dynamic words (``rm${IFS}-rf${IFS}/``).
        values: list[str] = []
        if raw and "IFS" in raw and any(not w.static for w in words):
            values = [v.strip("'\"") for v in _guess_dynamic(raw).split()]
        else:
            for w in words:
                if not w.static and "IFS" in w.raw:
                    values.extend(w.value.split() or [w.value])
                else:
                    values.append(w.value)
        variants, nested = peel(tuple(values), stdin=stdin)
        self.seq += 1
        cmd = SimpleCommand(
            words=words,
            assignments=assignments,
            redirects=redirects,
            variants=variants,
            origin=p.origin,
            uncertain=(),
            pipes=pipes,
            seq=self.seq,
            stdin_text=stdin,
            stdin_unknown=piped and stdin is None,
        )
        index = len(self.commands)
        self.commands.append(cmd)
        # Strings that are run again as shell, found while peeling.
        for n in nested:
            self._nested(p, n, pipes, uncertain)
        # A shell (or eval) reading its script from stdin.
        for variant in variants:
            prog = program_name(variant.argv[0]) if variant.argv else ""
            if (
                (prog in SHELLS and _shell_reads_stdin(variant.argv))
                or (prog in SCHEDULERS and not _names_a_file(variant.argv))
                or (
                    prog in ("source", ".")
                    and len(variant.argv) > 1
                    and variant.argv[1] in STDIN_PATHS
                )
            ):
                if stdin is not None:
                    self.parse(stdin, p.depth + 1, (*p.origin, f"{prog} <stdin>"), pipes)
                elif piped:
                    uncertain.append(f"{prog} runs a script read from a pipe or file")
                else:  # nothing on stdin this string can see: the terminal, the caller's
                    uncertain.append(f"{prog} reads its commands from the terminal or stdin")
                break
        if uncertain:
            self.commands[index] = _replace(cmd, uncertain=tuple(dict.fromkeys(uncertain)))
        return index

    def _nested(
        self,
        p: _Parser,
        n: Nested,
        pipes: tuple[tuple[int, int], ...],
        uncertain: list[str],
    ) -> None:
        if n.script is None:
            uncertain.append(f"{n.label} runs code Charter cannot see")
            return
        if n.ask and n.script.strip() in PLAIN_COMMANDS:  # ``core.pager=cat``: plain
            return
        if n.ask:
            uncertain.append(f"{n.label} runs {_clip(n.script)!r}")
        self.parse(n.script, p.depth + 1, (*p.origin, n.label), pipes, n.args)


def _names_variable(text: str, name: str) -> bool:
    """Whether ``text`` names the variable other than in ``$NAME``/``${NAME…}``: an
    assignment, ``read NAME``, ``printf -v NAME``, ``declare NAME`` … may change it."""
    return re.search(rf"(?<![$\w{{]){re.escape(name)}(?!\w)", text) is not None


def _after_assignments(p: _Parser, node: tree_sitter.Node) -> str:
    for child in node.children:
        if child.type != "variable_assignment":
            return p.src[child.start_byte : node.end_byte].decode("utf-8", "replace")
    return ""


def _replace(cmd: SimpleCommand, **changes: object) -> SimpleCommand:
    return replace(cmd, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------- wrappers


#: Programs that run their stdin as a shell script later (``echo CMD | at now``).
SCHEDULERS = CATALOGUE.schedulers


def _names_a_file(argv: Sequence[str]) -> bool:
    """``at -f FILE``: the script is a file (not visible); only the listing and removal
    options (``-l``, ``-r``, ``-d``, ``-c``) run nothing."""
    return any(a in ("-f", "-l", "-r", "-d", "-c") or a.startswith("-f") for a in argv[1:])


def _shell_reads_stdin(argv: Sequence[str]) -> bool:
    """``bash``, ``sh -s``, ``bash -l``, ``bash /dev/stdin`` read their script from stdin."""
    for arg in argv[1:]:
        if arg in ("--version", "--help"):
            return False
        if arg == "-s" or (arg.startswith("-") and not arg.startswith("--") and "s" in arg[1:]):
            return True
        if arg.startswith("-") or arg.startswith("+"):
            if "c" in arg[1:] and not arg.startswith("--"):
                return False
            continue
        return arg in STDIN_PATHS
    return True


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _exec_var_script(name: str, value: str) -> str | None:
    """The command a variable like ``PAGER``/``GIT_SSH_COMMAND`` names."""
    value = value.strip()
    if name in ("LESSOPEN", "LESSCLOSE"):
        value = value.lstrip("|").replace("%s", "f")
    return value or None


def _is_herestring_quirk(node: tree_sitter.Node) -> bool:
    return node.type == "ERROR" and [c.type for c in node.children] == ["<<"]


def _is_read_write_quirk(node: tree_sitter.Node) -> bool:
    """``N<>FILE``: tree-sitter-bash reads ``<`` ERROR(``>``) or ERROR(``<``) ``>``
    inside the redirect."""
    prev, nxt = node.prev_sibling, node.next_sibling
    kinds = [c.type for c in node.children]
    return (
        node.parent is not None
        and node.parent.type == "file_redirect"
        and (
            (kinds == [">"] and prev is not None and prev.type == "<")
            or (kinds == ["<"] and nxt is not None and nxt.type == ">")
        )
    )


def _only_herestring_quirks(root: tree_sitter.Node) -> bool:
    """Whether every syntax error in the tree is the ``redirect <<< word`` quirk."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_missing:
            return False
        if node.type == "ERROR" and _is_read_write_quirk(node):
            continue
        if node.type == "ERROR":
            nxt = node.next_named_sibling
            if not (
                _is_herestring_quirk(node)
                and node.parent is not None
                and node.parent.type == "redirected_statement"
                and nxt is not None
                and nxt.type == "file_redirect"
                and [c.type for c in nxt.children if not c.is_named] == ["<"]
            ):
                return False
            continue
        if node.has_error:
            stack.extend(node.children)
    return True


def _expand_words(words: list[Word]) -> list[Word]:
    """Brace expansion (``{rm,-rf,/}``) and word splitting of known expansions."""
    out: list[Word] = []
    for w in words:
        if w.braces:
            out.extend(w.braces)
        elif w.resolved and w.splittable and len(w.value.split()) != 1:
            out.extend(replace(w, value=v) for v in w.value.split())
        else:
            out.append(w)
    return out


def expand_braces(word: str, limit: int = 64) -> list[str]:
    """Bash brace expansion of an unquoted word (lists and sequences), at most ``limit``."""
    alternatives = brace_alternatives([_Part(word, True, False, False, None, True)])
    if alternatives is None:
        return [word]
    return ["".join(p.value for p in alt) for alt in alternatives][:limit]


# ------------------------------------------------------------------------- API


_LOCAL = threading.local()
_CONTROL = re.compile(r"[\x01-\x08\x0b-\x1f\x7f]")


_SUSPECT = ("Cf", "Zs", "Zl", "Zp", "Cc", "Co", "Cn")


def _invisible(text: str) -> bool:
    """Non-ASCII invisible or space-like characters, except the zero-width joiner
    inside an emoji sequence (``👨‍👩‍👧``: a ZWJ between two visible non-ASCII signs)."""
    for i, c in enumerate(text):
        if c.isascii() or unicodedata.category(c) not in _SUSPECT:
            continue
        if c == "\u200d" and 0 < i < len(text) - 1 and _emoji_part(text[i - 1], text[i + 1]):
            continue
        return True
    return False


def _emoji_part(before: str, after: str) -> bool:
    """Both neighbours of a ZWJ are emoji (``So``) or emoji modifiers/selectors."""
    return all(
        not c.isascii() and unicodedata.category(c) in ("So", "Sk", "Mn") for c in (before, after)
    )


def _parser() -> tree_sitter.Parser:
    parser: tree_sitter.Parser | None = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = _LOCAL.parser = tree_sitter.Parser(_LANGUAGE)
    return parser


#: A command that is one simple command of plain words (no quoting, expansion,
#: globbing, redirection, assignment or operator): bash splits it on the spaces.
_SIMPLE = re.compile(r" *([A-Za-z0-9_+./~-]+)((?: +[A-Za-z0-9_@+:,./~-][A-Za-z0-9_@+=:,./~-]*)*) *")
#: Words that are bash syntax, not a command name, at the start of a command, and the
#: declaration builtins (``export PATH=…``) the grammar reads apart.
_RESERVED = frozenset(
    {"!", "case", "coproc", "do", "done", "elif", "else", "esac", "fi", "for", "function",
     "if", "in", "select", "then", "time", "until", "while", "declare", "export", "local",
     "readonly", "typeset", "unset"}
)  # fmt: skip


# Bounded by bytes too (a 64 KiB command retains ~3 MB of parse): see charter.core.memo.
@bytes_lru(text_weight(48), max_bytes=32 * 2**20, max_entries=256, short=1024)
def parse(source: str) -> Script:
    """Parse a command string into every simple command it would execute."""
    m = _SIMPLE.fullmatch(source) if len(source) <= MAX_LENGTH else None
    if m is not None and m[1] not in _RESERVED and not m[1].startswith("-"):
        # the common case without the parser: the same Script the full parse gives
        # (tests/test_shell.py compares the two)
        walker = _Walker(_parser())
        words = tuple(map(_plain_word, source.split()))
        walker._add(_Parser(walker, source.encode(), 0, ()), words, (), (), (), raw=source.strip())
        return Script(source, tuple(walker.commands), (), tuple(dict.fromkeys(walker.uncertain)))
    return parse_full(source)


# Bounded by bytes (one word can be 64 KiB): see charter.core.memo.
@bytes_lru(text_weight(2), max_bytes=4 * 2**20, max_entries=4096, short=256)
def _plain_word(text: str) -> Word:
    """The word of a plain token (words are immutable: the same token, the same word)."""
    return Word(value=text, raw=text)


def parse_full(source: str) -> Script:
    """:func:`parse` through the full shell grammar, for every input."""
    walker = _Walker(_parser())
    if len(source) > MAX_LENGTH:
        walker.uncertain.append(f"the command is longer than {MAX_LENGTH} characters")
    if "\x00" in source:
        walker.uncertain.append("the command contains a NUL byte")
    if _CONTROL.search(source) or (not source.isascii() and _invisible(source)):
        # bash and the parser may disagree on these (``\r`` is not a separator
        # for bash; zero-width and non-ASCII spaces look like spaces but are not)
        walker.uncertain.append("the command contains control or invisible characters")
    walker.parse(source, 0, ())
    return Script(
        source=source,
        commands=tuple(walker.commands),
        redirects=tuple(walker.redirects),
        uncertain=tuple(dict.fromkeys(walker.uncertain)),
    )


def iter_commands(source: str) -> Iterator[SimpleCommand]:
    yield from parse(source).commands


__all__ = [
    "CHDIR_OPTIONS",
    "Redirect",
    "Script",
    "SimpleCommand",
    "Variant",
    "Word",
    "expand_braces",
    "parse",
    "parse_full",
    "peel",
    "program_name",
    "wrapper_chdir",
]
