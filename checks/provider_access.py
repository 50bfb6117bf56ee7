"""Provider-access transparency (CSP): can provider personnel reach customer data unapproved?"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cloudaudit.engine import ESCALATING_LEVELS, check
from cloudaudit.policy import Policy

from ._common import KEY, accounts, data_bearing, flag, guardrail_presence, with_labels

# Providers offering customer approval of provider-personnel access (Customer Lockbox, Access
# Approval); on AWS the control is customer-held keys for classified data.
APPROVAL_PROVIDERS = ("azure", "gcp")


@check(
    "CSP-001",
    title={"en": "Provider-personnel access not customer-approved / no customer-held keys for classified data",
           "ja": "事業者職員のアクセスが顧客承認制でない・機密データに顧客保有鍵がない"},
    controls=["5.1.1", "15.1.2", "9.2.3"],
    policy_items=["11(1)", "12(2)", "12(4)"],
    severity="medium",
    needs=["resources", "tags", "azure:guardrails.provider_access_approval", "gcp:guardrails.provider_access_approval",
           "tenants"],
    shares=["data_bearing", "labels"],
    reasons={
        "pass": {"en": "account {account_id} requires customer approval for provider access ({approval})",
                 "ja": "アカウント {account_id} では事業者のアクセスに顧客承認が必要です ({approval})"},
        "keys_pass": {"en": "account {account_id}: all {classified} 極秘/部外秘 resource(s) use customer-managed keys",
                      "ja": "アカウント {account_id}: 極秘/部外秘 のリソース {classified} 件はすべて顧客管理鍵を使用しています"},
        "fail": {"en": "account {account_id} holds {classified} 極秘/部外秘 resource(s) but provider access needs no "
                       "customer approval ({approval})",
                 "ja": "アカウント {account_id} には 極秘/部外秘 のリソースが {classified} 件ありますが、事業者のアクセスに"
                       "顧客承認が不要です ({approval})"},
        "keys_fail": {"en": "account {account_id}: {without_cmk} of {classified} 極秘/部外秘 resource(s) are not "
                            "encrypted with customer-managed keys",
                      "ja": "アカウント {account_id}: 極秘/部外秘 のリソース {classified} 件のうち {without_cmk} 件が顧客管理鍵で"
                            "暗号化されていません"},
        "audit_only": {"en": "account {account_id} has provider-access approval configured but not enforced ({approval})",
                       "ja": "アカウント {account_id} の事業者アクセス承認は設定されていますが強制されていません ({approval})"},
        "manual": {"en": "account {account_id} holds no 極秘/部外秘 data and has no provider-access approval; keep "
                         "evidence of the contractual controls (15.1.2)",
                   "ja": "アカウント {account_id} には 極秘/部外秘 のデータがなく、事業者アクセス承認もありません。"
                         "契約上の管理策 (15.1.2) の証跡を保管してください"},
    },
    remediation={"en": "Enable Azure Customer Lockbox / GCP Access Approval for accounts holding 極秘/部外秘 data; on "
                       "AWS encrypt such data with customer-managed (ideally custom key store) keys.",
                 "ja": "極秘/部外秘 データを保持するアカウントでは Azure カスタマーロックボックス / GCP Access Approval を"
                       "有効にし、AWS では顧客管理鍵 (可能ならカスタムキーストア) で暗号化してください。"},
)
def provider_access(inv, policy: Policy) -> pd.DataFrame:
    accts = accounts(inv)
    res = data_bearing(inv)[["provider", "account_id", "resource_id", "encryption"]]
    res = with_labels(inv, policy, res, ["level"])
    res = res[res["level"].isin(ESCALATING_LEVELS)]
    res = res.assign(_nocmk=(res["encryption"] != "customer").fillna(True).astype(bool),
                     _ts=res["level"] == "top_secret")
    data = res.groupby(KEY, as_index=False, observed=True).agg(classified=("resource_id", "size"), without_cmk=("_nocmk", "sum"),
                                                _top_secret=("_ts", "any"))
    appr = guardrail_presence(inv, {p: ("provider_access_approval",) for p in APPROVAL_PROVIDERS})
    out = accts.merge(data, on=KEY, how="left").merge(appr[KEY + ["_present", "_effective"]], on=KEY, how="left")
    out["classified"] = out["classified"].fillna(0).astype(int)
    out["without_cmk"] = out["without_cmk"].fillna(0).astype(int)
    has_data = out["classified"] > 0
    present = flag(out["_present"], False)
    effective = flag(out["_effective"], False)
    offered = out["provider"].isin(APPROVAL_PROVIDERS)
    keys_ok = out["without_cmk"] == 0
    key = np.select(
        [offered & effective, offered & present, offered & has_data, offered,
         ~offered & has_data & keys_ok, ~offered & has_data, ~offered],
        ["pass", "audit_only", "fail", "manual", "keys_pass", "keys_fail", "manual"], "manual")
    status = pd.Series(key).map({"pass": "PASS", "keys_pass": "PASS", "fail": "FAIL", "keys_fail": "FAIL",
                                 "audit_only": "WARN", "manual": "WARN"}).to_numpy()
    top_secret = out["_top_secret"].astype("boolean").fillna(False).astype(bool)
    severity = np.select([(status == "FAIL") & top_secret, key == "manual"], ["high", "info"], "medium")
    approval = np.where(effective, "enforced", np.where(present, "not enforced", "not configured"))
    approval = np.where(offered, approval, "not offered by the provider")
    return out.assign(resource_id=out["account_id"], status=status, reason_key=key, severity=severity,
                      approval=approval)[
        ["provider", "account_id", "resource_id", "classified", "without_cmk", "approval", "status", "reason_key",
         "severity"]]
