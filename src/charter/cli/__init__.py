"""The ``charter`` command line: a thin shell over the library.

Each verb group lives in its own module and only parses arguments, calls the
library and renders the result. Errors are :class:`charter.core.errors.CharterError`
subclasses; they are printed as one line on stderr and mapped to exit codes
(0 allow/pass, 1 deny/fail, 2 usage or input error, 3 ask). ``--verbose``
re-raises them so a traceback is shown.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from charter.cli import _app
from charter.core import errors
from charter.core.errors import CharterError, InputError
from charter.render import text as render_text

app = _app.app


# The verb modules that register each top-level command. A hook runs before
# every tool call an agent makes, so `charter hook …` must not pay for
# importing the runner, OCI and linter stacks; only the modules a command
# needs are imported, and everything is for help or an unknown command.
_COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "approvals": ("approvals",),
    "audit": ("audit",),
    "bundle": ("bundle", "oci", "bundle_version"),
    "check": ("check",),
    "explain": ("check", "explain"),
    "ci": ("ci",),
    "constitution": ("constitution",),
    "gate": ("gate",),
    "exec": ("gate",),
    "hook": ("hook",),
    "budget": ("gate", "hook"),
    "key": ("key",),
    "login": ("login",),
    "logout": ("login",),
    "profile": ("profile",),
    "proposal": ("proposal",),
    "rule": ("rule", "lint"),
    "runner": ("runner",),
    "status": ("runner",),
    "upgrade": ("upgrade",),
    "waiver": ("waiver",),
}
_ALL_MODULES = tuple(dict.fromkeys(m for ms in _COMMAND_MODULES.values() for m in ms))


def _command_of(args: Sequence[str]) -> str | None:
    for arg in args:
        if not arg.startswith("-"):
            return arg
    return None


def _load_commands(args: Sequence[str] = ()) -> None:
    # Importing a verb module registers its commands on the app.
    command = _command_of(args)
    if command is None and "--version" in args:
        return  # answered by the root callback; no verb is needed
    modules = _COMMAND_MODULES.get(command or "", _ALL_MODULES)
    for module in modules:
        importlib.import_module(f"charter.cli.{module}")


def _undecodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _shown(text: str) -> str:
    # The bytes the shell passed (\xff), or the code point (\ud800) if it was no byte.
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


def check_arguments(args: Sequence[str]) -> None:
    """Refuse an argument that is not UTF-8 text, naming it.

    Python decodes undecodable argv bytes to lone surrogates (``$'\\xff'`` becomes
    ``'\\udcff'``), which can be neither matched, hashed, recorded nor shown.
    """
    for index, arg in enumerate(args):
        if not _undecodable(arg):
            continue
        option, equals, value = arg.partition("=")
        if arg.startswith("--") and equals:
            name, arg = option, value
        elif index and args[index - 1].startswith("-"):
            name = args[index - 1]
        else:
            name = f"argument {index + 1}"
        raise InputError(
            f"{name}: '{_shown(arg)}' is not UTF-8 text",
            hint="pass commands, paths and names as UTF-8",
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in args
    _load_commands(args)
    try:
        check_arguments(args)
        # Standalone mode lets click print usage errors itself (exit 2);
        # everything else reaches the handlers below.
        app(args=args, prog_name="charter", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except CharterError as exc:
        if verbose:
            raise
        render_text.error(str(exc))
        return errors.exit_code(exc)
    except Exception as exc:  # noqa: BLE001 - the one place that must never show a traceback
        if verbose:
            raise
        render_text.error(
            f"internal error: {type(exc).__name__}: {exc} (run with --verbose for details)"
        )
        return 2
    except BaseException as exc:
        # A Rust panic inside regorus surfaces as pyo3's PanicException, which
        # derives from BaseException; nothing was decided, so fail closed.
        if verbose or type(exc).__name__ != "PanicException":
            raise
        render_text.error(f"the Rego engine panicked, nothing was decided: {exc}")
        return 2
    return 0


def run() -> None:
    sys.exit(main())
