"""Tables derived from an inventory that several checks (and the engine) read in one run.

Each is computed once per run and dropped when the run ends (:func:`cloudaudit.engine.run_checks`
calls :func:`clear`), so no derived table outlives the inventory it came from. A table the
checks declare they share (``shares=`` of :func:`cloudaudit.engine.check`) is dropped earlier,
as soon as the last of the run's checks that declare it has finished (:func:`forget`).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

import pandas as pd

_MEMO: dict[str, tuple[tuple, pd.DataFrame]] = {}
_LOCKS: dict[str, threading.Lock] = {}
_GUARD = threading.Lock()
_READS = threading.local()  # the names read on this thread, while reads() records them


def memoized(name: str, sources: tuple, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """``compute()`` once per ``name`` and identity of ``sources`` (the frames and policy it
    reads). Only the latest sources are kept per name, and only until :func:`clear` (or
    :func:`forget`). Checks run on threads: a second caller waits for the first computation.
    ``name`` is a table's name, optionally followed by ``/`` and a variant (``labels/True``)."""
    recording = getattr(_READS, "names", None)
    if recording is not None:
        recording.add(table_name(name))
    with _GUARD:
        lock = _LOCKS.setdefault(name, threading.Lock())
    with lock:
        cached = _MEMO.get(name)
        if cached is None or len(cached[0]) != len(sources) or any(a is not b for a, b in zip(cached[0], sources)):
            cached = (sources, compute())
            _MEMO[name] = cached
    return cached[1].copy(deep=False)  # copy-on-write: a caller's edits never reach the cache


def table_name(name: str) -> str:
    """The table a memo name belongs to: ``labels/True`` -> ``labels``."""
    return name.partition("/")[0]


def forget(table: str) -> None:
    """Drop the memoized table ``table`` (every variant of it). A later reader computes it again."""
    for name in [name for name in list(_MEMO) if table_name(name) == table]:
        _MEMO.pop(name, None)


@contextmanager
def reads() -> Iterator[set[str]]:
    """The names of the tables read on this thread inside the block (a set filled as it runs):
    how the tests prove a check declares the tables it shares."""
    outer = getattr(_READS, "names", None)
    _READS.names = names = set()
    try:
        yield names
    finally:
        _READS.names = outer
        if outer is not None:
            outer.update(names)


def clear() -> None:
    """Drop every memoized table."""
    _MEMO.clear()
