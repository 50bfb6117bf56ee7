"""Run history: drift across scans, first-seen dates, pruning, the run lock and crash safety."""

import functools
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from cloudaudit.engine import define_check, run_checks
from cloudaudit.errors import CloudAuditError
from cloudaudit.findings import Findings
from cloudaudit.history import (MIGRATIONS, History, HistoryError, HistoryLock, LockedError, RetentionError,
                                _migrate, parse_keep)
from cloudaudit.policy import Policy
from cloudaudit.testing import inventory

REASONS = {"pass": {"en": "{name} ok"}, "fail": {"en": "{name} is public"}, "warn": {"en": "{name} unknown"}}


def public_buckets(inv, policy):
    """FAIL public, WARN unknown, PASS private; critical when also open to every network."""
    res = inv.resources
    status = np.where(res["public_read"].isna(), "WARN", np.where(res["public_read"].fillna(False), "FAIL", "PASS"))
    severity = np.where(res["network_open"].fillna(False), "critical", "high")
    return res[["provider", "account_id", "region", "resource_id", "name"]].assign(status=status, severity=severity)


PUBLIC = define_check("TST-001", public_buckets, title={"en": "Public buckets", "ja": "公開バケット"},
                      controls=["9.4.1"], severity="high", needs=["resources"], reasons=REASONS)

DAY1, DAY2, DAY3 = (datetime(2026, 11, d, 2, 0, tzinfo=timezone.utc) for d in (1, 2, 3))


def bucket(rid, public, account="111111111111", open_=False):
    return {"provider": "aws", "account_id": account, "region": "ap-northeast-1", "resource_id": rid, "name": rid,
            "kind": "bucket", "public_read": public, "network_open": open_}


def scan(resources, run_id, when, gaps=()):
    return run_checks(inventory(resources=resources, gaps=gaps), Policy(), checks=[PUBLIC], run_id=run_id,
                      collected_at=when)


@functools.lru_cache(maxsize=None)  # built once: record() and the tests only read them
def three_scans():
    """a persists (severity rises), b resolves then reopens, c and e appear, d goes WARN->FAIL then away,
    account 2 becomes unreadable (a new ERROR)."""
    run1 = scan([bucket("a", True), bucket("b", True), bucket("c", False), bucket("d", None),
                 bucket("z", False, account="222222222222")], "run1", DAY1)
    run2 = scan([bucket("a", True), bucket("b", False), bucket("c", True), bucket("d", True), bucket("e", True),
                 bucket("z", False, account="222222222222")], "run2", DAY2)
    run3 = scan([bucket("a", True, open_=True), bucket("b", True), bucket("c", True), bucket("e", True),
                 bucket("z", False, account="222222222222")], "run3", DAY3,
                gaps=[{"provider": "aws", "account_id": "222222222222", "table": "resources", "status": "denied",
                       "message": "AccessDenied"}])
    return run1, run2, run3


@pytest.fixture
def recorded(tmp_path):
    path = tmp_path / "history.sqlite"
    run1, run2, run3 = three_scans()
    with History(path) as h:
        summaries = [h.record(f) for f in (run1, run2, run3)]
    return path, summaries, (run1, run2, run3)


def changes(drift):
    rid = drift["resource_id"].fillna(drift["account_id"])
    return {change: sorted(rid[drift["change"] == change]) for change in ("new", "resolved", "persisting")}


def test_three_scans_give_new_resolved_persisting_and_first_seen(recorded):
    path, (s1, s2, s3), _ = recorded
    assert (s1.previous_run_id, s2.previous_run_id, s3.previous_run_id) == (None, "run1", "run2")
    assert changes(s1.drift) == {"new": ["a", "b", "d"], "resolved": [], "persisting": []}
    assert changes(s2.drift) == {"new": ["c", "e"], "resolved": ["b"], "persisting": ["a", "d"]}
    assert changes(s3.drift) == {"new": ["222222222222", "b"], "resolved": ["d"], "persisting": ["a", "c", "e"]}
    assert (s3.new, s3.resolved, s3.persisting) == (2, 1, 3)
    seen = s3.drift.set_index(s3.drift["resource_id"].fillna(s3.drift["account_id"]))["first_seen"]
    # b was open in run1, resolved in run2, open again in run3: first seen stays run1 (documented rule)
    assert seen.to_dict() == {"a": pd.Timestamp(DAY1), "b": pd.Timestamp(DAY1), "c": pd.Timestamp(DAY2),
                              "e": pd.Timestamp(DAY2), "222222222222": pd.Timestamp(DAY3),
                              "d": pd.Timestamp(DAY1)}
    assert str(seen.dtype) == "datetime64[us, UTC]" or str(seen.dtype).endswith(", UTC]")


def test_status_and_severity_changes_are_reported(recorded):
    _, (s1, s2, s3), _ = recorded
    assert (s2.status_changed, s2.severity_changed) == (1, 0)
    d = s2.drift.set_index("resource_id").loc["d"]
    assert (d["status_before"], d["status_after"]) == ("WARN", "FAIL")
    assert (s3.status_changed, s3.severity_changed) == (0, 1)
    a = s3.drift.set_index("resource_id").loc["a"]
    assert (a["severity_before"], a["severity_after"]) == ("high", "critical")
    assert s3.text() == ("run run3 vs run2: 2 new, 1 resolved, 3 persisting, 0 status changes, "
                         "1 severity changes")


def test_new_failing_is_what_fail_on_new_acts_on(recorded):
    _, (_, _, s3), _ = recorded
    # new in run3: b (FAIL, high) and an ERROR for the unreadable account, which is not a FAIL
    assert s3.new_failing("high")["resource_id"].tolist() == ["b"]
    assert s3.new_failing("critical").empty
    with pytest.raises(HistoryError, match="severity 'urgent'"):
        s3.new_failing("urgent")


def test_drift_defaults_and_explicit_runs_match_findings_diff(recorded):
    path, (_, _, s3), (run1, _, run3) = recorded
    with History(path, create=False) as h:
        latest = h.drift()
        pd.testing.assert_frame_equal(latest, s3.drift)
        across = h.drift("run1", "run3")
        expected = run3.diff(run1)
        pd.testing.assert_frame_equal(across.drop(columns=["first_seen"]), expected)
        assert changes(across) == {"new": ["222222222222", "c", "e"], "resolved": ["d"],
                                   "persisting": ["a", "b"]}
        assert changes(h.drift(None, "run1"))["new"] == ["a", "b", "d"]


def test_findings_round_trip_with_the_same_columns_and_dtypes(recorded):
    path, _, (_, run2, _) = recorded
    with History(path) as h:
        back = h.findings("run2")
    assert isinstance(back, Findings)
    pd.testing.assert_frame_equal(back.df, run2.df)
    assert back.meta["run_id"] == "run2" and back.meta["providers"] == ["aws"]


def test_a_run_recorded_in_small_chunks_reads_back_the_same(tmp_path, monkeypatch):
    import cloudaudit.history as history

    run1, run2, _ = three_scans()
    with History(tmp_path / "whole.sqlite") as h:
        h.record(run1)
        whole = h.record(run2).drift
    monkeypatch.setattr(history, "_CHUNK", 2)  # run2's six findings in three chunks
    with History(tmp_path / "chunked.sqlite") as h:
        h.record(run1)
        chunked = h.record(run2).drift
        back = h.findings("run2")
    pd.testing.assert_frame_equal(back.df, run2.df)
    pd.testing.assert_frame_equal(chunked, whole)
    assert len(run2) == 6 and set(chunked["change"]) == {"new", "resolved", "persisting"}


def test_runs_table(recorded):
    path, _, _ = recorded
    with History(path) as h:
        runs = h.runs()
    assert runs["run_id"].tolist() == ["run1", "run2", "run3"]
    assert runs["started"].tolist() == [pd.Timestamp(d) for d in (DAY1, DAY2, DAY3)]
    assert runs[["FAIL", "WARN", "ERROR", "PASS"]].values.tolist() == [[2, 1, 0, 2], [4, 0, 0, 2], [4, 0, 1, 0]]
    assert runs["coverage_ratio"].iloc[0] == 1.0 and runs["coverage_ratio"].iloc[2] == pytest.approx(4 / 5)


def test_resolve_latest_previous_prefix_and_unknown(recorded):
    path, _, _ = recorded
    with History(path) as h:
        assert (h.resolve("latest"), h.resolve("previous"), h.resolve("run2")) == ("run3", "run2", "run2")
        with pytest.raises(HistoryError, match="ambiguous"):
            h.resolve("run")
        with pytest.raises(HistoryError, match=r"no run 'nope' in .*latest: run3"):
            h.resolve("nope")


def test_recording_the_same_run_twice_is_refused_and_changes_nothing(recorded):
    path, _, (run1, _, _) = recorded
    with History(path) as h:
        with pytest.raises(HistoryError, match="run run1 is already recorded"):
            h.record(run1)
        assert h.runs()["run_id"].tolist() == ["run1", "run2", "run3"]
        assert len(h.findings("run1")) == len(run1)


# ----------------------------------------------------------------------------- pruning

def test_prune_deletes_old_runs_keeps_the_latest_and_first_seen_survives(recorded):
    path, _, (_, _, run3) = recorded
    with History(path) as h:
        assert h.prune("36h", now=DAY3) == ["run1"]
        assert h.runs()["run_id"].tolist() == ["run2", "run3"]
        with pytest.raises(HistoryError, match="no run 'run1'"):
            h.findings("run1")
        assert h._conn.execute("SELECT COUNT(*) FROM findings WHERE run_id = 'run1'").fetchone()[0] == 0
        # a year later everything is older than 90 days, yet the latest run stays
        assert h.prune("90d", now=DAY3 + timedelta(days=365)) == ["run2"]
        assert h.runs()["run_id"].tolist() == ["run3"]
        # first_seen learnt from pruned runs is kept by the surviving rows
        again = scan([bucket("a", True)], "run4", DAY3 + timedelta(days=366))
        summary = h.record(again)
        assert summary.drift.set_index("resource_id").loc["a", "first_seen"] == pd.Timestamp(DAY1)


def test_prune_accepts_weeks_months_and_timedelta(recorded):
    path, _, _ = recorded
    with History(path) as h:
        assert h.prune("1w", now=DAY3) == []
        assert h.prune("1m", now=datetime(2026, 12, 2, 3, tzinfo=timezone.utc)) == ["run1", "run2"]
        assert h.prune(timedelta(seconds=1), now=DAY3 + timedelta(days=9999)) == []
        assert h.prune(parse_keep("1y"), now=DAY3 + timedelta(days=9999)) == []  # parsed early, as argparse would
    assert parse_keep("6m") == pd.DateOffset(months=6)
    assert parse_keep("36h") == timedelta(hours=36)
    assert parse_keep("12W") == timedelta(weeks=12)
    assert parse_keep("2y") == pd.DateOffset(years=2)


@pytest.mark.parametrize("bad", ["90", "ten days", "5x", "0d", "-3d", "", "3.5d"])
def test_bad_keep_string_is_a_clear_error(bad, tmp_path):
    with pytest.raises(RetentionError, match="retention period") as info:
        parse_keep(bad)
    assert isinstance(info.value, CloudAuditError) and isinstance(info.value, ValueError)
    with History(tmp_path / "h.sqlite") as h, pytest.raises(RetentionError):
        h.prune(bad)


# ----------------------------------------------------------------------------- lock

LOCK_HOLDER = textwrap.dedent("""
    import sys
    from cloudaudit.history import History
    lock = History(sys.argv[1]).lock().acquire()
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until the parent closes our stdin (or kills us)
    lock.release()
    print("released", flush=True)
""")


def start_holder(path):
    child = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    return child


def test_second_run_is_refused_while_the_first_holds_the_lock(tmp_path):
    path = tmp_path / "history.sqlite"
    child = start_holder(path)
    try:
        with pytest.raises(LockedError, match=rf"another cloudaudit run holds {path} \(pid {child.pid} since 20"):
            History(path).lock().acquire()
        child.stdin.close()
        assert child.stdout.readline().strip() == "released"
    finally:
        child.kill()
        child.wait()
    with History(path).lock() as lock:
        assert lock.held
        # a second lock in the same process is refused too (flock is per open file)
        with pytest.raises(LockedError, match=f"pid {os.getpid()}"):
            HistoryLock(path).acquire()
    assert not lock.held
    HistoryLock(path).acquire().release()


def test_lock_of_a_killed_run_is_taken_over(tmp_path):
    path = tmp_path / "history.sqlite"
    child = start_holder(path)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert (tmp_path / "history.sqlite.lock").read_text().startswith(f"{child.pid} ")  # stale content left
    with HistoryLock(path) as lock:
        assert lock.lock_path.read_text().startswith(f"{os.getpid()} ")


# ----------------------------------------------------------------------------- crash safety

HALF_WRITER = textwrap.dedent("""
    import sys, time
    from cloudaudit.history import History
    h = History(sys.argv[1])
    findings = h.findings("run3")

    def stall(statement):
        # test-only hook: stop inside record()'s transaction, after the run row, at the first finding
        if statement.startswith("INSERT INTO findings"):
            print("inside", flush=True)
            time.sleep(60)

    h._conn.set_trace_callback(stall)
    h.record(findings, meta={"run_id": "half", "started": "2026-11-04T02:00:00+00:00"})
    print("finished", flush=True)
""")


def snapshot(path):
    with History(path) as h:
        return h.runs(), {r: h.findings(r).df for r in h.runs()["run_id"]}


def test_run_killed_mid_write_leaves_previous_runs_intact(recorded):
    path, _, _ = recorded
    runs_before, findings_before = snapshot(path)
    child = subprocess.Popen([sys.executable, "-c", HALF_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "inside"
        # the child's write transaction is open: nobody else can start one ...
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            probe.execute("BEGIN IMMEDIATE")
        # ... and readers see only committed runs
        assert probe.execute("SELECT COUNT(*) FROM runs WHERE run_id = 'half'").fetchone()[0] == 0
        probe.close()
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    runs_after, findings_after = snapshot(path)
    pd.testing.assert_frame_equal(runs_after, runs_before)
    assert findings_after.keys() == findings_before.keys()
    for run_id, df in findings_before.items():
        pd.testing.assert_frame_equal(findings_after[run_id], df)
    with History(path) as h:
        assert h._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert h._conn.execute("SELECT COUNT(*) FROM findings WHERE run_id = 'half'").fetchone()[0] == 0
        assert h.record(scan([bucket("a", True)], "run4", DAY3 + timedelta(days=1))).previous_run_id == "run3"


def test_failure_inside_the_transaction_rolls_back_the_whole_run(recorded):
    path, _, (_, _, run3) = recorded
    broken = run3.df.copy()
    broken.loc[len(broken) - 1, "check_id"] = pd.NA  # NOT NULL: fails after the run row and earlier findings
    with History(path) as h:
        with pytest.raises(HistoryError, match="cannot record run run5 .*NOT NULL"):
            h.record(Findings(broken.assign(run_id="run5")))
        assert h.runs()["run_id"].tolist() == ["run1", "run2", "run3"]
        assert h._conn.execute("SELECT COUNT(*) FROM findings WHERE run_id = 'run5'").fetchone()[0] == 0


# ----------------------------------------------------------------------------- schema

def test_schema_created_on_a_fresh_file_and_reopened_without_recreation(tmp_path):
    path = tmp_path / "fresh.sqlite"
    with History(path) as h:
        tables = {r[0] for r in h._conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}
        assert {"schema_version", "runs", "findings", "findings_key", "findings_run"} <= tables
        assert h._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = h._conn.execute("SELECT version, applied FROM schema_version").fetchall()
        assert [v for v, _ in versions] == [1] == [len(MIGRATIONS)]
        h.record(scan([bucket("a", True)], "run1", DAY1))
    with History(path) as h:
        assert h._conn.execute("SELECT version, applied FROM schema_version").fetchall() == versions
        assert h.runs()["run_id"].tolist() == ["run1"]


def test_a_later_migration_adds_a_column_and_keeps_data_then_older_code_refuses(tmp_path):
    path = tmp_path / "h.sqlite"
    with History(path) as h:
        h.record(scan([bucket("a", True)], "run1", DAY1))
    conn = sqlite3.connect(path, isolation_level=None)
    later = [*MIGRATIONS, ("ALTER TABLE runs ADD COLUMN operator TEXT",)]
    assert _migrate(conn, later, str(path)) == 2
    assert conn.execute("SELECT run_id, operator FROM runs").fetchall() == [("run1", None)]
    assert _migrate(conn, later, str(path)) == 2  # idempotent
    conn.close()
    with pytest.raises(HistoryError, match="schema version 2, newer than this cloudaudit understands"):
        History(path)


def test_unreadable_or_missing_history_is_a_one_line_error(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryError, match=f"cannot open history {junk}: file is not a database"):
        History(junk)
    with pytest.raises(HistoryError, match="no history at"):
        History(tmp_path / "absent.sqlite", create=False)
    assert not (tmp_path / "absent.sqlite").exists()
    with History(tmp_path / "empty.sqlite") as h, pytest.raises(HistoryError, match="has no runs yet"):
        h.drift()


def test_an_empty_run_is_recorded_and_resolves_everything(recorded):
    path, _, _ = recorded
    empty = Findings(pd.DataFrame(columns=list(Findings(pd.DataFrame()).df.columns)))
    with History(path) as h:
        summary = h.record(empty, meta={"run_id": "empty", "started": DAY3 + timedelta(days=1)})
        assert (summary.previous_run_id, summary.new, summary.resolved, summary.persisting) == ("run3", 0, 5, 0)
        assert len(h.findings("empty")) == 0 and h.runs()["run_id"].iloc[-1] == "empty"


def test_lock_in_a_missing_directory_is_a_one_line_error(tmp_path):
    with pytest.raises(HistoryError, match=r"cannot create lock file .*nowhere/report.html.lock: No such file"):
        HistoryLock(tmp_path / "nowhere" / "report.html").acquire()
