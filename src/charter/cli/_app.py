"""The shared Typer application, output helpers and common options."""

from __future__ import annotations

import enum
import json
import os
import sys
from typing import Any

import typer
from rich.console import Console

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


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", help="show tracebacks for errors"),
) -> None:
    """Charter: a signed, layered, non-waivable constitution for AI coding agents."""


def stdout() -> Console:
    # Piped output (CI logs, `| less`) has no width; rich would assume 80
    # columns and squeeze rule IDs into slivers. Give it room unless told.
    width = None
    if not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        width = 160
    return Console(highlight=False, soft_wrap=True, width=width)


def error(message: str) -> None:
    line = " ".join(message.split())
    sys.stderr.write(f"charter: error: {line}\n")


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False, ensure_ascii=False) + "\n")
