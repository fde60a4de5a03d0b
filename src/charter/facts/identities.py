"""Who is an agent: an identity map from configuration, never from the change.

The map is the ``[identities]`` table of a TOML file::

    [identities]
    agents = ["*[bot]", "agent-*"]        # login/name globs
    agent_emails = ["*@agents.example"]   # email globs
    humans = ["Ada Lovelace", "ada"]      # login/name globs
    human_emails = ["*@example.com"]      # email globs

Globs are :func:`fnmatch.fnmatchcase` patterns in which only ``*`` and ``?`` are
wildcards (``[`` is literal, so ``*[bot]`` is the GitHub bot suffix); emails compare
case-insensitively.
An identity that matches an agent pattern is an agent; otherwise one that
matches a human pattern is a human; an identity the map does not know is
treated as an **agent**, the stricter type (with no map configured, every
identity is unknown). See docs/design.md, 'Proposal document'.
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from charter.core.errors import ConfigError
from charter.facts.at_base import (
    WorkTree,
    base_entries,
    inside,
    route,
    touched_paths,
    work_tree,
)
from charter.facts.git import Repository, resolve_link

_KEYS = ("agents", "agent_emails", "humans", "human_emails")
_HINT = "see docs/design.md, 'Proposal document'"


@dataclass(frozen=True)
class IdentityMap:
    """Name and email patterns of agents and humans."""

    agents: tuple[str, ...] = ()
    agent_emails: tuple[str, ...] = ()
    humans: tuple[str, ...] = ()
    human_emails: tuple[str, ...] = ()

    def classify(self, name: str, email: str) -> str:
        """``"agent"`` or ``"human"``; an unknown identity is an agent."""
        if self.names_agent(name, email):
            return "agent"
        mail = email.lower()
        if _any(name, self.humans) or _any(mail, tuple(p.lower() for p in self.human_emails)):
            return "human"
        return "agent"

    def names_agent(self, name: str, email: str) -> bool:
        """Whether an agent pattern matches the identity (an unknown one is not named).

        Agent patterns also match another spelling of the same name (GitHub logins
        ignore case; " bot[bot]", "BOT［bot］"): stricter, never looser.
        """
        folded = tuple(_fold(p) for p in self.agents)
        if _any(name, self.agents) or _any(_fold(name), folded):
            return True
        if _any(email.lower(), tuple(p.lower() for p in self.agent_emails)):
            return True
        return _any(_fold(email), tuple(_fold(p) for p in self.agent_emails))


def _fold(text: str) -> str:
    """``text`` compatibility-normalised (NFKC), case-folded and stripped."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


def _any(value: str, patterns: tuple[str, ...]) -> bool:
    # Only * and ? are wildcards: "*[bot]" means the literal suffix "[bot]", not
    # fnmatch's character class (which would match every name ending in b, o or t).
    return bool(value) and any(fnmatchcase(value, p.replace("[", "[[]")) for p in patterns)


def parse_identities(table: Any, *, where: str) -> IdentityMap:
    """An :class:`IdentityMap` from the ``[identities]`` table (ConfigError if malformed)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [identities] must be a table", hint=_HINT)
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: [identities] has unknown key {unknown[0]!r}",
            hint=f"use {', '.join(_KEYS)}",
        )
    values: dict[str, tuple[str, ...]] = {}
    for key in _KEYS:
        items = table.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise ConfigError(
                f"{where}: identities.{key} must be a list of non-empty strings", hint=_HINT
            )
        values[key] = tuple(items)
    return IdentityMap(**values)


def load_identities(path: str | Path) -> IdentityMap:
    """The identity map in the TOML file at ``path`` (empty if it has no [identities])."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise ConfigError(f"{path}: cannot read ({reason})", hint=_HINT) from None
    return loads_identities(text, str(path))


def loads_identities(text: str, where: str) -> IdentityMap:
    """The identity map in TOML ``text`` read from ``where`` (empty without [identities])."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not TOML ({exc})", hint=_HINT) from None
    return parse_identities(document.get("identities", {}), where=where)


def edited_by_change(
    path: Path, repo: Path | WorkTree, document: Mapping[str, Any]
) -> IdentityMap | None:
    """The map a change is judged by when it edits the map file ``path`` itself, else None.

    A map file inside the repository the change was built from (``repo``) is, in
    a checkout of that change, the change's own version: an agent could call
    itself human there. When ``document``'s files include it (added, edited,
    renamed or removed; or a folder or symbolic link on its way, every link of a
    chain; or, for a symbolic link, its target), the map is the
    file as of the change's ``base_sha``, read through links there too (empty
    when the file is not there: everyone an agent); an InputError when that
    commit is not in ``repo``. None when the change leaves the file alone, or
    the file is outside any repository: it is read as it is. Given a
    :class:`~charter.facts.at_base.WorkTree`, its top is asked of git once for
    this and the change's :func:`~charter.facts.at_base.base_view`.
    """
    tree = work_tree(repo)
    names, steps = _relative(path, tree)
    touched = touched_paths(document.get("files"))
    if not names or touched.isdisjoint([*names, *steps]):
        return None
    relative, base = names[0], document.get("base_sha")
    if not isinstance(base, str) or not base:  # the first commit: nothing came before it
        return IdentityMap()
    checkout = Repository(tree.repo)
    blob = resolve_link(checkout, base_entries(checkout, base, "identity map", relative), relative)
    if blob is None:
        return IdentityMap()
    where = f"{base}:{relative}"
    try:
        return loads_identities(checkout.read_blob(blob).decode("utf-8"), where)
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: cannot read (not UTF-8)", hint=_HINT) from None


def _relative(path: Path, tree: WorkTree) -> tuple[list[str], list[str]]:
    """``path`` relative to the top of ``tree`` — the name given (first: a map
    file the change turned into a link is its own), then as each symbolic link on its way
    respells it — and every folder and link on its way (every link of a chain), each when
    inside it (none for a path outside any repository)."""
    root = tree.top
    if root is None:
        return [], []  # not a repository (an API-built change): nothing to compare with
    way = route(path)
    return inside(way.spellings, root), inside(way.steps, root)
