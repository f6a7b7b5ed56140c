"""Giving a cycle's memory back: a daemon that idles between polls should not keep the
peak of its largest cycle resident.

A cycle's objects are freed by reference counting and, for the few cycles among them, by
the collector (held during the cycle, see watcher.pipeline); what stays is what a cache
still refers to (the rendered papers: watcher.render.forget_papers) and the free space that
glibc's malloc keeps in its arenas instead of returning it to the system. ``malloc_trim(0)``
returns it; on other C libraries (musl, macOS) there is nothing to call and nothing lost.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable
from functools import cache

from watcher.render.formats import forget_papers


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim  # glibc only
    except (OSError, AttributeError):
        return None
    return trim


def release_memory() -> None:
    """Drop what a finished cycle left referenced and hand freed memory back to the system."""
    forget_papers()
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
