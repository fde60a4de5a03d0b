"""``charter upgrade check``: may an overlay move to a new constitution version?"""

from __future__ import annotations

from pathlib import Path

import typer

from charter.cli._app import FORMAT_OPTION, OutputFormat, app, print_json, stdout
from charter.policy.bundle import load_directory
from charter.policy.lint import render_text
from charter.policy.upgrade import check_upgrade, resolve_target

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
        print_json(report.to_dict())
        raise typer.Exit(0 if report.ok else 1)
    out = stdout()
    kind = "major" if report.major else "minor/patch"
    out.print(f"Upgrade {report.current} → {report.target} ({kind}) for {overlay}", markup=False)
    if report.major:
        if report.required:
            out.print(f"The overlay must change {len(report.required)} thing(s):", markup=False)
            for change in report.required:
                out.print(f"  {change.describe()}", markup=False)
        else:
            out.print("No references to removed or renamed rules or parameters.", markup=False)
    out.print(render_text(report.lint), markup=False)
    verdict = "may switch" if report.ok else "must NOT switch yet"
    out.print(f"Runner {verdict} to {report.target}.", markup=False)
    raise typer.Exit(0 if report.ok else 1)
