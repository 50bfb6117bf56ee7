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

import importlib
import re
import string
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fnmatch import translate
from typing import Callable, Iterable, Mapping, Sequence

import pandas as pd

from .errors import RegistryError
from .inventory import Inventory
from .policy import Policy, today_utc

SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")
STATUSES: tuple[str, ...] = ("PASS", "FAIL", "WARN", "ERROR", "SUPPRESSED")
CHECK_STATUSES = ("PASS", "FAIL", "WARN")
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

    def run(self, inventory: Inventory, policy: Policy) -> pd.DataFrame:
        return self.function(inventory, policy)


_REGISTRY: dict[str, Check] = {}


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
                 providers: Sequence[str] = PROVIDER_NAMES, tier: str = "core") -> Check:
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
    if isinstance(remediation, str):
        remediation = {"en": remediation, "ja": remediation}
    return Check(id=id, title=dict(title), controls=tuple(controls), policy_items=tuple(policy_items),
                 severity=severity, needs=tuple(needs), reasons={k: dict(v) for k, v in reasons.items()},
                 remediation=dict(remediation), providers=tuple(providers), function=function, tier=tier)


def check(id: str, **meta) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check function under a stable id (``RES-001`` ...).

    Metadata (keyword arguments of :func:`define_check`): ``title`` {"en", "ja"}, ``controls``
    (ids from checks/iso27017.yaml), ``severity``, ``needs`` (tables or ``table.column``),
    ``reasons`` mapping a reason key (``pass``, ``fail``, ``warn`` or any ``reason_key`` the
    check emits) to {"en": template, "ja": template} with ``{column}`` fields of the result,
    ``remediation``, ``policy_items`` (seed policy items), ``providers``, ``tier``.
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


# ----------------------------------------------------------------------------- reason templates

def render_template(template: str, frame: pd.DataFrame) -> pd.Series:
    """Vectorized ``str.format`` of one template over every row (fields are column names)."""
    out = pd.Series([""] * len(frame), index=frame.index, dtype=object)
    for literal, field_name, spec, _ in string.Formatter().parse(template):
        if literal:
            out = out + literal
        if field_name is not None:
            if field_name not in frame.columns:
                raise KeyError(f"reason template field {{{field_name}}} is not a column of the check's result")
            out = out + _text_series(frame[field_name])
    return out


def _text_series(values: pd.Series) -> pd.Series:
    """Column as display text; vectorized except for object columns (which may hold lists)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(values):
        text = values.dt.strftime("%Y-%m-%d")
    elif values.dtype == object:
        return values.map(_text, na_action=None).astype(object)
    else:
        text = values.astype("string")
    return text.fillna("unknown").astype(object)


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
    return pd.concat(frames, ignore_index=True).drop_duplicates().reset_index(drop=True)


_DIGESTS: "dict[int, tuple[pd.DataFrame, pd.DataFrame]]" = {}


def _coverage_digest(inventory: Inventory) -> pd.DataFrame:
    """Coverage reduced to what gaps depend on: every failed row, and one ok row per
    (provider, account, table) — computed once per coverage table, not once per check."""
    cov = inventory.coverage
    cached = _DIGESTS.get(id(inventory))
    if cached is not None and cached[0] is cov:
        return cached[1]
    failed = cov[cov["status"] != "ok"]
    ok = cov[cov["status"] == "ok"].drop_duplicates(["provider", "account_id", "table"])
    digest = pd.concat([failed, ok], ignore_index=True)
    _DIGESTS.clear()  # one inventory at a time: no growth across runs
    _DIGESTS[id(inventory)] = (cov, digest)
    return digest


_COVERAGE_JA = {"denied": "アクセス拒否", "error": "エラー", "unsupported": "未対応"}


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
    """
    cov = _coverage_digest(inventory)
    cov = cov[cov["provider"].isin(c.providers)]
    rows = []
    for need in c.needs:
        only, bare = _split_need(need)
        for table in {bare, bare.partition(".")[0], "*"}:
            rows.append((need, table, only))
    serving = pd.DataFrame(rows, columns=["need", "table", "only"])
    relevant = cov.merge(serving, on="table")
    relevant = relevant[relevant["only"].isna() | (relevant["only"] == relevant["provider"])]
    # Needing all guardrails means needing every kind: a failed kind fails it too. (A failed
    # column does not fail a whole-table need: checks name the columns they depend on.)
    whole = [n for n in c.needs if n == "guardrails"]
    partial = cov[(cov["status"] != "ok") & cov["table"].str.startswith("guardrails.")]
    partial = partial.assign(need=partial["table"].str.split(".", n=1).str[0])
    partial = partial[partial["need"].isin(whole)]
    failed = pd.concat([relevant[relevant["status"] != "ok"], partial], ignore_index=True)
    reason = ("source " + failed["source"].fillna("?") + " for " + failed["table"] + " was "
              + failed["status"] + ": " + failed["message"].fillna(""))
    reason_ja = ("取得元 " + failed["source"].fillna("?") + " (" + failed["table"] + ") は"
                 + failed["status"].map(_COVERAGE_JA).fillna(failed["status"]) + ": " + failed["message"].fillna(""))
    gaps = failed[["provider", "account_id", "region"]].assign(reason=reason, reason_ja=reason_ja)
    # Something never collected for an account in scope is a gap as well.
    in_scope = scopes[scopes["provider"].isin(c.providers)]
    if len(in_scope) and c.needs:
        needs = pd.DataFrame([(n, *_split_need(n)) for n in c.needs], columns=["need", "only", "bare"])
        wanted = in_scope.merge(needs, how="cross")
        wanted = wanted[wanted["only"].isna() | (wanted["only"] == wanted["provider"])]
        seen = relevant[["provider", "account_id", "need"]].drop_duplicates()
        merged = wanted.merge(seen, on=["provider", "account_id", "need"], how="left", indicator=True)
        missing = merged[merged["_merge"] == "left_only"]
        gaps = pd.concat([gaps, missing[["provider", "account_id"]].assign(
            region=pd.NA, reason=missing["bare"] + " was not collected",
            reason_ja=missing["bare"] + " は収集されていません")], ignore_index=True)
    if gaps.empty:
        return gaps
    gaps["region"] = gaps["region"].astype("string")
    return (gaps.groupby(["provider", "account_id", "region"], dropna=False, sort=True)[["reason", "reason_ja"]]
            .agg(lambda r: "; ".join(sorted(set(r)))).reset_index())


def _error_rows(c: Check, scopes: pd.DataFrame, reason: str) -> pd.DataFrame:
    rows = scopes[scopes["provider"].isin(c.providers)].copy()
    if rows.empty:
        rows = pd.DataFrame({"provider": [pd.NA], "account_id": [pd.NA]})
    return rows.assign(region=pd.NA, resource_id=pd.NA, status="ERROR", reason=reason, reason_ja=reason)


_STANDARD = ("provider", "account_id", "region", "resource_id", "status", "reason_key", "severity")


def _finish(c: Check, result: pd.DataFrame) -> pd.DataFrame:
    """Validate a check's result and render reasons / evidence."""
    missing = [col for col in ("provider", "account_id", "resource_id", "status") if col not in result.columns]
    if missing:
        raise ValueError(f"result lacks column {missing[0]!r}")
    result = result.reset_index(drop=True)
    bad = ~result["status"].isin(CHECK_STATUSES)
    if bad.any():
        raise ValueError(f"status {result['status'][bad].iloc[0]!r} is not PASS, FAIL or WARN")
    result = result[result["provider"].isin(c.providers)].reset_index(drop=True)
    if "region" not in result.columns:
        result["region"] = pd.NA
    keys = result["reason_key"] if "reason_key" in result.columns else result["status"].str.lower()
    evidence_cols = [col for col in result.columns if col not in _STANDARD and not col.startswith("_")]
    reason_en = pd.Series([""] * len(result), index=result.index, dtype=object)
    reason_ja = reason_en.copy()
    for key in pd.unique(keys):
        templates = c.reasons.get(key)
        if templates is None:
            raise ValueError(f"no reason template for key {key!r}")
        mask = keys == key
        part = result[mask]
        reason_en[mask] = render_template(templates["en"], part)
        reason_ja[mask] = render_template(templates.get("ja", templates["en"]), part)
    if evidence_cols:
        evidence = result[evidence_cols].to_json(orient="records", lines=True, date_format="iso",
                                                 force_ascii=False, default_handler=str)
        evidence_list = evidence.splitlines() if len(result) else []
    else:
        evidence_list = ["{}"] * len(result)
    out = result[["provider", "account_id", "region", "resource_id", "status"]].copy()
    out["severity"] = result["severity"] if "severity" in result.columns else c.severity
    out["reason"] = reason_en
    out["reason_ja"] = reason_ja
    out["evidence"] = evidence_list
    return out


def _run_one(c: Check, inventory: Inventory, policy: Policy, scopes: pd.DataFrame) -> pd.DataFrame:
    try:
        rows = _finish(c, c.run(inventory, policy))
    except Exception as exc:  # noqa: BLE001 - a broken check is an ERROR finding, never a crash or silence
        where = traceback.extract_tb(exc.__traceback__)[-1]
        reason = f"check failed: {type(exc).__name__}: {exc} ({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
        return _error_rows(c, scopes, reason).assign(severity=c.severity, evidence="{}")
    gaps = _coverage_gaps(c, inventory, scopes)
    if gaps.empty:
        return rows
    # Drop what the check said for the uncovered scopes: whole accounts where region is NA.
    account_gaps = gaps[gaps["region"].isna()][["provider", "account_id"]].drop_duplicates()
    region_gaps = gaps[gaps["region"].notna()][["provider", "account_id", "region"]].drop_duplicates()
    keep = pd.Series(True, index=rows.index)
    if len(account_gaps):
        hit = rows[["provider", "account_id"]].merge(account_gaps, how="left", indicator=True)["_merge"]
        keep &= (hit == "left_only").to_numpy()
    if len(region_gaps):
        probe = rows[["provider", "account_id", "region"]].astype("string")
        hit = probe.merge(region_gaps.astype("string"), how="left", indicator=True)["_merge"]
        keep &= (hit == "left_only").to_numpy()
        # An account-wide verdict (no region) rests on every region: a gap in one voids it.
        accounts_with_gaps = region_gaps[["provider", "account_id"]].drop_duplicates().astype("string")
        hit = probe[["provider", "account_id"]].merge(accounts_with_gaps, how="left", indicator=True)["_merge"]
        keep &= ~((hit == "both").to_numpy() & rows["region"].isna().to_numpy())
    errors = gaps.assign(resource_id=pd.NA, status="ERROR", severity=c.severity, evidence="{}",
                         reason="not evaluated: " + gaps["reason"],
                         reason_ja="評価できませんでした: " + gaps["reason_ja"])
    return pd.concat([rows[keep], errors], ignore_index=True)


def _classification(inventory: Inventory, policy: Policy) -> pd.DataFrame:
    tags = inventory.tags
    labelled = tags[tags["key"] == policy.classification_key]
    levels = policy.levels(labelled["value"])
    return (labelled.assign(classification=levels)[["provider", "account_id", "resource_id", "classification"]]
            .drop_duplicates(["provider", "account_id", "resource_id"]))


def _apply_acceptances(findings: pd.DataFrame, policy: Policy, today) -> tuple[pd.DataFrame, list[dict]]:
    expired: list[dict] = []
    findings["acceptance"] = pd.Series(pd.NA, index=findings.index, dtype="string")
    open_ = findings["status"].isin(["FAIL", "WARN"])
    for acc in policy.acceptances:  # a handful of acceptances, each matched over all rows at once
        match = (open_
                 & findings["check_id"].str.match(translate(acc.check_id))
                 & findings["account_id"].fillna("").str.match(translate(acc.account))
                 & findings["resource_id"].fillna("").str.match(translate(acc.resource)))
        if not match.any():
            continue
        if not acc.active(today):
            expired.append({"check_id": acc.check_id, "resource": acc.resource, "owner": acc.owner,
                            "expires": acc.expires.isoformat() if acc.expires else None, "reason": acc.reason,
                            "findings": int(match.sum())})
            continue
        note = f"accepted by {acc.owner} until {acc.expires.isoformat() if acc.expires else 'no expiry'}: {acc.reason}"
        findings.loc[match, "status"] = "SUPPRESSED"
        findings.loc[match, "acceptance"] = note
        open_ &= ~match
    return findings, expired


def _escalate(severity: pd.Series, classification: pd.Series, status: pd.Series) -> pd.Series:
    rank = severity.map({s: i for i, s in enumerate(SEVERITIES)})
    bump = classification.isin(ESCALATING_LEVELS).fillna(False) & status.isin(["FAIL", "WARN", "SUPPRESSED"])
    rank = (rank + bump.astype(int)).clip(upper=len(SEVERITIES) - 1)
    return rank.map(dict(enumerate(SEVERITIES)))


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def run_checks(inventory: Inventory, policy: Policy | None = None, *, checks: Iterable[str | Check] | None = None,
               run_id: str | None = None, today=None, collected_at: datetime | None = None):
    """Run the registered checks (or the given ids / Check objects) and return :class:`Findings`."""
    from .findings import Findings  # local: findings imports engine constants

    policy = policy or Policy()
    today = today or today_utc()
    available = registry()
    selected = (list(available.values()) if checks is None
                else [cid if isinstance(cid, Check) else _lookup(available, cid) for cid in checks])
    scopes = _scopes(inventory)
    parts = []
    for c in selected:
        rows = _run_one(c, inventory, policy, scopes)
        if rows.empty:
            continue
        rows = rows.assign(check_id=c.id, title=c.title.get("en", ""), title_ja=c.title.get("ja", c.title.get("en", "")),
                           controls=", ".join(c.controls), policy_items=", ".join(c.policy_items),
                           remediation=c.remediation.get("en", ""))
        parts.append(rows)
    findings = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(FINDING_COLUMNS))
    classes = _classification(inventory, policy)
    findings = findings.drop(columns=["classification"], errors="ignore").merge(
        classes, on=["provider", "account_id", "resource_id"], how="left")
    findings, expired = _apply_acceptances(findings, policy, today)
    findings["severity"] = _escalate(findings["severity"], findings["classification"], findings["status"])
    findings["run_id"] = run_id or new_run_id()
    findings["collected_at"] = pd.Timestamp(collected_at or datetime.now(timezone.utc))
    findings = findings.reindex(columns=list(FINDING_COLUMNS))
    return Findings(findings, expired_acceptances=expired, policy=policy)


def _lookup(available: Mapping[str, Check], check_id: str) -> Check:
    if check_id not in available:
        raise RegistryError(f"unknown check id {check_id!r}")
    return available[check_id]
