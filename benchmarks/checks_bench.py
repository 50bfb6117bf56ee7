"""Checks at scale: every registered check over the synthetic estate (target: <= 5 s, <= 1.5 GB).

Times ``cloudaudit.engine.run_checks`` over the whole inventory, then each check alone: the
check function itself (``Check.run``) and ``run_checks(inv, policy, checks=[id])`` (which adds
the engine's work: result validation, coverage gaps, classification, acceptances). Reasons and
evidence are rendered when read: after the whole run, the benchmark measures rendering the
open rows' text, the HTML report of the run, and then every row's text (``Findings.df``).
New checks are picked up from the registry automatically.
"""

from __future__ import annotations

import gc
import statistics
from dataclasses import dataclass, field
from typing import Any, Sequence

from cloudaudit.engine import clear_run_caches, registry, run_checks
from cloudaudit.policy import Policy
from cloudaudit.reports import render_html

from . import estate
from ._common import measure, table, verdict

TARGET_SECONDS = 5.0
TARGET_MB = 1536.0


@dataclass
class ChecksResult:
    """Figures of one check benchmark run."""

    sizes: estate.Sizes
    rows: dict[str, int]
    generate_s: float
    inventory_mb: float
    total_s: float = 0.0        # the median of the runs below
    total_cpu_s: float = 0.0
    peak_mb: float = 0.0        # the highest of the runs
    first_peak_mb: float = 0.0  # the first run's, in a process that has run nothing before (a nightly job)
    runs_s: list[float] = field(default_factory=list)  # each run_checks call (the machine is shared: they vary)
    findings: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    crashed: list[str] = field(default_factory=list)  # checks that raised (ERROR "check failed") on the estate
    open_rows: int = 0          # FAIL, WARN and ERROR findings: what the report lists and Findings.failed returns
    render_open_s: float = 0.0  # their reasons and evidence
    render_open_mb: float = 0.0
    report_s: float = 0.0       # the English HTML report of the run (reports.render_html)
    report_mb: float = 0.0
    report_size_mb: float = 0.0
    render_all_s: float = 0.0   # every finding's reasons and evidence (Findings.df)
    render_all_cpu_s: float = 0.0
    render_all_mb: float = 0.0
    per_check: list[dict[str, Any]] = field(default_factory=list)

    def summary_rows(self) -> list[list[Any]]:
        """(figure, value, target, verdict) rows."""
        checks_only = sum(c["function_s"] for c in self.per_check) if self.per_check else None
        rows = [
            ["inventory", f"{self.rows['resources']:,} resources, {self.rows['principals']:,} principals, "
                          f"{self.rows['grants']:,} grants, {self.rows['network_rules']:,} rules, "
                          f"{self.sizes.accounts:,} accounts", "", ""],
            ["generate inventory (s)", self.generate_s, "", ""],
            ["checks registered", len(registry()), "", ""],
            [f"run_checks, all checks (s){', median of ' + str(len(self.runs_s)) if len(self.runs_s) > 1 else ''}",
             self.total_s, TARGET_SECONDS, verdict(self.total_s, TARGET_SECONDS)],
            *([["  each run (s)", " / ".join(f"{s:.2f}" for s in self.runs_s), "", ""]] if len(self.runs_s) > 1 else []),
            ["  CPU time (s)", self.total_cpu_s, "", ""],
            ["  findings rows", self.findings, "", ""],
            ["  by status", ", ".join(f"{s} {n:,}" for s, n in sorted(self.statuses.items(), key=lambda i: -i[1])),
             "", ""],
            ["  checks that raised", ", ".join(self.crashed) or "none", "none", "ok" if not self.crashed else "FAIL"],
            ["peak RSS during the run (MB)", self.peak_mb, TARGET_MB, verdict(self.peak_mb, TARGET_MB)],
            *([["  of the first run alone (MB)", self.first_peak_mb, "", ""]] if len(self.runs_s) > 1 else []),
            ["  of which inventory held before (MB)", self.inventory_mb, "", ""],
            [f"then: text of the {self.open_rows:,} FAIL/WARN/ERROR rows (s)", self.render_open_s, "", ""],
            ["  peak RSS (MB)", self.render_open_mb, "", ""],
            ["then: HTML report of the run (s)", self.report_s, "", ""],
            ["  peak RSS (MB)", self.report_mb, "", ""],
            ["  file size (MB)", self.report_size_mb, "", ""],
            ["then: text of every row, Findings.df (s)", self.render_all_s, "", ""],
            ["  CPU time (s)", self.render_all_cpu_s, "", ""],
            ["  peak RSS (MB)", self.render_all_mb, "", ""],
        ]
        if checks_only is not None:
            rows.append(["sum of check functions alone (s)", checks_only, "", ""])
        return rows

    def per_check_rows(self) -> list[list[Any]]:
        ordered = sorted(self.per_check, key=lambda c: -c["run_checks_s"])
        return [[c["check_id"], c["rows"], c["function_s"], c["run_checks_s"], c["engine_s"], c["peak_mb"]]
                for c in ordered]

    def render(self, markdown: bool = False) -> str:
        out = [table(self.summary_rows(), ["figure", "value", "target", "verdict"], markdown)]
        if self.per_check:
            out.append("")
            out.append(table(self.per_check_rows(), ["check", "findings", "check fn (s)", "run_checks (s)",
                                                     "engine part (s)", "peak RSS (MB)"], markdown))
        return "\n".join(out)


def run(sizes: estate.Sizes = estate.Sizes(), *, seed: int = 27017, per_check: bool = True,
        full: bool = True, policy: Policy | None = None, check_ids: Sequence[str] | None = None,
        repeat: int = 1) -> ChecksResult:
    """Generate the estate, run the checks and return the figures (nothing printed).

    The whole run is timed ``repeat`` times (the median counts, the highest peak RSS); each
    run's findings are dropped before the next, and the last run's are read after it."""
    policy = policy or Policy()
    with measure() as gen:
        inv = estate.generate(sizes, seed=seed)
    rows = {name: len(frame) for name, frame in inv.tables.items()}
    result = ChecksResult(sizes=sizes, rows=rows, generate_s=gen.wall, inventory_mb=0.0)
    checks = registry()
    ids = list(check_ids) if check_ids is not None else list(checks)
    # The whole run first, then each check alone. Tables several checks share (classification,
    # data-bearing resources, identities) live for one run_checks call, so every run below
    # computes the ones its check needs.
    if full:
        runs = []
        findings = None
        for _ in range(max(1, repeat)):
            del findings
            gc.collect()
            with measure() as m:
                findings = run_checks(inv, policy, checks=ids if check_ids is not None else None)
            runs.append(m)
        result.inventory_mb = runs[0].start_mb
        result.runs_s = [m.wall for m in runs]
        result.total_s = statistics.median(result.runs_s)
        result.total_cpu_s = statistics.median(m.cpu for m in runs)
        result.peak_mb = max(m.peak_mb for m in runs)
        result.first_peak_mb = runs[0].peak_mb  # later runs start from the heap the earlier ones left
        result.findings = len(findings)
        status = findings.core["status"]
        result.statuses = {str(k): int(v) for k, v in status.value_counts().items()}
        # What consumers read next, each measured on its own: the open rows' text (the report,
        # Findings.failed), the HTML report, then every row's (Findings.df, exports, history).
        with measure() as m:
            shown = findings.rows(status.isin(["FAIL", "WARN", "ERROR"]).to_numpy())
        result.open_rows, result.render_open_s, result.render_open_mb = len(shown), m.wall, m.peak_mb
        raised = shown["reason"].str.startswith("check failed:").fillna(False).astype(bool)
        result.crashed = sorted(shown.loc[raised, "check_id"].astype(str).unique())
        del shown, raised
        with measure() as m:
            html = render_html(findings, lang="en")
        result.report_s, result.report_mb = m.wall, m.peak_mb
        result.report_size_mb = len(html.encode("utf-8")) / 1e6
        del html
        with measure() as m:
            findings.df
        result.render_all_s, result.render_all_cpu_s, result.render_all_mb = m.wall, m.cpu, m.peak_mb
        del findings, status  # the per-check peaks below must not include the whole run's findings
    if per_check:
        for check_id in ids:
            gc.collect()
            c = checks[check_id]
            with measure() as fn:
                produced = c.run(inv, policy)
            n = len(produced)
            del produced
            clear_run_caches()  # the run below computes its shared tables again, as the function did
            gc.collect()
            with measure() as whole:
                one = run_checks(inv, policy, checks=[check_id])
            result.per_check.append({"check_id": check_id, "rows": len(one), "function_rows": n,
                                     "function_s": fn.wall, "run_checks_s": whole.wall,
                                     "engine_s": max(0.0, whole.wall - fn.wall), "peak_mb": whole.peak_mb})
            del one
    return result


def main(quick: bool = False, per_check: bool = True, repeat: int = 3) -> ChecksResult:
    """Run at full (or quick) size and print the tables."""
    sizes = estate.Sizes().scaled(estate.QUICK_DIVISOR) if quick else estate.Sizes()
    result = run(sizes, per_check=per_check, repeat=repeat)
    print("== checks at scale ==")
    print(result.render())
    return result
