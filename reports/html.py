"""The self-contained HTML report (jinja2, autoescaped) and the compact notebook view.

Everything the page needs is inlined at render time: CSS and JS from ``static/``, charts as
SVG drawn here, findings as a JSON block that the inline script turns into the table with
``textContent`` only. A Content-Security-Policy meta tag forbids every network load and
every script but the report's own (allowed by its SHA-256 hash).
"""

from __future__ import annotations

import base64
import hashlib
import json
import numbers
import re
import string
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable, Mapping, Sequence

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from cloudaudit.frames import filled

from . import i18n
from .i18n import LABELS, LEVEL_NAMES, SEVERITY_NAMES, STATUS_NAMES, fmt_datetime, fmt_int, fmt_ratio, localized

STATUSES = ("PASS", "FAIL", "WARN", "ERROR", "SUPPRESSED")
SEVERITIES = ("info", "low", "medium", "high", "critical")
OPEN = ("FAIL", "WARN")
# PASS rows beyond this many are counted, not listed.
DEFAULT_PASS_CAP = 2000
# Non-PASS rows beyond this many (the least severe) are counted, not listed: a browser stays
# responsive with 100k rows (~10 MB); an estate of a million resources can have millions.
DEFAULT_OPEN_CAP = 100_000
# Static tables (residency, roster, isolation list, drift) list at most this many rows.
TABLE_CAP = 1000

STATUS_COLORS = {"PASS": "#2e7d32", "FAIL": "#c62828", "WARN": "#ef6c00", "ERROR": "#6a1b9a",
                 "SUPPRESSED": "#607d8b"}
SEVERITY_COLORS = {"info": "#90a4ae", "low": "#7cb342", "medium": "#fbc02d", "high": "#f57c00",
                   "critical": "#b71c1c"}


# ----------------------------------------------------------------------------- assets

def _static(name: str) -> str:
    return resources.files("cloudaudit.reports").joinpath("static", name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    loader = jinja2.PackageLoader("cloudaudit.reports", "templates")
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def script_hash(script: str) -> str:
    """The CSP source expression allowing exactly this inline script."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def json_for_script(data: Any) -> str:
    """Compact JSON safe inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` become ``\\u003c`` etc., so ``</script>`` or ``<!--`` in a value
    cannot end the block or open a comment; JSON.parse restores them.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


# ----------------------------------------------------------------------------- small helpers

def _s(value: Any) -> str:
    """Display text of a cell ('' for missing)."""
    if value is None:
        return ""
    if not isinstance(value, (list, tuple, dict)) and pd.isna(value):
        return ""
    return str(value)


def _texts(series: pd.Series) -> list[str | None]:
    """Plain Python strings for JSON (None for missing: never NaN, which JSON cannot hold)."""
    return [None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v)
            for v in series.astype(object).tolist()]


def _cell(text: Any, cls: str = "") -> dict[str, str]:
    return {"text": _s(text), "cls": cls}


def _status_cell(status: str, lang: str) -> dict[str, str]:
    return _cell(STATUS_NAMES[lang].get(status, status), "st st-" + status.replace(" ", "_"))


def _table(columns: Sequence[str], rows: list[list[Any]], row_classes: Sequence[str] | None = None,
           total: int | None = None) -> dict[str, Any]:
    """A table for the ``table`` macro: cells are plain text or {"text", "cls"} dicts."""
    cells = [[c if isinstance(c, dict) else _cell(c) for c in row] for row in rows]
    return {"columns": list(columns), "rows": cells,
            "classes": list(row_classes) if row_classes is not None else [""] * len(rows),
            "total": len(rows) if total is None else total}


def _evidence_dicts(evidence: pd.Series) -> list[dict[str, Any]]:
    """Each cell of a column of JSON evidence objects as a dict ({} for missing or empty)."""
    return [json.loads(e) if e else {} for e in evidence.astype(object).where(evidence.notna(), "").tolist()]


def _evidence_text(evidence: pd.Series, key: str) -> pd.Series:
    """The top-level ``key`` of each JSON evidence object as text (<NA> where absent or null).

    String values are cut out by one regular expression over the column (a report of a large
    estate reads this from millions of rows); only rows where that cannot decide (escapes, a
    non-string value) are parsed. A tenant's text cannot fake a key: inside a JSON string every
    quote is escaped.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    strings = pa.array(evidence.astype("string"), from_pandas=True)
    pattern = '[{,]\\s*"' + re.escape(key) + '"\\s*:\\s*"(?P<v>[^"\\\\]*)"'
    found = pc.struct_field(pc.extract_regex(strings, pattern), [0])
    out = pd.Series(found.to_pandas(types_mapper=pd.ArrowDtype).astype("string").array, index=evidence.index)
    mentioned = pc.fill_null(pc.match_substring(strings, f'"{key}"'), False).to_numpy(zero_copy_only=False)
    unsure = np.flatnonzero(mentioned & out.isna().to_numpy())
    if len(unsure):
        parsed = [json.loads(e).get(key) if e else None for e in evidence.iloc[unsure].astype(object)]
        out.iloc[unsure] = pd.array([None if v is None else str(v) for v in parsed], dtype="string")
    return out


def _evidence_frame(evidence: pd.Series) -> pd.DataFrame:
    """Parse a column of JSON evidence objects into a DataFrame (missing keys become NaN)."""
    if evidence.empty:
        return pd.DataFrame(index=evidence.index)
    return pd.DataFrame.from_records(_evidence_dicts(evidence), index=evidence.index)


# ----------------------------------------------------------------------------- SVG charts

def _bar_chart(items: Sequence[tuple[str, int, str]], lang: str, width: int = 420) -> Markup:
    """Horizontal bars: (label, value, colour) per bar, labels escaped."""
    bar_h, gap, label_w = 22, 8, 110
    top = max([v for _, v, _ in items] + [1])
    height = len(items) * (bar_h + gap) + gap
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    for i, (label, value, colour) in enumerate(items):
        y = gap + i * (bar_h + gap)
        w = int((width - label_w - 70) * value / top)
        parts.append(f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end" class="chart-label">{escape(label)}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{max(w, 1 if value else 0)}" height="{bar_h}" '
                     f'fill="{colour}" rx="3"></rect>'
                     f'<text x="{label_w + w + 6}" y="{y + 16}" class="chart-value">{escape(fmt_int(value, lang))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _ring(ratio: float, lang: str, size: int = 140) -> Markup:
    """A coverage ring with the percentage in the middle."""
    r = size / 2 - 12
    circumference = 2 * 3.141592653589793 * r
    done = circumference * max(0.0, min(1.0, ratio))
    colour = "#2e7d32" if ratio >= 0.99 else "#ef6c00" if ratio >= 0.9 else "#c62828"
    c = size / 2
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart ring" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" role="img">'
        f'<circle cx="{c}" cy="{c}" r="{r:.1f}" fill="none" stroke="#e0e0e0" stroke-width="14"></circle>'
        f'<circle cx="{c}" cy="{c}" r="{r:.1f}" fill="none" stroke="{colour}" stroke-width="14" '
        f'stroke-dasharray="{done:.1f} {circumference:.1f}" transform="rotate(-90 {c} {c})"></circle>'
        f'<text x="{c}" y="{c + 7}" text-anchor="middle" class="ring-value">{escape(fmt_ratio(ratio, lang))}</text>'
        "</svg>")


# ----------------------------------------------------------------------------- sections

def _cover(findings: Any, lang: str, ctx: Mapping[str, Any]) -> dict[str, Any]:
    na = LABELS[lang]["not_available"]
    df = findings.core
    meta = getattr(findings, "meta", {}) or {}
    policy = getattr(findings, "policy", None)
    organization = ctx.get("organization") or meta.get("organization") or (policy.organization if policy else "")
    scope = ctx.get("scope") or meta.get("scope")
    if not scope:
        accounts = df[["provider", "account_id"]].dropna().drop_duplicates().astype("string")
        per = accounts.groupby("provider", observed=True)["account_id"].apply(lambda s: sorted(s.astype(str)))
        scope = [f"{p}: {', '.join(a[:8])}{' …' if len(a) > 8 else ''} ({fmt_int(len(a), lang)})"
                 for p, a in per.items()]
    if isinstance(scope, str):
        scope = [scope]
    collected = ctx.get("collected_at") or meta.get("collected_at")
    if collected is None and len(df):
        collected = df["collected_at"].max()
    from cloudaudit._version import __version__
    return {
        "organization": organization or na,
        "scope": list(scope) or [na],
        "collected_at": fmt_datetime(collected, lang),
        "tool_version": ctx.get("tool_version") or meta.get("tool_version") or __version__,
        "bundle_hash": ctx.get("bundle_hash") or meta.get("bundle_hash") or meta.get("bundle_sha256") or na,
        "run_id": findings.run_id or na,
        "generated_at": fmt_datetime(ctx.get("generated_at") or i18n.now_utc(), lang),
        "allowed_countries": ", ".join(policy.allowed_countries) if policy else na,
    }


def _summary(findings: Any, lang: str) -> dict[str, Any]:
    L = LABELS[lang]
    df = findings.core
    status_counts = df["status"].value_counts()
    open_ = df[df["status"].isin(OPEN)]
    sev_counts = open_["severity"].value_counts()
    status_chart = _bar_chart([(STATUS_NAMES[lang][s], int(status_counts.get(s, 0)), STATUS_COLORS[s])
                               for s in STATUSES], lang)
    severity_chart = _bar_chart([(SEVERITY_NAMES[lang][s], int(sev_counts.get(s, 0)), SEVERITY_COLORS[s])
                                 for s in reversed(SEVERITIES)], lang)
    # status counts, then open (FAIL/WARN) counts by severity, per provider and account
    sev_cols = [f"sev:{s}" for s in reversed(SEVERITIES)]
    if len(df):
        keys = [filled(df["provider"], "-").rename("provider"), filled(df["account_id"], "-").rename("account")]
        table = _by_text(pd.crosstab(keys, df["status"])).reindex(columns=list(STATUSES), fill_value=0)
        open_keys = [k[df["status"].isin(OPEN)] for k in keys]
        if len(open_):
            sev = _by_text(pd.crosstab(open_keys, ("sev:" + open_["severity"].astype(str))))
            table = table.join(sev.reindex(columns=sev_cols, fill_value=0), how="left").fillna(0).astype(int)
        table = table.reindex(columns=list(STATUSES) + sev_cols, fill_value=0)
    else:
        table = pd.DataFrame(columns=list(STATUSES) + sev_cols)
    rows = [[p, a, *[fmt_int(v, lang) for v in vals]] for (p, a), vals in
            zip(table.index[:TABLE_CAP], table.to_numpy()[:TABLE_CAP].tolist())]
    open_label = LABELS[lang]["open_findings"]
    per_account = _table([L["provider"], L["account"], *[STATUS_NAMES[lang][s] for s in STATUSES],
                          *[f"{open_label}: {SEVERITY_NAMES[lang][s]}" for s in reversed(SEVERITIES)]], rows,
                         total=len(table))
    cov = findings.coverage()
    errors = [[fmt_int(n, lang), reason] for reason, n in cov["errors"].items()]
    return {
        "status_chart": status_chart, "severity_chart": severity_chart, "per_account": per_account,
        "coverage_ring": _ring(cov["ratio"], lang),
        "coverage_text": L["coverage_text"].format(evaluated=fmt_int(cov["evaluated"], lang),
                                                  total=fmt_int(cov["total"], lang),
                                                  ratio=fmt_ratio(cov["ratio"], lang)),
        "errors": _table([L["count"], L["reason"]], errors),
        "status_counts": {s: int(status_counts.get(s, 0)) for s in STATUSES},
    }


def _soa(findings: Any, lang: str) -> dict[str, Any]:
    L = LABELS[lang]
    soa = findings.by_control()
    title = soa["title_ja"] if lang == "ja" else soa["title"]
    rows, classes = [], []
    for rec, t in zip(soa.to_dict(orient="records"), title):
        status = rec["status"]
        rows.append([rec["control"], t, i18n.AUTOMATION_NAMES[lang].get(rec["automation"], rec["automation"]),
                     _status_cell(status, lang), rec["checks"] or "—", fmt_int(rec["passed"], lang),
                     fmt_int(rec["failed"], lang), fmt_int(rec["errors"], lang)])
        classes.append("manual" if status == "MANUAL" else "")
    return _table([L["control"], L["title"], L["automation"], L["status"], L["checks"], L["passed"],
                   L["failed"], L["errors"]], rows, classes)


def _label(column: str, lang: str) -> str:
    aliases = {"account_id": "account", "resource_id": "resource", "n": "count", "last_used": "last_activity",
               "privilege": "role"}
    key = aliases.get(column, column)
    return LABELS[lang].get(key, column)


def _generic_table(frame: pd.DataFrame, lang: str, highlight: pd.Series | None = None) -> dict[str, Any]:
    """Any DataFrame as a report table (first TABLE_CAP rows; booleans and levels translated)."""
    shown = frame.head(TABLE_CAP)
    rows = []
    for rec in shown.astype(object).where(shown.notna(), None).to_dict(orient="records"):
        row = []
        for col, v in rec.items():
            if isinstance(v, bool):
                v = "✔" if v else "✘"
            elif col in ("classification", "level") and v in LEVEL_NAMES[lang]:
                v = LEVEL_NAMES[lang][v]
            elif col in ("mfa", "via") and v in i18n.VALUE_NAMES[lang]:
                v = i18n.VALUE_NAMES[lang][v]
            elif isinstance(v, pd.Timestamp):
                v = fmt_datetime(v, lang)
            row.append(_s(v))
        rows.append(row)
    classes = None
    if highlight is not None:
        classes = ["bad" if h else "" for h in highlight.head(TABLE_CAP).fillna(False).astype(bool)]
    return _table([_label(c, lang) for c in frame.columns], rows, classes, total=len(frame))


def _by_text(table: pd.DataFrame) -> pd.DataFrame:
    """A cross table of (provider, account) keys indexed and sorted by their text: keys held as
    categoricals (a run's findings) come in category order, and combinations without rows are
    dropped."""
    table = table[table.to_numpy().sum(axis=1) > 0]
    table.index = pd.MultiIndex.from_tuples([tuple(map(str, key)) for key in table.index], names=table.index.names)
    return table.sort_index()


def derive_residency(findings: Any) -> pd.DataFrame | None:
    """Resources per (provider, region, countries) from RES-* findings; None without located RES rows.

    ``outside`` counts distinct resources there that failed (or were accepted) a residency check.
    """
    df = findings.core
    res = findings.rows((df["check_id"].str.startswith("RES-", na=False)
                         & df["status"].isin(["PASS", "FAIL", "WARN", "SUPPRESSED"])).to_numpy(), text=["evidence"])
    if res.empty:
        return None
    countries = _evidence_text(res["evidence"], "countries")
    # Only rows that name a location (account-level checks such as guardrails carry none).
    located = (countries.notna() & (countries != "")).to_numpy(dtype=bool)
    res, countries = res[located], countries[located]
    if res.empty:
        return None
    region = res["region"].fillna(_evidence_text(res["evidence"], "region"))
    bad = res["status"].isin(["FAIL", "WARN", "SUPPRESSED"])
    frame = pd.DataFrame({
        "provider": res["provider"].fillna("-"), "region": region.fillna("-"),
        "countries": countries.astype(str), "resource_id": res["resource_id"].fillna(""),
        "outside_id": res["resource_id"].fillna("").where(bad)})
    # A resource counted once per location even when several RES checks looked at it.
    return (frame.groupby(["provider", "region", "countries"], dropna=False, observed=True)
            .agg(resources=("resource_id", "nunique"), outside=("outside_id", "nunique")).reset_index()
            .sort_values(["outside", "resources"], ascending=False).reset_index(drop=True))


def _residency(findings: Any, lang: str, residency: pd.DataFrame | None) -> dict[str, Any] | None:
    if residency is not None:
        highlight = None
        if "outside" in residency.columns:
            highlight = residency["outside"].astype("boolean")
        elif "allowed" in residency.columns:
            highlight = ~residency["allowed"].astype("boolean")
        return {"table": _generic_table(residency, lang, highlight), "derived": False}
    grouped = derive_residency(findings)
    if grouped is None:
        return None
    L = LABELS[lang]
    head = grouped.head(TABLE_CAP)
    rows = [[r.provider, r.region, r.countries, fmt_int(r.resources, lang), fmt_int(r.outside, lang)]
            for r in head.itertuples()]
    table = _table([L["provider"], L["region"], L["countries"], L["resources"], L["outside"]], rows,
                   ["bad" if r.outside else "" for r in head.itertuples()], total=len(grouped))
    return {"table": table, "derived": True}


_ROSTER_KEYS = {
    "principal": ("principal", "name", "user", "display_name"),
    "role": ("role", "roles", "privilege", "role_name"),
    "scope": ("scope", "grant_scope"),
    "mfa": ("mfa",),
    "standing": ("standing", "jit"),
    "last_activity": ("last_activity", "last_used", "last_sign_in", "last_login"),
}


def derive_privileged(findings: Any) -> pd.DataFrame | None:
    """A roster from the evidence of identity findings (AUTH/IAM/PRV/LCM rows whose evidence has ``mfa``)."""
    identity = findings.rows(findings.core["check_id"].str.match(r"^(AUTH|IAM|PRV|LCM)-", na=False).to_numpy(),
                             text=["evidence"])
    cand = identity[identity["evidence"].fillna("").str.contains('"mfa"', regex=False)]
    if cand.empty:
        return None
    ev = _evidence_frame(cand["evidence"])
    out = pd.DataFrame({"provider": cand["provider"], "account_id": cand["account_id"]}, index=cand.index)
    for target, keys in _ROSTER_KEYS.items():
        found = next((k for k in keys if k in ev.columns), None)
        out[target] = ev[found].astype(object) if found else None
    out["principal"] = out["principal"].where(out["principal"].notna(), cand["resource_id"])
    return out.drop_duplicates(["provider", "account_id", "principal"]).reset_index(drop=True)


def _privileged(findings: Any, lang: str, privileged: pd.DataFrame | None) -> dict[str, Any] | None:
    derived = privileged is None
    roster = derive_privileged(findings) if derived else privileged
    if roster is None:
        return None
    highlight = roster["mfa"].astype("string").isin(["none"]) if "mfa" in roster.columns else None
    return {"table": _generic_table(roster, lang, highlight), "derived": derived}


def _isolation(findings: Any, lang: str) -> dict[str, Any] | None:
    L = LABELS[lang]
    core = findings.core
    in_isl = core["check_id"].str.startswith("ISL-", na=False).to_numpy()
    isl = core[in_isl]
    if isl.empty:
        return None
    titles = localized(isl, "title", lang)
    open_ = isl["status"].isin(OPEN)
    per = (pd.DataFrame({"check_id": isl["check_id"], "title": titles, "provider": filled(isl["provider"], "-"),
                         "open": open_.astype(int), "err": (isl["status"] == "ERROR").astype(int)})
           .groupby(["check_id", "title"], observed=True).agg(open=("open", "sum"), err=("err", "sum")).reset_index())
    summary = _table([L["check"], L["title"], L["open_findings"], L["errors"]],
                     [[r.check_id, r.title, fmt_int(r.open, lang), fmt_int(r.err, lang)] for r in per.itertuples()],
                     ["bad" if r.open else "" for r in per.itertuples()])
    return {"summary": summary, "listing": _worst_open(findings, in_isl, lang, TABLE_CAP)}


def _worst_open(findings: Any, where: np.ndarray, lang: str, limit: int) -> dict[str, Any]:
    """The open findings among the rows ``where`` is true, most severe first, at most ``limit``
    rows (the total is said); only those rows' reasons are rendered."""
    L = LABELS[lang]
    core = findings.core
    open_ = np.flatnonzero(where & core["status"].isin(OPEN).to_numpy())
    severity = core["severity"].cat.codes.to_numpy()[open_]
    worst = findings.rows(open_[np.argsort(-severity, kind="stable")[:limit]])
    rows = [[_cell(SEVERITY_NAMES[lang].get(s, s), f"sev sev-{s}"), c, p, a, r, why] for c, s, p, a, r, why in zip(
        worst["check_id"], worst["severity"].astype(str), worst["provider"], worst["account_id"],
        worst["resource_id"], localized(worst, "reason", lang))]
    return _table([L["severity"], L["check"], L["provider"], L["account"], L["resource"], L["reason"]], rows,
                  total=len(open_))


def _acceptances(findings: Any, lang: str) -> dict[str, Any]:
    L = LABELS[lang]
    df = findings.core
    sup = df[df["status"] == "SUPPRESSED"]
    grouped = (sup.assign(acceptance=filled(sup["acceptance"], "").astype("string"))
               .groupby(["check_id", "acceptance"], observed=True).size().reset_index(name="n"))
    active = _table([L["check"], L["acceptance_text"], L["findings_count"]],
                    [[r.check_id, r.acceptance, fmt_int(r.n, lang)] for r in grouped.itertuples()])
    expired_rows = [[e.get("check_id"), e.get("resource"), e.get("owner"),
                     i18n.fmt_date(e.get("expires"), lang) if e.get("expires") else L["none"],
                     e.get("reason"), fmt_int(e.get("findings", 0), lang)]
                    for e in getattr(findings, "expired_acceptances", []) or []]
    expired = _table([L["check"], L["resource"], L["owner"], L["expires"], L["reason"], L["findings_count"]],
                     expired_rows, ["bad"] * len(expired_rows))
    return {"active": active, "expired": expired}


def _drift(drift: pd.DataFrame | None, lang: str) -> dict[str, Any] | None:
    if drift is None:
        return None
    L = LABELS[lang]
    counts = drift["change"].value_counts() if "change" in drift.columns else pd.Series(dtype=int)
    summary = [(L.get(f"change_{c}", c), fmt_int(counts.get(c, 0), lang)) for c in ("new", "resolved", "persisting")]
    cols = [c for c in ("change", "check_id", "provider", "account_id", "region", "resource_id",
                        "status_before", "status_after", "severity_after", "title") if c in drift.columns]
    shown = drift[cols].head(TABLE_CAP).astype(object)
    rows = []
    for rec in shown.where(shown.notna(), None).to_dict(orient="records"):
        row = []
        for c in cols:
            v = rec[c]
            if c == "change":
                v = L.get(f"change_{v}", v)
            elif c.startswith("status_") and v:
                v = STATUS_NAMES[lang].get(v, v)
            elif c.startswith("severity_") and v:
                v = SEVERITY_NAMES[lang].get(v, v)
            row.append(v)
        rows.append(row)
    labels = {"status_before": f"{L['status']} ({L['before']})", "status_after": f"{L['status']} ({L['after']})",
              "severity_after": L["severity"]}
    classes = ["bad" if r.get("change") == "new" else "good" if r.get("change") == "resolved" else ""
               for r in shown.to_dict(orient="records")]
    return {"summary": summary, "table": _table([labels.get(c) or _label(c, lang) for c in cols], rows, classes,
                                                total=len(drift))}


def _appendix(findings: Any, lang: str, permissions: Mapping[str, Iterable[str]] | None) -> dict[str, Any]:
    L = LABELS[lang]
    df = findings.core
    if len(df):
        per = findings.by_check().reindex(columns=list(STATUSES), fill_value=0)
        titles = df.drop_duplicates("check_id").set_index("check_id")
        title = localized(titles, "title", lang)
        rows = [[cid, title.get(cid, ""), *[fmt_int(v, lang) for v in vals]]
                for cid, vals in zip(per.index, per.to_numpy().tolist())]
    else:
        rows = []
    checks = _table([L["check"], L["title"], *[STATUS_NAMES[lang][s] for s in STATUSES]], rows)
    perms = [(str(p), [str(x) for x in items]) for p, items in (permissions or {}).items()]
    return {"checks": checks, "permissions": perms}


# ----------------------------------------------------------------------------- findings data

def findings_payload(findings: Any, lang: str, pass_cap: int = DEFAULT_PASS_CAP,
                     open_cap: int = DEFAULT_OPEN_CAP) -> dict[str, Any]:
    """The compact data behind the interactive table.

    Repeated strings (check, title, provider, account, region, controls, classification,
    remediation) are dictionary-encoded into ``s``; each row is a list (see ``cols``).
    The ``open_cap`` most severe non-PASS rows and the first ``pass_cap`` PASS rows are
    kept; the others are only counted (``open_omitted``, ``pass_omitted``).
    """
    df = findings.core
    is_pass = (df["status"] == "PASS").to_numpy()
    keep_pass = is_pass & (is_pass.cumsum() <= pass_cap)
    keep_open = ~is_pass
    if keep_open.sum() > open_cap:
        candidates = np.flatnonzero(keep_open)
        severity = df["severity"].cat.codes.to_numpy()[candidates]
        keep_open = np.zeros(len(df), dtype=bool)
        keep_open[candidates[np.argsort(-severity, kind="stable")[:max(open_cap, 0)]]] = True
    kept = findings.rows(keep_open | keep_pass)
    order = kept["severity"].cat.codes.to_numpy() * -1
    kept = kept.iloc[pd.Series(order).argsort(kind="stable").to_numpy()]
    omitted = int(is_pass.sum() - keep_pass.sum())
    open_omitted = int((~is_pass).sum() - keep_open.sum())
    remediation = kept["remediation"]
    if lang != "en":
        from cloudaudit.engine import registry  # check metadata only: the localized remediation text

        local = {cid: c.remediation.get(lang) for cid, c in registry().items()}
        remediation = (kept["check_id"].astype(object).map(local)
                       .where(lambda s: s.notna() & (s != ""), kept["remediation"].astype(object)))
    classification = kept["classification"].map(lambda v: LEVEL_NAMES[lang].get(v, v), na_action="ignore")
    encoded_cols = {"c": kept["check_id"], "t": localized(kept, "title", lang), "p": kept["provider"],
                    "a": kept["account_id"], "g": kept["region"], "k": kept["controls"], "l": classification,
                    "m": remediation}
    stacked = pd.concat([s.astype("string").fillna("") for s in encoded_cols.values()], ignore_index=True)
    codes, uniques = pd.factorize(stacked)
    n = len(kept)
    columns = {key: codes[i * n:(i + 1) * n] for i, key in enumerate(encoded_cols)}
    status_code = kept["status"].map({s: i for i, s in enumerate(STATUSES)}).astype(int).to_numpy()
    sev_code = kept["severity"].cat.codes.to_numpy()
    evidence = _evidence_dicts(kept["evidence"])
    reasons = _texts(localized(kept, "reason", lang))
    templates, reason_refs = _template_reasons(kept, evidence, reasons, lang)
    schemas: dict[tuple[str, ...], int] = {}
    packed_evidence = []
    for ev in evidence:  # key lists shared per shape: rows of one check repeat the same keys
        keys = tuple(ev)
        idx = schemas.setdefault(keys, len(schemas))
        packed_evidence.append([idx, *ev.values()])
    names = ["c", "t", "s", "v", "p", "a", "g", "r", "x", "k", "l", "m", "q", "e"]
    values = [columns["c"].tolist(), columns["t"].tolist(), status_code.tolist(), sev_code.tolist(),
              columns["p"].tolist(), columns["a"].tolist(), columns["g"].tolist(), _texts(kept["resource_id"]),
              reason_refs, columns["k"].tolist(), columns["l"].tolist(),
              columns["m"].tolist(), _texts(kept["acceptance"]), packed_evidence]
    rows = [list(r) for r in zip(*values)]
    return {"cols": names, "s": [str(u) for u in uniques], "rows": rows, "T": templates,
            "E": [list(k) for k in schemas], "pass_omitted": omitted,
            "open_omitted": open_omitted, "total": int(len(df)),
            "statuses": [STATUS_NAMES[lang][s] for s in STATUSES], "status_keys": list(STATUSES),
            "severities": [SEVERITY_NAMES[lang][s] for s in SEVERITIES]}


def _parse_template(template: str) -> list[Any] | None:
    """A reason template as [literal | [field], ...]; None when it uses format specs the script cannot mirror."""
    parts: list[Any] = []
    try:
        for literal, field_name, spec, conversion in string.Formatter().parse(template):
            if literal:
                parts.append(literal)
            if field_name is not None:
                if spec or conversion or not field_name.isidentifier():
                    return None
                parts.append([field_name])
    except ValueError:
        return None
    return parts


def _js_text(value: Any) -> str | None:
    """The text report.js renders for an evidence value, or None where it could differ from Python's."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "unknown"
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return str(int(value))
    return None


def _js_texts(column: pd.Series) -> pd.Series:
    """:func:`_js_text` over a column, with a C-speed path for the usual all-text columns."""
    kind = pd.api.types.infer_dtype(column, skipna=True)
    if kind in ("string", "empty"):
        return column.astype(object).where(column.notna(), "unknown")
    if kind == "integer" and not column.isna().any():
        return column.astype("int64").astype(str).astype(object)
    return column.astype(object).map(_js_text)


_STANDARD_FIELDS = {"provider": "provider", "account_id": "account_id", "region": "region",
                    "resource_id": "resource_id"}


def _template_reasons(kept: pd.DataFrame, evidence: list[dict[str, Any]], reasons: list[str | None],
                      lang: str) -> tuple[list[list[Any]], list[Any]]:
    """Replace each reason that its check's template reproduces exactly by the template's index.

    Reasons are the bulk of a large report and repeat one template per check; the script
    renders them back from the evidence (standard fields such as ``region`` from the row).
    Anything not reproduced exactly stays as text.
    """
    from cloudaudit.engine import registry  # the checks' reason templates (metadata, no check code runs)

    checks = registry()
    n = len(reasons)
    index = pd.RangeIndex(n)
    target = pd.Series(reasons, index=index, dtype=object)
    out = target.copy()
    done = pd.Series(False, index=index)
    ev = pd.DataFrame.from_records(evidence, index=index) if n else pd.DataFrame(index=index)
    # the script reads a missing standard field as "" and renders "unknown"
    standard = {k: pd.Series([v or None for v in _texts(kept[col])], index=index, dtype=object)
                for k, col in _STANDARD_FIELDS.items()}
    check_ids = pd.Series(kept["check_id"].astype(object).to_numpy(), index=index)
    templates: list[list[Any]] = []
    rendered: dict[str, pd.Series] = {}
    for cid in pd.unique(check_ids.dropna()):
        check = checks.get(cid)
        if check is None:
            continue
        of_check = (check_ids == cid) & target.notna()
        for texts in check.reasons.values():
            parts = _parse_template(texts.get(lang) or texts.get("en", ""))
            todo = of_check & ~done
            if parts is None or not todo.any():
                continue
            rows = index[todo.to_numpy()]
            text = pd.Series("", index=rows, dtype=object)
            ok = pd.Series(True, index=rows)
            for part in parts:
                if isinstance(part, str):
                    text = text + part
                    continue
                name = part[0]
                if name not in rendered:
                    if name in standard:
                        rendered[name] = _js_texts(standard[name])
                    elif name in ev.columns:
                        rendered[name] = _js_texts(ev[name])
                    else:
                        rendered[name] = pd.Series("unknown", index=index, dtype=object)
                values = rendered[name].loc[rows]
                ok &= values.notna()
                text = text + values.fillna("")
            match = ok & (text == target.loc[rows])
            if match.any():
                templates.append(parts)
                hit = rows[match.to_numpy()]
                out.loc[hit] = len(templates) - 1
                done.loc[hit] = True
    return templates, out.tolist()


def _ui_labels(lang: str) -> dict[str, str]:
    keys = ("all", "shown", "show_more", "evidence", "remediation", "classification", "acceptance",
            "controls", "no_rows", "reason", "region", "title")
    return {k: LABELS[lang][k] for k in keys}


# ----------------------------------------------------------------------------- entry points

def render_html(findings: Any, lang: str = "en", *, organization: str | None = None,
                scope: str | Sequence[str] | None = None, tool_version: str | None = None,
                bundle_hash: str | None = None, collected_at: Any = None,
                residency: pd.DataFrame | None = None, privileged: pd.DataFrame | None = None,
                drift: pd.DataFrame | None = None, permissions: Mapping[str, Iterable[str]] | None = None,
                pass_cap: int = DEFAULT_PASS_CAP, open_cap: int = DEFAULT_OPEN_CAP,
                generated_at: Any = None) -> str:
    """The full self-contained HTML report for ``findings`` in ``lang`` (``en`` or ``ja``).

    Optional context: the organization name and scope (default: from the policy and the
    findings), tool version, evidence bundle hash, collection time, an inventory-derived
    ``residency`` table and ``privileged`` roster, ``drift`` (``Findings.diff`` output) and
    ``permissions`` (provider -> permissions used). Missing sections say "not available".
    The findings table lists the ``open_cap`` most severe non-PASS findings and ``pass_cap``
    PASS results; a note counts the rest (every row is in the CSV / JSON / XLSX exports).
    """
    lang = i18n.check_language(lang)
    ctx = {"organization": organization, "scope": scope, "tool_version": tool_version, "bundle_hash": bundle_hash,
           "collected_at": collected_at, "generated_at": generated_at}
    script = _static("report.js")
    payload = findings_payload(findings, lang, pass_cap, open_cap)
    data = json_for_script({"data": payload, "ui": _ui_labels(lang)})
    csp = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src " + script_hash(script)
           + "; base-uri 'none'; form-action 'none'")
    template = _environment().get_template("report.html.j2")
    return template.render(
        lang=lang, L=LABELS[lang], S=STATUS_NAMES[lang], V=SEVERITY_NAMES[lang], statuses=STATUSES,
        severities=SEVERITIES, csp=csp, css=Markup(_static("report.css")), script=Markup(script), data=Markup(data),
        cover=_cover(findings, lang, ctx), summary=_summary(findings, lang), soa=_soa(findings, lang),
        residency=_residency(findings, lang, residency), privileged=_privileged(findings, lang, privileged),
        isolation=_isolation(findings, lang), acceptances=_acceptances(findings, lang), drift=_drift(drift, lang),
        appendix=_appendix(findings, lang, permissions),
        pass_omitted=LABELS[lang]["pass_omitted"].format(count=fmt_int(payload["pass_omitted"], lang)),
        n_omitted=payload["pass_omitted"],
        open_omitted=LABELS[lang]["open_omitted"].format(count=fmt_int(payload["open_omitted"], lang)),
        n_open_omitted=payload["open_omitted"])


def render_compact(findings: Any, lang: str = "en", top: int = 10) -> str:
    """A small script-free summary for notebooks: status counts, coverage and the worst open findings."""
    lang = i18n.check_language(lang)
    df = findings.core
    L = LABELS[lang]
    cov = findings.coverage()
    template = _environment().get_template("compact.html.j2")
    return template.render(
        L=L, run_id=findings.run_id or L["not_available"],
        counts=[(STATUS_NAMES[lang][s], fmt_int((df["status"] == s).sum(), lang), s) for s in STATUSES],
        coverage=fmt_ratio(cov["ratio"], lang),
        worst=_worst_open(findings, np.ones(len(df), dtype=bool), lang, top))
