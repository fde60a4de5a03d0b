"""Configuration a change cannot rewrite: files of the judged repository read at its base.

Charter is told where its configuration is (a trust policy and its keys, bundles,
waivers, a profile): paths, often inside the checkout being judged. In that
checkout every tracked file is the change's own version, so a change that edits
the trust policy, or an overlay rule, would choose what judges it. A
:class:`BaseView` maps each configured path to the one Charter reads: when the
path is inside the repository and the change adds, edits, renames or removes
it (a file in it, for a folder; a folder or symbolic link on the way, every link
of a chain included; a file a symbolic link of it reaches), to a copy of it as
of the change's base, written into a private temporary folder through the
base's own links, never touching the checkout. A
path that did not exist at the base is absent there (the loader's "no such
file" error: never a more permissive answer). Everything else, and every path
outside the repository, is read as given. See docs/design.md, 'Configuration
read at the base'.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter.core.errors import InputError
from charter.core.walk import entries_under
from charter.facts.git import GitError, Repository, canonical_path

_REGULAR = ("100644", "100755")
#: Folders a folder link may lead through before a copy gives up, and links a path may
#: go through before following it gives up (a loop).
_MAX_DEPTH = 40


class WorkTree:
    """The repository a change was built from (``repo``) and the top of its work tree,
    asked of git once, when first needed: one value for every reader of the change's
    configuration (the identity map's :func:`~charter.facts.identities.edited_by_change`
    while the change is built, then its :func:`base_view`)."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self._top: Path | None = None
        self._asked = False

    @property
    def top(self) -> Path | None:
        """The resolved top of the work tree; None when ``repo`` is not in a repository."""
        if not self._asked:
            self._top, self._asked = work_tree_top(self.repo), True
        return self._top


def work_tree(repo: Path | WorkTree) -> WorkTree:
    """``repo`` as a :class:`WorkTree` (itself when it is one: its top already asked)."""
    return repo if isinstance(repo, WorkTree) else WorkTree(repo)


class BaseView:
    """Configured paths as the change's base had them when the change touches them."""

    def __init__(
        self, tree: WorkTree, base: str | None, touched: frozenset[str], scratch: Path
    ) -> None:
        self._tree, self._repo, self._base = tree, tree.repo, base
        self._touched, self._scratch = touched, scratch
        self._entries: dict[str, tuple[str, str]] | None = None

    @property
    def top(self) -> Path | None:
        """The top of the repository's work tree (None: a change that touches nothing, or
        not a repository); asked of git once, when a configured path is first looked at
        (or not at all, when the change was built with the same :class:`WorkTree`)."""
        return self._tree.top if self._touched else None

    def path(
        self,
        given: Path,
        what: str,
        companions: Iterable[str] = (),
        reaches: Iterable[Path] = (),
    ) -> Path:
        """The file or folder to read for ``given`` (``what`` names it in errors): an
        InputError when the change added it (the base had none).

        ``companions`` are suffixes of files read with it (a bundle's signature), and
        ``reaches`` files it names (a trust policy's keys): when the change touches
        one, ``given`` is read at the base too (see :meth:`copy_named`).
        """
        chosen = self.optional_path(given, what, companions, reaches)
        if chosen is None:
            raise InputError(
                f"{given}: the change adds this {what}, and its base {self._base_name} has "
                f"none: a change is not judged by configuration it brings",
                hint=f"commit the {what} before the change, or keep it outside the repository",
            )
        return chosen

    def name(self, given: Path) -> str | None:
        """``given`` relative to the top of the work tree, as spelled (None: outside it)."""
        names = self._names(given)
        return names[0] if names else None

    def optional_path(
        self,
        given: Path,
        what: str,
        companions: Iterable[str] = (),
        reaches: Iterable[Path] = (),
    ) -> Path | None:
        """:meth:`path`, None when the base had no such file or folder."""
        names = self._names(given)
        companions = tuple(companions) if given.name else ()  # "." has no siblings
        siblings = [given.with_name(given.name + suffix) for suffix in companions]
        if not names or not any(self.touches(p) for p in (given, *siblings, *reaches)):
            return given
        relative = names[0]
        for suffix in ("", *companions):
            self._copy(relative + suffix, self._scratch / (relative + suffix), what)
        copied = self._scratch / relative
        return copied if copied.exists() else None

    @property
    def _base_name(self) -> str:
        return self._base[:12] if self._base else "(none: the first commit)"

    def copy_named(self, files: Iterable[Path], what: str) -> None:
        """Copy the base's version of ``files`` that a copy names relative to itself (a
        trust policy's keys) into the scratch folder; files elsewhere are left alone."""
        for file in files:
            relative = (
                os.path.normpath(file.relative_to(self._scratch))
                if file.is_relative_to(self._scratch)
                else ""
            )
            if relative and relative != "." and not relative.startswith(".."):
                self._copy(Path(relative).as_posix(), self._scratch / relative, what)

    def touches(self, given: Path) -> bool:
        """Whether the change touches ``given``, a folder or symbolic link on its way (every
        link of a chain), a file in it, or a file one of its links (in the checkout) reaches."""
        routes = [route(given)]
        if given.is_dir():
            routes += [route(link) for link in _links_under(given)]
        return any(
            any(self._hit(name) for name in self._inside(route.spellings))
            or not self._touched.isdisjoint(self._inside(route.steps))
            for route in routes
        )

    def _hit(self, name: str) -> bool:
        if name == ".":  # the whole work tree (a policy repository judged by itself)
            return bool(self._touched)
        return any(
            t == name or t.startswith(name + "/") or name.startswith(t + "/") for t in self._touched
        )

    def _names(self, given: Path) -> list[str]:
        """``given`` relative to the work tree's top: first as spelled before any link of
        the work tree is followed (what the base's own links resolve), then as each link
        on its way respells it — each when inside it (none outside any repository)."""
        return self._inside(route(given).spellings)

    def _inside(self, paths: Iterable[Path]) -> list[str]:
        top = self.top
        return [] if top is None else inside(paths, top)

    def _copy(self, relative: str, target: Path, what: str, seen: tuple[str, ...] = ()) -> None:
        """Write ``relative`` as of the base to ``target`` (nothing when it was not there;
        a folder link back to a folder being copied, or too deep, is left out)."""
        entries = self._base_entries(relative, what)
        name = canonical_path(Repository(self._repo), entries, relative)
        if name is None or name in seen or len(seen) > _MAX_DEPTH:
            return
        mode, sha = entries.get(name, ("", ""))
        if mode in _REGULAR:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(Repository(self._repo).read_blob(sha))
            return
        inside = sorted(p.split("/", 1)[0] for p in _under(entries, name) if p.split("/", 1)[0])
        for child in dict.fromkeys(inside):
            inner = child if name == "." else f"{name}/{child}"
            self._copy(inner, target / child, what, (*seen, name))

    def _base_entries(self, relative: str, what: str) -> dict[str, tuple[str, str]]:
        if self._entries is not None:
            return self._entries
        if self._base is None:  # the first commit: nothing came before it
            self._entries = {}
            return self._entries
        self._entries = base_entries(Repository(self._repo), self._base, what, relative)
        return self._entries


@dataclass(frozen=True)
class Route:
    """How the system reaches a path: ``steps``, every path it looks up on the way (each
    folder and each symbolic link, every link of a chain included), and ``spellings``,
    the whole path as written and as each followed link respells it (``..`` applied as
    written), ending with where it leads. All absolute."""

    steps: tuple[Path, ...]
    spellings: tuple[Path, ...]


def route(given: Path) -> Route:
    """Follow ``given`` a part at a time as the system does (at most :data:`_MAX_DEPTH`
    links: a loop stops there)."""
    done = Path("/")
    pending = list(reversed((Path.cwd() / given).parts[1:]))
    steps: list[Path] = []
    spellings = [_spelled(done, pending)]
    links = 0
    while pending:
        part = pending.pop()
        if part == "..":
            done = done.parent
            continue
        step = done / part
        steps.append(step)
        target = _link(step) if links < _MAX_DEPTH else None
        if target is None:
            done = step
            continue
        links += 1
        done = Path("/") if target.is_absolute() else done
        pending += reversed(target.parts[1:] if target.is_absolute() else target.parts)
        spellings.append(_spelled(done, pending))
    return Route(tuple(steps), (*spellings, done))


def inside(paths: Iterable[Path], top: Path) -> list[str]:
    """Each of ``paths`` inside ``top`` (resolved), relative to it, once, in order."""
    names: list[str] = []
    for path in paths:
        if path.is_relative_to(top):
            name = path.relative_to(top).as_posix()
            if name not in names:
                names.append(name)
    return names


def _spelled(done: Path, pending: list[str]) -> Path:
    return Path(os.path.normpath(done.joinpath(*reversed(pending))))


def _link(path: Path) -> Path | None:
    """Where the symbolic link ``path`` points (None: not a link, or not readable)."""
    try:
        return Path(os.readlink(path))
    except OSError:
        return None


def _links_under(folder: Path) -> list[Path]:
    """The symbolic links under ``folder`` (not followed; walked without recursion, as a
    change can nest its folders deeper than Python's recursion limit)."""
    return [Path(entry.path) for entry in entries_under(folder) if entry.is_symlink()]


def _under(entries: Mapping[str, tuple[str, str]], folder: str) -> list[str]:
    prefix = "" if folder == "." else folder + "/"
    return [p[len(prefix) :] for p in entries if p.startswith(prefix)]


def base_entries(
    checkout: Repository, base: str, what: str, relative: str
) -> dict[str, tuple[str, str]]:
    """Every entry of commit ``base`` (``Repository.entries``), read because the change
    touches the ``what`` at ``relative``: an InputError when the checkout lacks ``base``."""
    if checkout.output_or_none("cat-file", "-e", f"{base}^{{commit}}") is None:
        raise InputError(
            f"the change edits the {what} {relative}, and its base {base[:12]} is "
            f"not in {checkout.path}: the {what} it started from cannot be read",
            hint="fetch the base (actions/checkout fetch-depth: 0) or keep the "
            "configuration outside the repository",
        )
    return checkout.entries(base)


def touched_paths(files: Any) -> frozenset[str]:
    """Every path a proposal's ``files`` touches: each path, and a rename's previous one."""
    if not isinstance(files, list):
        return frozenset()
    return frozenset(
        name
        for entry in files
        if isinstance(entry, dict)
        for name in (entry.get("path"), entry.get("previous_path"))
        if isinstance(name, str) and name
    )


def work_tree_top(repo: Path) -> Path | None:
    """The resolved top of ``repo``'s work tree; None when it is not in a repository."""
    try:
        top = Repository(repo).output("rev-parse", "--show-toplevel").decode("utf-8").strip()
    except (GitError, UnicodeDecodeError):
        return None  # not a repository (an API-built change): nothing inside it
    return Path(top).resolve()


@contextmanager
def base_view(repo: Path | WorkTree, document: Mapping[str, Any] | None) -> Iterator[BaseView]:
    """A :class:`BaseView` of the change ``document`` built from ``repo`` (None: no change,
    every path read as given), its copies removed on exit. Given the :class:`WorkTree`
    the change was built with, the top of the work tree is not asked of git again."""
    tree = work_tree(repo)
    with tempfile.TemporaryDirectory(prefix="charter-base-") as folder:
        # One level down: a name a copied file gives as ../x stays in the private folder.
        scratch = Path(folder) / "base"
        if document is None:
            yield BaseView(tree, None, frozenset(), scratch)
            return
        base = document.get("base_sha")
        yield BaseView(
            tree,
            base if isinstance(base, str) and base else None,
            touched_paths(document.get("files")),
            scratch,
        )
