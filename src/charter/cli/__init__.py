"""The ``charter`` command line: a thin shell over the library.

Each verb group lives in its own module and only parses arguments, calls the
library and renders the result. Errors are :class:`charter.errors.CharterError`
subclasses; they are printed as one line on stderr and mapped to exit codes
(0 allow/pass, 1 deny/fail, 2 usage or input error, 3 ask). ``--verbose``
re-raises them so a traceback is shown.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from charter.cli import _app
from charter.errors import CharterError

app = _app.app


def _load_commands() -> None:
    # Importing a verb module registers its commands on the app.
    from charter.cli import audit as _audit  # noqa: F401
    from charter.cli import bundle as _bundle  # noqa: F401
    from charter.cli import check as _check  # noqa: F401
    from charter.cli import constitution as _constitution  # noqa: F401
    from charter.cli import gate as _gate  # noqa: F401
    from charter.cli import key as _key  # noqa: F401
    from charter.cli import lint as _lint  # noqa: F401
    from charter.cli import oci as _oci  # noqa: F401
    from charter.cli import rule as _rule  # noqa: F401
    from charter.cli import runner as _runner  # noqa: F401
    from charter.cli import upgrade as _upgrade  # noqa: F401
    from charter.cli import waiver as _waiver  # noqa: F401


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in args
    _load_commands()
    try:
        # Standalone mode lets click print usage errors itself (exit 2);
        # everything else reaches the handlers below.
        app(args=args, prog_name="charter", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except CharterError as exc:
        if verbose:
            raise
        _app.error(str(exc))
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the one place that must never show a traceback
        if verbose:
            raise
        _app.error(f"internal error: {type(exc).__name__}: {exc} (run with --verbose for details)")
        return 2
    return 0


def run() -> None:
    sys.exit(main())
