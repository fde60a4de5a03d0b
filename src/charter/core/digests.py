"""Content digests as Charter writes them everywhere: ``sha256:<hex>``.

The same form as OCI descriptors and cosign use, so a digest printed by
``charter bundle build`` is the one a registry and the audit log show.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 16


def sha256_bytes(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
