"""Hand the C heap's freed memory back to the system after a large, short-lived buffer.

glibc keeps what a process frees in its heap (and, once a large block was freed,
serves the next large ones from the heap too), so after reading or writing a
document of many megabytes its pages stay resident though nothing uses them.
Python's small objects (their own arenas) and regorus (its own allocator) never
reuse them: the resident size only grows. :func:`release_freed_memory` returns
them (``malloc_trim``) where the C library has it, and does nothing elsewhere. It
frees nothing in use and costs microseconds; callers use it only after dropping a
buffer of megabytes (``LARGE``), before the next large allocation.
"""

from __future__ import annotations

#: A buffer at least this large (bytes or characters) is worth trimming after.
LARGE = 4 * 1024 * 1024


def release_freed_memory() -> None:
    """Return the C heap's free pages to the system (glibc ``malloc_trim``; elsewhere nothing)."""
    import ctypes  # noqa: PLC0415 - only after a large buffer (importing it costs ~2 ms)

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc: nothing to trim
        return
    trim(0)
