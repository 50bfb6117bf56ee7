"""Account lifecycle (LCM): inactive accounts, unused credentials, leftover access."""

from __future__ import annotations

import pandas as pd

from cloudaudit.engine import check
from cloudaudit.frames import lookup, stacked
from cloudaudit.policy import Policy

from ._common import days_since, flag, joined, now_utc, pick, text_or
from .authentication import KEY, PKEY, identities, owner_names, privileged


def idle_verdict(last: pd.Series, created: pd.Series, limit: int) -> tuple[pd.Categorical, pd.Series, pd.Series]:
    """Reason keys for "not used for more than ``limit`` days" (<NA> last use = never used).

    ``pass`` used within the limit, ``idle`` unused longer, ``new`` never used but created within
    the limit (passes), ``never`` never used and older, ``unknown`` neither time known.
    Returns the keys (a categorical, :func:`pick`) and the day counts since last use and since creation.
    """
    now = now_utc()
    idle_days, age_days = days_since(last, now), days_since(created, now)
    has_last = idle_days.notna().to_numpy()
    old = flag(age_days > limit, False).to_numpy()
    key = pick([has_last & flag(idle_days > limit, False).to_numpy(), has_last,
                age_days.isna().to_numpy(), old], ["idle", "pass", "unknown", "never"], "new")
    return key, idle_days, age_days


def _idle_status(key: pd.Categorical) -> pd.Categorical:
    """FAIL for the keys :func:`idle_verdict` gives an unused or unknown subject, PASS else."""
    return pick([key.isin(["idle", "never", "unknown"])], ["FAIL"], "PASS")


@check(
    "LCM-001",
    title={"en": "Inactive human accounts", "ja": "使用されていない利用者アカウント"},
    controls=["9.2.1"], policy_items=["12(9)"], severity="medium",
    needs=["principals.last_active"],
    shares=["identities", "admin_grants", "privileged"],
    reasons={
        "pass": {"en": "{kind} {name} was last active {last_active} ({days_inactive} days ago; limit {inactive_days})",
                 "ja": "{kind} {name} の最終利用は {last_active} です ({days_inactive} 日前、上限 {inactive_days} 日)"},
        "new": {"en": "{kind} {name} was created {age_days} days ago and has not signed in yet (limit {inactive_days})",
                "ja": "{kind} {name} は {age_days} 日前に作成され、まだサインインしていません (上限 {inactive_days} 日)"},
        "idle": {"en": "{kind} {name} has been inactive for {days_inactive} days (since {last_active}; limit {inactive_days})",
                 "ja": "{kind} {name} は {days_inactive} 日間使用されていません (最終利用 {last_active}、上限 {inactive_days} 日)"},
        "never": {"en": "{kind} {name} has never signed in since it was created {age_days} days ago (limit {inactive_days})",
                  "ja": "{kind} {name} は {age_days} 日前の作成以来一度もサインインしていません (上限 {inactive_days} 日)"},
        "unknown": {"en": "{kind} {name}: last activity and creation time unknown",
                    "ja": "{kind} {name}: 最終利用日時と作成日時が不明です"},
    },
    remediation={"en": "Disable or delete accounts nobody uses; confirm with the owner's manager first.",
                 "ja": "使用されていないアカウントは、管理者に確認のうえ無効化または削除してください。"},
)
def inactive_humans(inv, policy: Policy) -> pd.DataFrame:
    p = privileged(inv)
    # Root is the break-glass owner of an AWS account: rare use is the goal (AUTH-010).
    keep = p["listed"] & flag(p["human"], True) & flag(p["enabled"], True) & (p["kind"] != "root")
    p = p[keep].reset_index(drop=True)
    limit = policy.thresholds.inactive_days
    key, idle, age = idle_verdict(p["last_active"], p["created"], limit)
    status = _idle_status(key)
    severity = pick([(status == "FAIL") & p["privileged"].to_numpy(dtype=bool)], ["high"], "medium")
    return pd.DataFrame({
        "provider": p["provider"], "account_id": p["account_id"], "resource_id": p["principal_id"],
        "name": p["name"], "kind": p["kind"], "last_active": p["last_active"], "created": p["created"],
        "days_inactive": idle, "age_days": age, "inactive_days": limit, "privileged": p["privileged"],
        "status": status, "reason_key": key, "severity": severity})


@check(
    "LCM-002",
    title={"en": "Unused credentials / service accounts", "ja": "使用されていない認証情報・サービスアカウント"},
    controls=["9.2.1", "9.2.4"], policy_items=["12(9)"], severity="medium",
    needs=["credentials.last_used", "principals.last_active"],
    shares=["identities"],
    reasons={
        "pass": {"en": "{kind} {name} was last used {last_used} ({days_unused} days ago; limit {inactive_days})",
                 "ja": "{kind} {name} の最終使用は {last_used} です ({days_unused} 日前、上限 {inactive_days} 日)"},
        "new": {"en": "{kind} {name} was created {age_days} days ago and not used yet (limit {inactive_days})",
                "ja": "{kind} {name} は {age_days} 日前に作成され、まだ使用されていません (上限 {inactive_days} 日)"},
        "idle": {"en": "{kind} {name} has not been used for {days_unused} days (since {last_used}; limit {inactive_days})",
                 "ja": "{kind} {name} は {days_unused} 日間使用されていません (最終使用 {last_used}、上限 {inactive_days} 日)"},
        "never": {"en": "{kind} {name} has never been used since it was created {age_days} days ago (limit {inactive_days})",
                  "ja": "{kind} {name} は {age_days} 日前の作成以来一度も使用されていません (上限 {inactive_days} 日)"},
        "unknown": {"en": "{kind} {name}: last use and creation time unknown",
                    "ja": "{kind} {name}: 最終使用日時と作成日時が不明です"},
    },
    remediation={"en": "Deactivate and then delete unused keys, secrets and service accounts.",
                 "ja": "使用されていないキー、シークレット、サービスアカウントを無効化し、その後削除してください。"},
)
def unused_credentials(inv, policy: Policy) -> pd.DataFrame:
    limit = policy.thresholds.inactive_days
    c = inv.credentials[flag(inv.credentials["active"], True)]
    creds = pd.DataFrame({"provider": c["provider"], "account_id": c["account_id"], "resource_id": c["credential_id"],
                          "name": text_or(c["credential_id"], "?") + " (" + owner_names(inv, c) + ")",
                          "kind": text_or(c["kind"], "credential"), "last_used": c["last_used"],
                          "created": c["created"]})
    p = identities(inv)
    p = p[p["listed"] & ~flag(p["human"], True) & (p["kind"] != "group") & flag(p["enabled"], True)]
    workloads = pd.DataFrame({"provider": p["provider"], "account_id": p["account_id"],
                              "resource_id": p["principal_id"], "name": p["name"], "kind": p["kind"],
                              "last_used": p["last_active"], "created": p["created"]})
    out = stacked([creds, workloads])
    key, idle, age = idle_verdict(out["last_used"], out["created"], limit)
    return out.assign(days_unused=idle, age_days=age, inactive_days=limit,
                      status=_idle_status(key), reason_key=key)


@check(
    "LCM-003",
    title={"en": "Disabled / deleted / departed identities still holding access",
           "ja": "無効化・削除済み・退職者の ID に残っているアクセス権"},
    controls=["9.2.1", "9.2.2"], policy_items=["12(9)"], severity="high",
    needs=["grants", "principals"],
    shares=["identities"],
    reasons={
        "pass": {"en": "{kind} {name} is enabled and holds {roles} in {account_id}",
                 "ja": "{kind} {name} は有効で、{account_id} で {roles} を保持しています"},
        "disabled": {"en": "{kind} {name} is disabled but still holds {roles} in {account_id}",
                     "ja": "{kind} {name} は無効化されていますが、{account_id} で {roles} を保持したままです"},
        "deleted": {"en": "deleted identity {name} still holds {roles} in {account_id}",
                    "ja": "削除済みの ID {name} が {account_id} で {roles} を保持したままです"},
        "orphaned": {"en": "{name} holds {roles} in {account_id} but no such identity exists (orphaned grant)",
                     "ja": "{name} は {account_id} で {roles} を保持していますが、該当する ID が存在しません (孤立した割り当て)"},
        "external": {"en": "external {kind} {name} holds {roles} in {account_id}; whether it is still active is not visible",
                     "ja": "外部の {kind} {name} が {account_id} で {roles} を保持しています。有効かどうかは確認できません"},
        "unknown": {"en": "{kind} {name} holds {roles} in {account_id}; whether the account is enabled is unknown",
                    "ja": "{kind} {name} は {account_id} で {roles} を保持していますが、アカウントが有効かどうか不明です"},
    },
    remediation={"en": "Remove the role assignments / bindings of disabled, deleted and departed identities.",
                 "ja": "無効化・削除済み・退職者の ID のロール割り当て (バインド) を削除してください。"},
)
def leftover_access(inv, policy: Policy) -> pd.DataFrame:
    g = inv.grants[KEY + ["principal_id", "principal_kind", "role", "external", "public"]]
    g = g[~flag(g["public"], False)]  # anonymous holders: ISL-007
    g = g.assign(role=text_or(g["role"], "a role"), _external=flag(g["external"], False))
    by = KEY + ["principal_id"]
    holders = g.groupby(by, observed=True).agg(_external=("_external", "any"), principal_kind=("principal_kind", "first")).reset_index()
    holders = lookup(holders, joined(g, by, "role", "roles"), by, ["roles"])
    ids = identities(inv)[PKEY + ["name", "kind", "enabled", "listed"]]
    listed = ids[ids["listed"]]
    h = lookup(holders, listed, PKEY, ["name", "kind", "enabled", "listed"])
    found = h["listed"].notna().to_numpy()
    enabled = h["enabled"].astype("boolean")
    deleted = h["principal_id"].str.startswith("deleted:").fillna(False).to_numpy(dtype=bool)
    key = pick(
        [deleted, ~found & h["_external"].to_numpy(dtype=bool), ~found,
         flag(~enabled, False).to_numpy(), enabled.isna().to_numpy()],
        ["deleted", "external", "orphaned", "disabled", "unknown"], "pass")
    status = pick([key == "pass", key.isin(["external", "unknown"])], ["PASS", "WARN"], "FAIL")
    return pd.DataFrame({
        "provider": h["provider"], "account_id": h["account_id"], "resource_id": h["principal_id"],
        "name": text_or(h["name"], "").where(h["name"].notna(), h["principal_id"]),
        "kind": text_or(h["kind"], "").where(h["kind"].notna(), text_or(h["principal_kind"], "principal")),
        "enabled": enabled, "roles": h["roles"], "status": status, "reason_key": key})
