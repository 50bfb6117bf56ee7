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

from reports_fakes import FORMULA, HOSTILE, bulk_findings, findings_from, row, sample_findings

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
    data = data_block(html)["data"]
    resources = [r[data["cols"].index("r")] for r in data["rows"]]
    assert "arn:aws:s3:::" + HOSTILE in resources
    evidence = [r[data["cols"].index("e")] for r in data["rows"]]
    assert {"kind": "bucket", "name": HOSTILE, "countries": "US", "tag": FORMULA} in evidence


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
    reasons = [r[data["cols"].index("x")] for r in data["rows"]]
    assert "bucket tokyo は ap-northeast-1 (JP) にあります" in reasons
    assert data["statuses"] == ["適合", "不適合", "警告", "エラー", "リスク受容"]
    assert "2026年11月20日 03:04 UTC" in html
    assert "クラウドコンピューティング環境における役割及び責任の共有及び分担" in html  # control title from the catalog


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
    statuses = [data["status_keys"][r[data["cols"].index("s")]] for r in data["rows"]]
    assert statuses.count("FAIL") == 30 and statuses.count("PASS") == 100
    assert data["pass_omitted"] == 400 and data["total"] == 530
    assert "400 further passing results" in html


def test_hundred_thousand_findings_stay_small():
    f = bulk_findings(n_pass=90_000, n_fail=10_000)
    html = render_html(f, lang="ja")
    assert len(html.encode("utf-8")) < 8_000_000
    data = data_block(html)["data"]
    fails = sum(1 for r in data["rows"] if data["status_keys"][r[data["cols"].index("s")]] == "FAIL")
    assert fails == 10_000


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
