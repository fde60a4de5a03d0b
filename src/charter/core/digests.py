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


#: Characters encoded at a time by :func:`sha256_text` (a few MB of UTF-8 at most).
_TEXT_CHUNK = 1 << 20


def sha256_text(text: str) -> str:
    """``sha256:<hex>`` of ``text``'s UTF-8 bytes, encoded a slice at a time.

    Equal to ``sha256_bytes(text.encode())`` (a ``str`` slice never splits a code
    point) without holding a second copy of a large text as bytes.
    """
    if len(text) <= _TEXT_CHUNK:
        return sha256_bytes(text.encode("utf-8"))
    h = hashlib.sha256()
    for start in range(0, len(text), _TEXT_CHUNK):
        h.update(text[start : start + _TEXT_CHUNK].encode("utf-8"))
    return "sha256:" + h.hexdigest()
