"""Run history and drift: every scan's findings in a SQLite file, compared run to run.

The store is one SQLite file (``cloudaudit-history.sqlite`` by convention) in WAL mode; its
schema is documented in ``docs/history.md`` and created / migrated on open.  A run and all of its
findings are written in one transaction, so a run killed halfway leaves the earlier runs intact
and no trace of the half run.  :class:`HistoryLock` keeps two overlapping scans from writing the
same history (or report) at once.

Findings are matched across runs by :func:`cloudaudit.findings.finding_key` (check id +
provider + account + region + resource id); a finding is *open* when its status is FAIL, WARN
or ERROR, as in :meth:`cloudaudit.findings.Findings.diff`.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import pandas as pd

from ._version import __version__
from .engine import FINDING_COLUMNS, SEVERITIES, STATUSES, new_run_id
from .errors import CloudAuditError
from .findings import KEY_COLUMNS, Findings, finding_key

DEFAULT_PATH = "cloudaudit-history.sqlite"
OPEN_STATUSES: tuple[str, ...] = ("FAIL", "WARN", "ERROR")
# what Findings.diff reads: drift never reads evidence, Japanese reasons or per-check text back
DIFF_COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, "status", "severity", "title", "reason")
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"  # fixed width UTC, so text order is time order


class HistoryError(CloudAuditError):
    """The history store is unreadable, from a newer version, or asked for a run it lacks."""


class RetentionError(HistoryError, ValueError):
    """A retention period such as ``--keep 90d`` could not be parsed."""


class LockedError(HistoryError):
    """Another cloudaudit run holds the lock on this history or report."""


# ----------------------------------------------------------------------------- schema

RUN_COLUMNS: tuple[str, ...] = ("run_id", "started", "finished", "tool_version", "providers", "policy_source",
                                "bundle_sha256", "coverage_ratio", "counts")
# Stored per finding: every Findings column, the stable key and first_seen.
STORED_COLUMNS: tuple[str, ...] = ("key", *FINDING_COLUMNS, "first_seen")

# MIGRATIONS[i] takes the schema from version i to version i + 1.  Append, never edit: a file
# written at version n gets exactly the steps after n.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE runs (
            seq INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL UNIQUE,
            started TEXT NOT NULL,
            finished TEXT,
            tool_version TEXT,
            providers TEXT,
            policy_source TEXT,
            bundle_sha256 TEXT,
            coverage_ratio REAL,
            counts TEXT)""",
        "CREATE INDEX runs_started ON runs (started, seq)",
        """CREATE TABLE findings (
            run_id TEXT NOT NULL REFERENCES runs (run_id),
            key TEXT NOT NULL,
            check_id TEXT NOT NULL,
            title TEXT, title_ja TEXT,
            status TEXT NOT NULL,
            severity TEXT,
            provider TEXT, account_id TEXT, region TEXT, resource_id TEXT,
            classification TEXT,
            reason TEXT, reason_ja TEXT,
            evidence TEXT,
            controls TEXT, policy_items TEXT, remediation TEXT, acceptance TEXT,
            collected_at TEXT,
            first_seen TEXT)""",
        "CREATE INDEX findings_key ON findings (key)",
        "CREATE INDEX findings_run ON findings (run_id)",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)


def _migrate(conn: sqlite3.Connection, migrations: Sequence[Sequence[str]], path: str) -> int:
    """Bring the file to ``len(migrations)``; each step commits with its version row."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)")
    current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
    if current > len(migrations):
        raise HistoryError(f"history {path} has schema version {current}, newer than this cloudaudit "
                           f"understands ({len(migrations)}); upgrade cloudaudit")
    for version in range(current + 1, len(migrations) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-check under the write lock: another process may have migrated meanwhile.
            done = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            if done < version:
                for statement in migrations[version - 1]:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version VALUES (?, ?)", (version, _now_text()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(migrations)


# ----------------------------------------------------------------------------- helpers

def _now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(timezone.utc))


def _now_text() -> str:
    return _now().strftime(_TS_FORMAT)


def _ts_text(value: Any) -> str | None:
    """Any datetime-like (naive = UTC) as fixed-width UTC text, or None."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime(_TS_FORMAT)


_KEEP = re.compile(r"^\s*(\d+)\s*([hdwmy])\s*$", re.IGNORECASE)


_CHUNK = 50_000  # findings converted to Python values at a time: recording a large run stays small


def _stored_rows(findings: Findings, run_id: str) -> Iterator[tuple]:
    """The findings as rows of the ``findings`` table, chunk by chunk (each chunk's text is
    rendered, converted and handed to SQLite, then dropped)."""
    for chunk in findings.chunks(_CHUNK):
        part = chunk.df
        rows = part.assign(run_id=run_id, key=finding_key(part))
        rows["collected_at"] = rows["collected_at"].dt.strftime(_TS_FORMAT)
        rows["first_seen"] = None
        rows = rows[list(STORED_COLUMNS)].astype(object)
        yield from rows.where(rows.notna(), None).itertuples(index=False, name=None)


def parse_keep(keep: str | timedelta | pd.DateOffset) -> timedelta | pd.DateOffset:
    """A retention period: ``"90d"`` days, ``"12w"`` weeks, ``"6m"`` calendar months, ``"1y"`` years
    (``"36h"`` hours too).

    Raises :class:`RetentionError` (a ``ValueError``, so it also works as an argparse ``type``).
    """
    if isinstance(keep, pd.DateOffset):  # already parsed (e.g. by argparse ``type=parse_keep``)
        return keep
    if isinstance(keep, timedelta):
        if keep <= timedelta(0):
            raise RetentionError(f"retention period {keep} must be positive")
        return keep
    match = _KEEP.match(str(keep))
    if not match:
        raise RetentionError(f"retention period {keep!r} is not a number followed by h, d, w, m or y (e.g. 90d, 12w, 6m)")
    n, unit = int(match.group(1)), match.group(2).lower()
    if n <= 0:
        raise RetentionError(f"retention period {keep!r} must be positive")
    if unit == "h":
        return timedelta(hours=n)
    if unit == "d":
        return timedelta(days=n)
    if unit == "w":
        return timedelta(weeks=n)
    return pd.DateOffset(months=n) if unit == "m" else pd.DateOffset(years=n)


# ----------------------------------------------------------------------------- lock

class HistoryLock:
    """An exclusive, non-blocking lock on ``<path>.lock`` (``fcntl.flock``).

    The kernel drops the lock when the holder exits, however it dies, so a stale lock file
    left by a killed run is simply taken over.  The file holds ``<pid> <since>`` for the message
    the next run prints.  Use as a context manager, or :meth:`acquire` / :meth:`release`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock_path = Path(f"{self.path}.lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "HistoryLock":
        """Take the lock or raise :class:`LockedError` at once (never waits)."""
        import fcntl  # POSIX only; imported here so importing cloudaudit works everywhere

        if self._fd is not None:
            return self
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise HistoryError(f"cannot create lock file {self.lock_path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
            os.close(fd)
            pid, since = (holder + ["unknown", "unknown"])[:2]
            raise LockedError(f"another cloudaudit run holds {self.path} (pid {pid} since {since})") from None
        except OSError as exc:
            os.close(fd)
            raise HistoryError(f"cannot lock {self.lock_path}: {exc.strerror}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {datetime.now(timezone.utc).isoformat(timespec='seconds')}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (the file stays: unlinking a flock file races with the next run)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def __enter__(self) -> "HistoryLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)


# ----------------------------------------------------------------------------- summary

@dataclass
class RunSummary:
    """What changed in a recorded run against the run before it (counts of open findings)."""

    run_id: str
    previous_run_id: str | None
    new: int
    resolved: int
    persisting: int
    status_changed: int
    severity_changed: int
    drift: pd.DataFrame = field(repr=False)

    def new_failing(self, fail_on: str = "info") -> pd.DataFrame:
        """New findings with status FAIL at or above severity ``fail_on`` (for ``--fail-on-new``)."""
        if fail_on not in SEVERITIES:
            raise HistoryError(f"severity {fail_on!r} is not one of {', '.join(SEVERITIES)}")
        rank = self.drift["severity_after"].map({s: i for i, s in enumerate(SEVERITIES)})
        mask = ((self.drift["change"] == "new") & (self.drift["status_after"] == "FAIL")
                & (rank >= SEVERITIES.index(fail_on)).fillna(False))
        return self.drift[mask.astype(bool)]

    def text(self) -> str:
        """One line for logs: ``run X vs Y: 2 new, 1 resolved, 5 persisting, ...``."""
        against = self.previous_run_id or "no earlier run"
        return (f"run {self.run_id} vs {against}: {self.new} new, {self.resolved} resolved, "
                f"{self.persisting} persisting, {self.status_changed} status changes, "
                f"{self.severity_changed} severity changes")


# ----------------------------------------------------------------------------- store

class History:
    """A run history in one SQLite file (created and migrated on open).

    ``create=False`` refuses a missing file (for read-only commands such as ``cloudaudit diff``).
    """

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_PATH, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise HistoryError(f"no history at {self.path}")
        try:
            # autocommit mode: every transaction here is an explicit BEGIN IMMEDIATE ... COMMIT
            self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a crash of the process
            self.schema_version = _migrate(self._conn, MIGRATIONS, str(self.path))
        except sqlite3.Error as exc:
            conn = getattr(self, "_conn", None)
            if conn is not None:
                conn.close()
            raise HistoryError(f"cannot open history {self.path}: {exc}") from None

    # -- lifecycle

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lock(self) -> HistoryLock:
        """An (unacquired) exclusive lock next to this file; ``with history.lock(): ...``."""
        return HistoryLock(self.path)

    def __repr__(self) -> str:
        return f"History({str(self.path)!r})"

    # -- runs

    def _ordered_ids(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT run_id FROM runs ORDER BY started, seq")]

    def resolve(self, run: str | None) -> str:
        """A run id from an exact id, ``latest``, ``previous`` or a unique prefix."""
        ids = self._ordered_ids()
        if not ids:
            raise HistoryError(f"history {self.path} has no runs yet")
        if run is None or run == "latest":
            return ids[-1]
        if run == "previous":
            if len(ids) < 2:
                raise HistoryError(f"history {self.path} has only one run, so no previous run")
            return ids[-2]
        if run in ids:
            return run
        matches = [i for i in ids if i.startswith(run)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise HistoryError(f"run {run!r} is ambiguous in {self.path}: {', '.join(matches[:5])}")
        raise HistoryError(f"no run {run!r} in {self.path} (latest: {ids[-1]})")

    def runs(self) -> pd.DataFrame:
        """One row per run, oldest first: metadata, ``counts`` (dict) and one count column per status."""
        df = pd.read_sql_query(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs ORDER BY started, seq", self._conn)
        for col in ("started", "finished"):
            df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601")
        for col in ("run_id", "tool_version", "policy_source", "bundle_sha256"):
            df[col] = df[col].astype("string")
        df["coverage_ratio"] = df["coverage_ratio"].astype("float64")
        df["providers"] = df["providers"].map(lambda v: json.loads(v) if v else [])
        df["counts"] = df["counts"].map(lambda v: json.loads(v) if v else {})
        counts = pd.DataFrame(df["counts"].tolist(), index=df.index).reindex(columns=list(STATUSES))
        return pd.concat([df, counts.fillna(0).astype("int64")], axis=1)

    def findings(self, run_id: str | None = None) -> Findings:
        """The findings of one run (default the latest) as a :class:`Findings` with the usual dtypes."""
        return self._findings(self.resolve(run_id))

    def _findings(self, run_id: str, statuses: Sequence[str] | None = None,
                  columns: Sequence[str] = FINDING_COLUMNS) -> Findings:
        """The findings of a resolved run: only those with ``statuses`` when given, and only
        ``columns`` read (the others are missing)."""
        where = "" if statuses is None else f" AND status IN ({', '.join(repr(s) for s in statuses)})"
        columns = list(dict.fromkeys([*columns, "collected_at"]))
        df = pd.read_sql_query(f"SELECT {', '.join(columns)} FROM findings WHERE run_id = ?{where} "
                               "ORDER BY rowid", self._conn, params=(run_id,))
        meta_row = self.runs().set_index("run_id").loc[run_id]
        meta = {"run_id": run_id, "started": meta_row["started"], "finished": meta_row["finished"],
                "tool_version": meta_row["tool_version"], "providers": meta_row["providers"],
                "policy_source": meta_row["policy_source"], "bundle_sha256": meta_row["bundle_sha256"]}
        meta = {k: (None if not isinstance(v, (list, dict)) and pd.isna(v) else v) for k, v in meta.items()}
        df["collected_at"] = pd.to_datetime(df["collected_at"], utc=True, format="ISO8601")
        return Findings(df, meta=meta)

    def _first_seen(self, run_id: str) -> pd.DataFrame:
        return pd.read_sql_query(
            "SELECT key, MIN(first_seen) AS first_seen FROM findings WHERE run_id = ? AND first_seen IS NOT NULL "
            "GROUP BY key", self._conn, params=(run_id,))

    def drift(self, run_a: str | None = None, run_b: str | None = None) -> pd.DataFrame:
        """Open findings of ``run_b`` against ``run_a``: the columns of ``Findings.diff`` plus ``first_seen``.

        Defaults: ``run_b`` the latest run, ``run_a`` the run before ``run_b`` (none for the
        first run: everything open is new).
        """
        b = self.resolve(run_b)
        if run_a is None:
            ids = self._ordered_ids()
            a = ids[ids.index(b) - 1] if ids.index(b) > 0 else None
        else:
            a = self.resolve(run_a)
        # only open rows take part in a diff: a run's passes are never read back
        after = self._findings(b, OPEN_STATUSES, DIFF_COLUMNS)
        before = (self._findings(a, OPEN_STATUSES, DIFF_COLUMNS) if a is not None
                  else Findings(pd.DataFrame(columns=list(FINDING_COLUMNS))))
        out = after.diff(before)
        seen = self._first_seen(b).set_index("key")["first_seen"]
        if a is not None:
            seen = seen.combine_first(self._first_seen(a).set_index("key")["first_seen"])
        out["first_seen"] = pd.to_datetime(out["key"].map(seen), utc=True, format="ISO8601")
        return out

    # -- writing

    def record(self, findings: Findings, meta: Mapping[str, Any] | None = None) -> RunSummary:
        """Store a run and its findings in one transaction and report the drift against the run before.

        ``meta`` (merged over ``findings.meta``) may give ``run_id``, ``started``, ``finished``,
        ``tool_version``, ``providers``, ``policy_source``, ``bundle_sha256``.  ``first_seen`` of
        an open finding is the start of the earliest recorded run in which its key was open.
        """
        info = {**findings.meta, **(meta or {})}
        run_id = str(info.get("run_id") or findings.run_id or new_run_id())
        df = findings.core  # the text of the rows is read chunk by chunk below
        started = _ts_text(info.get("started")) or _ts_text(df["collected_at"].min()) or _now_text()
        providers = info.get("providers")
        if providers is None:
            providers = sorted(df["provider"].dropna().unique().tolist())
        counts = {s: int(n) for s, n in df["status"].value_counts().reindex(list(STATUSES), fill_value=0).items()}
        run_row = (run_id, started, _ts_text(info.get("finished")) or _now_text(),
                   str(info.get("tool_version") or __version__), json.dumps(list(providers)),
                   info.get("policy_source"), info.get("bundle_sha256"),
                   float(findings.coverage()["ratio"]), json.dumps(counts))

        placeholders = ", ".join("?" * len(STORED_COLUMNS))

        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():
                    raise HistoryError(f"run {run_id} is already recorded in {self.path}")
                conn.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
                             run_row)
                conn.executemany(f"INSERT INTO findings ({', '.join(STORED_COLUMNS)}) VALUES ({placeholders})",
                                 _stored_rows(findings, run_id))
                # first_seen in one statement: the earliest first_seen any run stored for the key
                # (kept by surviving runs after pruning), else this run's start.
                conn.execute(
                    f"""UPDATE findings SET first_seen = COALESCE(
                            (SELECT MIN(f2.first_seen) FROM findings AS f2
                              WHERE f2.key = findings.key AND f2.run_id <> :run AND f2.first_seen IS NOT NULL),
                            :started)
                        WHERE run_id = :run AND status IN ({', '.join(repr(s) for s in OPEN_STATUSES)})""",
                    {"run": run_id, "started": started})
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot record run {run_id} in {self.path}: {exc}") from None
        drift = self.drift(None, run_id)
        ids = self._ordered_ids()
        previous = ids[ids.index(run_id) - 1] if ids.index(run_id) > 0 else None
        persisting = drift[drift["change"] == "persisting"]
        return RunSummary(
            run_id=run_id, previous_run_id=previous,
            new=int((drift["change"] == "new").sum()), resolved=int((drift["change"] == "resolved").sum()),
            persisting=len(persisting),
            status_changed=int((persisting["status_before"] != persisting["status_after"]).sum()),
            severity_changed=int((persisting["severity_before"] != persisting["severity_after"]).sum()),
            drift=drift)

    def prune(self, keep: str | timedelta | pd.DateOffset, *, now: datetime | None = None) -> list[str]:
        """Delete runs (and their findings) started before ``now - keep``; never the latest run.

        Returns the deleted run ids.  ``keep`` as for :func:`parse_keep`.
        """
        period = parse_keep(keep)
        cutoff = _ts_text(pd.Timestamp(now or datetime.now(timezone.utc)) - period)
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                latest = conn.execute("SELECT run_id FROM runs ORDER BY started DESC, seq DESC LIMIT 1").fetchone()
                doomed = [r[0] for r in conn.execute(
                    "SELECT run_id FROM runs WHERE started < ? AND run_id <> ? ORDER BY started, seq",
                    (cutoff, latest[0] if latest else ""))]
                conn.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (run_id TEXT PRIMARY KEY)")
                conn.execute("DELETE FROM temp.doomed")
                conn.executemany("INSERT INTO temp.doomed VALUES (?)", [(r,) for r in doomed])
                conn.execute("DELETE FROM findings WHERE run_id IN (SELECT run_id FROM temp.doomed)")
                conn.execute("DELETE FROM runs WHERE run_id IN (SELECT run_id FROM temp.doomed)")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot prune {self.path}: {exc}") from None
        return doomed


__all__ = ["DEFAULT_PATH", "History", "HistoryError", "HistoryLock", "LockedError", "MIGRATIONS",
           "RetentionError", "RunSummary", "SCHEMA_VERSION", "parse_keep"]
