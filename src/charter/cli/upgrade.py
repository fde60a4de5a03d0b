"""``charter upgrade check``: may an overlay move to a new constitution version?"""

from __future__ import annotations

from pathlib import Path

import typer

from charter.cli._app import FORMAT_OPTION, OutputFormat, app
from charter.policy.bundle import load_directory
from charter.policy.upgrade import UpgradeReport, check_upgrade, resolve_target
from charter.render import json as render_json
from charter.render import text as render_text

upgrade_app = typer.Typer(help="Check constitution upgrades.", no_args_is_help=True)
app.add_typer(upgrade_app, name="upgrade")


@upgrade_app.command("check")
def check(
    overlay: Path = typer.Option(..., "--overlay", help="the overlay bundle directory"),
    to: str = typer.Option(
        ..., "--to", help="target constitution bundle directory (or the shipped version)"
    ),
    current: Path | None = typer.Option(
        None, "--from", help="current constitution bundle directory (default: the shipped one)"
    ),
    pack: list[Path] | None = typer.Option(None, "--pack", help="pack directory (repeatable)"),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Lint the overlay against the target; for a major version list what must change."""
    report = check_upgrade(
        overlay,
        resolve_target(to),
        current=load_directory(current) if current is not None else None,
        packs=[load_directory(p) for p in pack or []],
    )
    if fmt is OutputFormat.json:
        render_json.show(report.to_dict())
    else:
        render_text.show(*upgrade_text(report, overlay))
    raise typer.Exit(0 if report.ok else 1)


def upgrade_text(report: UpgradeReport, overlay: Path) -> list[render_text.Item]:
    """What must change, the lint of the overlay against the target, and the verdict."""
    kind = "major" if report.major else "minor/patch"
    lines: list[render_text.Item] = [
        f"Upgrade {report.current} → {report.target} ({kind}) for {overlay}"
    ]
    if report.major and report.required:
        lines.append(f"The overlay must change {len(report.required)} thing(s):")
        lines.extend(f"  {change.describe()}" for change in report.required)
    elif report.major:
        lines.append("No references to removed or renamed rules or parameters.")
    content = report.content
    if content is not None and not content.ok:
        lines.append(
            f"{report.target} is a {content.moved} release, but its content needs a "
            f"{content.required} one:"
        )
        lines.extend(f"  {reason}" for reason in content.reasons())
    lines.append(render_text.lint_report(report.lint))
    verdict = "may switch" if report.ok else "must NOT switch yet"
    lines.append(f"Runner {verdict} to {report.target}.")
    return lines
