"""Transparent huge pages off while a run builds its tables, and free heap pages given back (Linux).

A run allocates and frees gigabytes of short-lived columns. Where the kernel backs them with
transparent huge pages (numpy and Arrow's allocator ask for them on large blocks), every fault
zeroes 2 MB, most of it for memory that is freed again moments later: at 1M resources that
was a third of the run's CPU time. :func:`small_pages` turns them off for the process while
the block runs and puts the previous setting back after it.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

_PR_SET_THP_DISABLE = 41
_PR_GET_THP_DISABLE = 42

_LOCK = threading.Lock()
_depth = 0  # blocks running now (runs may overlap on threads)
_restore = False  # whether the last block to finish turns huge pages back on


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.restype = ctypes.c_int
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return prctl


_PRCTL = _load_prctl()


def huge_pages_disabled() -> bool | None:
    """Whether transparent huge pages are off for this process (None: not Linux / not known)."""
    if _PRCTL is None:
        return None
    state = _PRCTL(_PR_GET_THP_DISABLE, 0, 0, 0, 0)
    return None if state < 0 else bool(state)


@contextmanager
def small_pages() -> Iterator[None]:
    """Run the block with transparent huge pages off (Linux; elsewhere it does nothing). A
    process that had them off already keeps them off."""
    global _depth, _restore
    with _LOCK:
        if _depth == 0 and _PRCTL is not None and huge_pages_disabled() is False:
            _restore = _PRCTL(_PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0
        _depth += 1
    try:
        yield
    finally:
        with _LOCK:
            _depth -= 1
            if _depth == 0 and _restore:
                _PRCTL(_PR_SET_THP_DISABLE, 0, 0, 0, 0)
                _restore = False


def _load_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # glibc; other C libraries (musl) have none
    except (OSError, AttributeError):
        return None
    trim.restype = ctypes.c_int
    trim.argtypes = [ctypes.c_size_t]
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def trim_heap() -> bool:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``): numpy frees a
    run's short-lived columns into the heap, which keeps their pages (at 1M resources, 0.13 GB
    after a run). False where there is no such call (or nothing was given back)."""
    return bool(_MALLOC_TRIM is not None and _MALLOC_TRIM(0))
