"""`cloudaudit demo` audits the sample estate of all three providers and writes its outputs."""

import json

from cloudaudit.cli import main


def test_demo_outputs_findings_for_all_three_providers(demo_result):
    findings = json.loads(demo_result.findings_json.read_text(encoding="utf-8"))
    providers = {f["provider"] for f in findings}
    assert {"aws", "azure", "gcp"} <= providers
    statuses = {f["status"] for f in findings}
    assert "FAIL" in statuses and "PASS" in statuses
    assert demo_result.bundle.is_file()


def test_demo_report_holds_findings_from_each_provider(demo_result):
    html = demo_result.report.read_text(encoding="utf-8")
    for provider in ("aws", "azure", "gcp"):
        assert provider in html


def test_demo_bundle_replays_offline_to_the_same_findings(demo_result):
    import cloudaudit
    from cloudaudit.demo import demo_policy
    from cloudaudit.findings import finding_key

    replay = cloudaudit.audit(cloudaudit.load_bundle(demo_result.bundle), demo_policy())
    live = demo_result.findings
    a = sorted(zip(finding_key(live.df), live.df["status"].astype(str)))
    b = sorted(zip(finding_key(replay.df), replay.df["status"].astype(str)))
    assert a == b


def test_demo_command_prints_where_it_wrote(tmp_path, capsys):
    code = main(["demo", "--output", str(tmp_path / "out"), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "report:" in out and str(tmp_path / "out") in out
