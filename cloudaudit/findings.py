"""Findings: one row per (check, subject), in a thin wrapper with the views auditors need."""

from __future__ import annotations

import html
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from . import catalog
from .frames import filled, text_series
from .engine import FINDING_COLUMNS, SEVERITIES, STATUSES, TEXT_COLUMNS, registry
from .policy import Policy

# Per-control roll-up, worst first: a known nonconformity (FAIL) outranks missing evidence
# (ERROR), which outranks a weak control (WARN); the counts columns show every status anyway.
_STATUS_RANK = {"FAIL": 4, "ERROR": 3, "WARN": 2, "SUPPRESSED": 1, "PASS": 0}
PER_CHECK_COLUMNS = ("run_id", "check_id", "title", "title_ja", "controls", "policy_items", "remediation")
KEY_COLUMNS = ("check_id", "provider", "account_id", "region", "resource_id")
# Columns of few values repeated over many findings (an account has thousands), held as
# categoricals by a run; missing values stay missing.
CODED_COLUMNS = ("provider", "account_id", "region", "classification", "acceptance")


def finding_key(df: pd.DataFrame) -> pd.Series:
    """The stable identity of a finding across runs: check + provider + account + region + resource."""
    parts = [df[c].astype("string").fillna("") for c in KEY_COLUMNS]
    key = parts[0]
    for p in parts[1:]:
        key = key + "|" + p
    return key


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its categorical :data:`CODED_COLUMNS` as strings (each category converted
    once, then taken by code)."""
    coded = [col for col in CODED_COLUMNS if col in frame.columns and isinstance(frame[col].dtype, pd.CategoricalDtype)]
    if not coded:
        return frame

    if len(frame) < _PARALLEL_TEXT_ROWS:
        return frame.assign(**{col: text_series(frame[col]) for col in coded})
    with ThreadPoolExecutor(min(len(coded), os.cpu_count() or 1)) as pool:  # Arrow's take releases the GIL
        return frame.assign(**dict(zip(coded, pool.map(lambda col: text_series(frame[col]), coded))))


_PARALLEL_TEXT_ROWS = 200_000


class Findings:
    """The result of an audit.

    ``df`` is a plain DataFrame with the columns of :data:`cloudaudit.engine.FINDING_COLUMNS`:
    status and severity categorical; the per-check and per-run columns (:data:`PER_CHECK_COLUMNS`:
    check id, titles, controls, policy items, remediation, run id) categorical too, so a million
    findings hold each check's text once; ``collected_at`` timezone-aware; the rest strings.
    The findings of a run hold provider, account, region, classification and acceptance
    (:data:`CODED_COLUMNS`) as categoricals, each value once: :attr:`core` shows them so (cheap
    at any size: ``observed=True`` in a group-by), ``df`` and :meth:`rows` as strings (once
    ``df`` has been read, the frame holds them as strings, and so does :attr:`core`).

    The findings of :func:`cloudaudit.audit` render their reasons and evidence (``reason``,
    ``reason_ja``, ``evidence``) when first read: :attr:`core` (every other column),
    :meth:`summary`, :meth:`coverage` and :meth:`by_control` never render them, :meth:`rows`
    renders the rows it returns, and ``df`` renders every row once and keeps them.
    """

    def __init__(self, df: pd.DataFrame, expired_acceptances: Sequence[dict[str, Any]] | None = None,
                 policy: Policy | None = None, meta: Mapping[str, Any] | None = None, *,
                 text: Callable[[np.ndarray | None], Mapping[str, Any]] | None = None) -> None:
        self.expired_acceptances: list[dict[str, Any]] = list(expired_acceptances or [])
        self.policy = policy
        self.meta: dict[str, Any] = dict(meta or {})
        # renders reason / reason_ja / evidence for row positions (None: every row, once); None once in the frame
        self._text = text
        self._rendering = threading.Lock()  # one thread renders; rows() never sees a half-released run
        columns = [col for col in FINDING_COLUMNS if text is None or col not in TEXT_COLUMNS]
        df = df.reindex(columns=columns).reset_index(drop=True)
        df["status"] = pd.Categorical(df["status"], categories=list(STATUSES))
        df["severity"] = pd.Categorical(df["severity"], categories=list(SEVERITIES), ordered=True)
        for col in columns:
            if col in PER_CHECK_COLUMNS:
                if not isinstance(df[col].dtype, pd.CategoricalDtype):
                    df[col] = pd.Categorical(df[col].astype("string").fillna("").astype("str"))
            elif col in CODED_COLUMNS and isinstance(df[col].dtype, pd.CategoricalDtype):
                continue  # a run's codes: given back as text by df and rows
            elif col not in ("status", "severity", "collected_at"):
                df[col] = df[col].astype("string")
        df["collected_at"] = pd.to_datetime(df["collected_at"], utc=True)
        self._frame = df

    @property
    def df(self) -> pd.DataFrame:
        """Every finding with every column (renders the reasons and evidence on first use)."""
        with self._rendering:
            if self._text is not None:
                text = self._text(None)
                self._frame = self._frame.assign(**{col: pd.Series(text[col], index=self._frame.index)
                                                    for col in TEXT_COLUMNS})[list(FINDING_COLUMNS)]
                self._text = None
            self._frame = _as_text(self._frame)
            return self._frame

    @property
    def core(self) -> pd.DataFrame:
        """Every column but ``reason``, ``reason_ja`` and ``evidence``, without rendering them:
        statuses, severities, keys and per-check columns of any number of findings, cheaply."""
        return self._frame.drop(columns=[col for col in TEXT_COLUMNS if col in self._frame.columns])

    def rows(self, where: pd.Series | np.ndarray | Sequence[int],
             text: Sequence[str] = TEXT_COLUMNS) -> pd.DataFrame:
        """The findings where a boolean mask over :attr:`core` is true (or at the given row
        positions), with every column: only these rows' reasons and evidence are rendered.
        The index is the rows' positions, as in ``df``. ``text`` names the text columns to
        include (``("evidence",)``: the evidence without rendering the reasons)."""
        text = tuple(text)
        unknown = [col for col in text if col not in TEXT_COLUMNS]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a text column ({', '.join(TEXT_COLUMNS)})")
        if isinstance(where, pd.Series) and pd.api.types.is_bool_dtype(where.dtype):
            where = where.fillna(False).to_numpy(dtype=bool)  # a nullable mask: <NA> is not selected
        where = np.asarray(where)
        if where.dtype == bool:
            if len(where) != len(self._frame):
                raise ValueError(f"a mask of {len(where)} values for {len(self._frame)} findings")
            positions = np.flatnonzero(where)
        else:
            positions = where.astype(np.int64)
        shown = [col for col in FINDING_COLUMNS if col not in TEXT_COLUMNS or col in text]
        with self._rendering:
            out = _as_text(self._frame.iloc[positions])
            if self._text is None:
                return out[shown]
            rendered = self._text(positions, text)
        return out.assign(**{col: pd.Series(rendered[col], index=out.index) for col in text})[shown]

    def __len__(self) -> int:
        return len(self._frame)

    def chunks(self, size: int = 50_000) -> Iterator["Findings"]:
        """The findings in consecutive chunks of ``size`` rows, each a :class:`Findings` with its
        text rendered: for writing a large run out without holding every row's text at once.
        An empty run yields one empty chunk."""
        if size < 1:
            raise ValueError(f"chunk size must be at least 1, not {size}")
        n = len(self._frame)
        for start in range(0, max(n, 1), size):
            yield Findings(self.rows(np.arange(start, min(start + size, n))),
                           expired_acceptances=self.expired_acceptances, policy=self.policy, meta=self.meta)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled with every row's text (a Dask result, a saved notebook variable)."""
        self.df  # noqa: B018 - renders what is still deferred
        return {k: v for k, v in self.__dict__.items() if k != "_rendering"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._rendering = threading.Lock()

    @property
    def run_id(self) -> str | None:
        return None if self._frame.empty else str(self._frame["run_id"].iloc[0])

    @property
    def failed(self) -> pd.DataFrame:
        """FAIL and WARN rows."""
        return self.rows(self._frame["status"].isin(["FAIL", "WARN"]).to_numpy())

    def summary(self) -> pd.DataFrame:
        """Counts by provider and status (columns PASS, FAIL, WARN, ERROR, SUPPRESSED)."""
        df = self._frame
        if df.empty:
            return pd.DataFrame(columns=list(STATUSES))
        table = pd.crosstab(filled(df["provider"], "-"), df["status"]).reindex(columns=list(STATUSES), fill_value=0)
        table = table[table.sum(axis=1) > 0]  # a categorical key lists every category: keep those with rows
        table.index = table.index.astype(str)
        table = table.sort_index()
        table.loc["total"] = table.sum()
        return table

    def coverage(self) -> dict[str, Any]:
        """Share of check × account × region results actually evaluated (not ERROR)."""
        failed = (self._frame["status"] == "ERROR").to_numpy()
        total, errors = len(self._frame), int(failed.sum())
        reasons = self.rows(failed)["reason"].value_counts().head(20).to_dict()
        return {"evaluated": total - errors, "total": total,
                "ratio": 1.0 if total == 0 else (total - errors) / total, "errors": reasons}

    def by_check(self) -> pd.DataFrame:
        """Findings per check (index ``check_id``, sorted) and status (columns PASS, FAIL, WARN,
        ERROR, SUPPRESSED), counted on the categorical codes (no text is read or rendered)."""
        check = self._frame["check_id"]
        if not isinstance(check.dtype, pd.CategoricalDtype):
            check = check.astype("category")
        status = self._frame["status"].cat.codes.to_numpy().astype(np.int64)
        codes = check.cat.codes.to_numpy().astype(np.int64)
        valid = (codes >= 0) & (status >= 0)
        n = len(check.cat.categories)
        table = np.bincount(codes[valid] * len(STATUSES) + status[valid], minlength=n * len(STATUSES))
        out = pd.DataFrame(table.reshape(n, len(STATUSES)), columns=list(STATUSES),
                           index=pd.Index(check.cat.categories.astype(object), name="check_id"))
        return out[out.sum(axis=1) > 0].sort_index()

    def by_control(self) -> pd.DataFrame:
        """Statement-of-Applicability view: every catalog control, its checks and worst status.

        Controls without a check are listed with status MANUAL.
        """
        controls = catalog.controls()
        checks = registry()
        mapping = pd.DataFrame([{"control": ctl, "check_id": c.id} for c in checks.values() for ctl in c.controls],
                               columns=["control", "check_id"])
        counts = self.by_check()
        ranks = np.array([_STATUS_RANK[s] for s in STATUSES], dtype=float)
        table = counts.to_numpy()
        per_check = pd.DataFrame({
            "check_id": counts.index.to_numpy(dtype=object),
            "worst": np.where(table > 0, ranks, -1.0).max(axis=1, initial=-1.0),
            "failed": (counts["FAIL"] + counts["WARN"]).to_numpy(), "passed": counts["PASS"].to_numpy(),
            "errors": counts["ERROR"].to_numpy()})
        merged = mapping.merge(per_check, on="check_id", how="left")
        rollup = merged.groupby("control", observed=True).agg(
            checks=("check_id", lambda s: ", ".join(sorted(s))), worst=("worst", "max"),
            failed=("failed", "sum"), passed=("passed", "sum"), errors=("errors", "sum")).reset_index()
        out = controls.merge(rollup, on="control", how="left")
        inverse = {v: k for k, v in _STATUS_RANK.items()}
        status = out["worst"].map(inverse)
        has_checks = out["checks"].notna()
        status = status.where(status.notna(), "NOT RUN").where(has_checks, "MANUAL")
        out["status"] = status
        out["checks"] = out["checks"].fillna("")
        for col in ("failed", "passed", "errors"):
            out[col] = out[col].fillna(0).astype(int)
        return out.drop(columns=["worst"])

    def diff(self, previous: "Findings") -> pd.DataFrame:
        """Compare with an earlier run: one row per finding key with change new / resolved / persisting.

        Only FAIL/WARN/ERROR rows count as open findings; ``status_before`` and ``status_after``
        show status changes, ``severity_before`` / ``severity_after`` severity changes.
        """
        def open_rows(f: Findings) -> pd.DataFrame:
            d = f.rows(f.core["status"].isin(["FAIL", "WARN", "ERROR"]).to_numpy())
            return d.assign(key=finding_key(d))[["key", *KEY_COLUMNS, "status", "severity", "title", "reason"]]

        before, after = open_rows(previous), open_rows(self)
        merged = before.merge(after, on="key", how="outer", suffixes=("_before", "_after"), indicator=True)
        change = merged["_merge"].map({"left_only": "resolved", "right_only": "new", "both": "persisting"})
        out = pd.DataFrame({"key": merged["key"], "change": change.astype(str)})
        for col in KEY_COLUMNS + ("title", "reason"):
            out[col] = (merged[f"{col}_after"].astype("string")
                        .combine_first(merged[f"{col}_before"].astype("string")))
        for col in ("status", "severity"):
            out[f"{col}_before"] = merged[f"{col}_before"].astype(object)
            out[f"{col}_after"] = merged[f"{col}_after"].astype(object)
        return out.sort_values(["change", "check_id", "key"]).reset_index(drop=True)

    def to_records(self) -> list[dict[str, Any]]:
        """Findings as JSON-ready dicts (controls and policy items as lists, evidence parsed)."""
        import json

        df = self.df
        lists = {col: df[col].fillna("").str.split(", ").map(lambda items: [i for i in items if i])
                 for col in ("controls", "policy_items")}
        # one parse for all evidence objects instead of one json.loads per finding
        evidence = json.loads("[" + ",".join(df["evidence"].fillna("{}").replace("", "{}")) + "]")
        out = df.assign(collected_at=df["collected_at"].map(lambda t: t.isoformat(), na_action="ignore"), **lists)
        out = out.astype(object).where(out.notna(), None)
        out["evidence"] = evidence
        return out.to_dict(orient="records")

    def to_html(self, lang: str = "en", **options: Any) -> str:
        """The full self-contained HTML report (see cloudaudit.reports)."""
        from .reports import render_html

        return render_html(self, lang=lang, **options)

    def _repr_html_(self) -> str:
        try:
            from .reports import render_compact

            return render_compact(self)
        except (ImportError, AttributeError):
            summary = self.summary()
            return f"<p><b>cloudaudit Findings</b> ({html.escape(str(self.run_id))})</p>" + summary.to_html()

    def __repr__(self) -> str:
        counts = self._frame["status"].value_counts()
        parts = ", ".join(f"{s}={int(counts.get(s, 0))}" for s in STATUSES if counts.get(s, 0))
        return f"Findings(run_id={self.run_id!r}, {parts or 'empty'})"
