"""The shared Typer application and the options every verb shares.

Output is rendered by :mod:`charter.render`; the verb modules call its text and
JSON renderers. ``stdout``, ``error`` and ``print_json`` below are the same
renderers under their old names, for verb modules not yet moved over.
"""

from __future__ import annotations

import enum
from importlib import metadata

import typer

import charter
from charter.render import json as render_json
from charter.render import text as render_text

app = typer.Typer(
    name="charter",
    help=(
        "Charter: a signed, layered, non-waivable constitution for AI coding agents.\n\n"
        "Exit codes: 0 allow/pass, 1 deny/fail, 2 usage or input error, 3 ask."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


class OutputFormat(enum.StrEnum):
    text = "text"
    json = "json"


FORMAT_OPTION = typer.Option(
    OutputFormat.text, "--format", help="text for people, json for machines"
)


class ReportFormat(enum.StrEnum):
    """Output formats of the verbs whose result CI reads (``check``, ``rule test``)."""

    text = "text"
    json = "json"
    sarif = "sarif"
    junit = "junit"
    github = "github"
    markdown = "markdown"


REPORT_FORMAT_OPTION = typer.Option(
    ReportFormat.text,
    "--format",
    help="text for people, json for machines; sarif (code scanning), junit (test reports), "
    "github (workflow annotations) or markdown (PR comment, step summary) for CI",
)


def version() -> str:
    """The installed distribution's version (the source tree's when not installed)."""
    try:
        return metadata.version("charter")
    except metadata.PackageNotFoundError:
        return charter.__version__


def _show_version(value: bool) -> None:
    if value:
        render_text.show(f"charter {version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", help="show tracebacks for errors"),
    _version: bool = typer.Option(
        False,
        "--version",
        callback=_show_version,
        is_eager=True,
        expose_value=False,
        help="print the version and exit",
    ),
) -> None:
    """Charter: a signed, layered, non-waivable constitution for AI coding agents."""


#: A console that prints everything literally (no markup, no emoji codes).
stdout = render_text.console
#: ``charter: error: …`` on one line of standard error.
error = render_text.error
#: One JSON document on standard output.
print_json = render_json.show
