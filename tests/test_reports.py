"""Unit tests for cloudaudit.reports: HTML report, compact view and exports."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pandas as pd
import pytest

from cloudaudit.engine import run_checks
from cloudaudit.testing import inventory
from cloudaudit.reports import render_compact, render_html
from cloudaudit.reports.html import json_for_script

from reports_fakes import FORMULA, HOSTILE, bulk_findings, decode_payload, findings_from, row, sample_findings

JA_HEADINGS = ("エグゼクティブサマリー", "適用宣言書", "データの所在地", "特権アクセス一覧", "検出事項", "リスク受容")
EN_HEADINGS = ("Executive summary", "Statement of Applicability", "Data residency", "Privileged access roster",
               "Findings", "Risk acceptances")


def data_block(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    assert match, "report data block missing"
    return json.loads(match.group(1))


def inline_script(html: str) -> str:
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(scripts) == 1
    return scripts[0]


# ----------------------------------------------------------------------------- HTML

def test_hostile_values_are_inert_in_html():
    html = render_html(sample_findings(), lang="en")
    # the only script end tags are our own two blocks; no live element or comment from tenant data
    assert html.count("</script>") == 2
    assert "<img" not in html
    assert "<!--" not in html
    assert "onerror=\"window" not in html
    # ... and the values survive intact for the table script
    rows = decode_payload(data_block(html)["data"])
    assert "arn:aws:s3:::" + HOSTILE in [r["r"] for r in rows]
    assert {"kind": "bucket", "name": HOSTILE, "countries": "US", "tag": FORMULA} in [r["e"] for r in rows]


def test_hostile_acceptance_coverage_scope_and_account_text_is_escaped():
    rows = [row("RES-001", "SUPPRESSED", account=HOSTILE, acceptance="accepted " + HOSTILE),
            row("ISL-001", "ERROR", reason="denied " + HOSTILE, reason_ja="拒否 " + HOSTILE)]
    expired = [{"check_id": "RES-001", "resource": HOSTILE, "owner": HOSTILE, "expires": "2026-01-01",
                "reason": HOSTILE, "findings": 1}]
    for lang in ("en", "ja"):
        html = render_html(findings_from(rows, expired_acceptances=expired), lang=lang, scope=[HOSTILE],
                           organization=HOSTILE)
        assert "<img" not in html and "<!--" not in html and html.count("</script>") == 2
        static = html.split('<script type="application/json"')[0]
        for section in ("cover", "summary", "acceptances"):
            assert "&lt;img src=x onerror=" in static.split(f'id="{section}"')[1], (lang, section)
        out = render_compact(findings_from(rows), lang=lang)
        assert "<img" not in out


def test_json_for_script_escapes_markup_characters():
    text = json_for_script({"v": "</script><!-- & <img onerror=x>\u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"v": "</script><!-- & <img onerror=x>\u2028"}


def test_csp_forbids_network_and_allows_only_the_inline_script_by_hash():
    html = render_html(sample_findings(), lang="en")
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert meta, "CSP meta tag missing"
    csp = meta.group(1).replace("&#39;", "'")
    assert "default-src 'none'" in csp and "img-src data:" in csp and "style-src 'unsafe-inline'" in csp
    digest = base64.b64encode(hashlib.sha256(inline_script(html).encode("utf-8")).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    assert "unsafe-eval" not in csp and "script-src 'unsafe-inline'" not in csp


def test_no_network_urls_in_attributes_or_css():
    html = render_html(sample_findings(), lang="ja")
    assert not re.search(r"""(?:src|href|action|data)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert not re.search(r"url\(\s*['\"]?\s*(?:https?:)?//", html, re.I)
    assert "@import" not in html


@pytest.mark.parametrize("lang, expected, absent", [("ja", JA_HEADINGS, EN_HEADINGS[0]),
                                                    ("en", EN_HEADINGS, JA_HEADINGS[0])])
def test_headings_in_report_language(lang, expected, absent):
    html = render_html(sample_findings(), lang=lang)
    headings = re.findall(r"<h2>(.*?)</h2>", html)
    for h in expected:
        assert h in headings
    assert absent not in headings
    assert f'<html lang="{lang}">' in html


def test_japanese_report_uses_japanese_titles_reasons_levels_and_dates():
    html = render_html(sample_findings(), lang="ja")
    data = data_block(html)["data"]
    strings = set(data["s"])
    assert "許可されていない国・地域へのリソース配置" in strings
    assert "極秘" in strings and "部外秘" in strings          # seed policy vocabulary for classification
    assert "bucket tokyo は ap-northeast-1 (JP) にあります" in [r["x"] for r in decode_payload(data)]
    assert data["statuses"] == ["適合", "不適合", "警告", "エラー", "リスク受容"]
    assert "2026年11月20日 03:04 UTC" in html
    assert "クラウドコンピューティング環境における役割及び責任の共有及び分担" in html  # control title from the catalog


def test_japanese_report_falls_back_to_english_where_a_title_or_reason_has_no_translation():
    # e.g. findings read back from a history written by a custom check with an English title only
    f = findings_from([row("TST-100", "FAIL", title="Only in English", title_ja="", reason="plain why", reason_ja=""),
                       row("TST-101", "FAIL", title="Translated", title_ja="訳あり")])
    strings = set(data_block(render_html(f, lang="ja"))["data"]["s"])
    assert {"Only in English", "訳あり"} <= strings and "Translated" not in strings


def test_english_report_uses_english_dates_and_titles():
    html = render_html(sample_findings(), lang="en")
    assert "20 Nov 2026 03:04 UTC" in html
    assert "Shared roles and responsibilities within a cloud computing environment" in html
    assert "Example 株式会社" in html


def test_sections_derive_from_findings_when_no_context_is_given():
    html = render_html(sample_findings(), lang="en")
    residency = html.split('id="residency"')[1].split("</section>")[0]
    assert "us-east-1" in residency and 'class="bad"' in residency
    roster = html.split('id="privileged"')[1].split("</section>")[0]
    assert "alice" in roster and "AdministratorAccess" in roster and "hardware" in roster
    isolation = html.split('id="isolation"')[1].split("</section>")[0]
    assert "ISL-001" in isolation and "ISL-003" in isolation
    acceptances = html.split('id="acceptances"')[1].split("</section>")[0]
    assert "ciso@example.jp" in acceptances and "ops@example.jp" in acceptances
    drift = html.split('id="drift"')[1].split("</section>")[0]
    assert "not available" in drift
    summary = html.split('id="summary"')[1].split("</section>")[0]
    assert "AccessDenied" in summary and "<svg" in summary
    # per account: PASS FAIL WARN ERROR SUPPRESSED, then open findings critical/high/medium/low/info
    first = re.findall(r"<tr>(.*?)</tr>", summary.split("<tbody>")[1])[0]
    assert re.findall(r"<td[^>]*>(.*?)</td>", first) == ["aws", "111111111111", "2", "2", "1", "1", "1",
                                                         "0", "2", "1", "0", "0"]


def test_sections_say_not_available_without_data():
    f = findings_from([row("ENC-001", "PASS", evidence={"encryption": "customer"})])
    html = render_html(f, lang="en")
    for section in ("residency", "privileged", "isolation", "drift"):
        body = html.split(f'id="{section}"')[1].split("</section>")[0]
        assert "not available" in body, section


def test_context_tables_are_rendered_and_escaped():
    residency = pd.DataFrame({"provider": ["aws", "aws"], "region": ["us-east-1", "ap-northeast-1"],
                              "countries": ["US", "JP"], "kind": ["replica", "bucket"], "resources": [3, 10],
                              "outside": [True, False]})
    privileged = pd.DataFrame({"provider": ["azure"], "account_id": ["tenant-1"], "principal": [HOSTILE],
                               "role": ["Global Administrator"], "mfa": ["none"], "standing": [True]})
    current = sample_findings()
    previous = findings_from([row("ISL-009", "FAIL", resource="vpc-default")])
    html = render_html(current, lang="ja", residency=residency, privileged=privileged, drift=current.diff(previous),
                       organization="顧客 <b>Corp</b>", bundle_hash="ab" * 32, permissions={"aws": ["SecurityAudit"]})
    assert "顧客 &lt;b&gt;Corp&lt;/b&gt;" in html and "ab" * 32 in html
    assert "<img" not in html and html.count("</script>") == 2
    assert "Global Administrator" in html and "replica" in html
    drift = html.split('id="drift"')[1].split("</section>")[0]
    assert "新規" in drift and "解消" in drift and "vpc-default" in drift
    assert "SecurityAudit" in html


def test_pass_rows_beyond_cap_are_counted_not_listed():
    f = bulk_findings(n_pass=500, n_fail=30)
    html = render_html(f, lang="en", pass_cap=100)
    data = data_block(html)["data"]
    statuses = [r["status"] for r in decode_payload(data)]
    assert statuses.count("FAIL") == 30 and statuses.count("PASS") == 100
    assert data["pass_omitted"] == 400 and data["total"] == 530
    assert "400 further passing results" in html


def test_open_findings_beyond_cap_are_the_least_severe_and_are_counted_not_listed():
    severities = ["low", "critical", "medium", "high", "low", "critical"]
    rows = [row("ISL-001", "FAIL" if i % 2 else "ERROR", sev, resource=f"r-{i}") for i, sev in enumerate(severities)]
    f = findings_from(rows + [row("ISL-001", "PASS", "low", resource="ok")])
    for lang, note in (("en", "2 further findings"), ("ja", "2 件")):
        html = render_html(f, lang=lang, open_cap=4)
        data = data_block(html)["data"]
        listed = decode_payload(data)
        assert sorted(r["r"] for r in listed) == ["ok", "r-1", "r-2", "r-3", "r-5"]
        assert data["open_omitted"] == 2 and data["total"] == 7 and 'id="open-omitted"' in html and note in html
    assert 'id="open-omitted"' not in render_html(f, lang="en")


def test_hundred_thousand_findings_stay_small():
    f = bulk_findings(n_pass=90_000, n_fail=10_000)
    html = render_html(f, lang="ja")
    assert len(html.encode("utf-8")) < 5_000_000
    data = data_block(html)["data"]
    assert sum(1 for s in (r[data["cols"].index("s")] for r in data["rows"]) if data["status_keys"][s] == "FAIL") == 10_000


def test_failing_rows_are_compact_and_decode_exactly():
    # every failing row is listed, so their size per row bounds the worst case (100k failures < 14 MB)
    f = bulk_findings(n_pass=0, n_fail=20_000)
    html = render_html(f, lang="ja")
    assert len(html.encode("utf-8")) / 20_000 < 140
    data = data_block(html)["data"]
    assert len(data["rows"]) == 20_000
    # reasons travel as the check's templates and decode to exactly the engine's text
    assert all(isinstance(r[data["cols"].index("x")], int) for r in data["rows"])
    sample = decode_payload({**data, "rows": data["rows"][:500]})
    expected = dict(zip(f.df["resource_id"], f.df["reason_ja"]))
    assert all(r["x"] == expected[r["r"]] for r in sample)


def test_report_from_engine_findings():
    inv = inventory(resources=[
        {"provider": "aws", "account_id": "111", "region": "ap-northeast-1", "resource_id": "arn:aws:s3:::ok",
         "kind": "bucket", "name": "ok", "data_bearing": True},
        {"provider": "aws", "account_id": "111", "region": "us-east-1", "resource_id": "arn:aws:s3:::bad",
         "kind": "bucket", "name": HOSTILE, "data_bearing": True}])
    findings = run_checks(inv, checks=["RES-001"])
    html = findings.to_html(lang="ja")
    data = data_block(html)["data"]
    assert len(data["rows"]) == 2 and "<img" not in html
    assert "許可されていない国・地域へのリソース配置" in data["s"]
    # both reasons are sent as the check's ja templates and decode to the engine's text
    assert all(isinstance(r[data["cols"].index("x")], int) for r in data["rows"])
    decoded = {r["r"]: r["x"] for r in decode_payload(data)}
    assert decoded == dict(zip(findings.df["resource_id"], findings.df["reason_ja"]))


def test_compact_view_is_small_script_free_and_escaped():
    f = sample_findings()
    out = f._repr_html_()
    assert out == render_compact(f)
    assert "<script" not in out and "<img" not in out
    assert "&lt;/script&gt;" in out
    assert "cloudaudit findings" in out and "88.9%" in out


def test_unknown_language_is_a_clear_error():
    with pytest.raises(ValueError, match="not supported"):
        render_html(sample_findings(), lang="fr")


# ----------------------------------------------------------------------------- exports

from cloudaudit.reports import (FORMATS, OCSF_VERSION, atomic_write, ocsf_events, write_csv, write_ocsf,  # noqa: E402
                                write_report, write_xlsx)
from cloudaudit.reports.exports import neutralize  # noqa: E402

DANGEROUS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR", FORMULA]


def formula_findings():
    rows = [row("CLS-001", "FAIL", resource=value, reason=value, reason_ja=value, evidence={"tag": value})
            for value in DANGEROUS]
    rows.append(row("CLS-001", "PASS", resource="safe-name", reason="a-b=c is fine"))
    return findings_from(rows)


def test_neutralize_prefixes_only_formula_starts():
    s = pd.Series(DANGEROUS + ["plain", "a=b", None], dtype=object)
    out = neutralize(s)
    assert list(out[:len(DANGEROUS)]) == ["'" + v for v in DANGEROUS]
    assert list(out[len(DANGEROUS):len(DANGEROUS) + 2]) == ["plain", "a=b"] and pd.isna(out.iloc[-1])


def test_csv_has_bom_and_neutralized_cells(tmp_path):
    import csv

    path = write_csv(formula_findings(), tmp_path / "findings.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        records = list(csv.DictReader(handle))
    resources = [r["resource_id"] for r in records]
    assert resources[:len(DANGEROUS)] == ["'" + v for v in DANGEROUS]
    assert resources[-1] == "safe-name"
    for r in records:
        for value in r.values():
            assert not value or value[0] not in "=+-@\t\r", value


def test_csv_keeps_japanese_text(tmp_path):
    path = write_csv(sample_findings(), tmp_path / "ja.csv")
    text = path.read_text(encoding="utf-8-sig")
    assert "許可されていない国・地域へのリソース配置" in text and "リスク受容" not in text.splitlines()[0]


def test_xlsx_sheets_and_no_formulas(tmp_path):
    from openpyxl import load_workbook

    path = write_xlsx(formula_findings(), tmp_path / "report.xlsx")
    book = load_workbook(path)
    assert book.sheetnames == ["findings", "controls", "residency", "privileged", "coverage"]
    sheet = book["findings"]
    header = [c.value for c in sheet[1]]
    col = header.index("resource_id")
    values = [r[col] for r in sheet.iter_rows(min_row=2, values_only=True)]
    # XML parsers read a stored CR back as LF; the apostrophe is what matters
    assert values[:len(DANGEROUS)] == ["'" + v.replace("\r", "\n") for v in DANGEROUS]
    for ws in book.worksheets:
        for r in ws.iter_rows():
            for cell in r:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert cell.value[:1] not in ("=", "+", "-", "@", "\t", "\r")


def test_xlsx_sections_from_findings_and_context(tmp_path):
    from openpyxl import load_workbook

    roster = pd.DataFrame({"provider": ["gcp"], "principal": ["=cmd|' /C calc'!A0"], "mfa": ["none"]})
    path = write_report(sample_findings(), tmp_path / "r.xlsx", "xlsx", "ja", privileged=roster)
    book = load_workbook(path)
    residency = list(book["residency"].iter_rows(values_only=True))
    assert residency[0] == ("provider", "region", "countries", "resources", "outside")
    assert ("aws", "us-east-1", "US", 1, 1) in residency
    assert list(book["privileged"].iter_rows(values_only=True))[1][1] == "'=cmd|' /C calc'!A0"
    controls = list(book["controls"].iter_rows(values_only=True))
    assert controls[0][0] == "control" and any(r[0] == "CLD.6.3.1" for r in controls[1:])
    coverage = {r[0]: r[1] for r in book["coverage"].iter_rows(min_row=2, values_only=True) if r[0] != "error"}
    assert coverage["total"] == 9 and coverage["evaluated"] == 8


def test_xlsx_context_headers_and_cells_with_control_characters(tmp_path):
    from openpyxl import load_workbook

    roster = pd.DataFrame({"principal\x01": ["a\x02b"], "=mfa": ["none"]})
    path = write_xlsx(sample_findings(), tmp_path / "r.xlsx", privileged=roster)
    rows = list(load_workbook(path)["privileged"].iter_rows(values_only=True))
    assert rows == [("principal\ufffd", "'=mfa"), ("a\ufffdb", "none")]


def test_ocsf_compliance_finding_mapping():
    events = {e["compliance"]["status_code"] + ":" + e["compliance"]["control"]: e
              for e in ocsf_events(sample_findings(), tool_version="9.9")}
    fail = events["FAIL:ISL-001"]
    assert (fail["class_uid"], fail["category_uid"], fail["activity_id"], fail["type_uid"]) == (2003, 2, 1, 200301)
    assert fail["severity_id"] == 5 and fail["severity"] == "Critical"
    assert fail["compliance"]["status_id"] == 3 and fail["compliance"]["status"] == "Fail"
    assert fail["compliance"]["standards"] == ["ISO/IEC 27017:2015"]
    assert fail["compliance"]["requirements"] == ["ISO/IEC 27017:2015 9.4.1", "ISO/IEC 27017:2015 13.1.3"]
    assert fail["cloud"] == {"provider": "Azure", "account": {"uid": "sub-1"}, "region": "japaneast"}
    assert fail["resources"][0]["uid"] == "/subscriptions/sub-1/storageAccounts/open"
    assert fail["resources"][0]["data"] == {"public_read": True}
    assert fail["metadata"]["version"] == OCSF_VERSION
    assert fail["metadata"]["product"] == {"name": "cloudaudit", "vendor_name": "cloudaudit", "version": "9.9"}
    assert fail["time"] == 1795143845000 and fail["status_id"] == 1
    assert events["PASS:RES-001"]["compliance"]["status_id"] == 1
    assert events["WARN:ISL-003"]["compliance"]["status_id"] == 99 and events["WARN:ISL-003"]["severity_id"] == 3
    error = events["ERROR:LOG-002"]
    assert error["compliance"]["status_id"] == 2 and "AccessDenied" in error["compliance"]["status_detail"]
    assert error["resources"] == []
    suppressed = events["SUPPRESSED:LOG-001"]
    assert suppressed["status_id"] == 3 and suppressed["status"] == "Suppressed"
    assert "ciso@example.jp" in suppressed["unmapped"]["acceptance"]
    # the finding uid is stable across runs and distinct per finding
    assert len({e["finding_info"]["uid"] for e in ocsf_events(sample_findings())}) == 9
    assert ocsf_events(sample_findings())[0]["finding_info"]["uid"] == ocsf_events(sample_findings())[0]["finding_info"]["uid"]


def test_ocsf_file_in_japanese(tmp_path):
    path = write_ocsf(sample_findings(), tmp_path / "f.ocsf.json", lang="ja")
    events = json.loads(path.read_text(encoding="utf-8"))
    assert len(events) == 9
    assert any(e["finding_info"]["title"] == "公開されたオブジェクトストレージ" for e in events)


def test_atomic_write_failure_keeps_previous_file(tmp_path):
    target = tmp_path / "report.csv"
    target.write_text("previous", encoding="utf-8")

    def half_then_crash(handle):
        handle.write("partial,row\n")
        handle.flush()
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, half_then_crash)
    assert target.read_text(encoding="utf-8") == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


def test_ocsf_in_japanese_uses_the_translation_and_falls_back_to_english():
    f = findings_from([row("TST-100", "FAIL", title="Only in English", title_ja="", reason="plain why", reason_ja=""),
                       row("TST-101", "FAIL", title="Translated", title_ja="訳あり", reason="why", reason_ja="理由")])
    events = {e["compliance"]["control"]: e for e in ocsf_events(f, lang="ja")}
    assert events["TST-100"]["finding_info"]["title"] == "Only in English" and events["TST-100"]["message"] == "plain why"
    assert events["TST-101"]["finding_info"]["title"] == "訳あり" and events["TST-101"]["message"] == "理由"
    assert ocsf_events(f, lang="en")[1]["finding_info"]["title"] == "Translated"


def test_new_report_is_owner_only_and_a_replaced_one_keeps_its_permissions(tmp_path):
    fresh = atomic_write(tmp_path / "new.html", lambda h: h.write("x"))
    assert fresh.stat().st_mode & 0o777 == 0o600
    shared = tmp_path / "shared.html"
    shared.write_text("old", encoding="utf-8")
    shared.chmod(0o640)  # an admin made it readable by the web server's group
    atomic_write(shared, lambda h: h.write("new"))
    assert shared.read_text(encoding="utf-8") == "new" and shared.stat().st_mode & 0o777 == 0o640


def test_failed_export_keeps_previous_report(tmp_path):
    target = tmp_path / "r.xlsx"
    write_xlsx(sample_findings(), target)
    before = target.read_bytes()
    broken = findings_from([row("RES-001", "FAIL", evidence=None)])
    broken.df.loc[0, "evidence"] = '{"countries": ["JP"'  # truncated: the export cannot read it
    with pytest.raises(ValueError):
        write_report(broken, target, "ocsf")
    with pytest.raises(ValueError):
        write_report(broken, target, "xlsx")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.xlsx"]


def test_write_report_every_format(tmp_path):
    f = sample_findings()
    for fmt in FORMATS:
        path = write_report(f, tmp_path / f"out.{fmt}", fmt, "ja", organization="Example")
        assert path.stat().st_size > 100
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))[0]["check_id"] == "RES-001"
    assert "適用宣言書" in (tmp_path / "out.html").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="not supported"):
        write_report(f, tmp_path / "x.pdf", "pdf")


def test_report_with_inventory_views_as_context(tmp_path):
    from cloudaudit.policy import Policy
    from cloudaudit.views import report_context

    inv = inventory(
        resources=[{"provider": "aws", "account_id": "111", "region": "ap-northeast-1", "resource_id": "arn:aws:s3:::b",
                    "kind": "bucket", "name": "b", "data_bearing": True}],
        replicas=[{"provider": "aws", "account_id": "111", "resource_id": "arn:aws:s3:::b", "target_region": "us-west-2",
                   "kind": "replication"}],
        principals=[{"provider": "aws", "account_id": "111", "principal_id": "AIDA1", "name": "admin-" + HOSTILE,
                     "kind": "user", "human": True, "mfa": "none", "enabled": True}],
        grants=[{"provider": "aws", "account_id": "111", "principal_id": "AIDA1", "principal_kind": "user",
                 "scope": "account", "role": "AdministratorAccess", "privilege": "admin", "standing": True,
                 "via": "direct"}])
    findings = run_checks(inv, checks=["RES-001"])
    context = report_context(inv, Policy(organization="Example"), bundle_hash="f" * 64)
    path = write_report(findings, tmp_path / "r.html", "html", "ja", **context)
    html = path.read_text(encoding="utf-8")
    residency = html.split('id="residency"')[1].split("</section>")[0]
    assert "us-west-2" in residency and "複製 (レプリカ・バックアップ)" in residency and 'class="bad"' in residency
    roster = html.split('id="privileged"')[1].split("</section>")[0]
    assert "AdministratorAccess" in roster and "なし" in roster and "admin-&lt;/script&gt;&lt;img" in roster
    assert "<img" not in html and "f" * 64 in html
    book_path = write_report(findings, tmp_path / "r.xlsx", "xlsx", "ja", **context)
    from openpyxl import load_workbook
    sheet = list(load_workbook(book_path)["privileged"].iter_rows(values_only=True))
    assert sheet[0][:3] == ("provider", "account_id", "principal") and sheet[1][2] == "admin-" + HOSTILE


def test_report_of_a_run_renders_only_the_rows_it_shows_and_matches_the_fully_rendered_run():
    from benchmarks import estate
    from cloudaudit.findings import Findings
    from cloudaudit.policy import Policy

    inv = estate.generate(estate.Sizes().scaled(2000), seed=3)
    lazy = run_checks(inv, Policy(), run_id="r", as_of="2026-11-01")
    whole = run_checks(inv, Policy(), run_id="r", as_of="2026-11-01")
    eager = Findings(whole.df, expired_acceptances=whole.expired_acceptances, policy=whole.policy)
    for lang in ("en", "ja"):
        options = dict(lang=lang, pass_cap=50, generated_at="2026-11-02T00:00:00Z")
        assert render_html(lazy, **options) == render_html(eager, **options)
        assert render_compact(lazy, lang=lang) == render_compact(eager, lang=lang)
    assert lazy._text is not None   # the PASS rows past the cap were never rendered


def test_evidence_text_reads_one_key_of_each_object_as_json_would():
    from reports.html import _evidence_text

    objects = [{"countries": "JP", "name": "a"}, {"name": 'x,"countries":"US"', "countries": "JP, US"},
               {"countries": 'quote " and \\ back'}, {"countries": None}, {"countries": ["JP"]}, {"name": "none"},
               {"countries": "日本"}]
    texts = [json.dumps(o, ensure_ascii=False, separators=(",", ":")) for o in objects] + [None, ""]
    texts[1] = json.dumps(objects[1], ensure_ascii=False)  # with spaces, as other writers emit
    got = _evidence_text(pd.Series(texts, dtype="string", index=range(10, 19)), "countries")
    assert got.index.tolist() == list(range(10, 19))
    assert got.tolist()[:3] == ["JP", "JP, US", 'quote " and \\ back'] and got.iloc[6] == "日本"
    assert got.iloc[4] == "['JP']" and all(pd.isna(got.iloc[i]) for i in (3, 5, 7, 8))


@pytest.mark.parametrize("fmt", ["csv", "json", "ocsf"])
def test_exports_written_in_chunks_are_the_text_of_one_piece(tmp_path, monkeypatch, fmt):
    from cloudaudit.findings import Findings
    from reports import exports

    f = sample_findings()
    whole = {"csv": lambda: "\ufeff" + exports.findings_table(f).to_csv(index=False, lineterminator="\r\n"),
             "json": lambda: json.dumps(f.to_records(), ensure_ascii=False, indent=1),
             "ocsf": lambda: json.dumps(exports.ocsf_events(f), ensure_ascii=False, separators=(",", ":"))}[fmt]()
    chunks = Findings.chunks
    monkeypatch.setattr(Findings, "chunks", lambda self, size=50_000: chunks(self, 2))  # several chunks
    assert len(f) > 4
    written = write_report(f, tmp_path / f"out.{fmt}", fmt).read_bytes().decode("utf-8")
    assert written == whole
    empty = findings_from([])
    assert write_report(empty, tmp_path / f"empty.{fmt}", fmt).read_bytes().decode("utf-8").strip("\ufeff\r\n") in (
        "[]", ",".join(exports.findings_table(empty).columns))


def test_findings_past_the_rows_of_one_sheet_continue_on_the_next(tmp_path, monkeypatch):
    from openpyxl import Workbook, load_workbook

    from cloudaudit.findings import Findings
    from reports import exports

    f = sample_findings()
    chunks = Findings.chunks
    monkeypatch.setattr(Findings, "chunks", lambda self, size=50_000: chunks(self, 3))
    book = Workbook(write_only=True)
    exports._findings_sheets(book, f, max_rows=3)   # a header and two findings per sheet
    book.save(tmp_path / "split.xlsx")
    back = load_workbook(tmp_path / "split.xlsx", read_only=True)
    expected = exports.findings_table(f)
    n_sheets = -(-len(f) // 2)
    assert back.sheetnames == ["findings"] + [f"findings {i}" for i in range(2, n_sheets + 1)]
    rows = []
    for name in back.sheetnames:
        values = list(back[name].iter_rows(values_only=True))
        assert list(values[0]) == list(expected.columns) and 1 < len(values) <= 3
        rows += values[1:]
    ids = expected["resource_id"].astype(object).where(expected["resource_id"].notna(), None).tolist()
    assert [r[expected.columns.get_loc("resource_id")] for r in rows] == ids and None in ids
