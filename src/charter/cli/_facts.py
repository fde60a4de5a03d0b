"""What ``charter proposal from-*`` and ``charter check`` share to build a proposal from facts."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import typer

from charter.cli._stack import trust_policy_at
from charter.core.errors import InputError
from charter.facts.at_base import WorkTree, base_view, work_tree
from charter.facts.evidence import for_document
from charter.facts.git import identity_variables
from charter.facts.github import GitHubEvent, build_from_github
from charter.facts.github_api import from_environment
from charter.facts.identities import IdentityMap, edited_by_change, load_identities
from charter.facts.proposal import GitRange, Progress, StagedChange, build_from_git, build_staged
from charter.facts.reconcile import Facts, reconcile
from charter.policy.proposal import validate
from charter.trust.policy import EvidenceTrust, TrustPolicy

EVIDENCE_OPTION = typer.Option(
    None,
    "--evidence",
    metavar="DIR",
    help="files CI produced (artifacts, SBOMs, scans, signatures, attestations), "
    "verified against the trust policy's [evidence] signers",
)


def hook_index() -> Path | None:
    """The index a commit hook was handed (``GIT_INDEX_FILE``: ``git commit -a`` and
    ``git commit PATHS`` use a temporary one), or None: the repository's own."""
    index = os.environ.get("GIT_INDEX_FILE")
    return Path(index).absolute() if index else None


def identity_map(path: Path | None) -> IdentityMap:
    """The identity map of ``--identities`` (none: everyone unknown counts as an agent)."""
    return load_identities(path) if path is not None else IdentityMap()


def read_body(path: Path | None) -> str | None:
    """The text of ``--body-file``, or None."""
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise InputError(f"{path}: cannot read ({reason})", hint="--body-file FILE") from None


def judged(
    build: Callable[[IdentityMap], dict[str, Any]],
    identities: Path | None,
    repo: Path | WorkTree,
) -> dict[str, Any]:
    """``build(map)`` with the identity map of ``identities``, built again with the map
    as of the change's base when the change edits that file itself (a change cannot
    make its own author human: :func:`charter.facts.identities.edited_by_change`).
    ``repo`` is the checkout, or its :class:`WorkTree` shared with the change's base view."""
    document = build(identity_map(identities))
    own = edited_by_change(identities, repo, document) if identities is not None else None
    return document if own is None else build(own)


def identities_for(
    identities: Path | None, repo: Path | WorkTree, built: Mapping[str, Any] | None
) -> IdentityMap | None:
    """The configured identity map a declared document is reconciled with (None: none)."""
    if identities is None:
        return None
    own = edited_by_change(identities, repo, built) if built is not None else None
    return own if own is not None else load_identities(identities)


def from_github(
    event: Path,
    api_dir: Path | None,
    identities: Path | None,
    environment: str | None = None,
    env: Mapping[str, str] | None = None,
    repo: Path | WorkTree = Path("."),
) -> dict[str, Any]:
    """The proposal of a GitHub event: saved answers, else fetched with ``GITHUB_TOKEN``."""
    api = from_environment(os.environ if env is None else env) if api_dir is None else None
    spec = GitHubEvent(event=event, api_dir=api_dir, environment=environment, api=api)
    return judged(partial(build_from_github, spec), identities, repo)


def from_git(
    spec: GitRange, identities: Path | None, tree: WorkTree | None = None
) -> dict[str, Any]:
    """The proposal of a git range, with a progress bar on a terminal (``tree``: the
    :class:`WorkTree` of ``spec.repo`` the caller reads configuration with too)."""
    with progress_bar("reading the change") as progress:
        build = partial(_git, spec, progress=progress)
        return judged(build, identities, spec.repo if tree is None else tree)


def _git(spec: GitRange, identities: IdentityMap, progress: Progress | None) -> dict[str, Any]:
    return build_from_git(spec, identities, progress)


def staged(
    repo: Path,
    identities: Path | None,
    *,
    body: str | None = None,
    environment: str | None = None,
    repository: str | None = None,
    tree: WorkTree | None = None,
) -> dict[str, Any]:
    """The proposal of the staged change (index vs HEAD), with a progress bar on a terminal
    (``tree``: the :class:`WorkTree` of ``repo`` the caller reads configuration with too).

    A commit hook is handed its index in ``GIT_INDEX_FILE`` (``git commit -a``
    and ``git commit PATHS`` use a temporary one); it is read from there.
    """
    spec = StagedChange(
        repo=repo,
        environment=environment,
        body=body,
        repository=repository,
        index_file=hook_index(),
        identity_env=identity_variables(os.environ),
    )
    with progress_bar("reading the staged change") as progress:
        build = partial(_staged, spec, progress=progress)
        return judged(build, identities, repo if tree is None else tree)


def _staged(
    spec: StagedChange, identities: IdentityMap, progress: Progress | None
) -> dict[str, Any]:
    return build_staged(spec, identities, progress)


def gather(
    *,
    built: Mapping[str, Any] | None,
    identities: IdentityMap | None,
    evidence: Path | None,
    policy: TrustPolicy | None,
    declared: Mapping[str, Any],
    tree: WorkTree | None = None,
) -> Facts:
    """The facts a declared document is reconciled with (docs/design.md, 'Facts: declared
    and derived'): a built document, the identity map, and the verified evidence (its
    scans' absolute paths read against ``tree``'s top, the judged checkout)."""
    found = None
    if evidence is not None or "evidence" in declared:
        signers = policy.evidence if policy is not None else EvidenceTrust()
        found = for_document(declared, evidence, signers)
    top = tree.top if tree is not None and found is not None and found.scan else None
    return Facts(
        built=built,
        identities=identities,
        artifacts=found.artifacts if found is not None else None,
        scan=found.scan if found is not None else None,
        root=str(top) if top is not None else None,
    )


def with_evidence(
    document: dict[str, Any],
    evidence: Path | None,
    trust: Path | None,
    repo: Path | WorkTree = Path("."),
) -> dict[str, Any]:
    """A built document with the verified evidence of ``--evidence`` attached (the trust
    policy as of the change's base when the change touches it)."""
    if evidence is None:
        return document
    tree = work_tree(repo)
    with base_view(tree, document) as view:
        policy = trust_policy_at(trust, view)
        facts = gather(
            built=document,
            identities=None,
            evidence=evidence,
            policy=policy,
            declared={},
            tree=tree,
        )
        return validate(reconcile(None, facts).document)


@contextmanager
def progress_bar(description: str) -> Iterator[Progress | None]:
    """A progress callback drawing a bar on standard error if it is a terminal, else None."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Bar(*columns, TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
