"""Cron-grade scan: exit codes for each case, history and drift, locking, atomic outputs."""

import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from cloudaudit.cli import EXIT_COVERAGE, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, main


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """The shipped GCP sample evidence (collected by the real adapter from the local fake)."""
    target = tmp_path_factory.mktemp("bundle") / "gcp.zip"
    with resources.as_file(resources.files("cloudaudit").joinpath("data/samples/gcp.zip")) as src:
        shutil.copy(src, target)
    return target


def policy_file(tmp_path: Path, countries=("JP",)) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(f"[residency]\nallowed_countries = {json.dumps(list(countries))}\n", encoding="utf-8")
    return path


def scan(capsys, *argv):
    code = main(["scan", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_exit_0_when_nothing_at_threshold(capsys, tmp_path, bundle):
    code, out, _ = scan(capsys, "--bundle", bundle, "--output", tmp_path / "r.json", "--check", "RES-001",
                        "--policy", policy_file(tmp_path, ("JP", "US", "HK", "ID", "IN", "KR", "SG", "TW", "BE")),
                        "--fail-on", "low")
    assert code == EXIT_OK, out
    rows = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert rows and {r["check_id"] for r in rows} == {"RES-001"}


def test_a_replayed_bundle_is_judged_as_of_its_collection(capsys, tmp_path, bundle):
    from cloudaudit.bundle import read_bundle

    _, collections = read_bundle(bundle)
    collected = max(c.finished or c.started for c in collections)
    code, _, _ = scan(capsys, "--bundle", bundle, "--output", tmp_path / "r.json")
    rows = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert code in (EXIT_OK, EXIT_FINDINGS, EXIT_COVERAGE) and rows
    assert {r["collected_at"] for r in rows} == {collected.isoformat()}


def test_exit_1_when_failures_at_or_above_threshold(capsys, tmp_path, bundle):
    code, out, err = scan(capsys, "--bundle", bundle, "--output", tmp_path / "r.json", "--fail-on", "high")
    assert code == EXIT_FINDINGS
    assert "at or above high" in err


def test_exit_2_when_coverage_below_minimum(capsys, tmp_path, bundle):
    # the sample has a project that answers 403: some results are ERROR
    code, _, err = scan(capsys, "--bundle", bundle, "--output", tmp_path / "r.json", "--min-coverage", "1.0",
                        "--fail-on", "high")
    assert code == EXIT_COVERAGE and "below --min-coverage" in err


def test_exit_3_for_configuration_errors(capsys, tmp_path, bundle):
    code, _, err = scan(capsys, "--bundle", bundle, "--keep", "forever", "--history", tmp_path / "h.sqlite")
    assert code == EXIT_USAGE and "--keep" in err
    code, _, err = scan(capsys, "--bundle", bundle, "--fail-on-new", "--fail-on", "high")
    assert code == EXIT_USAGE and "needs --history" in err


def test_history_drift_and_fail_on_new(capsys, tmp_path, bundle):
    history = tmp_path / "h.sqlite"
    loose = policy_file(tmp_path, ("JP", "US", "HK", "ID", "IN", "KR", "SG", "TW", "BE"))
    code, out, _ = scan(capsys, "--bundle", bundle, "--output", tmp_path / "a.json", "--history", history,
                        "--policy", loose, "--fail-on", "critical", "--fail-on-new")
    assert "vs no earlier run" in out  # the first recorded run has nothing to compare with
    # same estate, same policy: nothing new, so --fail-on-new passes even though FAILs exist
    code, out, _ = scan(capsys, "--bundle", bundle, "--output", tmp_path / "b.json", "--history", history,
                        "--policy", loose, "--fail-on", "info", "--fail-on-new")
    assert code == EXIT_OK, out
    assert "0 new" in out
    # a stricter policy makes residency findings new
    code, out, err = scan(capsys, "--bundle", bundle, "--output", tmp_path / "c.json", "--history", history,
                          "--policy", policy_file(tmp_path / "..", ("JP",)), "--fail-on", "info", "--fail-on-new")
    assert code == EXIT_FINDINGS and "new findings" in err
    assert main(["diff", "--history", str(history), "--json"]) == EXIT_OK
    drift = json.loads(capsys.readouterr().out)
    new = [d for d in drift if d["change"] == "new"]
    assert new and {d["check_id"] for d in new} >= {"RES-001"}
    assert main(["runs", "--history", str(history)]) == EXIT_OK
    assert len(capsys.readouterr().out.strip().splitlines()) == 1 + 3
    assert main(["diff", "--history", str(history)]) == EXIT_OK
    assert "new" in capsys.readouterr().out


def test_second_overlapping_run_is_refused(capsys, tmp_path, bundle):
    history = tmp_path / "h.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from cloudaudit.history import HistoryLock\n"
         f"l = HistoryLock({str(history)!r}).acquire(); print('held', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = scan(capsys, "--bundle", bundle, "--output", tmp_path / "r.json", "--history", history)
        assert code == EXIT_USAGE and "another cloudaudit run holds" in err
        assert not (tmp_path / "r.json").exists()
    finally:
        holder.kill()
        holder.wait()
    code, _, _ = scan(capsys, "--bundle", bundle, "--output", tmp_path / "r.json", "--history", history)
    assert code == EXIT_OK and (tmp_path / "r.json").exists()


def test_failed_scan_leaves_previous_report_untouched(capsys, tmp_path, bundle):
    report = tmp_path / "r.json"
    assert scan(capsys, "--bundle", bundle, "--output", report)[0] == EXIT_OK
    before = report.read_bytes()
    broken = tmp_path / "broken.zip"
    broken.write_bytes(bundle.read_bytes()[:1000])
    code, _, err = scan(capsys, "--bundle", broken, "--output", report)
    assert code == EXIT_USAGE and str(broken) in err
    assert report.read_bytes() == before


def test_json_log_lines(tmp_path, bundle):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "cloudaudit.cli", "--log-json", "--verbose", "scan", "--bundle",
                           str(bundle), "--output", str(tmp_path / "r.json")], capture_output=True, text=True, env=env)
    assert proc.returncode == EXIT_OK, proc.stderr
    lines = [json.loads(l) for l in proc.stderr.strip().splitlines()]
    assert lines and all({"time", "level", "message"} <= set(l) for l in lines)
    assert "\x1b[" not in proc.stdout + proc.stderr  # no colour / progress bars when not a terminal
