"""The cloudaudit command: listings, one-line errors and exit codes."""

import json
import shutil
import subprocess

import pytest

from cloudaudit.cli import EXIT_USAGE, main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_console_script_version():
    exe = shutil.which("cloudaudit")
    assert exe, "the cloudaudit console script is installed"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("cloudaudit ")


def test_checks_lists_ids_severities_and_controls(capsys):
    code, out, _ = run(capsys, "checks")
    assert code == 0
    assert "RES-001" in out and "18.1.1" in out and "high" in out
    code, out, _ = run(capsys, "checks", "--json")
    rows = json.loads(out)
    assert {"check_id", "severity", "controls", "title_ja"} <= set(rows[0])


def test_controls_shows_catalog_with_covering_checks_and_manual_ones(capsys):
    code, out, _ = run(capsys, "controls")
    assert code == 0
    assert "CLD.9.5.1" in out and "manual" in out
    line = next(l for l in out.splitlines() if l.startswith("18.1.1 "))
    assert "RES-001" in line
    code, out, _ = run(capsys, "controls", "--json", "--lang", "ja")
    rows = json.loads(out)
    assert len(rows) >= 44 and any(r["checks"] for r in rows)


def test_policy_example_round_trips(capsys, tmp_path):
    code, out, _ = run(capsys, "policy-example")
    assert code == 0 and "allowed_countries" in out
    (tmp_path / "p.toml").write_text(out, encoding="utf-8")
    from cloudaudit import Policy

    assert Policy.load(tmp_path / "p.toml").allowed_countries == ("JP",)


@pytest.mark.parametrize("argv,needle", [
    (["scan"], "give --bundle PATH or at least one --provider"),
    (["scan", "--provider", "oracle"], "invalid choice"),
    (["scan", "--bundle", "/nonexistent/bundle.zip"], "bundle not found"),
    (["collect", "--output", "x.zip"], "at least one --provider"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_and_input_errors_are_one_line_with_exit_3(capsys, argv, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default outputs land in the working directory
    code, out, err = run(capsys, *argv)
    assert code == EXIT_USAGE
    assert needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_broken_policy_file_is_one_line_naming_the_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "policy.toml"
    bad.write_text("[residency]\nallowed_countries = [\"Nippon\"]\n", encoding="utf-8")
    code, _, err = run(capsys, "scan", "--bundle", str(tmp_path / "b.zip"), "--policy", str(bad))
    assert code == EXIT_USAGE
    assert str(bad) in err and "residency.allowed_countries" in err
    assert len(err.strip().splitlines()) == 1


def test_bad_option_syntax(capsys):
    code, _, err = run(capsys, "collect", "--provider", "aws", "--output", "x", "--option", "role_name")
    assert code == EXIT_USAGE and "PROVIDER.KEY=VALUE" in err


def test_missing_cloud_credentials_is_one_clear_line(capsys, tmp_path, monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, _, err = run(capsys, "scan", "--provider", "aws", "--output", str(tmp_path / "r.json"))
    assert code == EXIT_USAGE
    assert err.count("\n") == 1 and "aws: cannot identify the caller" in err and "credentials" in err


def test_long_multi_line_errors_are_folded_into_one_bounded_line():
    from cloudaudit.cli import _one_line

    text = "chain failed:\n\t" + "\n\t".join(f"Credential{i}: unavailable" for i in range(200))
    line = _one_line(text)
    assert "\n" not in line and len(line) <= 600 and line.endswith("(--debug shows the whole message)")
