"""Code a program runs besides its argv: git settings and aliases, sed ``e``, awk
``system()``, interpreter ``-c``/``-e`` code, options whose value is a command.

Each finding is a :class:`~charter.actions.command.Nested` string that the shell
parser parses and decides like any other command (or asks about, when it cannot be
seen). Which options do this comes from the program catalogue.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence

from charter.actions.catalogue import CATALOGUE, Unseen
from charter.actions.command import Nested


def option_values(argv: Sequence[str], names: Iterable[str]) -> list[tuple[str, str]]:
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
                if (head == name or len(head) >= 5 and name.startswith(head)) and head.startswith(
                    "--"
                ):
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


_GIT = CATALOGUE.git
_GIT_EXEC_KEY = _GIT.runs_settings
_GIT_ASK_KEY = _GIT.ask_settings
#: ``remote.NAME.push=+REFSPEC`` and ``remote.NAME.mirror``: ``git push`` force-updates.
_FORCED_PUSH = re.compile(r"remote\..+\.(push|mirror)$")
_FALSE = frozenset({"false", "no", "off", "0"})
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


def git_runs(argv: Sequence[str]) -> tuple[list[tuple[str, ...]], list[Nested]]:
    """What ``git`` runs besides itself: settings, aliases and command options.

    A bare ``--exec-path``/``--list-cmds`` is read both with and without a value
    (git itself runs nothing then); everything either reading finds is returned.
    """
    forms, nested = _git_runs(argv, _GIT.global_options_taking_a_word)
    if any(a in _GIT.global_attached_options for a in argv):
        more_forms, more = _git_runs(argv, _GIT.global_value_options)
        forms += [f for f in more_forms if f not in forms]
        nested += [n for n in more if n not in nested]
    return forms, nested


def _git_runs(
    argv: Sequence[str], valued: frozenset[str]
) -> tuple[list[tuple[str, ...]], list[Nested]]:
    nested: list[Nested] = []
    aliases: dict[str, str] = {}
    i = _git_globals(argv, nested, aliases, valued)
    if i >= len(argv):
        return [], nested
    sub, rest = argv[i].lower(), list(argv[i + 1 :])  # git folds the case of names
    forms: list[tuple[str, ...]] = []
    if sub == "push" and "\x00force" in aliases:  # a ``+`` refspec or mirror setting
        forms.append(("git", "push", "--force", *rest))
    if sub in aliases and not aliases[sub].startswith("!"):
        try:
            forms.append(("git", *shlex.split(aliases[sub]), *rest))
        except ValueError:
            nested.append(Nested(f"git alias {sub}", None))
    elif sub in aliases:
        nested.append(
            Nested(f"git alias {sub}", " ".join([aliases[sub][1:], *map(shlex.quote, rest)]))
        )
    if sub == "bisect" and rest[:1] == ["run"] and len(rest) > 1:
        forms.append(tuple(rest[1:]))
    nested.extend(_git_subcommand(sub, rest))
    return forms, nested


def _git_globals(
    argv: Sequence[str], nested: list[Nested], aliases: dict[str, str], valued: frozenset[str]
) -> int:
    """Read git's global options (``-c KEY=VALUE`` settings, aliases); the sub-command's index."""
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
        elif a == "--git-dir" or a.startswith("--git-dir="):
            # the hooks and settings of a repository an agent may have written under any
            # name (its ``hooks/``, its ``config``), not the ``.git`` the gate guards
            nested.append(Nested("git --git-dir", None))
            i += 1 if "=" in a else 2
            continue
        elif a in valued:
            i += 2
            continue
        elif a.startswith("-"):
            i += 1
            continue
        else:
            break
        key, _, value = kv.partition("=")
        lower = key.lower()
        if lower.startswith("alias.") and value:
            aliases[lower[6:]] = value
        elif _FORCED_PUSH.match(lower) and (
            value.startswith("+") if lower.endswith("push") else value.lower() not in _FALSE
        ):
            aliases["\x00force"] = value
        found = _git_setting(key, value, "-c")
        if found is not None:
            nested.append(found)
    return i


def _git_config(rest: Sequence[str]) -> list[Nested]:
    """``git config KEY VALUE`` (or ``config set``) of a setting git runs."""
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
    key = ops[0].lower() if ops else ""
    if (
        len(ops) >= 2
        and not ops[1].startswith("!")
        and (key.startswith("alias.") or _FORCED_PUSH.match(key))
    ):
        # what a later ``git NAME`` or ``git push`` runs: not visible to this decision
        return [Nested(f"git config {ops[0]}", None, True)]
    found = _git_setting(ops[0], ops[1], "config") if len(ops) >= 2 else None
    return [] if found is None else [found._replace(ask=True)]


def _git_grep(rest: Sequence[str]) -> list[Nested]:
    """``git grep -O[PAGER]``/``--open-files-in-pager[=PAGER]`` runs a pager."""
    out: list[Nested] = []
    for t in rest:
        if t.startswith("--open-files-in-pager"):
            _, eq, value = t.partition("=")
            out.append(Nested("git grep -O", value if eq and value else None, True))
        elif t.startswith("-") and not t.startswith("--") and "O" in t:
            value = t[t.index("O") + 1 :]
            out.append(Nested("git grep -O", value or None, True))
    return out


def _git_named_options(sub: str, rest: Sequence[str]) -> list[Nested]:
    """``filter-branch --…-filter``/``--setup`` and ``send-email --…-cmd``: commands."""
    out: list[Nested] = []
    for t in rest:
        head = t.split("=", 1)[0]
        if sub == "filter-branch" and (head.endswith("-filter") or head == "--setup"):
            vals = option_values(["git", *rest], (head,))
            return [Nested(f"git filter-branch {head}", v) for _o, v in vals]
        if sub == "send-email" and t.startswith("--") and head.endswith("-cmd"):
            vals = option_values(["git", *rest], (head,))
            out.extend(Nested(f"git send-email {o}", v, True) for o, v in vals)
    return out


def _git_subcommand(sub: str, rest: Sequence[str]) -> list[Nested]:
    """The code a git sub-command runs through its options."""
    if sub == "config":
        return _git_config(rest)
    if sub == "grep":
        return _git_grep(rest)
    if sub == "submodule" and "foreach" in rest:
        skip = ("--recursive", "-q", "--quiet")
        body = [t for t in rest[rest.index("foreach") + 1 :] if t not in skip]
        return [Nested("git submodule foreach", " ".join(body))] if body else []
    if sub in ("filter-branch", "send-email"):
        return _git_named_options(sub, rest)
    runs = _GIT.subcommands[sub].runs_options if sub in _GIT.subcommands else ()
    found = option_values(["git", *rest], runs) if runs else []
    if sub == "rebase":
        return [Nested("git rebase --exec", v) for _o, v in found]
    if sub == "difftool":
        return [Nested("git difftool --extcmd", v) for _o, v in found]
    return [Nested(f"git {sub} {o}", v, True) for o, v in found]


def sed_scripts(argv: Sequence[str]) -> tuple[list[str], bool]:
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


def sed_exec(script: str) -> tuple[list[str | None], bool]:
    """Commands a sed program runs (``e cmd``, ``s///e``) and whether it writes files.

    ``None`` stands for a command that is not visible (``e`` alone, ``s///e``, or a
    program this scanner cannot follow).
    """
    scan = _SedScan(script)
    try:
        while scan.i < scan.n:
            scan.step()
    except _Unreadable:
        return [None], scan.writes
    return scan.runs, scan.writes


class _Unreadable(Exception):
    """The sed program goes where this scanner cannot follow."""


class _SedScan:
    """A left-to-right scan of a sed program for ``e`` commands and ``w`` files."""

    def __init__(self, script: str) -> None:
        self.s, self.n, self.i = script, len(script), 0
        self.runs: list[str | None] = []
        self.writes = False

    def to_line_end(self) -> None:
        while self.i < self.n and self.s[self.i] != "\n":
            self.i += 1

    def delimited(self, k: int, delim: str) -> int:
        """The index after the closing ``delim`` from ``k`` (no newline inside)."""
        s, n = self.s, self.n
        while k < n and s[k] != delim:
            if s[k] == "\\":
                k += 1
            elif s[k] == "\n":
                raise _Unreadable
            k += 1
        if k >= n:
            raise _Unreadable
        return k + 1

    def step(self) -> None:
        c = self.s[self.i]
        if c in " \t\n;}{!":
            self.i += 1
        elif c == "#":
            self.to_line_end()
        elif c.isdigit() or c in "$/\\,+~":
            self.address(c)
        else:
            self.i += 1
            self.command(c)

    def address(self, c: str) -> None:
        if c == "/":
            self.i = self.delimited(self.i + 1, "/")
        elif c == "\\" and self.i + 1 < self.n:
            self.i = self.delimited(self.i + 2, self.s[self.i + 1])
        else:
            self.i += 1
        while self.i < self.n and self.s[self.i] in "IM":
            self.i += 1

    def command(self, c: str) -> None:
        s, n = self.s, self.n
        if c in "aic":
            while self.i < n and s[self.i] != "\n":
                if s[self.i] == "\\" and self.i + 1 < n:
                    self.i += 1
                self.i += 1
        elif c in "rRwW":
            self.writes = self.writes or c in "wW"
            self.to_line_end()
        elif c == "e":
            start = self.i
            self.to_line_end()
            self.runs.append(s[start : self.i].strip() or None)
        elif c in "sy":
            self.substitute(c)
        elif c in ":bTtvlLqQ":
            stop = "\n" if c == ":" else ";\n}"
            while self.i < n and s[self.i] not in stop:
                self.i += 1
        elif c not in "=dDgGhHnNpPxzF":
            raise _Unreadable

    def substitute(self, c: str) -> None:
        """``s/RE/TEXT/FLAGS`` (``e`` runs, ``w FILE`` writes) and ``y/A/B/``."""
        s, n = self.s, self.n
        if self.i >= n:
            raise _Unreadable
        delim = s[self.i]
        self.i = self.delimited(self.delimited(self.i + 1, delim), delim)
        if c != "s":
            return
        while self.i < n and s[self.i] not in ";\n}":
            if s[self.i] == "e":
                self.runs.append(None)
            elif s[self.i] in "wW":
                self.writes = True
                self.to_line_end()
                return
            self.i += 1


def sed_runs(argv: Sequence[str]) -> list[Nested]:
    scripts, from_file = sed_scripts(argv)
    out: list[Nested] = []
    if from_file:
        out.append(Nested("sed -f", None))
    runs, writes = sed_exec("\n".join(scripts))
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


def awk_runs(argv: Sequence[str], prog: str) -> list[Nested]:
    programs: list[str] = []
    out: list[Nested] = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if (
            a in ("-f", "--file", "-i", "--include", "-E", "--exec", "-l", "--load")
            or a.startswith(("--file=", "--include=", "--exec=", "--load="))
            or (a.startswith(("-f", "-i", "-E", "-l")) and len(a) > 2 and not a.startswith("--"))
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
        if "@load" in text or "@include" in text:  # gawk: a library or another program
            out.append(Nested(f"{prog} @load", None))
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


def interpreter_options(prog: str) -> tuple[str, ...] | None:
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


def interpreter_runs(argv: Sequence[str], prog: str) -> list[Nested]:
    flags = interpreter_options(prog) or ()
    codes: list[str] = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in flags:
            if i + 1 < len(argv):
                codes.append(argv[i + 1])
            i += 2
            continue
        if a.startswith("--") and a.split("=", 1)[0] in flags:  # ``--eval=CODE``
            codes.append(a.split("=", 1)[1])
            i += 1
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


def option_runs(argv: Sequence[str], prog: str) -> list[Nested]:
    out: list[Nested] = []
    if prog in ("less", "more"):
        for a in argv[1:]:
            if a.startswith("+") and not _SAFE_LESS.match(a[1:].lstrip("+")):
                cmd = a[1:].lstrip("+")
                out.append(Nested(f"{prog} +", cmd[1:] if cmd.startswith("!") else None, True))
        return out
    for name, value in option_values(argv, EXEC_OPTIONS[prog]):
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
    if prog == "mypy" and any(a.startswith("@") for a in argv[1:]):
        # argparse reads more arguments from ``@FILE`` (a --python-executable it runs)
        out.append(Nested("mypy @FILE", None))
    return out


#: A package operand that is a file or a URL, not a name from a repository (a path
#: spelled as one, a URL, or a package file's extension; ``pkg/suite`` is apt's
#: name-and-release).
_PACKAGE_FILE = re.compile(
    r"(^(\.{0,2}/|~)|://|\.(deb|rpm|txz|tgz|tbz|pkg|snap|apk|ipk|xbps|gem|whl|egg|nupkg|vsix|"
    r"pkg\.tar\.\w+|tar\.\w+)$)",
    re.IGNORECASE,
)


def _unseen_option(word: str, options: frozenset[str], values: str) -> bool:
    """``word`` spells one of ``options``: whole, ``--opt=VALUE``, a short one with its
    value attached (``-R0``), or a letter of a cluster before any letter that takes a
    value (``-i`` in ``-ivh`` and ``-vih``; not the ``p`` in the value of ``-eopen``)."""
    if word in options:
        return True
    if word.startswith("--"):
        return word.split("=", 1)[0] in options
    if any(not o.startswith("--") and word.startswith(o) for o in options):
        return True
    for letter in word[1:]:
        if not letter.isalpha():
            return False
        if f"-{letter}" in options:
            return True
        if letter in values:
            return False
    return False


#: program → its options that take a value, for the programs with an ``unseen`` entry
_UNSEEN_VALUES = {
    name: p.options.value_options() for name, p in CATALOGUE.programs.items() if p.unseen
}


def _operands(argv: Sequence[str], values: frozenset[str]) -> tuple[list[str], list[str]]:
    """The option words and the operands of ``argv`` (options anywhere, GNU style)."""
    options: list[str] = []
    operands: list[str] = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--":
            operands.extend(argv[i + 1 :])
            break
        if a.startswith("-") and a != "-":
            options.append(a)
            if a in values:
                i += 1
        else:
            operands.append(a)
        i += 1
    return options, operands


def _package_file(operands: Sequence[str], subcommands: frozenset[str]) -> str | None:
    """A package file or URL after an install sub-command. The sub-command is looked
    for among all the operands: a long option's separate value (``--enablerepo x``) is
    read as an operand by the generic scan, and must not hide the sub-command."""
    at = next((i for i, o in enumerate(operands) if o in subcommands), None)
    if at is None:
        return None
    return next((o for o in operands[at + 1 :] if _PACKAGE_FILE.search(o)), None)


def unseen_runs(prog: str, argv: Sequence[str]) -> list[Nested]:
    """Code ``argv`` runs that the command line does not show (catalogue ``unseen``):
    a local package's scripts, a shell or editor it opens, a process it attaches to."""
    program = CATALOGUE.programs.get(prog)
    unseen: Unseen | None = None if program is None else program.unseen
    if unseen is None or program is None:
        return []
    options, operands = _operands(argv, _UNSEEN_VALUES[prog])
    short = program.options.short_values
    first = operands[0] if operands else None
    hit = (
        next((o for o in options if _unseen_option(o, unseen.options, short)), None)
        or (first if first in unseen.subcommands else None)
        or _package_file(operands, unseen.file_subcommands)
        or (
            prog
            if unseen.bare and not operands and not any(o in unseen.stops for o in options)
            else None
        )
        or (first if unseen.operands else None)
        or (next((o for o in operands if "=" in o), None) if unseen.assignments else None)
    )
    if hit is None:
        return []
    return [Nested(f"{prog} {hit}: {unseen.why}", None)]


def code_runs(prog: str, argv: Sequence[str]) -> list[Nested]:
    """The code ``argv`` runs through awk, sed, an interpreter or an option (in that order)."""
    if prog in AWKS:
        return awk_runs(argv, prog)
    if prog == "sed":
        return sed_runs(argv)
    if interpreter_options(prog) is not None:
        return interpreter_runs(argv, prog)
    if prog in EXEC_OPTIONS:
        return option_runs(argv, prog)
    if prog == "socat":
        return socat_runs(argv)
    return []


_SOCAT_RUNS = re.compile(r"^(exec|system):(.*)$", re.IGNORECASE | re.DOTALL)


def socat_runs(argv: Sequence[str]) -> list[Nested]:
    """socat's ``EXEC:CMD`` and ``SYSTEM:CMD`` addresses run CMD (decided, and asks)."""
    out: list[Nested] = []
    for a in argv[1:]:
        m = _SOCAT_RUNS.match(a)
        if m:
            out.append(Nested(f"socat {m[1]}:", m[2].split(",", 1)[0] or None, True))
    return out


__all__ = [
    "AWKS",
    "code_runs",
    "EXEC_OPTIONS",
    "INTERPRETERS",
    "awk_runs",
    "embedded_commands",
    "git_runs",
    "interpreter_options",
    "interpreter_runs",
    "option_runs",
    "option_values",
    "sed_exec",
    "sed_runs",
    "unseen_runs",
]
