"""Files Charter writes in a checkout, never through the change's symbolic links."""

from __future__ import annotations

import os
from pathlib import Path

from charter.core.errors import InputError


def refuse_links(path: Path, root: Path, what: str) -> None:
    """InputError when ``path`` or a folder between ``root`` and it is a symbolic link
    (in a checkout, one may be the change's own: it would choose the file written)."""
    where, top = Path(os.path.abspath(path)), Path(os.path.abspath(root))
    if top not in where.parents:
        return
    current = top
    for part in where.relative_to(top).parts:
        current = current / part
        if current.is_symlink():
            raise InputError(
                f"{path}: {current} is a symbolic link; {what} is not written through it",
                hint="write it outside the checkout, or to a path the change does not hold",
            )
