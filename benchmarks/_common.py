"""Shared helpers: peak-memory probes, CPU time and plain-text / Markdown tables."""

from __future__ import annotations

import os
import resource
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

MB = 1024 * 1024


def _status_kb(field_name: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float:
    """Current resident set size of this process in MB."""
    kb = _status_kb("VmRSS")
    return (kb or 0) / 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False where Linux refuses."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak RSS since the last :func:`reset_peak_rss` (or process start) in MB."""
    kb = _status_kb("VmHWM")
    if kb is None:  # not Linux: ru_maxrss is KB on Linux, bytes on macOS
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return kb / 1024


@dataclass
class Measure:
    """Wall time, CPU time (this process) and peak RSS of a block."""

    wall: float = 0.0
    cpu: float = 0.0
    peak_mb: float = 0.0
    start_mb: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def measure() -> Iterator[Measure]:
    """``with measure() as m: ...`` fills ``m.wall``, ``m.cpu``, ``m.peak_mb`` (whole-process peak RSS)."""
    m = Measure()
    reset_peak_rss()
    m.start_mb = rss_mb()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        yield m
    finally:
        m.wall = time.perf_counter() - wall0
        m.cpu = time.process_time() - cpu0
        m.peak_mb = peak_rss_mb()


def fmt(value: Any) -> str:
    """Numbers rounded for tables; everything else as text."""
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], markdown: bool = False) -> str:
    """A fixed-width text table (or a Markdown table) of ``rows``."""
    cells = [[fmt(v) for v in row] for row in rows]
    if markdown:
        out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in cells]
        return "\n".join(out)
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    for r in cells:
        out.append("  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths)))
    return "\n".join(out)


def _numeric(text: str) -> bool:
    return bool(text) and text.replace(",", "").replace(".", "", 1).lstrip("-").isdigit()


def verdict(value: float, target: float) -> str:
    """'ok', 'MISSED by 12 %' or 'MISSED (x8.5)' for a lower-is-better figure."""
    if value <= target:
        return "ok"
    ratio = value / target
    return f"MISSED by {(ratio - 1) * 100:.0f} %" if ratio < 2 else f"MISSED (x{ratio:.1f})"


def machine() -> dict[str, str]:
    """Facts about this machine for docs/performance.md."""
    import platform

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            mem = f"{int(fh.readline().split()[1]) / MB:.1f} GB"
    except OSError:
        pass
    versions = {}
    for name in ("pandas", "numpy", "pyarrow", "boto3", "moto", "jinja2", "dask", "distributed", "playwright"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:  # noqa: BLE001 - absent optional package
            versions[name] = "absent"
    try:
        load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        load = "unknown"
    return {"cpus": str(os.cpu_count()), "cpu": cpu, "memory": mem, "load average 1/5/15 min (at start)": load,
            "python": platform.python_version(), "platform": platform.platform(), **versions}
