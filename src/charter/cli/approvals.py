"""``charter approvals list|show|approve|deny``: answer a runner's asks.

Talks to a runner (``--runner URL``, ``$CHARTER_RUNNER`` or ``charter login``;
token from ``$CHARTER_TOKEN`` or the login). ``approve`` and ``deny`` show the
ask first — the decision, the command or proposal, the rules that asked and
who asked — and answer only once confirmed: at a prompt on a terminal, or with
``--yes`` (required when standard input is not a terminal, as in CI). Every
text an agent wrote is shown literally (:mod:`charter.render.text`). Errors
(runner unreachable, 401, 403, 404, 409) are one line, exit 2.
"""

from __future__ import annotations

import sys
import urllib.parse
from typing import Any

import typer
from rich.console import Group, RenderableType
from rich.text import Text

from charter.cli._app import FORMAT_OPTION, OutputFormat, app, print_json
from charter.cli.login import RUNNER_OPTION_HELP, Target, call, resolve
from charter.core.errors import Conflict, InputError
from charter.render import text as render_text

approvals_app = typer.Typer(
    help="List, show, approve or deny the asks waiting on a runner (approver token).",
    no_args_is_help=True,
)
app.add_typer(approvals_app, name="approvals")

RUNNER_OPTION = typer.Option(None, "--runner", help=RUNNER_OPTION_HELP, show_default=False)
COMMENT_OPTION = typer.Option("", "--comment", help="why (recorded in the audit chain)")
YES_OPTION = typer.Option(
    False, "--yes", "-y", help="answer without a prompt (required when stdin is not a terminal)"
)
MAX_COMMENT = 4096


def _path(decision_id: str) -> str:
    if not decision_id or len(decision_id) > 128:
        raise InputError(f"{decision_id!r} is not a decision id")
    return "/v1/approvals/" + urllib.parse.quote(decision_id, safe="")


@approvals_app.command("list")
def list_cmd(
    runner: str | None = RUNNER_OPTION,
    limit: int = typer.Option(100, "--limit", min=1, max=1000, help="at most this many"),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """The asks waiting for a person, oldest first."""
    target = resolve(runner)
    doc = call(target, "GET", f"/v1/approvals?limit={limit}")
    items = list(doc.get("approvals") or [])
    if fmt is OutputFormat.json:
        print_json(doc)
        return
    if not items:
        render_text.show(f"No asks waiting on {target.url}")
        return
    render_text.show(listing(items, target.url))


@approvals_app.command("show")
def show_cmd(
    decision_id: str = typer.Argument(..., help="the decision id of the ask"),
    runner: str | None = RUNNER_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """One ask: the decision, the command or proposal, the rules that asked, who asked."""
    doc = call(resolve(runner), "GET", _path(decision_id))
    if fmt is OutputFormat.json:
        print_json(doc)
    else:
        render_text.show(details(doc))


@approvals_app.command("approve")
def approve_cmd(
    decision_id: str = typer.Argument(..., help="the decision id of the ask"),
    comment: str = COMMENT_OPTION,
    yes: bool = YES_OPTION,
    runner: str | None = RUNNER_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Let the agent go ahead (after showing the ask and confirming)."""
    _answer(resolve(runner), decision_id, True, comment, yes=yes, fmt=fmt)


@approvals_app.command("deny")
def deny_cmd(
    decision_id: str = typer.Argument(..., help="the decision id of the ask"),
    comment: str = COMMENT_OPTION,
    yes: bool = YES_OPTION,
    runner: str | None = RUNNER_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Refuse the ask (after showing it and confirming)."""
    _answer(resolve(runner), decision_id, False, comment, yes=yes, fmt=fmt)


def _answer(
    target: Target, decision_id: str, approve: bool, comment: str, *, yes: bool, fmt: OutputFormat
) -> None:
    if len(comment) > MAX_COMMENT:
        raise InputError(f"--comment is longer than {MAX_COMMENT} characters")
    verb = "approve" if approve else "deny"
    if not yes and not sys.stdin.isatty():
        raise InputError(
            f"refusing to {verb} {decision_id} without confirmation: standard input is not a "
            "terminal",
            hint="pass --yes once you have read it (charter approvals show ID)",
        )
    path = _path(decision_id)
    doc = call(target, "GET", path)
    if doc.get("status") != "pending" or doc.get("being_answered"):
        state = "being answered" if doc.get("being_answered") else doc.get("status")
        raise Conflict(f"{decision_id} is {state}; only a pending ask can be answered")
    # Shown before confirming, on stderr when stdout carries JSON.
    if fmt is OutputFormat.json:
        render_text.note(render_text.render(details(doc)).rstrip("\n"))
    else:
        render_text.show(details(doc))
    if not yes and not typer.confirm(f"{verb.capitalize()} {decision_id}?", err=True):
        raise InputError(f"{decision_id}: not answered (you declined)")
    answer = call(target, "POST", path, {"approve": approve, "comment": comment})
    if fmt is OutputFormat.json:
        print_json(answer)
        return
    approval = answer.get("approval") or {}
    render_text.show(
        render_text.styled(
            (str(answer.get("status", "")).upper(), "bold green" if approve else "bold red"),
            f" {decision_id}: the agent's request is {answer.get('verdict')}",
            f" (by {approval.get('by')} at {approval.get('at')})",
        )
    )


# --------------------------------------------------------------------- views
def subject_line(item: dict[str, Any]) -> str:
    """One line for what was asked: the command (or path), or the proposal."""
    subject = item.get("subject") or {}
    if item.get("kind") == "action":
        target = subject.get("command") or subject.get("path") or ""
        return f"{subject.get('kind', 'action')}: {target}"
    refs = f"{subject.get('head', '?')} -> {subject.get('base', '?')}"
    title = subject.get("title") or ""
    return f"{subject.get('kind', 'proposal')} {subject.get('repository', '')} {refs} {title}"


def _rules(item: dict[str, Any]) -> str:
    return ", ".join(str(r.get("rule")) for r in item.get("asked_by") or []) or "-"


def listing(items: list[dict[str, Any]], url: str) -> RenderableType:
    rows = [
        [
            str(x.get("decision_id")),
            subject_line(x),
            _rules(x),
            str(x.get("requester")),
            str(x.get("created_at")),
            str(x.get("expires_at")),
            "being answered" if x.get("being_answered") else str(x.get("status")),
        ]
        for x in items
    ]
    return render_text.table(
        ["Decision", "Asked about", "Rules that asked", "Requester", "Asked at", "Expires",
         "Status"],
        rows,
        title=f"Asks waiting on {url} ({len(items)})",
        no_wrap=["Decision", "Asked at", "Expires"],
    )  # fmt: skip


def details(doc: dict[str, Any]) -> RenderableType:
    """Everything a person should read before answering an ask."""
    subject = doc.get("subject") or {}
    lines: list[RenderableType] = [
        render_text.styled(
            "Decision ",
            (doc.get("decision_id"), "bold"),
            ": ",
            (str(doc.get("verdict", "")).upper(), "bold yellow"),
            f" ({doc.get('status')})",
        ),  # fmt: skip
        render_text.styled(
            "Requested by ",
            (doc.get("requester"), "bold"),
            f" (author {doc.get('author') or '-'}), at {doc.get('created_at')}, "
            f"expires {doc.get('expires_at')}",
        ),  # fmt: skip
    ]
    facts = [[key, _value(value)] for key, value in subject.items() if key != "files"]
    if subject.get("files"):
        facts.append(["files", "\n".join(str(f) for f in subject["files"])])
    title = "Command" if doc.get("kind") == "action" else "Proposal"
    lines.append(render_text.table(["Field", "Value"], facts, title=title))
    reasons = [
        [str(r.get("rule")), str(r.get("layer")), str(r.get("severity")), str(r.get("msg")),
         " ".join(str(link) for link in r.get("links") or [])]
        for r in doc.get("asked_by") or []
    ]  # fmt: skip
    lines.append(
        render_text.table(
            ["Rule", "Layer", "Severity", "Why it asked", "Links"],
            reasons,
            title="Rules that asked",
            no_wrap=["Rule"],
        )  # fmt: skip
    )
    for answer in doc.get("approvals") or []:
        word = "expired" if answer.get("expired") else (
            "approved" if answer.get("approve") else "denied")  # fmt: skip
        lines.append(
            render_text.styled(
                f"Answer: {word} by ",
                (answer.get("by"), "bold"),
                f" at {answer.get('at')}: {answer.get('comment') or ''}",
            )  # fmt: skip
        )
    return Group(*lines)


def _value(value: Any) -> str | Text:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)
