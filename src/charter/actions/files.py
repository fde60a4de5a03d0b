"""Which files a program writes and reads by name (operands and options).

The gate decides every such file like a ``> FILE`` redirection (directory limits,
protected files, ``can_write``). Options are read getopt-style (clusters, attached
values, options after operands, GNU unique prefixes, ``--``); which options and
operands name files comes from the program catalogue (``[programs.NAME.files]``), and
this module holds the operand rules the catalogue names. Only listed programs pay for
this; everything else is skipped by one dict lookup.
"""

from __future__ import annotations

import glob
import os
import posixpath
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from charter.actions.catalogue import CATALOGUE, Files, OptionSyntax, Program
from charter.actions.command import program_name

#: A path named by a command, and whether it is only known at run time.
Target = tuple[str, bool]


@dataclass
class Opts:
    """A command's arguments read getopt-style: flags, option values, operands."""

    flags: set[str]
    values: list[tuple[str, str, bool]]  # (option, value, dynamic)
    operands: list[Target]

    def has(self, *names: str) -> bool:
        return any(n in self.flags for n in names)

    def get(self, *names: str) -> list[Target]:
        return [(v, d) for n, v, d in self.values if n in names]


def _long_name(spec: OptionSyntax, name: str) -> str:
    """The long option ``name`` means: itself, or the one option it is a prefix of."""
    if name in spec.long_values or name in spec.aliases or len(name) < 4:
        return name
    hits = [k for k in (*spec.long_values, *spec.aliases) if k.startswith(name)]
    return hits[0] if len(set(hits)) == 1 else name


def getopt(spec: OptionSyntax, argv: Sequence[str], dynamic: frozenset[str]) -> Opts:
    """GNU-style option parsing of ``argv[1:]`` (options may follow operands)."""
    o = Opts(set(), [], [])
    i, n, end = 1, len(argv), False
    while i < n:
        tok = argv[i]
        dyn = tok in dynamic
        i += 1
        if end or not tok.startswith("-") or tok == "-":  # noqa: S105
            o.operands.append((tok, dyn))
            end = end or spec.posix
            continue
        if tok == "--":
            end = True
            continue
        if tok.startswith("--"):
            name, eq, value = tok.partition("=")
            full = _long_name(spec, name)
            canon = spec.aliases.get(full, full)
            o.flags.add(canon)
            if eq:
                o.values.append((canon, value, dyn))
            elif full in spec.long_values and i < n:
                o.values.append((canon, argv[i], argv[i] in dynamic))
                i += 1
            continue
        if spec.only_short is not None and any(c not in spec.only_short for c in tok[1:]):
            o.operands.append((tok, dyn))  # ``chmod -w f``: a mode, not an option
            continue
        for j in range(1, len(tok)):
            c = tok[j]
            name = "-" + c
            o.flags.add(name)
            if c in spec.short_values:
                if j + 1 < len(tok):
                    o.values.append((name, tok[j + 1 :], dyn))
                elif i < n:
                    o.values.append((name, argv[i], argv[i] in dynamic))
                    i += 1
                break
            if c in spec.optional_values:
                o.values.append((name, tok[j + 1 :], dyn))
                break
    return o


#: What a program writes and reads: ``(argv, dynamic words) → (writes, reads)``.
FileRule = Callable[[Sequence[str], frozenset[str]], tuple[list[Target], list[Target]]]


#: Which operands a program writes, given its parsed arguments.
OperandRule = Callable[[Opts], list[Target]]


def _rule(
    spec: OptionSyntax, writes: Sequence[str], reads: Sequence[str], operands: OperandRule
) -> FileRule:
    def rule(argv: Sequence[str], dynamic: frozenset[str]) -> tuple[list[Target], list[Target]]:
        o = getopt(spec, argv, dynamic)
        return [*o.get(*writes), *operands(o)], o.get(*reads)

    return rule


def _all(o: Opts) -> list[Target]:
    return o.operands


def _after_mode(o: Opts) -> list[Target]:
    """``chmod MODE F…``, ``chown OWNER F…`` (every operand with ``--reference``)."""
    return o.operands if o.has("--reference") else o.operands[1:]


def _dest(o: Opts) -> list[Target]:
    """``cp``/``install``: ``-t DIR``, else the last of two or more operands."""
    return o.get("-t") or (o.operands[-1:] if len(o.operands) > 1 else [])


def _link(o: Opts) -> list[Target]:
    if o.get("-t") or len(o.operands) != 1:
        return _dest(o)
    src, dyn = o.operands[0]
    return [(posixpath.basename(src.rstrip("/")) or src, dyn)]  # ``ln -s /a/b`` makes ./b


def _install(o: Opts) -> list[Target]:
    return o.operands if o.has("-d") else _dest(o)


def _remote(path: str) -> bool:
    return ":" in path.split("/", 1)[0] or path.startswith("rsync://")


def _transfer(o: Opts) -> list[Target]:
    """``rsync``/``scp``: a local destination (and sources removed after sending)."""
    ops = o.operands
    out = [t for t in ops[-1:] if len(ops) > 1 and not _remote(t[0])]
    if o.has("--remove-source-files", "--remove-sent-files"):
        out += [t for t in ops[:-1] if not _remote(t[0])]
    return out


def _sed(o: Opts) -> list[Target]:
    if not o.has("-i"):
        return []
    return o.operands if o.has("-e", "-f") else o.operands[1:]


def _awk(o: Opts) -> list[Target]:
    """``gawk -i inplace PROG F…`` rewrites the files."""
    if not any(v.rsplit("/", 1)[-1] in ("inplace", "inplace.awk") for v, _ in o.get("-i")):
        return []
    files = o.operands if o.has("-f", "-e", "-E") else o.operands[1:]
    return [t for t in files if "=" not in t[0]]


def _compress(o: Opts) -> list[Target]:
    """``gzip F`` replaces F by F.gz (nothing on disk with ``-c``, ``-t``, ``-l``)."""
    if o.has("-c", "-t", "-l", "--stdout", "--to-stdout", "--test", "--list"):
        return []
    return o.operands


def _second(o: Opts) -> list[Target]:
    return o.operands[1:2]


def _patch(o: Opts) -> list[Target]:
    if o.has("--dry-run", "-C"):
        return []
    ops = o.operands
    out = [*([] if o.get("-o") else (ops[:1] or [(".", False)])), *o.get("-o"), *o.get("-r")]
    for where, dyn in o.get("-d")[-1:]:  # ``-d DIR``: patch works in DIR
        out = [(posixpath.join(where, p), d or dyn) for p, d in out]
    return out


def _split(o: Opts) -> list[Target]:
    return [] if o.has("--filter") else (o.operands[1:2] or [("x", False)])


def _script(o: Opts) -> list[Target]:
    if o.operands:
        return o.operands[:1]
    return [] if o.has("-O", "-B", "-I") else [("typescript", False)]


def _mktemp(o: Opts) -> list[Target]:
    dirs = o.get("-p")
    if dirs or o.has("-t"):
        return dirs
    return o.operands[:1]


def _tar_options(argv: Sequence[str], dynamic: frozenset[str]) -> Opts:
    if len(argv) > 1 and argv[1] and not argv[1].startswith("-"):
        # old style: ``tar xzf A -C D`` → ``tar -x -z -f A -C D``
        letters, rest, new = argv[1], list(argv[2:]), [argv[0]]
        for c in letters:
            new.append("-" + c)
            if c in _TAR.short_values and rest:
                new.append(rest.pop(0))
        argv = [*new, *rest]
    return getopt(_TAR, argv, dynamic)


def _tar_reads(argv: Sequence[str], dynamic: frozenset[str]) -> list[Target]:
    """The members ``tar -c``/``-r``/``-u`` archives (under ``-C DIR``)."""
    o = _tar_options(argv, dynamic)
    if not o.has("-c", "-r", "-u"):
        return []
    where = o.get("-C")[-1:]
    if not where:
        return o.operands
    base, bdyn = where[0]
    return [(p if p.startswith("/") else posixpath.join(base, p), d or bdyn) for p, d in o.operands]


def _tar(argv: Sequence[str], dynamic: frozenset[str]) -> tuple[list[Target], list[Target]]:
    o = _tar_options(argv, dynamic)
    archives = o.get("-f")
    if o.has("-c", "-r", "-u", "-A", "--delete"):
        return [*archives, *o.get("-g", "--index-file")], o.get("-C", "-T", "-X")
    if not o.has("-x") or o.has("-O", "--to-command"):
        return [], [*archives, *o.get("-T", "-X")]
    out = o.get("-C", "--one-top-level") or [(".", False)]
    if o.has("-P", "--absolute-names"):
        out.append(("<absolute member names>", True))
    return [*out, *o.get("-g", "--index-file")], [*archives, *o.get("-T", "-X")]


_TAR = CATALOGUE.programs["tar"].options


def _unzip(argv: Sequence[str], dynamic: frozenset[str]) -> tuple[list[Target], list[Target]]:
    o = getopt(_UNZIP, argv, dynamic)
    if o.has("-l", "-t", "-v", "-Z", "-p", "-c", "-z"):
        return [], o.operands[:1]
    return o.get("-d") or [(".", False)], o.operands[:1]


_UNZIP = CATALOGUE.programs["unzip"].options


def _url_name(url: str) -> str:
    path = url.split("#", 1)[0].split("?", 1)[0]
    if "://" in path:
        path = path.split("://", 1)[1]
        path = path.split("/", 1)[1] if "/" in path else ""
    return posixpath.basename(path)


def _curl(argv: Sequence[str], dynamic: frozenset[str]) -> tuple[list[Target], list[Target]]:
    o = getopt(_CURL, argv, dynamic)
    where = o.get("--output-dir")[-1:]
    writes = [
        (posixpath.join(where[0][0], p), d or where[0][1]) if where else (p, d)
        for p, d in o.get("-o")
        if p != "-"
    ]
    writes += o.get(*_CURL_FILES.writes)
    if o.has("-O", "--remote-name-all"):
        for url, dyn in [*o.operands, *o.get("--url")]:
            if o.has("-J"):
                writes.append(where[0] if where else (".", False))
                break
            name = _url_name(url)
            if name:
                base, bdyn = where[0] if where else ("", False)
                writes.append((posixpath.join(base, name) if base else name, dyn or bdyn))
    reads = o.get(*_CURL_FILES.reads)
    for value, dyn in o.get("-d", "--data-binary", "--data-urlencode", "--json", "-F"):
        at = value.find("@")
        if at >= 0 and (at == 0 or value[at - 1] == "="):
            reads.append((value[at + 1 :].split(";", 1)[0], dyn))
        elif value.startswith("<") or "=<" in value:
            reads.append((value.split("<", 1)[1].split(";", 1)[0], dyn))
    return writes, reads


_CURL = CATALOGUE.programs["curl"].options
_CURL_FILES = CATALOGUE.programs["curl"].files or Files()


_WGETRC_WRITES = frozenset({"outputdocument", "dirprefix", "logfile", "savecookies", "warcfile"})


def _wget(argv: Sequence[str], dynamic: frozenset[str]) -> tuple[list[Target], list[Target]]:
    o = getopt(_WGET, argv, dynamic)
    writes = o.get(*_WGET_FILES.writes)
    for command, dyn in o.get("-e"):  # ``-e output_document=F`` (a wgetrc command)
        key, eq, value = command.partition("=")
        if eq and key.strip().lower().replace("_", "").replace("-", "") in _WGETRC_WRITES:
            writes.append((value.strip(), dyn))
    if not o.get("-O"):
        prefix, pdyn = (o.get("-P") or [(".", False)])[-1]
        writes.append((prefix, pdyn))
        for url, dyn in o.operands:
            writes.append((posixpath.join(prefix, _url_name(url) or "index.html"), dyn or pdyn))
    reads = o.get(*_WGET_FILES.reads)
    return writes, reads


_WGET = CATALOGUE.programs["wget"].options
_WGET_FILES = CATALOGUE.programs["wget"].files or Files()
_GIT = CATALOGUE.git


def _git_files(argv: Sequence[str], dynamic: frozenset[str]) -> tuple[list[Target], list[Target]]:
    """Files git writes by name: ``--output``, ``format-patch -o``, ``archive -o``,
    ``clone``/``init``/``worktree add`` directories, ``bundle create``, ``config -f``."""
    i, n = 1, len(argv)
    base, base_dyn = "", False
    reads: list[Target] = []
    while i < n and argv[i].startswith("-"):
        name, eq, value = argv[i].partition("=")
        dyn = argv[i] in dynamic
        if not eq and name in _GIT.global_options_taking_a_word and i + 1 < n:
            value, dyn = argv[i + 1], argv[i + 1] in dynamic
            i += 1
        if name == "-C":
            base, base_dyn = posixpath.join(base, value), base_dyn or dyn
            reads.append((base, base_dyn))
        elif name in ("--git-dir", "--work-tree"):
            reads.append((value, dyn))
        i += 1
    if i >= n:
        return [], reads
    sub, rest = argv[i], argv[i:]
    writes: list[Target] = []
    if sub not in _GIT.writers and not any(a.startswith(("-o", "--o")) for a in rest):
        return writes, reads  # ``git status``, ``git log -n 3``: nothing named is written
    if sub == "clone":
        o = getopt(_GIT.subcommand("clone").options, rest, dynamic)
        ops = o.operands
        if len(ops) > 1:
            writes.append(ops[1])
        elif ops:
            name = _url_name(ops[0][0].rstrip("/")).rsplit(":", 1)[-1]
            writes.append((name.removesuffix(".git") or ".", ops[0][1]))
        writes.extend(o.get("--separate-git-dir"))
    elif sub == "init":
        o = getopt(_GIT.subcommand("init").options, rest, dynamic)
        writes.extend([*o.operands[:1], *o.get("--separate-git-dir")])
    elif sub == "worktree" and len(rest) > 1 and rest[1] == "add":
        writes.extend(getopt(_GIT.subcommand("worktree").options, rest[1:], dynamic).operands[:1])
    elif sub == "bundle" and len(rest) > 2 and rest[1] == "create":
        writes.append((rest[2], rest[2] in dynamic))
    elif sub == "apply":
        o = getopt(_GIT.subcommand("apply").options, rest, dynamic)
        writes.extend(o.get("--directory"))
        if o.has("--unsafe-paths"):  # the patch's own paths, outside the work tree too
            writes.append(("<the paths the patch names>", True))
    elif sub == "config":
        o = getopt(_GIT.subcommand("config").options, rest, dynamic)
        listing = any(f.startswith("--get") for f in o.flags) or o.has("-l", "--list")
        (reads if listing or len(o.operands) < 2 else writes).extend(o.get("-f"))
    else:
        o = getopt(_GIT.subcommand("*").options, rest, dynamic)
        writes.extend(o.get("--output", "--output-directory"))
        if sub in ("format-patch", "archive"):
            writes.extend(o.get("-o"))
    if base:
        writes = [(posixpath.join(base, p), d or base_dyn) for p, d in writes]
    return writes, reads


def _words(
    writes: Sequence[str], reads: Sequence[str]
) -> Callable[[Sequence[str], frozenset[str]], tuple[list[Target], list[Target]]]:
    """Single-dash word options whose value is a file: ``find -fprint F``, ``openssl -out F``."""

    def rule(argv: Sequence[str], dynamic: frozenset[str]) -> tuple[list[Target], list[Target]]:
        out: tuple[list[Target], list[Target]] = ([], [])
        for i, a in enumerate(argv[:-1]):
            if a in writes or a in reads:
                out[0 if a in writes else 1].append((argv[i + 1], argv[i + 1] in dynamic))
        return out

    return rule


#: find's options before its starting points (``-D DEBUG``, ``-O3``, ``-H -L -P``).
_FIND_VALUED = frozenset({"-D"})


def find_roots(argv: Sequence[str], dynamic: frozenset[str]) -> list[Target]:
    """The starting points of ``find`` (``.`` when none is given)."""
    i = 1
    while (
        i < len(argv)
        and argv[i] in ("-H", "-L", "-P", "-D")
        or (i < len(argv) and argv[i].startswith("-O") and argv[i][2:].isdigit())
    ):
        i += 2 if argv[i] in _FIND_VALUED else 1
    roots: list[Target] = []
    for a in argv[i:]:
        if a.startswith(("-", "(", "!", ")", ",")) and a not in dynamic:
            break
        roots.append((a, a in dynamic))
    return roots or [(".", False)]


_FIND = CATALOGUE.programs["find"].files


def _find(argv: Sequence[str], dynamic: frozenset[str]) -> tuple[list[Target], list[Target]]:
    """``find ROOT… -fprint F``: F is written; ``-delete`` removes the roots' trees."""
    assert _FIND is not None  # noqa: S101 - the catalogue lists find's files
    writes, reads = _words(_FIND.writes, _FIND.reads)(argv, dynamic)
    if "-delete" in argv:
        writes = [*find_roots(argv, dynamic), *writes]
    return writes, reads


def _perl_like(argv: Sequence[str], dynamic: frozenset[str]) -> tuple[list[Target], list[Target]]:
    """``perl -i[.bak] [-e CODE] F…`` / ``ruby -i``: the files are rewritten."""
    inplace = code = False
    i, n = 1, len(argv)
    while i < n and argv[i].startswith("-") and argv[i] != "-":
        tok = argv[i]
        i += 1
        if tok == "--":
            break
        for j, c in enumerate(tok[1:], start=1):
            if c in "eE":
                code = True
                i += 0 if j + 1 < len(tok) else 1
                break
            if c == "i":
                inplace = True
                break
            if c in "IMmxdDCF" or (c in "l0" and tok[j + 1 : j + 2].isdigit()):
                break
    if not inplace:
        return [], []
    files = argv[i:] if code else argv[i + 1 :]
    return [(f, f in dynamic) for f in files], []


#: The ``files.operands`` rules of catalogue.toml (see there for what each means).
OPERAND_RULES: dict[str, OperandRule] = {
    "none": lambda o: [],
    "all": _all,
    "first": lambda o: o.operands[:1],
    "second": _second,
    "after_mode": _after_mode,
    "dest": _dest,
    "move": lambda o: [*o.operands, *o.get("-t")],  # the sources go away too
    "link": _link,
    "install": _install,
    "transfer": _transfer,
    "sed": _sed,
    "awk": _awk,
    "compress": _compress,
    "patch": _patch,
    "split": _split,
    "csplit": lambda o: [] if o.get("-f") else [("xx", False)],
    "script": _script,
    "mktemp": _mktemp,
    "dd": lambda o: [(v[3:], d) for v, d in o.operands if v.startswith("of=")],
    "chattr": lambda o: [t for t in o.operands if t[0][:1] not in "+-="],
}
#: socat address types whose parameter is a file (read and written: socat copies both
#: ways unless -u/-U); a colon-less address with a ``/`` is a file too (GOPEN).
_SOCAT_FILES = frozenset(
    {"open", "creat", "create", "gopen", "pipe", "file", "unix-connect", "unix-listen",
     "unix-sendto", "unix-recvfrom", "unix-recv", "unix-client", "unix"}
)  # fmt: skip


def _socat(argv: Sequence[str], dynamic: frozenset[str]) -> tuple[list[Target], list[Target]]:
    o = getopt(_SOCAT, argv, dynamic)
    files: list[Target] = list(o.get(*_SOCAT_FILES_OPTS.writes))
    for value, dyn in o.operands:
        head, colon, rest = value.partition(",")[0].partition(":")
        if colon and head.lower() in _SOCAT_FILES:
            files.append((rest, dyn))
        elif not colon and "/" in head:
            files.append((head, dyn))
        files.extend((v[5:], dyn) for v in value.split(",")[1:] if v.startswith("link="))
    return files, list(files)


_SOCAT = CATALOGUE.programs["socat"].options
_SOCAT_FILES_OPTS = CATALOGUE.programs["socat"].files or Files()

#: Programs whose arguments need their own reader.
PROGRAM_RULES: dict[str, FileRule] = {
    "perl": _perl_like,
    "tar": _tar,
    "unzip": _unzip,
    "curl": _curl,
    "wget": _wget,
    "git": _git_files,
    "find": _find,
    "socat": _socat,
}


def _nothing(argv: Sequence[str], dynamic: frozenset[str]) -> tuple[list[Target], list[Target]]:
    return [], []


def _file_rule(program: Program) -> FileRule:
    files = program.files
    assert files is not None  # noqa: S101 - only programs with a files entry come here
    if files.like is not None:
        return _file_rule(CATALOGUE.programs[files.like])
    if files.operands == "words":
        return _words(files.writes, files.reads)
    if files.operands in PROGRAM_RULES:
        return PROGRAM_RULES[files.operands]
    if files.operands == "none" and not files.writes and not files.reads:
        return _nothing  # a program listed only for the files it reads (cat)
    return _rule(program.options, files.writes, files.reads, OPERAND_RULES[files.operands])


#: Programs that name files they write (or read) in their arguments.
FILE_PROGRAMS: dict[str, FileRule] = {
    name: _file_rule(p) for name, p in CATALOGUE.with_role("files").items()
}


def file_targets(
    argv: Sequence[str], dynamic: frozenset[str] = frozenset()
) -> tuple[list[Target], list[Target]] | None:
    """The files ``argv`` writes and reads by name, or ``None`` for a program not listed.

    ``dynamic`` holds the words whose value is only known at run time.
    """
    rule = FILE_PROGRAMS.get(program_name(argv[0])) if argv else None
    if rule is None:
        return None
    writes, reads = rule(argv, dynamic)
    return [t for t in writes if t[0] and t[0] != "-"], [t for t in reads if t[0] and t[0] != "-"]


# -------------------------------------------------------------------- reading


def _read_entry(program: Program) -> tuple[OptionSyntax, Files] | None:
    files = program.files
    if files is not None and files.like is not None:
        return _read_entry(CATALOGUE.programs[files.like])
    if files is None or files.read_operands is None:
        return None
    return program.options, files


#: Programs whose catalogue entry says which operands they read.
READ_PROGRAMS: dict[str, tuple[OptionSyntax, Files]] = {
    name: entry
    for name, p in CATALOGUE.with_role("files").items()
    if (entry := _read_entry(p)) is not None
}
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


#: ``git grep`` options whose value is the next word.
_GIT_GREP_VALUES = frozenset(
    {"-e", "-f", "-A", "-B", "-C", "-m", "--max-count", "--max-depth", "--threads", "-O"}
)


def _git_reads(argv: Sequence[str]) -> list[Target] | None:
    """``git diff --no-index A B`` reads two paths of the filesystem, ``git grep PATTERN
    [--] [PATH…]`` the work tree under the paths (the whole tree without one);
    recursively."""
    i, n = 1, len(argv)
    while i < n and argv[i].startswith("-"):
        name = argv[i].partition("=")[0]
        if "=" not in argv[i] and name in _GIT.global_options_taking_a_word:
            i += 1
        i += 1
    rest = argv[i:]
    if rest and rest[0] == "grep":
        if "--" in rest:
            paths = rest[rest.index("--") + 1 :]
        else:  # the first operand is the pattern (unless -e/-f gave it)
            ops: list[str] = []
            given, skip = False, False
            for a in rest[1:]:
                if skip:
                    skip = False
                elif a in _GIT_GREP_VALUES:
                    skip, given = True, given or a in ("-e", "-f")
                elif a.startswith("-"):
                    given = given or a.startswith(("-e", "-f", "--file="))
                else:
                    ops.append(a)
            paths = ops if given else ops[1:]
        return [(p, False) for p in paths] or [(".", False)]
    if not rest or rest[0] != "diff" or "--no-index" not in rest:
        return None
    out: list[Target] = []
    end = False
    for a in rest[1:]:
        if end or not a.startswith("-") or a == "-":
            out.append((a, False))
        elif a == "--":
            end = True
    return out


def read_targets(
    argv: Sequence[str], dynamic: frozenset[str] = frozenset()
) -> tuple[list[Target], bool] | None:
    """The files ``argv`` reads by operand, and whether directories are read recursively.

    ``None`` for a program whose catalogue entry does not say (``read_operands``): the
    gate then treats every path-like word as a read. ``grep -r PATTERN`` and ``rg
    PATTERN`` without a path read the working directory.
    """
    prog = program_name(argv[0]) if argv else ""
    entry = READ_PROGRAMS.get(prog)
    if entry is None:
        return None
    spec, files = entry
    if files.read_operands == "git":
        found = _git_reads(argv)
        return None if found is None else ([(p, p in dynamic) for p, _ in found], True)
    if files.read_operands == "tar":
        # the members, and everything below a directory member (tar recurses by default)
        members = [t for t in _tar_reads(argv, dynamic) if t[0] and t[0] != "-"]
        return members, "--no-recursion" not in argv
    if files.read_operands == "find":
        return find_roots(argv, dynamic), "*" in files.recursive or any(
            a in files.recursive for a in argv
        )
    o = getopt(spec, argv, dynamic)
    recursive = "*" in files.recursive or o.has(*files.recursive)
    rule = files.read_operands
    ops: list[Target] = []
    if rule == "all":
        ops = o.operands
    elif rule == "first":
        ops = o.operands[:1]
    elif rule == "after_first":
        ops = o.operands[1:]
    elif rule == "sources":
        ops = o.operands if o.get("-t") else o.operands[:-1]
        ops = [t for t in ops if not _remote(t[0])]
    elif rule == "pattern":
        ops = o.operands if o.has(*files.pattern_options) else o.operands[1:]
        if prog in CATALOGUE.awks:
            ops = [t for t in ops if not _ASSIGNMENT.match(t[0])]
        if recursive and not ops:
            ops = [(".", False)]
    return [t for t in ops if t[0] and t[0] != "-"], recursive


def _write_entry(program: Program) -> tuple[OptionSyntax, tuple[str, ...]] | None:
    files = program.files
    if files is not None and files.like is not None:
        return _write_entry(CATALOGUE.programs[files.like])
    if files is None or not files.recursive_writes:
        return None
    return program.options, files.recursive_writes


#: Programs that can write everything below a directory operand, and the options that
#: make them do it.
_BELOW_WRITERS: dict[str, tuple[OptionSyntax, tuple[str, ...]]] = {
    name: below
    for name, p in CATALOGUE.with_role("files").items()
    if (below := _write_entry(p)) is not None
}


def writes_below(argv: Sequence[str], dynamic: frozenset[str] = frozenset()) -> bool:
    """Whether ``argv`` writes (deletes, re-modes) everything below the directories it
    writes (``rm -r``, ``chmod -R``, ``find -delete``: the catalogue's
    ``recursive_writes``)."""
    prog = program_name(argv[0]) if argv else ""
    entry = _BELOW_WRITERS.get(prog)
    if entry is None:
        return False
    spec, options = entry
    if "*" in options:
        return True
    if prog in CATALOGUE.option_words:  # ``find -delete``: a word, not a letter cluster
        return any(a in options for a in argv[1:])
    return getopt(spec, argv, dynamic).has(*options)


# ------------------------------------------------------------- resolving paths

#: Links the kernel follows before it gives up (``ELOOP``).
_MAX_LINKS = 40
_SELF = re.compile(r"/proc/self(?:/task/[0-9]+)?")
_SELF_FD = re.compile(r"/proc/self(?:/task/[0-9]+)?/fd")
_PROC_LINKS = frozenset({"root", "cwd", "exe", "fd", "fdinfo", "map_files"})
_PROC_PID = re.compile(r"/proc/[0-9]+(?:/task/[0-9]+)?")
#: What a path through ``/proc/self/fd/N`` means for N = 0, 1, 2: not a file.
NOT_A_FILE = "/dev/null"


def expand_tilde(path: str, cwd: str) -> str | None:
    """Bash's tilde expansion of a path's first word (``None``: only known at run time).

    ``~`` and ``~/x`` are the home directory, ``~+`` and ``~0`` the working directory,
    ``~user`` that user's home (unchanged when there is no such user, as bash does);
    ``~-`` (``$OLDPWD``) and ``~N``/``~-N`` (the directory stack) are not known here.
    """
    if not path.startswith("~"):
        return path
    head, slash, rest = path.partition("/")
    name = head[1:]
    home = os.environ.get("HOME") if not name else None
    if home is not None:  # what os.path.expanduser("~") gives, without its detours
        base = home.rstrip("/") or "/"
    elif name in ("+", "0", "+0"):
        base = cwd
    elif name == "-" or re.fullmatch(r"[+-]?[0-9]+", name):
        return None
    else:
        base = os.path.expanduser(head)
        if base == head:
            return path  # no such user: bash keeps the word as written
    return base + slash + rest if rest or slash else base


def resolve(path: str, cwd: str, *, real_base: bool = False) -> str | None:
    """The file an absolute or relative ``path`` names, as the kernel would find it now.

    Every component is looked up in order: ``.`` and ``//`` vanish, symbolic links
    are followed wherever they are (a ``..`` after a link climbs from its target),
    ``/proc/self/root`` is ``/``, ``/proc/self/cwd`` is ``cwd``, ``/proc/self/fd/0-2``
    are not files (:data:`NOT_A_FILE`). A component that does not exist (or cannot be
    looked at) ends the lookup: the rest is taken as written. ``None`` when the
    answer depends on another process or on more links than the kernel follows.
    ``real_base``: ``cwd`` is already a resolved path (it is not looked up again).
    """
    return resolve_found(path, cwd, real_base=real_base)[0]


#: What one lookup found (see :func:`lookup`): no such entry, an entry that is not a
#: symbolic link, or (any other string) the target of a link.
MISSING: None = None
NOT_A_LINK = ""
#: A link whose target could not be read.
_UNREADABLE = "\x00"
#: The key prefix under which a decision's lookups are kept (see :func:`lookup`).
LOOKUP_KEY = "\x00lookup\x00"


def lookup(entry: str, seen: dict[str, str | None] | None = None) -> str | None:
    """What the filesystem has at the absolute path ``entry`` now, without following a
    link there: :data:`MISSING`, :data:`NOT_A_LINK`, or the link's target (``"\x00"``:
    a link whose target cannot be read).

    ``seen`` is the memo of one decision (the gate makes a new one for every action):
    each entry is looked at once however many paths of that decision pass through it,
    as the decision already reads each path once. It never outlives the decision, so
    a link swapped between two decisions is seen by the second.
    """
    key = LOOKUP_KEY + entry
    if seen is not None and key in seen:
        return seen[key]
    try:
        st = os.lstat(entry)
    except OSError:
        found: str | None = MISSING
    else:
        found = NOT_A_LINK
        if stat.S_ISLNK(st.st_mode):
            try:
                found = os.readlink(entry) or _UNREADABLE
            except OSError:
                found = _UNREADABLE
    if seen is not None:
        seen[key] = found
    return found


def _proc_entry(out: str, c: str) -> bool:
    """Whether the component ``c`` after ``out`` is one :func:`resolve_found` treats
    apart: ``/proc/self`` (and ``thread-self``), the shell's own ``/proc/self/…``
    entries, another process's links into the filesystem."""
    return (
        (out == "/proc" and c in ("self", "thread-self"))
        or out == "/proc/self"
        or out.startswith("/proc/self/")
        or (c in _PROC_LINKS and _PROC_PID.fullmatch(out) is not None)
    )


#: Not looked up yet in this decision (see :func:`lookup`).
_UNSEEN = "\x00unseen"


def resolve_found(
    path: str,
    cwd: str,
    *,
    real_base: bool = False,
    base_found: bool = True,
    seen: dict[str, str | None] | None = None,
) -> tuple[str | None, bool]:
    """:func:`resolve`, and whether every component exists (``base_found``: whether
    the already resolved ``cwd`` does); ``seen``: the deciding action's lookups
    (:func:`lookup`)."""
    if real_base and not path.startswith("/"):
        # ``cwd`` is already resolved: only the relative components are looked up
        todo = [c for c in reversed(path.split("/")) if c]
        out = cwd.rstrip("/")
    else:
        start = path if path.startswith("/") else cwd.rstrip("/") + "/" + path
        todo = [c for c in reversed(start.split("/")) if c]
        out = ""
    links = 0
    # every component so far exists: links are still followed
    found = base_found or not real_base or path.startswith("/")
    while todo:
        c = todo.pop()
        if c == ".":
            continue
        if c == "..":
            out = out.rpartition("/")[0]
            continue
        if out.startswith("/proc") and _proc_entry(out, c):
            if c in _PROC_LINKS and _PROC_PID.fullmatch(out):
                return None, False  # another process's view of the filesystem: not known here
            if out == "/proc":  # ``self``, ``thread-self``
                out = "/proc/self"
                continue
            # the shell's own entries, never the gate's: taken as written, except
            # the links that lead back into the filesystem
            self_dir = _SELF.fullmatch(out) is not None
            if self_dir and c == "root":
                out = ""
            elif self_dir and c == "cwd":
                here = resolve_found(cwd, "/", seen=seen)[0]
                if here is None:
                    return None, False
                out = here.rstrip("/")
            elif self_dir and c in ("exe", "map_files"):
                return None, False
            elif _SELF_FD.fullmatch(out):
                # ``/dev/fd/1`` is the shell's stdout; another descriptor is unknown
                return (NOT_A_FILE, True) if c in ("0", "1", "2") and not todo else (None, False)
            else:
                out += "/" + c
            continue
        nxt = out + "/" + c
        if found:
            target = seen.get(LOOKUP_KEY + nxt, _UNSEEN) if seen is not None else _UNSEEN
            if target is _UNSEEN:
                target = lookup(nxt, seen)
            if target is MISSING:
                found = False
            elif target:  # a link
                links += 1
                if links > _MAX_LINKS or target == _UNREADABLE:
                    return None, False
                if target.startswith("/"):
                    out = ""
                todo.extend(reversed([t for t in target.split("/") if t]))
                continue
        out = nxt
    return out or "/", found


#: A glob that names more files than this is not expanded (ask).
MAX_GLOB_MATCHES = 4096


def expand_glob(pattern: str, cwd: str) -> list[str] | None:
    """The existing files a glob names now, as bash would expand it from ``cwd``.

    Bash's defaults: ``*`` and ``?`` do not match a leading dot unless the pattern's
    name starts with one, ``**`` is ``*``, ``[!x]`` and ``[^x]`` negate. ``None`` when
    the answer is not known here: a POSIX class (``[[:alpha:]]``), ``~-``, or more
    than :data:`MAX_GLOB_MATCHES` files.
    """
    if "[[:" in pattern or "[[=" in pattern or "[[." in pattern:
        return None
    expanded = expand_tilde(pattern, cwd)
    if expanded is None:
        return None
    expanded = expanded.replace("[^", "[!")
    absolute = expanded.startswith("/")
    out: list[str] = []
    for match in glob.iglob(expanded, root_dir=None if absolute else cwd):
        out.append(match if absolute else posixpath.join(cwd, match))
        if len(out) > MAX_GLOB_MATCHES:
            return None
    return out


__all__ = [
    "FILE_PROGRAMS",
    "MAX_GLOB_MATCHES",
    "NOT_A_FILE",
    "OPERAND_RULES",
    "PROGRAM_RULES",
    "READ_PROGRAMS",
    "FileRule",
    "Opts",
    "Target",
    "expand_glob",
    "expand_tilde",
    "file_targets",
    "getopt",
    "read_targets",
    "resolve",
    "resolve_found",
    "find_roots",
    "lookup",
    "writes_below",
]
