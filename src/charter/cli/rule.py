"""``charter rule``: inspect and test the rules of the active stack."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

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
from charter.policy.build import bundle_root
from charter.policy.bundle import Layer, load_directory
from charter.policy.stack import Stack, load_stack
from charter.policy.templates import TEMPLATES, GeneratedRule, Options, generate
from charter.policy.testing import (
    RuleTests,
    TestReport,
    TestResult,
    attribute,
    body_lines,
    coverage_report,
    load_for_tests,
    run_tests,
)
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
    kinds, paths = rule.applies_to.kinds, rule.applies_to.paths
    lines.append(
        f"applies:   {', '.join(kinds) if kinds else 'every kind'}; "
        f"{', '.join(paths) if paths else 'any change'}"
    )
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


def rule_file_bundle(path: Path) -> Path:
    """The bundle directory above the rule file ``path`` (one-line error when none)."""
    if path.suffix != ".rego":
        raise InputError(
            f"{path}: not a .rego file or a bundle directory",
            hint="pass a .rego file inside a bundle or a bundle directory",
        )
    root = bundle_root(path.resolve())
    if root is None:
        raise InputError(
            f"{path}: no .manifest in its directory or above it, so it belongs to no bundle",
            hint="move it into a bundle directory (one with a .manifest, e.g. examples/overlay) "
            "or copy examples/overlay/.manifest into the directory that holds it",
        )
    return root


def _file_tests(path: Path) -> set[Path]:
    """The test files that test ``path``: itself if it is a test, else its ``*_test.rego``."""
    resolved = path.resolve()
    if resolved.name.endswith("_test.rego"):
        return {resolved}
    return {resolved, resolved.with_name(f"{resolved.stem}_test.rego")}


def _only_files(report: TestReport, wanted: set[Path] | None) -> TestReport:
    if wanted is None:
        return report
    kept: tuple[TestResult, ...] = tuple(
        r for r in report.results if Path(r.file).resolve() in wanted
    )
    return TestReport(results=kept)


@rule_app.command("test")
def test_rules(
    paths: list[Path] | None = typer.Argument(
        None,
        help="bundle directories or .rego files to test (a file: the tests in it or in its "
        "*_test.rego, against its bundle; default: every layer of the active stack)",
    ),
    run: str | None = typer.Option(None, "--run", "-r", help="only tests matching this regex"),
    coverage: bool = typer.Option(
        False,
        "--coverage",
        help="line coverage (JSON shaped like `opa test --coverage --format json` with "
        "--format json) and each rule's firing and silent tests, measured by running them",
    ),
    overlay: Path | None = OVERLAY_OPTION,
    pack: list[Path] | None = PACK_OPTION,
    constitution: Path | None = CONSTITUTION_OPTION,
    trust: Path | None = TRUST_OPTION,
    allow_major: bool = ALLOW_MAJOR_OPTION,
    state_dir: Path | None = STATE_DIR_OPTION,
    fmt: ReportFormat = REPORT_FORMAT_OPTION,
) -> None:
    """Run Rego tests with an `opa test -v`-style report (exit 1 on failure).

    Like `opa test`: every test_* rule of the bundles runs (not only those in
    *_test.rego files), todo_test_* is SKIPPED, print() output is shown under
    its test, and a module that does not parse (Rego v0, say) is an ERROR at
    its file and line while the other tests still run.
    """
    if coverage and fmt not in (ReportFormat.text, ReportFormat.json):
        raise InputError(
            f"--coverage prints text or json, not {fmt.value}",
            hint="use --format json for the `opa test --coverage`-shaped report",
        )
    directories: list[Path] = []
    wanted: set[Path] | None = None
    for p in paths or []:
        if p.is_file():
            directories.append(rule_file_bundle(p))
            wanted = (wanted or set()) | _file_tests(p)
        else:
            directories.append(p)
    if wanted is not None and any(not p.is_file() for p in paths or []):
        wanted = None  # a directory among the paths: report all its tests
    stack = _load_stack(constitution, pack, overlay, trust, allow_major, state_dir)
    broken: list[TestResult] = []
    if directories:
        unique = list(dict.fromkeys(d.resolve() if d.exists() else d for d in directories))
        targets: list[Layer] = []
        for directory in unique:
            layer, errors = load_for_tests(directory)
            targets.append(layer)
            broken.extend(errors)
        stack = stack_with(stack, targets)
        report = _only_files(run_tests(stack, targets, match=run, coverage=coverage), wanted)
    else:
        targets = list(stack.layers)
        report = run_tests(stack, match=run, coverage=coverage)
    report = TestReport(results=(*_only_files(TestReport(tuple(broken)), wanted).results,
                                 *report.results))  # fmt: skip
    if not report.results:
        raise InputError(
            "no tests found",
            hint="tests are test_* rules (for a rule file X.rego, in X_test.rego beside it "
            "or in X.rego itself)",
        )
    if coverage:
        _show_coverage(report, stack, targets, fmt, wanted)
    else:
        render_test_report(report, fmt)
    raise typer.Exit(0 if report.ok else 1)


def _rule_tests(stack: Stack, targets: list[Layer], report: TestReport) -> list[RuleTests]:
    """Each rule of ``targets`` with its firing and silent tests (by running them)."""
    found: list[RuleTests] = []
    for layer in targets:
        rules = {r.id: (r.package, r.file) for r in layer.rules}
        if not rules:
            continue
        mine = [r for r in report.results if any(r.file == m.path for m in layer.modules)]
        found.extend(attribute(stack.layers, layer, rules, mine).rules)
    return found


def _rule_lines(item: RuleTests, layers: list[Layer], files: dict[str, Any]) -> str:
    """``covered/total`` lines of the rule's deny/ask bodies."""
    module = next((m for x in layers for m in x.modules if m.path == item.file), None)
    if module is None:
        return "-"
    body = body_lines(module, item.rule)
    ranges = files.get(item.file, {}).get("covered", [])
    hit = {row for r in ranges for row in range(r["start"]["row"], r["end"]["row"] + 1)}
    return f"{len(body & hit)}/{len(body)}"


def _show_coverage(
    report: TestReport,
    stack: Stack,
    targets: list[Layer],
    fmt: ReportFormat,
    wanted: set[Path] | None,
) -> None:
    lines_report = coverage_report(report.results, targets)
    per_rule = _rule_tests(stack, targets, report)
    if wanted is not None:  # a rule file was named: its own rules only
        per_rule = [r for r in per_rule if Path(r.file).resolve() in wanted]
    files = lines_report["files"]
    if fmt is ReportFormat.json:
        document = dict(lines_report)
        document["rules"] = [
            {**item.to_dict(), "lines": _rule_lines(item, targets, files)} for item in per_rule
        ]
        document["tests"] = report.to_dict()
        write(render_json.document(document))
        return
    render_test_report(report, fmt)
    file_rows = [
        (path, str(v["covered_lines"]), str(v["not_covered_lines"]), f"{v['coverage']:.1f}%")
        for path, v in files.items()
    ]
    rule_rows = [
        (
            item.rule,
            ", ".join(t.rsplit(".", 1)[-1] for t in item.firing) or "NONE",
            ", ".join(t.rsplit(".", 1)[-1] for t in item.silent) or "NONE",
            _rule_lines(item, targets, files),
        )
        for item in per_rule
    ]
    render_text.show(
        "",
        render_text.table(
            ("File", "Covered", "Not covered", "Coverage"),
            file_rows,
            title=f"Line coverage: {lines_report['coverage']:.1f}%",
        ),
        render_text.table(
            ("Rule", "Firing tests", "Silent tests", "Lines"),
            rule_rows,
            title="Tests per rule (measured by running them; a rule needs one of each)",
        ),
    )


# --------------------------------------------------------------------------- rule new


def _git(top: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(top), *args], capture_output=True, text=True, check=False, timeout=60
    )


def _git_top(directory: Path) -> Path | None:
    result = _git(directory, "rev-parse", "--show-toplevel")
    return Path(result.stdout.strip()) if result.returncode == 0 and result.stdout.strip() else None


def _git_ready(top: Path, branch: str) -> None:
    """Refuse before anything is written: staged changes, no identity, branch exists."""
    staged = _git(top, "diff", "--cached", "--name-only")
    if staged.returncode != 0:
        raise InputError(f"git cannot read the index of {top}: {_first_line(staged.stderr)}")
    if staged.stdout.strip():
        raise InputError(
            f"the git index of {top} has staged changes; refusing to commit them with the rule",
            hint="commit or unstage them first (git restore --staged PATH), or pass --no-git",
        )
    for key in ("user.name", "user.email"):
        if not _git(top, "config", key).stdout.strip():
            raise InputError(
                f"git has no {key} configured in {top}",
                hint=f"set it (git config {key} ...) or pass --no-git",
            )
    if _git(top, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}").returncode == 0:
        raise InputError(
            f"branch {branch} already exists", hint="choose another --id or delete the branch"
        )


def _first_line(text: str) -> str:
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return lines[0] if lines else "(no message)"


def _git_commit(top: Path, files: list[Path], rule: GeneratedRule) -> str:
    steps = [
        ("add", "--", *(str(f.resolve().relative_to(top.resolve())) for f in files)),
        ("commit", "--quiet", "-m", rule.pr_title, "-m", rule.pr_body),
    ]
    for step in steps:
        result = _git(top, *step)
        if result.returncode != 0:
            raise InputError(
                f"git {step[0]} failed: {_first_line(result.stderr or result.stdout)}",
                hint="the files are written; commit them by hand or rerun with --no-git",
            )
    return _git(top, "rev-parse", "--short", "HEAD").stdout.strip()


def _tuple(values: list[str] | None) -> tuple[str, ...]:
    return tuple(values or ())


def _known_ids(root: Path) -> set[str]:
    ids = {r.id for r in load_directory(root).rules}
    return ids | set(load_stack().rules)


@rule_app.command("new")
def new_rule(
    template: str = typer.Argument(..., metavar="TEMPLATE", help=f"one of {', '.join(TEMPLATES)}"),
    rule_id: str = typer.Option(..., "--id", help="the rule id, e.g. CM-TICKET-REQUIRED-001"),
    directory: Path = typer.Option(
        Path("."), "--dir", help="the bundle (overlay) directory, or a directory inside it"
    ),
    title: str | None = typer.Option(None, "--title", help="METADATA title"),
    description: str | None = typer.Option(None, "--description", help="METADATA description"),
    severity: str = typer.Option("high", "--severity", help="low, medium, high or critical"),
    category: str | None = typer.Option(None, "--category", help="e.g. change-management"),
    citation: str | None = typer.Option(None, "--citation", help="the control, e.g. 'SOC2 CC8.1'"),
    link: str | None = typer.Option(None, "--link", help="URL of the policy the rule enforces"),
    kind: list[str] | None = typer.Option(
        None,
        "--kind",
        help="proposal kinds covered (repeatable; also its METADATA applies_to.kinds)",
    ),
    environment: list[str] | None = typer.Option(
        None, "--environment", help="environments covered (repeatable; '*' = any)"
    ),
    pattern: str | None = typer.Option(
        None, "--pattern", help=r"change-ticket: ticket key regex (default CM-\d+)"
    ),
    example: str | None = typer.Option(
        None, "--example", help="change-ticket: a ticket key the pattern matches"
    ),
    ask_label: list[str] | None = typer.Option(
        None,
        "--ask-label",
        help="change-ticket: labels that ask instead of deny (default hotfix, rollback)",
    ),
    ask_author: list[str] | None = typer.Option(
        None,
        "--ask-author",
        help="change-ticket: authors that ask instead of deny (default dependabot[bot])",
    ),
    no_ask: bool = typer.Option(False, "--no-ask", help="change-ticket: no label or author asks"),
    path: list[str] | None = typer.Option(
        None, "--path", help="path globs the rule covers (repeatable; also its applies_to.paths)"
    ),
    example_path: str | None = typer.Option(
        None, "--example-path", help="a path the globs match (for the tests)"
    ),
    day: list[str] | None = typer.Option(
        None, "--day", help="deploy-window: days the window starts (default Sun)"
    ),
    start: str | None = typer.Option(
        None, "--start", help="deploy-window: HH:MM, inclusive (default 22:00)"
    ),
    end: str | None = typer.Option(
        None, "--end", help="deploy-window: HH:MM, exclusive (default 02:00)"
    ),
    tz: str | None = typer.Option(None, "--tz", help="deploy-window: IANA time zone (default UTC)"),
    mode: str | None = typer.Option(
        None,
        "--mode",
        help="deploy-window: only (deploy only inside, default) or freeze (never inside)",
    ),
    group: str | None = typer.Option(None, "--group", help="approver: the required approver group"),
    no_git: bool = typer.Option(
        False, "--no-git", help="write the files only (no branch, no commit)"
    ),
) -> None:
    """Start a rule from a template: rule module, tests, branch, commit and PR text."""
    root = bundle_root(directory.resolve()) if directory.exists() else None
    if root is None:
        raise InputError(
            f"{directory}: no .manifest in it or above it, so it is not a bundle directory",
            hint="pass --dir with your overlay (e.g. --dir examples/overlay), or copy "
            "examples/overlay/.manifest into a new directory first",
        )
    options = Options(
        title=title, description=description, severity=severity, category=category,
        citation=citation, link=link, kinds=_tuple(kind), environments=_tuple(environment),
        pattern=pattern, example=example,
        ask_labels=() if no_ask else (tuple(ask_label) if ask_label else None),
        ask_authors=() if no_ask else (tuple(ask_author) if ask_author else None),
        paths=_tuple(path), example_path=example_path, days=_tuple(day), start=start, end=end,
        time_zone=tz, mode=mode, group=group,
    )  # fmt: skip
    manifest = load_directory(root).manifest
    rule = generate(template, rule_id, manifest.roots[0], options)
    if rule_id in _known_ids(root):
        raise InputError(f"rule id {rule_id} is already used", hint="choose another --id")
    files = [root / rule.rule_path, root / rule.test_path]
    for f in files:
        if f.exists():
            raise InputError(f"{f} already exists", hint="choose another --id or remove the file")
    branch = f"policy/{rule_id.lower()}"
    top = None if no_git else _git_top(root)
    if top is not None:
        _git_ready(top, branch)
        checkout = _git(top, "checkout", "-b", branch)
        if checkout.returncode != 0:
            raise InputError(f"git checkout -b {branch} failed: {_first_line(checkout.stderr)}")
    for f, text in zip(files, (rule.rule_source, rule.test_source), strict=True):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text, encoding="utf-8")
    lines: list[render_text.Item] = [f"Wrote {f}" for f in files]
    if top is not None:
        commit = _git_commit(top, files, rule)
        lines.append(f"Committed {commit} on branch {branch}")
    elif not no_git:
        lines.append("Not in a git repository: no branch or commit made")
    lines += [
        "",
        f"Next: charter rule test {files[0]} && charter rule lint {files[0]}",
        "",
        "PR title:",
        rule.pr_title,
        "",
        "PR body:",
        render_text.paragraph(rule.pr_body),
    ]
    render_text.show(*lines)
