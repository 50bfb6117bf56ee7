"""Data residency (RES): where data may be stored, replicated and backed up."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cloudaudit.engine import check
from cloudaudit.policy import Policy

from ._common import allowed_countries_text, location_verdict


@check(
    "RES-001",
    title={"en": "Resources deployed outside allowed jurisdictions",
           "ja": "許可されていない国・地域へのリソース配置"},
    controls=["5.1.1", "18.1.1"],
    policy_items=["11(6)"],
    severity="high",
    needs=["resources"],
    reasons={
        "pass": {"en": "{kind} {name} is in {region} ({countries}); allowed: {allowed}",
                 "ja": "{kind} {name} は {region} ({countries}) にあり、許可された国の範囲内です (許可: {allowed})"},
        "fail": {"en": "{kind} {name} is in {region} ({countries}); allowed: {allowed}",
                 "ja": "{kind} {name} は {region} ({countries}) にあり、許可された国 ({allowed}) の外です"},
    },
    remediation={"en": "Move or delete the resource, or record a risk acceptance with an owner and expiry.",
                 "ja": "リソースを許可された地域へ移設または削除するか、責任者と期限を定めてリスク受容を記録してください。"},
)
def resources_outside_allowed_countries(inv, policy: Policy) -> pd.DataFrame:
    res = inv.resources[inv.resources["data_bearing"].fillna(True).astype(bool)]
    res = location_verdict(res, policy)
    status = np.where(res["_outside"], "FAIL", "PASS")
    return res[["provider", "account_id", "region", "resource_id", "kind", "name", "countries"]].assign(
        status=status, allowed=allowed_countries_text(policy))
