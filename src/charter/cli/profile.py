"""``charter profile``: show, validate and diff the Environment Profile file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from charter.cli import _profile
from charter.cli._app import FORMAT_OPTION, OutputFormat, app
from charter.cli._stack import (
    CONSTITUTION_OPTION,
    OVERLAY_OPTION,
    PACK_OPTION,
    TRUST_OPTION,
    trust_policy,
    verified_stack,
)
from charter.facts import profile as profile_facts
from charter.policy.profile import ProfileContext, diff_lines, problems
from charter.policy.stack import Stack
from charter.render import json as render_json
from charter.render import text as render_text
from charter.render import write

profile_app = typer.Typer(
    help="The Environment Profile file (.charter/profile.toml): show, validate, diff.",
    no_args_is_help=True,
)
app.add_typer(profile_app, name="profile")

REPO_OPTION = typer.Option(Path("."), "--repo", help="the repository the profile belongs to")


def _stack(
    constitution: Path | None, pack: list[Path] | None, overlay: Path | None, trust: Path | None
) -> Stack:
    return verified_stack(constitution, pack, overlay, trust_policy(trust), record=False)


def _report(stack: Stack, ctx: ProfileContext) -> dict[str, Any]:
    required = [
        c for c in stack.parameters.get("required_tool_categories") or [] if isinstance(c, str)
    ]
    found = problems(ctx.current, required, stack.profile_requirements)
    return {
        "path": ctx.path,
        "present": ctx.current is not None,
        "source": ctx.current.source if ctx.current is not None else None,
        "tools": ctx.current.tools if ctx.current is not None else {},
        "default_profile": stack.profile,
        "required_tool_categories": required,
        "requirements": [r.text for r in stack.profile_requirements],
        "problems": [{"category": p.category, "message": p.message} for p in found],
    }


def _load(
    profile: Path | None,
    repo: Path,
    constitution: Path | None,
    pack: list[Path] | None,
    overlay: Path | None,
    trust: Path | None,
) -> tuple[Stack, ProfileContext]:
    stack = _stack(constitution, pack, overlay, trust)
    return stack, _profile.context_for(stack, explicit=profile, repo=repo)


@profile_app.command("show")
def show(
    profile: Path | None = _profile.PROFILE_OPTION,
    repo: Path = REPO_OPTION,
    overlay: Path | None = OVERLAY_OPTION,
    pack: list[Path] | None = PACK_OPTION,
    constitution: Path | None = CONSTITUTION_OPTION,
    trust: Path | None = TRUST_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """The profile every decision reads (input.context.profile), and what the stack requires."""
    stack, ctx = _load(profile, repo, constitution, pack, overlay, trust)
    report = _report(stack, ctx)
    if fmt is OutputFormat.json:
        write(render_json.document(report))
        return
    items: list[render_text.Item] = []
    if ctx.current is None:
        items.append(
            render_text.styled(
                f"no profile file at {ctx.path}: decisions use the stack's default tool lists"
            )
        )
        rows = [(c, ", ".join(t), "") for c, t in sorted(stack.profile.items())]
    else:
        items.append(render_text.styled(f"Environment Profile {ctx.current.source}"))
        rows = [
            (
                category,
                str(entry["tool"]),
                ", ".join(f"{k} = {v!r}" for k, v in entry.items() if k != "tool"),
            )
            for category, entry in sorted(ctx.current.tools.items())
        ]
    items.append(render_text.table(("Category", "Tool", "Attributes"), rows, no_wrap=("Category",)))
    items.append(
        render_text.styled("required categories: ", ", ".join(report["required_tool_categories"]))
    )
    items.append(render_text.styled("requirements: ", "; ".join(report["requirements"]) or "none"))
    write(render_text.render(*items))


@profile_app.command("validate")
def validate(
    profile: Path | None = _profile.PROFILE_OPTION,
    repo: Path = REPO_OPTION,
    overlay: Path | None = OVERLAY_OPTION,
    pack: list[Path] | None = PACK_OPTION,
    constitution: Path | None = CONSTITUTION_OPTION,
    trust: Path | None = TRUST_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Check the profile file against the stack: exit 0 valid, 1 problems, 2 unreadable."""
    stack, ctx = _load(profile, repo, constitution, pack, overlay, trust)
    report = _report(stack, ctx)
    if ctx.current is None:
        report["problems"].insert(
            0, {"category": None, "message": f"no profile file at {ctx.path}"}
        )
    if fmt is OutputFormat.json:
        write(render_json.document(report))
    else:
        lines = [f"{'FAIL' if report['problems'] else 'PASS'}: {report['source'] or ctx.path}"]
        lines.extend(f"  {p['message']}" for p in report["problems"])
        write(render_text.render(*lines))
    raise typer.Exit(1 if report["problems"] else 0)


@profile_app.command("diff")
def diff(
    spec: str = typer.Argument(..., metavar="BASE..HEAD", help="the git range to compare"),
    repo: Path = REPO_OPTION,
    overlay: Path | None = OVERLAY_OPTION,
    pack: list[Path] | None = PACK_OPTION,
    constitution: Path | None = CONSTITUTION_OPTION,
    trust: Path | None = TRUST_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """What a git range changes in the profile file (BASE's against HEAD's)."""
    stack = _stack(constitution, pack, overlay, trust)
    base, head = _profile.split_range(spec)
    ctx = profile_facts.for_range(repo, base, head, stack.profile_path, pull_request=False)
    changes = ctx.diff()
    if fmt is OutputFormat.json:
        write(render_json.document({"path": ctx.path, "range": spec, "changes": changes}))
        return
    if not changes:
        write(render_text.render(f"{ctx.path}: unchanged in {spec}"))
        return
    write(render_text.render(f"{ctx.path} {spec}:", *(f"  {line}" for line in diff_lines(changes))))
