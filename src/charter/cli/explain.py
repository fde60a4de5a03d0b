"""``charter explain``: which rules of the active stack apply to a change, and what they say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from charter.cli import _facts, _profile
from charter.cli._app import FORMAT_OPTION, OutputFormat, app
from charter.cli._stack import (
    ALLOW_MAJOR_OPTION,
    CONSTITUTION_OPTION,
    OVERLAY_OPTION,
    PACK_OPTION,
    STATE_DIR_OPTION,
    TRUST_OPTION,
    layers_at,
    trust_policy_at,
    verified_stack,
)
from charter.cli.check import Sources, _built, _chosen, _document
from charter.core.decision import parse_now
from charter.core.errors import InputError
from charter.facts.at_base import WorkTree, base_view
from charter.facts.decide import decide, hypothetical_facts
from charter.policy.applies import KINDS
from charter.policy.explain import explain, hypothetical
from charter.render import json as render_json
from charter.render import text as render_text
from charter.render import write


def _view(result: dict[str, Any], source: str, every: bool) -> str:
    rows = [r for r in result["rules"] if every or r["applies"]]
    # Five columns, so an 80-column terminal still shows why a rule applies: the
    # layer and severity sit under the rule id, the citation under the reasons.
    table_rows = [
        (
            render_text.paragraph(f"{r['id']}\n{r['layer']} · {r['severity']}"),
            "yes" if r["applies"] else "no",
            "yes" if r["fired"] else "no",
            render_text.verdict_word(r["verdict"]) if r["fired"] else r["verdict"],
            render_text.paragraph(
                "\n".join(
                    [
                        r["why"],
                        *r["messages"],
                        f"{r['citation'] or ''} {r['links'][0] if r['links'] else ''}".strip(),
                    ]
                ).strip()
            ),
        )
        for r in rows
    ]
    columns = ("Rule", "Applies", "Fired", "Verdict", "Why · citation / link")
    widest = max((len(r["id"]) for r in rows), default=4)
    paths = result["proposal"]["paths"]
    items: list[render_text.Item] = [
        render_text.styled(source, ": ")
        .append_text(render_text.verdict_word(result["verdict"]))
        .append(render_text.literal(f"  ({result['proposal']['kind']}, {len(paths)} path(s))")),
        render_text.table(
            columns, table_rows, no_wrap=columns[1:4], min_width={"Rule": min(widest, 40)}
        ),
        render_text.styled(
            f"{len(result['applies'])} of {len(result['rules'])} rules apply; "
            f"{len(result['fired'])} fired" + ("" if every else " (--all lists every rule)")
        ),
    ]
    items.extend(
        render_text.styled(f"  other reason: {r['rule']}: {r['msg']}")
        for r in result["other_reasons"]
    )
    items.extend(_profile.diff_view(result["profile_diff"], result["profile_path"]))
    return render_text.render(*items)


@app.command("explain")
def explain_command(
    proposal_file: Path | None = typer.Argument(
        None, metavar="[PROPOSAL.json]", help="the proposal document; - reads standard input"
    ),
    adds: list[str] | None = typer.Option(
        None, "--adds", metavar="PATH", help="a hypothetical change adding PATH (repeatable)"
    ),
    modifies: list[str] | None = typer.Option(
        None, "--modifies", metavar="PATH", help="… modifying PATH (repeatable)"
    ),
    removes: list[str] | None = typer.Option(
        None, "--removes", metavar="PATH", help="… removing PATH (repeatable)"
    ),
    kind: str = typer.Option(
        "pull_request",
        "--kind",
        help="with --adds/--modifies/--removes or --git: pull_request, merge, push or release",
    ),
    author_type: str = typer.Option(
        "agent", "--author-type", help="with --adds…: who opens the change (agent or human)"
    ),
    git: str | None = typer.Option(
        None, "--git", metavar="BASE..HEAD", help="explain the change of this git range"
    ),
    staged: bool = typer.Option(False, "--staged", help="explain the staged change"),
    repo: Path = typer.Option(
        Path("."),
        "--repo",
        help="the git repository (configuration in it that the change touches is read at its base)",
    ),
    identities: Path | None = typer.Option(
        None, "--identities", help="TOML [identities] map: who is human (unknown = agent)"
    ),
    body_file: Path | None = typer.Option(
        None, "--body-file", help="the body text (e.g. a citation block)"
    ),
    profile: Path | None = _profile.PROFILE_OPTION,
    layer: str | None = typer.Option(None, "--layer", help="only rules of this layer kind or name"),
    every: bool = typer.Option(False, "--all", help="text: list the rules that do not apply too"),
    overlay: Path | None = OVERLAY_OPTION,
    pack: list[Path] | None = PACK_OPTION,
    constitution: Path | None = CONSTITUTION_OPTION,
    now: str | None = typer.Option(None, "--now", help="RFC 3339 time that fixes input.context"),
    trust: Path | None = TRUST_OPTION,
    allow_major: bool = ALLOW_MAJOR_OPTION,
    state_dir: Path | None = STATE_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Which rules apply to a proposal or a hypothetical change, and their verdicts.

    A rule applies when its METADATA custom.applies_to (kinds, path globs) covers
    the change; "fired" says whether it produced a reason. Nothing is recorded;
    exit 0 whatever the verdict (2 on bad input).

      charter explain --adds Dockerfile            # a PR that adds a Dockerfile
      charter explain proposal.json --format json
    """
    hypothetical_paths = [*(adds or ()), *(modifies or ()), *(removes or ())]
    if kind not in KINDS:
        raise InputError(f"--kind {kind!r} is not a proposal kind", hint=f"use {', '.join(KINDS)}")
    if author_type not in ("agent", "human"):
        raise InputError(f"--author-type {author_type!r}", hint="use agent or human")
    sources = Sources(
        proposal_file, git, None, staged, None, repo, kind, identities, body_file, None
    )
    if hypothetical_paths and (proposal_file is not None or git is not None or staged):
        raise InputError(
            "--adds/--modifies/--removes describe a change of their own",
            hint="give them without PROPOSAL.json, --git or --staged",
        )
    built: dict[str, Any] | None = None
    name = ""
    tree = WorkTree(repo)
    if not hypothetical_paths:
        _chosen(sources)
        built, name = _built(sources, tree)
    # As check: configuration inside the repository that the change touches, at its base.
    with base_view(tree, built) as view:
        policy = trust_policy_at(trust, view)
        stack = verified_stack(
            *layers_at(view, constitution, pack, overlay), policy,
            allow_major=allow_major, state_dir=state_dir, record=False,
        )  # fmt: skip
        explicit = view.path(profile, "profile") if profile is not None else None
        if hypothetical_paths:
            change = hypothetical(
                adds=adds or (),
                modifies=modifies or (),
                removes=removes or (),
                kind=kind,
                author_type=author_type,
                body=_facts.read_body(body_file),
            )
            # The hypothetical author is what --author-type says (as the runner's
            # POST /v1/explain/hypothetical): one function for both.
            facts = hypothetical_facts(change)
            source = "hypothetical " + kind
            declared: dict[str, Any] | None = change
            context = _profile.context_for(stack, explicit=explicit, repo=repo)
        else:
            declared, facts, source = _document(sources, built, name, policy, tree)
            context = _profile.context_for(
                stack,
                explicit=explicit,
                explicit_name=view.name(profile) if profile is not None else None,
                repo=repo,
                git=git,
                staged=staged,
                kind=kind,
            )
        profiled = stack.with_profile(context)
        decided = decide(profiled.compile(), declared, facts, now=parse_now(now))
    result = explain(profiled, decided.decision, decided.document, layer=layer)
    if fmt is OutputFormat.json:
        write(render_json.document(result))
    else:
        write(_view(result, source, every))
    raise typer.Exit(0)
