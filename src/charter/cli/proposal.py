"""``charter proposal from-git``: the proposal document derived from a git range."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from charter.cli._app import app
from charter.core.errors import InputError
from charter.facts.github import GitHubEvent, build_from_github
from charter.facts.identities import IdentityMap, load_identities
from charter.facts.proposal import GitRange, build_from_git
from charter.render import json as render_json

proposal_app = typer.Typer(help="Build proposal documents from facts.", no_args_is_help=True)
app.add_typer(proposal_app, name="proposal")


class Kind(StrEnum):
    pull_request = "pull_request"
    merge = "merge"
    push = "push"
    release = "release"


def _body(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise InputError(f"{path}: cannot read ({reason})", hint="--body-file FILE") from None


@proposal_app.command("from-git")
def from_git(
    base: str = typer.Option(..., "--base", help="base ref (branch, tag or commit)"),
    head: str = typer.Option(..., "--head", help="head ref (branch, tag or commit)"),
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
) -> None:
    """Print the proposal (JSON) built from the commits and files of BASE..HEAD."""
    spec = GitRange(
        repo=repo,
        base=base,
        head=head,
        kind=kind.value,
        environment=environment,
        body=_body(body_file),
        repository=repository,
    )
    identity_map = load_identities(identities) if identities is not None else IdentityMap()
    render_json.show(build_from_git(spec, identity_map))


@proposal_app.command("from-github")
def from_github(
    event: Path = typer.Option(..., "--event", help="webhook payload file (GITHUB_EVENT_PATH)"),
    api_dir: Path | None = typer.Option(
        None,
        "--api-dir",
        help="saved 'gh api --paginate' answers: pulls/N/files.json, reviews.json, commits.json",
    ),
    environment: str | None = typer.Option(None, "--environment", help="target environment"),
    identities: Path | None = typer.Option(
        None,
        "--identities",
        help="TOML file with an [identities] table (default: none; unknown = agent)",
    ),
) -> None:
    """Print the proposal (JSON) built from a GitHub event and saved API answers (offline)."""
    spec = GitHubEvent(event=event, api_dir=api_dir, environment=environment)
    identity_map = load_identities(identities) if identities is not None else IdentityMap()
    render_json.show(build_from_github(spec, identity_map))
