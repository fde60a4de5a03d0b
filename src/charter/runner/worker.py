"""``python -m charter.runner.worker FD``: one evaluator process (see :mod:`.processes`)."""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection

from charter.runner.processes import _worker_main


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m charter.runner.worker FD (started by the runner)", file=sys.stderr)
        return 2
    _worker_main(Connection(int(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
