"""``charter rule``: inspect and test the rules of the active stack."""

from __future__ import annotations

from pathlib import Path

import typer

from charter.cli._app import (
    FORMAT_OPTION,
    REPORT_FORMAT_OPTION,
    OutputFormat,
    ReportFormat,
    app,
    version,
)
from charter.cli._stack import (
    ALLOW_MAJOR_OPTION,
    CONSTITUTION_OPTION,
    OVERLAY_OPTION,
    PACK_OPTION,
    STATE_DIR_OPTION,
    TRUST_OPTION,
    trust_policy,
    verified_stack,
)
from charter.core.errors import InputError
from charter.policy.bundle import Layer, load_directory
from charter.policy.stack import Stack
from charter.policy.testing import TestReport, run_tests
from charter.render import github as render_github
from charter.render import json as render_json
from charter.render import junit as render_junit
from charter.render import markdown as render_markdown
from charter.render import sarif as render_sarif
from charter.render import text as render_text
from charter.render import write

rule_app = typer.Typer(help="Inspect, test, lint and sign rules.", no_args_is_help=True)
app.add_typer(rule_app, name="rule")


def _load_stack(
    constitution: Path | None,
    packs: list[Path] | None,
    overlay: Path | None,
    trust: Path | None,
    allow_major: bool,
    state_dir: Path | None,
) -> Stack:
    """The stack ``charter check`` would load from the same options.

    A stack that does not verify is exit 2 (no result), as in ``check``: exit 1
    from ``rule test`` would read as "tests failed".
    """
    return verified_stack(
        constitution,
        packs,
        overlay,
        trust_policy(trust),
        allow_major=allow_major,
        state_dir=state_dir,
        record=False,
    )


@rule_app.command("list")
def list_rules(
    layer: str | None = typer.Option(None, "--layer", help="constitution, pack or overlay"),
    overlay: Path | None = OVERLAY_OPTION,
    pack: list[Path] | None = PACK_OPTION,
    constitution: Path | None = CONSTITUTION_OPTION,
    trust: Path | None = TRUST_OPTION,
    allow_major: bool = ALLOW_MAJOR_OPTION,
    state_dir: Path | None = STATE_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """List the rules of the active stack."""
    stack = _load_stack(constitution, pack, overlay, trust, allow_major, state_dir)
    if layer is not None and layer not in ("constitution", "pack", "overlay"):
        raise InputError(
            f"--layer {layer!r} is not a layer", hint="use constitution, pack or overlay"
        )
    rules = [r for r in stack.rules.values() if layer is None or r.layer == layer]
    if fmt is OutputFormat.json:
        render_json.show(
            [
                {
                    "id": r.id,
                    "layer": r.layer,
                    "severity": r.severity,
                    "category": r.category,
                    "title": r.title,
                    "citation": r.citation,
                }
                for r in rules
            ]
        )
        return
    rows = [(r.id, f"{r.layer}:{r.layer_name}", r.severity, r.category, r.title) for r in rules]
    columns = ("ID", "Layer", "Severity", "Category", "Title")
    render_text.show(render_text.table(columns, rows, title=f"{len(rules)} rule(s)"))


@rule_app.command("show")
def show_rule(
    rule_id: str = typer.Argument(..., metavar="ID"),
    overlay: Path | None = OVERLAY_OPTION,
    pack: list[Path] | None = PACK_OPTION,
    constitution: Path | None = CONSTITUTION_OPTION,
    trust: Path | None = TRUST_OPTION,
    allow_major: bool = ALLOW_MAJOR_OPTION,
    state_dir: Path | None = STATE_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Show one rule: metadata, citation, links and location."""
    stack = _load_stack(constitution, pack, overlay, trust, allow_major, state_dir)
    rule = stack.rules.get(rule_id)
    if rule is None:
        raise InputError(
            f"no rule {rule_id!r} in the active stack",
            hint="run `charter rule list` to see the ids",
        )
    if fmt is OutputFormat.json:
        render_json.show(rule.to_dict())
        return
    lines: list[render_text.Item] = [
        render_text.styled((rule.id, "bold"), f"  {rule.title}"),
        f"layer:     {rule.layer} ({rule.layer_name})",
        f"severity:  {rule.severity}",
        f"category:  {rule.category}",
    ]
    if rule.citation:
        lines.append(f"citation:  {rule.citation}")
    lines.append(f"location:  {rule.file}:{rule.line}")
    lines.extend(f"link:      {link}" for link in rule.links)
    if rule.description:
        lines += ["", render_text.paragraph(rule.description)]
    render_text.show(*lines)


def rendered_test_report(report: TestReport, fmt: ReportFormat) -> str:
    """The Rego test report in ``fmt``, rendered in full."""
    if fmt is ReportFormat.json:
        return render_json.document(report.to_dict())
    if fmt is ReportFormat.sarif:
        return render_json.document(render_sarif.rego_tests(report, version=version()))
    if fmt is ReportFormat.junit:
        return render_junit.rego_tests(report)
    if fmt is ReportFormat.github:
        return render_github.rego_tests(report)
    if fmt is ReportFormat.markdown:
        return render_markdown.rego_tests(report)
    return render_text.render(render_text.rego_test_report(report))


def render_test_report(report: TestReport, fmt: ReportFormat | OutputFormat) -> None:
    write(rendered_test_report(report, ReportFormat(str(fmt))))


def stack_with(stack: Stack, extra: list[Layer]) -> Stack:
    """``stack`` with each layer of ``extra`` added, or replacing its namesake."""
    layers = list(stack.layers)
    for layer in extra:
        if layer.kind in ("constitution", "overlay"):
            layers = [x for x in layers if x.kind != layer.kind]
        else:
            layers = [x for x in layers if not (x.kind == "pack" and x.name == layer.name)]
        layers.append(layer)
    order = {"constitution": 0, "pack": 1, "overlay": 2}
    return Stack.compose(sorted(layers, key=lambda x: order[x.kind]))


@rule_app.command("test")
def test_rules(
    paths: list[Path] | None = typer.Argument(
        None, help="bundle directories to test (default: every layer of the active stack)"
    ),
    run: str | None = typer.Option(None, "--run", "-r", help="only tests matching this regex"),
    overlay: Path | None = OVERLAY_OPTION,
    pack: list[Path] | None = PACK_OPTION,
    constitution: Path | None = CONSTITUTION_OPTION,
    trust: Path | None = TRUST_OPTION,
    allow_major: bool = ALLOW_MAJOR_OPTION,
    state_dir: Path | None = STATE_DIR_OPTION,
    fmt: ReportFormat = REPORT_FORMAT_OPTION,
) -> None:
    """Run Rego tests with an `opa test -v`-style report (exit 1 on failure)."""
    stack = _load_stack(constitution, pack, overlay, trust, allow_major, state_dir)
    if paths:
        targets = [load_directory(p) for p in paths]
        stack = stack_with(stack, targets)
        report = run_tests(stack, targets, match=run)
    else:
        report = run_tests(stack, match=run)
    if not report.results:
        raise InputError("no tests found", hint="tests are test_* rules in *_test.rego files")
    render_test_report(report, fmt)
    raise typer.Exit(0 if report.ok else 1)
