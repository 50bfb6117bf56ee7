"""Reports at scale: 100k findings -> HTML (targets: <= 20 MB, interactive in Chromium in <= 3 s).

Renders synthetic findings (``estate.findings``) with ``cloudaudit.reports.write_report``,
then opens the file in headless Chromium through Playwright and measures the time from
``page.goto(file://...)`` until the findings table (``#findings-body``) has rows.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import estate
from ._common import measure, table, verdict

TARGET_MB = 20.0
TARGET_INTERACTIVE_S = 3.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]
ROWS_SELECTOR = "#findings-body tr"


@dataclass
class ReportResult:
    """Figures of one report benchmark run."""

    findings: int
    lang: str
    render_s: float = 0.0
    render_peak_mb: float = 0.0
    size_mb: float = 0.0
    interactive_s: list[float] = field(default_factory=list)
    dom_content_loaded_s: float | None = None
    table_rows: int = 0
    not_measured: str | None = None
    error: str | None = None

    def rows(self) -> list[list[Any]]:
        out: list[list[Any]] = [
            ["findings", self.findings, "", ""],
            [f"render + write HTML ({self.lang}) (s)", self.render_s, "", ""],
            ["  peak RSS while rendering (MB)", self.render_peak_mb, "", ""],
            ["HTML file size (MB)", self.size_mb, TARGET_MB, verdict(self.size_mb, TARGET_MB)],
        ]
        if self.interactive_s:
            med = statistics.median(self.interactive_s)
            out.append([f"time to interactive, median of {len(self.interactive_s)} (s)", med,
                        TARGET_INTERACTIVE_S, verdict(med, TARGET_INTERACTIVE_S)])
            out.append(["  runs (s)", " / ".join(f"{v:.2f}" for v in self.interactive_s), "", ""])
            if self.dom_content_loaded_s is not None:
                out.append(["  DOMContentLoaded (s)", self.dom_content_loaded_s, "", ""])
            out.append(["  table rows shown at first paint", self.table_rows, "", ""])
        else:
            out.append(["time to interactive", "not measured: " + (self.not_measured or "?"), TARGET_INTERACTIVE_S, ""])
        if self.error:
            out.append(["error", self.error, "", ""])
        return out

    def render(self, markdown: bool = False) -> str:
        return table(self.rows(), ["figure", "value", "target", "verdict"], markdown)


def time_to_interactive(path: Path, runs: int = 3, chromium: str = CHROMIUM) -> tuple[list[float], float | None, int]:
    """Seconds from goto(file://) until the findings table has rows, for each of ``runs`` fresh pages.

    Raises ImportError when Playwright is missing and FileNotFoundError when Chromium is.
    """
    from playwright.sync_api import sync_playwright

    if not Path(chromium).exists():
        raise FileNotFoundError(f"{chromium} not found")
    url = path.resolve().as_uri()
    times: list[float] = []
    dcl = None
    shown = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            for _ in range(runs):
                context = browser.new_context()
                page = context.new_page()
                start = time.perf_counter()
                page.goto(url, wait_until="commit", timeout=120_000)
                page.wait_for_selector(ROWS_SELECTOR, state="attached", timeout=120_000)
                times.append(time.perf_counter() - start)
                shown = page.locator(ROWS_SELECTOR).count()
                nav = page.evaluate("() => { const e = performance.getEntriesByType('navigation')[0];"
                                    " return e ? e.domContentLoadedEventEnd : null; }")
                dcl = nav / 1000 if nav else dcl
                context.close()
        finally:
            browser.close()
    return times, dcl, shown


def run(n: int = 100_000, *, lang: str = "en", directory: str | Path | None = None, browser: bool = True,
        runs: int = 3) -> ReportResult:
    """Render ``n`` synthetic findings to HTML and time it (and its interactivity)."""
    result = ReportResult(findings=n, lang=lang)
    try:
        from cloudaudit.reports import write_report
    except ImportError as exc:
        result.error = f"cloudaudit.reports.write_report is not available: {exc}"
        return result
    found = estate.findings(n)
    tmp = tempfile.TemporaryDirectory(prefix="cloudaudit-bench-") if directory is None else None
    out_dir = Path(directory or tmp.name)
    path = out_dir / f"report-{n}-{lang}.html"
    try:
        with measure() as m:
            write_report(found, path, fmt="html", lang=lang)
        result.render_s, result.render_peak_mb = m.wall, m.peak_mb
        result.size_mb = path.stat().st_size / 1024 / 1024
        if browser:
            try:
                result.interactive_s, result.dom_content_loaded_s, result.table_rows = time_to_interactive(path, runs)
            except ImportError:
                result.not_measured = "Playwright for Python is not installed"
            except FileNotFoundError as exc:
                result.not_measured = f"Chromium is missing ({exc})"
            except Exception as exc:  # noqa: BLE001 - a browser failure is reported, not fatal
                result.not_measured = f"browser run failed: {type(exc).__name__}: {exc}".splitlines()[0]
        else:
            result.not_measured = "browser run disabled"
    finally:
        if tmp is not None:
            tmp.cleanup()
    return result


def main(quick: bool = False) -> ReportResult:
    """Run at full (100k findings) or quick (1k) size and print the table."""
    result = run(100_000 // (estate.QUICK_DIVISOR if quick else 1))
    print("== report at scale ==")
    print(result.render())
    return result
