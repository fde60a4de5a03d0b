"""``charter ci github``: what the GitHub Action (``action.yml``) runs, as one command.

It reads the event GitHub hands the job (``$GITHUB_EVENT_PATH``), builds the
proposal — from the checkout when it holds the event's commits, else from the
event and the GitHub API (``GITHUB_TOKEN``) — decides it like ``charter check``,
and speaks Actions: the report on standard output (``--format``, default
``github`` annotations), the Markdown report appended to
``$GITHUB_STEP_SUMMARY``, SARIF written where ``--sarif`` says, and the
outputs ``verdict``, ``exit-code``, ``decision-id``, ``built-from`` and
``sarif`` appended to ``$GITHUB_OUTPUT``. Every option can come from the
environment variable shown in ``--help``, which is how the action passes its
inputs (an empty variable counts as unset).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from charter.cli import _profile
from charter.cli._app import ReportFormat, app
from charter.cli._facts import gather, judged, progress_bar
from charter.cli._paths import refuse_links
from charter.cli._stack import (
    TRUST_ENV,
    layers_at,
    trust_policy_at,
    verified_stack,
    waiver_hook,
    waivers_at,
)
from charter.cli.check import record_decision, rendered
from charter.core.decision import Decision, parse_now
from charter.core.errors import CharterError, InputError
from charter.core.verdict import Verdict
from charter.facts.at_base import WorkTree, base_view, work_tree
from charter.facts.decide import decide
from charter.facts.github import GitHubEvent, build_in_checkout
from charter.facts.github_api import from_environment
from charter.facts.identities import IdentityMap
from charter.facts.proposal import Progress
from charter.policy.profile import ProfileContext
from charter.policy.rules import Rule
from charter.render import write

ci_app = typer.Typer(help="Run Charter inside a CI system.", no_args_is_help=True)
app.add_typer(ci_app, name="ci")


def _append(path: Path | None, text: str, what: str) -> None:
    if path is None:
        return
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise InputError(f"{path}: cannot write the {what} ({exc.strerror})", hint=what) from None


def _outputs(values: dict[str, str]) -> str:
    for key, value in values.items():
        if "\n" in value or "\r" in value:
            raise InputError(f"output {key}: a value must be one line", hint="check --sarif")
    return "".join(f"{key}={value}\n" for key, value in values.items())


def _source(document: dict[str, Any]) -> str:
    """How the proposal is named in reports: ``OWNER/NAME@HEAD``."""
    return f"{document.get('repository')}@{document.get('head') or document.get('head_sha')}"


def _exit_code(decision: Decision, fail_on_ask: bool) -> int:
    if decision.verdict is Verdict.ASK and not fail_on_ask:
        return 0
    return decision.exit_code


def _write_sarif(path: Path, text: str, repo: Path) -> None:
    """Write the SARIF report, never through a symbolic link: in the checkout one may be
    the change's own (``charter.sarif`` or a folder on the way committed as a link)."""
    refuse_links(path, repo, "the SARIF report")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        with os.fdopen(os.open(path, flags, 0o644), "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            refuse_links(path, path.parent, "the SARIF report")  # raises: the file itself is a link
        raise InputError(f"{path}: cannot write SARIF ({exc.strerror})", hint="--sarif") from None


@ci_app.command("github")
def github(
    event: Path = typer.Option(
        ..., "--event", envvar="GITHUB_EVENT_PATH", help="the event payload"
    ),
    repo: Path = typer.Option(
        Path("."),
        "--repo",
        envvar="GITHUB_WORKSPACE",
        help="the checkout (fetch-depth: 0; configuration in it that the change touches is"
        " read at the event's base)",
    ),
    summary: Path | None = typer.Option(
        None, "--summary", envvar="GITHUB_STEP_SUMMARY", help="append the Markdown report here"
    ),
    output: Path | None = typer.Option(
        None, "--output", envvar="GITHUB_OUTPUT", help="append the step outputs here"
    ),
    sarif: Path | None = typer.Option(
        None, "--sarif", envvar="CHARTER_SARIF", help="write the SARIF report to this file"
    ),
    fmt: ReportFormat = typer.Option(
        ReportFormat.github,
        "--format",
        envvar="CHARTER_FORMAT",
        help="the report on standard output (default: github annotations)",
    ),
    fail_on_ask: bool = typer.Option(
        False,
        "--fail-on-ask/--pass-on-ask",
        envvar="CHARTER_FAIL_ON_ASK",
        help="exit 3 on ask (default: exit 0 and report verdict=ask)",
    ),
    identities: Path | None = typer.Option(
        None, "--identities", envvar="CHARTER_IDENTITIES", help="TOML [identities] map"
    ),
    api_dir: Path | None = typer.Option(
        None, "--api-dir", envvar="CHARTER_API_DIR", help="saved API answers (offline)"
    ),
    environment: str | None = typer.Option(
        None, "--environment", envvar="CHARTER_ENVIRONMENT", help="target environment"
    ),
    evidence: Path | None = typer.Option(
        None,
        "--evidence",
        envvar="CHARTER_EVIDENCE",
        help="files CI produced (SBOMs, scans, signatures, attestations), verified",
    ),
    constitution: Path | None = typer.Option(
        None, "--constitution-bundle", envvar="CHARTER_CONSTITUTION", help="constitution bundle"
    ),
    overlay: Path | None = typer.Option(
        None, "--overlay", envvar="CHARTER_OVERLAY", help="overlay bundle"
    ),
    pack: list[Path] | None = typer.Option(
        None, "--pack", envvar="CHARTER_PACKS", help="pack bundles (space-separated in the env)"
    ),
    trust: Path | None = typer.Option(
        None, "--trust", envvar=TRUST_ENV, help="trust policy TOML for signed bundles"
    ),
    waivers_dir: Path | None = typer.Option(
        None, "--waivers", envvar="CHARTER_WAIVERS", help="directory of waiver JSON files"
    ),
    waiver_key: list[str] | None = typer.Option(
        None, "--waiver-key", help="LAYER=PUB: key trusted to sign waivers (repeatable)"
    ),
    audit_location: str | None = typer.Option(
        None,
        "--audit",
        envvar="CHARTER_AUDIT",
        help="record the decision in this audit store (default: not recorded)",
    ),
    now: str | None = typer.Option(None, "--now", help="RFC 3339 time that fixes input.context"),
) -> None:
    """Decide the GitHub event of this job: exit 0 allow (and ask unless --fail-on-ask),
    1 deny, 3 ask with --fail-on-ask, 2 bad input.

    Outputs: verdict (allow, deny, ask or error), exit-code (the verdict's: 0, 1, 3,
    or 2), decision-id, built-from (git or github) and sarif (the file, when written).
    """
    try:
        api = from_environment(os.environ) if api_dir is None else None
        spec = GitHubEvent(event=event, api_dir=api_dir, environment=environment, api=api)
        tree = WorkTree(repo)  # its top is asked of git once, for the identity map and the base
        with progress_bar("reading the change") as progress:
            document, built_from = built_in_checkout(spec, tree, identities, progress)
        # Configuration inside the checkout that the change touches is read at its base.
        with base_view(tree, document) as view:
            policy = trust_policy_at(trust, view)
            stack = verified_stack(*layers_at(view, constitution, pack, overlay), policy)
            folder, keys = waivers_at(view, waivers_dir, waiver_key)
            hook = waiver_hook(folder, stack, keys)
            facts = gather(
                built=document,
                identities=None,
                evidence=evidence,
                policy=policy,
                declared=document,
                tree=tree,
            )
            stack = stack.with_profile(_profile.from_document(stack, document, repo))
            decided = decide(stack.compile(), None, facts, now=parse_now(now), waivers=hook)
        decision = decided.decision
        reports = _reports(
            decision, decided.document, stack.rules, fmt, sarif is not None, stack.profile_file
        )
        outputs = _outputs(
            {
                "verdict": str(decision.verdict),
                "exit-code": str(decision.exit_code),
                "decision-id": decision.decision_id,
                "built-from": built_from,
                "sarif": str(sarif) if sarif is not None else "",
            }
        )
        # What can fail is done before the record: a recorded decision is always reported.
        if sarif is not None:
            _write_sarif(sarif, reports.sarif, repo)
        if audit_location:
            record_decision(decision, audit_location, checkout=repo)
    except CharterError:
        _append(output, _outputs({"verdict": "error", "exit-code": "2"}), "step outputs")
        raise
    _append(summary, reports.markdown, "step summary")
    _append(output, outputs, "step outputs")
    write(reports.shown)
    raise typer.Exit(_exit_code(decision, fail_on_ask))


def built_in_checkout(
    spec: GitHubEvent,
    repo: Path | WorkTree,
    identities: Path | None,
    progress: Progress | None,
) -> tuple[dict[str, Any], str]:
    """The event's proposal and where it was built from (``git`` or ``github``), judged by
    the identity map the change started from when it edits the map file itself."""
    sources: list[str] = []
    tree = work_tree(repo)

    def build(mapping: IdentityMap) -> dict[str, Any]:
        document, source = build_in_checkout(spec, tree.repo, mapping, progress)
        sources.append(source)
        return document

    return judged(build, identities, tree), sources[-1]


@dataclass(frozen=True)
class Reports:
    """Everything the job shows, rendered before anything is recorded or written."""

    shown: str
    markdown: str
    sarif: str


def _reports(
    decision: Decision,
    document: dict[str, Any],
    rules: Mapping[str, Rule],
    fmt: ReportFormat,
    with_sarif: bool,
    profile: ProfileContext | None = None,
) -> Reports:
    source = _source(document)
    markdown = rendered(decision, source, ReportFormat.markdown, profile=profile)
    sarif = ""
    if with_sarif:
        sarif = rendered(decision, source, ReportFormat.sarif, rules=rules, document=document)
    return Reports(
        shown=rendered(decision, source, fmt, rules=rules, document=document, profile=profile),
        markdown=markdown if markdown.endswith("\n") else markdown + "\n",
        sarif=sarif,
    )
