"""Helpers for the golden tests of the data checks (RES, ISL, ENC, CLS, CSP)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from identity_fakes import denied, row, statuses  # noqa: F401 - shared with the AUTH / LCM / LOG tests
from identity_fakes import run as _run

from cloudaudit.policy import Policy

TODAY = date(2026, 11, 25)


def run(inv, check_id: str, policy: Policy | None = None) -> pd.DataFrame:
    """Findings of one check as a plain DataFrame, judged on the fixed :data:`TODAY`."""
    return _run(inv, check_id, policy, today=TODAY)


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
