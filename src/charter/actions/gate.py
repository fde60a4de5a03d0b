"""The action gate: decide a command, file write or file read before it happens.

Data flows one way: a verified :class:`~charter.actions.constitution.Constitution` is
compiled once into a :class:`Gate`; each action is parsed (:mod:`charter.actions.shell`),
matched (:mod:`charter.actions.patterns`), checked against directories, limits, roles
and the budget, and returned. What programs do with their options (which write files,
run code, …) comes from the program catalogue (:mod:`charter.actions.catalogue`). The
gate records nothing: its callers record the :class:`~charter.core.decision.Decision`
in the audit log (and protect the log's files with :func:`audit_files`).

The verdict is the maximum over everything that contributed (docs/design.md, 'Action
gate'): per simple command ``forbidden`` → deny, ``requires_approval`` → ask,
``auto_allowed`` → allow, anything else → ask; whatever cannot be resolved statically is
at least ask; an error while deciding is deny.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import posixpath
import re
import shlex
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from charter.actions import shell, tools
from charter.actions.catalogue import CATALOGUE
from charter.actions.command import (
    RUNTIME_PID,
    RUNTIME_PWD,
    SHELLS,
    Script,
    SimpleCommand,
    Word,
    program_name,
)
from charter.actions.constitution import Constitution, ModelPermission
from charter.actions.embedded import interpreter_options
from charter.actions.files import (
    FILE_PROGRAMS,
    MAX_GLOB_MATCHES,
    READ_PROGRAMS,
    Target,
    expand_glob,
    expand_tilde,
    file_targets,
    read_targets,
    resolve_found,
    writes_below,
)
from charter.actions.layers import (
    Accept,
    LayerFile,
    accept_versions,
    compose,
    read_layers,
    version_accepts,
)
from charter.actions.patterns import (
    YES,
    CommandMatch,
    PatternSet,
    normalise_path,
)
from charter.actions.wrappers import CHDIR_OPTIONS, wrapper_chdir
from charter.core.decision import Decision, Reason, input_digest
from charter.core.digests import sha256_bytes
from charter.core.errors import CharterError, InputError, TrustError
from charter.core.memo import bytes_lru, text_weight
from charter.core.verdict import Verdict, strictest
from charter.trust.versions import VersionState

if TYPE_CHECKING:  # loaded only by callers that pass a trust policy
    from charter.trust.policy import TrustPolicy

GATE_DEFAULT_ASK = "CHARTER-GATE-DEFAULT-ASK"
GATE_UNRESOLVED = "CHARTER-GATE-UNRESOLVED"
GATE_PROTECTED = "CHARTER-GATE-PROTECTED-FILE"
GATE_ERROR = "CHARTER-GATE-ERROR"
GATE_INTEGRITY = "CHARTER-INTEGRITY-LOST"
GATE_ROLE = "CHARTER-GATE-UNKNOWN-ROLE"
GATE_BUDGET = "CHARTER-GATE-BUDGET-SPENT"
GATE_PROGRAM_PATH = "CHARTER-GATE-PROGRAM-PATH"
GATE_CONFIG = "CHARTER-GATE-CONFIGURES"
GATE_NETWORK = "CHARTER-GATE-NETWORK"
#: Programs that connect to a host their arguments name (catalogue ``network_clients``).
NETWORK_CLIENTS = CATALOGUE.network_clients
NETWORK_WHEN_REMOTE = CATALOGUE.network_when_remote
#: An operand naming a remote: ``HOST:PATH``, ``USER@HOST:PATH``, ``rsync://…``.
_REMOTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|[^/:=\s-][^/:=\s]*:)")

#: The reasons a file read by name can have (the allowed directories are for writes).
_READ_RULES = frozenset({"resource_limits.blocked_directories", "CHARTER-GATE-SECRET-FILE",
                         "CHARTER-GATE-PROTECTED-FILE", "CHARTER-GATE-UNRESOLVED"})  # fmt: skip

#: Whether a word has glob characters (``*``, ``?``, ``[``).
_has_glob = re.compile(r"[*?\[]").search

#: The catalogue's configuration files, as tuples of trailing path components, compared
#: without case: on a case-insensitive file system (macOS, Windows) ``.GIT/hooks/x`` is
#: ``.git/hooks/x`` (on Linux asking about it is only stricter).
_CONFIGURES = tuple(tuple(rule.casefold().split("/")) for rule in CATALOGUE.configures)
_CONFIG_NAMES = frozenset(rule[-1] for rule in _CONFIGURES if not _has_glob(rule[-1]))
_CONFIG_GLOBS = tuple(rule for rule in _CONFIGURES if _has_glob(rule[-1]))


def _configures(path: str) -> bool:
    """Whether ``path`` is a file the catalogue lists under ``[files] configures`` (in any
    case)."""
    parts = path.casefold().split("/")
    rules = _CONFIGURES if parts[-1] in _CONFIG_NAMES else _CONFIG_GLOBS
    return any(
        len(parts) > len(rule)
        and all(fnmatch.fnmatchcase(c, g) for c, g in zip(parts[-len(rule) :], rule, strict=True))
        for rule in rules
    )


#: ``/dev/fd/N``, ``/proc/self/fd/N``: a descriptor the shell already holds, not a file.
_DESCRIPTOR = re.compile(r"/dev/fd/[0-9]+|/proc/self/fd/[0-9]+")


def _agent_descriptor(path: str, what: str) -> list[Reason]:
    """A file tool's ``/dev/fd/N`` or ``/proc/self/fd/N`` past the standard three: in a
    shell command it is a descriptor the shell holds (a redirection's), but a file tool
    runs in the agent's own process, whose descriptor N may be any file it has open."""
    if _DESCRIPTOR.fullmatch(path) is None or int(path.rsplit("/", 1)[1]) <= 2:
        return []
    return [
        _reason(
            GATE_UNRESOLVED,
            "high",
            Verdict.ASK,
            f"{what} {path!r}: a descriptor of the agent's own process, whose file is not "
            "known before it runs",
        )
    ]


#: Device files that are never treated as file writes or reads.
HARMLESS_DEVICES = frozenset(
    {"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/stdin", "/dev/tty", "/dev/zero"}
)


class UnverifiedConstitution(CharterError):
    """The constitution did not verify; nothing is evaluated (exit 2)."""


class Guard(Protocol):
    """What the gate needs from the integrity watchdog (charter.trust.watchdog.Watchdog)."""

    def guard(self) -> None: ...


class BudgetView(Protocol):
    """What the gate needs from the budget store (charter.actions.budget.Budget)."""

    def spent_today(self) -> float: ...

    def spent_run(self, run_id: str | None = None) -> float: ...


def audit_files(location: str) -> tuple[str, ...]:
    """The files of the audit log at ``location``: protect them with ``GateConfig``.

    A SQLite log is its database file and the ``-wal``/``-shm``/``-journal`` files next
    to it; a PostgreSQL URL names no local file.
    """
    if location.startswith(("postgres://", "postgresql://")):
        return ()
    return tuple(location + suffix for suffix in ("", "-wal", "-shm", "-journal"))


@dataclass(frozen=True)
class GateConfig:
    """Where the gate's own files live: they are never writable by an agent.

    ``secret_paths`` are files and directories whose reads (and writes) ask: by
    default :data:`DEFAULT_SECRETS`. The private key next to a protected public key
    (``signing.pub`` → ``signing.key``) and ``~/.charter/keys`` are never read.
    """

    protected_paths: tuple[str, ...] = ()
    source: str = "gate"
    run_id: str | None = None
    secret_paths: tuple[str, ...] | None = None


#: Credentials an agent has no business reading: a read (or write) asks.
DEFAULT_SECRETS = (
    "~/.ssh", "~/.gnupg", "~/.aws/credentials", "~/.aws/sso/cache", "~/.config/gcloud",
    "~/.azure", "~/.kube/config", "~/.docker/config.json", "~/.netrc", "~/.npmrc",
    "~/.yarnrc.yml", "~/.pypirc", "~/.git-credentials", "~/.config/gh/hosts.yml",
    "~/.config/hub", "~/.cargo/credentials", "~/.cargo/credentials.toml", "~/.gem/credentials",
    "~/.vault-token", "~/.terraform.d/credentials.tfrc.json", "~/.password-store",
    "~/.local/share/keyrings", "/etc/shadow", "/etc/gshadow", "/etc/sudoers",
    "~/.pgpass", "~/.my.cnf", "~/.s3cfg", "~/.boto", "~/.oci", "~/.config/rclone",
    "~/.config/op", "~/.config/doctl", "~/.terraformrc", "/var/run/secrets", "/run/secrets",
    # shells' and REPLs' histories hold what was typed, tokens included
    "~/.bash_history", "~/.zsh_history", "~/.python_history", "~/.psql_history",
    "~/.mysql_history", "~/.node_repl_history",
    # coding agents' own credentials
    "~/.claude/.credentials.json", "~/.codex/auth.json", "~/.gemini/oauth_creds.json",
)  # fmt: skip
#: A process's environment (API keys, tokens) and memory: read as a secret.
_PROC_SECRET = re.compile(r"/proc/(?:self|thread-self|[0-9]+)(?:/task/[0-9]+)?/(?:environ|mem)")
#: Where Charter keeps private keys by default (``charter constitution --key-dir``).
CHARTER_KEYS = "~/.charter/keys"
GATE_SECRET = "CHARTER-GATE-SECRET-FILE"  # noqa: S105 - a rule name


@functools.lru_cache(maxsize=32)
def _compile(
    forbidden: tuple[str, ...], approval: tuple[str, ...], auto: tuple[str, ...]
) -> PatternSet:
    return PatternSet(forbidden, approval, auto)


def _within(path: str, directory: str) -> bool:
    directory = directory.rstrip("/") or "/"
    return path == directory or path.startswith(directory if directory == "/" else directory + "/")


def _glob_reaches(pattern: str, directory: str) -> bool:
    """Whether a glob path (``~/.ss?/id_*``) may name ``directory`` or a path inside it."""
    parts = [c for c in pattern.split("/") if c]
    for i, d in enumerate(c for c in directory.split("/") if c):
        if i >= len(parts):
            return False
        if parts[i] == "**":
            return True
        if not fnmatch.fnmatchcase(d, parts[i]):
            return False
    return True


#: Paths resolved while deciding one action (the filesystem is read once per path).
_Memo = dict[str, str | None]


def _resolve(path: str, cwd: str, memo: _Memo | None = None) -> str | None:
    """Tilde expansion as bash does it, then the file the kernel would reach now
    (``None``: only known at run time, see :func:`charter.actions.files.resolve`)."""
    key = cwd + "\x00" + path
    if memo is not None and key in memo:
        return memo[key]
    expanded = expand_tilde(path, cwd)
    if expanded is None:
        out = None
    elif expanded.startswith("/"):
        out, found = resolve_found(expanded, cwd, seen=memo)
        if memo is not None and found:
            memo["\x00found\x00" + path] = out  # every component exists
    else:  # from the working directory, resolved once
        base = _resolve(cwd, "/", memo)
        found = memo is None or memo.get("\x00found\x00" + cwd) is not None
        out = (
            None
            if base is None
            else resolve_found(expanded, base, real_base=True, base_found=found, seen=memo)[0]
        )
    if memo is not None:
        memo[key] = out
    return out


#: The system's program directories: trusted along with the gate's own ``PATH``.
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@functools.lru_cache(maxsize=8)
def _search_directories(search: str) -> tuple[str, ...]:
    """The absolute directories of ``search`` (a ``PATH`` value), each once, in order."""
    return tuple(dict.fromkeys(d for d in search.split(os.pathsep) if d.startswith("/")))


def _found_on_path(name: str, target: str, search: str, near: Sequence[str], memo: _Memo) -> bool:
    """Whether ``target`` is where ``name`` resolves to in a directory of ``search``: an
    executable regular file there that leads to ``target``.

    Read from the filesystem for every action, never kept between two: a long-lived
    gate (the runner, hookd) sees a program installed in, or removed from, a ``PATH``
    directory, and a link on its way retargeted, at the next decision. The directories
    in ``near`` (the program word's own and its target's) are looked in first: a program
    named by its full path is found there, its links already resolved in ``memo``.
    """
    directories = _search_directories(search)
    first = [d for d in near if d in directories]
    for d in dict.fromkeys((*first, *directories)):
        candidate = posixpath.join(d, name)
        if (
            os.access(candidate, os.X_OK)
            # (a resolved path leads to itself: the program named by its real path)
            and (candidate == target or _resolve(candidate, "/", memo) == target)
            and os.path.isfile(candidate)
        ):
            return True
    return False


def _on_trusted_path(word: str, cwd: str, memo: _Memo) -> bool:
    """Whether the program word ``word`` (with a ``/``) is the file a ``PATH`` search
    for its name would find (any directory of the gate's own ``PATH`` or the system's
    program directories), as the filesystem is now."""
    name = program_name(word)
    if not name or name in (".", ".."):
        return False
    target = _resolve(word, cwd, memo)
    if target is None:
        return False
    search = os.environ.get("PATH", "") + os.pathsep + _SYSTEM_PATH
    near = (posixpath.dirname(_lexical(word, cwd)), posixpath.dirname(target))
    return _found_on_path(name, target, search, near, memo)


def _lexical(path: str, cwd: str) -> str:
    """The path as written, made absolute and normalised without the filesystem."""
    expanded = expand_tilde(path, cwd) or path
    joined = posixpath.normpath(posixpath.join(cwd, expanded))
    return "/" + joined.lstrip("/") if joined.startswith("//") else joined


def _top(path: str) -> str:
    """``/home/me/x`` → ``/home``: the first component of an absolute path."""
    end = path.find("/", 1)
    return path if end < 0 else path[:end]


def _ancestors_in(path: str | None, table: Mapping[str, Verdict]) -> list[tuple[str, Verdict]]:
    """The entries of ``table`` that are ``path`` or a directory above it."""
    out: list[tuple[str, Verdict]] = []
    while path:
        verdict = table.get(path)
        if verdict is not None:
            out.append((path, verdict))
        if path == "/":
            break
        path = path.rpartition("/")[0] or "/"
    return out


def _spellings(path: str) -> tuple[str, ...]:
    """A configured path as written (made absolute) and as resolved now."""
    lexical = posixpath.normpath(os.path.abspath(os.path.expanduser(path)))
    return tuple(dict.fromkeys((lexical, os.path.realpath(lexical))))


def _runtime_targets(w: Word, cwds: Sequence[str], unknown: bool) -> list[Target]:
    """A word as the path(s) it names: ``$PWD`` is each directory the command may run
    in, ``$$`` the shell (``/proc/$$`` is ``/proc/self``); other expansions: dynamic."""
    if w.braces:  # ``> /e{t..t}c/x`` writes /etc/x (several words: each is checked)
        return [t for b in w.braces for t in _runtime_targets(b, cwds, unknown)]
    if w.static:
        return [(w.value, False)]
    if w.candidates:  # ``for f in a b; do … > $f``: each word the loop gives it
        return [(c, False) for c in w.candidates]
    path = w.runtime_path
    if path is None or (unknown and RUNTIME_PWD in path):
        return [(w.value, True)]
    path = path.replace(RUNTIME_PID, "self")
    if RUNTIME_PWD not in path:
        return [(path, False)]
    return [(path.replace(RUNTIME_PWD, c), False) for c in cwds]


class Gate:
    """Decides actions against one verified constitution."""

    def __init__(
        self,
        constitution: Constitution,
        *,
        watchdog: Guard | None = None,
        budget: BudgetView | None = None,
        config: GateConfig | None = None,
    ) -> None:
        self.constitution = constitution
        self.watchdog = watchdog
        self.budget = budget
        self.config = config or GateConfig()
        self.patterns = _compile(
            constitution.forbidden, constitution.requires_approval, constitution.auto_allowed
        )
        self._literal = [
            (p, " ".join(p.text.split()))
            for p in self.patterns.patterns
            if p.segments and any(c in p.segments[0].program for c in "(){}$")
        ]
        #: recent command strings' plans (:meth:`_plan`), bounded by bytes like the parse
        #: they hold (see charter.core.memo): nothing in a plan comes from the filesystem
        self._plans = bytes_lru(text_weight(96), max_bytes=32 * 2**20, max_entries=256, short=1024)(
            self._plan
        )
        protected = list(self.config.protected_paths)
        protected += [s for s in constitution.sources if not s.startswith("<")]
        self.protected = tuple(
            dict.fromkeys(os.path.realpath(os.path.expanduser(p)) for p in protected)
        )
        keys = [CHARTER_KEYS]
        for p in protected:
            if p.endswith(".pub"):  # the private half next to a public key
                keys += [posixpath.join(posixpath.dirname(p), "signing.key"), p[:-4] + ".key"]
        secrets = self.config.secret_paths
        found: dict[str, Verdict] = {}
        for paths, verdict in ((secrets or DEFAULT_SECRETS, Verdict.ASK), (keys, Verdict.DENY)):
            found.update((spelling, verdict) for p in paths for spelling in _spellings(p))
        #: secret paths (as written and as resolved when the gate was made) → verdict
        self.secrets: Mapping[str, Verdict] = MappingProxyType(found)
        self._secret_tops = frozenset(_top(p) for p in found)
        by_top: dict[str, list[str]] = {}
        for p in found:
            by_top.setdefault(_top(p), []).append(p)
        self._secrets_by_top = {t: tuple(ps) for t, ps in by_top.items()}
        self.stack = constitution.stack_entries()

    # ----------------------------------------------------------------- helpers

    def permission(self, model_role: str | None) -> ModelPermission | None:
        if model_role is None:
            return None
        return self.constitution.model_permissions.get(model_role)

    def sandbox_required(self, model_role: str | None) -> bool:
        perm = self.permission(model_role)
        return bool(perm and perm.sandbox_only)

    def _common(self, model_role: str | None, run: str | None = None) -> list[Reason]:
        reasons: list[Reason] = []
        if self.watchdog is not None:
            try:
                self.watchdog.guard()
            except TrustError as exc:
                reasons.append(_reason(GATE_INTEGRITY, "critical", Verdict.DENY, str(exc)))
        if model_role is not None and not self.constitution.role_known(model_role):
            reasons.append(
                _reason(
                    GATE_ROLE,
                    "medium",
                    Verdict.ASK,
                    f"model role {model_role!r} is not listed in [model_permissions]",
                )
            )
        reasons.extend(self._budget(self.config.run_id or run))
        return reasons

    def _budget(self, run: str | None) -> list[Reason]:
        """The budget reasons; ``run`` is the configured run, else the agent's ``run``."""
        limits = self.constitution.limits
        if self.budget is None:
            return []
        out: list[Reason] = []
        if limits.max_api_cost_per_day is not None:
            spent = self.budget.spent_today()
            if spent >= limits.max_api_cost_per_day:
                out.append(
                    _reason(
                        "resource_limits.max_api_cost_per_day",
                        "high",
                        Verdict.DENY,
                        f"the daily API budget is spent: {spent:.2f} of "
                        f"{limits.max_api_cost_per_day:.2f}",
                    )
                )
        if limits.max_api_cost_per_run is not None:
            spent = self.budget.spent_run(run)
            if spent >= limits.max_api_cost_per_run:
                out.append(
                    _reason(
                        "resource_limits.max_api_cost_per_run",
                        "high",
                        Verdict.DENY,
                        f"the API budget of this run is spent: {spent:.2f} of "
                        f"{limits.max_api_cost_per_run:.2f}",
                    )
                )
        return out

    def _path_reasons(
        self,
        raw: str,
        cwd: str,
        *,
        write: bool,
        what: str,
        expand: bool = True,
        memo: _Memo | None = None,
        allowed: bool = True,
    ) -> list[Reason]:
        """Directory rules, protected files for one path an action reads or writes.

        A glob is also decided as every existing file it names (bash expands it
        before the program runs), besides the pattern itself.
        """
        if raw in HARMLESS_DEVICES or (
            raw.startswith(("/dev/fd/", "/proc/")) and _DESCRIPTOR.fullmatch(raw)
        ):
            return []
        reasons: list[Reason] = []
        if expand and _has_glob(raw):
            matches = expand_glob(raw, cwd)
            if matches is None:
                reasons.append(
                    _reason(
                        GATE_UNRESOLVED,
                        "high",
                        Verdict.ASK,
                        f"{what} {raw!r}: the files this pattern names are not known "
                        f"before it runs (a POSIX class, ~-, or more than {MAX_GLOB_MATCHES})",
                    )
                )
            for match in matches or ():
                reasons.extend(
                    self._path_reasons(
                        match, cwd, write=write, what=what, expand=False, memo=memo, allowed=allowed
                    )
                )
        reasons.extend(self._one_path(raw, cwd, write=write, what=what, memo=memo, allowed=allowed))
        return reasons

    def _one_path(
        self,
        raw: str,
        cwd: str,
        *,
        write: bool,
        what: str,
        memo: _Memo | None = None,
        allowed: bool = True,
    ) -> list[Reason]:
        memo = {} if memo is None else memo
        path = _resolve(raw, cwd, memo)
        if path in HARMLESS_DEVICES:
            return []
        lexical = _lexical(raw, cwd)
        limits = self.constitution.limits
        reasons: list[Reason] = []
        globbed = _has_glob(raw)
        made = _made_links(memo)
        if made and any(_within(lexical, d) or _within(d, lexical) for d in made):
            reasons.append(
                _reason(
                    GATE_UNRESOLVED,
                    "high",
                    Verdict.ASK,
                    f"{what} {raw!r} goes through a path an earlier command of this string "
                    "creates (a link, a moved or extracted file): where it leads is only "
                    "known when it runs",
                )
            )
        if path is None:
            reasons.append(
                _reason(
                    GATE_UNRESOLVED,
                    "high",
                    Verdict.ASK,
                    f"{what} {raw!r}: where this path leads is only known when it runs "
                    "(~-, ~N, another process's /proc entry, a file descriptor, a link loop)",
                )
            )
        if write and any(
            path == p or lexical == p or (globbed and fnmatch.fnmatchcase(p, lexical))
            for p in self.protected
        ):
            reasons.append(
                _reason(
                    GATE_PROTECTED,
                    "critical",
                    Verdict.DENY,
                    f"{what} {raw!r} is Charter's own file (constitution, key or audit log); "
                    "agents never write it",
                )
            )
        if write and (_configures(lexical) or (path is not None and _configures(path))):
            reasons.append(
                _reason(
                    GATE_CONFIG,
                    "high",
                    Verdict.ASK,
                    f"{what} {raw!r} changes what a program does when it next runs (its "
                    "configuration, hooks or scripts, or an agent's settings): needs approval",
                )
            )
        for d in limits.blocked_directories:
            resolved = _resolve(d, cwd, memo) or _lexical(d, cwd)
            if (
                (path is not None and _within(path, resolved))
                or _within(lexical, resolved)
                or (
                    globbed
                    and (
                        _glob_reaches(lexical, resolved)
                        or (path is not None and _glob_reaches(path, resolved))
                    )
                )
            ):
                reasons.append(
                    _reason(
                        "resource_limits.blocked_directories",
                        "high",
                        Verdict.DENY,
                        f"{what} {raw!r} is inside the blocked directory {d!r}",
                    )
                )
                break
        reasons.extend(self._secret_reasons(raw, path, lexical, what))
        within = limits.allowed_directories
        if (
            allowed
            and within is not None
            and path is not None
            and not any(_within(path, _resolve(d, cwd, memo) or _lexical(d, cwd)) for d in within)
        ):
            reasons.append(
                _reason(
                    "resource_limits.allowed_directories",
                    "high",
                    Verdict.DENY,
                    f"{what} {raw!r} (resolves to {path}) is outside the allowed directories",
                )
            )
        return reasons

    def _secret_reasons(
        self, raw: str, path: str | None, lexical: str, what: str, *, below: bool = False
    ) -> list[Reason]:
        """A secret file (or Charter's private key) at ``path``, or, for a recursive
        read (``below``), inside it."""
        hits = self._secrets_below(lexical, path) if below else self._secrets_above(lexical, path)
        if not below and (_PROC_SECRET.fullmatch(lexical) or _PROC_SECRET.fullmatch(path or "")):
            hits.append((lexical, Verdict.ASK))
        if not below and _has_glob(raw):  # ``~/.aws/cred*``, ``~/.ss?/*``
            hits += [(s, v) for s, v in self.secrets.items() if _glob_reaches(lexical, s)]
        hits.sort(key=lambda h: h[1] is not Verdict.DENY)
        for secret, verdict in hits[:1]:
            inside = " reaches everything under it, including" if below else " touches"
            if verdict is Verdict.DENY:
                return [
                    _reason(
                        GATE_PROTECTED,
                        "critical",
                        Verdict.DENY,
                        f"{what} {raw!r}{inside} Charter's private signing key ({secret})",
                    )
                ]
            return [
                _reason(
                    GATE_SECRET,
                    "high",
                    Verdict.ASK,
                    f"{what} {raw!r}{inside} credentials ({secret}): needs approval",
                )
            ]
        return []

    def _plain_relative_read(self, raw: str, cwd: str, memo: _Memo | None) -> bool:
        """A quick yes for the common read (``cat README.md``): a relative name without
        ``..``, a glob or a tilde, no blocked directory configured, and neither the
        working directory nor the file the name reaches under a secret's top directory."""
        if (
            self.constitution.limits.blocked_directories
            or _LINKS in (memo or ())
            or raw.startswith(("/", "~"))
            or ".." in raw
            or _has_glob(raw)
            or not self._quiet(cwd, memo)
        ):
            return False
        path = _resolve(raw, cwd, memo)
        return path is not None and not self._secrets_above(path, None)

    def _quiet(self, cwd: str, memo: _Memo | None) -> bool:
        """No secret is at, above or below ``cwd`` (remembered for the decision)."""
        key = "\x00quiet\x00" + cwd
        if memo is not None and key in memo:
            return memo[key] is not None
        below = cwd.rstrip("/") + "/"
        quiet = not self._secrets_above(cwd, None) and not any(
            s.startswith(below) for s in self._secrets_by_top.get(_top(cwd), ())
        )
        if memo is not None:
            memo[key] = "" if quiet else None
        return quiet

    def _secrets_below(self, lexical: str, path: str | None) -> list[tuple[str, Verdict]]:
        """The secret paths that are ``lexical`` or ``path`` or inside them (only the
        secrets under the same top directory can be)."""
        out: list[tuple[str, Verdict]] = []
        for d in dict.fromkeys((lexical, path)):
            if d is None:
                continue
            near = self.secrets if d == "/" else self._secrets_by_top.get(_top(d), ())
            out.extend((s, self.secrets[s]) for s in near if _within(s, d))
            if _within(d, "/proc") or d == "/":  # every process's environment is below
                out.append(("/proc/*/environ", Verdict.ASK))
        return out

    def _secrets_above(self, lexical: str, path: str | None) -> list[tuple[str, Verdict]]:
        """The secret paths that are ``lexical`` or ``path`` or a directory above them."""
        tops = self._secret_tops
        hits = _ancestors_in(lexical, self.secrets) if _top(lexical) in tops else []
        if path is not None and path != lexical and _top(path) in tops:
            hits += _ancestors_in(path, self.secrets)
        return hits

    def _read_reasons(
        self, raw: str, cwd: str, *, recursive: bool, memo: _Memo | None = None
    ) -> list[Reason]:
        """A file a program reads by name: blocked directories and secrets (not the
        allowed directories); a recursive read also meets what lies below it."""
        if not recursive and self._plain_relative_read(raw, cwd, memo):
            return []
        reasons = [
            r
            for r in self._path_reasons(
                raw, cwd, write=False, what="read of", memo=memo, allowed=False
            )
            if r.rule in _READ_RULES
        ]
        if not recursive or raw in HARMLESS_DEVICES:
            return reasons
        below = [raw]
        if _has_glob(raw):  # ``grep -r x w*``: below every directory it names
            below.extend(expand_glob(raw, cwd) or ())
        for top in below:
            reasons.extend(self._below_reasons(top, cwd, memo))
        return reasons

    def _below_reasons(
        self, raw: str, cwd: str, memo: _Memo | None, what: str = "a recursive read of"
    ) -> list[Reason]:
        """What a recursive read of ``raw`` reaches: blocked directories and secrets."""
        reasons: list[Reason] = []
        path = _resolve(raw, cwd, memo)
        lexical = _lexical(raw, cwd)
        for d in self.constitution.limits.blocked_directories:
            resolved = _resolve(d, cwd, memo) or _lexical(d, cwd)
            if _within(resolved, lexical) or (path is not None and _within(resolved, path)):
                reasons.append(
                    _reason(
                        "resource_limits.blocked_directories",
                        "high",
                        Verdict.DENY,
                        f"{what} {raw!r} reaches the blocked directory {d!r}",
                    )
                )
                break
        reasons.extend(self._secret_reasons(raw, path, lexical, what, below=True))
        return reasons

    def _below_write_reasons(self, raw: str, cwd: str, memo: _Memo | None) -> list[Reason]:
        """A write of everything below ``raw`` (``rm -r``): the blocked directories,
        secrets and Charter's own files it holds are written too."""
        reasons = self._below_reasons(raw, cwd, memo, "a recursive write of")
        path = _resolve(raw, cwd, memo)
        lexical = _lexical(raw, cwd)
        for p in self.protected:
            if _within(p, lexical) or (path is not None and _within(p, path)):
                reasons.append(
                    _reason(
                        GATE_PROTECTED,
                        "critical",
                        Verdict.DENY,
                        f"a recursive write of {raw!r} reaches Charter's own file {p}",
                    )
                )
                break
        return reasons

    # ---------------------------------------------------------------- actions

    def decide_command(
        self,
        command: str,
        cwd: str | None = None,
        model_role: str | None = None,
        *,
        agent: Mapping[str, Any] | None = None,
    ) -> Decision:
        if not isinstance(command, str) or not command.strip():
            raise InputError("the command is empty", hint="pass the command string to decide")
        where = _cwd(cwd)
        action = {"kind": "command", "command": command, "cwd": where}
        return self._decide(
            action, model_role, agent, lambda: self._command(command, where, model_role)
        )

    def decide_write(
        self,
        path: str,
        size: int | None = None,
        cwd: str | None = None,
        model_role: str | None = None,
        *,
        agent: Mapping[str, Any] | None = None,
    ) -> Decision:
        if not isinstance(path, str) or not path:
            raise InputError("the path to write is empty")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise InputError(f"size must be a non-negative integer, got {size!r}")
        where = _cwd(cwd)
        action: dict[str, Any] = {"kind": "file_write", "path": path, "size": size, "cwd": where}

        def evaluate() -> tuple[list[Reason], list[dict[str, Any]]]:
            reasons: list[Reason] = []
            perm = self.permission(model_role)
            if perm is not None and not perm.can_write:
                reasons.append(_role_reason(model_role, "can_write", "write files"))
            reasons.extend(self._path_reasons(path, where, write=True, what="write to"))
            reasons.extend(_agent_descriptor(path, "write to"))
            limit = self.constitution.limits.max_file_write_size
            if limit is not None and size is not None and size > limit:
                reasons.append(
                    _reason(
                        "resource_limits.max_file_write_size",
                        "medium",
                        Verdict.DENY,
                        f"writing {size} bytes exceeds max_file_write_size ({limit} bytes)",
                    )
                )
            return reasons, []

        return self._decide(action, model_role, agent, evaluate)

    def decide_read(
        self,
        path: str,
        cwd: str | None = None,
        model_role: str | None = None,
        *,
        agent: Mapping[str, Any] | None = None,
    ) -> Decision:
        if not isinstance(path, str) or not path:
            raise InputError("the path to read is empty")
        where = _cwd(cwd)
        action = {"kind": "file_read", "path": path, "cwd": where}

        def evaluate() -> tuple[list[Reason], list[dict[str, Any]]]:
            reasons: list[Reason] = []
            perm = self.permission(model_role)
            if perm is not None and not perm.can_read:
                reasons.append(_role_reason(model_role, "can_read", "read files"))
            memo: _Memo = {}
            reasons.extend(self._path_reasons(path, where, write=False, what="read of", memo=memo))
            reasons.extend(_agent_descriptor(path, "read of"))
            resolved = _resolve(path, where, memo)
            if resolved is not None and os.path.isdir(resolved):
                # a directory is read below (an agent's search tool: Grep, Glob)
                reasons.extend(self._below_reasons(path, where, memo))
            return reasons, []

        return self._decide(action, model_role, agent, evaluate)

    def decide_action(self, action: Mapping[str, Any]) -> Decision:
        """Decide an Action document (docs/design.md, 'Action gate')."""
        if not isinstance(action, Mapping):
            raise InputError("an action must be a JSON object")
        kind = action.get("kind")
        role = action.get("model_role")
        if role is not None and not isinstance(role, str):
            raise InputError("model_role must be a string")
        agent = action.get("agent")
        if agent is not None and not isinstance(agent, Mapping):
            raise InputError("agent must be an object")
        cwd = action.get("cwd")
        if cwd is not None and not isinstance(cwd, str):
            raise InputError("cwd must be a string")
        if kind == "command":
            return self.decide_command(_str(action, "command"), cwd, role, agent=agent)
        if kind == "file_write":
            size = action.get("size")
            return self.decide_write(_str(action, "path"), size, cwd, role, agent=agent)
        if kind == "file_read":
            return self.decide_read(_str(action, "path"), cwd, role, agent=agent)
        if kind == "tool":  # an MCP (or other agent) tool call: charter.actions.tools
            name, arguments, server_known = tools.tool_call(action)
            doc: dict[str, Any] = {"kind": "tool", "tool": name, "arguments": arguments}
            if cwd is not None:
                doc["cwd"] = cwd
            c = self.constitution
            rules = tools.compile_tool_patterns(c.forbidden, c.requires_approval, c.auto_allowed)
            reasons = functools.partial(
                tools.tool_reasons, name, arguments, server_known=server_known,
                tool_patterns=rules, sql_patterns=self.patterns.sql,
                permission=self.permission(role), role=role,
                sandboxed=self.sandbox_required(role),
            )  # fmt: skip
            return self._decide(doc, role, agent, lambda: (reasons(), []))
        raise InputError(
            f"unknown action kind {kind!r}", hint="use command, file_write, file_read or tool"
        )

    # ------------------------------------------------------------ internals

    def _decide(
        self,
        action: dict[str, Any],
        model_role: str | None,
        agent: Mapping[str, Any] | None,
        evaluate: Any,
    ) -> Decision:
        started = time.perf_counter()
        if model_role is not None:
            action["model_role"] = model_role
        if agent is not None:
            action["agent"] = dict(agent)
        commands: list[dict[str, Any]] = []
        try:
            reasons = self._common(model_role, _run_of(agent))
            more, commands = evaluate()
            reasons.extend(more)
        except (
            CharterError,
            RuntimeError,
            ValueError,
            TypeError,
            KeyError,
            OSError,
            RecursionError,
        ) as exc:
            reasons = [
                _reason(
                    GATE_ERROR, "critical", Verdict.DENY, f"deciding failed, failing closed: {exc}"
                )
            ]
        reasons = self.constitution.attribute(_dedupe(reasons))
        order = {Verdict.DENY: 0, Verdict.ASK: 1, Verdict.ALLOW: 2}
        reasons.sort(key=lambda r: order[r.verdict])
        verdict = strictest(r.verdict for r in reasons)
        extra: dict[str, Any] = {"action": action}
        if action["kind"] == "command":
            extra["commands"] = commands
        if self.sandbox_required(model_role):
            extra["sandbox"] = True
        extra["elapsed_us"] = round((time.perf_counter() - started) * 1e6, 1)
        return Decision(
            decision_id=_decision_id(),
            verdict=verdict,
            reasons=tuple(reasons),
            stack=self.stack,
            input_digest=input_digest(action),
            time=_now_stamp(),
            extra=extra,
        )

    def _command(
        self, command: str, cwd: str, model_role: str | None
    ) -> tuple[list[Reason], list[dict[str, Any]]]:
        reasons: list[Reason] = []
        perm = self.permission(model_role)
        if perm is not None and not perm.can_execute:
            reasons.append(_role_reason(model_role, "can_execute", "execute commands"))
        # ``cd`` alone goes to $HOME: a plan is kept for one HOME. A "~" may name another
        # user's home (the password database, a file): a string with one, written or
        # only once its words are decoded (``$'\x7e'``), is planned again every time,
        # as is one naming HOME and every string while HOME is unset.
        home = os.environ.get("HOME")
        if home is None or "~" in command or "HOME" in command:
            plan = self._plan(command, cwd, home)
        else:
            plan = self._plans(command, cwd, home)
            if plan.tilde:
                plan = self._plan(command, cwd, home)
        reasons.extend(plan.reasons)
        commands: list[dict[str, Any]] = []
        memo: _Memo = {}  # the filesystem, read once per path for this decision
        written: set[str] = set()  # files an earlier command of this string writes
        for step in plan.steps:
            m = step.match
            own = self._command_reasons(step, cwd, perm, memo)
            if written:
                own.extend(_runs_written(m, written))
            if step.later or step.makes:
                written.update(step.writes)
                if step.makes:
                    _add_made_links(memo, step.writes)
            reasons.extend(own)
            commands.append(
                {
                    "argv": list(m.command.argv),
                    "verdict": str(strictest(r.verdict for r in own)),
                    "matched": list(step.matched),
                    "origin": list(m.command.origin),
                    "uncertain": list(m.command.uncertain),
                }
            )
        if not plan.runs:
            # Only comments or blank lines: nothing runs.
            commands = []
        return reasons, commands

    def _plan(self, command: str, cwd: str, home: str | None) -> _Plan:  # noqa: ARG002
        """What a command string is without looking at the filesystem: its parse, what
        the patterns say about each simple command, the files each names (as written)
        and the reasons that follow from those alone. Computed from the text, the
        working directory, ``home`` (``$HOME``, where ``cd`` alone goes: part of the
        memo's key) and this gate's constitution only, so the same string in the same
        directory always has the same plan (:attr:`_plans` keeps recent ones);
        everything the filesystem decides is decided again for every action."""
        script = shell.parse(command)
        reasons = [
            _reason(GATE_UNRESOLVED, "high", Verdict.ASK, f"{u}: {_short(command)}")
            for u in script.uncertain
        ]
        if self._literal:
            flat = " ".join(command.split())
            reasons.extend(
                _pattern_reason(p, YES, (command,)) for p, text in self._literal if text in flat
            )
        matches = self.patterns.match_script(script, cwd)
        feeds = _producers(script.commands)
        # whether a later command runs a file (its own path, or a script): only then do
        # the files earlier commands write matter to it
        later = [False] * len(matches)
        for i in range(len(matches) - 2, -1, -1):
            later[i] = later[i + 1] or _runs_a_file(matches[i + 1])
        steps = []
        for i, m in enumerate(matches):
            makes = i + 1 < len(matches) and any(
                program_name(v.argv[0]) in MAKES_LINKS for v in m.command.variants if v.argv
            )
            steps.append(
                _Step(
                    m,
                    self._named_files(m, cwd, feeds.get(m.command.seq)),
                    _plain_reasons(m),
                    len(m.hits) + len(m.command.uncertain),
                    later[i],
                    makes,
                    tuple(_writes_of(m)) if later[i] or makes else (),
                    (*(h.pattern.text for h in m.hits), *m.allowed_by),
                )
            )
        runs = bool(script.commands or script.uncertain)
        # without "$" or "\" nothing decodes to a "~" that the text does not show
        tilde = "~" in command or (("$" in command or "\\" in command) and _tilde_words(script))
        return _Plan(tuple(reasons), tuple(steps), runs, tilde)

    def _command_reasons(
        self, step: _Step, cwd: str, perm: ModelPermission | None, memo: _Memo
    ) -> list[Reason]:
        m = step.match
        reasons = list(step.reasons)
        if m.auto_allowed:
            # the program's path, before the reasons that say it is allowed
            reasons[step.at_paths : step.at_paths] = self._program_paths(m, memo)
        reasons.extend(self._file_reasons(m, step.named, cwd, perm, memo))
        return reasons

    def _program_paths(self, m: CommandMatch, memo: _Memo) -> list[Reason]:
        """A program named by path (``./ls``, ``P/git``) is auto-allowed only when it is
        the program of that name on the trusted ``PATH``, or the path an allowing
        pattern spells out (``./gradlew *``): anything else runs a file from the
        repository (or elsewhere) that the pattern never saw."""
        out: list[Reason] = []
        # a pattern that names the program by its path (``./gradlew *``) allows that file
        named = {
            posixpath.normpath(first)
            for text in m.allowed_by
            if "/" in (first := text.split(maxsplit=1)[0] if text.strip() else "")
        }
        for v in m.command.variants:
            word = v.argv[0] if v.argv else ""
            if "/" not in word or posixpath.normpath(word) in named:
                continue
            for where in m.cwds or ("/",):
                if not _on_trusted_path(word, where, memo):
                    out.append(
                        _reason(
                            GATE_PROGRAM_PATH,
                            "high",
                            Verdict.ASK,
                            f"`{_short(word)}` is not the {program_name(word)!r} found on the "
                            "trusted PATH: the pattern allows that program, not this file",
                        )
                    )
                    return out
        return out

    def _file_reasons(
        self,
        m: CommandMatch,
        named: _Named,
        cwd: str,
        perm: ModelPermission | None,
        memo: _Memo,
    ) -> list[Reason]:
        """Redirections, and the files a program writes or reads by name (``FILE_PROGRAMS``)."""
        cmd = m.command
        seen: set[tuple[str, bool]] = set()
        what = f"`{_argv(cmd.argv)}` writes" if named.writes else ""
        reasons = self._write_reasons(named, what, perm, seen, memo)
        for target, _dyn in named.below:
            relative = not target.startswith(("/", "~"))
            for where in named.cwds if relative else named.cwds[:1]:
                reasons.extend(self._below_write_reasons(target, where, memo))
        for target, dyn in named.reads:
            if dyn or (target, False) in seen or (target, True) in seen:
                continue  # a write to it was decided already (a stricter check)
            seen.add((target, False))
            # Operands that merely look like paths only meet the blocked list and the
            # secrets; ``<`` redirections are full reads.
            for where in named.cwds if not target.startswith(("/", "~")) else named.cwds[:1]:
                hits = self._path_reasons(
                    target, where, write=False, what="access to", memo=memo, allowed=False
                )
                reasons.extend(r for r in hits if r.rule in _READ_RULES)
        for target, dyn, recursive in named.content:
            if dyn or (relative := not target.startswith(("/", "~"))) and named.unknown:
                reasons.append(
                    _reason(
                        GATE_UNRESOLVED,
                        "high",
                        Verdict.ASK,
                        f"`{_argv(cmd.argv)}` reads a file whose path is only known at run time"
                        f" ({target!r})",
                    )
                )
                continue
            for where in named.cwds if relative else named.cwds[:1]:
                reasons.extend(self._read_reasons(target, where, recursive=recursive, memo=memo))
        for r in cmd.redirects:
            if not (r.reads and r.target is not None):
                continue
            for value, dyn in _runtime_targets(r.target, named.cwds, named.unknown):
                if dyn:
                    reasons.append(
                        _reason(
                            GATE_UNRESOLVED,
                            "high",
                            Verdict.ASK,
                            f"`{_argv(cmd.argv)}` reads a file whose path is only known at "
                            f"run time ({value!r})",
                        )
                    )
                    continue
                for where in named.cwds if not value.startswith(("/", "~")) else named.cwds[:1]:
                    reasons.extend(
                        self._path_reasons(value, where, write=False, what="read of", memo=memo)
                    )
            if perm is not None and not perm.can_read:
                reasons.append(_role_reason(None, "can_read", "read files"))
        return reasons

    def _named_files(
        self, m: CommandMatch, cwd: str, producer: SimpleCommand | None = None
    ) -> _Named:
        """The files a command writes and reads, and the directories it may run in."""
        cmd = m.command
        cwds = m.cwds or (cwd,)
        named = _Naming(
            writes=[
                t
                for r in cmd.redirects
                if r.target is not None and r.writes
                for t in _runtime_targets(r.target, cwds, m.cwd_unknown)
            ],
            reads=[],
            cwds=cwds,
            unknown=m.cwd_unknown,
            content=[],
            below=[],
        )
        dynamic: frozenset[str] | None = (
            _NONE if all(w.static or w.resolved for w in cmd.words) else None
        )
        for v in cmd.variants:
            if not v.argv:
                continue
            prog = program_name(v.argv[0])
            if prog in CHDIR_OPTIONS or prog in FILE_PROGRAMS:
                if dynamic is None:
                    dynamic = frozenset(w.value for w in cmd.words if not (w.static or w.resolved))
            if prog in CHDIR_OPTIONS:  # ``env -C DIR cmd``: cmd runs in DIR
                for d in wrapper_chdir(v.argv):
                    named.unknown = named.unknown or "$" in d or "`" in d or d in (dynamic or ())
                    named.cwds = (
                        *named.cwds,
                        *(posixpath.join(c, os.path.expanduser(d)) for c in named.cwds),
                    )
            if prog in FILE_PROGRAMS:
                found = file_targets(v.argv, dynamic or frozenset())
                if found is not None:
                    if writes_below(v.argv, dynamic or frozenset()):
                        named.below.extend(t for t in found[0] if not t[1])
                    named.writes.extend(_known_at_run_time(found[0], cmd, named))
                    named.reads.extend(_known_at_run_time(found[1], cmd, named))
            declared = (
                read_targets(v.argv, dynamic or frozenset()) if prog in READ_PROGRAMS else None
            )
            if declared is not None:  # the catalogue says which operands it reads
                targets, recursive = declared
                reads_names = READ_PROGRAMS[prog][1].read_operands != "none"
                if (
                    reads_names
                    and "xargs" in v.wrappers
                    and (cmd.stdin_text is None or not targets)
                ):
                    # ``… | xargs cat``: the names come from stdin when it runs; from
                    # ``find ROOT… |`` they are files below ROOT
                    roots = _find_roots(producer)
                    if roots is None:
                        targets = [*targets, ("<names xargs reads from stdin>", True)]
                    else:
                        targets, recursive = [*targets, *roots], True
                named.content.extend(
                    (t, d, recursive) for t, d in _known_at_run_time(targets, cmd, named)
                )
            if prog in NAMES_FROM_STDIN and _copies_named_files(v.argv):
                # ``echo /etc/shadow | cpio -o``: each line of stdin names a file it reads
                if cmd.stdin_text is not None:
                    names = [n for n in cmd.stdin_text.splitlines() if n.strip()]
                    named.content.extend((n, False, False) for n in names)
                else:
                    named.content.append(("<names read from stdin>", True, False))
            # every path-like word may be a file it reads (an option's value only, for
            # a program whose operands the catalogue describes: its text is not a path)
            named.reads.extend(_path_like(v.argv, operands=declared is None))
        return named.done()

    def _write_reasons(
        self,
        named: _Named,
        what: str,
        perm: ModelPermission | None,
        seen: set[tuple[str, bool]],
        memo: _Memo,
    ) -> list[Reason]:
        reasons: list[Reason] = []
        for target, dyn in named.writes:
            if (target, True) in seen:
                continue
            seen.add((target, True))
            if perm is not None and not perm.can_write:
                reasons.append(_role_reason(None, "can_write", "write files", what=what))
            relative = not target.startswith(("/", "~"))
            if dyn or (relative and named.unknown):
                reasons.append(
                    _reason(
                        GATE_UNRESOLVED,
                        "high",
                        Verdict.ASK,
                        f"{what} to a path computed at run time"
                        if dyn
                        else f"{what} {target!r} in a directory entered at run time",
                    )
                )
                continue
            for where in named.cwds if relative else named.cwds[:1]:
                reasons.extend(
                    self._path_reasons(target, where, write=True, what="write to", memo=memo)
                )
        return reasons


#: Programs that can create a symbolic link, or move or unpack one into place.
MAKES_LINKS = CATALOGUE.makes_links
#: The memo key under which a decision keeps the paths earlier commands made.
_LINKS = "\x00links"


def _names_a_destination(text: str, prog: str) -> bool:
    """Whether the pattern ``text`` names ``prog`` with a literal operand (``curl
    https://pypi.org/*``, ``ssh git@github.com *``), not only a wildcard or options."""
    words = text.split()
    if not words or program_name(words[0].rstrip("*")) != prog:
        return False
    return any(w.strip("*") and not w.startswith("-") for w in words[1:])


def _network_reasons(m: CommandMatch) -> list[Reason]:
    """Network egress: a program that connects to a host its arguments name (``curl``,
    ``whois -h``, ``smbclient``) allowed only by a wildcard (``curl *``) asks: the
    pattern allowed the program, not the host it sends to or downloads from."""
    for v in m.command.variants:
        prog = program_name(v.argv[0]) if v.argv else ""
        connects = prog in NETWORK_CLIENTS or (
            prog in NETWORK_WHEN_REMOTE and any(_REMOTE.match(a) for a in v.argv[1:])
        )
        if connects and not any(_names_a_destination(t, prog) for t in m.allowed_by):
            return [
                _reason(
                    GATE_NETWORK,
                    "medium",
                    Verdict.ASK,
                    f"`{_short(_argv(v.argv))}` connects to a host no auto_allowed pattern "
                    f"names (a wildcard allows {prog!r}, not where it connects)",
                )
            ]
    return []


def _made_links(memo: _Memo | None) -> list[str]:
    """Paths an earlier command of this string creates with a program of
    :data:`MAKES_LINKS` (kept in the decision's memo, one per line)."""
    made = memo.get(_LINKS) if memo else None
    return made.split("\n") if made else []


def _add_made_links(memo: _Memo, paths: Sequence[str]) -> None:
    if paths:
        memo[_LINKS] = "\n".join([*_made_links(memo), *paths])


#: Programs that read the names of the files they read from stdin (``cpio -o``).
NAMES_FROM_STDIN = CATALOGUE.names_from_stdin


def _copies_named_files(argv: Sequence[str]) -> bool:
    """``cpio -o``/``-p`` (copy-out, pass-through) read the files stdin names."""
    return any(
        a in ("--create", "--pass-through")
        or (a.startswith("-") and not a.startswith("--") and ("o" in a or "p" in a))
        for a in argv[1:]
    )


def _writes_of(m: CommandMatch) -> list[str]:
    """The files a command writes, as lexical absolute paths (redirections and the
    catalogue's file rules)."""
    cmd = m.command
    cwds = m.cwds or ("/",)
    out = [
        _lexical(t, c)
        for r in cmd.redirects
        if r.target is not None and r.writes and r.target.static
        for t in (r.target.value,)
        for c in cwds
    ]
    for v in cmd.variants:
        prog = program_name(v.argv[0]) if v.argv else ""
        if prog not in FILE_PROGRAMS or prog in CATALOGUE.metadata_writers:
            continue  # ``chmod +x run.sh`` changes the mode, not what runs
        found = file_targets(v.argv)
        if found is not None:
            out.extend(_lexical(t, c) for t, dyn in found[0] if not dyn for c in cwds)
    return out


def _runs_a_file(m: CommandMatch) -> bool:
    """Whether a command runs a program by path or a shell or interpreter (which may
    run a script file)."""
    for v in m.command.variants:
        if v.argv:
            prog = program_name(v.argv[0])
            if "/" in v.argv[0] or prog in SHELLS or prog in (".", "source"):
                return True
            if interpreter_options(prog) is not None:
                return True
    return False


def _runs_written(m: CommandMatch, written: set[str]) -> list[Reason]:
    """A shell or interpreter running a file an earlier command of the same string wrote
    (``echo … > t.py && python t.py``): the code it runs was never seen by a pattern."""
    cwds = m.cwds or ("/",)
    for v in m.command.variants:
        if not v.argv:
            continue
        prog = program_name(v.argv[0])
        runs_file = prog in SHELLS or prog in (".", "source") or interpreter_options(prog)
        # the program itself, and for a shell or interpreter its script (the first
        # operand: later ones are the script's data)
        script = next((w for w in v.argv[1:] if not w.startswith(("-", "+"))), None)
        words = [v.argv[0], script] if runs_file and script is not None else v.argv[:1]
        for w in words:
            if ("/" in w or runs_file) and any(_lexical(w, c) in written for c in cwds):
                return [
                    _reason(
                        GATE_CONFIG,
                        "high",
                        Verdict.ASK,
                        f"`{_argv(v.argv)}` runs {w!r}, which this command string writes "
                        "first: what it runs was never decided",
                    )
                ]
    return []


_NONE: frozenset[str] = frozenset()


@dataclass
class _Naming:
    """Files one command names, while :meth:`Gate._named_files` collects them."""

    writes: list[Target]
    reads: list[Target]
    cwds: tuple[str, ...]
    unknown: bool
    content: list[tuple[str, bool, bool]]
    below: list[Target]

    def done(self) -> _Named:
        return _Named(
            tuple(self.writes),
            tuple(self.reads),
            self.cwds,
            self.unknown,
            tuple(self.content),
            tuple(self.below),
        )


class _Named(NamedTuple):
    """Files one command names: written, read, and where relative paths resolve (as
    written: the filesystem decides where each leads, for every action anew)."""

    writes: tuple[Target, ...]
    reads: tuple[Target, ...]
    cwds: tuple[str, ...]
    #: an earlier ``cd`` (or ``env -C``) went to a directory only known at run time
    unknown: bool
    #: operands the program reads (the catalogue's ``read_operands``): path, dynamic,
    #: read recursively
    content: tuple[tuple[str, bool, bool], ...]
    #: directories whose whole tree the command writes (``rm -r``, ``chmod -R``)
    below: tuple[Target, ...]


class _Step(NamedTuple):
    """One simple command of a :class:`_Plan`."""

    match: CommandMatch
    named: _Named
    #: the reasons its text alone gives (patterns, uncertainty, auto-allowed or not)
    reasons: tuple[Reason, ...]
    #: where in ``reasons`` the program-path reasons go (an auto-allowed command)
    at_paths: int
    #: a later command of the string runs a file: what this one writes matters to it
    later: bool
    #: it may create a link (``ln``, ``mv``, ``tar x``) a later command goes through
    makes: bool
    #: what it writes (lexical absolute paths), when ``later`` or ``makes``
    writes: tuple[str, ...]
    #: the patterns that matched or allowed it
    matched: tuple[str, ...]


class _Plan(NamedTuple):
    """A command string as far as its text decides it (see :meth:`Gate._plan`)."""

    #: reasons about the whole string (what could not be parsed, literal patterns)
    reasons: tuple[Reason, ...]
    steps: tuple[_Step, ...]
    #: anything runs at all (not only comments or blank lines)
    runs: bool
    #: a word holds a "~" (see :func:`_tilde_words`): never taken from the memo
    tilde: bool


def _tilde_words(script: Script) -> bool:
    """Whether a word of the string, as the shell reads it, is or holds a "~" (decoded
    from ``$'\\x7e'``, joined across a line continuation, a loop's or an assignment's
    value …): where it leads depends on HOME or the password database when it runs."""
    for cmd in script.commands:
        if any("~" in a for v in cmd.variants for a in v.argv) or any(
            "~" in a for a in cmd.assignments
        ):
            return True
        if any(_word_tilde(w) for w in cmd.words) or any(
            r.target is not None and _word_tilde(r.target) for r in cmd.redirects
        ):
            return True
    return any(r.target is not None and _word_tilde(r.target) for r in script.redirects)


def _word_tilde(w: Word) -> bool:
    return (
        "~" in w.value
        or any("~" in c for c in w.candidates)
        or (w.runtime_path is not None and "~" in w.runtime_path)
        or any(_word_tilde(b) for b in w.braces)
    )


def _plain_reasons(m: CommandMatch) -> tuple[Reason, ...]:
    """The reasons one simple command gets from its text alone, in the gate's order:
    the patterns that match it, what is uncertain about it, then whether it is
    auto-allowed (network egress first) or asks by default."""
    cmd = m.command
    reasons = [_pattern_reason(h.pattern, h.strength, h.argv) for h in m.hits]
    reasons.extend(
        _reason(GATE_UNRESOLVED, "high", Verdict.ASK, f"{u}: `{_argv(cmd.argv)}`")
        for u in cmd.uncertain
    )
    if m.auto_allowed:
        reasons.extend(_network_reasons(m))
        reasons.append(
            _reason(
                m.allowed_by[0] if m.allowed_by else "boundaries.auto_allowed",
                "info",
                Verdict.ALLOW,
                f"`{_argv(cmd.argv)}` is auto-allowed",
            )
        )
    elif cmd.words:
        reasons.append(
            _reason(
                GATE_DEFAULT_ASK,
                "low",
                Verdict.ASK,
                f"`{_argv(cmd.argv)}` matches no auto_allowed pattern",
            )
        )
    return tuple(reasons)


def _producers(commands: Sequence[SimpleCommand]) -> dict[int, SimpleCommand]:
    """Each piped command's producer (the command before it in its pipeline), by ``seq``."""
    at = {pos: c for c in commands for pos in c.pipes}
    return {
        c.seq: at[(pid, k - 1)]
        for c in commands
        for pid, k in c.pipes[-1:]
        if k > 0 and (pid, k - 1) in at
    }


def _find_roots(producer: SimpleCommand | None) -> list[Target] | None:
    """The starting points of a ``find`` that feeds a pipe (``None``: not a find)."""
    if producer is None or producer.program != "find" or not producer.words:
        return None
    roots: list[Target] = []
    for w in producer.words[1:]:
        if w.value.startswith(("-", "(", "!")) and w.static:
            break
        roots.append((w.value, not w.static))
    return roots or [(".", False)]


def _known_at_run_time(targets: list[Target], cmd: SimpleCommand, named: _Naming) -> list[Target]:
    """Dynamic targets that are a ``$PWD``/``$$`` word, as the paths they name."""
    if not any(dyn for _, dyn in targets):
        return targets
    words = {w.value: w for w in cmd.words if w.runtime_path is not None or w.candidates}
    out: list[Target] = []
    for target, dyn in targets:
        w = words.get(target) if dyn else None
        out.extend([(target, dyn)] if w is None else _runtime_targets(w, named.cwds, named.unknown))
    return out


#: Where a path can sit inside a word besides its start: a response file (``@/etc/x``),
#: an address or URI scheme (``file:/etc/x``, ``open:/etc/x,creat``, ``man:/etc/x``),
#: a directive (``'Include /etc/x'``), an argument in a document or call (``\\input{/etc/x}``).
_EMBEDDED_PATH = re.compile(r"(?:^|[\s,:=@({])([/~][^\s,)}]*)")


def _path_like(argv: Sequence[str], *, operands: bool = True) -> list[Target]:
    """Words and ``--opt=VALUE`` values that look like paths (``/`` in them, or ``~…``):
    each may be a file the program reads (blocked directories, secrets)."""
    out: list[Target] = []
    end = False
    for token in argv[1:]:
        if not ("/" in token or token.startswith("~")):
            if token == "--":  # noqa: S105
                end = True
            continue
        if "://" in token:  # a URL names no local file, except ``file://PATH``
            scheme, _, rest = token.partition("://")
            if scheme.rpartition("=")[2].lower() != "file":
                continue
            token = rest
        if not end and token.startswith("-"):
            value = token.partition("=")[2]
            if "/" in value or value.startswith("~"):
                out.append((value, False))
                out.extend(_embedded(value))
        elif operands:
            has_key = "=" in token and not token.startswith(("/", ".", "~"))
            out.append((token.split("=", 1)[1] if has_key else token, False))
            out.extend(_embedded(token))
    return out


def _embedded(token: str) -> list[Target]:
    """Paths inside a word that does not start with one (``@/etc/x``, ``file:/etc/x``)."""
    if token.startswith(("/", "~", ".")) and not any(c in token for c in " \t,:@"):
        return []
    return [(m, False) for m in _EMBEDDED_PATH.findall(token) if m != token]


# ------------------------------------------------------------------ reasons


class _Entropy(threading.local):
    """Each thread's bytes from the OS's random source, drawn :data:`_DRAW` at a time:
    one ``getrandom`` system call per 256 decisions, not one per decision. A forked
    child draws its own (:data:`_FORKS`)."""

    def __init__(self) -> None:
        self.pool = b""
        self.at = 0
        self.forks = -1


_DRAW = 4096
_ENTROPY = _Entropy()
#: How many times this process's ancestors and itself forked: a pool drawn before a
#: fork is never used after it (parent and child would hand out the same ids).
_FORKS = [0]
os.register_at_fork(after_in_child=lambda: _FORKS.__setitem__(0, _FORKS[0] + 1))


def _random16() -> bytes:
    """16 bytes from the OS's random source (as ``os.urandom(16)``)."""
    e = _ENTROPY
    if e.at + 16 > len(e.pool) or e.forks != _FORKS[0]:
        e.pool, e.at, e.forks = os.urandom(_DRAW), 0, _FORKS[0]
    out = e.pool[e.at : e.at + 16]
    e.at += 16
    return out


def _decision_id() -> str:
    """A random (version 4) UUID string, ~5x cheaper than ``str(uuid.uuid4())``."""
    h = _random16().hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


_STAMP: list[Any] = [0, ""]


def _now_stamp() -> str:
    """The current UTC time to the second (formatted once per second)."""
    now = int(time.time())
    if _STAMP[0] != now:
        _STAMP[0] = now
        _STAMP[1] = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(_STAMP[1])


def _reason(rule: str, severity: str, verdict: Verdict, msg: str) -> Reason:
    return Reason(rule=rule, layer="constitution", severity=severity, msg=msg, verdict=verdict)


def _role_reason(role: str | None, key: str, doing: str, what: str | None = None) -> Reason:
    name = role or "this role"
    return _reason(
        f"model_permissions.{role or '*'}.{key}",
        "high",
        Verdict.DENY,
        f"{what + ': ' if what else ''}model role {name!r} may not {doing} ({key} = false)",
    )


def _pattern_reason(p: Any, strength: int, argv: Sequence[str]) -> Reason:
    kind = p.kind
    text = p.text
    shown = _argv(argv)
    if kind == "forbidden" and strength == YES:
        return _reason(
            p.rule, "critical", Verdict.DENY, f"forbidden pattern {text!r} matches `{shown}`"
        )
    if kind == "forbidden":
        return _reason(
            p.rule, "high", Verdict.ASK,
            f"forbidden pattern {text!r} may match `{shown}` once its dynamic words are expanded",
        )  # fmt: skip
    qualifier = "" if strength == YES else "may "
    return _reason(
        p.rule,
        "medium",
        Verdict.ASK,
        f"pattern {text!r} {qualifier}matches `{shown}`: needs approval",
    )


def _dedupe(reasons: list[Reason]) -> list[Reason]:
    return list({(r.rule, r.msg, r.verdict): r for r in reasons}.values())


#: Words ``shlex.quote`` leaves as they are.
_SHELL_SAFE = re.compile(r"[\w@%+=:,./-]+", re.ASCII)


def _argv(argv: Sequence[str]) -> str:
    if all(_SHELL_SAFE.fullmatch(a) for a in argv):  # what shlex.join would give
        joined = " ".join(argv)  # no whitespace inside a word: nothing to fold
        return joined if len(joined) <= 160 else joined[:159] + "…"
    return _short(shlex.join(argv))


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _str(action: Mapping[str, Any], key: str) -> str:
    value = action.get(key)
    if not isinstance(value, str):
        raise InputError(f"action.{key} must be a string")
    return value


def _run_of(agent: Mapping[str, Any] | None) -> str | None:
    """The run an action belongs to, as its agent reports it (``agent.run``): counted
    against ``max_api_cost_per_run`` when the gate has no run of its own."""
    run = agent.get("run") if agent is not None else None
    return run if isinstance(run, str) and 0 < len(run) <= 128 else None


def _cwd(cwd: str | None) -> str:
    if cwd is None:
        return os.getcwd()
    if not cwd.startswith("/"):
        return os.path.abspath(cwd)
    return _normal_dir(cwd)


@functools.lru_cache(maxsize=64)
def _normal_dir(cwd: str) -> str:
    """An absolute working directory, normalised (the same few, decision after decision)."""
    return normalise_path(cwd)


# ---------------------------------------------------------------- loading


@dataclass(frozen=True)
class Loaded:
    """A verified constitution (the stack's layers composed) and the exact bytes verified."""

    constitution: Constitution
    layers: tuple[LayerFile, ...]
    #: Versions to record as accepted once the gate is used (see ``load_layers``).
    accepts: tuple[Accept, ...] = ()

    @property
    def path(self) -> str:
        return self.layers[0].path

    @property
    def files(self) -> dict[str, str]:
        """Each layer's file and the SHA-256 of its verified bytes (for the watchdog)."""
        return {x.path: x.digest for x in self.layers}

    @property
    def digest(self) -> str:
        """The verified bytes' SHA-256 (one layer), or of every layer's, in order."""
        if len(self.layers) == 1:
            return self.layers[0].digest
        return sha256_bytes("\n".join(x.digest for x in self.layers).encode())


def load_constitution(path: str | Path, key_path: str | Path) -> Loaded:
    """Read one constitution once, verify those bytes, and nothing else (one layer)."""
    return load_layers([path], [key_path])


def load_layers(
    files: Sequence[str | Path],
    key_files: Sequence[str | Path] | None = None,
    *,
    trust: TrustPolicy | None = None,
    state: VersionState | None = None,
    record: bool = False,
) -> Loaded:
    """Read every layer once, verify each against its own signer, check the accepted
    versions in ``state`` (no rollback; ``record``: and record these as accepted now,
    else they are left in ``accepts`` for the caller), and compose them
    (:mod:`charter.actions.layers`).

    An unsigned, tampered, wrongly signed, old-format or rolled-back layer raises
    :class:`UnverifiedConstitution` (exit 2): nothing is evaluated.
    """
    try:
        layers = read_layers(files, key_files, trust=trust)
        accepts = version_accepts(layers, state) if state is not None else []
        if record and state is not None:
            accept_versions(accepts, state)
            accepts = []
    except TrustError as exc:
        raise UnverifiedConstitution(f"refusing to decide: {exc}") from exc
    return Loaded(compose(layers), layers, tuple(accepts))


__all__ = [
    "FILE_PROGRAMS",
    "Gate",
    "GateConfig",
    "UnverifiedConstitution",
    "Loaded",
    "audit_files",
    "file_targets",
    "load_constitution",
    "load_layers",
]
