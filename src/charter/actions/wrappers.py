"""Wrappers: the commands a command runs (``sudo``, ``env``, ``timeout``, ``xargs``,
``find -exec``, ``bash -c`` …), peeled off into argv *variants*.

How each wrapper takes its options comes from the program catalogue; the code a
program runs that is not an argv (``git -c core.pager=…``, ``sed e``) comes from
:mod:`charter.actions.embedded`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from charter.actions import embedded
from charter.actions.catalogue import CATALOGUE, OptionSyntax, Program
from charter.actions.command import (
    ASSIGNMENT,
    SHELLS,
    STDIN_PATHS,
    Nested,
    Variant,
    hijacks,
    program_name,
)


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
    subcommands: frozenset[str] = frozenset()  # ``uv run CMD``: only through these
    shell_when_empty: bool = False  # ``chroot DIR``: no command runs a shell


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
        subcommands=wrapper.subcommands,
        shell_when_empty=wrapper.shell_when_empty,
    )


WRAPPERS: dict[str, _Spec] = {
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
    opts, _ = _getopt(argv, 1, WRAPPERS[program_name(argv[0])])
    return [v for k, v in opts if k in names and v]


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
    state = _Peeling(argv, stdin)
    current = argv
    for _ in range(32):
        if not current:
            break
        inner, transparent = state.step(current)
        if not inner:
            break
        state.descend(current, inner, transparent)
        current = inner
    return tuple(state.variants), state.nested


class _Peeling:
    """One peel in progress: the variants found so far and the code they run."""

    def __init__(self, argv: tuple[str, ...], stdin: str | None) -> None:
        self.variants: list[Variant] = [Variant(argv, (), False)]
        self.nested: list[Nested] = []
        self.wrappers: tuple[str, ...] = ()
        self.stdin = stdin

    def mark_transparent(self) -> None:
        last = self.variants[-1]
        self.variants[-1] = Variant(last.argv, last.wrappers, True)

    def add_inner(self, forms: Sequence[tuple[str, ...]], label: str) -> None:
        for form in forms:
            more, nest = peel(form, stdin=self.stdin)
            self.variants.extend(
                Variant(v.argv, (*self.wrappers, label, *v.wrappers), v.transparent) for v in more
            )
            self.nested.extend(nest)

    def descend(self, current: tuple[str, ...], inner: tuple[str, ...], transparent: bool) -> None:
        """Record the command a wrapper runs (and the wrapper without its options)."""
        if transparent:
            self.mark_transparent()
        # ``sudo -u root rm`` → also ``sudo rm`` (options dropped), then ``rm``.
        if len(inner) + 1 < len(current):
            self.variants.append(Variant((current[0], *inner), self.wrappers, transparent))
        self.wrappers = (*self.wrappers, program_name(current[0]))
        self.variants.append(Variant(inner, self.wrappers, False))

    def step(self, current: tuple[str, ...]) -> tuple[tuple[str, ...] | None, bool]:
        """The command ``current`` runs as an argv (if any), and whether it is transparent."""
        prog = program_name(current[0])
        if prog in _UNSEEN:
            self.nested.extend(embedded.unseen_runs(prog, current))
        if prog in ("busybox", "toybox") and len(current) > 1 and not current[1].startswith("-"):
            return current[1:], True
        spec = WRAPPERS.get(prog)
        if spec is not None:
            inner = self._wrapper(prog, current, spec)
            if inner is None and prog not in _NAMES_ONLY:  # ``setarch -3 /bin/sh``
                self.nested.extend(_shell_words(prog, current))
            if inner is not None or not spec.subcommands:
                return inner, spec.transparent
        if prog == "watch":
            return self._watch(current), False
        self._runs(prog, current)
        return None, False

    def _wrapper(self, prog: str, current: tuple[str, ...], spec: _Spec) -> tuple[str, ...] | None:
        opts, i = _getopt(current, 1, spec)
        if spec.subcommands:  # ``uv run [OPTIONS] CMD``: options again after the sub-command
            if i >= len(current) or current[i] not in spec.subcommands:
                return None
            more, i = _getopt(current, i + 1, spec)
            opts += more
        if any(o in spec.stop for o, _ in opts):
            return None
        self.nested.extend(Nested(f"{prog} {o}", v) for o, v in opts if o in spec.shell)
        if spec.env:
            while i < len(current) and ASSIGNMENT.match(current[i]):
                name, _, value = current[i].partition("=")
                if hijacks(name, value):
                    self.nested.append(Nested(f"{prog} {name}=", None))
                i += 1
        if prog == "sudo" and i >= len(current):
            if any(o in ("-i", "-s", "--login", "--shell") for o, _ in opts):
                self.nested.append(Nested("sudo -s", None))
        if any(o in spec.shell for o, _ in opts):
            return None
        i += spec.skip
        if i >= len(current) and spec.shell_when_empty:
            self.nested.append(Nested(f"{prog} starts a shell", None))
        return current[i:] if i < len(current) else None

    def _watch(self, current: tuple[str, ...]) -> tuple[str, ...] | None:
        opts, i = _getopt(current, 1, _WATCH)
        if i >= len(current):
            return None
        if any(o in ("-x", "--exec") for o, _ in opts):
            return current[i:]
        self.nested.append(Nested("watch", " ".join(current[i:])))
        return None

    def _runs(self, prog: str, current: tuple[str, ...]) -> None:
        """Programs whose inner commands are not a suffix of their argv."""
        if prog == "xargs":
            forms, nest = _xargs(current, self.stdin)
            self.nested.extend(nest)
            self.add_inner(forms, "xargs")
        elif prog == "find":
            inner_cmds, deletes = _find_exec(current)
            self.add_inner(inner_cmds, "find")
            if deletes:
                rm = Variant(("rm", "-r", "-f", *deletes), (*self.wrappers, "find -delete"), False)
                self.variants.append(rm)
        elif prog in SHELLS or prog in ("su", "sg"):
            script = _shell_script(current, prog)
            if script is not None:
                self.nested.append(Nested(f"{prog} -c", script[0], False, script[1]))
                self.mark_transparent()
            elif prog in ("su", "sg") and not any(a in ("-h", "--help", "-V") for a in current):
                self.nested.append(Nested(f"{prog} starts a shell", None))  # ``sg root``
        elif prog in ("eval", "trap", "alias"):
            self.nested.extend(_eval_like(prog, current))
            self.mark_transparent()
        elif prog == "parallel":
            self.nested.extend(_parallel(current, self.stdin))
        elif prog in ("source", ".") and len(current) > 1:
            if current[1] not in STDIN_PATHS:
                self.nested.append(Nested(prog, None))
        elif prog == "git":
            more_forms, nest = embedded.git_runs(current)
            self.nested.extend(nest)
            self.add_inner(more_forms, "git")
        else:
            self.nested.extend(embedded.code_runs(prog, current))
            if len(current) == 1 and embedded.interpreter_options(prog) is not None:
                # ``python``, ``tclsh``: a REPL reading code from the terminal or stdin
                self.nested.append(Nested(f"{prog} reads code from the terminal or stdin", None))
            if prog in SQL_CLIENTS:
                self.nested.extend(_sql_meta(prog, current, self.stdin))
            if prog not in _NAMES_ONLY:
                self.nested.extend(_shell_words(prog, current))


#: Programs that run code their command line does not show (catalogue ``unseen``).
_UNSEEN = frozenset(name for name, p in CATALOGUE.programs.items() if p.unseen is not None)
#: Programs that only look at the files they name (``ls -l /bin/sh``): a word naming a
#: shell is not a shell they run.
_NAMES_ONLY = CATALOGUE.names_only | frozenset(
    name for name, p in CATALOGUE.programs.items() if p.files is not None
)
#: Where a shell's path can sit inside a word: ``--command=/bin/sh``, ``exec:/bin/sh,pty``,
#: ``'/bin/sh -p'``, ``-wrapper /bin/sh,-s``.
_PIECES = re.compile(r"[=:,\s]+")


#: SQL client commands that are not SQL: a shell (``\\!``, ``.shell``, ``.system``) or a
#: file read or written (``.output``, ``.import``, ``\\o``, ``\\i``, ``\\copy``…).
_SQL_META = re.compile(
    r"(?:^|[\n;'\"]|\s)\s*(?:\.(?:shell|system|output|once|import|read|load|open|save|"
    r"backup|restore|cd|log|excel)\b|\\(?:!|o|i|ir|w|g|gx|copy|lo_\w+|cd|setenv|out)(?=\s|$))"
)
SQL_CLIENTS = CATALOGUE.sql_clients


def _sql_meta(prog: str, argv: Sequence[str], stdin: str | None) -> list[Nested]:
    """A client command of a SQL shell that runs a program or touches a file."""
    text = "\n".join([*argv[1:], stdin or ""])
    if _SQL_META.search(text):
        return [Nested(f"{prog} client command", None)]
    return []


def _shell_words(prog: str, argv: Sequence[str]) -> list[Nested]:
    """A word of an unknown program that names a shell by path (``aa-exec /bin/sh``,
    ``socat - exec:/bin/sh``) or a shared library inside an option's value: the program
    may well run or load it."""
    for word in argv[1:]:
        if "/" not in word:
            continue
        for piece in _PIECES.split(word):
            if "/" in piece and program_name(piece) in SHELLS:
                return [Nested(f"{prog} may run the shell {piece}", None)]
            if piece != word and _LIBRARY.search(piece):  # ``ladspa=file=/x/lib.so``
                return [Nested(f"{prog} may load the library {piece}", None)]
    return []


#: A shared library named inside a word (``-fplugin=/x/p.so``, ``ladspa=file=/x/l.so``).
_LIBRARY = re.compile(r"/[^/]*\.(so(\.\d+)*|dylib)$")


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
        if (
            prog in SHELLS
            or prog in ("eval", "su")
            or embedded.interpreter_options(prog) is not None
        ):
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


__all__ = ["CHDIR_OPTIONS", "WRAPPERS", "peel", "wrapper_chdir"]
