"""The Environment Profile file a command decides under (shared by ``check`` and ``explain``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import typer

from charter.cli import _facts
from charter.core.errors import InputError
from charter.facts import profile as profile_facts
from charter.facts.git import GitError, Repository
from charter.policy.profile import ProfileContext, diff_lines, read_profile
from charter.policy.stack import Stack
from charter.render import text as render_text

PROFILE_OPTION = typer.Option(
    None,
    "--profile",
    metavar="FILE",
    help="the Environment Profile file (default: the stack's profile_file, "
    ".charter/profile.toml, read at the base of a change built from git or GitHub, "
    "else under --repo)",
)


def split_range(spec: str) -> tuple[str, str]:
    """``BASE..HEAD`` (or ``BASE...HEAD``) as its two refs."""
    base, dots, head = spec.partition("...") if "..." in spec else spec.partition("..")
    if not dots or not base or not head:
        raise InputError(f"{spec!r} is not a range", hint="write BASE..HEAD, e.g. main..feature")
    return base, head


def context_for(
    stack: Stack,
    *,
    explicit: Path | None,
    repo: Path,
    git: str | None = None,
    staged: bool = False,
    kind: str = "pull_request",
    document: Mapping[str, Any] | None = None,
    explicit_name: str | None = None,
) -> ProfileContext:
    """The profile a decision is made under: ``--profile``, else read from the change
    (``document``: a change built from a GitHub event, see :func:`from_document`).

    ``explicit_name`` is ``--profile``'s name inside the repository (None: outside it):
    the change's own version of that file is then read from git as for the default
    path, so a change that edits the file a decision is made under (directly, or through
    a linked folder) proposes it (``proposed``) and the rules see that it does."""
    path = stack.profile_path
    if explicit is not None:
        current = read_profile(explicit)
        if current is None:
            raise InputError(f"{explicit}: no such profile file", hint="check --profile")
        chosen = ProfileContext(path=path, current=current)
        if explicit_name is None or (git is None and not staged and document is None):
            return chosen
        derived = _from_change(
            stack, repo, explicit_name, git=git, staged=staged, kind=kind, document=document
        )
        return dataclasses.replace(
            chosen, changes_file=derived.changes_file, proposed=derived.proposed
        )
    if git is None and not staged and document is None:
        return profile_facts.for_directory(repo, path)
    return _from_change(stack, repo, path, git=git, staged=staged, kind=kind, document=document)


def _from_change(
    stack: Stack,
    repo: Path,
    path: str,
    *,
    git: str | None,
    staged: bool,
    kind: str,
    document: Mapping[str, Any] | None,
) -> ProfileContext:
    """The profile file ``path`` as the change (a range, the staged change or a built
    GitHub document) starts from and proposes it."""
    if git is not None:
        base, head = split_range(git)
        return profile_facts.for_range(repo, base, head, path, pull_request=kind == "pull_request")
    if staged:
        return profile_facts.for_staged(repo, path, _facts.hook_index())
    if document is None:  # the callers pass one of the three
        raise ValueError("a change's profile needs a range, the staged change or a document")
    return from_document(stack, document, repo, path)


def from_document(
    stack: Stack, document: Mapping[str, Any], repo: Path, path: str | None = None
) -> ProfileContext:
    """The profile of a built change (a GitHub event): read at its ``base_sha`` from the
    checkout when both commits are there, never from the work tree (which holds the
    change's own profile); without them the stack's default lists apply. With both
    there, a profile git cannot read (a shallow checkout without their merge base) is an
    error, never a decision without the profile. ``path``: the file's name in the
    repository (default: the stack's ``profile_file``)."""
    base, head = document.get("base_sha"), document.get("head_sha")
    path = path or stack.profile_path
    if not (isinstance(base, str) and isinstance(head, str) and base and head):
        return ProfileContext(path=path)
    if not _in_checkout(repo, base, head):
        if _in_checkout(repo):  # a checkout, only without the event's commits: say so
            typer.echo(
                f"charter: note: the event's commits {base[:12]}..{head[:12]} are not in the "
                f"checkout at {repo}, so the Environment Profile is the stack's default and a "
                "change to it through a symbolic link is not seen (fetch them: "
                "actions/checkout fetch-depth: 0)",
                err=True,
            )
        return ProfileContext(path=path)
    kind = document.get("kind")
    return profile_facts.for_range(repo, base, head, path, pull_request=kind == "pull_request")


def _in_checkout(repo: Path, *commits: str) -> bool:
    try:
        checkout = Repository(repo)
        for commit in commits:
            checkout.resolve(commit, "commit")
    except GitError:
        return False
    return True


def diff_view(changes: Sequence[Mapping[str, Any]], path: str) -> list[render_text.Item]:
    """The profile change, for people (nothing when the change leaves the file alone)."""
    if not changes:
        return []
    return [
        render_text.styled((f"Environment Profile change ({path}):", "bold")),
        *(render_text.styled("  ", line) for line in diff_lines(changes)),
    ]
