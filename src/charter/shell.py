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
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import tree_sitter
import tree_sitter_bash

#: How deep ``bash -c "bash -c '…'"`` nesting is followed before giving up (ask).
MAX_DEPTH = 12
#: Longer inputs are still parsed, but flagged: nobody reviews a 64 KiB command.
MAX_LENGTH = 65536

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "yash", "rbash"})
INTERPRETERS = {
    "python": ("-c",),
    "python2": ("-c",),
    "python3": ("-c",),
    "perl": ("-e", "-E"),
    "ruby": ("-e",),
    "node": ("-e", "--eval", "-p", "--print"),
    "php": ("-r",),
    "lua": ("-e",),
    "osascript": ("-e",),
    "awk": (),
    "pwsh": ("-c", "-Command"),
}
#: Environment variables that change what a command runs or loads.
HIJACK_VARS = frozenset(
    {
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "DYLD_INSERT_LIBRARIES",
        "BASH_ENV",
        "ENV",
        "PATH",
        "IFS",
        "PROMPT_COMMAND",
        "GIT_SSH_COMMAND",
        "GIT_EXTERNAL_DIFF",
        "GIT_PAGER",
        "PAGER",
        "EDITOR",
        "VISUAL",
        "GIT_EDITOR",
        "PYTHONSTARTUP",
        "PERL5OPT",
        "NODE_OPTIONS",
    }
)
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


def _guess_dynamic(raw: str) -> str:
    """A best guess for a dynamic fragment: ``$IFS`` is whitespace, ``$HOME`` is ``~``."""
    return _HOME.sub("~", _IFS.sub(" ", raw))


class _Parser:
    """One parse of one string; recursion for nested shells uses new instances."""

    def __init__(self, walker: _Walker, source: bytes, depth: int, origin: tuple[str, ...]):
        self.w = walker
        self.src = source
        self.depth = depth
        self.origin = origin

    def text(self, node: tree_sitter.Node) -> str:
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")

    # -- words -------------------------------------------------------------

    def word(self, node: tree_sitter.Node, pipes: tuple[tuple[int, int], ...]) -> Word:
        parts: list[tuple[str, bool, bool, bool]] = []  # value, static, glob, ansi
        self._word_parts(node, parts, pipes, quoted=False)
        value = "".join(p[0] for p in parts)
        return Word(
            value=value,
            static=all(p[1] for p in parts),
            glob=any(p[2] for p in parts),
            raw=self.text(node),
            ansi_c=any(p[3] for p in parts),
        )

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

    # -- entry -------------------------------------------------------------

    def parse(
        self,
        text: str,
        depth: int,
        origin: tuple[str, ...],
        pipes: tuple[tuple[int, int], ...] = (),
    ) -> list[int]:
        """Parse ``text``; return the indexes of the commands it produced."""
        first = len(self.commands)
        if depth > MAX_DEPTH:
            self.uncertain.append(f"shell strings nested deeper than {MAX_DEPTH} levels")
            return []
        data = text.encode("utf-8", "surrogatepass")
        tree = self.ts.parse(data)
        p = _Parser(self, data, depth, origin)
        if tree.root_node.has_error:
            self.uncertain.append("the command does not parse as shell (syntax error)")
            self._fallback(text, depth, origin)
        self.walk(p, tree.root_node, pipes)
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
            for child in node.children[2:]:
                p.word(child, pipes)
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
        for r in redirect_nodes:
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

    def declaration(
        self, p: _Parser, node: tree_sitter.Node, pipes: tuple[tuple[int, int], ...]
    ) -> None:
        words: list[Word] = [Word(p.text(node.children[0]), raw=p.text(node.children[0]))]
        for child in node.children[1:]:
            if child.type == "variable_assignment":
                value = [p.word(c, pipes) for c in child.children[2:]]
                text = p.text(child.children[0]) + "=" + "".join(v.value for v in value)
                words.append(Word(text, static=all(v.static for v in value), raw=p.text(child)))
            elif child.is_named:
                words.append(p.word(child, pipes))
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
                assignments.append(name + "=" + "".join(v.value for v in value))
                if name in HIJACK_VARS:
                    uncertain.append(f"the assignment {name}=… changes what the command runs")
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
        variants, nested = peel(tuple(values), tuple(w.static for w in words))
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
        for label, script in nested:
            if script is None:
                uncertain.append(f"{label} runs a script Charter cannot see")
            else:
                self.parse(script, p.depth + 1, (*p.origin, label), pipes)
        # A shell (or eval) reading its script from stdin.
        for variant in variants:
            prog = program_name(variant.argv[0]) if variant.argv else ""
            if prog in SHELLS and _shell_reads_stdin(variant.argv):
                if stdin is not None:
                    self.parse(stdin, p.depth + 1, (*p.origin, f"{prog} <stdin>"), pipes)
                elif piped:
                    uncertain.append(f"{prog} runs a script read from a pipe or file")
                break
        self.commands[index] = _replace(cmd, uncertain=tuple(dict.fromkeys(uncertain)))
        return index


def _after_assignments(p: _Parser, node: tree_sitter.Node) -> str:
    for child in node.children:
        if child.type != "variable_assignment":
            return p.src[child.start_byte : node.end_byte].decode("utf-8", "replace")
    return ""


def _replace(cmd: SimpleCommand, **changes: object) -> SimpleCommand:
    return replace(cmd, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------- wrappers


def _shell_reads_stdin(argv: Sequence[str]) -> bool:
    """``bash``, ``sh -s``, ``bash -l`` read their script from stdin."""
    for arg in argv[1:]:
        if arg == "-s" or (arg.startswith("-") and not arg.startswith("--") and "s" in arg[1:]):
            return True
        if arg.startswith("-") or arg.startswith("+"):
            if "c" in arg[1:] and not arg.startswith("--"):
                return False
            continue
        return False
    return True


#: wrapper → (options that take a value, whether it is privilege-changing)
_WRAPPERS: dict[str, frozenset[str]] = {
    "sudo": frozenset({"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T", "-R",
                       "--user", "--group", "--host", "--prompt", "--close-from",
                       "--chdir", "--role", "--type", "--other-user", "--command-timeout",
                       "--chroot"}),
    "doas": frozenset({"-u", "-C"}),
    "env": frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string",
                      "--default-signal", "--ignore-signal", "--block-signal"}),
    "nohup": frozenset(),
    "timeout": frozenset({"-s", "--signal", "-k", "--kill-after"}),
    "nice": frozenset({"-n", "--adjustment"}),
    "ionice": frozenset({"-c", "--class", "-n", "--classdata", "-p", "-P", "-u"}),
    "stdbuf": frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}),
    "time": frozenset({"-f", "--format", "-o", "--output"}),
    "command": frozenset(),
    "builtin": frozenset(),
    "exec": frozenset({"-a"}),
    "setsid": frozenset(),
    "chroot": frozenset({"--userspec", "--groups"}),
    "xargs": frozenset({"-I", "-L", "-n", "-P", "-s", "-d", "-E", "-a", "--arg-file",
                        "--delimiter", "--max-args", "--max-procs", "--max-chars",
                        "--max-lines", "--eof", "--replace", "--process-slot-var"}),
    "unbuffer": frozenset(),
    "caffeinate": frozenset(),
    "catchsegv": frozenset(),
    "taskset": frozenset(),
    "flock": frozenset({"-w", "--timeout", "-E", "--conflict-exit-code"}),
    "nsenter": frozenset({"-t", "--target", "-S", "--setuid", "-G", "--setgid"}),
    "runuser": frozenset({"-u", "--user", "-g", "--group"}),
    "proxychains": frozenset({"-f"}),
    "torsocks": frozenset(),
}  # fmt: skip
#: Wrappers that only change how a command runs, not who runs it or on what.
TRANSPARENT = frozenset({"env", "nohup", "timeout", "nice", "ionice", "stdbuf", "time",
                         "command", "builtin", "exec", "setsid", "unbuffer", "caffeinate",
                         "catchsegv", "taskset"})  # fmt: skip


def _split_opts(argv: Sequence[str], start: int, valued: frozenset[str]) -> int:
    """Index of the first operand after the options starting at ``start``."""
    i = start
    while i < len(argv):
        a = argv[i]
        if a == "--":
            return i + 1
        if not a.startswith("-") or a == "-":
            return i
        name = a.split("=", 1)[0]
        if name in valued and "=" not in a:
            i += 2
            continue
        # attached short value: ``-uroot``, ``-n5``
        i += 1
    return i


def peel(
    argv: tuple[str, ...], static: tuple[bool, ...] = ()
) -> tuple[tuple[Variant, ...], list[tuple[str, str | None]]]:
    """The argv as written, then after each wrapper is peeled off.

    Also returns the strings a wrapper would run as shell code
    (``bash -c STR``, ``eval …``, ``su -c STR``, ``env -S STR``), as
    ``(label, script)``; ``script`` is ``None`` when it is not static.
    """
    variants: list[Variant] = [Variant(argv, (), False)]
    nested: list[tuple[str, str | None]] = []
    current = argv
    wrappers: tuple[str, ...] = ()
    for _ in range(32):
        if not current:
            break
        prog = program_name(current[0])
        inner: tuple[str, ...] | None = None
        transparent = prog in TRANSPARENT
        if prog == "busybox" and len(current) > 1 and not current[1].startswith("-"):
            inner = current[1:]
            transparent = True
        elif prog in _WRAPPERS:
            valued = _WRAPPERS[prog]
            start = 1
            i = _split_opts(current, start, valued)
            opts = current[1:i]
            if prog == "command" and any(o in ("-v", "-V") for o in opts):
                break  # ``command -v x`` only looks x up
            if prog == "env":
                for j, o in enumerate(opts):
                    if o in ("-S", "--split-string") and 1 + j + 1 <= len(opts):
                        nested.append(("env -S", " ".join(current[1 + j + 1 :])))
                    elif o.startswith(("-S", "--split-string=")) and o not in (
                        "-S",
                        "--split-string",
                    ):
                        nested.append(("env -S", o.split("=", 1)[-1] if "=" in o else o[2:]))
                while i < len(current) and "=" in current[i] and not current[i].startswith("="):
                    i += 1
            if prog == "sudo":
                while i < len(current) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", current[i]):
                    i += 1
                if i >= len(current) and any(o in ("-i", "-s", "--login", "--shell") for o in opts):
                    nested.append(("sudo -s", None))
            if prog == "timeout" and i < len(current):
                i += 1  # the duration
            if prog == "nice" and i < len(current) and re.fullmatch(r"-?\d+", current[i]):
                i += 1
            if prog in ("chroot", "taskset") and i < len(current):
                i += 1  # the new root / the cpu mask
            if prog == "flock" and i < len(current):
                if any(o in ("-c", "--command") for o in opts):
                    nested.append(("flock -c", None))
                i += 1  # the lock file
            inner = current[i:] if i < len(current) else None
            if prog == "xargs" and inner is None:
                inner = ("echo",)
        elif prog == "find":
            inner_cmds, deletes = _find_exec(current)
            for sub in inner_cmds:
                variants.append(Variant(sub, (*wrappers, "find"), False))
                more, nest = peel(sub)
                variants.extend(
                    Variant(v.argv, (*wrappers, "find", *v.wrappers), v.transparent)
                    for v in more[1:]
                )
                nested.extend(nest)
            if deletes:
                variants.append(
                    Variant(("rm", "-r", "-f", *deletes), (*wrappers, "find -delete"), False)
                )
            break
        elif prog in SHELLS or prog in ("su", "runuser"):
            script = _shell_script(current, prog)
            if script is not None:
                nested.append((f"{prog} -c", script[0]))
                variants[-1] = Variant(variants[-1].argv, variants[-1].wrappers, True)
            break
        elif prog == "eval":
            nested.append(("eval", " ".join(current[1:])))
            variants[-1] = Variant(variants[-1].argv, variants[-1].wrappers, True)
            break
        elif prog == "watch":
            i = _split_opts(current, 1, frozenset({"-n", "--interval", "-d", "-q"}))
            if i < len(current):
                nested.append(("watch", " ".join(current[i:])))
            break
        elif prog in ("source", ".") and len(current) > 1:
            nested.append((prog, None))
            break
        elif prog in INTERPRETERS:
            flags = INTERPRETERS[prog]
            if any(
                a in flags
                or (
                    a.startswith("-")
                    and not a.startswith("--")
                    and any(f[1:] in a[1:] for f in flags if len(f) == 2)
                )
                for a in current[1:]
            ):
                nested.append((f"{prog} inline code", None))
            break
        if inner is None or not inner:
            break
        if transparent:
            variants[-1] = Variant(variants[-1].argv, variants[-1].wrappers, True)
        # ``sudo -u root rm`` → also ``sudo rm`` (options dropped), then ``rm``.
        if len(inner) + 1 < len(current):
            variants.append(Variant((current[0], *inner), wrappers, transparent))
        wrappers = (*wrappers, prog)
        variants.append(Variant(inner, wrappers, False))
        current = inner
    del static
    return tuple(variants), nested


def _shell_script(argv: Sequence[str], prog: str) -> tuple[str | None] | None:
    """The ``-c`` script of a shell invocation, or ``None`` when there is none."""
    i = 1
    wants_c = False
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if a in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            i += 2
            continue
        if a in ("-c", "--command") or (
            a.startswith("-") and not a.startswith("--") and "c" in a[1:]
        ):
            wants_c = True
            i += 1
            continue
        if prog in ("su", "runuser") and a in ("-", "-l", "--login", "-m", "-p"):
            i += 1
            continue
        if a.startswith(("-", "+")):
            i += 1
            continue
        if wants_c:
            return (a,)
        if prog in ("su", "runuser"):
            i += 1  # the user name
            continue
        return (None,)  # a script file: unknown content
    if wants_c:
        return (argv[i] if i < len(argv) else None,)
    return None


def _find_exec(argv: Sequence[str]) -> tuple[list[tuple[str, ...]], list[str]]:
    cmds: list[tuple[str, ...]] = []
    starts: list[str] = []
    i = 1
    while i < len(argv) and not argv[i].startswith(("-", "(", "!")):
        starts.append(argv[i])
        i += 1
    deletes: list[str] = []
    while i < len(argv):
        a = argv[i]
        if a in ("-exec", "-execdir", "-ok", "-okdir"):
            j = i + 1
            while j < len(argv) and argv[j] not in (";", "+", "\\;"):
                j += 1
            if j > i + 1:
                cmds.append(tuple(argv[i + 1 : j]))
            i = j + 1
            continue
        if a == "-delete":
            deletes = starts or ["."]
        i += 1
    return cmds, deletes


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
    "Redirect",
    "Script",
    "SimpleCommand",
    "Variant",
    "Word",
    "expand_braces",
    "parse",
    "peel",
    "program_name",
]
