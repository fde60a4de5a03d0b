"""``charter proposal from-git|from-github``: the proposal document derived from facts."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from charter.cli import _facts
from charter.cli._app import app
from charter.cli._stack import TRUST_OPTION
from charter.core.errors import InputError
from charter.facts.at_base import WorkTree
from charter.facts.proposal import GitRange
from charter.render import json as render_json

proposal_app = typer.Typer(help="Build proposal documents from facts.", no_args_is_help=True)
app.add_typer(proposal_app, name="proposal")


class Kind(StrEnum):
    pull_request = "pull_request"
    merge = "merge"
    push = "push"
    release = "release"


@proposal_app.command("from-git")
def from_git(
    base: str | None = typer.Option(None, "--base", help="base ref (branch, tag or commit)"),
    head: str | None = typer.Option(None, "--head", help="head ref (branch, tag or commit)"),
    staged: bool = typer.Option(
        False, "--staged", help="the staged change (index vs HEAD) instead of BASE..HEAD"
    ),
    repo: Path = typer.Option(Path("."), "--repo", help="the git repository"),
    kind: Kind = typer.Option(Kind.pull_request, "--kind", help="what the change is"),
    environment: str | None = typer.Option(None, "--environment", help="target environment"),
    body_file: Path | None = typer.Option(
        None, "--body-file", help="body text (default: the head commit's message body)"
    ),
    identities: Path | None = typer.Option(
        None,
        "--identities",
        help="TOML file with an [identities] table (default: none; unknown = agent)",
    ),
    repository: str | None = typer.Option(
        None, "--repository", help="OWNER/NAME (default: from the origin remote)"
    ),
    evidence: Path | None = _facts.EVIDENCE_OPTION,
    trust: Path | None = TRUST_OPTION,
) -> None:
    """Print the proposal (JSON) built from the commits and files of BASE..HEAD.

    With --staged: the change staged for the next commit, as a push to the
    current branch by `git config user.name/user.email` (no commits yet).
    A progress bar is drawn on standard error when it is a terminal.
    """
    body = _facts.read_body(body_file)
    if staged:
        if base is not None or head is not None or kind is not Kind.pull_request:
            raise InputError(
                "--staged takes no --base, --head or --kind",
                hint="the staged change is compared with HEAD and framed as a push",
            )
        tree = WorkTree(repo)
        built = _facts.staged(
            repo,
            identities,
            body=body,
            environment=environment,
            repository=repository,
            tree=tree,
        )
        render_json.show(_facts.with_evidence(built, evidence, trust, tree))
        return
    if base is None or head is None:
        raise InputError("give --base REF and --head REF, or --staged", hint="see --help")
    spec = GitRange(
        repo=repo,
        base=base,
        head=head,
        kind=kind.value,
        environment=environment,
        body=body,
        repository=repository,
    )
    tree = WorkTree(repo)
    built = _facts.from_git(spec, identities, tree)
    render_json.show(_facts.with_evidence(built, evidence, trust, tree))


@proposal_app.command("from-github")
def from_github(
    event: Path = typer.Option(..., "--event", help="webhook payload file (GITHUB_EVENT_PATH)"),
    api_dir: Path | None = typer.Option(
        None,
        "--api-dir",
        help="saved 'gh api --paginate' answers: pulls/N/files.json, reviews.json, commits.json"
        " (and pulls/N.json for a review event; without it, GITHUB_TOKEN fetches them from"
        " GITHUB_API_URL)",
    ),
    environment: str | None = typer.Option(None, "--environment", help="target environment"),
    identities: Path | None = typer.Option(
        None,
        "--identities",
        help="TOML file with an [identities] table (default: none; unknown = agent)",
    ),
    evidence: Path | None = _facts.EVIDENCE_OPTION,
    trust: Path | None = TRUST_OPTION,
) -> None:
    """Print the proposal (JSON) built from a GitHub event and its pull request's API answers.

    The answers come from --api-dir (offline), or, with GITHUB_TOKEN set, from
    the GitHub API ($GITHUB_API_URL, default https://api.github.com).
    """
    built = _facts.from_github(event, api_dir, identities, environment)
    render_json.show(_facts.with_evidence(built, evidence, trust))
