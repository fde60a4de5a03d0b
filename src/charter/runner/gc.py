"""Keeping the garbage collector out of the runner's request path.

A runner's long-lived objects (compiled stacks, the gate's patterns, FastAPI,
pydantic) made every full collection take ~70 ms under load, a stall for every
request in flight. After each new stack or gate, :class:`Settler` collects once
and freezes what is left, so it is never scanned again; the previous load's
objects are unfrozen and collected then, once per change, so nothing leaks
across refreshes. Freezing is process-wide, so only a process that owns its
interpreter (``charter runner``) enables it.
"""

from __future__ import annotations

import gc


class Settler:
    """Collect and freeze once per new set of long-lived objects."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._settled: tuple[object, ...] | None = None

    def settle(self, *current: object, force: bool = False) -> None:
        """After a load: collect and freeze, unless ``current`` is what was settled last."""
        if not self.enabled and not force:
            return
        if (
            not force
            and self._settled is not None
            and len(self._settled) == len(current)
            and all(a is b for a, b in zip(current, self._settled, strict=True))
        ):
            return
        self._settled = current
        gc.unfreeze()
        gc.collect()
        gc.freeze()


__all__ = ["Settler"]
