"""Strong authentication and privileged access (AUTH).

Privileged access is defined once, provider-neutrally: a principal is privileged when it holds
a grant with ``privilege == "admin"`` (AWS AdministratorAccess, Azure Owner or Global
Administrator, GCP roles/owner ...) or is ``top_level`` (AWS root, Entra Global Administrator,
Google super admin).  Grants are joined to principals on (provider, principal_id) because a
grant may live in another account than its holder (an Entra user, kept under the tenant id,
holding Owner on a subscription).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from cloudaudit.engine import check
from cloudaudit.frames import lookup, lowered, stacked, text_series
from cloudaudit.policy import Policy

from ._common import (accounts, days_since, flag, guardrail_verdict, joined, memoized, now_utc, pass_or_fail, pick,
                      text_or)

KEY = ["provider", "account_id"]
PKEY = ["provider", "principal_id"]
HUMAN_KINDS = ("root", "user", "guest")
WORKLOAD_KINDS = ("role", "service_account", "service_principal")
MFA_KINDS = ("virtual", "hardware", "phishing_resistant")
STRONG_MFA = ("hardware", "phishing_resistant")
# Credential kinds whose provider lets the owner set an expiry (Entra app secrets and
# certificates, GCP service-account keys); AWS access keys and storage account keys have none.
EXPIRING_KINDS = ("client_secret", "certificate", "service_account_key")
RECENT_DAYS = 30


# ----------------------------------------------------------------------------- shared helpers

def account_universe(inv, *extra: pd.DataFrame) -> pd.DataFrame:
    """(provider, account_id, org_id) of every account in scope plus the keys of ``extra`` frames.

    Accounts are :func:`checks._common.accounts` (organization nodes left out) unless an ``extra``
    frame has them.
    """
    found = pd.concat([accounts(inv)] + [e[KEY] for e in extra], ignore_index=True).drop_duplicates()
    orgs = inv.tenants[KEY + ["org_id"]].drop_duplicates(KEY)
    return found.merge(orgs, on=KEY, how="left").astype("string").reset_index(drop=True)


def identities(inv) -> pd.DataFrame:
    """One row per (provider, principal_id): every principal plus grant holders not listed.

    Unlisted holders (e.g. a GCP member from another domain) take the grant's account and
    ``principal_kind``; ``human`` is inferred from the kind where the adapter left it empty.
    Computed once per (principals, grants) for the checks of a run.
    """
    return memoized("identities", (inv.principals, inv.grants), lambda: _identities(inv))


def _identities(inv) -> pd.DataFrame:
    p = inv.principals.drop_duplicates(PKEY).assign(listed=True)
    g = inv.grants.drop_duplicates(PKEY)
    g = g[lookup(g[PKEY], p[PKEY].assign(_listed=True), PKEY, ["_listed"])["_listed"].isna().to_numpy()]
    extra = pd.DataFrame({"provider": g["provider"], "account_id": g["account_id"],
                          "principal_id": g["principal_id"], "name": g["principal_id"],
                          "kind": g["principal_kind"], "external": g["external"], "listed": False})
    out = stacked([p, extra]) if len(extra) else p.reset_index(drop=True)
    kind = text_series(out["kind"])
    guess = pd.Series(np.select([kind.isin(HUMAN_KINDS).fillna(False), kind.isin(WORKLOAD_KINDS).fillna(False)],
                                [True, False], None), index=out.index, dtype="boolean")
    out["human"] = out["human"].astype("boolean").fillna(guess)
    out["name"] = text_or(out["name"], "").where(out["name"].notna(), out["principal_id"])
    out["kind"] = text_or(out["kind"], "principal")
    return out


def admin_grants(inv) -> pd.DataFrame:
    """Grants that give admin, and grants whose privilege is unknown: an unread privilege level is
    not evidence of "not privileged" (fail closed); their role text says so. Computed once per
    grants table for the checks of a run."""
    return memoized("admin_grants", (inv.grants,), lambda: _admin_grants(inv.grants))


def _admin_grants(g: pd.DataFrame) -> pd.DataFrame:
    unknown = g["privilege"].isna()
    g = g[(g["privilege"] == "admin").fillna(False) | unknown]
    return g.assign(role=text_or(g["role"], "admin role").where(~unknown[g.index],
                                                                 text_or(g["role"], "role") + " (privilege unknown)"))


def admin_roles(inv) -> pd.DataFrame:
    """(provider, principal_id, admin_roles): admin grants per holder as 'role on account'."""
    g = admin_grants(inv)
    g = g.assign(what=text_or(g["role"], "admin role") + " on " + text_series(g["account_id"]))
    return joined(g, PKEY, "what", "admin_roles")


def privileged(inv) -> pd.DataFrame:
    """:func:`identities` with ``admin_roles`` and ``privileged`` (admin grant or top_level).
    Computed once per (principals, grants) for the checks of a run."""
    return memoized("privileged", (inv.principals, inv.grants), lambda: _privileged(inv))


def _privileged(inv) -> pd.DataFrame:
    ids = lookup(identities(inv), admin_roles(inv), PKEY, ["admin_roles"])  # one row per holder
    top = flag(ids["top_level"], False)
    roles = ids["admin_roles"].astype("string")
    ids["privileged"] = top | roles.notna()
    ids["admin_roles"] = roles.where(roles.notna(), pd.Series(np.where(top, "top-level account", ""),
                                                              index=ids.index)).astype(str)
    return ids


def owner_names(inv, frame: pd.DataFrame) -> pd.Series:
    """Display name of each row's ``principal_id`` (the id itself when the principal is unknown)."""
    ids = identities(inv)[PKEY + ["name"]].rename(columns={"name": "_owner"})
    merged = lookup(frame[PKEY], ids, PKEY, ["_owner"])  # identities: one row per principal
    return text_or(merged["_owner"], "").where(merged["_owner"].notna(), merged["principal_id"]).set_axis(frame.index)


def mfa_verdict(frame: pd.DataFrame, weak: tuple[str, ...] = ()) -> pd.DataFrame:
    """Add ``status``/``reason_key`` from ``mfa``: none FAIL, unknown or empty FAIL ('unknown'),
    a value in ``weak`` FAIL ('weak'), any other MFA PASS."""
    mfa = text_series(frame["mfa"]).fillna("unknown")
    none = (mfa == "none").to_numpy()
    unknown = (~mfa.isin(MFA_KINDS)).to_numpy() & ~none
    weak_mask = mfa.isin(weak).to_numpy()
    key = pick([none, unknown, weak_mask], ["fail", "unknown", "weak"], "pass")
    return frame.assign(mfa=mfa.astype(str), status=pass_or_fail(key), reason_key=key)


def _principal_rows(frame: pd.DataFrame, *extra: str) -> pd.DataFrame:
    cols = ["provider", "account_id", "principal_id", "name", "kind", *extra]
    return frame[cols].rename(columns={"principal_id": "resource_id"}).reset_index(drop=True)


# ----------------------------------------------------------------------------- checks

_FIX_MFA = {"en": "Register a second factor for the account and enforce it at sign-in.",
            "ja": "アカウントに多要素認証を登録し、サインイン時に強制してください。"}


@check(
    "AUTH-001",
    title={"en": "Root / Global Administrator / super admin without MFA",
           "ja": "ルート／グローバル管理者／特権管理者アカウントの多要素認証未設定"},
    controls=["9.2.3"], policy_items=["11(5)", "12(5)"], severity="critical",
    needs=["principals.mfa"],
    reasons={
        "pass": {"en": "top-level {kind} {name} uses {mfa} MFA",
                 "ja": "最上位権限の {kind} {name} は多要素認証 ({mfa}) を使用しています"},
        "fail": {"en": "top-level {kind} {name} has no MFA",
                 "ja": "最上位権限の {kind} {name} に多要素認証が設定されていません"},
        "unknown": {"en": "top-level {kind} {name}: MFA state unknown (not counted as MFA)",
                    "ja": "最上位権限の {kind} {name}: 多要素認証の状態が不明です (MFA ありとはみなしません)"},
    },
    remediation=_FIX_MFA,
)
def top_level_without_mfa(inv, policy: Policy) -> pd.DataFrame:
    p = inv.principals[flag(inv.principals["top_level"], False)]
    return mfa_verdict(_principal_rows(p, "mfa"))


@check(
    "AUTH-002",
    title={"en": "Top-level / break-glass accounts without phishing-resistant (hardware/FIDO) MFA",
           "ja": "最上位権限・緊急用アカウントにフィッシング耐性のある多要素認証 (ハードウェア/FIDO) がない"},
    controls=["9.2.3"], policy_items=["12(5)"], severity="high",
    needs=["principals.mfa"],
    reasons={
        "pass": {"en": "top-level {kind} {name} uses {mfa} MFA",
                 "ja": "最上位権限の {kind} {name} は {mfa} の多要素認証を使用しています"},
        "weak": {"en": "top-level {kind} {name} uses virtual MFA, not a hardware or phishing-resistant factor",
                 "ja": "最上位権限の {kind} {name} は仮想 MFA を使用しており、ハードウェアまたはフィッシング耐性のある要素ではありません"},
        "fail": {"en": "top-level {kind} {name} has no MFA",
                 "ja": "最上位権限の {kind} {name} に多要素認証が設定されていません"},
        "unknown": {"en": "top-level {kind} {name}: MFA state unknown (not counted as MFA)",
                    "ja": "最上位権限の {kind} {name}: 多要素認証の状態が不明です (MFA ありとはみなしません)"},
    },
    remediation={"en": "Register a FIDO2 security key, certificate or hardware token for the account.",
                 "ja": "FIDO2 セキュリティキー、証明書またはハードウェアトークンを登録してください。"},
)
def top_level_without_strong_mfa(inv, policy: Policy) -> pd.DataFrame:
    p = inv.principals[flag(inv.principals["top_level"], False)]
    return mfa_verdict(_principal_rows(p, "mfa"), weak=("virtual",))


@check(
    "AUTH-003",
    title={"en": "Interactive users without MFA", "ja": "対話型ユーザーの多要素認証未設定"},
    controls=["9.2.3", "9.2.4"], policy_items=["11(4)", "12(5)"], severity="high",
    needs=["principals.mfa"],
    shares=["identities"],
    reasons={
        "pass": {"en": "user {name} signs in with a password and has {mfa} MFA",
                 "ja": "ユーザー {name} はパスワードでサインインでき、多要素認証 ({mfa}) があります"},
        "fail": {"en": "user {name} can sign in with a password and has no MFA",
                 "ja": "ユーザー {name} はパスワードでサインインできますが、多要素認証がありません"},
        "unknown": {"en": "user {name}: MFA state unknown (not counted as MFA)",
                    "ja": "ユーザー {name}: 多要素認証の状態が不明です (MFA ありとはみなしません)"},
    },
    remediation=_FIX_MFA,
)
def interactive_users_without_mfa(inv, policy: Policy) -> pd.DataFrame:
    p = identities(inv)
    p = p[p["listed"]]
    # AWS root is judged by AUTH-001/002/010.
    keep = flag(p["human"], True) & flag(p["console_access"], True) & flag(p["enabled"], True) & (p["kind"] != "root")
    return mfa_verdict(_principal_rows(p[keep], "mfa", "external"))


@check(
    "AUTH-004",
    title={"en": "Privileged principals without MFA", "ja": "特権を持つプリンシパルの多要素認証未設定"},
    controls=["9.2.3"], policy_items=["11(5)", "12(5)"], severity="critical",
    needs=["principals.mfa", "grants"],
    shares=["identities", "admin_grants", "privileged"],
    reasons={
        "pass": {"en": "privileged {kind} {name} ({admin_roles}) has {mfa} MFA",
                 "ja": "特権を持つ {kind} {name} ({admin_roles}) は多要素認証 ({mfa}) を使用しています"},
        "fail": {"en": "privileged {kind} {name} ({admin_roles}) has no MFA",
                 "ja": "特権を持つ {kind} {name} ({admin_roles}) に多要素認証がありません"},
        "unknown": {"en": "privileged {kind} {name} ({admin_roles}): MFA state unknown (not counted as MFA)",
                    "ja": "特権を持つ {kind} {name} ({admin_roles}): 多要素認証の状態が不明です (MFA ありとはみなしません)"},
    },
    remediation=_FIX_MFA,
)
def privileged_without_mfa(inv, policy: Policy) -> pd.DataFrame:
    p = privileged(inv)
    # Workloads cannot use MFA (AUTH-011 covers them); groups are judged through their members.
    keep = p["privileged"] & flag(p["human"], True) & (p["kind"] != "group") & flag(p["enabled"], True)
    return mfa_verdict(_principal_rows(p[keep], "mfa", "admin_roles", "external"))


@check(
    "AUTH-005",
    title={"en": "No enforced MFA policy for administrative access",
           "ja": "管理アクセスに多要素認証を強制するポリシーがない"},
    controls=["9.2.3"], policy_items=["12(5)"], severity="high",
    needs=["guardrails.mfa_required", "tenants"],
    reasons={
        "pass": {"en": "account {account_id}: MFA is enforced by {guardrails}",
                 "ja": "アカウント {account_id}: {guardrails} により多要素認証が強制されています"},
        "warn": {"en": "account {account_id}: an MFA policy exists ({guardrails}) but is not enforced",
                 "ja": "アカウント {account_id}: 多要素認証のポリシー ({guardrails}) はありますが強制されていません"},
        "fail": {"en": "account {account_id}: no policy enforces MFA for administrative access",
                 "ja": "アカウント {account_id}: 管理アクセスに多要素認証を強制するポリシーがありません"},
    },
    remediation={"en": "Enforce MFA for administrators (Conditional Access, 2-step verification enforcement, "
                       "an IAM deny-unless-MFA policy).",
                 "ja": "管理者に多要素認証を強制してください (条件付きアクセス、2 段階認証プロセスの強制、MFA 必須の IAM ポリシー)。"},
)
def mfa_not_enforced(inv, policy: Policy) -> pd.DataFrame:
    out = guardrail_verdict(inv, "mfa_required", account_universe(inv))
    return out[KEY + ["resource_id", "guardrails", "status", "reason_key"]]


def admin_holders(inv) -> pd.DataFrame:
    """(provider, account_id, principal_id, _unknown) of every holder of an admin grant, a grant
    of unknown privilege (:func:`admin_grants`) or a top-level account; ``_unknown`` is True when
    the holder is only possibly admin (all its grants there are of unknown privilege).

    A group grant that the adapter also repeated for the group's members (Azure: ``via`` group,
    same account, scope and role) counts through those members, not a second time as the group;
    a group whose members were not expanded counts as one holder.
    """
    g = admin_grants(inv)
    kinds = identities(inv)[PKEY + ["kind"]].rename(columns={"kind": "_kind"})
    g = g.merge(kinds, on=PKEY, how="left")
    is_group = ((g["principal_kind"] == "group").fillna(False) | (g["_kind"] == "group").fillna(False)).astype(bool)
    via_group = (g["via"] == "group").fillna(False).astype(bool)
    grant_key = KEY + ["scope", "role"]
    expanded = g.loc[via_group & ~is_group, grant_key].drop_duplicates().assign(_expanded=True)
    g = g.merge(expanded, on=grant_key, how="left")
    # nested groups among the members are expanded transitively as well
    g = g[~(is_group.to_numpy() & (flag(g["_expanded"], False) | via_group.to_numpy()))]
    g = g.assign(_unknown=g["privilege"].isna())[KEY + ["principal_id", "_unknown"]]
    top = inv.principals[flag(inv.principals["top_level"], False)][KEY + ["principal_id"]].assign(_unknown=False)
    both = stacked([g, top])
    return both.groupby(KEY + ["principal_id"], as_index=False, sort=False, observed=True)["_unknown"].all()


@check(
    "AUTH-006",
    title={"en": "Number of highly privileged principals outside bounds",
           "ja": "高権限プリンシパルの数が基準の範囲外"},
    controls=["9.2.3"], policy_items=["11(5)"], severity="medium",
    needs=["grants", "principals"],
    shares=["identities", "admin_grants"],
    reasons={
        "pass": {"en": "account {account_id} has {n_admins} administrator(s) (allowed {min_admins}-{max_admins}): {admins}",
                 "ja": "アカウント {account_id} の管理者は {n_admins} 名です (許容 {min_admins}～{max_admins}): {admins}"},
        "too_many": {"en": "account {account_id} has {n_admins} administrator(s), more than {max_admins}: {admins}",
                     "ja": "アカウント {account_id} の管理者は {n_admins} 名で、上限 {max_admins} を超えています: {admins}"},
        "too_few": {"en": "account {account_id} has {n_admins} administrator(s), fewer than {min_admins}",
                    "ja": "アカウント {account_id} の管理者は {n_admins} 名で、下限 {min_admins} を下回っています"},
        "unknown": {"en": "account {account_id} has {n_admins} administrator(s) ({admins}) and {n_unknown} principal(s) "
                          "whose privilege is unknown ({unknown_privilege}): whether {min_admins}-{max_admins} are "
                          "respected is unknown",
                    "ja": "アカウント {account_id} の管理者は {n_admins} 名 ({admins}) で、権限が不明なプリンシパルが "
                          "{n_unknown} 名 ({unknown_privilege}) います: 許容 {min_admins}～{max_admins} を満たすか不明です"},
    },
    remediation={"en": "Reduce administrators to the policy's maximum (or add a second one) and review the list.",
                 "ja": "管理者数をポリシーの範囲に収めてください (多すぎる場合は削減、単独の場合は追加)。"},
)
def admin_count_out_of_bounds(inv, policy: Policy) -> pd.DataFrame:
    ids = identities(inv)[PKEY + ["name", "kind"]]
    holders = admin_holders(inv).merge(ids, on=PKEY, how="left")
    # AWS root is in every account and cannot be removed.
    holders = holders[holders["kind"] != "root"]
    unknown = holders["_unknown"].astype(bool)
    holders = holders.assign(who=text_or(holders["name"], "?"), _known=~unknown, _maybe=unknown)
    known, maybe = holders[~unknown], holders[unknown]
    counts = holders.groupby(KEY, observed=True).agg(n_admins=("_known", "sum"), n_unknown=("_maybe", "sum")).reset_index()
    out = (account_universe(inv, admin_grants(inv)[KEY]).merge(counts, on=KEY, how="left")
           .merge(joined(known, KEY, "who", "admins"), on=KEY, how="left")
           .merge(joined(maybe, KEY, "who", "unknown_privilege"), on=KEY, how="left"))
    n = out["n_admins"].fillna(0).astype(int)
    u = out["n_unknown"].fillna(0).astype(int)
    t = policy.thresholds
    # Definite only when every reading of the unknown grants gives the same answer (fail closed).
    key = np.select([n > t.max_admins, n + u < t.min_admins, (u > 0) & ((n < t.min_admins) | (n + u > t.max_admins))],
                    ["too_many", "too_few", "unknown"], "pass")
    return out[KEY].assign(resource_id=out["account_id"], n_admins=n, admins=text_or(out["admins"], "none"),
                           n_unknown=u, unknown_privilege=text_or(out["unknown_privilege"], "none"),
                           min_admins=t.min_admins, max_admins=t.max_admins,
                           status=pass_or_fail(key), reason_key=key)


@check(
    "AUTH-007",
    title={"en": "Standing privileged access instead of just-in-time",
           "ja": "ジャストインタイムではなく常時付与されている特権アクセス"},
    controls=["9.2.3", "9.4.4"], policy_items=["11(5)", "12(2)"], severity="medium",
    needs=["grants.standing", "principals"],
    shares=["identities", "admin_grants"],
    reasons={
        "pass": {"en": "{kind} {name} holds {roles} in {account_id} only just-in-time / time-bound",
                 "ja": "{kind} {name} の {account_id} での {roles} はジャストインタイム (期限付き) のみです"},
        "fail": {"en": "{kind} {name} holds standing admin access in {account_id}: {standing_roles}",
                 "ja": "{kind} {name} は {account_id} で管理者権限を常時保持しています: {standing_roles}"},
        "unknown": {"en": "{kind} {name} holds {roles} in {account_id}; whether it is standing is unknown",
                    "ja": "{kind} {name} は {account_id} で {roles} を保持していますが、常時付与かどうか不明です"},
    },
    remediation={"en": "Make admin roles eligible (PIM, Privileged Access Manager, time-bound bindings, "
                       "Identity Center) and activate them only when needed.",
                 "ja": "管理者ロールを資格のみの割り当て (PIM、Privileged Access Manager、期限付きバインド等) にし、必要時のみ有効化してください。"},
)
def standing_admin_access(inv, policy: Policy) -> pd.DataFrame:
    g = admin_grants(inv)
    ids = identities(inv)[PKEY + ["name", "kind", "human"]]
    g = g.drop(columns=["external"]).merge(ids, on=PKEY, how="left")
    g = g[flag(g["human"], True)]  # workloads are always standing: AUTH-011
    standing = g["standing"].astype("boolean")
    g = g.assign(_on=flag(standing, False), _unknown=standing.isna(), role=text_or(g["role"], "admin role"))
    by = KEY + ["principal_id"]
    agg = g.groupby(by, observed=True).agg(_on=("_on", "any"), _unknown=("_unknown", "any"),
                            name=("name", "first"), kind=("kind", "first")).reset_index()
    agg = agg.merge(joined(g, by, "role", "roles"), on=by, how="left").merge(
        joined(g[g["_on"]], by, "role", "standing_roles"), on=by, how="left")
    key = pick([agg["_on"].to_numpy(dtype=bool), agg["_unknown"].to_numpy(dtype=bool)], ["fail", "unknown"], "pass")
    return agg.rename(columns={"principal_id": "resource_id"}).assign(
        name=text_or(agg["name"], "?"), kind=text_or(agg["kind"], "principal"),
        standing_roles=text_or(agg["standing_roles"], "none"),
        status=pass_or_fail(key), reason_key=key)[
        KEY + ["resource_id", "name", "kind", "roles", "standing_roles", "status", "reason_key"]]


@check(
    "AUTH-008",
    title={"en": "Long-lived user-managed keys / secrets", "ja": "長期間有効な利用者管理のキー・シークレット"},
    controls=["9.2.4"], policy_items=["12(5)", "12(9)"], severity="medium",
    needs=["credentials", "grants", "principals"],
    shares=["identities", "admin_grants", "privileged"],
    reasons={
        "pass": {"en": "{kind} {resource_id} of {owner} is inactive",
                 "ja": "{owner} の {kind} {resource_id} は無効化されています"},
        "warn": {"en": "{kind} {resource_id} of {owner} is an active long-lived secret",
                 "ja": "{owner} の {kind} {resource_id} は有効な長期シークレットです"},
        "fail": {"en": "{kind} {resource_id} of privileged {owner} ({admin_roles}) is an active long-lived secret",
                 "ja": "特権を持つ {owner} ({admin_roles}) の {kind} {resource_id} は有効な長期シークレットです"},
    },
    remediation={"en": "Replace long-lived keys with roles, managed identities or workload identity federation; "
                       "delete unused keys.",
                 "ja": "長期キーをロール、マネージド ID、ワークロード ID 連携に置き換え、不要なキーは削除してください。"},
)
def long_lived_keys(inv, policy: Policy) -> pd.DataFrame:
    c = inv.credentials
    owners = privileged(inv)[PKEY + ["name", "privileged", "admin_roles"]]
    c = lookup(c, owners, PKEY, ["name", "privileged", "admin_roles"])  # one row per principal
    active = flag(c["active"], True)  # unknown state: treated as usable
    priv = flag(c["privileged"], False)
    key = np.select([~active, priv], ["pass", "fail"], "warn")
    severity = np.where(key == "fail", "high", "medium")
    return pd.DataFrame({
        "provider": c["provider"], "account_id": c["account_id"], "resource_id": c["credential_id"],
        "kind": text_or(c["kind"], "credential"), "owner": text_or(c["name"], "").where(c["name"].notna(), c["principal_id"]),
        "principal_id": c["principal_id"], "active": c["active"], "created": c["created"],
        "admin_roles": text_or(c["admin_roles"], ""), "status": np.char.upper(key.astype(str)),
        "reason_key": key, "severity": severity})


@check(
    "AUTH-009",
    title={"en": "Keys / secrets older than rotation period or without expiry",
           "ja": "ローテーション期間を超えた、または有効期限のないキー・シークレット"},
    controls=["9.2.4"], policy_items=["12(9)"], severity="medium",
    needs=["credentials"],
    shares=["identities"],
    reasons={
        "pass": {"en": "{kind} {resource_id} of {owner} was rotated {age_days} days ago (limit {max_age_days})",
                 "ja": "{owner} の {kind} {resource_id} は {age_days} 日前にローテーションされました (上限 {max_age_days} 日)"},
        "old": {"en": "{kind} {resource_id} of {owner} is {age_days} days old, more than {max_age_days}",
                "ja": "{owner} の {kind} {resource_id} は作成・ローテーションから {age_days} 日で、上限 {max_age_days} 日を超えています"},
        "no_expiry": {"en": "{kind} {resource_id} of {owner} has no expiry",
                      "ja": "{owner} の {kind} {resource_id} に有効期限が設定されていません"},
        "unknown": {"en": "{kind} {resource_id} of {owner}: age unknown (no creation or rotation time)",
                    "ja": "{owner} の {kind} {resource_id}: 作成・ローテーション日時が不明です"},
    },
    remediation={"en": "Rotate the key (create a new one, switch, delete the old one) and set an expiry.",
                 "ja": "キーをローテーションし (新規作成・切替・旧キー削除)、有効期限を設定してください。"},
)
def stale_keys(inv, policy: Policy) -> pd.DataFrame:
    c = inv.credentials[flag(inv.credentials["active"], True)]
    c = c.assign(owner=owner_names(inv, c))
    rotated = c["last_rotated"].fillna(c["created"])
    age = days_since(rotated, now_utc())
    limit = policy.thresholds.key_max_age_days
    old = flag(age > limit, False).to_numpy()
    unknown = age.isna().to_numpy()
    no_expiry = (c["kind"].isin(EXPIRING_KINDS).fillna(False) & c["expires"].isna()).to_numpy()
    key = pick([unknown, old, no_expiry], ["unknown", "old", "no_expiry"], "pass")
    return pd.DataFrame({
        "provider": c["provider"], "account_id": c["account_id"], "resource_id": c["credential_id"],
        "kind": text_or(c["kind"], "credential"), "owner": c["owner"], "principal_id": c["principal_id"],
        "last_rotated": rotated,
        "expires": c["expires"], "age_days": age, "max_age_days": limit,
        "status": pass_or_fail(key), "reason_key": key})


@check(
    "AUTH-010",
    title={"en": "Root access keys present / root account used routinely",
           "ja": "ルートアカウントのアクセスキーの存在・日常的な使用"},
    controls=["9.2.3"], policy_items=["11(5)"], severity="critical",
    needs=["principals.last_active", "credentials"], providers=("aws",),
    reasons={
        "pass": {"en": "root of {account_id} has no active access key and was not used in the last {recent_days} days (last use: {last_use})",
                 "ja": "{account_id} のルートには有効なアクセスキーがなく、直近 {recent_days} 日間使用されていません (最終使用: {last_use})"},
        "keys": {"en": "root of {account_id} has active access keys: {keys}",
                 "ja": "{account_id} のルートに有効なアクセスキーがあります: {keys}"},
        "used": {"en": "root of {account_id} was used recently ({last_use})",
                 "ja": "{account_id} のルートが最近使用されました ({last_use})"},
    },
    remediation={"en": "Delete root access keys; use root only for the tasks that need it (break-glass).",
                 "ja": "ルートのアクセスキーを削除し、ルートは必要な作業 (緊急時) のみに使用してください。"},
)
def root_keys_or_use(inv, policy: Policy) -> pd.DataFrame:
    p = inv.principals[inv.principals["kind"] == "root"]
    c = inv.credentials[(inv.credentials["kind"] == "access_key") & flag(inv.credentials["active"], True)]
    keys = joined(c, KEY + ["principal_id"], "credential_id", "keys")
    p = p.merge(keys, on=KEY + ["principal_id"], how="left")
    age = days_since(p["last_active"], now_utc())
    has_keys = p["keys"].notna().to_numpy()
    used = flag(age <= RECENT_DAYS, False).to_numpy()  # <NA>: never used (credential report N/A)
    key = pick([has_keys, used], ["keys", "used"], "pass")
    return pd.DataFrame({
        "provider": p["provider"], "account_id": p["account_id"], "resource_id": p["principal_id"],
        "keys": text_or(p["keys"], "none"), "last_active": p["last_active"],
        "last_use": text_or(p["last_active"].dt.strftime("%Y-%m-%d"), "never recorded"), "recent_days": RECENT_DAYS,
        "status": pass_or_fail(key), "reason_key": key,
        "severity": np.where(key == "used", "high", "critical")})


@check(
    "AUTH-011",
    title={"en": "Over-privileged workload identities", "ja": "過剰な権限を持つワークロード ID"},
    controls=["9.2.3", "9.4.4"], policy_items=["11(5)"], severity="high",
    needs=["grants", "principals"],
    shares=["identities", "admin_grants", "privileged"],
    reasons={
        "pass": {"en": "workload {kind} {name} holds no admin or broad write role",
                 "ja": "ワークロード {kind} {name} は管理者権限や広範な書き込み権限を持っていません"},
        "fail": {"en": "workload {kind} {name} holds admin roles: {admin_roles}",
                 "ja": "ワークロード {kind} {name} は管理者権限を持っています: {admin_roles}"},
        "warn": {"en": "workload {kind} {name} holds broad write roles: {write_roles}",
                 "ja": "ワークロード {kind} {name} は広範な書き込み権限を持っています: {write_roles}"},
    },
    remediation={"en": "Grant the workload only the roles it needs, scoped to its resources.",
                 "ja": "ワークロードには必要なロールのみを、対象リソースに限定して付与してください。"},
)
def over_privileged_workloads(inv, policy: Policy) -> pd.DataFrame:
    p = privileged(inv)
    p = p[~flag(p["human"], True) & (p["kind"] != "group")]
    g = inv.grants
    broad = (g["privilege"] == "write").fillna(False) & ~lowered(g["scope"]).eq("resource").fillna(False)
    w = g[broad]
    w = w.assign(what=text_or(w["role"], "write role") + " on " + text_series(w["account_id"]))
    p = p.merge(joined(w, PKEY, "what", "write_roles"), on=PKEY, how="left")
    admin = flag(p["admin_roles"].astype("string").ne(""), False).to_numpy()
    write = p["write_roles"].notna().to_numpy()
    key = np.select([admin, write], ["fail", "warn"], "pass")
    out = _principal_rows(p, "admin_roles")
    return out.assign(write_roles=text_or(p["write_roles"], "none").to_numpy(),
                      status=np.char.upper(key.astype(str)), reason_key=key)


# CIS AWS Foundations 1.8 / 1.9 minimums; the policy file has no password settings yet.
MIN_PASSWORD_LENGTH = 14
MIN_PASSWORD_REUSE = 24


@check(
    "AUTH-012",
    title={"en": "Weak password policy for local accounts", "ja": "ローカルアカウントのパスワードポリシーが弱い"},
    controls=["9.2.4"], policy_items=["12(5)"], severity="low", tier="extended",
    needs=["guardrails.password_policy", "tenants"], providers=("aws",),
    reasons={
        "pass": {"en": "account {account_id}: passwords need {min_length} characters and {reuse} previous ones are blocked",
                 "ja": "アカウント {account_id}: パスワードは {min_length} 文字以上で、過去 {reuse} 個の再利用が禁止されています"},
        "weak": {"en": "account {account_id}: password policy is weak (minimum length {min_length}, reuse prevention "
                       "{reuse}; required {need_length} and {need_reuse})",
                 "ja": "アカウント {account_id}: パスワードポリシーが弱いです (最小長 {min_length}、再利用禁止 {reuse}。"
                       "必要: {need_length} と {need_reuse})"},
        "fail": {"en": "account {account_id}: no password policy is set (provider defaults apply)",
                 "ja": "アカウント {account_id}: パスワードポリシーが設定されていません (既定値が適用されます)"},
    },
    remediation={"en": "Set an account password policy with at least 14 characters and 24 remembered passwords, "
                       "or federate all human users to an identity provider.",
                 "ja": "14 文字以上・過去 24 個の再利用禁止のパスワードポリシーを設定するか、利用者を IdP に統合してください。"},
)
def weak_password_policy(inv, policy: Policy) -> pd.DataFrame:
    accounts = account_universe(inv)
    accounts = accounts[accounts["provider"] == "aws"]
    g = inv.guardrails[(inv.guardrails["kind"] == "password_policy") & flag(inv.guardrails["effective"], False)]
    g = g.drop_duplicates(KEY)
    # detail holds the provider's PasswordPolicy document (a handful of rows, one per account)
    doc = pd.json_normalize(g["detail"].fillna("{}").map(json.loads).tolist()).set_axis(g.index)
    settings = pd.DataFrame({
        "provider": g["provider"].astype("string"), "account_id": g["account_id"].astype("string"),
        "min_length": pd.to_numeric(doc.get("MinimumPasswordLength", pd.Series(index=g.index, dtype=float)),
                                    errors="coerce").astype("Int64"),
        "reuse": pd.to_numeric(doc.get("PasswordReusePrevention", pd.Series(index=g.index, dtype=float)),
                               errors="coerce").astype("Int64")})
    out = accounts[KEY].merge(settings, on=KEY, how="left", indicator=True)
    present = (out["_merge"] == "both").to_numpy()
    strong = (flag(out["min_length"] >= MIN_PASSWORD_LENGTH, False) & flag(out["reuse"] >= MIN_PASSWORD_REUSE, False)).to_numpy()
    key = pick([~present, ~strong], ["fail", "weak"], "pass")
    return out[KEY].assign(resource_id=out["account_id"], min_length=out["min_length"], reuse=out["reuse"],
                           need_length=MIN_PASSWORD_LENGTH, need_reuse=MIN_PASSWORD_REUSE,
                           status=pass_or_fail(key), reason_key=key)
