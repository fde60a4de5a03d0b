"""Memoisation bounded by bytes, not entries, for caches keyed on untrusted input.

``functools.lru_cache(maxsize=4096)`` bounds the *number* of entries, so a
client sending distinct 64 KiB commands (or 5 MB proposal bodies) grows it by
megabytes per request. :func:`bytes_lru` keeps an LRU whose *weight* stays
under a budget: each entry's weight is an estimate of what it retains (given
by the cache's ``weigh`` function, proportional to the size of its key), and
an entry heavier than an eighth of the budget is computed but never kept (an
input that large is unlikely to repeat, and computing it again costs no more
than the first time). :meth:`BytesLRU.cache_info` reports the accounting.

Thread-safe: the value is computed outside the lock (two threads may compute
the same new value once each, as with ``lru_cache``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import update_wrapper
from typing import Any, Generic, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
#: What every entry costs beyond its weight (the key tuple, the node, the dict slot).
ENTRY_OVERHEAD = 256


@dataclass(frozen=True)
class CacheInfo:
    hits: int
    misses: int
    entries: int
    bytes: int
    max_bytes: int
    max_entries: int
    #: Results computed but not kept because one entry would take over 1/8 of the budget.
    too_large: int


class BytesLRU(Generic[P, R]):
    """An LRU memo of ``fn`` whose entries' total weight stays at most ``max_bytes``."""

    def __init__(
        self,
        fn: Callable[P, R],
        weigh: Callable[P, int],
        max_bytes: int,
        max_entries: int,
    ) -> None:
        if max_bytes < 1 or max_entries < 1:
            raise ValueError("a cache needs a positive budget")
        self._fn = fn
        self._weigh = weigh
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[R, int]] = OrderedDict()
        self._bytes = 0
        self._hits = self._misses = self._too_large = 0
        self._lock = threading.Lock()
        update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        key: Hashable = (args, tuple(sorted(kwargs.items()))) if kwargs else args
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                self._hits += 1
                return hit[0]
            self._misses += 1
        value = self._fn(*args, **kwargs)
        weight = self._weigh(*args, **kwargs) + ENTRY_OVERHEAD
        with self._lock:
            if weight * 8 > self.max_bytes:
                self._too_large += 1
                return value
            if key in self._entries:
                return self._entries[key][0]
            self._entries[key] = (value, weight)
            self._bytes += weight
            while self._bytes > self.max_bytes or len(self._entries) > self.max_entries:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped
        return value

    def cache_info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(
                self._hits,
                self._misses,
                len(self._entries),
                self._bytes,
                self.max_bytes,
                self.max_entries,
                self._too_large,
            )

    def cache_clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


def bytes_lru(
    weigh: Callable[P, int], *, max_bytes: int, max_entries: int = 65536
) -> Callable[[Callable[P, R]], BytesLRU[P, R]]:
    """Decorate a function with an LRU memo bounded by ``max_bytes`` of estimated weight."""

    def decorate(fn: Callable[P, R]) -> BytesLRU[P, R]:
        return BytesLRU(fn, weigh, max_bytes, max_entries)

    return decorate


def text_weight(factor: int) -> Callable[..., int]:
    """A weight of ``factor`` bytes per character of every string (or sequence of
    strings) among the arguments: what a parse of that text retains, roughly."""

    def weigh(*args: Any, **kwargs: Any) -> int:
        total = 0
        for value in (*args, *kwargs.values()):
            if isinstance(value, str | bytes):
                total += len(value)
            elif isinstance(value, tuple):
                total += sum(len(v) + 8 if isinstance(v, str) else 8 for v in value)
        return total * factor

    return weigh


__all__ = ["BytesLRU", "CacheInfo", "bytes_lru", "text_weight"]
