"""Helpers for the golden tests of the data checks (RES, ISL, ENC, CLS, CSP)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from cloudaudit.engine import run_checks
from cloudaudit.policy import Policy

TODAY = date(2026, 11, 25)


def run(inv, check_id: str, policy: Policy | None = None) -> pd.DataFrame:
    """Findings of one check as a plain DataFrame."""
    return run_checks(inv, policy or Policy(), checks=[check_id], today=TODAY).df


def statuses(df: pd.DataFrame) -> dict[str, str]:
    """resource_id -> status for the rows that name a resource (ERROR rows have none)."""
    rows = df[df["resource_id"].notna()]
    assert not rows["resource_id"].duplicated().any(), rows["resource_id"][rows["resource_id"].duplicated()].tolist()
    return dict(zip(rows["resource_id"], rows["status"].astype(str)))


def row(df: pd.DataFrame, resource_id: str) -> pd.Series:
    """The single finding for a resource."""
    hit = df[df["resource_id"] == resource_id]
    assert len(hit) == 1, f"{len(hit)} rows for {resource_id}"
    return hit.iloc[0]


def account_statuses(df: pd.DataFrame) -> dict[tuple[str, str], list[str]]:
    """(provider, account_id) -> sorted statuses of that account's rows."""
    out: dict[tuple[str, str], list[str]] = {}
    for (p, a), part in df.groupby(["provider", "account_id"]):
        out[(p, a)] = sorted(part["status"].astype(str))
    return out


def res(provider: str, account: str, rid: str, kind: str, region: str | None, **extra) -> dict:
    """A resources row with sensible defaults for the data checks."""
    data_bearing = kind not in ("key", "vm", "security_group", "network", "load_balancer", "web_app", "cdn",
                                "api_gateway", "function", "peering")
    return {"provider": provider, "account_id": account, "resource_id": rid, "name": rid, "kind": kind,
            "region": region, "data_bearing": data_bearing, **extra}


def label(provider: str, account: str, rid: str, value: str, key: str = "classification") -> dict:
    return {"provider": provider, "account_id": account, "resource_id": rid, "key": key, "value": value}


def denied(provider: str, account: str, table: str) -> dict:
    return {"provider": provider, "account_id": account, "table": table, "status": "denied", "message": "AccessDenied"}
