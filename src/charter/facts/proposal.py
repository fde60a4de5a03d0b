"""Build a proposal document from a real git range (``charter proposal from-git``).

Everything in the document is derived from the repository and the identity
map, never declared: the changed files (status, previous path of a rename,
binary flag, patch), the commits with their authors and trailers, the
dependency changes of every lockfile or manifest touched, and the author's
type. A patch is omitted only for a binary file, a file whose diff is longer
than the per-file budget, a diff that is not UTF-8, or once the total budget is
spent — and the file then says so in ``patch_omitted``. A binary file's new bytes
are scanned for credentials (:mod:`charter.facts.binary`): one holding a token, a
compressed archive, or one not scanned within the budget says what in
``patch_omitted`` (``binary; …``), so CRED-UNSCANNED-PATCH-001 asks. The result is
validated against the proposal schema before it is returned.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any

from charter.facts import binary as scan
from charter.facts.dependencies import (
    DependencyFacts,
    Side,
    derive_dependency_changes,
    is_dependency_file,
)
from charter.facts.git import (
    MAX_PATCH_BYTES,
    MAX_TOTAL_PATCH_BYTES,
    ChangedFile,
    Commit,
    Repository,
    RunningBlobs,
    RunningDiff,
    resolve_link,
)
from charter.facts.identities import IdentityMap
from charter.facts.lockfiles import reader_for, requirement_includes, requirements_txt
from charter.policy.proposal import validate, validated

KINDS = ("pull_request", "merge", "push", "release")

#: Told ``(done, total)`` as the files of a change are read: counts only ever grow.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class GitRange:
    """What to build: the repository, the two refs and the proposal's framing."""

    repo: Path
    base: str
    head: str
    kind: str = "pull_request"
    environment: str | None = None
    body: str | None = None
    repository: str | None = None
    max_patch_bytes: int = MAX_PATCH_BYTES
    max_total_patch_bytes: int = MAX_TOTAL_PATCH_BYTES
    max_binary_scan_bytes: int = scan.MAX_BINARY_SCAN_BYTES
    max_total_binary_scan_bytes: int = scan.MAX_TOTAL_BINARY_SCAN_BYTES


def build_from_git(
    spec: GitRange, identities: IdentityMap, progress: Progress | None = None
) -> dict[str, Any]:
    """The validated proposal document for ``spec``'s range.

    ``progress`` is told ``(files read, files in all)`` as the patches are read.
    """
    repo = Repository(spec.repo)
    base = repo.resolve(spec.base, "base")
    head = repo.resolve(spec.head, "head")
    # A pull request shows what head adds since it forked (base...head).
    old = repo.merge_base(base, head) if spec.kind == "pull_request" else base
    # git diffs every file (into a temporary file) while Python reads the rest.
    with repo.start_diff(old, head) as diff:
        changed = repo.changed_files(old, head, binary=False)
        # git reads the changed dependency files' blobs (inflating a large lockfile)
        # while Python reads the commits and the trees.
        with _DependencyBlobs(repo, changed) as blobs:
            commits = repo.commits(base, head)
            head_commit = _head_commit(commits, repo, head)
            # Dependency files first: their two sides are compared before the patches
            # are held, so a large lockfile's reading and the kept patches never add up.
            dependencies = _dependencies(repo, changed, old, head, blobs)
        files = _files(repo, diff, old, head, changed, spec, progress)
    document: dict[str, Any] = {
        "kind": spec.kind,
        "repository": spec.repository or repo.origin_name() or spec.repo.resolve().name,
        # The branch the change targets, as the rules compare it (main, not origin/main
        # or refs/heads/main); a base that is no branch (a commit) does not say: null.
        "base": repo.branch_name(spec.base),
        "head": repo.branch_name(spec.head) or head,
        "base_sha": old,
        "head_sha": head,
        "author": _author(head_commit, commits, identities),
        "title": head_commit.subject,
        "body": spec.body if spec.body is not None else head_commit.body,
        "environment": spec.environment,
        "files": files,
        "commits": [_commit(c, identities) for c in commits],
        "dependencies": dependencies,
    }
    # The proof travels with it: deciding it as built does not validate it again.
    return validated(document)


@dataclass(frozen=True)
class StagedChange:
    """The change staged in ``repo``'s index (what ``git commit`` would record next).

    ``index_file`` is the index a commit hook was handed (``GIT_INDEX_FILE``),
    when it is not the repository's own. ``identity_env`` holds the variables that
    name the commit's author and committer where the commit is made
    (:func:`charter.facts.git.identity_variables`: ``GIT_AUTHOR_NAME``,
    ``GIT_CONFIG_PARAMETERS`` …): git prefers them to the repository's configuration.
    """

    repo: Path
    environment: str | None = None
    body: str | None = None
    repository: str | None = None
    index_file: Path | None = None
    identity_env: Mapping[str, str] = field(default_factory=dict)
    max_patch_bytes: int = MAX_PATCH_BYTES
    max_total_patch_bytes: int = MAX_TOTAL_PATCH_BYTES
    max_binary_scan_bytes: int = scan.MAX_BINARY_SCAN_BYTES
    max_total_binary_scan_bytes: int = scan.MAX_TOTAL_BINARY_SCAN_BYTES


def build_staged(
    spec: StagedChange, identities: IdentityMap, progress: Progress | None = None
) -> dict[str, Any]:
    """The validated proposal for the staged change: the index against HEAD.

    It is framed as a ``push`` of the coming commit to the current branch
    (``base`` = that branch, or null when HEAD is detached): a commit on a
    branch is what a push delivers, so committing on a protected branch is
    judged before it is made. There are no commits yet; the author and the
    committer are whom ``git commit`` would record (:func:`_staged_author`). In a
    repository without commits the index is compared to the empty tree.
    """
    repo = Repository(spec.repo, spec.index_file)
    head = repo.head()
    old = head if head is not None else repo.empty_tree()
    with repo.start_diff(old, None) as diff:  # as build_from_git
        changed = repo.changed_files(old, None, binary=False)
        with _DependencyBlobs(repo, changed) as blobs:
            dependencies = _dependencies(repo, changed, old, None, blobs)
        files = _files(repo, diff, old, None, changed, spec, progress)
    branch = repo.current_branch()
    document: dict[str, Any] = {
        "kind": "push",
        "repository": spec.repository or repo.origin_name() or spec.repo.resolve().name,
        "base": branch,
        "head": branch,
        "base_sha": head,
        "head_sha": None,
        "author": _staged_author(repo, spec.identity_env, identities),
        "title": None,
        "body": spec.body,
        "environment": spec.environment,
        "files": files,
        "commits": [],
        "dependencies": dependencies,
    }
    return validate(document)


def _staged_author(
    repo: Repository, env: Mapping[str, str], identities: IdentityMap
) -> dict[str, str]:
    """The coming commit's author, an agent when its author is one or its committer is
    one the map names (as for a range: :func:`_author`). Each is whom ``git commit``
    records where it runs (``git var``: ``GIT_AUTHOR_NAME``, ``-c user.name=…``,
    ``author.name``, then ``user.name``; the committer alike), so an agent whose
    environment or configuration names it is not judged as the ``user.name`` of the
    checkout it works in; without an identity git can tell, ``user.name``/``user.email``."""
    fallback = (repo.config("user.name"), repo.config("user.email"))
    name, email = repo.ident("AUTHOR", env) or fallback
    committer = repo.ident("COMMITTER", env) or fallback
    agent = identities.classify(name, email) == "agent" or identities.names_agent(*committer)
    return {"id": email or name or "unknown", "type": "agent" if agent else "human"}


def _head_commit(commits: list[Commit], repo: Repository, head: str) -> Commit:
    if commits and commits[-1].sha == head:
        return commits[-1]
    return repo.commit(head)


def _author(head: Commit, commits: list[Commit], identities: IdentityMap) -> dict[str, str]:
    # Any agent among the range's authors, co-authors or Agent: trailers makes it an
    # agent's; so does a committer the map names an agent (one that wrote a human as the
    # author). An unknown committer is not an agent here: GitHub commits its web merges
    # and squashes itself (noreply@github.com).
    types = {identities.classify(c.author_name, c.author_email) for c in commits or [head]}
    for commit in commits or [head]:
        if identities.names_agent(commit.committer_name, commit.committer_email):
            types.add("agent")
        for key, value in commit.trailers:
            if key.lower() == "agent" and value:
                types.add("agent")
            elif key.lower() == "co-authored-by":
                name, email = _person(value)
                types.add(identities.classify(name, email))
    return {
        "id": head.author_email or head.author_name,
        "type": "agent" if "agent" in types else "human",
    }


def _person(value: str) -> tuple[str, str]:
    name, _, rest = value.partition("<")
    return name.strip(), rest.partition(">")[0].strip()


def _commit(commit: Commit, identities: IdentityMap) -> dict[str, Any]:
    return {
        "sha": commit.sha,
        "author": {
            "name": commit.author_name,
            "email": commit.author_email,
            "type": identities.classify(commit.author_name, commit.author_email),
        },
        "committer": {"name": commit.committer_name, "email": commit.committer_email},
        "subject": commit.subject,
        "body": commit.body,
        "trailers": [{"key": k, "value": v} for k, v in commit.trailers],
    }


def _files(
    repo: Repository,
    diff: RunningDiff,
    old: str,
    head: str | None,
    changed: list[ChangedFile],
    spec: GitRange | StagedChange,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    files = []
    spent = 0
    scanned = _Scanned(spec.max_binary_scan_bytes, spec.max_total_binary_scan_bytes)
    if progress is not None:
        progress(0, len(changed))

    def budget() -> int:
        return min(spec.max_patch_bytes, spec.max_total_patch_bytes - spent)

    # One `git diff` gives every file's patch; a file git calls binary only
    # because of the change's .gitattributes is diffed again, as text, alone.
    for done, (file, streamed) in enumerate(diff.patches(changed, budget), start=1):
        entry: dict[str, Any] = {
            "path": file.path,
            "status": file.status,
            "previous_path": file.previous_path,
            "binary": file.binary,
        }
        patch = None
        # git also calls a file binary when the change's own .gitattributes says so
        # (`-diff`, `binary`): only content decides, or a secret could hide there.
        # A binary file's new bytes are scanned for credentials (charter.facts.binary).
        omitted = scanned.judge(repo, file) if file.binary else None
        if omitted is None:
            text = file.binary
            entry["binary"] = False
            limit = budget()
            data = repo.patch(old, head, file, limit, text=True) if text else streamed
            if data is None and limit < spec.max_patch_bytes:
                omitted = f"total patch budget spent ({spec.max_total_patch_bytes} bytes)"
            elif data is None:
                omitted = f"too large (more than {spec.max_patch_bytes} bytes)"
            else:
                patch, omitted = _text(data)
                spent += len(data) if patch is not None else 0
        entry["patch"] = patch
        if omitted is not None:
            entry["patch_omitted"] = omitted
        files.append(entry)
        if progress is not None:
            progress(done, len(changed))
    return files


@dataclass
class _Scanned:
    """The binary files' scan budget: ``limit`` bytes per file, ``left`` of the total."""

    limit: int
    total: int
    left: int = field(init=False)

    def __post_init__(self) -> None:
        self.left = self.total

    def judge(self, repo: Repository, file: ChangedFile) -> str | None:
        """``patch_omitted`` of a file git diffed as binary, or None when its content is
        text (git's own test, :func:`_binary_content`, finds no NUL byte on either side).

        ``"binary"`` unless its new bytes hold a credential-looking token or an archive,
        or were not scanned (over budget). Only new bytes are scanned: a removed file, or
        one whose bytes did not change, is ``"binary"``. The new side is read once, for
        git's test and the scan; the bytes read count against the total, scanned or not.
        """
        new = file.new_blob
        if new is None or new == file.old_blob:
            return "binary" if _binary_content(repo, file) else None
        limit = min(self.limit, self.left)
        stream = repo.blob_chunks(new, max(limit, _PREFIX), scan.CHUNK)
        first = next(stream, b"")  # a whole chunk (or the blob), at least _PREFIX bytes
        if b"\x00" not in first[:_PREFIX] and b"\x00" not in repo.blob_prefix(
            file.old_blob, _PREFIX
        ):
            stream.close()
            return None
        read = 0

        def within() -> Iterator[bytes]:
            nonlocal read
            for chunk in chain([first], stream):
                read += len(chunk)
                if read <= limit:
                    yield chunk

        findings = scan.scan(within())
        self.left -= min(read, limit)
        if read <= limit:
            return scan.reason(findings)
        return scan.too_large(self.limit) if limit == self.limit else scan.budget_spent(self.total)


#: git's binary test reads this many bytes of each side.
_PREFIX = 8000


def _binary_content(repo: Repository, file: ChangedFile) -> bool:
    """git's own test (a NUL byte in the first 8000 bytes) on either side of the file."""
    return any(b"\x00" in repo.blob_prefix(sha, _PREFIX) for sha in (file.old_blob, file.new_blob))


def _text(data: bytes) -> tuple[str | None, str | None]:
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, "not UTF-8 text"


#: The blobs of a dependency file's two sides (None where absent).
Blobs = tuple[str | None, str | None]


class _DependencyBlobs:
    """The changed dependency files' sides (:func:`_changed_sides`), their blobs read by one
    ``git cat-file --batch`` started at once (:meth:`Repository.start_blobs`; none when
    there is nothing to read), in the order they are compared. A context manager: leaving
    it stops git."""

    def __init__(self, repo: Repository, changed: list[ChangedFile]) -> None:
        self.repo = repo
        self.sides = _changed_sides(changed)
        shas = [sha for pair in self.sides.values() for sha in pair if sha is not None]
        self._running: RunningBlobs | None = repo.start_blobs(shas) if shas else None
        self._batched = frozenset(shas)

    def __enter__(self) -> _DependencyBlobs:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._running is not None:
            self._running.close()

    def side(self, sha: str | None) -> Side:
        """A function reading blob ``sha`` when its file is compared (None for the absent
        side): from the batch, or (a linked file's target, rare) on its own."""
        if sha is None:
            return None
        if self._running is not None and sha in self._batched:
            return partial(self._running.read, sha)
        return partial(self.repo.read_blob, sha)


def _changed_sides(changed: list[ChangedFile]) -> dict[str, Blobs]:
    """The dependency files the change touches itself: path -> the blobs of its two sides."""
    sides: dict[str, Blobs] = {}
    for file in changed:
        if is_dependency_file(file.path):
            old_path_is_same = file.previous_path is None
            if old_path_is_same and file.old_blob == file.new_blob:
                sides.pop(file.path, None)  # the same bytes on both sides: nothing changed
            else:
                sides[file.path] = (file.old_blob if old_path_is_same else None, file.new_blob)
        if file.previous_path is not None and is_dependency_file(file.previous_path):
            sides[file.previous_path] = (file.old_blob, None)
    return sides


def _dependencies(
    repo: Repository,
    changed: list[ChangedFile],
    old: str,
    new: str | None,
    blobs: _DependencyBlobs,
) -> dict[str, Any]:
    touched = {f.path for f in changed} | {f.previous_path for f in changed if f.previous_path}
    # Only when something else changed can a file be read under another file's name.
    others = not all(is_dependency_file(path) for path in touched)
    trees = (repo.entries(old), repo.entries(new)) if others else ({}, {})
    # path -> the blobs of its two sides (None where absent): linked files first (they
    # are never touched themselves, so the changed files' sides add to them).
    planned: dict[str, Blobs] = {**_linked_sides(repo, touched, trees), **blobs.sides}
    facts = _dependency_facts(planned, blobs)
    unparsed = [{"path": u.path, "reason": u.reason} for u in facts.unparsed]
    unparsed += _included(repo, touched, trees)
    return {
        "changed": bool(facts.changes or unparsed),
        "changes": [
            {
                "ecosystem": c.ecosystem,
                "name": c.name,
                "old": c.old,
                "new": c.new,
                "file": c.file,
                "direct": c.direct,
            }
            for c in facts.changes
        ],
        "unparsed": sorted(unparsed, key=lambda u: (u["path"], u["reason"])),
    }


def _dependency_facts(planned: dict[str, Blobs], blobs: _DependencyBlobs) -> DependencyFacts:
    """The dependency facts of ``planned``'s files.

    Each side is read when its file is compared and let go after (``git cat-file
    --batch`` writes them to a temporary file, :class:`_DependencyBlobs`), so one
    dependency file's bytes are held at a time.
    """
    return derive_dependency_changes(
        {path: (blobs.side(old), blobs.side(new)) for path, (old, new) in planned.items()}
    )


Trees = tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]


def _linked_sides(repo: Repository, touched: set[str], trees: Trees) -> dict[str, Blobs]:
    """Dependency files that are symbolic links, read through the link: their targets' blobs.

    A package manager reads ``package-lock.json -> locks/npm.json`` at its
    target, so a change made only to the target is a change of the lockfile:
    its two sides are the target's, on each side of the change. A link that
    changed itself is read as it is (its target path is no lockfile).
    """
    before, after = trees
    links = {
        path
        for entries in trees
        for path, (mode, _) in entries.items()
        if mode == "120000" and is_dependency_file(path) and path not in touched
    }
    sides: dict[str, Blobs] = {}
    for link in sorted(links):
        was, now = resolve_link(repo, before, link), resolve_link(repo, after, link)
        if was != now:
            sides[link] = (was, now)
    return sides


def _included(repo: Repository, touched: set[str], trees: Trees) -> list[dict[str, str]]:
    """Changed files that a pip requirements file reads too (``-r``, ``-c``) but whose
    own name is no dependency file's: each is an unparsed dependency file (pip installs
    from it; Charter reads requirements only by their names)."""
    found: dict[str, str] = {}
    for entries in trees:
        for path, (mode, sha) in entries.items():
            if mode not in ("100644", "100755") or reader_for(path) is not requirements_txt:
                continue
            for name in requirement_includes(repo.read_blob(sha)):
                target = posixpath.normpath(posixpath.join(posixpath.dirname(path), name))
                if target in touched and not is_dependency_file(target):
                    found.setdefault(target, path)
    return [
        {"path": target, "reason": f"read by pip through {by} (-r/-c); its change is unknown"}
        for target, by in sorted(found.items())
    ]
