"""Machine-readable exports of findings (CSV, XLSX, JSON, OCSF), written atomically.

CSV and XLSX cells whose text starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return
get a leading apostrophe, so a tag value from the audited tenant can never become a formula.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd

from .i18n import localized

FORMATS: tuple[str, ...] = ("html", "csv", "xlsx", "json", "ocsf")
OCSF_VERSION = "1.3.0"
_FORMULA_START = re.compile(r"^[=+\-@\t\r]")
# characters XML 1.0 (and so XLSX) cannot hold
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def atomic_write(path: str | Path, write: Callable[[Any], None], mode: str = "w", encoding: str | None = "utf-8") -> Path:
    """Write through a temporary file in the same folder, then rename over the target.

    A crash mid-write leaves the previous file untouched; the data is on disk before the rename.
    A new file is readable by its owner only (a report holds the tenant's configuration, like
    the evidence bundle); a file that already exists keeps the permissions it was given.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)  # mode 0600
    try:
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None,
                       **({"newline": ""} if "b" not in mode else {})) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_json(findings: Any, path: str | Path) -> Path:
    """Findings as a JSON array of objects (controls and policy items as lists), written chunk
    by chunk: the same text as ``json.dump(findings.to_records(), indent=1)``."""
    def write(handle: Any) -> None:
        _write_array(handle, (record for part in findings.chunks() for record in part.to_records()),
                     lambda record: json.dumps(record, ensure_ascii=False, indent=1).replace("\n", "\n "),
                     "[\n ", ",\n ", "\n]")

    return atomic_write(path, write)


def _write_array(handle: Any, items: Any, dumps: Callable[[Any], str], open_: str, sep: str, close: str) -> None:
    """A JSON array of ``items`` written one at a time (``[]`` when there are none)."""
    first = True
    for item in items:
        handle.write((open_ if first else sep) + dumps(item))
        first = False
    handle.write("[]" if first else close)


# ----------------------------------------------------------------------------- spreadsheet safety

def neutralize(series: pd.Series) -> pd.Series:
    """Prefix an apostrophe to text values that a spreadsheet would read as a formula."""
    if not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
        return series
    text = series.astype("string")
    risky = text.str.match(_FORMULA_START).fillna(False).astype(bool)
    if not risky.any():
        return series
    out = series.astype(object).copy()
    out[risky] = "'" + text[risky]
    return out


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text column neutralized and timestamps as ISO text (Excel has no time zones)."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s):
            out[col] = s.map(lambda v: v.isoformat() if not pd.isna(v) else None).astype(object)
        elif isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = neutralize(s.astype(object))
        else:
            out[col] = neutralize(s)
    out.columns = [str(c) for c in neutralize(pd.Series([str(c) for c in out.columns], dtype=object))]
    return out


def findings_table(findings: Any) -> pd.DataFrame:
    """The findings as exported to CSV and the XLSX findings sheet (every row, every column)."""
    return safe_frame(findings.df)


def write_csv(findings: Any, path: str | Path) -> Path:
    """Findings as CSV in UTF-8 with a BOM (so Excel shows Japanese correctly), written chunk by
    chunk (a large run's rows are never all held as text)."""
    def write(handle: Any) -> None:
        handle.write("\ufeff")
        for n, part in enumerate(findings.chunks()):
            findings_table(part).to_csv(handle, index=False, header=n == 0, lineterminator="\r\n")

    return atomic_write(path, write)


# ----------------------------------------------------------------------------- XLSX

def _coverage_frame(findings: Any) -> pd.DataFrame:
    cov = findings.coverage()
    rows = [{"item": "evaluated", "value": cov["evaluated"]}, {"item": "total", "value": cov["total"]},
            {"item": "ratio", "value": round(cov["ratio"], 4)}]
    rows += [{"item": "error", "value": n, "reason": reason} for reason, n in cov["errors"].items()]
    return pd.DataFrame(rows, columns=["item", "value", "reason"])


def _not_available(what: str) -> pd.DataFrame:
    return pd.DataFrame({what: ["not available"]})


def _xml_safe(values: Any) -> list[Any]:
    """One XLSX row (header or data) with the characters XML cannot hold replaced by U+FFFD."""
    return [_ILLEGAL_XML.sub("\ufffd", v) if isinstance(v, str) else v for v in values]


def write_xlsx(findings: Any, path: str | Path, *, residency: pd.DataFrame | None = None,
               privileged: pd.DataFrame | None = None, **_: Any) -> Path:
    """An Excel workbook with sheets findings, controls, residency, privileged and coverage
    (findings past Excel's 1,048,575 data rows per sheet go on sheets ``findings 2`` ...)."""
    from openpyxl import Workbook

    from .html import derive_privileged, derive_residency

    residency = residency if residency is not None else derive_residency(findings)
    privileged = privileged if privileged is not None else derive_privileged(findings)
    book = Workbook(write_only=True)
    _findings_sheets(book, findings)
    sheets = {
        "controls": safe_frame(findings.by_control()),
        "residency": safe_frame(residency) if residency is not None else _not_available("residency"),
        "privileged": safe_frame(privileged) if privileged is not None else _not_available("privileged"),
        "coverage": safe_frame(_coverage_frame(findings)),
    }
    for name, frame in sheets.items():
        sheet = _sheet(book, name, frame.columns)
        for values in _cells(frame):
            sheet.append(_xml_safe(values))
    return atomic_write(path, book.save, mode="wb")


XLSX_MAX_ROWS = 1_048_576  # rows of an Excel sheet, the header included


def _findings_sheets(book: Any, findings: Any, max_rows: int = XLSX_MAX_ROWS) -> None:
    """The findings, chunk by chunk, on sheets ``findings``, ``findings 2`` ... of at most
    ``max_rows`` rows each (a large run has more findings than one Excel sheet holds)."""
    sheet, used, number = None, 0, 1
    for part in findings.chunks():
        table = findings_table(part)
        if sheet is None:
            sheet, used = _sheet(book, "findings", table.columns), 1
        for values in _cells(table):
            if used == max_rows:
                number += 1
                sheet, used = _sheet(book, f"findings {number}", table.columns), 1
            sheet.append(_xml_safe(values))
            used += 1


def _sheet(book: Any, name: str, columns: Any) -> Any:
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(name)
    sheet.freeze_panes = "A2"
    for i, col in enumerate(columns, start=1):
        width = 60 if col in ("reason", "reason_ja", "evidence", "title", "title_ja", "resource_id") else 16
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.append(_xml_safe(columns))
    return sheet


def _cells(frame: pd.DataFrame) -> Iterator[tuple]:
    return frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)


# ----------------------------------------------------------------------------- OCSF

OCSF_SEVERITY = {"info": (1, "Informational"), "low": (2, "Low"), "medium": (3, "Medium"),
                 "high": (4, "High"), "critical": (5, "Critical")}
# compliance.status_id: 1 Pass, 2 Warning ("did not yield a result due to missing information"),
# 3 Fail, 99 Other. ERROR (not evaluated) is exactly Warning's meaning; WARN keeps its own label.
OCSF_COMPLIANCE = {"PASS": (1, "Pass"), "FAIL": (3, "Fail"), "ERROR": (2, "Warning"), "WARN": (99, "Warn"),
                   "SUPPRESSED": (3, "Fail")}
# finding status_id: 1 New, 3 Suppressed.
OCSF_FINDING_STATUS = {"SUPPRESSED": (3, "Suppressed")}
OCSF_PROVIDERS = {"aws": "AWS", "azure": "Azure", "gcp": "GCP"}
STANDARD = "ISO/IEC 27017:2015"


def ocsf_events(findings: Any, lang: str = "en", tool_version: str | None = None) -> list[dict[str, Any]]:
    """Findings as OCSF Compliance Finding events (class 2003, category 2), schema version ``OCSF_VERSION``."""
    return [event for part in findings.chunks() for event in _ocsf_events(part, lang, tool_version)]


def _ocsf_events(findings: Any, lang: str, tool_version: str | None) -> Iterator[dict[str, Any]]:
    from cloudaudit._version import __version__

    version = tool_version or __version__
    titles = localized(findings.df, "title", lang).tolist()
    reasons = localized(findings.df, "reason", lang).tolist()
    for r, title, reason in zip(findings.to_records(), titles, reasons):
        status = r["status"]
        sev_id, sev = OCSF_SEVERITY.get(r["severity"] or "", (0, "Unknown"))
        comp_id, comp = OCSF_COMPLIANCE[status]
        fstat_id, fstat = OCSF_FINDING_STATUS.get(status, (1, "New"))
        key = "|".join(str(r.get(k) or "") for k in ("check_id", "provider", "account_id", "region", "resource_id"))
        collected = pd.Timestamp(r["collected_at"]) if r["collected_at"] else None
        event: dict[str, Any] = {
            "class_uid": 2003, "class_name": "Compliance Finding", "category_uid": 2, "category_name": "Findings",
            "activity_id": 1, "activity_name": "Create", "type_uid": 200301, "type_name": "Compliance Finding: Create",
            "severity_id": sev_id, "severity": sev, "status_id": fstat_id, "status": fstat,
            "time": int(collected.timestamp() * 1000) if collected is not None else None,
            "message": reason,
            "metadata": {"version": OCSF_VERSION, "profiles": ["cloud"],
                         "product": {"name": "cloudaudit", "vendor_name": "cloudaudit", "version": version},
                         "correlation_uid": r["run_id"]},
            "finding_info": {"uid": hashlib.sha256(key.encode("utf-8")).hexdigest(), "title": title, "desc": reason,
                             "types": [STANDARD]},
            "compliance": {"control": r["check_id"], "standards": [STANDARD],
                           "requirements": [f"{STANDARD} {c}" for c in r["controls"]],
                           "status_id": comp_id, "status": comp, "status_code": status, "status_detail": reason},
            "cloud": {"provider": OCSF_PROVIDERS.get(r["provider"] or "", r["provider"]),
                      "account": {"uid": r["account_id"]}, "region": r["region"]},
            "resources": [{"uid": r["resource_id"], "region": r["region"], "data": r["evidence"],
                           "cloud_partition": None,
                           "labels": [f"classification:{r['classification']}"] if r["classification"] else []}]
            if r["resource_id"] else [],
            "remediation": {"desc": r["remediation"]} if r["remediation"] else None,
            "unmapped": {"policy_items": r["policy_items"], "acceptance": r["acceptance"],
                         "classification": r["classification"]},
        }
        for obj in (event["resources"][0] if event["resources"] else {}, event):
            for k in [k for k, v in obj.items() if v is None]:
                del obj[k]
        yield event


def write_ocsf(findings: Any, path: str | Path, lang: str = "en", tool_version: str | None = None) -> Path:
    """OCSF Compliance Finding events as a JSON array (one event per finding)."""
    def write(handle: Any) -> None:
        events = (event for part in findings.chunks() for event in _ocsf_events(part, lang, tool_version))
        _write_array(handle, events, lambda e: json.dumps(e, ensure_ascii=False, separators=(",", ":")),
                     "[", ",", "]")

    return atomic_write(path, write)


# ----------------------------------------------------------------------------- dispatcher

def write_html(findings: Any, path: str | Path, lang: str = "en", **context: Any) -> Path:
    """The self-contained HTML report (see :func:`cloudaudit.reports.render_html`)."""
    from .html import render_html

    text = render_html(findings, lang=lang, **context)
    return atomic_write(path, lambda f: f.write(text))


def write_report(findings: Any, path: str | Path, fmt: str = "html", lang: str = "en", **context: Any) -> Path:
    """Write findings as ``fmt`` (html, csv, xlsx, json, ocsf) to ``path``, atomically.

    ``context`` goes to the HTML renderer (organization, scope, residency, privileged, drift ...);
    XLSX uses ``residency`` and ``privileged``; OCSF uses ``tool_version``.
    """
    from .i18n import check_language

    check_language(lang)
    if fmt == "html":
        return write_html(findings, path, lang=lang, **context)
    if fmt == "csv":
        return write_csv(findings, path)
    if fmt == "xlsx":
        return write_xlsx(findings, path, **context)
    if fmt == "json":
        return write_json(findings, path)
    if fmt == "ocsf":
        return write_ocsf(findings, path, lang=lang, tool_version=context.get("tool_version"))
    raise ValueError(f"report format {fmt!r} is not supported (choose from {', '.join(FORMATS)})")
