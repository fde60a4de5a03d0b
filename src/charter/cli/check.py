"""``charter check``: decide a proposal against the active stack."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from charter.audit import stores as audit
from charter.cli import _facts, _profile
from charter.cli._app import REPORT_FORMAT_OPTION, ReportFormat, app, version
from charter.cli._paths import refuse_links
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
    waiver_hook,
    waivers_at,
)
from charter.core.decision import Decision, parse_now
from charter.core.errors import InputError
from charter.facts.at_base import WorkTree, base_view
from charter.facts.decide import decide
from charter.facts.proposal import GitRange
from charter.facts.reconcile import Facts
from charter.policy import proposal
from charter.policy.profile import ProfileContext
from charter.policy.rules import Rule
from charter.render import github as render_github
from charter.render import json as render_json
from charter.render import junit as render_junit
from charter.render import markdown as render_markdown
from charter.render import sarif as render_sarif
from charter.render import text as render_text
from charter.render import write
from charter.render._ci import proposal_files
from charter.trust.policy import TrustPolicy


def rendered(
    decision: Decision,
    source: str,
    fmt: ReportFormat,
    *,
    rules: Mapping[str, Rule] | None = None,
    document: Mapping[str, Any] | None = None,
    profile: ProfileContext | None = None,
) -> str:
    """The output for ``decision``, rendered in full before it is recorded.

    ``rules`` (the stack's metadata) and ``document`` (the proposal, for file
    locations) feed the CI formats; ``profile`` adds the Environment Profile
    change to the text and JSON reports when the change edits the file.
    """
    catalogue: Mapping[str, Rule] = rules or {}
    files = proposal_files(document or {})
    changes = profile.diff() if profile is not None else []
    if fmt is ReportFormat.json:
        extra = {"profile_diff": changes} if changes else {}
        return render_json.document({**decision.to_dict(), **extra})
    if fmt is ReportFormat.sarif:
        log = render_sarif.decision(decision, catalogue, files, source=source, version=version())
        return render_json.document(log)
    if fmt is ReportFormat.junit:
        return render_junit.decision(decision, catalogue, source)
    if fmt is ReportFormat.github:
        return render_github.decision(decision, files)
    if fmt is ReportFormat.markdown:
        path = profile.path if profile is not None else ""
        return render_markdown.decision(decision, source) + render_markdown.profile_diff(
            changes, path
        )
    view = render_text.proposal_decision(decision, source)
    path = profile.path if profile is not None else ""
    return render_text.render(view, *_profile.diff_view(changes, path))


def record_decision(decision: Decision, location: str | None, checkout: Path | None = None) -> None:
    """Append a proposal decision to the audit store (``--audit``, ``$CHARTER_AUDIT`` or
    the default ``~/.charter/audit.db``).

    A SQLite store named by a relative path, or inside ``checkout``, is never opened
    through a symbolic link: one may be the change's own (committed as a link).
    """
    where = location or str(audit.default_location())
    if not where.startswith(audit.POSTGRES_SCHEMES):
        path = Path(where)
        roots = ([] if path.is_absolute() else [Path(".")]) + ([checkout] if checkout else [])
        for root in roots:
            for name in (path.name, *(path.name + s for s in _SQLITE_SIDE_FILES)):
                refuse_links(path.with_name(name), root, "the audit store")
    store = audit.open_store(where)
    try:
        store.append(decision.to_dict(), source="check", kind="proposal")
    finally:
        store.close()


#: Files SQLite writes next to a database.
_SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")


@dataclass(frozen=True)
class Sources:
    """Where ``check`` takes its proposal from: exactly one of a file, --git, --github-event
    or --staged, plus what building from facts needs."""

    proposal_file: Path | None = None
    git: str | None = None
    github_event: Path | None = None
    staged: bool = False
    api_dir: Path | None = None
    repo: Path = Path(".")
    kind: str = "pull_request"
    identities: Path | None = None
    body_file: Path | None = None
    evidence: Path | None = None


def _from_git(sources: Sources, spec: str, tree: WorkTree) -> dict[str, Any]:
    """The proposal built from ``BASE..HEAD`` of the repository (``charter proposal from-git``)."""
    base, dots, head = spec.partition("...") if "..." in spec else spec.partition("..")
    if not dots or not base or not head:
        raise InputError(
            f"--git {spec!r} is not a range", hint="write BASE..HEAD, e.g. --git main..feature"
        )
    body = _facts.read_body(sources.body_file)
    git_range = GitRange(repo=sources.repo, base=base, head=head, kind=sources.kind, body=body)
    return _facts.from_git(git_range, sources.identities, tree)


def _chosen(sources: Sources) -> str:
    given = [
        name
        for name, present in (
            ("PROPOSAL.json", sources.proposal_file is not None),
            ("--git", sources.git is not None),
            ("--github-event", sources.github_event is not None),
            ("--staged", sources.staged),
        )
        if present
    ]
    # A proposal file may come with one source of facts: the file is what the agent
    # declares, the built document what happened (docs/design.md, 'Facts: declared and derived').
    built = [name for name in given if name != "PROPOSAL.json"]
    if not given or len(built) > 1:
        raise InputError(
            "give a proposal file, --git BASE..HEAD, --github-event FILE or --staged"
            + (f"; at most one source of facts (got {', '.join(built)})" if given else ""),
            hint="charter check PROPOSAL.json [--git main..feature], or charter check --staged",
        )
    if sources.api_dir is not None and "--github-event" not in given:
        raise InputError("--api-dir goes with --github-event", hint="see charter check --help")
    if sources.kind != "pull_request" and "--git" not in given:
        # --staged is always a push of the coming commit; an event says what it is.
        raise InputError("--kind goes with --git", hint="see charter check --help")
    return given[-1]


def _built(sources: Sources, tree: WorkTree) -> tuple[dict[str, Any] | None, str]:
    """The document built from facts (git, GitHub, the index), or None, and its name
    (``tree``: the :class:`WorkTree` of ``sources.repo``)."""
    if sources.git is not None:
        return _from_git(sources, sources.git, tree), f"{sources.repo}:{sources.git}"
    if sources.github_event is not None:
        built = _facts.from_github(
            sources.github_event, sources.api_dir, sources.identities, repo=tree
        )
        return built, str(sources.github_event)
    if sources.staged:
        body = _facts.read_body(sources.body_file)
        built = _facts.staged(sources.repo, sources.identities, body=body, tree=tree)
        return built, f"{sources.repo}:staged"
    return None, ""


def _document(
    sources: Sources,
    built: dict[str, Any] | None,
    name: str,
    policy: TrustPolicy | None,
    tree: WorkTree,
) -> tuple[dict[str, Any] | None, Facts, str]:
    """The declared proposal (a file, or None), the facts to reconcile it with, and its name."""
    declared = proposal.load(sources.proposal_file) if sources.proposal_file else None
    facts = _facts.gather(
        built=built,
        identities=_facts.identities_for(sources.identities, tree, built)
        if declared is not None
        else None,
        evidence=sources.evidence,
        policy=policy,
        declared=declared or built or {},
        tree=tree,
    )
    return declared, facts, str(sources.proposal_file) if declared is not None else name


@app.command("check")
def check(
    proposal_file: Path | None = typer.Argument(
        None, metavar="[PROPOSAL.json]", help="the proposal document; - reads standard input"
    ),
    git: str | None = typer.Option(
        None,
        "--git",
        metavar="BASE..HEAD",
        help="build the proposal from this git range instead (as `charter proposal from-git`)",
    ),
    github_event: Path | None = typer.Option(
        None,
        "--github-event",
        metavar="FILE",
        help="build it from a GitHub event (as `charter proposal from-github`; "
        "answers from --api-dir, else fetched with GITHUB_TOKEN)",
    ),
    api_dir: Path | None = typer.Option(
        None, "--api-dir", help="with --github-event: saved 'gh api --paginate' answers"
    ),
    staged: bool = typer.Option(
        False, "--staged", help="build it from the staged change (index vs HEAD), as a push"
    ),
    repo: Path = typer.Option(
        Path("."),
        "--repo",
        help="the git repository: with --git or --staged, and --github-event's checkout"
        " (the profile, and configuration in it that the change touches, are read at its base)",
    ),
    kind: str = typer.Option(
        "pull_request", "--kind", help="with --git: pull_request, merge, push or release"
    ),
    identities: Path | None = typer.Option(
        None, "--identities", help="TOML [identities] map: who is human (unknown = agent)"
    ),
    body_file: Path | None = typer.Option(
        None, "--body-file", help="with --git or --staged: the body text (e.g. a citation block)"
    ),
    evidence: Path | None = _facts.EVIDENCE_OPTION,
    profile: Path | None = _profile.PROFILE_OPTION,
    overlay: Path | None = OVERLAY_OPTION,
    pack: list[Path] | None = PACK_OPTION,
    constitution: Path | None = CONSTITUTION_OPTION,
    now: str | None = typer.Option(None, "--now", help="RFC 3339 time that fixes input.context"),
    waivers_dir: Path | None = typer.Option(
        None, "--waivers", help="directory of waiver JSON files to apply if valid"
    ),
    waiver_key: list[str] | None = typer.Option(
        None,
        "--waiver-key",
        help="LAYER=PUB: key trusted to sign waivers of that layer's rules (repeatable)",
    ),
    trust: Path | None = TRUST_OPTION,
    allow_major: bool = ALLOW_MAJOR_OPTION,
    state_dir: Path | None = STATE_DIR_OPTION,
    audit_location: str | None = typer.Option(
        None,
        "--audit",
        help="audit store: SQLite path or postgresql:// URL "
        "(default $CHARTER_AUDIT or ~/.charter/audit.db)",
    ),
    no_audit: bool = typer.Option(
        False, "--no-audit", help="do not record the decision (dry runs while authoring)"
    ),
    fmt: ReportFormat = REPORT_FORMAT_OPTION,
) -> None:
    """Decide a proposal: exit 0 allow, 1 deny, 3 ask, 2 bad input.

    The decision is rendered, then appended to the audit store, then printed:
    a verdict that was shown has a record (unless --no-audit), and a record
    is never followed by a failure to show it.
    """
    sources = Sources(
        proposal_file,
        git,
        github_event,
        staged,
        api_dir,
        repo,
        kind,
        identities,
        body_file,
        evidence,
    )
    _chosen(sources)
    tree = WorkTree(repo)  # its top is asked of git once, for the identity map and the base
    built, name = _built(sources, tree)
    # Configuration inside the repository that the change touches is read at its base.
    with base_view(tree, built) as view:
        policy = trust_policy_at(trust, view)
        declared, facts, source = _document(sources, built, name, policy, tree)
        moment = parse_now(now)
        stack = verified_stack(
            *layers_at(view, constitution, pack, overlay),
            policy,
            allow_major=allow_major,
            state_dir=state_dir,
        )
        folder, keys = waivers_at(view, waivers_dir, waiver_key)
        hook = waiver_hook(folder, stack, keys)
        context = _profile.context_for(
            stack,
            explicit=view.path(profile, "profile") if profile is not None else None,
            explicit_name=view.name(profile) if profile is not None else None,
            repo=repo,
            git=git,
            staged=staged,
            kind=kind,
            document=facts.built if github_event is not None else None,
        )
        stack = stack.with_profile(context)
        decided = decide(stack.compile(), declared, facts, now=moment, waivers=hook)
    decision, document = decided.decision, decided.document
    shown = rendered(decision, source, fmt, rules=stack.rules, document=document, profile=context)
    if not no_audit:
        record_decision(
            decision, audit_location, checkout=repo if git or staged or github_event else None
        )
    write(shown)
    raise typer.Exit(decision.exit_code)
