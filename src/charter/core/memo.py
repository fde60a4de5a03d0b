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

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import update_wrapper
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, cast

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
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
        self._hit_count = [0]
        self._misses = self._too_large = 0
        self._lock = threading.Lock()
        update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        key: Hashable = (args, tuple(sorted(kwargs.items()))) if kwargs else args
        # A hit takes no lock and does not reorder: one dict read is atomic under the GIL,
        # and these memos sit on the gate's hot path (a locked, reordering hit cost ~10x
        # functools.lru_cache's). Eviction is therefore oldest-inserted first; the counters
        # are statistics, not accounting. :func:`bytes_lru` inlines this hit path.
        hit = self._entries.get(key)
        if hit is not None:
            self._hit_count[0] += 1
            return hit[0]
        return self.miss(key, *args, **kwargs)

    def miss(self, key: Hashable, *args: Any, **kwargs: Any) -> R:
        """Compute ``fn`` for a key that was not cached; keep it if it fits the budget."""
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

    @property
    def hits(self) -> list[int]:
        """The hit counter, as a one-element list the inlined hit path can bump."""
        return self._hit_count

    def entries(self) -> OrderedDict[Hashable, tuple[R, int]]:
        return self._entries

    def cache_info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(
                self._hit_count[0],
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


class Memo(Protocol[P, R_co]):
    """What :func:`bytes_lru` returns: the memoised function and its accounting."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def cache_info(self) -> CacheInfo: ...

    def cache_clear(self) -> None: ...


def bytes_lru(
    weigh: Callable[P, int], *, max_bytes: int, max_entries: int = 65536, short: int = 0
) -> Callable[[Callable[P, R]], Memo[P, R]]:
    """Decorate a function with a memo bounded by ``max_bytes`` of estimated weight.

    The returned function is a closure, not a :class:`BytesLRU` instance: a call through
    a class's ``__call__`` costs several times a closure's, and the hit path is hot.
    With ``short``, a call whose arguments are strings (or tuples of strings) of at most
    ``short`` characters in all goes to a ``functools.lru_cache`` of ``max_entries``
    instead: C speed on the gate's hot path, and bounded too (``max_entries`` keys of at
    most ``short`` characters); only longer inputs pay for the weighing."""

    def decorate(fn: Callable[P, R]) -> Memo[P, R]:
        memo = BytesLRU(fn, weigh, max_bytes, max_entries)
        get, miss, hits = memo.entries().get, memo.miss, memo.hits
        quick = functools.lru_cache(maxsize=max_entries)(fn)

        def call(*args: Any, **kwargs: Any) -> R:
            if short and not kwargs and _chars(args, short) <= short:
                return quick(*args)
            if kwargs:
                return memo(*args, **kwargs)
            found = get(args)
            if found is not None:
                hits[0] += 1
                return found[0]
            return miss(args, *args)

        update_wrapper(call, fn)
        call.cache_info = memo.cache_info  # type: ignore[attr-defined]

        def clear() -> None:
            memo.cache_clear()
            quick.cache_clear()

        call.cache_clear = clear  # type: ignore[attr-defined]
        return cast("Memo[P, R]", call)

    return decorate


def _chars(args: tuple[Any, ...], limit: int) -> int:
    """How many characters the string arguments hold (tuples of strings included); more
    than ``limit`` as soon as that is known, and for any other kind of argument."""
    total = 0
    for value in args:
        if type(value) is str:
            total += len(value)
        elif type(value) is tuple:
            for v in value:
                if type(v) is str:
                    total += len(v)
                elif type(v) is not bool:
                    return limit + 1
        else:
            return limit + 1
        if total > limit:
            return total
    return total


def text_weight(factor: int) -> Callable[..., int]:
    """A weight of ``factor`` bytes per character of every string (or sequence of
    strings) among the arguments: what a parse of that text retains, roughly."""

    def weigh(*args: Any, **kwargs: Any) -> int:
        total = 0
        for value in (*args, *kwargs.values()) if kwargs else args:
            if isinstance(value, str | bytes):
                total += len(value)
            elif isinstance(value, tuple):
                total += 8 * len(value)
                if value and all(type(v) is str for v in value):
                    total += sum(map(len, value))
                else:
                    total += sum(len(v) for v in value if isinstance(v, str))
        return total * factor

    return weigh


__all__ = ["BytesLRU", "CacheInfo", "Memo", "bytes_lru", "text_weight"]
