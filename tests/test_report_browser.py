"""The HTML report in a real browser: Debian's chromium driven by Playwright, from file://, offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cloudaudit.engine import run_checks
from cloudaudit.reports import write_report
from cloudaudit.testing import inventory

from reports_fakes import HOSTILE, findings_from, row, sample_findings

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SCRIPT_PAYLOAD = "<script>window.__pwned=2</script>"
SVG_PAYLOAD = "<svg onload=\"window.__pwned=3\">"
N_ROWS = 13


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) to run the "
                    "browser tests", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install playwright (the browser itself comes from Debian)",
                    pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def engine_rows() -> list[dict]:
    """Two RES-001 findings made by the engine (their reasons travel as templates)."""
    inv = inventory(resources=[
        {"provider": "aws", "account_id": "222222222222", "region": "eu-west-1", "resource_id": "arn:aws:s3:::dublin",
         "kind": "bucket", "name": "dublin", "data_bearing": True},
        {"provider": "aws", "account_id": "222222222222", "region": "ap-northeast-3", "resource_id": "arn:aws:s3:::osaka",
         "kind": "bucket", "name": "osaka", "data_bearing": True}])
    return run_checks(inv, checks=["RES-001"]).df.to_dict(orient="records")


def audit():
    """The sample audit, engine-made rows, and rows whose names and tags carry script payloads."""
    f = sample_findings()
    extra = engine_rows() + [row("CLS-001", "FAIL", severity="low", resource="vm-" + SCRIPT_PAYLOAD, reason="label " + SVG_PAYLOAD,
                 reason_ja="ラベル " + SVG_PAYLOAD, evidence={"tag": SCRIPT_PAYLOAD, "other": SVG_PAYLOAD}),
             row("CLS-001", "PASS", severity="low", resource="vm-clean", reason="label ok", reason_ja="ラベル正常")]
    return findings_from(f.df.to_dict(orient="records") + extra, expired_acceptances=f.expired_acceptances,
                         meta=f.meta)


def open_report(browser, path: Path):
    """Open a report from file:// and return (page, requests, console errors)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_selector("html[data-ready='1']", timeout=5000)  # the inline script ran under the CSP
    return page, requests, errors


def expect(locator):
    # locator assertions poll without eval, which the report's CSP (rightly) forbids
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def visible_rows(page) -> list[list[str]]:
    return page.eval_on_selector_all(
        "#findings-body tr.finding", "rows => rows.map(r => Array.from(r.cells, c => c.textContent))")


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    f = audit()
    return {lang: write_report(f, folder / f"report-{lang}.html", "html", lang) for lang in ("en", "ja")}


def test_offline_no_requests_no_console_errors(browser, reports, tmp_path):
    for lang, path in reports.items():
        page, requests, errors = open_report(browser, path)
        assert requests == [path.as_uri()], f"{lang}: unexpected requests {requests}"
        assert errors == [], f"{lang}: console errors {errors}"
        assert len(visible_rows(page)) == N_ROWS
        page.screenshot(path=str(tmp_path / f"report-{lang}.png"), full_page=True)
        assert (tmp_path / f"report-{lang}.png").stat().st_size > 10_000
        page.close()


def test_filters_search_and_sort_change_visible_rows(browser, reports):
    page, _, errors = open_report(browser, reports["en"])
    page.select_option("#f-severity", label="Critical")
    rows = visible_rows(page)
    assert len(rows) == 2 and {r[0] for r in rows} == {"Critical"}
    assert {r[2] for r in rows} == {"RES-001", "ISL-001"}
    page.select_option("#f-provider", label="gcp")
    assert [r[6] for r in visible_rows(page)] == ["gs://multi"]
    page.select_option("#f-provider", value="")
    page.select_option("#f-severity", value="")
    page.select_option("#f-status", label="Warning")
    assert [r[2] for r in visible_rows(page)] == ["ISL-003"]
    page.select_option("#f-status", value="")
    page.select_option("#f-control", label="12.4.1")
    assert sorted(r[2] for r in visible_rows(page)) == ["LOG-001", "LOG-002"]
    page.select_option("#f-control", value="")
    page.fill("#f-search", "alice")
    expect(page.locator("#findings-body tr.finding")).to_have_count(1)
    assert visible_rows(page)[0][6].endswith("user/alice")
    page.fill("#f-search", "AdministratorAccess")   # evidence is searchable too
    expect(page.locator("#findings-body tr.finding")).to_have_count(2)
    page.fill("#f-search", "")
    expect(page.locator("#findings-body tr.finding")).to_have_count(N_ROWS)
    page.click("#findings-table th[data-sort='r']")
    resources = [r[6] for r in visible_rows(page)]
    assert resources == sorted(resources)
    assert page.text_content("#f-count").startswith(f"{N_ROWS} of {N_ROWS}")
    # reasons sent as templates are rendered back to the engine's exact text
    page.fill("#f-search", "dublin")
    expect(page.locator("#findings-body tr.finding")).to_have_count(1)
    expected = [r["reason"] for r in engine_rows() if r["resource_id"] == "arn:aws:s3:::dublin"]
    assert [visible_rows(page)[0][7]] == expected and "eu-west-1 (IE)" in expected[0]
    assert errors == []
    page.close()


def test_script_payloads_in_names_and_tags_execute_nothing(browser, reports):
    for path in reports.values():
        page, _, errors = open_report(browser, path)
        page.fill("#f-search", "vm-")
        expect(page.locator("#findings-body tr.finding")).to_have_count(2)
        page.fill("#f-search", "")
        expect(page.locator("#findings-body tr.finding")).to_have_count(N_ROWS)
        # expand every finding so evidence with payloads is put into the page
        for i in range(N_ROWS):
            page.locator("#findings-body tr.finding").nth(i).click()
        details = page.eval_on_selector_all("pre.evidence", "els => els.map(e => e.textContent).join('\\n')")
        assert SCRIPT_PAYLOAD in details and HOSTILE.replace('"', '\\"') in details
        page.wait_for_timeout(200)
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.evaluate("document.querySelectorAll('img, [onload], [onerror]').length") == 0
        assert page.evaluate("document.scripts.length") == 2
        texts = page.eval_on_selector_all("#findings-body td", "tds => tds.map(t => t.textContent)")
        assert "vm-" + SCRIPT_PAYLOAD in texts
        assert errors == []
        page.close()


def test_japanese_report_shows_japanese_headings(browser, reports):
    page, _, errors = open_report(browser, reports["ja"])
    headings = page.eval_on_selector_all("h2", "hs => hs.map(h => h.textContent)")
    for h in ("エグゼクティブサマリー", "適用宣言書", "データの所在地", "特権アクセス一覧", "検出事項", "リスク受容"):
        assert h in headings
    assert page.text_content("h1") == "ISO/IEC 27017 クラウド監査報告書"
    assert page.evaluate("document.documentElement.lang") == "ja"
    page.select_option("#f-severity", label="緊急")
    assert {r[0] for r in visible_rows(page)} == {"緊急"}
    assert "不適合" in {r[1] for r in visible_rows(page)}
    page.select_option("#f-severity", value="")
    page.fill("#f-search", "osaka")
    expect(page.locator("#findings-body tr.finding")).to_have_count(1)
    expected = [r["reason_ja"] for r in engine_rows() if r["resource_id"] == "arn:aws:s3:::osaka"]
    assert [visible_rows(page)[0][7]] == expected and "許可された国の範囲内" in expected[0]
    assert errors == []
    page.close()
