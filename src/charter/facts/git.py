"""Read what a change did from a real git repository.

Every call runs the ``git`` binary directly (never a shell) with a fixed
environment (``LC_ALL=C``, no pager, no prompt, no replace refs or grafts),
``-c core.quotepath=off``, ``-c core.fsmonitor=false``, ``--literal-pathspecs``, and, for diffs,
``--no-ext-diff --no-textconv`` so no repository configuration can run a
program or rewrite what is compared.
Path lists are NUL-separated (``-z``), so any file name (spaces, newlines,
non-ASCII) round-trips.

A pull request is compared the way GitHub does: from the merge base of base
and head (``base...head``); a push, merge or release from base to head.
Anything wrong — no git binary, a directory that is not a repository, a ref
that does not resolve, a base missing from a shallow clone, a range whose
commits go past a shallow clone's history — raises
:class:`GitError` (exit 2) naming what is wrong; the caller never gets a
smaller set of facts instead.
"""

from __future__ import annotations

import os
import posixpath
import re
import signal
import subprocess
import tempfile
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol, Self

from charter.core.errors import InputError

#: A file's patch larger than this is omitted (and the file says so).
MAX_PATCH_BYTES = 1024 * 1024
#: Once the patches kept add up to this, further patches are omitted (stated per file).
MAX_TOTAL_PATCH_BYTES = 16 * 1024 * 1024

_HINT = "see docs/design.md, 'Proposal document'"
_STATUS = {"A": "added", "M": "modified", "T": "modified", "D": "removed", "R": "renamed"}
_NULL_SHA = "0" * 40
_EMPTY_TREE_SHA1 = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_EMPTY_TREE_SHA256 = "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321"


class GitError(InputError):
    """The repository or a ref cannot give the facts asked for."""


@dataclass(frozen=True)
class ChangedFile:
    """One file a change touched, with the blobs on each side (None when absent)."""

    path: str
    status: str
    previous_path: str | None
    old_blob: str | None
    new_blob: str | None
    binary: bool = False


@dataclass(frozen=True)
class Commit:
    """One commit of the range, with its parsed trailers in order."""

    sha: str
    author_name: str
    author_email: str
    committer_name: str
    committer_email: str
    subject: str
    body: str
    trailers: tuple[tuple[str, str], ...]


#: Variables that decide whom a commit names (its author and committer, and the
#: configuration they are read from), passed to ``git var`` by :meth:`Repository.ident`.
_IDENTITY_VARIABLE = re.compile(
    r"GIT_(?:AUTHOR|COMMITTER)_(?:NAME|EMAIL)|GIT_CONFIG_(?:PARAMETERS|COUNT|GLOBAL|SYSTEM"
    r"|NOSYSTEM|KEY_\d+|VALUE_\d+)"
)


def identity_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``environ`` that decide whom a commit made there names."""
    return {k: v for k, v in environ.items() if _IDENTITY_VARIABLE.fullmatch(k)}


#: A grafts file that cannot exist (a file under /dev/null): git reads none, silently
#: (an existing empty one, /dev/null itself, makes git warn that grafts are deprecated).
_NO_GRAFTS = os.path.join(os.devnull, "grafts")


def _env(index_file: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    if index_file is not None:  # the index a commit hook was given (git commit -a / PATHS)
        env["GIT_INDEX_FILE"] = str(index_file)
    env.update(
        LC_ALL="C",
        LANG="C",
        GIT_PAGER="cat",
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_OPTIONAL_LOCKS="0",
        # Replace refs (git replace) make git read another object in place of the one a
        # commit or tree names, and a grafts file (.git/info/grafts) other parents: a
        # local ref or file must not swap the change, or its merge base, for another one.
        GIT_NO_REPLACE_OBJECTS="1",
        GIT_GRAFT_FILE=_NO_GRAFTS,
    )
    return env


#: Settings of every git call: names as they are, and no program of the repository's
#: (core.fsmonitor is one git runs whenever it reads the index: the staged change).
_SETTINGS = ("-c", "core.quotepath=off", "-c", "core.fsmonitor=false")


#: The ``a/``/``b/`` prefixes the patch reader splits on, whatever ``diff.noprefix`` or
#: ``diff.mnemonicPrefix`` say (a common personal setting).
_PREFIXES = ("--src-prefix=a/", "--dst-prefix=b/")


def _command(args: tuple[str, ...]) -> list[str]:
    return ["git", *_SETTINGS, "--literal-pathspecs", *args]


class Repository:
    """A git work tree or bare repository at ``path``, checked on construction.

    ``index_file`` is the index to read the staged change from (default: the
    repository's own); ``None`` as the ``new`` side of a diff means that index.
    """

    def __init__(self, path: Path, index_file: Path | None = None) -> None:
        self.path = path
        self.index_file = index_file
        if not path.is_dir():
            raise GitError(f"{path}: no such directory", hint="pass --repo DIR")
        probe = self._run("rev-parse", "--git-dir", check=False)
        if probe.returncode != 0:
            why = _first_line(probe.stderr).removeprefix("fatal: ")
            if why.startswith("not a git repository") or why == "failed":
                why = "not a git repository"
            raise GitError(f"{path}: {why}", hint="pass --repo DIR of a clone")

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        try:
            done = subprocess.run(
                _command(args),
                cwd=self.path,
                env=_env(self.index_file),
                capture_output=True,
                check=False,
            )
        except FileNotFoundError:
            raise GitError("git: no git binary on PATH", hint="install git") from None
        except OSError as exc:
            raise GitError(f"git: cannot run ({exc.strerror})", hint="install git") from None
        if check and done.returncode != 0:
            raise GitError(f"git {args[0]}: {_first_line(done.stderr)}", hint=_HINT)
        return done

    def output(self, *args: str) -> bytes:
        """Standard output of ``git ARGS`` (GitError on a non-zero exit)."""
        return self._run(*args).stdout

    def output_or_none(self, *args: str) -> bytes | None:
        """Standard output of ``git ARGS``, or None when it exits non-zero."""
        done = self._run(*args, check=False)
        return done.stdout if done.returncode == 0 else None

    def resolve(self, ref: str, role: str) -> str:
        """The commit ``ref`` names; GitError naming ``role`` (base/head) if none."""
        done = self._run(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False
        )
        if done.returncode == 0:
            return done.stdout.decode("ascii").strip()
        shallow = self._run("rev-parse", "--is-shallow-repository", check=False)
        if shallow.stdout.strip() == b"true":
            raise GitError(
                f"{role} {ref!r} is not in this shallow clone",
                hint="fetch more history (git fetch --unshallow; actions/checkout fetch-depth: 0)",
            )
        raise GitError(f"{role} {ref!r} does not name a commit in {self.path}", hint=_HINT)

    def merge_base(self, base: str, head: str) -> str:
        """The merge base of two commits (GitError when they share no history)."""
        done = self._run("merge-base", base, head, check=False)
        if done.returncode != 0:
            raise GitError(
                f"base {base[:12]} and head {head[:12]} share no history",
                hint="in a shallow clone fetch more history (git fetch --unshallow)",
            )
        return done.stdout.decode("ascii").strip()

    def branch_name(self, ref: str) -> str | None:
        """The branch name ``ref`` stands for, or None when it is no branch."""
        if ref.startswith("-"):
            return None
        done = self._run("rev-parse", "--symbolic-full-name", ref, check=False)
        full = done.stdout.decode("utf-8", "replace").strip()
        for prefix in ("refs/heads/", "refs/remotes/"):
            if done.returncode == 0 and full.startswith(prefix):
                name = full.removeprefix(prefix)
                return name.split("/", 1)[1] if prefix == "refs/remotes/" and "/" in name else name
        return None

    def changed_files(self, old: str, new: str | None, *, binary: bool = True) -> list[ChangedFile]:
        """Every file that differs between two commits (or ``old`` and the index, ``new``
        None), renames detected (``-M``).

        ``binary=False`` leaves every file's ``binary`` False instead of asking git
        (a second whole diff, ``--numstat``); :meth:`patches` marks them as it reads.
        """
        sides = _sides(old, new)
        raw = self.output("diff", "--no-ext-diff", "--no-textconv", "-M", "--raw", "-z",
                          "--no-abbrev", *sides, "--")  # fmt: skip
        binary_paths = (
            _binary_paths(
                self.output(
                    "diff",
                    "--no-ext-diff",
                    "--no-textconv",
                    "-M",
                    "--numstat",
                    "-z",
                    *sides,
                    "--",
                )  # fmt: skip
            )
            if binary
            else set()
        )
        return [
            ChangedFile(
                f.path, f.status, f.previous_path, f.old_blob, f.new_blob, f.path in binary_paths
            )
            for f in _parse_raw(raw)
        ]

    def entries(self, tree: str | None) -> dict[str, tuple[str, str]]:
        """Every file of commit or tree ``tree`` (None: the index) as path -> (mode, object)."""
        if tree is None:  # mode SP object SP stage TAB path NUL
            listing = self.output("ls-files", "--stage", "-z")
        else:  # mode SP type SP object TAB path NUL
            listing = self.output("ls-tree", "-r", "-z", "--full-tree", tree)
        found: dict[str, tuple[str, str]] = {}
        for record in listing.split(b"\x00"):
            meta, tab, name = record.partition(b"\t")
            fields = meta.split(b" ")
            if tab and len(fields) == 3:
                mode, sha = fields[0], fields[1] if tree is None else fields[2]
                path = name.decode("utf-8", "surrogateescape")  # only looked up, never shown
                found[path] = (mode.decode("ascii"), sha.decode("ascii"))
        return found

    def blob(self, sha: str | None) -> bytes | None:
        """The bytes of one blob, or None for the absent side of an add or delete."""
        return None if sha is None else self.read_blob(sha)

    def read_blob(self, sha: str) -> bytes:
        """The bytes of blob ``sha``.

        Read from an unbuffered pipe into one buffer that grows as they arrive, so
        a large blob (a 10 MB lockfile) is not held twice, as chunks and then joined.
        """
        proc = self._spawn(("cat-file", "blob", sha), unbuffered=True)
        assert proc.stdout is not None  # noqa: S101 - set by stdout=PIPE
        try:
            # Standard error is read after: cat-file writes one line there, if any.
            data = proc.stdout.read()
        finally:
            _, err = proc.communicate()
        if proc.returncode != 0:
            raise GitError(f"git cat-file: {_first_line(err)}", hint=_HINT)
        return data

    def _spawn(
        self, args: tuple[str, ...], *, errors: bool = True, unbuffered: bool = False
    ) -> subprocess.Popen[bytes]:
        """``git ARGS`` streaming its output (standard error kept when ``errors``;
        ``unbuffered``: standard output read straight from the pipe)."""
        try:
            return subprocess.Popen(
                _command(args),
                cwd=self.path,
                env=_env(self.index_file),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE if errors else subprocess.DEVNULL,
                bufsize=0 if unbuffered else -1,
            )
        except OSError:
            raise GitError("git: no git binary on PATH", hint="install git") from None

    def blob_prefix(self, sha: str | None, size: int) -> bytes:
        """The first ``size`` bytes of a blob (b"" for the absent side), read no further."""
        if sha is None:
            return b""
        proc = self._spawn(("cat-file", "blob", sha), errors=False)
        assert proc.stdout is not None  # noqa: S101 - set by stdout=PIPE
        data = proc.stdout.read(size)
        proc.kill()
        proc.communicate()
        return data

    def blob_chunks(self, sha: str, limit: int, size: int) -> Generator[bytes, None, None]:
        """The bytes of blob ``sha`` in reads of ``size``, up to ``limit + 1`` bytes in all
        (more than ``limit`` tells the caller the blob is longer), read no further."""
        proc = self._spawn(("cat-file", "blob", sha))
        assert proc.stdout is not None  # noqa: S101 - set by stdout=PIPE
        read, ended = 0, False
        try:
            while read <= limit:
                chunk = proc.stdout.read(min(size, limit + 1 - read))
                if not chunk:
                    ended = True
                    break
                read += len(chunk)
                yield chunk
        finally:
            if not ended:
                proc.kill()
            _, err = proc.communicate()
        if ended and proc.returncode != 0:
            raise GitError(f"git cat-file: {_first_line(err)}", hint=_HINT)

    def patch(
        self, old: str, new: str | None, file: ChangedFile, limit: int, *, text: bool = False
    ) -> bytes | None:
        """The unified diff of one file, or None when it is longer than ``limit`` bytes.

        ``text`` diffs it as text whatever ``.gitattributes`` says (``-diff``, ``binary``).
        """
        paths = [file.path] if file.previous_path is None else [file.previous_path, file.path]
        args = (
            "diff",
            "--no-ext-diff",
            "--no-textconv",
            "--no-color",
            *_PREFIXES,
            *(("--text",) if text else ()),
            "-M",
            *_sides(old, new),
            "--",
        )
        proc = self._spawn((*args, *paths))
        assert proc.stdout is not None  # noqa: S101 - set by stdout=PIPE
        data = proc.stdout.read(limit + 1)
        too_large = len(data) > limit
        if too_large:
            proc.kill()
        _, err = proc.communicate()
        if not too_large and proc.returncode != 0:
            raise GitError(f"git diff {file.path!r}: {_first_line(err)}", hint=_HINT)
        return None if too_large else data

    def patches(
        self,
        old: str,
        new: str | None,
        files: list[ChangedFile],
        budget: Callable[[], int],
    ) -> Iterator[tuple[ChangedFile, bytes | None]]:
        """Each of ``files`` (as ``changed_files`` listed them) with its unified diff:
        :meth:`RunningDiff.patches` of a diff started now (see :meth:`start_diff`)."""
        with self.start_diff(old, new) as diff:
            yield from diff.patches(files, budget)

    def start_diff(self, old: str, new: str | None) -> RunningDiff:
        """Start the one ``git diff`` that prints every file's patch, and return at once.

        git writes it to an unlinked temporary file while the caller does other work
        (reads the dependency files): its work overlaps Python's, and nothing of it
        is held in this process until :meth:`RunningDiff.patches` reads it. Use it as
        a context manager: leaving it stops git and closes the file.
        """
        args = ("diff", "--no-ext-diff", "--no-textconv", "--no-color", *_PREFIXES, "-M",
                *_sides(old, new))  # fmt: skip
        return RunningDiff(self, (*args, "--"))

    def start_blobs(self, shas: list[str]) -> RunningBlobs:
        """Start one ``git cat-file --batch`` writing the blobs ``shas`` (in that order)
        to an unlinked temporary file, and return at once: git reads the next blob
        while the caller works on one. Use it as a context manager, as :meth:`start_diff`."""
        return RunningBlobs(self, list(dict.fromkeys(shas)))

    def _start(
        self, args: tuple[str, ...], files: tuple[IO[bytes], IO[bytes], IO[bytes] | None]
    ) -> subprocess.Popen[bytes]:
        """``git ARGS`` writing to two files (reading a third, if given); nothing is
        read from it here."""
        stdout, stderr, stdin = files
        try:
            return subprocess.Popen(
                _command(args),
                cwd=self.path,
                env=_env(self.index_file),
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
            )
        except OSError:
            raise GitError("git: no git binary on PATH", hint="install git") from None

    def head(self) -> str | None:
        """The commit HEAD names, or None in a repository without commits."""
        done = self._run("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
        return done.stdout.decode("ascii").strip() if done.returncode == 0 else None

    def empty_tree(self) -> str:
        """The empty tree's id in this repository's hash (what a first commit is compared to)."""
        done = self._run("rev-parse", "--show-object-format", check=False)
        sha256 = done.returncode == 0 and done.stdout.strip() == b"sha256"
        return _EMPTY_TREE_SHA256 if sha256 else _EMPTY_TREE_SHA1

    def current_branch(self) -> str | None:
        """The branch HEAD is on (also before its first commit), or None when detached."""
        done = self._run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        if done.returncode != 0:
            return None
        return done.stdout.decode("utf-8", "replace").strip() or None

    def ident(self, role: str, given: Mapping[str, str]) -> tuple[str, str] | None:
        """Whom ``git commit`` run with the variables ``given`` records as its ``role``
        (``AUTHOR`` or ``COMMITTER``): name and email, as ``git var`` says (None when git
        cannot tell). The variables that name them (:func:`identity_variables`: ``-c
        user.name=…`` reaches a hook as ``GIT_CONFIG_PARAMETERS``) are passed to it
        alone; ``git var`` runs no program."""
        env = {k: v for k, v in _env(self.index_file).items() if k != "GIT_CONFIG_NOSYSTEM"}
        env.update(identity_variables(given))
        try:
            done = subprocess.run(
                _command(("var", f"GIT_{role}_IDENT")),
                cwd=self.path,
                env=env,
                capture_output=True,
                check=False,
            )
        except OSError as exc:
            raise GitError(f"git: cannot run ({exc.strerror})", hint="install git") from None
        if done.returncode != 0:
            return None
        name, _, rest = done.stdout.decode("utf-8", "replace").strip().partition(" <")
        return name, rest.partition(">")[0]

    def config(self, key: str) -> str:
        """The value of a git configuration key (``user.name``), or "" when unset."""
        done = self._run("config", "--get", key, check=False)
        return done.stdout.decode("utf-8", "replace").strip() if done.returncode == 0 else ""

    def commits(self, old: str, new: str) -> list[Commit]:
        """The commits reachable from ``new`` but not ``old``, oldest first.

        GitError when one of them is where a shallow clone's history stops: its
        parents are missing, so commits of the range may be too.
        """
        listed = self._log("--reverse", f"{old}..{new}")
        cut = self._shallow_commits()
        for commit in listed if cut else ():
            if commit.sha in cut:
                raise GitError(
                    f"the commits of {old[:12]}..{new[:12]} go past this shallow clone's "
                    f"history (the parents of {commit.sha[:12]} are missing)",
                    hint="fetch more history (git fetch --unshallow; actions/checkout "
                    "fetch-depth: 0)",
                )
        return listed

    def _shallow_commits(self) -> frozenset[str]:
        """The commits whose parents this clone lacks (none unless it is shallow)."""
        where = self.output("rev-parse", "--git-path", "shallow").decode("utf-8", "replace")
        try:
            text = (self.path / where.strip()).read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return frozenset()
        except OSError as exc:
            raise GitError(f"{where.strip()}: cannot read ({exc.strerror})", hint=_HINT) from None
        return frozenset(text.split())

    def commit(self, sha: str) -> Commit:
        """One commit."""
        return self._log("-1", sha)[0]

    def _log(self, *revs: str) -> list[Commit]:
        fields = ("%H", "%an", "%ae", "%cn", "%ce", "%s", "%b", "%(trailers:only,unfold)")
        fmt = "%x00".join(fields) + "%x00%x1e"
        out = self.output("log", "--encoding=UTF-8", f"--format={fmt}", *revs, "--")
        commits = []
        for record in out.decode("utf-8", "replace").split("\x00\x1e"):
            parts = record.lstrip("\n").split("\x00")
            if len(parts) < len(fields):
                continue
            sha, an, ae, cn, ce, subject, body, trailers = parts[: len(fields)]
            commits.append(
                Commit(sha, an, ae, cn, ce, subject, body.strip("\n"), _trailers(trailers))
            )
        return commits

    def origin_name(self) -> str | None:
        """``owner/name`` from the ``origin`` remote's URL, if there is one."""
        done = self._run("config", "--get", "remote.origin.url", check=False)
        url = done.stdout.decode("utf-8", "replace").strip().removesuffix("/")
        url = url.removesuffix(".git")
        parts = url.replace(":", "/").split("/")
        if done.returncode != 0 or len(parts) < 2 or not parts[-1] or not parts[-2]:
            return None
        return f"{parts[-2]}/{parts[-1]}"


class _Running:
    """A git command running into an unlinked temporary file (its standard error
    into another), read as it grows.

    Leaving the context (or :meth:`close`) kills git if it still runs, reaps it and
    closes its files, whatever happened: no process, descriptor or file outlives it.
    The files are unlinked from the start (``tempfile.TemporaryFile``), so not even a
    killed Charter leaves one behind.
    """

    def __init__(self, repo: Repository, args: tuple[str, ...], given: bytes | None) -> None:
        with ExitStack() as stack:
            try:
                out, err = (
                    stack.enter_context(tempfile.TemporaryFile(prefix="charter-git-"))
                    for _ in range(2)
                )
                stdin = None
                if given is not None:  # what git reads, from a file: it never waits on us
                    stdin = stack.enter_context(tempfile.TemporaryFile(prefix="charter-git-"))
                    stdin.write(given)
                    stdin.seek(0)
            except OSError as exc:
                raise GitError(
                    f"git {args[0]}: cannot make a temporary file ({exc.strerror})",
                    hint="set TMPDIR to a writable directory",
                ) from None
            self._proc = repo._start(args, (out, err, stdin))
            self._args = args
            self._out, self._err = _Growing(out, self._proc), err
            self._files = stack.pop_all()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop git (when it still runs), reap it and close the files."""
        try:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
        finally:
            self._files.close()

    def _error(self) -> str:
        """The first line git wrote to its standard error ("failed" when none)."""
        return _first_line(os.pread(self._err.fileno(), _STDERR_READ, 0))

    def _raise_if_failed(self) -> None:
        """Raise git's own failure when it has exited with one: output that stops short
        is then git's error (a disk full under ``TMPDIR``, where its output goes, most
        often; its standard error is there too, so it may have said nothing)."""
        code = self._proc.poll()
        if code is None or code == 0:
            return
        how = f"exit {code}" if code > 0 else f"killed by {_signal_name(-code)}"
        said = os.pread(self._err.fileno(), _STDERR_READ, 0)
        what = f": {_first_line(said)}" if said.strip() else ", saying nothing"
        # Its output could not be written (or not even its error): the temporary files.
        spool = code < 0 or not said.strip() or b"write" in said.lower() or b"space" in said
        raise GitError(
            f"git {self._args[0]} failed ({how}){what}",
            hint=f"git's output goes to temporary files in {tempfile.gettempdir()}: make room "
            "there or set TMPDIR to a directory with space for the whole diff"
            if spool
            else _HINT,
        )


class RunningDiff(_Running):
    """A ``git diff`` of every file (see :meth:`Repository.start_diff`), read once by
    :meth:`patches`."""

    def __init__(self, repo: Repository, args: tuple[str, ...]) -> None:
        super().__init__(repo, args, None)

    def patches(
        self, files: list[ChangedFile], budget: Callable[[], int]
    ) -> Iterator[tuple[ChangedFile, bytes | None]]:
        """Each of ``files`` (as ``changed_files`` listed them) with its unified diff.

        One ``git diff`` prints every file's diff, in the order of ``changed_files``
        (same options, same rename pairing); this splits it at the ``diff --git``
        headers, which no patch line can start with (a type change's two diffs
        share one header and stay together). A file git diffs as binary (its
        diff says ``Binary files … differ``, what ``--numstat`` shows as ``-``) is
        yielded with ``binary`` True and None; any other with its diff, or None
        when it is longer than ``budget()`` bytes (asked once the file's extended
        header is read: the caller may have spent some since). The output is read
        in blocks as git writes it (:class:`_Growing`): header lines one by one, a
        patch's hunks by searching the block for the next header (C speed), so only
        one file's kept diff (at most its budget) and one block are held at a time.
        Output that does not line up with ``files`` raises :class:`GitError`: the
        caller never gets another file's patch; so does git's failure, named by the
        first line it wrote to standard error.
        """
        reader = _DiffReader(self._out)
        header = reader.line()
        for file in files:
            if not _is_header_of(header, file):
                self._raise_if_failed()
                raise GitError(
                    f"git diff: the diff of {file.path!r} is not where git listed it",
                    hint=_HINT,
                )
            split = _split_one(reader, header, file.binary, budget)
            header = split.next_header
            if split.binary and not file.binary:
                file = replace(file, binary=True)
            yield file, split.data
        if header:
            self._raise_if_failed()
            raise GitError("git diff: more diffs than changed files", hint=_HINT)
        if self._proc.wait() != 0:
            raise GitError(f"git diff: {self._error()}", hint=_HINT)


class RunningBlobs(_Running):
    """``git cat-file --batch`` of some blobs (see :meth:`Repository.start_blobs`):
    :meth:`read` returns one blob's bytes, from one read of exactly its size."""

    def __init__(self, repo: Repository, shas: list[str]) -> None:
        super().__init__(repo, ("cat-file", "--batch"), "".join(f"{s}\n" for s in shas).encode())
        #: sha -> (offset, size) of its bytes in the output, None when it is no blob.
        self._found: dict[str, tuple[int, int] | None] = {}
        self._next = 0  # where the next header line starts

    def read(self, sha: str) -> bytes:
        """The bytes of blob ``sha`` (one of those asked for); GitError if it is none."""
        while sha not in self._found:
            self._header()
        found = self._found[sha]
        if found is None:
            raise GitError(f"git cat-file: {sha} is missing or not a blob", hint=_HINT)
        offset, size = found
        data = self._out.read_at(offset, size)
        if len(data) != size:
            self._raise_if_failed()
            raise GitError(f"git cat-file: {self._error()}", hint=_HINT)
        return data

    def _header(self) -> None:
        """Read the next object's header line (``<sha> <type> <size>`` or ``<sha> missing``)."""
        line = self._out.read_at(self._next, _HEADER_READ)
        end = line.find(b"\n")
        words = line[:end].decode("ascii", "replace").split(" ") if end > 0 else []
        if len(words) == 2 and words[1] == "missing":
            self._found[words[0]] = None
            self._next += end + 1
        elif len(words) == 3 and words[2].isdigit():
            size = int(words[2])
            start = self._next + end + 1
            self._found[words[0]] = (start, size) if words[1] == "blob" else None
            self._next = start + size + 1  # the bytes, then a newline
        else:
            raise GitError(f"git cat-file: {self._error()}", hint=_HINT)


#: How long to wait for git before reading its file again, when the reading caught up (s).
_POLL = 0.005
#: The most of git's standard error read for its first line.
_STDERR_READ = 64 * 1024
#: Bytes read for a ``git cat-file --batch`` header line (a sha, a type, a size).
_HEADER_READ = 256


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


class _Growing:
    """The file a running git writes, read from its start as it grows.

    ``read`` returns at least one byte while git runs (waiting for it when the
    reading caught up), and b"" only once git has exited and every byte it wrote is
    read. It reads at its own offset (``os.pread``): git's descriptor shares the
    file's offset, which reading must not move.
    """

    def __init__(self, file: IO[bytes], proc: subprocess.Popen[bytes]) -> None:
        self._fd = file.fileno()
        self._proc = proc
        self._offset = 0

    def read(self, size: int, /) -> bytes:
        """The next bytes, at most ``size``: b"" only at the end of what git wrote."""
        self._wait_for(self._offset + 1)
        data = os.pread(self._fd, size, self._offset)
        self._offset += len(data)
        return data

    def read_at(self, offset: int, size: int) -> bytes:
        """``size`` bytes from ``offset`` once git wrote them (fewer if it stopped first)."""
        self._wait_for(offset + size)
        return os.pread(self._fd, size, offset)

    def _wait_for(self, end: int) -> None:
        """Wait until the file holds ``end`` bytes, or git has exited."""
        while True:
            exited = self._proc.poll() is not None  # asked first: then nothing more can come
            if exited or os.fstat(self._fd).st_size >= end:
                return
            try:
                self._proc.wait(_POLL)
            except subprocess.TimeoutExpired:
                pass


#: Symbolic links followed before a path is given up on (Linux's own limit).
_MAX_LINKS = 40
_REGULAR = ("100644", "100755")


def resolve_link(repo: Repository, entries: dict[str, tuple[str, str]], path: str) -> str | None:
    """The blob ``path`` resolves to in ``entries`` (:meth:`Repository.entries`) through
    symbolic links, of files or of folders on the way; None when it leads nowhere in
    the tree (missing, outside it, a loop, not a regular file)."""
    target = canonical_path(repo, entries, path)
    mode, sha = entries.get(target, ("", "")) if target is not None else ("", "")
    return sha if mode in _REGULAR else None


def canonical_path(repo: Repository, entries: dict[str, tuple[str, str]], path: str) -> str | None:
    """``path`` with every symbolic link of ``entries`` on the way resolved (the name of a
    file, a folder or nothing in the tree); None when it leaves the tree or loops."""
    for _ in range(_MAX_LINKS):
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            mode, sha = entries.get("/".join(parts[:depth]), ("", ""))
            if mode == "120000":
                target = repo.read_blob(sha).decode("utf-8", "surrogateescape")
                joined = posixpath.join(posixpath.dirname("/".join(parts[:depth])), target)
                path = posixpath.normpath(posixpath.join(joined, *parts[depth:]))
                if target.startswith("/") or path == ".." or path.startswith("../"):
                    return None
                break
        else:
            return path
    return None


def _sides(old: str, new: str | None) -> tuple[str, ...]:
    # ``git diff --cached OLD`` compares OLD with the index: the staged change.
    return ("--cached", old) if new is None else (old, new)


def _is_header_of(header: bytes, file: ChangedFile) -> bool:
    """Whether ``header`` opens ``file``'s diff (a quoted header is only checked for its form)."""
    if not header.startswith(b"diff --git "):
        return False
    if b'"' in header:  # git C-quotes names with quotes, backslashes, control characters
        return True
    old = (file.previous_path or file.path).encode()
    return header == b"diff --git a/" + old + b" b/" + file.path.encode() + b"\n"


#: Every file's diff opens with a line starting so; no patch line can (they start with " +-@\\").
_DIFF_HEADER = b"diff --git "
#: Bytes read from ``git diff`` at a time.
_BLOCK = 256 * 1024


class _DiffReader:
    """``git diff`` output read in blocks: a line at a time, or up to the next header.

    The buffer keeps the byte before the read position, so whether a ``diff --git``
    found in it starts a line is always known.
    """

    def __init__(self, stream: _Readable, block: int = _BLOCK) -> None:
        self._stream = stream
        self._block = block
        self._buf = bytearray()
        self._pos = 0
        self._eof = False

    def _more(self) -> bool:
        """Read one more block (False at the end of the output)."""
        if self._eof:
            return False
        block = self._stream.read(self._block)
        if not block:
            self._eof = True
            return False
        drop = max(self._pos - 1, 0)
        del self._buf[:drop]
        self._pos -= drop
        self._buf += block
        return True

    def line(self) -> bytes:
        """The next line with its newline; the unterminated last line; b"" at the end."""
        searched = self._pos  # a long line is searched once, not again with every block
        while (end := self._buf.find(b"\n", searched)) < 0:
            searched, pos = len(self._buf), self._pos
            if not self._more():
                end = len(self._buf) - 1
                break
            searched -= pos - self._pos  # what _more dropped before the position
        line = bytes(self._buf[self._pos : end + 1])
        self._pos = end + 1
        return line

    def _header_at_or_after(self, start: int) -> int:
        """Where the first line starting ``diff --git `` at or after ``start`` begins, or -1."""
        buf = self._buf
        hit = buf.find(_DIFF_HEADER, start)
        while hit > 0 and buf[hit - 1] != 0x0A:
            hit = buf.find(_DIFF_HEADER, hit + 1)
        return hit

    def until_header(self, room: int) -> tuple[list[bytes], int]:
        """Read from a line's start up to the next line starting ``diff --git `` (left
        unread) or the end: the bytes read, in pieces, if they are at most ``room``
        (else no pieces), and how many they were."""
        pieces: list[bytes] = []
        size = 0
        while True:
            hit = self._header_at_or_after(self._pos)
            # Without a header in the block, all but its last bytes (a header's
            # start may be cut there) are surely this diff's.
            end = hit if hit >= 0 else max(self._pos, len(self._buf) - len(_DIFF_HEADER) + 1)
            size += end - self._pos
            if size <= room and end > self._pos:
                pieces.append(bytes(self._buf[self._pos : end]))
            self._pos = end
            if hit >= 0:
                break
            if not self._more():
                size += len(self._buf) - self._pos
                if size <= room and len(self._buf) > self._pos:
                    pieces.append(bytes(self._buf[self._pos :]))
                self._pos = len(self._buf)
                break
        return (pieces if size <= room else []), size


@dataclass(frozen=True)
class _Split:
    """One file's diff as :func:`_split_one` read it."""

    data: bytes | None
    binary: bool
    next_header: bytes


def _split_one(
    reader: _DiffReader, opened: bytes, binary: bool, budget: Callable[[], int]
) -> _Split:
    """Read the diff ``opened`` begins (its header line already read) up to the next one.

    Extended header lines are read one by one: ``Binary files … differ`` marks the
    file binary, and the budget is asked at the first of it and ``--- ``. After a
    ``--- `` line the hunks are read up to the next header. A type change (file <->
    symlink) prints two diffs under one header: a repeated header continues the file.
    """
    pieces, size, limit = [opened], len(opened), None
    while line := reader.line():
        if line.startswith(_DIFF_HEADER) and line != opened:
            break
        binary = binary or line.startswith(b"Binary files ")
        size += len(line)
        if limit is None or size <= limit:
            pieces.append(line)
        if limit is None and (binary or line.startswith(b"--- ")):
            limit = -1 if binary else budget()
        if limit is not None and line.startswith(b"--- "):
            hunks, read = reader.until_header(limit - size)
            size += read
            pieces.extend(hunks)
    if limit is None:  # a diff of its extended header only (a mode change)
        limit = -1 if binary else budget()
    kept = not binary and size <= limit
    return _Split(b"".join(pieces) if kept else None, binary, line)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _first_line(stderr: bytes) -> str:
    lines = [x for x in stderr.decode("utf-8", "replace").splitlines() if x.strip()]
    return lines[0].strip() if lines else "failed"


def _trailers(text: str) -> tuple[tuple[str, str], ...]:
    found = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            found.append((key.strip(), value.strip()))
    return tuple(found)


def _decode(path: bytes) -> str:
    try:
        return path.decode("utf-8")
    except UnicodeDecodeError:
        shown = path.decode("utf-8", "backslashreplace")
        raise GitError(
            f"file name {shown!r} is not UTF-8; a proposal cannot name it", hint=_HINT
        ) from None


def _parse_raw(raw: bytes) -> list[ChangedFile]:
    tokens = raw.split(b"\x00")
    files = []
    i = 0
    while i < len(tokens) and tokens[i].startswith(b":"):
        _, _, old_blob, new_blob, status = tokens[i][1:].decode("ascii").split(" ")
        letter = status[0]
        if letter in "RC":
            previous, path = _decode(tokens[i + 1]), _decode(tokens[i + 2])
            i += 3
        else:
            previous, path = None, _decode(tokens[i + 1])
            i += 2
        if letter == "U":  # a conflict in the index: no staged content to judge yet
            raise GitError(
                f"{path!r} is unmerged in the index", hint="resolve the conflict and stage it"
            )
        files.append(
            ChangedFile(
                path,
                _STATUS.get(letter, "added" if letter == "C" else "modified"),
                previous if letter == "R" else None,
                None if old_blob == _NULL_SHA else old_blob,
                None if new_blob == _NULL_SHA else new_blob,
            )
        )
    return files


def _binary_paths(numstat: bytes) -> set[str]:
    tokens = numstat.split(b"\x00")
    binary = set()
    i = 0
    while i < len(tokens) and tokens[i]:
        added, deleted, path = tokens[i].split(b"\t", 2)
        if path:
            i += 1
        else:  # a rename: the paths follow as their own tokens
            path = tokens[i + 2]
            i += 3
        if added == b"-" and deleted == b"-":
            binary.add(_decode(path))
    return binary
