"""Check registry and the fail-closed runner.

A check is a pure function ``(inventory, policy) -> DataFrame`` registered with :func:`check`.
It returns one row per evaluated subject, passes included, with at least the columns
``provider, account_id, resource_id, status`` (``region`` when it applies).  Every other column
is evidence: it is kept as JSON in the finding and may be named in the reason templates.
Optional columns: ``reason_key`` (picks a template; default: the status in lower case) and
``severity`` (overrides the check's default for that row).  Columns starting with ``_`` are
dropped.

The runner is fail-closed: where ``coverage`` says a table the check needs was denied, failed,
is unsupported or was never collected for an account (and region), the check's rows there are
replaced by one ERROR row naming the reason.  An exception inside a check becomes ERROR rows.
"""

from __future__ import annotations

import contextvars
import importlib
import json
import os
import queue
import re
import string
import threading
import traceback
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fnmatch import translate
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import RegistryError
from . import memo
from ._pages import small_pages, trim_heap
from .frames import (arrow_identity, categories_text, encode, forget_remembered, lowered, narrow_codes, occurring, per_code,
                     positions_of, stacked, text_array, text_chunks, unify)
from .labels import subject_levels
from .inventory import Inventory
from .policy import Policy, today_utc

SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")
STATUSES: tuple[str, ...] = ("PASS", "FAIL", "WARN", "ERROR", "SUPPRESSED")
CHECK_STATUSES = ("PASS", "FAIL", "WARN")
MAX_WORKERS = 4  # threads of run_checks by default (checks are CPU-bound: more than the cores only costs memory)
PROVIDER_NAMES: tuple[str, ...] = ("aws", "azure", "gcp")
ESCALATING_LEVELS = ("top_secret", "confidential")

FINDING_COLUMNS: tuple[str, ...] = (
    "run_id", "check_id", "title", "title_ja", "status", "severity", "provider", "account_id", "region",
    "resource_id", "classification", "reason", "reason_ja", "evidence", "controls", "policy_items",
    "remediation", "acceptance", "collected_at",
)

CheckFunction = Callable[[Inventory, Policy], pd.DataFrame]


@dataclass(frozen=True)
class Check:
    """A registered check and its metadata (kept next to the code, Prowler style)."""

    id: str
    title: Mapping[str, str]
    controls: tuple[str, ...]
    policy_items: tuple[str, ...]
    severity: str
    needs: tuple[str, ...]
    reasons: Mapping[str, Mapping[str, str]]
    remediation: Mapping[str, str]
    providers: tuple[str, ...]
    function: CheckFunction = field(repr=False, compare=False)
    tier: str = "core"
    shares: tuple[str, ...] = ()  # the run's shared tables it reads (cloudaudit.memo): dropped after their last reader

    def run(self, inventory: Inventory, policy: Policy) -> pd.DataFrame:
        return self.function(inventory, policy)


_REGISTRY: dict[str, Check] = {}


def clear_run_caches() -> None:
    """Drop the tables the checks of a run share (:mod:`cloudaudit.memo`) and the key hashes
    :func:`cloudaudit.frames.lookup` remembers (``run_checks`` does at the end of a run: call it
    after running check functions directly)."""
    memo.clear()
    forget_remembered()


def _need_known(need: str) -> bool:
    """A need is a table name, ``table.column`` when the check depends on one column only, or
    ``guardrails.<kind>`` when it depends on one kind of guardrail (so an unreadable snapshot
    setting does not turn the region-restriction check into ERROR)."""
    from .inventory import GUARDRAIL_KINDS, SCHEMA

    provider, _, need = need.rpartition(":")
    if provider and provider not in PROVIDER_NAMES:
        return False
    table, _, column = need.partition(".")
    if table == "guardrails" and column in GUARDRAIL_KINDS:
        return True
    return table in SCHEMA and (not column or column in SCHEMA[table])
_ID = re.compile(r"^[A-Z]{2,5}-\d{3}$")


def define_check(id: str, function: CheckFunction, *, title: Mapping[str, str], controls: Sequence[str],
                 severity: str, needs: Sequence[str], reasons: Mapping[str, Mapping[str, str]],
                 remediation: Mapping[str, str] | str = "", policy_items: Sequence[str] = (),
                 providers: Sequence[str] = PROVIDER_NAMES, tier: str = "core",
                 shares: Sequence[str] = ()) -> Check:
    """Validate metadata and build a :class:`Check` without registering it."""
    if severity not in SEVERITIES:
        raise RegistryError(f"check {id}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    if not _ID.match(id):
        raise RegistryError(f"check id {id!r} is not of the form ABC-001")
    unknown = [t for t in needs if not _need_known(t)]
    if unknown:
        raise RegistryError(f"check {id}: needs unknown table or column {unknown[0]!r}")
    bad = [p for p in providers if p not in PROVIDER_NAMES]
    if bad:
        raise RegistryError(f"check {id}: unknown provider {bad[0]!r}")
    missing = [k for k, v in reasons.items() if "en" not in v]
    if missing:
        raise RegistryError(f"check {id}: reason {missing[0]!r} has no English template")
    odd = [name for name in shares if not str(name).isidentifier()]
    if odd:
        raise RegistryError(f"check {id}: shares {odd[0]!r}, which is not the name of a shared table")
    if isinstance(remediation, str):
        remediation = {"en": remediation, "ja": remediation}
    return Check(id=id, title=dict(title), controls=tuple(controls), policy_items=tuple(policy_items),
                 severity=severity, needs=tuple(needs), reasons={k: dict(v) for k, v in reasons.items()},
                 remediation=dict(remediation), providers=tuple(providers), function=function, tier=tier,
                 shares=tuple(shares))


def check(id: str, **meta) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check function under a stable id (``RES-001`` ...).

    Metadata (keyword arguments of :func:`define_check`): ``title`` {"en", "ja"}, ``controls``
    (ids from checks/iso27017.yaml), ``severity``, ``needs`` (tables or ``table.column``),
    ``reasons`` mapping a reason key (``pass``, ``fail``, ``warn`` or any ``reason_key`` the
    check emits) to {"en": template, "ja": template} with ``{column}`` fields of the result,
    ``remediation``, ``policy_items`` (seed policy items), ``providers``, ``tier``, ``shares``
    (the names of the run's shared tables it reads, :mod:`cloudaudit.memo`: ``labels``,
    ``data_bearing`` ...; the run starts the checks that share tables first and drops each
    table when its last reader is done, instead of holding it to the end).
    """
    def register(function: CheckFunction) -> CheckFunction:
        new = define_check(id, function, **meta)
        existing = _REGISTRY.get(id)
        if existing is not None and existing.function.__qualname__ != function.__qualname__:
            raise RegistryError(f"check id {id} is registered twice ({existing.function.__module__} and "
                                f"{function.__module__})")
        _REGISTRY[id] = new
        return function

    return register


def registry() -> dict[str, Check]:
    """All registered checks by id (imports the bundled check catalog on first use)."""
    importlib.import_module("cloudaudit.checks")
    return dict(sorted(_REGISTRY.items()))


def checks_table() -> pd.DataFrame:
    """The check catalog as a DataFrame (id, title, severity, controls, needs, providers)."""
    rows = [{"check_id": c.id, "title": c.title.get("en", ""), "title_ja": c.title.get("ja", ""),
             "severity": c.severity, "tier": c.tier, "controls": ", ".join(c.controls),
             "policy_items": ", ".join(c.policy_items), "needs": ", ".join(c.needs),
             "providers": ", ".join(c.providers)} for c in registry().values()]
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- the run's clock

# The reference time of ages (key age, inactivity ...): fixed per run by run_checks, so every
# check of a run measures against the same instant, and a replayed bundle against its own.
_NOW: contextvars.ContextVar[pd.Timestamp | None] = contextvars.ContextVar("cloudaudit_now", default=None)


def now_utc() -> pd.Timestamp:
    """The time checks measure ages against: the run's ``as_of`` inside :func:`run_checks` (or
    :func:`fixed_now`), else the wall clock (UTC)."""
    fixed = _NOW.get()
    return fixed if fixed is not None else pd.Timestamp.now(tz="UTC")


@contextmanager
def fixed_now(when) -> Iterator[pd.Timestamp]:
    """Judge ages as of ``when`` (timestamp, datetime, date or ISO text; naive means UTC) inside
    the ``with`` block."""
    ts = pd.Timestamp(when)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    token = _NOW.set(ts)
    try:
        yield ts
    finally:
        _NOW.reset(token)


# ----------------------------------------------------------------------------- reason templates

def render_template(template: str, frame: pd.DataFrame) -> pd.Series:
    """Vectorized ``str.format`` of one template over every row (fields are column names).

    Concatenation runs in Arrow (no Python string per row and piece); the result is a
    ``string`` Series aligned with ``frame``.
    """
    return pd.Series(pd.arrays.ArrowStringArray(_render_arrow(template, frame)), index=frame.index)


def _render_arrow(template: str, frame: pd.DataFrame) -> "pa.Array":
    pieces: list = []
    for literal, field_name, _spec, _ in string.Formatter().parse(template):
        if literal:
            pieces.append(pa.scalar(literal, pa.large_string()))
        if field_name is not None:
            if field_name not in frame.columns:
                raise KeyError(f"reason template field {{{field_name}}} is not a column of the check's result")
            pieces.append(_text_array(frame[field_name]))
    if not any(isinstance(p, pa.Array) for p in pieces):
        return pa.array(["".join(p.as_py() for p in pieces)] * len(frame), type=pa.large_string())
    return pc.binary_join_element_wise(*pieces, pa.scalar("", pa.large_string()))


def _text_array(values: pd.Series) -> "pa.Array":
    """Column as display text (``unknown`` for missing); vectorized except for object columns."""
    if pd.api.types.is_datetime64_any_dtype(values):  # the calendar day in the column's own zone
        local = values.dt.tz_localize(None) if getattr(values.dtype, "tz", None) is not None else values
        array = _iso(local, "D")
    elif values.dtype == object:  # strings as they are; lists, sets and mixed values one by one
        array = _string_or_none(values)
        if array is None:
            array = text_array(values.map(_text, na_action=None))
    else:
        array = text_array(values)
    return pc.fill_null(array, "unknown")


def _iso(naive: pd.Series, unit: str) -> "pa.Array":
    """Naive timestamps as ISO 8601 text to ``unit`` ("D": the day, "ms": ...T12:00:00.000),
    formatted by numpy (several times faster than strftime); missing stays missing."""
    raw = naive.to_numpy(dtype=f"datetime64[{unit}]")
    return pa.array(np.datetime_as_string(raw, unit=unit), type=pa.large_string(), mask=np.isnat(raw))


def _string_or_none(values: pd.Series) -> "pa.Array | None":
    """An object column of strings (and missing values) as a large_string array; None otherwise."""
    try:
        array = _arrow(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return array.cast(pa.large_string())
    return None


def _text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return "unknown"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(sorted(str(v) for v in value)) or "none"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


# ----------------------------------------------------------------------------- runner

def _scopes(inventory: Inventory) -> pd.DataFrame:
    """Every (provider, account_id) the inventory knows of."""
    frames = [inventory.tenants[["provider", "account_id"]], inventory.coverage[["provider", "account_id"]]]
    return stacked(frames).drop_duplicates().reset_index(drop=True)


@dataclass
class _CoverageIndex:
    """Coverage prepared once per inventory: failed rows with their reasons rendered, which
    (provider, account, table) were attempted at all, and the gaps per distinct (needs, providers)."""

    coverage: pd.DataFrame
    failed: pd.DataFrame
    seen: pd.DataFrame
    scopes: pd.DataFrame | None = None  # the gaps below were computed for these scopes
    gaps: dict = field(default_factory=dict)
    served: dict = field(default_factory=dict)  # need -> the accounts with a coverage row serving it
    in_scope: dict = field(default_factory=dict)  # providers -> the scopes of those providers and their keys

    def scopes_of(self, providers: tuple[str, ...]) -> tuple[pd.DataFrame, np.ndarray]:
        """The accounts in scope (:attr:`scopes`) of ``providers``, and their keys
        (:func:`_account_keys`): the same for every check of those providers."""
        if providers not in self.in_scope:
            rows = self.scopes[self.scopes["provider"].isin(providers)]
            self.in_scope[providers] = (rows, _account_keys(rows))
        return self.in_scope[providers]

    def seen_keys(self, need: str) -> frozenset[str]:
        """The accounts (:func:`_account_keys`) with a coverage row that serves ``need``, of any
        status: what was at least attempted. Computed once per need."""
        if need not in self.served:
            only, bare = _split_need(need)
            rows = self.seen[self.seen["table"].isin([bare, bare.partition(".")[0], "*"]).fillna(False)]
            if only is not None:
                rows = rows[(rows["provider"] == only).fillna(False)]
            self.served[need] = frozenset(_account_keys(rows))
        return self.served[need]


def _account_keys(frame: pd.DataFrame) -> np.ndarray:
    """(provider, account_id) of each row as one string, for membership tests."""
    return (frame["provider"].astype("string").fillna("") + "\x1f"
            + frame["account_id"].astype("string").fillna("")).to_numpy(dtype=object)


_INDEX: dict[int, _CoverageIndex] = {}
_INDEX_LOCK = threading.RLock()
_COVERAGE_JA = {"denied": "アクセス拒否", "error": "エラー", "unsupported": "未対応"}


def _coverage_index(inventory: Inventory) -> _CoverageIndex:
    with _INDEX_LOCK:
        return _coverage_index_locked(inventory)


def _coverage_index_locked(inventory: Inventory) -> _CoverageIndex:
    cov = inventory.coverage
    cached = _INDEX.get(id(inventory))
    if cached is not None and cached.coverage is cov:
        return cached
    failed = cov[cov["status"] != "ok"]
    failed = failed[["provider", "account_id", "region", "resource_id", "table"]].assign(
        reason="source " + failed["source"].fillna("?") + " for " + failed["table"] + " was "
               + failed["status"] + ": " + failed["message"].fillna(""),
        reason_ja="取得元 " + failed["source"].fillna("?") + " (" + failed["table"] + ") は"
                  + failed["status"].map(_COVERAGE_JA).fillna(failed["status"]) + ": " + failed["message"].fillna(""))
    seen = cov[["provider", "account_id", "table"]].drop_duplicates()
    index = _CoverageIndex(cov, failed.reset_index(drop=True), seen.reset_index(drop=True))
    _INDEX.clear()  # one inventory at a time: no growth across runs
    _INDEX[id(inventory)] = index
    return index


def _split_need(need: str) -> tuple[str | None, str]:
    """``"aws:guardrails.snapshot_public_block"`` -> ("aws", "guardrails.snapshot_public_block")."""
    provider, sep, rest = need.partition(":")
    return (provider, rest) if sep else (None, need)


def _coverage_gaps(c: Check, inventory: Inventory, scopes: pd.DataFrame) -> pd.DataFrame:
    """Rows (provider, account_id, region, reason) where something the check needs could not be read.

    A need ``t`` is served by coverage rows for ``t`` (or ``*``); a need ``t.col`` also by rows
    for ``t.col``, so an adapter can report one column as unsupported (e.g. ``principals.mfa``
    without a licence) without failing every check that reads the table. A need prefixed with
    a provider (``aws:guardrails.snapshot_public_block``) applies to that provider only.
    Checks with the same needs and providers share one computation.
    """
    with _INDEX_LOCK:  # checks run on threads: each distinct (needs, providers) is computed once
        index = _coverage_index_locked(inventory)
        if index.scopes is not scopes:
            index.scopes, index.gaps, index.in_scope = scopes, {}, {}
        key = (c.needs, c.providers)
        if key not in index.gaps:
            index.gaps[key] = _gaps_for(c.needs, c.providers, index)
        return index.gaps[key]


def _gaps_for(needs: tuple[str, ...], providers: tuple[str, ...], index: _CoverageIndex) -> pd.DataFrame:
    """The gaps of checks with these needs and providers, in the accounts of ``index.scopes``."""
    serving = pd.DataFrame([(need, table, only) for need in needs for only, bare in [_split_need(need)]
                            for table in {bare, bare.partition(".")[0], "*"}], columns=["need", "table", "only"])

    def served(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[frame["provider"].isin(providers) & frame["table"].isin(serving["table"])]
        if frame.empty:  # most needs of most runs: nothing failed (a merge costs milliseconds)
            return frame
        hit = frame.merge(serving, on="table")
        return hit[hit["only"].isna() | (hit["only"] == hit["provider"])]

    failed = served(index.failed)
    # Needing all guardrails means needing every kind: a failed kind fails it too. (A failed
    # column does not fail a whole-table need: checks name the columns they depend on.)
    if "guardrails" in needs:
        kinds = index.failed[index.failed["provider"].isin(providers)
                             & index.failed["table"].str.startswith("guardrails.")]
        failed = pd.concat([failed, kinds], ignore_index=True)
    gaps = failed[["provider", "account_id", "region", "resource_id", "reason", "reason_ja"]]
    # Something never collected for an account in scope is a gap as well.
    in_scope, scope_keys = index.scopes_of(providers)
    if len(in_scope) and needs:
        for need in needs:
            only, bare = _split_need(need)
            seen = index.seen_keys(need)
            absent = np.fromiter((key not in seen for key in scope_keys), dtype=bool, count=len(scope_keys))
            if only is not None:
                absent &= (in_scope["provider"] == only).fillna(False).to_numpy(dtype=bool)
            if not absent.any():
                continue
            missing = in_scope[absent]
            gaps = pd.concat([gaps, missing[["provider", "account_id"]].assign(
                region=pd.NA, resource_id=pd.NA, reason=f"{bare} was not collected",
                reason_ja=f"{bare} は収集されていません")], ignore_index=True)
    if gaps.empty:
        return gaps
    gaps = gaps.assign(region=gaps["region"].astype("string"), resource_id=gaps["resource_id"].astype("string"))
    return (gaps.groupby(["provider", "account_id", "region", "resource_id"], dropna=False, sort=True, observed=True)
            [["reason", "reason_ja"]].agg(lambda r: "; ".join(sorted(set(r)))).reset_index())


def _error_rows(c: Check, scopes: pd.DataFrame, reason: str) -> pd.DataFrame:
    rows = scopes[scopes["provider"].isin(c.providers)].copy()
    if rows.empty:
        rows = pd.DataFrame({"provider": [pd.NA], "account_id": [pd.NA]})
    # text like every other part's subjects: one untyped (object) part would turn the run's
    # gathered resource ids into Python strings (at 1M resources: 1 GB and 2 s more)
    missing = pd.array([pd.NA] * len(rows), dtype="string")
    return rows.assign(region=missing, resource_id=missing, status=_repeated("ERROR", len(rows), STATUSES),
                       severity=_repeated(c.severity, len(rows), SEVERITIES, ordered=True),
                       reason=reason, reason_ja=reason, evidence="{}")


_STANDARD = ("provider", "account_id", "region", "resource_id", "status", "reason_key", "severity")
_KEYS = ("provider", "account_id", "region", "resource_id")  # a finding's subject and place
_CODED_KEYS = ("provider", "account_id", "region")  # few values, repeated over many rows: held as codes


TEXT_COLUMNS: tuple[str, ...] = ("reason", "reason_ja", "evidence")


def _finish(c: Check, result: pd.DataFrame) -> tuple[pd.DataFrame, "_Pending"]:
    """Validate a check's result: its rows (provider, account_id, region, resource_id, status,
    severity) and their reasons / evidence, checked now and rendered when they are read."""
    missing = [col for col in ("provider", "account_id", "resource_id", "status") if col not in result.columns]
    if missing:
        raise ValueError(f"result lacks column {missing[0]!r}")
    result = result.reset_index(drop=True)
    status = _coded(result["status"], STATUSES)
    bad = ~np.isin(status.codes, [STATUSES.index(s) for s in CHECK_STATUSES])
    if bad.any():
        raise ValueError(f"status {result['status'][bad].iloc[0]!r} is not PASS, FAIL or WARN")
    mine = result["provider"].isin(c.providers).to_numpy()
    if not mine.all():
        result, status = result[mine].reset_index(drop=True), status[mine]
    if "region" not in result.columns:
        result["region"] = pd.NA
    # text, except the coded keys a check already gives as categoricals (encoded on their codes)
    out = pd.DataFrame({col: result[col] if col in _CODED_KEYS and isinstance(result[col].dtype, pd.CategoricalDtype)
                        else result[col].astype("string") for col in _KEYS})
    out["status"] = status
    if "severity" in result.columns:
        severity = _coded(result["severity"], SEVERITIES, ordered=True)
        missing = result["severity"].isna().to_numpy()
        if missing.any():  # the check's default severity
            severity = pd.Categorical.from_codes(np.where(missing, SEVERITIES.index(c.severity), severity.codes),
                                                 dtype=severity.dtype)
        if (severity.codes < 0).any():
            raise ValueError(f"severity {result['severity'][severity.codes < 0].iloc[0]!r} is not one of "
                             f"{', '.join(SEVERITIES)}")
        out["severity"] = severity
    else:
        out["severity"] = _repeated(c.severity, len(out), SEVERITIES, ordered=True)
    return out, _Pending.of(c, result)


@dataclass(frozen=True)
class _Pending:
    """A check's reasons and evidence, validated when the check ran and rendered for the rows a
    consumer reads: most of a large run's findings are never shown, and their text would be
    most of its memory. Holds only the columns the text is made of; the subject columns a
    template names (account_id ...) are read from the run's findings, which hold them as codes."""

    check: Check
    source: pd.DataFrame  # the reason key (``_key``), the templates' fields and the evidence columns
    evidence: tuple[str, ...]
    named_keys: tuple[str, ...]  # the subject columns the templates name, read from the run's findings

    @classmethod
    def of(cls, c: Check, result: pd.DataFrame) -> "_Pending":
        keys = result["reason_key"] if "reason_key" in result.columns else _lower(result["status"])
        keys = occurring(pd.Categorical(keys))  # a template is needed for the keys that occur
        if (keys.codes < 0).any():  # no template to render: never a neighbour's text
            raise ValueError(f"reason_key is missing in {int((keys.codes < 0).sum())} rows")
        fields: set[str] = set()
        for key in keys.categories:
            templates = c.reasons.get(key)
            if templates is None:
                raise ValueError(f"no reason template for key {key!r}")
            for template in templates.values():
                for _, name, _, _ in string.Formatter().parse(template):
                    if name is not None and name not in result.columns:
                        raise KeyError(f"reason template field {{{name}}} is not a column of the check's result")
                    fields.add(name)
        evidence = tuple(col for col in result.columns if col not in _STANDARD and not col.startswith("_"))
        kept = [col for col in result.columns if (col in fields and col not in _KEYS) or col in evidence]
        source = result[kept]
        return cls(c, source.assign(_key=keys, **_repetitive_text(source)), evidence,
                   tuple(col for col in _KEYS if col in fields))

    def render(self, rows: np.ndarray, keys: pd.DataFrame,
               columns: Sequence[str] = TEXT_COLUMNS) -> dict[str, "pa.Array"]:
        """The text ``columns`` (of :data:`TEXT_COLUMNS`) of the result's ``rows`` (positions);
        ``keys``: the subject columns of those rows."""
        frame = self.source.iloc[rows] if len(rows) != len(self.source) else self.source
        out = {}
        if "evidence" in columns:
            out["evidence"] = (_evidence(frame[list(self.evidence)]) if self.evidence
                               else pa.array(["{}"] * len(frame), pa.large_string()))
        languages = {"reason": "en", "reason_ja": "ja"}
        wanted = [col for col in languages if col in columns]
        if not wanted:
            return out
        frame = frame.assign(**{col: pd.Series(keys[col].array, index=frame.index) for col in self.named_keys})
        codes = frame["_key"].cat.codes.to_numpy()
        positions, reasons = [], {col: [] for col in wanted}
        for code in np.unique(codes):
            templates = self.check.reasons[frame["_key"].cat.categories[code]]
            where = np.flatnonzero(codes == code)
            part = frame.iloc[where] if len(where) != len(frame) else frame
            positions.append(where)
            for col in wanted:
                reasons[col].append(_render_arrow(templates.get(languages[col], templates["en"]), part))
        # rows were rendered grouped by reason key; put them back in order
        back = None if len(positions) <= 1 else pa.array(np.argsort(np.concatenate(positions), kind="stable"))
        return {**{col: _string_column(chunks, back) for col, chunks in reasons.items()}, **out}


def _lower(values: pd.Series) -> pd.Series:
    """Text in lower case, once per distinct value; a categorical's categories are renamed
    where they stay distinct."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = values.cat.categories.astype("string").str.lower()
        if categories.is_unique:
            return values.cat.rename_categories(categories)
    return lowered(values)


_SHARED_TEXT_MIN_ROWS = 10_000  # below this a column costs too little to be worth encoding
_SAMPLE_ROWS = 20_000  # evenly spaced rows that tell a column of names from one of kinds


def _repetitive_text(frame: pd.DataFrame) -> dict[str, pd.Categorical]:
    """Text columns whose values repeat (kinds, levels, countries ...: three quarters of what a
    large run keeps for its deferred text) as categoricals holding each value once. Rendering
    reads them as the same text."""
    out = {}
    if len(frame) < _SHARED_TEXT_MIN_ROWS:
        return out
    for col in frame.columns:
        values = frame[col]
        if not (pd.api.types.is_string_dtype(values.dtype) and not isinstance(values.dtype, pd.CategoricalDtype)):
            continue
        if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) != "string":
            continue
        sample = values.iloc[::max(1, len(values) // _SAMPLE_ROWS)]
        if sample.nunique(dropna=False) * 2 > len(sample):  # names, ids: hardly a value repeats
            continue
        codes, dictionary = encode(values)  # remembered: several checks pass the same column on
        if len(dictionary) * 8 > len(values):
            continue
        out[col] = pd.Categorical.from_codes(codes, categories=pd.Index(dictionary.to_pylist(), dtype=object))
    return out


@dataclass
class _Part:
    """One check's findings (``size`` rows): the first ``len(rows)`` rendered from ``pending``
    (result rows ``rows``), then rows whose text is already known (``text``: coverage gaps, a
    failed check). The columns of few distinct values (:data:`_CODED_KEYS`: thousands of rows
    per account) are held as codes into ``dictionaries`` (:func:`cloudaudit.frames.encode`),
    joined into one categorical per column for the run."""

    frame: pd.DataFrame | None  # the rows without text, until run_checks has gathered them
    pending: _Pending | None
    rows: "np.ndarray | _EveryRow"  # the result rows of the deferred findings
    text: pd.DataFrame
    dictionaries: dict[str, "pa.Array | pa.ChunkedArray"] = field(default_factory=dict)
    classification: np.ndarray | None = None  # codes into dictionaries["classification"], once classified

    def __post_init__(self) -> None:
        self.size = len(self.frame)

    @classmethod
    def coded(cls, frame: pd.DataFrame, pending: _Pending | None, rows: np.ndarray, text: pd.DataFrame) -> "_Part":
        """A part whose :data:`_CODED_KEYS` columns are replaced by codes."""
        codes, dictionaries = {}, {}
        for col in _CODED_KEYS:
            codes[col], dictionaries[col] = encode(frame[col])
        return cls(frame.assign(**codes), pending, rows, text, dictionaries)

    def render(self, local: np.ndarray | None, keys: pd.DataFrame,
               columns: Sequence[str] = TEXT_COLUMNS) -> dict[str, list["pa.Array"]]:
        """Chunks of the text ``columns`` of the part's rows ``local`` (sorted positions; None:
        every row); ``keys``: the subject columns of the part's rows."""
        if local is None:
            local = np.arange(self.size)
        deferred = local[local < len(self.rows)]
        known = local[len(deferred):] - len(self.rows)
        chunks: dict[str, list] = {col: [] for col in columns}
        if self.pending is not None and len(deferred):
            contiguous = len(deferred) and deferred[-1] - deferred[0] + 1 == len(deferred)  # sorted positions
            at = keys.iloc[deferred[0]:deferred[-1] + 1] if contiguous else keys.iloc[deferred]
            for col, array in self.pending.render(self.rows[deferred], at, columns).items():
                chunks[col].append(array)
        if len(known):
            for col in columns:
                chunks[col].append(text_array(self.text[col].iloc[known]))
        return chunks


class _DeferredText:
    """The reasons and evidence of a run's findings, rendered for the rows asked for
    (:meth:`cloudaudit.findings.Findings.rows`, or every row on first use of ``Findings.df``).
    Checks' parts are rendered on a pool of threads, as the checks ran."""

    def __init__(self, parts: Sequence[_Part], keys: pd.DataFrame, workers: int = 1) -> None:
        self._parts = list(parts)
        self._keys = keys  # the run's subject columns (codes), which the templates may name
        self._starts = np.cumsum([0] + [p.size for p in self._parts])
        self._workers = workers
        self._broken: str | None = None

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __call__(self, positions: np.ndarray | None,
                 columns: Sequence[str] = TEXT_COLUMNS) -> dict[str, pd.arrays.ArrowStringArray]:
        """The text ``columns`` (reason, reason_ja, evidence by default) of the findings at
        ``positions``. ``None`` renders every row and column once, releasing each check's
        columns as it goes (after that call nothing more can be rendered: ``Findings.df``
        keeps the text)."""
        if positions is None:
            columns = TEXT_COLUMNS
            order, jobs = None, [(i, None) for i in range(len(self._parts))]
        else:
            positions = np.asarray(positions, dtype=np.int64)
            if len(positions) and (positions.min() < 0 or positions.max() >= len(self)):
                raise IndexError(f"finding positions must be between 0 and {len(self) - 1}")
            order = np.argsort(positions, kind="stable")
            ordered = positions[order]
            part_of = np.searchsorted(self._starts, ordered, side="right") - 1
            jobs = [(p, ordered[part_of == p] - self._starts[p]) for p in np.unique(part_of)]

        def render(job):
            i, local = job
            part = self._parts[i]
            chunks = part.render(local, self._keys.iloc[self._starts[i]:self._starts[i + 1]], columns)
            if positions is None:
                part.pending, part.text = None, _NO_TEXT  # every row is rendered once: free the sources
            return chunks

        if self._broken is not None:
            raise RuntimeError(f"the findings' text could not be rendered: {self._broken}")
        try:
            if self._workers > 1 and len(jobs) > 1:
                with ThreadPoolExecutor(min(self._workers, len(jobs)), thread_name_prefix="cloudaudit-text") as pool:
                    rendered = list(pool.map(render, jobs))
            else:
                rendered = [render(job) for job in jobs]
        except BaseException as exc:
            if positions is None:  # some parts may be released already: never render a partial run
                self._broken = f"{type(exc).__name__}: {exc}"
            raise
        if positions is None:
            self._parts, self._keys = [], None
        out = {}
        for col in columns:
            column = pa.chunked_array([chunk for part in rendered for chunk in part[col]], pa.large_string())
            if order is not None and not np.array_equal(order, np.arange(len(order))):
                column = column.take(pa.array(np.argsort(order, kind="stable")))
            out[col] = pd.arrays.ArrowStringArray(column)
        return out


def _coded(values: pd.Series, categories: Sequence[str], ordered: bool = False) -> pd.Categorical:
    """Text as a categorical over fixed categories (code -1 for anything else), hashed in Arrow;
    a categorical (as :func:`checks._common.pick` makes) is mapped once per category."""
    codes = positions_of(values, pa.array(list(categories), pa.large_string()))
    return pd.Categorical.from_codes(codes.astype(np.int8), categories=list(categories), ordered=ordered)


def _repeated(value: str, n: int, categories: Sequence[str], ordered: bool = False) -> pd.Categorical:
    return pd.Categorical.from_codes(np.full(n, list(categories).index(value), dtype=np.int8),
                                     categories=list(categories), ordered=ordered)


def _string_column(chunks: list, order: "pa.Array | None") -> "pa.Array":
    """Chunks of rendered text as one large_string array, taken into ``order`` when given."""
    if not chunks:
        return pa.array([], pa.large_string())
    column = pa.concat_arrays(chunks) if len(chunks) > 1 else chunks[0]
    return column if order is None else column.take(order)


def _evidence(frame: pd.DataFrame) -> "pa.Array":
    """One compact JSON object per row (a large_string array), built column by column with
    Arrow string kernels (no Python string per row except for values Arrow cannot type, which
    go through ``json``)."""
    if not len(frame):
        return pa.array([], pa.large_string())
    pieces: list = []
    literal = ""  # text between two value arrays, passed as one scalar
    for n, column in enumerate(frame.columns):
        literal += ("{" if n == 0 else ",") + json.dumps(str(column), ensure_ascii=False) + ":"
        bare = _bare_strings(frame[column])
        if bare is not None:  # quotes go into the literals: no quoted copy of the column
            pieces += [_large(literal + '"'), bare]
            literal = '"'
        else:
            pieces += [_large(literal), _json_values(frame[column])]
            literal = ""
    pieces.append(_large(literal + "}"))
    return pc.binary_join_element_wise(*pieces, _large(""))


def _bare_strings(values: pd.Series) -> "pa.Array | None":
    """A text column with no missing value and nothing to escape, as it is; else None."""
    if not (pd.api.types.is_string_dtype(values.dtype) and values.dtype != object) and not (
            values.dtype == object and pd.api.types.infer_dtype(values, skipna=False) == "string"):
        return None
    array = _arrow(values)
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)) or array.null_count:
        return None
    array = array.cast(pa.large_string())
    return None if _may_need_escapes(array) else array


_CONTROL = "[\\x00-\\x1f]"


def _json_values(values: pd.Series) -> "pa.Array":
    """Each value of a column as a JSON literal (``null`` for missing), as a large_string array."""
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):  # ISO 8601 in UTC to the millisecond, as pandas writes it
        utc = values.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(dtype, "tz", None) is not None else values
        stamps = _iso(utc, "ms")
        quote = _large('"')
        return pc.fill_null(pc.binary_join_element_wise(quote, stamps, _large('Z"'), _large("")), "null")
    if pd.api.types.is_bool_dtype(dtype):
        array = _arrow(values.astype("boolean"))
        return pc.fill_null(pc.if_else(array, _large("true"), _large("false")), "null")
    if pd.api.types.is_numeric_dtype(dtype):
        array = _arrow(values)
        if pa.types.is_floating(array.type):
            array = pc.if_else(pc.is_finite(array), array, pa.scalar(None, array.type))
        return pc.fill_null(array.cast(pa.large_string()), "null")
    array = None
    if dtype != object or pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty") or \
            {type(v) for v in values.dropna()} <= {list, tuple}:  # sets go through json, sorted
        try:
            array = _arrow(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            array = None
    if array is not None and pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if array is not None and pa.types.is_null(array.type):
        return pc.fill_null(array.cast(pa.large_string()), "null")
    if array is not None and (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return pc.fill_null(_quoted(array.cast(pa.large_string())), "null")
    if array is not None and pa.types.is_list(array.type) and pa.types.is_string(array.type.value_type):
        items = pc.fill_null(_quoted(pc.list_flatten(array).cast(pa.large_string())), "null")
        offsets = pc.cast(array.offsets, pa.int64())
        lists = pa.LargeListArray.from_arrays(pc.subtract(offsets, offsets[0]), items, mask=array.is_null())
        joined = pc.binary_join_element_wise(_large("["), pc.binary_join(lists, _large(",")), _large("]"), _large(""))
        return pc.fill_null(joined, "null")
    # anything else (sets, dicts, mixed objects): one json.dumps per value
    return pa.array([_json_literal(v) for v in values.astype(object)], type=pa.large_string())


def _arrow(values) -> "pa.Array":
    array = pa.array(values, from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _large(text: str) -> "pa.Scalar":
    return pa.scalar(text, pa.large_string())


def _quoted(array: "pa.Array") -> "pa.Array":
    """Strings as JSON string literals: backslash and quote escaped, control characters (rare in
    tenant data, but possible) through ``json.dumps``."""
    array = array.cast(pa.large_string())
    quote = _large('"')
    if not _may_need_escapes(array):  # the common case: one pass over the bytes, no kernel
        return pc.binary_join_element_wise(quote, array, quote, _large(""))
    escaped = pc.replace_substring(pc.replace_substring(array, "\\", "\\\\"), '"', '\\"')
    quoted = pc.binary_join_element_wise(quote, escaped, quote, _large(""))
    control = pc.fill_null(pc.match_substring_regex(array, _CONTROL), False)
    if pc.any(control).as_py():
        rows = array.filter(control).to_pylist()
        quoted = pc.replace_with_mask(quoted, control, pa.array([json.dumps(r, ensure_ascii=False) for r in rows],
                                                                 pa.large_string()))
    return quoted


def _may_need_escapes(array: "pa.Array") -> bool:
    """Whether any byte of the string data is a quote, a backslash or a control character (the
    data buffer may extend past a sliced array: then this errs on the safe side)."""
    data = array.buffers()[2]
    if data is None or data.size == 0:
        return False
    raw = np.frombuffer(data, dtype=np.uint8)
    return bool(((raw < 0x20) | (raw == 0x22) | (raw == 0x5C)).any())


def _json_literal(value: object) -> str:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return "null"
    # compact, as the Arrow-built values: a row's evidence is the same whichever rows it is rendered with
    return json.dumps(value, ensure_ascii=False, default=_json_default, separators=(",", ":"))


def _json_default(value: object) -> object:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, (tuple, np.ndarray)):
        return list(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    return str(value)


def _run_one(c: Check, inventory: Inventory, policy: Policy, scopes: pd.DataFrame) -> _Part:
    try:
        rows, pending = _finish(c, c.run(inventory, policy))
    except Exception as exc:  # noqa: BLE001 - a broken check is an ERROR finding, never a crash or silence
        where = traceback.extract_tb(exc.__traceback__)[-1]
        reason = f"check failed: {type(exc).__name__}: {exc} ({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
        return _known(_error_rows(c, scopes, reason))
    gaps = _coverage_gaps(c, inventory, scopes)
    if gaps.empty:
        return _Part.coded(rows, pending, _EveryRow(len(rows)), _NO_TEXT)
    # Drop what the check said for the uncovered scopes: whole accounts (no region, no subject),
    # one region, or one subject. A gap in a region or a subject also voids the account's
    # account-level verdicts (rows without a region / a subject): they rest on every part.
    one = gaps["resource_id"].notna()
    account_gaps = gaps[~one & gaps["region"].isna()][["provider", "account_id"]]
    parts = {"region": gaps[~one & gaps["region"].notna()][["provider", "account_id", "region"]],
             "resource_id": gaps[one][["provider", "account_id", "resource_id"]]}
    keep = ~_matches(rows, account_gaps)
    for column, part_gaps in parts.items():
        if len(part_gaps):
            keep &= ~_matches(rows, part_gaps)
            keep &= ~(_matches(rows, part_gaps[["provider", "account_id"]]) & rows[column].isna().to_numpy())
    errors = gaps.assign(status=_repeated("ERROR", len(gaps), STATUSES),
                         severity=_repeated(c.severity, len(gaps), SEVERITIES, ordered=True), evidence="{}",
                         reason="not evaluated: " + gaps["reason"],
                         reason_ja="評価できませんでした: " + gaps["reason_ja"])
    frame = pd.concat([rows[keep], errors.drop(columns=list(TEXT_COLUMNS))], ignore_index=True)
    return _Part.coded(frame, pending, np.flatnonzero(keep), errors[list(TEXT_COLUMNS)].reset_index(drop=True))


class _EveryRow:
    """The rows 0 .. n-1 of a check's result, all deferred (no coverage gap dropped any): row i
    is result row i, without an array of millions of positions to say so."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, positions: np.ndarray) -> np.ndarray:
        return positions


_NO_TEXT = pd.DataFrame({col: pd.Series([], dtype="string") for col in TEXT_COLUMNS})


def _known(rows: pd.DataFrame) -> _Part:
    """Rows whose text is already rendered, as a part."""
    return _Part.coded(rows.drop(columns=list(TEXT_COLUMNS)).reset_index(drop=True), None, np.arange(0),
                       rows[list(TEXT_COLUMNS)].reset_index(drop=True))


def _matches(rows: pd.DataFrame, keys: pd.DataFrame) -> np.ndarray:
    """Which ``rows`` have a combination of ``keys``' columns that appears in ``keys``."""
    if keys.empty:
        return np.zeros(len(rows), dtype=bool)
    # each column's values as positions among the keys' distinct values (a missing value is one
    # of them; 0: a value no key holds), combined into one integer per row: no text per row
    # (the checks' keys are mostly the inventory's categoricals)
    row_combined = np.zeros(len(rows), dtype=np.int64)
    key_combined = np.zeros(len(keys), dtype=np.int64)
    span = 1
    for col in keys.columns:
        distinct = pc.unique(text_array(keys[col]))
        span *= len(distinct) + 1
        if span >= 2 ** 62:  # too many combinations for one integer: compare as text
            hit = rows[list(keys.columns)].astype("string").merge(keys.astype("string").drop_duplicates(),
                                                                  how="left", indicator=True)
            return (hit["_merge"] == "both").to_numpy()
        row_combined = row_combined * (len(distinct) + 1) + positions_of(rows[col], distinct).astype(np.int64) + 1
        key_combined = key_combined * (len(distinct) + 1) + positions_of(keys[col], distinct).astype(np.int64) + 1
    return np.isin(row_combined, key_combined)


def _apply_acceptances(findings: pd.DataFrame, policy: Policy, today) -> tuple[pd.DataFrame, list[dict]]:
    expired: list[dict] = []
    notes: dict[str, int] = {}  # each acceptance's note, once
    if not policy.acceptances:  # most runs: one byte a row, nothing matched
        findings["acceptance"] = pd.Categorical.from_codes(np.full(len(findings), -1, dtype=np.int8),
                                                           categories=pd.Index([], dtype="string"))
        return findings, expired
    accepted = np.full(len(findings), -1, dtype=np.int32)  # which note suppresses each row
    open_ = _among(findings["status"], ["FAIL", "WARN"])
    for acc in policy.acceptances:  # a handful of acceptances, each matched over all rows at once
        match = (open_ & _matching(findings["check_id"], translate(acc.check_id))
                 & _matching(findings["account_id"], translate(acc.account))
                 & _matching(findings["resource_id"], translate(acc.resource)))
        if not match.any():
            continue
        if not acc.active(today):
            expired.append({"check_id": acc.check_id, "resource": acc.resource, "owner": acc.owner,
                            "expires": acc.expires.isoformat() if acc.expires else None, "reason": acc.reason,
                            "findings": int(match.sum())})
            continue
        note = f"accepted by {acc.owner} until {acc.expires.isoformat() if acc.expires else 'no expiry'}: {acc.reason}"
        accepted[match] = notes.setdefault(note, len(notes))
        open_ = open_ & ~match
    if notes:
        findings.loc[accepted >= 0, "status"] = "SUPPRESSED"
    findings["acceptance"] = pd.Categorical.from_codes(narrow_codes(accepted, len(notes)),
                                                       categories=pd.Index(list(notes), dtype="string"))
    return findings, expired


def _matching(values: pd.Series, pattern: str) -> np.ndarray:
    """Which values match a regular expression (a missing value as ""); a categorical column is
    matched once per category."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        hit = values.cat.categories.astype("string").str.match(pattern).to_numpy(dtype=bool)
        codes = values.cat.codes.to_numpy()
        return np.where(codes >= 0, hit[np.maximum(codes, 0)] if len(hit) else False, re.match(pattern, "") is not None)
    return values.astype("string").fillna("").str.match(pattern).to_numpy(dtype=bool)


def _among(values: pd.Series, wanted: Sequence[str]) -> np.ndarray:
    """Which values are among ``wanted`` (a missing value never is); a categorical is looked up
    once per category (``Series.isin`` sorts its millions of codes)."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return values.isin(list(wanted)).fillna(False).to_numpy(dtype=bool)
    return per_code(values.cat.codes.to_numpy(), values.cat.categories.isin(list(wanted)), False)


def _escalate(severity: pd.Series, classification: pd.Series, status: pd.Series) -> pd.Categorical:
    """One severity step up for open findings on top-secret / confidential resources."""
    if isinstance(severity.dtype, pd.CategoricalDtype) and list(severity.cat.categories) == list(SEVERITIES):
        rank = severity.cat.codes.to_numpy().astype(np.int8)
    else:
        rank = _coded(severity, SEVERITIES).codes.astype(np.int8)
    # one step up where there is a step above (a missing severity, -1, stays missing)
    up = _among(classification, ESCALATING_LEVELS) & _among(status, ["FAIL", "WARN", "SUPPRESSED"])
    up &= (rank >= 0) & (rank < len(SEVERITIES) - 1)
    return pd.Categorical.from_codes(rank + up, categories=list(SEVERITIES), ordered=True)


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def run_checks(inventory: Inventory, policy: Policy | None = None, *, checks: Iterable[str | Check] | None = None,
               run_id: str | None = None, today=None, collected_at: datetime | None = None,
               as_of: datetime | None = None, workers: int | None = None):
    """Run the registered checks (or the given ids / Check objects) and return :class:`Findings`.

    ``as_of`` is the instant ages are measured against (key age, inactivity ...): default now
    (or the time of an enclosing :func:`fixed_now`);
    give the collection time when replaying old evidence. ``today`` decides which risk
    acceptances have expired; ``collected_at`` is stamped on every finding (default ``as_of``).

    Checks run on a pool of ``workers`` threads (default: the CPU count, at most
    :data:`MAX_WORKERS`; 1 runs them one after the other). The pandas and Arrow kernels they
    spend their time in release the GIL, so two cores check about 1.6 times as fast. The
    findings are the same, in the same order, whatever the pool size. On Linux the run turns
    the process's transparent huge pages off while it lasts and puts them back after
    (:func:`cloudaudit._pages.small_pages`): its short-lived columns would each fault 2 MB
    zeroed pages (at 1M resources, 0.9 s of a 7 s run).

    Each check's reason templates are checked here (a missing template or field makes the
    check ERROR); its reasons and evidence are rendered when read (:attr:`Findings.core` never
    renders them, :meth:`Findings.rows` renders the rows asked for, ``Findings.df`` every row).
    """
    with small_pages():  # the run's short-lived columns: no 2 MB page zeroed per fault
        return _run_checks(inventory, policy, checks=checks, run_id=run_id, today=today,
                           collected_at=collected_at, as_of=as_of, workers=workers)


def _run_checks(inventory: Inventory, policy: Policy | None, *, checks: Iterable[str | Check] | None,
                run_id: str | None, today, collected_at: datetime | None, as_of: datetime | None,
                workers: int | None):
    from .findings import Findings  # local: findings imports engine constants

    policy = policy or Policy()
    today = today or today_utc()
    available = registry()
    selected = (list(available.values()) if checks is None
                else [cid if isinstance(cid, Check) else _lookup(available, cid) for cid in checks])
    scopes = _scopes(inventory)
    _release_arrow_memory()  # what an earlier run (a notebook's, a benchmark's) freed: 0.5 GB at 1M resources
    workers = max(1, min(len(selected), workers or min(os.cpu_count() or 1, MAX_WORKERS)))
    with fixed_now(as_of or now_utc()) as now:  # an enclosing fixed_now holds when as_of is not given
        _coverage_index(inventory)  # shared by every check: built once, before the threads start
        classified: Callable[[], None] = _nothing
        try:
            if workers == 1:
                shared, results = _SharedTables(selected), [None] * len(selected)
                for i in _start_order(selected):
                    results[i] = _run_one(selected[i], inventory, policy, scopes)
                    shared.done(selected[i])
                _classify(results, inventory, policy)
            else:
                results, classified = _run_on_threads(selected, inventory, policy, scopes, workers)
            parts = [part for part in results if len(part.frame)]
            ran = [c for c, part in zip(selected, results) if len(part.frame)]
            if not parts:
                return Findings(pd.DataFrame(columns=list(FINDING_COLUMNS)), policy=policy)
            _release_arrow_memory()
            findings = _gathered(parts, ran, classified)
        finally:
            classified()  # the classifier's thread is done (a second call only waits on finished work)
            clear_run_caches()  # tables shared by the checks of this run: not kept past it
    _release_arrow_memory()
    findings, expired = _apply_acceptances(findings, policy, today)
    findings["severity"] = _escalate(findings["severity"], findings["classification"], findings["status"])
    findings["run_id"] = pd.Categorical.from_codes(np.zeros(len(findings), dtype=np.int8),
                                                   categories=[run_id or new_run_id()])
    findings["collected_at"] = pd.Timestamp(collected_at) if collected_at else now
    findings = findings.reindex(columns=[col for col in FINDING_COLUMNS if col not in TEXT_COLUMNS])
    return Findings(findings, expired_acceptances=expired, policy=policy,
                    text=_DeferredText(parts, findings[list(_KEYS)], workers))


def _start_order(selected: Sequence[Check]) -> list[int]:
    """The positions of ``selected`` in the order the checks start: those that share tables
    first, so the tables are dropped early in the run (the findings keep ``selected``'s order).
    On threads, :class:`_Schedule` lets a check go before one that would wait for a table."""
    return sorted(range(len(selected)), key=lambda i: not selected[i].shares)


class _Schedule:
    """Hands a run's checks to its threads in start order (:func:`_start_order`), except that a
    check whose shared table another thread is still building waits while another check that
    shares tables, but not that one, goes first: the thread would only wait for the table (so
    the threads start on different tables, the identities and the labels, not both on one).
    Checks that share nothing never go before those that share tables, which then finish, and
    drop their tables, sooner (letting them go first: 0.2 s faster, 40 MB more at 1M resources)."""

    def __init__(self, checks: Sequence[Check], order: Sequence[int]) -> None:
        self._checks = checks
        self._pending = list(order)
        self._building: dict[str, int] = {}  # table -> the check that reads it first, running
        self._built: set[str] = set()
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """The next check to start (its position), or None when none is left."""
        with self._lock:
            if not self._pending:
                return None
            i = next((i for i in self._pending if self._checks[i].shares
                      and not self._building.keys() & set(self._checks[i].shares)), self._pending[0])
            self._pending.remove(i)
            for table in self._checks[i].shares:
                if table not in self._built:
                    self._building.setdefault(table, i)
            return i

    def finished(self, i: int) -> None:
        """Check ``i`` has finished: the tables it was the first to read are built."""
        with self._lock:
            for table in [table for table, first in self._building.items() if first == i]:
                del self._building[table]
                self._built.add(table)

    def stop(self) -> None:
        """Start no more checks (Ctrl-C, an engine bug)."""
        with self._lock:
            self._pending.clear()


class _SharedTables:
    """How many of a run's checks still read each shared table (their ``shares``): when the
    last has finished, the table is dropped (:func:`cloudaudit.memo.forget`) and the free pages
    given back (:func:`_release_arrow_memory`): the parts that come later are numpy's as much as
    Arrow's, and neither allocator reuses the other's pages (at 1M resources 20-80 MB less peak,
    0.1-0.2 s more). A check that reads a table it does not declare only computes it again."""

    def __init__(self, checks: Iterable[Check]) -> None:
        self._left = Counter(name for c in checks for name in set(c.shares))

    def done(self, c: Check) -> None:
        dropped = False
        for name in set(c.shares):
            self._left[name] -= 1
            if not self._left[name]:
                memo.forget(name)
                dropped = True
        if dropped:
            _release_arrow_memory()


def _release_arrow_memory() -> None:
    """Give the pages Arrow's allocator keeps after the checks' kernels back to the system: the
    run's last steps allocate through numpy, which cannot reuse them, so the process would hold
    both (measured at 1M resources: 0.2 GB less peak, 0.5 GB less after the run). The C heap's
    free pages too (numpy's freed columns: 0.13 GB less after the run). Called at the start of
    a run as well: a process that ran before (a notebook, a service) holds the earlier run's
    freed pages (0.5 GB at 1M resources)."""
    pa.default_memory_pool().release_unused()
    trim_heap()


def _nothing() -> None:
    return None


def _gathered(parts: list[_Part], ran: list[Check], classified: Callable[[], None] = _nothing) -> pd.DataFrame:
    """The parts' rows in one frame, with the per-check columns. The last parts may still be
    being classified: ``classified()`` waits for that, and is called only when every other
    column is gathered."""
    findings = pd.concat([part.frame.drop(columns=list(_CODED_KEYS)) for part in parts], ignore_index=True)
    for col in _CODED_KEYS:  # one categorical per column: each distinct value held once
        findings[col] = _categorical(parts, col)
    # Per-check text is stored once per check (categorical), not once per finding row.
    sizes = [part.size for part in parts]
    static = {"check_id": [c.id for c in ran],
              "title": [c.title.get("en", "") for c in ran],
              "title_ja": [c.title.get("ja", c.title.get("en", "")) for c in ran],
              "controls": [", ".join(c.controls) for c in ran],
              "policy_items": [", ".join(c.policy_items) for c in ran],
              "remediation": [c.remediation.get("en", "") for c in ran]}
    for column, per_check in static.items():
        values = pd.Categorical(per_check)
        findings[column] = pd.Categorical.from_codes(np.repeat(values.codes, sizes), categories=values.categories)
    classified()
    findings["classification"] = _categorical(parts, "classification")
    for part in parts:
        part.frame, part.dictionaries = None, {}  # the run's frame holds the rows now; a part keeps its text's sources
    return findings


# findings classified in one lookup. Each lookup hashes the classification tags anew (0.1 s at
# 1M resources), so few large ones while many checks remain; the last checks' parts go on
# their own (at least _CLASSIFY_LAST rows), so the lookup left after the last check is small.
_CLASSIFY_BATCH = 3_000_000
_CLASSIFY_LAST = 100_000


def _classify(parts: Sequence[_Part], inventory: Inventory, policy: Policy,
              classified: dict[tuple, _Part] | None = None) -> None:
    """Give each part the classification of its subjects (:func:`cloudaudit.labels.subject_levels`),
    as codes like its other coded columns: one lookup for all the parts' rows.

    Several checks report on the same rows (every data-bearing resource ...): a part whose
    subjects are the very rows of a part classified before (``classified``: this run's parts by
    :func:`_subject_rows`) takes that part's codes instead of being looked up again."""
    classified = {} if classified is None else classified
    twins: list[tuple[_Part, _Part]] = []
    fresh: list[_Part] = []
    for part in (part for part in parts if part.size):
        rows = _subject_rows(part)
        twin = classified.get(rows) if rows is not None else None
        if twin is not None and _same_subjects(part, twin):
            twins.append((part, twin))
            continue
        fresh.append(part)
        if rows is not None:
            classified.setdefault(rows, part)
    if fresh:
        _look_up_levels(fresh, inventory, policy)
    for part, twin in twins:
        part.classification, part.dictionaries["classification"] = twin.classification, twin.dictionaries["classification"]


def _subject_rows(part: _Part) -> tuple | None:
    """The identity of a part's resource ids (:func:`cloudaudit.frames.arrow_identity`): the
    part holds them until the run is gathered, so no other column can take their place."""
    return arrow_identity(part.frame["resource_id"])


def _same_subjects(part: _Part, twin: _Part) -> bool:
    """Whether two parts with the same resource ids have the same provider and account in
    every row (compared on codes: each dictionary is a few values)."""
    for col in ("provider", "account_id"):
        mine, theirs = part.frame[col].to_numpy(), twin.frame[col].to_numpy()
        if len(mine) != len(theirs):
            return False
        # my dictionary's values placed in theirs (-2: not there), a missing value (-1) kept
        placed = pc.fill_null(pc.index_in(part.dictionaries[col], value_set=twin.dictionaries[col]), -2).to_numpy()
        if not np.array_equal(per_code(mine, placed.astype(np.int64), -1), theirs):
            return False
    return True


def _look_up_levels(parts: Sequence[_Part], inventory: Inventory, policy: Policy) -> None:
    subjects = pd.DataFrame({col: _categorical(parts, col) for col in ("provider", "account_id")})
    subjects["resource_id"] = pd.arrays.ArrowStringArray(
        pa.chunked_array([chunk.cast(pa.large_string()) for part in parts
                          for chunk in text_chunks(part.frame["resource_id"]).chunks], pa.large_string()))
    levels = subject_levels(inventory, policy, subjects).array
    dictionary = categories_text(levels)
    start = 0
    for part in parts:
        part.classification = narrow_codes(levels.codes[start:start + part.size], len(levels.categories))
        part.dictionaries["classification"] = dictionary
        start += part.size


def _categorical(parts: Sequence[_Part], col: str) -> pd.Categorical:
    """The parts' coded column ``col`` as one categorical (:func:`cloudaudit.frames.unify`)."""
    return unify([(part.classification if col == "classification" else part.frame[col].to_numpy(),
                    part.dictionaries[col]) for part in parts])


def _run_on_threads(selected: list[Check], inventory: Inventory, policy: Policy, scopes: pd.DataFrame,
                    workers: int) -> tuple[list[_Part], Callable[[], None]]:
    """The checks' parts, in the order of ``selected``, and a function that waits until they
    are all classified. Parts are classified in batches on a thread of their own as the checks
    finish, so the lookups overlap the last checks (and the last batch, the gathering of the
    run: the caller must call the function, also when it fails)."""
    context = contextvars.copy_context()  # each thread judges ages by this run's clock
    schedule = _Schedule(selected, _start_order(selected))
    finished: queue.SimpleQueue = queue.SimpleQueue()  # (position, part or the exception that stopped a thread)

    def work() -> None:
        while (i := schedule.take()) is not None:
            try:
                part = context.copy().run(_run_one, selected[i], inventory, policy, scopes)
            except BaseException as exc:  # Ctrl-C or an engine bug: the run stops, this thread too
                finished.put((i, exc))
                return
            schedule.finished(i)
            finished.put((i, part))

    pool = ThreadPoolExecutor(workers, thread_name_prefix="cloudaudit-check")
    # one more thread for the lookups: the checks' threads leave a core idle between kernels
    classifier = ThreadPoolExecutor(1, thread_name_prefix="cloudaudit-classify")
    try:
        for _ in range(workers):
            pool.submit(work)
        shared = _SharedTables(selected)
        results: list[_Part | None] = [None] * len(selected)
        batch: list[_Part] = []
        batches = []
        classified: dict[tuple, _Part] = {}  # the parts classified so far (the classifier's thread only)
        running = len(selected)
        while running:
            i, part = finished.get()
            if isinstance(part, BaseException):
                raise part
            results[i] = part
            shared.done(selected[i])
            running -= 1
            batch.append(part)
            rows = sum(p.size for p in batch)
            if rows >= _CLASSIFY_BATCH or (running <= workers and rows >= _CLASSIFY_LAST):
                batches.append(classifier.submit(_classify, batch, inventory, policy, classified))
                batch = []
        batches.append(classifier.submit(_classify, batch, inventory, policy, classified))
    except BaseException:  # Ctrl-C or an engine bug: do not start the checks still queued
        schedule.stop()
        classifier.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)

    def classified() -> None:
        try:
            for done in batches:
                done.result()
        finally:
            classifier.shutdown(wait=True)

    return results, classified


def _lookup(available: Mapping[str, Check], check_id: str) -> Check:
    if check_id not in available:
        raise RegistryError(f"unknown check id {check_id!r}")
    return available[check_id]
