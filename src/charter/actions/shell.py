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

import functools
import os
import posixpath
import re
import shlex
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import tree_sitter
import tree_sitter_bash

from charter.actions.catalogue import CATALOGUE, OptionSyntax, Program

#: How deep ``bash -c "bash -c '…'"`` nesting is followed before giving up (ask).
MAX_DEPTH = 12
#: Longer inputs are still parsed, but flagged: nobody reviews a 64 KiB command.
MAX_LENGTH = 65536

# Program knowledge (which options take values, run code, set directories …) comes
# from the catalogue (catalogue.toml); this module only knows shell syntax.
SHELLS = CATALOGUE.shells
#: Environment variables that change what a command runs or loads.
HIJACK_VARS = CATALOGUE.environment.hijack
HIJACK_PREFIXES = CATALOGUE.environment.hijack_prefixes
#: Variables whose value is a command that the program runs.
EXEC_VARS = CATALOGUE.environment.runs
_GLOB = re.compile(r"[*?\[]")
_IFS = re.compile(r"\$IFS\b|\$\{IFS[^}]*\}")

_LANGUAGE = tree_sitter.Language(tree_sitter_bash.language())


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


@dataclass(frozen=True)
class Redirect:
    """A redirection: ``op`` is ``>``, ``>>``, ``<``, ``&>``, ``<<``, ``<<<`` …"""

    op: str
    target: Word | None
    fd: str | None = None
    body: str | None = None

    @property
    def writes(self) -> bool:
        return self.target is not None and (">" in self.op) and self.op not in (">&", "<&")

    @property
    def reads(self) -> bool:
        return self.target is not None and self.op in ("<", "<>")


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


# --------------------------------------------------------------------------- words


def _unescape_unquoted(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            if text[i + 1] != "\n":
                out.append(text[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _unescape_double(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in '$`"\\\n':
            if text[i + 1] != "\n":
                out.append(text[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


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
        if node.type == "word":  # the common case, without the general machinery
            raw = self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")
            value = _unescape_unquoted(raw) if "\\" in raw else raw
            return Word(value=value, glob=_GLOB.search(raw) is not None, raw=raw)
        parts: list[tuple[str, bool, bool, bool]] = []  # value, static, glob, ansi
        before = len(self.resolved)
        self._word_parts(node, parts, pipes, quoted=False)
        value = "".join(p[0] for p in parts)
        static = all(p[1] for p in parts)
        resolved = (
            not static
            and len(self.resolved) > before
            and all(p[1] or p[0] in self.resolved[before:] for p in parts)
        )
        del self.resolved[before:]
        return Word(
            value=value,
            static=static,
            glob=any(p[2] for p in parts),
            raw=self.text(node),
            ansi_c=any(p[3] for p in parts),
            resolved=resolved,
            splittable=node.type in ("simple_expansion", "expansion"),
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
        parts: list[tuple[str, bool, bool, bool]],
        pipes: tuple[tuple[int, int], ...],
        quoted: bool,
    ) -> None:
        kind = node.type
        if kind in ("word", "number", "special_character"):
            raw = self.text(node)
            if quoted:
                parts.append((raw, True, False, False))
            else:
                parts.append((_unescape_unquoted(raw), True, bool(_GLOB.search(raw)), False))
        elif kind == "raw_string":
            parts.append((self.text(node)[1:-1], True, False, False))
        elif kind == "ansi_c_string":
            parts.append((decode_ansi_c(self.text(node)[2:-1]), True, False, True))
        elif kind in ("string", "translated_string"):
            self._string_parts(node, parts, pipes)
        elif kind == "concatenation":
            for child in node.children:
                self._word_parts(child, parts, pipes, quoted)
        elif kind in ("command_substitution", "process_substitution"):
            self.w.walk_children(self, node, pipes)
            parts.append((self.text(node), False, False, False))
        elif kind in ("simple_expansion", "expansion") and self.text(node) in ("$HOME", "${HOME}"):
            # $HOME is the agent's home: as good as ``~`` for matching and paths.
            parts.append((os.path.expanduser("~"), True, False, False))
        elif kind in ("simple_expansion", "expansion") and (
            (known := self._lookup(self.text(node))) is not None
        ):
            # set earlier in the same string (``X=rm; $X``) or a ``bash -c`` argument
            self.resolved.append(known)
            parts.append((known, False, False, False))
        elif kind in ("simple_expansion", "expansion", "arithmetic_expansion"):
            self.w.walk_children(self, node, pipes)
            parts.append((_guess_dynamic(self.text(node)), False, False, False))
        elif kind == "string_content":
            parts.append((_unescape_double(self.text(node)), True, False, False))
        elif kind in ("$",):
            # ``$"…"`` (translated string) tokenised as ``$`` + string.
            return
        elif node.is_error or node.is_missing:
            self.w.uncertain.append("the command does not parse as shell")
            parts.append((self.text(node), False, False, False))
        else:
            # brace expressions, extglobs and other rarely used word forms
            self.w.walk_children(self, node, pipes)
            parts.append((self.text(node), False, bool(_GLOB.search(self.text(node))), False))

    def _string_parts(
        self,
        node: tree_sitter.Node,
        parts: list[tuple[str, bool, bool, bool]],
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
                parts.append((_unescape_double(gap), True, False, False))
            if child.type == "string_content":
                parts.append((_unescape_double(self.text(child)), True, False, False))
            else:
                self._word_parts(child, parts, pipes, quoted=True)
            pos = child.end_byte
        if end > pos:
            parts.append(
                (_unescape_double(self.src[pos:end].decode("utf-8", "replace")), True, False, False)
            )


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
        elif kind in ("declaration_command", "unset_command"):
            self.declaration(p, node, pipes)
        elif kind == "variable_assignment":
            self.assignment(p, node, pipes)
        elif kind in ("heredoc_body", "comment", "heredoc_start", "heredoc_end"):
            return
        elif kind in ("file_redirect", "herestring_redirect", "heredoc_redirect"):
            self.redirect(p, node, pipes, [])
        elif kind in ("string", "concatenation", "command_substitution", "process_substitution",
                      "expansion", "simple_expansion", "arithmetic_expansion"):  # fmt: skip
            p.word(node, pipes)
        else:
            self.walk_children(p, node, pipes)

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
        redirects: list[Redirect] = []
        trailing: list[tuple[tree_sitter.Node, bool]] = []
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
                hs = Redirect("<<<", None, None, w.value if w is not None and w.static else None)
                self.redirects.append(hs)
                redirects.append(hs)
                continue
            self.redirect(p, r, pipes, trailing, collect=redirects)
        if body is not None and body.type == "command":
            index = self.command(p, body, pipes, tuple(redirects), stdin=stdin, piped=piped)
        else:
            before = len(self.commands)
            if body is not None:
                self.walk(p, body, pipes)
            index = None
            for i in range(before, len(self.commands)):
                c = self.commands[i]
                self.commands[i] = _replace(c, redirects=(*c.redirects, *redirects))
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
    ) -> None:
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
                else:
                    target = p.word(child, pipes)
        if op in (">&", "<&") and target is not None and re.fullmatch(r"\d+-?|-", target.value):
            target = None  # fd duplication, not a file
        r = Redirect(op=op or "?", target=target, fd=fd, body=body)
        self.redirects.append(r)
        if collect is not None:
            collect.append(r)

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
        if _hijacks(base):
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
                if _hijacks(w.value):  # ``export PATH``
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
                if _hijacks(name):
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
                self.redirect(p, child, pipes, [], collect=own)
            elif kind == "comment":
                continue
            elif child.is_named:
                words.append(p.word(child, pipes))
            elif kind == "$":
                continue
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
                "$IFS" in raw or "${IFS" in raw
            ):
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
            if (prog in SHELLS and _shell_reads_stdin(variant.argv)) or (
                prog in ("source", ".") and len(variant.argv) > 1 and variant.argv[1] in STDIN_PATHS
            ):
                if stdin is not None:
                    self.parse(stdin, p.depth + 1, (*p.origin, f"{prog} <stdin>"), pipes)
                elif piped:
                    uncertain.append(f"{prog} runs a script read from a pipe or file")
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
        if n.ask:
            uncertain.append(f"{n.label} runs {_clip(n.script)!r}")
        self.parse(n.script, p.depth + 1, (*p.origin, n.label), pipes, n.args)


def _after_assignments(p: _Parser, node: tree_sitter.Node) -> str:
    for child in node.children:
        if child.type != "variable_assignment":
            return p.src[child.start_byte : node.end_byte].decode("utf-8", "replace")
    return ""


def _replace(cmd: SimpleCommand, **changes: object) -> SimpleCommand:
    return replace(cmd, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------- wrappers


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
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _shell_reads_stdin(argv: Sequence[str]) -> bool:
    """``bash``, ``sh -s``, ``bash -l``, ``bash /dev/stdin`` read their script from stdin."""
    for arg in argv[1:]:
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


def _hijacks(name: str) -> bool:
    return name in HIJACK_VARS or name.startswith(HIJACK_PREFIXES)


def _exec_var_script(name: str, value: str) -> str | None:
    """The command a variable like ``PAGER``/``GIT_SSH_COMMAND`` names."""
    value = value.strip()
    if name in ("LESSOPEN", "LESSCLOSE"):
        value = value.lstrip("|").replace("%s", "f")
    return value or None


def _is_herestring_quirk(node: tree_sitter.Node) -> bool:
    return node.type == "ERROR" and [c.type for c in node.children] == ["<<"]


def _only_herestring_quirks(root: tree_sitter.Node) -> bool:
    """Whether every syntax error in the tree is the ``redirect <<< word`` quirk."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_missing:
            return False
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
        if (
            w.static
            and "{" in w.raw
            and not any(c in w.raw for c in "'\"\\$`")
            and re.search(r"\{[^{}]*,[^{}]*\}", w.raw)
        ):
            out.extend(replace(w, value=v, raw=v) for v in expand_braces(w.value) if v)
        elif w.resolved and w.splittable and len(w.value.split()) != 1:
            out.extend(replace(w, value=v) for v in w.value.split())
        else:
            out.append(w)
    return out


@dataclass(frozen=True)
class _Spec:
    """How a wrapper takes its options before the command it runs."""

    short: str = ""  # short options that take a value (``-u root``, ``-uroot``)
    long: frozenset[str] = frozenset()  # long options that take a value
    skip: int = 0  # operands before the command (a duration, a new root, a lock file…)
    transparent: bool = False
    shell: frozenset[str] = frozenset()  # options whose value is a shell string
    stop: frozenset[str] = frozenset()  # options that mean no command runs
    env: bool = False  # ``NAME=value`` operands come before the command


def _s(*names: str) -> frozenset[str]:
    return frozenset(names)


def _spec(options: OptionSyntax, program: Program | None = None) -> _Spec:
    """A wrapper's option reading, from its catalogue entry."""
    wrapper = program.wrapper if program is not None else None
    if wrapper is None:
        return _Spec(options.short_values, options.long_values)
    return _Spec(
        options.short_values,
        options.long_values,
        skip=wrapper.skip,
        transparent=wrapper.transparent,
        shell=wrapper.shell_options,
        stop=wrapper.stop,
        env=wrapper.assignments,
    )


_WRAPPERS: dict[str, _Spec] = {
    name: _spec(p.options, p) for name, p in CATALOGUE.with_role("wrapper").items()
}
_XARGS = _spec(CATALOGUE.programs["xargs"].options)
_PARALLEL = _spec(CATALOGUE.programs["parallel"].options)
_WATCH = _spec(CATALOGUE.programs["watch"].options)


def _getopt(
    argv: Sequence[str], start: int, spec: _Spec
) -> tuple[list[tuple[str, str | None]], int]:
    """Options (with their values) from ``start`` to the first operand; its index."""
    opts: list[tuple[str, str | None]] = []
    i = start
    while i < len(argv):
        a = argv[i]
        if a == "--":
            return opts, i + 1
        if not a.startswith("-") or a == "-":
            return opts, i
        if a.startswith("--"):
            name, eq, value = a.partition("=")
            if eq:
                opts.append((name, value))
            elif name in spec.long or name in spec.shell:
                opts.append((name, argv[i + 1] if i + 1 < len(argv) else None))
                i += 1
            else:
                opts.append((name, None))
            i += 1
            continue
        for j, ch in enumerate(a[1:], start=1):
            name = "-" + ch
            if ch in spec.short or name in spec.shell:
                rest = a[j + 1 :]
                if rest:
                    opts.append((name, rest))
                else:
                    opts.append((name, argv[i + 1] if i + 1 < len(argv) else None))
                    i += 1
                break
            opts.append((name, None))
        i += 1
    return opts, i


#: Wrapper options that set the directory the wrapped command runs in.
CHDIR_OPTIONS: dict[str, frozenset[str]] = {
    name: p.wrapper.chdir
    for name, p in CATALOGUE.with_role("wrapper").items()
    if p.wrapper is not None and p.wrapper.chdir
}


def wrapper_chdir(argv: Sequence[str]) -> list[str]:
    """Directories a wrapper runs its command in (``env -C DIR``, ``sudo -D DIR``, …)."""
    names = CHDIR_OPTIONS.get(program_name(argv[0])) if argv else None
    if names is None:
        return []
    opts, _ = _getopt(argv, 1, _WRAPPERS[program_name(argv[0])])
    return [v for k, v in opts if k in names and v]


def _option_values(argv: Sequence[str], names: Iterable[str]) -> list[tuple[str, str]]:
    """``--opt VALUE``, ``--opt=VALUE``, ``-oVALUE`` occurrences of the given options.

    A long option also matches its GNU abbreviations (``--compress-prog``).
    """
    out: list[tuple[str, str]] = []
    wanted = tuple(names)
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--":
            break
        for name in wanted:
            if name.startswith("--"):
                head, eq, value = a.partition("=")
                if len(head) >= 5 and name.startswith(head) and head.startswith("--"):
                    if eq:
                        out.append((name, value))
                    elif i + 1 < len(argv):
                        out.append((name, argv[i + 1]))
                    break
            elif a == name:
                if i + 1 < len(argv):
                    out.append((name, argv[i + 1]))
                break
            elif a.startswith(name) and len(a) > len(name) and not a.startswith("--"):
                out.append((name, a[len(name) :]))
                break
        i += 1
    return out


def peel(
    argv: tuple[str, ...], static: tuple[bool, ...] = (), *, stdin: str | None = None
) -> tuple[tuple[Variant, ...], list[Nested]]:
    """The argv as written, then after each wrapper is peeled off.

    Also returns the code a command would run that is not one of its argv forms
    (``bash -c STR``, ``eval …``, ``git -c core.pager=…``, ``sed e``, ``awk
    system()``, inline interpreter code …), as :class:`Nested` entries.
    ``stdin`` is the static text on the command's stdin, when known (``xargs``).
    """
    del static
    variants: list[Variant] = [Variant(argv, (), False)]
    nested: list[Nested] = []
    current = argv
    wrappers: tuple[str, ...] = ()

    def mark_transparent() -> None:
        variants[-1] = Variant(variants[-1].argv, variants[-1].wrappers, True)

    def add_inner(forms: Sequence[tuple[str, ...]], label: str) -> None:
        for form in forms:
            more, nest = peel(form, stdin=stdin)
            variants.extend(
                Variant(v.argv, (*wrappers, label, *v.wrappers), v.transparent) for v in more
            )
            nested.extend(nest)

    for _ in range(32):
        if not current:
            break
        prog = program_name(current[0])
        inner: tuple[str, ...] | None = None
        transparent = False
        spec = _WRAPPERS.get(prog)
        if prog in ("busybox", "toybox") and len(current) > 1 and not current[1].startswith("-"):
            inner = current[1:]
            transparent = True
        elif spec is not None:
            opts, i = _getopt(current, 1, spec)
            if any(o in spec.stop for o, _ in opts):
                break
            for o, v in opts:
                if o in spec.shell:
                    nested.append(Nested(f"{prog} {o}", v))
            if spec.env:
                while i < len(current) and _ASSIGN.match(current[i]):
                    name, _, value = current[i].partition("=")
                    if _hijacks(name):
                        nested.append(Nested(f"{prog} {name}=", None))
                    i += 1
            if prog == "sudo" and i >= len(current):
                if any(o in ("-i", "-s", "--login", "--shell") for o, _ in opts):
                    nested.append(Nested("sudo -s", None))
            if any(o in spec.shell for o, _ in opts):
                break
            i += spec.skip
            inner = current[i:] if i < len(current) else None
            transparent = spec.transparent
        elif prog == "xargs":
            forms, nest = _xargs(current, stdin)
            nested.extend(nest)
            add_inner(forms, "xargs")
            break
        elif prog == "find":
            inner_cmds, deletes = _find_exec(current)
            add_inner(inner_cmds, "find")
            if deletes:
                variants.append(
                    Variant(("rm", "-r", "-f", *deletes), (*wrappers, "find -delete"), False)
                )
            break
        elif prog in SHELLS or prog in ("su", "sg"):
            script = _shell_script(current, prog)
            if script is not None:
                nested.append(Nested(f"{prog} -c", script[0], False, script[1]))
                mark_transparent()
            break
        elif prog in ("eval", "trap", "alias"):
            nested.extend(_eval_like(prog, current))
            mark_transparent()
            break
        elif prog == "watch":
            opts, i = _getopt(current, 1, _WATCH)
            if i < len(current):
                if any(o in ("-x", "--exec") for o, _ in opts):
                    inner = current[i:]
                else:
                    nested.append(Nested("watch", " ".join(current[i:])))
            if inner is None:
                break
        elif prog == "parallel":
            nested.extend(_parallel(current, stdin))
            break
        elif prog in ("source", ".") and len(current) > 1:
            if current[1] not in STDIN_PATHS:
                nested.append(Nested(prog, None))
            break
        elif prog == "git":
            more_forms, nest = _git(current)
            nested.extend(nest)
            add_inner(more_forms, "git")
            break
        elif prog in AWKS:
            nested.extend(_awk(current, prog))
            break
        elif prog == "sed":
            nested.extend(_sed(current))
            break
        elif _interpreter(prog) is not None:
            nested.extend(_interpreter_code(current, prog))
            break
        elif prog in EXEC_OPTIONS:
            nested.extend(_exec_options(current, prog))
            break
        if inner is None or not inner:
            break
        if transparent:
            mark_transparent()
        # ``sudo -u root rm`` → also ``sudo rm`` (options dropped), then ``rm``.
        if len(inner) + 1 < len(current):
            variants.append(Variant((current[0], *inner), wrappers, transparent))
        wrappers = (*wrappers, prog)
        variants.append(Variant(inner, wrappers, False))
        current = inner
    return tuple(variants), nested


def _shell_script(
    argv: Sequence[str], prog: str
) -> tuple[str | None, tuple[str, ...] | None] | None:
    """The ``-c`` script of a shell (``su``, ``sg``) and its positional parameters.

    ``None`` when the shell runs no ``-c`` string; ``(None, None)`` for a script
    file whose content is not visible.
    """
    i = 1
    wants_c = False
    inline: str | None = None
    if prog == "sg":
        i = 2  # the group
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if a in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file") or (
            prog in ("su", "sg") and a in ("-s", "--shell", "-g", "--group", "-G", "--supp-group")
        ):
            i += 2
            continue
        if a.startswith("--command="):
            return (a.split("=", 1)[1], None)
        if a in ("-c", "--command") or (
            a.startswith("-") and not a.startswith("--") and "c" in a[1:]
        ):
            wants_c = True
            if prog in ("su", "sg") and a.startswith("-") and a[-1] != "c" and "c" in a[1:]:
                inline = a[a.index("c", 1) + 1 :]  # ``-cCMD``
                return (inline, None)
            i += 1
            continue
        if prog == "su" and a in ("-", "-l", "--login", "-m", "-p", "-P", "--pty"):
            i += 1
            continue
        if a.startswith(("-", "+")):
            i += 1
            continue
        if wants_c:
            return (a, tuple(argv[i + 1 :]) or None)
        if prog == "su":
            i += 1  # the user name
            continue
        if prog == "sg":
            return (" ".join(argv[i:]), None)
        if a in STDIN_PATHS:
            return None  # reads stdin: decided by the caller
        return (None, None)  # a script file: unknown content
    if wants_c:
        return (argv[i] if i < len(argv) else None, tuple(argv[i + 1 :]) or None)
    return None


def _eval_like(prog: str, argv: Sequence[str]) -> list[Nested]:
    args = list(argv[1:])
    if prog == "eval":
        return [Nested("eval", " ".join(args))] if args else []
    if prog == "trap":
        while args and args[0] in ("-l", "-p", "--"):
            args = args[1:]
        if len(args) >= 2 and args[0] not in ("-", ""):
            return [Nested("trap", args[0])]
        return []
    out: list[Nested] = []
    for a in args:  # alias name=value …
        name, eq, value = a.partition("=")
        if eq and value.strip():
            out.append(Nested(f"alias {name}", value))
    return out


def _xargs(argv: Sequence[str], stdin: str | None) -> tuple[list[tuple[str, ...]], list[Nested]]:
    """The commands ``xargs`` runs: with stdin's items when they are known."""
    opts, i = _getopt(argv, 1, _XARGS)
    replace_str: str | None = None
    from_file = False
    for o, v in opts:
        if o == "-I":
            replace_str = v
        elif o in ("-i", "--replace"):
            replace_str = v or "{}"
        elif o in ("-a", "--arg-file"):
            from_file = True
    inner = tuple(argv[i:]) or ("echo",)
    items: list[str] | None = None
    if stdin is not None and not from_file:
        items = (
            [x.strip() for x in stdin.split("\n") if x.strip()] if replace_str else stdin.split()
        )
    nested: list[Nested] = []
    if items:
        if replace_str:
            forms = [tuple(t.replace(replace_str, item) for t in inner) for item in items[:16]]
        else:
            forms = [(*inner, *items[:256])]
        return forms, nested
    if replace_str and any(replace_str in t for t in inner[1:]):
        prog = program_name(inner[0])
        if prog in SHELLS or prog in ("eval", "su") or _interpreter(prog) is not None:
            nested.append(Nested("xargs -I", None))  # stdin spliced into code
    return [inner], nested


def _parallel(argv: Sequence[str], stdin: str | None) -> list[Nested]:
    """GNU parallel joins the command's words and runs them with a shell."""
    opts, i = _getopt(argv, 1, _PARALLEL)
    rest = list(argv[i:])
    seps = [k for k, t in enumerate(rest) if t in (":::", "::::", ":::+", "::::+")]
    cmd = rest[: seps[0]] if seps else rest
    args: list[str] | None = None
    if seps and rest[seps[0]] in (":::", ":::+"):
        end = seps[1] if len(seps) > 1 else len(rest)
        args = rest[seps[0] + 1 : end]
    elif not seps and stdin is not None and not any(o in ("-a", "--arg-file") for o, _ in opts):
        args = [x for x in stdin.split("\n") if x.strip()]
    template = " ".join(cmd)
    if not template or args is None:
        return [Nested("parallel", None)]
    out: list[Nested] = []
    for a in args[:16] or [""]:
        q = shlex.quote(a) if a else ""
        script = template.replace("{}", q) if "{}" in template else f"{template} {q}".strip()
        out.append(Nested("parallel", script))
    return out


def _find_exec(argv: Sequence[str]) -> tuple[list[tuple[str, ...]], list[str]]:
    """``find -exec/-execdir/-ok/-okdir`` commands (``{}`` → each start path)."""
    cmds: list[tuple[str, ...]] = []
    starts: list[str] = []
    i = 1
    while i < len(argv) and argv[i] in ("-H", "-L", "-P", "-O", "-D"):
        i += 2 if argv[i] in ("-D",) else 1
    while i < len(argv) and not argv[i].startswith(("-", "(", "!")):
        starts.append(argv[i])
        i += 1
    deletes: list[str] = []
    roots = starts or ["."]
    while i < len(argv):
        a = argv[i]
        if a in ("-exec", "-execdir", "-ok", "-okdir"):
            j = i + 1
            while j < len(argv) and argv[j] not in (";", "+", "\\;"):
                j += 1
            if j > i + 1:
                body = tuple(argv[i + 1 : j])
                if any("{}" in t for t in body):
                    cmds.extend(tuple(t.replace("{}", r) for t in body) for r in roots[:8])
                else:
                    cmds.append(body)
            i = j + 1
            continue
        if a == "-delete":
            deletes = roots
        i += 1
    return cmds, deletes


# ---------------------------------------------------------- git, sed, awk, code

_GIT = CATALOGUE.git
_GIT_EXEC_KEY = _GIT.runs_settings
_GIT_ASK_KEY = _GIT.ask_settings
_GIT_GLOBAL_VALUED = _GIT.global_value_options
_GIT_CONFIG_VALUED = _GIT.subcommand("config").options.value_options()


def _git_setting(key: str, value: str, how: str) -> Nested | None:
    """A git setting whose value git runs (or that changes what git runs)."""
    lower = key.lower()
    label = f"git {how} {key}"
    if lower.startswith("alias."):
        return Nested(label, value[1:]) if value.startswith("!") else None
    if _GIT_EXEC_KEY.match(lower):
        script = value[1:] if value.startswith("!") else value
        return Nested(label, script.strip() or None, True)
    if _GIT_ASK_KEY.match(lower):
        return Nested(label, None)
    return None


def _git(argv: Sequence[str]) -> tuple[list[tuple[str, ...]], list[Nested]]:
    """What ``git`` runs besides itself: settings, aliases and command options."""
    nested: list[Nested] = []
    aliases: dict[str, str] = {}
    i = 1
    while i < len(argv):
        a = argv[i]
        kv: str | None = None
        if a == "-c":
            kv = argv[i + 1] if i + 1 < len(argv) else ""
            i += 2
        elif a.startswith("-c") and not a.startswith("--"):
            kv = a[2:]
            i += 1
        elif a.startswith("--config-env"):
            nested.append(Nested("git --config-env", None))
            i += 1 if "=" in a else 2
            continue
        elif a.startswith("--exec-path="):
            nested.append(Nested("git --exec-path", None))
            i += 1
            continue
        elif a in _GIT_GLOBAL_VALUED:
            i += 2
            continue
        elif a.startswith("-"):
            i += 1
            continue
        else:
            break
        key, _, value = kv.partition("=")
        if key.lower().startswith("alias.") and value:
            aliases[key[6:]] = value
        found = _git_setting(key, value, "-c")
        if found is not None:
            nested.append(found)
    if i >= len(argv):
        return [], nested
    sub, rest = argv[i], list(argv[i + 1 :])
    forms: list[tuple[str, ...]] = []
    if sub in aliases and not aliases[sub].startswith("!"):
        try:
            forms.append(("git", *shlex.split(aliases[sub]), *rest))
        except ValueError:
            nested.append(Nested(f"git alias {sub}", None))
    elif sub in aliases:
        nested.append(
            Nested(f"git alias {sub}", " ".join([aliases[sub][1:], *map(shlex.quote, rest)]))
        )
    if sub == "config":
        ops: list[str] = []
        j = 0
        while j < len(rest):
            t = rest[j]
            if t in _GIT_CONFIG_VALUED:
                j += 2
                continue
            if not t.startswith("-"):
                ops.append(t)
            j += 1
        if ops and ops[0] in ("set", "get", "unset", "list", "edit", "rename-section",
                              "remove-section", "get-color", "get-colorbool"):  # fmt: skip
            ops = ops[1:] if ops[0] == "set" else []
        if len(ops) >= 2:
            found = _git_setting(ops[0], ops[1], "config")
            if found is not None:
                nested.append(found._replace(ask=True))
    elif sub == "grep":
        for t in rest:
            if t.startswith("--open-files-in-pager"):
                _, eq, value = t.partition("=")
                nested.append(Nested("git grep -O", value if eq and value else None, True))
            elif t.startswith("-") and not t.startswith("--") and "O" in t:
                value = t[t.index("O") + 1 :]
                nested.append(Nested("git grep -O", value or None, True))
    elif sub == "rebase":
        for _o, v in _option_values(["git", *rest], _GIT.subcommand(sub).runs_options):
            nested.append(Nested("git rebase --exec", v))
    elif sub == "bisect" and rest[:1] == ["run"] and len(rest) > 1:
        forms.append(tuple(rest[1:]))
    elif sub == "submodule" and "foreach" in rest:
        body = [t for t in rest[rest.index("foreach") + 1 :] if t not in ("--recursive", "-q",
                                                                          "--quiet")]  # fmt: skip
        if body:
            nested.append(Nested("git submodule foreach", " ".join(body)))
    elif sub == "difftool":
        for _o, v in _option_values(["git", *rest], _GIT.subcommand(sub).runs_options):
            nested.append(Nested("git difftool --extcmd", v))
    elif sub == "filter-branch":
        for t in rest:
            head = t.split("=", 1)[0]
            if head.endswith("-filter") or head == "--setup":
                vals = _option_values(["git", *rest], (head,))
                nested.extend(Nested(f"git filter-branch {head}", v) for _o, v in vals)
                break
    elif sub in ("clone", "fetch", "pull", "ls-remote", "push", "archive", "remote"):
        for o, v in _option_values(["git", *rest], _GIT.subcommand(sub).runs_options):
            nested.append(Nested(f"git {sub} {o}", v, True))
    elif sub == "send-email":
        for t in rest:
            if t.startswith("--") and t.split("=", 1)[0].endswith("-cmd"):
                vals = _option_values(["git", *rest], (t.split("=", 1)[0],))
                nested.extend(Nested(f"git send-email {o}", v, True) for o, v in vals)
    return forms, nested


def _sed_scripts(argv: Sequence[str]) -> tuple[list[str], bool]:
    """The sed program texts, and whether one comes from a file (``-f``)."""
    scripts: list[str] = []
    from_file = False
    operands: list[str] = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--":
            operands.extend(argv[i + 1 :])
            break
        if a.startswith("--"):
            head, eq, value = a.partition("=")
            if "--expression".startswith(head) and len(head) > 3:
                scripts.append(value if eq else (argv[i + 1] if i + 1 < len(argv) else ""))
                i += 1 if eq else 2
                continue
            if "--file".startswith(head) and len(head) > 3:
                from_file = True
            elif head in ("--line-length",) and not eq:
                i += 1
            i += 1
            continue
        if a.startswith("-") and a != "-":
            for j, ch in enumerate(a[1:], start=1):
                if ch in "ef":
                    value = a[j + 1 :] or (argv[i + 1] if i + 1 < len(argv) else "")
                    if ch == "e":
                        scripts.append(value)
                    else:
                        from_file = True
                    if not a[j + 1 :]:
                        i += 1
                    break
                if ch == "l":
                    if not a[j + 1 :]:
                        i += 1
                    break
            i += 1
            continue
        operands.append(a)
        i += 1
    if not scripts and not from_file and operands:
        scripts.append(operands[0])
    return scripts, from_file


def _sed_exec(script: str) -> tuple[list[str | None], bool]:
    """Commands a sed program runs (``e cmd``, ``s///e``) and whether it writes files.

    ``None`` stands for a command that is not visible (``e`` alone, ``s///e``, or a
    program this scanner cannot follow).
    """
    runs: list[str | None] = []
    writes = False
    s = script
    n = len(s)
    i = 0

    def skip_delimited(k: int, delim: str) -> int:
        while k < n and s[k] != delim:
            if s[k] == "\\":
                k += 1
            elif s[k] == "\n":
                return -1
            k += 1
        return k + 1 if k < n else -1

    while i < n:
        c = s[i]
        if c in " \t\n;}{!":
            i += 1
            continue
        if c == "#":
            while i < n and s[i] != "\n":
                i += 1
            continue
        # addresses
        if c.isdigit() or c in "$/\\,+~":
            if c == "/":
                i = skip_delimited(i + 1, "/")
            elif c == "\\" and i + 1 < n:
                i = skip_delimited(i + 2, s[i + 1])
            else:
                i += 1
            if i < 0:
                return [None], writes
            while i < n and s[i] in "IM":
                i += 1
            continue
        i += 1
        if c in "aic":
            while i < n and s[i] != "\n":
                if s[i] == "\\" and i + 1 < n:
                    i += 1
                i += 1
        elif c in "rRwW":
            writes = writes or c in "wW"
            while i < n and s[i] != "\n":
                i += 1
        elif c == "e":
            start = i
            while i < n and s[i] != "\n":
                i += 1
            cmd = s[start:i].strip()
            runs.append(cmd or None)
        elif c in "sy":
            if i >= n:
                return [None], writes
            delim = s[i]
            i = skip_delimited(i + 1, delim)
            if i < 0:
                return [None], writes
            i = skip_delimited(i, delim)
            if i < 0:
                return [None], writes
            if c == "s":
                while i < n and s[i] not in ";\n}":
                    if s[i] == "e":
                        runs.append(None)
                    elif s[i] in "wW":
                        writes = True
                        while i < n and s[i] != "\n":
                            i += 1
                        break
                    i += 1
        elif c in ":bTtvlLqQ":
            while i < n and s[i] not in ";\n}" if c != ":" else i < n and s[i] != "\n":
                i += 1
        elif c in "=dDgGhHnNpPxzF":
            continue
        else:
            return [None], writes
    return runs, writes


def _sed(argv: Sequence[str]) -> list[Nested]:
    scripts, from_file = _sed_scripts(argv)
    out: list[Nested] = []
    if from_file:
        out.append(Nested("sed -f", None))
    runs, writes = _sed_exec("\n".join(scripts))
    out.extend(Nested("sed e", r, True) for r in runs)
    if writes:
        out.append(Nested("sed w (writes a file)", None))
    return out


AWKS = CATALOGUE.awks
_AWK_RUNS = (
    ("system()", re.compile(r"\bsystem\s*\(\s*(\"(?:[^\"\\]|\\.)*\")?")),
    ("getline", re.compile(r'("(?:[^"\\]|\\.)*")\s*\|&?\s*getline')),
    ("pipe", re.compile(r'\|&?\s*("(?:[^"\\]|\\.)*")')),
)
_AWK_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_AWK_REGEX = re.compile(r"(?<![\w)\]\s])\s*/(?:[^/\\\n]|\\.)+/")


def _awk(argv: Sequence[str], prog: str) -> list[Nested]:
    programs: list[str] = []
    out: list[Nested] = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if (
            a in ("-f", "--file", "-i", "--include", "-E", "--exec")
            or a.startswith(("--file=", "--include=", "--exec="))
            or (a.startswith(("-f", "-i", "-E")) and len(a) > 2 and not a.startswith("--"))
        ):
            out.append(Nested(f"{prog} -f", None))
            i += 1 if "=" in a or (len(a) > 2 and not a.startswith("--")) else 2
            continue
        if a in ("-e", "--source"):
            programs.append(argv[i + 1] if i + 1 < len(argv) else "")
            i += 2
            continue
        if a.startswith("--source="):
            programs.append(a.split("=", 1)[1])
            i += 1
            continue
        if a in ("-F", "-v", "--field-separator", "--assign"):
            i += 2
            continue
        if a.startswith("-") and a != "-":
            i += 1
            continue
        break
    if not programs and not any(n.label.endswith("-f") for n in out) and i < len(argv):
        programs.append(argv[i])
    for text in programs:
        for label, rx in _AWK_RUNS:
            found = (_awk_literal(m[1]) for m in rx.finditer(text))
            out.extend(Nested(f"{prog} {label}", cmd, True) for cmd in found)
        bare = _AWK_REGEX.sub(" ", _AWK_STRING.sub('""', text)).replace("||", " ")
        if "|" in bare and not out:
            out.append(Nested(f"{prog} pipe", None))
        if re.search(r"\bprintf?\b[^;{}\n]*>", bare):
            out.append(Nested(f"{prog} print > (writes a file)", None))
    return out


def _awk_literal(text: str | None) -> str | None:
    if not text:
        return None
    return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")


#: interpreter → options whose value is inline code
INTERPRETERS: dict[str, tuple[str, ...]] = {
    name: p.code_options for name, p in CATALOGUE.programs.items() if p.code_options is not None
}
_VERSIONED = re.compile(rf"^({'|'.join(map(re.escape, CATALOGUE.versioned))})[0-9.]*$")
_CALLS = re.compile(
    r"(?:\b(?:system|popen|popen2|popen3|exec|execSync|execFileSync|spawnSync|spawn|"
    r"check_output|check_call|call|run|Popen|getoutput|getstatusoutput|shell_exec|passthru|"
    r"proc_open|capture2|capture2e|capture3|pipeline|shell)\s*\(?\s*)"
    r"(?:(\[[^\]]*\])|r?(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'))"
)
_BACKTICKS = re.compile(r"`([^`]*)`|\bqx\s*([({\[/|!])(.*?)[)}\]/|!]|%x\((.*?)\)")
_LITERAL = re.compile(r"\"((?:[^\"\\]|\\.)*)\"|'((?:[^'\\]|\\.)*)'")


def _interpreter(prog: str) -> tuple[str, ...] | None:
    if prog in INTERPRETERS:
        return INTERPRETERS[prog]
    m = _VERSIONED.match(prog)
    return INTERPRETERS[m[1]] if m else None


def embedded_commands(code: str) -> list[str]:
    """Shell commands visible in inline code: ``os.system("…")``, ``\\`…\\```, …"""
    out: list[str] = []
    for m in _CALLS.finditer(code):
        if m[1]:
            words = [a or b for a, b in _LITERAL.findall(m[1])]
            if words:
                out.append(shlex.join(_unescape_literal(w) for w in words))
        elif m[2]:
            out.append(_unescape_literal(m[2][1:-1]))
    for m in _BACKTICKS.finditer(code):
        text = m[1] if m[1] is not None else (m[3] if m[3] is not None else m[4])
        if text:
            out.append(text)
    return out


def _unescape_literal(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), text)


def _interpreter_code(argv: Sequence[str], prog: str) -> list[Nested]:
    flags = _interpreter(prog) or ()
    codes: list[str] = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in flags:
            if i + 1 < len(argv):
                codes.append(argv[i + 1])
            i += 2
            continue
        if a.startswith("+") and prog in ("vim", "vi", "nvim", "ex", "view"):
            codes.append(a[1:])
        elif a.startswith("-") and not a.startswith("--"):
            for f in flags:
                if len(f) == 2 and f[1] in a[1:]:
                    rest = a[a.index(f[1], 1) + 1 :]
                    codes.append(rest or (argv[i + 1] if i + 1 < len(argv) else ""))
                    break
        i += 1
    out: list[Nested] = []
    for code in codes:
        out.append(Nested(f"{prog} inline code", None))
        out.extend(Nested(f"{prog} inline code", cmd, True) for cmd in embedded_commands(code))
        if prog in ("vim", "vi", "nvim", "ex", "view", "gdb"):
            m = re.match(r"^\s*:?\s*(?:!|shell\s+|call\s+system\()\s*(.*)$", code)
            if m and m[1]:
                out.append(Nested(f"{prog} shell escape", m[1].rstrip(")\"'"), True))
    return out


#: Options of ordinary tools whose value is a program or shell command they run.
EXEC_OPTIONS: dict[str, tuple[str, ...]] = {
    name: p.runs_options for name, p in CATALOGUE.programs.items() if p.runs_options is not None
}
_SAFE_LESS = re.compile(r"^(\d+|[GgFnN]|[/?].*|:\d+|\d*[jk])$")


def _exec_options(argv: Sequence[str], prog: str) -> list[Nested]:
    out: list[Nested] = []
    if prog in ("less", "more"):
        for a in argv[1:]:
            if a.startswith("+") and not _SAFE_LESS.match(a[1:].lstrip("+")):
                cmd = a[1:].lstrip("+")
                out.append(Nested(f"{prog} +", cmd[1:] if cmd.startswith("!") else None, True))
        return out
    for name, value in _option_values(argv, EXEC_OPTIONS[prog]):
        if prog in ("ssh", "scp", "sftp") and name == "-o":
            key, _, val = value.replace("=", " ", 1).partition(" ")
            if key.lower() in ("proxycommand", "localcommand", "knownhostscommand"):
                out.append(Nested(f"{prog} -o {key}", val.strip() or None, True))
            continue
        if prog == "tar" and name == "--checkpoint-action":
            if not value.startswith("exec="):
                continue
            value = value[5:]
        if prog == "man" and name in ("-H", "--html") and not value:
            continue
        if prog == "make":
            out.append(Nested("make --eval", None))
            continue
        out.append(Nested(f"{prog} {name}", value.strip() or None, True))
    if prog == "make" and any(a.startswith(("SHELL=", ".SHELLFLAGS=", "MAKESHELL=")) for a in argv):
        out.append(Nested("make SHELL=", None))
    return out


def expand_braces(word: str, limit: int = 64) -> list[str]:
    """Bash brace expansion for ``{a,b}`` lists (enough for matching)."""
    m = re.search(r"\{([^{}]*,[^{}]*)\}", word)
    if not m:
        return [word]
    out: list[str] = []
    for alt in m[1].split(","):
        out.extend(expand_braces(word[: m.start()] + alt + word[m.end() :], limit))
        if len(out) >= limit:
            break
    return out[:limit]


# ------------------------------------------------------------------------- API


_LOCAL = threading.local()
_CONTROL = re.compile(r"[\x01-\x08\x0b-\x1f\x7f]")


def _invisible(text: str) -> bool:
    return any(
        unicodedata.category(c) in ("Cf", "Zs", "Zl", "Zp", "Cc", "Co", "Cn")
        for c in text
        if not c.isascii()
    )


def _parser() -> tree_sitter.Parser:
    parser: tree_sitter.Parser | None = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = _LOCAL.parser = tree_sitter.Parser(_LANGUAGE)
    return parser


@functools.lru_cache(maxsize=4096)
def parse(source: str) -> Script:
    """Parse a command string into every simple command it would execute."""
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
    "peel",
    "program_name",
    "wrapper_chdir",
]
