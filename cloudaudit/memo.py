"""Tables derived from an inventory that several checks (and the engine) read in one run.

Each is computed once per run and dropped when the run ends (:func:`cloudaudit.engine.run_checks`
calls :func:`clear`), so no derived table outlives the inventory it came from.
"""

from __future__ import annotations

import threading
from typing import Callable

import pandas as pd

_MEMO: dict[str, tuple[tuple, pd.DataFrame]] = {}
_LOCKS: dict[str, threading.Lock] = {}
_GUARD = threading.Lock()


def memoized(name: str, sources: tuple, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """``compute()`` once per ``name`` and identity of ``sources`` (the frames and policy it
    reads). Only the latest sources are kept per name, and only until :func:`clear`. Checks run
    on threads: a second caller waits for the first computation."""
    with _GUARD:
        lock = _LOCKS.setdefault(name, threading.Lock())
    with lock:
        cached = _MEMO.get(name)
        if cached is None or len(cached[0]) != len(sources) or any(a is not b for a, b in zip(cached[0], sources)):
            cached = (sources, compute())
            _MEMO[name] = cached
    return cached[1].copy(deep=False)  # copy-on-write: a caller's edits never reach the cache


def clear() -> None:
    """Drop every memoized table."""
    _MEMO.clear()
