"""``charter rule lint`` and ``charter rule sign``: the linters and rule signing.

``rule lint`` sends bundles, rule files and waivers to the policy linter
(:mod:`charter.policy.lint`) and constitution TOMLs to the ratchet linter of
the agent runtime (:mod:`charter.actions.lint`), and shows one report.
Registered on the ``rule`` group of :mod:`charter.cli.rule`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from charter.actions import lint as constitution_lint
from charter.cli._app import ReportFormat
from charter.cli.rule import rule_app, rule_file_bundle
from charter.core.errors import InputError
from charter.core.findings import LintReport
from charter.policy import lint as policy_lint
from charter.policy.build import rule_dependencies, sign_rule
from charter.policy.bundle import SIGNATURES, Layer, load_directory, read_directory_files
from charter.policy.stack import load_stack
from charter.render import github as render_github
from charter.render import json as render_json
from charter.render import junit as render_junit
from charter.render import markdown as render_markdown
from charter.render import sarif as render_sarif
from charter.render import text as render_text
from charter.render import write
from charter.trust import keys


def against_layers(against: list[Path] | None) -> tuple[list[Layer] | None, Path | None]:
    """Bundle directories (constitution, packs) and at most one constitution TOML."""
    toml: Path | None = None
    layers: list[Layer] = []
    for item in against or []:
        if item.suffix == ".toml":
            if toml is not None:
                raise InputError("--against takes at most one constitution TOML")
            toml = item
        else:
            layers.append(load_directory(item))
    if not layers:
        return None, toml
    if not any(x.kind == "constitution" for x in layers):
        layers = [*load_stack().layers, *layers]
    order = {"constitution": 0, "pack": 1, "overlay": 2}
    return sorted(layers, key=lambda x: order[x.kind]), toml


#: Every code either linter reports, with its description (for SARIF).
CODES = {**policy_lint.CODES, **constitution_lint.CODES}


def lint_paths(
    paths: list[Path], layers: list[Layer] | None, against_toml: Path | None
) -> LintReport:
    """Constitution TOMLs against ``against_toml``; everything else against ``layers``."""
    tomls = [p for p in paths if p.suffix == ".toml"]
    others = [p for p in paths if p.suffix != ".toml"]
    report = policy_lint.lint_paths(others, layers) if others else LintReport((), ())
    for toml in tomls:
        report = report.merged(constitution_lint.lint_constitution_files(toml, against_toml))
    return report


@rule_app.command("lint")
def lint(
    paths: list[Path] = typer.Argument(
        ..., help="rule files, bundle directories, constitution TOMLs or waiver JSONs"
    ),
    against: list[Path] | None = typer.Option(
        None,
        "--against",
        help="upper layer: bundle directory or constitution TOML (repeatable; default: the "
        "shipped constitution)",
    ),
    fmt: ReportFormat = typer.Option(
        ReportFormat.text, "--format", help="text, json, sarif, junit, github or markdown"
    ),
) -> None:
    """Prove a lower layer only tightens the layers above it (exit 1 on errors)."""
    for path in paths:
        if path.suffix == ".rego" and path.is_file():
            rule_file_bundle(path)  # a rule file outside any bundle: one-line error
    layers, toml = against_layers(against)
    report = lint_paths(paths, layers, toml)
    if fmt is ReportFormat.json:
        render_json.show(report.to_dict())
    elif fmt is ReportFormat.sarif:
        render_json.show(render_sarif.lint_report(report, CODES))
    elif fmt is ReportFormat.junit:
        write(render_junit.lint_report(report))
    elif fmt is ReportFormat.github:
        write(render_github.lint_report(report))
    elif fmt is ReportFormat.markdown:
        write(render_markdown.lint_report(report))
    else:
        render_text.show(render_text.lint_report(report))
    raise typer.Exit(0 if report.ok else 1)


@rule_app.command("sign")
def sign(
    file: Path = typer.Argument(..., metavar="FILE", help="the rule's .rego file"),
    key: Path = typer.Option(..., "--key", help="private key (signing.key or cosign.key)"),
    passphrase_env: str | None = typer.Option(
        None, "--passphrase-env", help="environment variable holding the key's passphrase"
    ),
    against: list[Path] | None = typer.Option(
        None, "--against", help="upper layer bundle directory (repeatable)"
    ),
) -> None:
    """Lint and test FILE's bundle, then sign FILE and everything it reads.

    Signed with FILE: its *_test.rego, the .manifest, and every module and
    data.json of the bundle the rule imports or references (transitively, with
    their tests). References into other layers cannot be signed here and are
    listed; so are the bundle's files the rule does not read.
    """
    private = keys.load_private(key, keys.passphrase_from_env(passphrase_env))
    layers, _ = against_layers(against)
    # The linter runs the bundle's tests (and proves they cover each rule).
    validators = (policy_lint.build_validator,)
    target, covered = sign_rule(file, private, upper=layers, validators=validators)
    root, deps = rule_dependencies(file)
    unsigned = sorted(
        name
        for name in read_directory_files(root)
        if name not in covered and name != SIGNATURES and not name.startswith(".")
    )
    lines: list[render_text.Item] = [
        f"Signed {file} into {target}",
        f"Signed by: {keys.key_id(private.public_key())}",
        f"Files covered: {', '.join(covered)}",
    ]
    extra = [n for n in deps.files[1:] if n in covered]
    if extra:
        lines.append(f"Signed because the rule reads them: {', '.join(extra)}")
    if deps.outside:
        lines.append(
            "Left out (the rule reads them, but they belong to another layer, which its own "
            f"signature covers, or to nothing): {', '.join(deps.outside)}"
        )
    if unsigned:
        lines.append(
            "Not signed (this rule does not read them; sign their rules, or `charter bundle "
            f"build` signs the whole bundle): {', '.join(unsigned)}"
        )
    render_text.show(*lines)
