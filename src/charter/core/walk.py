"""Every entry below a folder, walked with a list instead of recursion.

``os.walk``, ``Path.rglob`` and ``shutil.rmtree`` recurse once per folder in
Python 3.11, and a change (or evidence, or a bundle) can nest its folders deeper
than the interpreter's recursion limit: a RecursionError, not an answer.
"""

from __future__ import annotations

import os
from pathlib import Path


def entries_under(folder: Path) -> list[os.DirEntry[str]]:
    """Every entry below ``folder``, as ``rglob("*")`` lists them: symbolic links are
    listed, never entered; a folder that cannot be listed is skipped (as ``os.walk``
    and ``rglob`` skip it)."""
    found: list[os.DirEntry[str]] = []
    pending = [folder]
    while pending:
        try:
            with os.scandir(pending.pop()) as listed:
                entries = list(listed)
        except OSError:
            continue
        for entry in entries:
            found.append(entry)
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
    return found


__all__ = ["entries_under"]
