"""Data residency (RES): where data may be stored, replicated and backed up.

Every location goes through :func:`checks._common.location_verdict` (the region catalog): a
location spanning several countries passes only if all of them are allowed, and an unknown
or empty location FAILs with "unknown location" in the reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cloudaudit.engine import ESCALATING_LEVELS, check
from cloudaudit.frames import lookup, stacked, text_series
from cloudaudit.policy import Policy

from ._common import (BACKUP_KINDS, KEY, account_guardrails, accounts, add_joined, allowed_countries_text, constant,
                      data_bearing, flag, level_name_ja, location_verdict, lowered, names, per_distinct, pick,
                      resources, resources_of, with_labels)

_REMEDIATE_MOVE = {
    "en": "Move or delete the resource, or record a risk acceptance with an owner and expiry.",
    "ja": "リソースを許可された地域へ移設または削除するか、責任者と期限を定めてリスク受容を記録してください。",
}


def _verdict(frame: pd.DataFrame, policy: Policy, location: str) -> pd.DataFrame:
    """Resolve ``location`` and set status PASS/FAIL and the ``allowed`` evidence column."""
    frame = location_verdict(frame, policy, location=location, categories=True)
    return frame.assign(status=pick([frame["_outside"]], ["FAIL"], "PASS"),
                        allowed=constant(allowed_countries_text(policy), frame))


@check(
    "RES-001",
    title={"en": "Resources deployed outside allowed jurisdictions",
           "ja": "許可されていない国・地域へのリソース配置"},
    controls=["5.1.1", "18.1.1"],
    policy_items=["11(6)"],
    severity="high",
    needs=["resources"],
    shares=["data_bearing"],
    reasons={
        "pass": {"en": "{kind} {name} is in {region} ({countries}); allowed: {allowed}",
                 "ja": "{kind} {name} は {region} ({countries}) にあり、許可された国の範囲内です (許可: {allowed})"},
        "fail": {"en": "{kind} {name} is in {region} ({countries}); allowed: {allowed}",
                 "ja": "{kind} {name} は {region} ({countries}) にあり、許可された国 ({allowed}) の外です"},
    },
    remediation=_REMEDIATE_MOVE,
)
def resources_outside_allowed_countries(inv, policy: Policy) -> pd.DataFrame:
    # data_bearing <NA> counts as data-bearing: an unknown kind must not escape residency.
    res = data_bearing(inv)
    res = _verdict(res, policy, "region")
    return res[["provider", "account_id", "region", "resource_id", "kind", "name", "countries",
                "status", "allowed"]]


@check(
    "RES-002",
    title={"en": "Object storage location (incl. multi/dual-region) outside allowed",
           "ja": "オブジェクトストレージの保存場所 (マルチ/デュアルリージョンを含む) が許可範囲外"},
    controls=["5.1.1", "18.1.1"],
    policy_items=["11(6)"],
    severity="high",
    needs=["resources", "replicas"],
    reasons={
        "pass": {"en": "bucket {name} is stored in {locations}; allowed: {allowed}",
                 "ja": "バケット {name} の保存場所は {locations} で、許可範囲内です (許可: {allowed})"},
        "fail": {"en": "bucket {name} is stored in {locations}; allowed: {allowed}",
                 "ja": "バケット {name} の保存場所は {locations} で、許可された国 ({allowed}) の外を含みます"},
    },
    remediation={"en": "Recreate the bucket in an allowed region or a dual-region whose members are all in allowed "
                       "countries (and a secondary / paired region in them too), copy the data and delete the old "
                       "bucket.",
                 "ja": "許可されたリージョン (またはすべての構成リージョンが許可国内にあるデュアルリージョン、"
                       "セカンダリ/ペアリージョンも許可国内) にバケットを作り直してデータを移し、旧バケットを削除してください。"},
)
def bucket_location(inv, policy: Policy) -> pd.DataFrame:
    rkey = ["provider", "account_id", "resource_id"]
    buckets = resources_of(inv, ["bucket"], ["provider", "account_id", "region", "resource_id", "name"])
    # The primary location of every bucket and, for geo-redundant accounts, the secondary (paired)
    # location, which a few buckets have: "<primary> + <secondary>", outside if either is.
    primary = location_verdict(buckets[["provider", "region"]], policy)
    text = text_series(buckets["region"]).fillna("unknown") + " (" + primary["countries"] + ")"
    pairs = inv.replicas[inv.replicas["kind"] == "geo_pair"]
    secondary = pairs[rkey + ["target_region"]].merge(buckets[rkey], on=rkey)
    secondary = location_verdict(secondary, policy, location="target_region")
    secondary["_text"] = text_series(secondary["target_region"]).fillna("unknown") + " (secondary) (" + secondary["countries"] + ")"
    per = secondary.groupby(rkey, as_index=False, observed=True).agg(_outside=("_outside", "any"))
    per = add_joined(per, secondary, rkey, {"_text": "_secondary"}, sep=" + ")
    out = lookup(buckets, per, rkey, ["_outside", "_secondary"])
    locations = text.to_numpy(dtype=object)
    paired = out["_secondary"].notna().to_numpy()
    locations[paired] = locations[paired] + " + " + out["_secondary"].to_numpy(dtype=object)[paired]
    outside = primary["_outside"].to_numpy(dtype=bool) | flag(out["_outside"], False).to_numpy()
    return out.assign(locations=locations, status=pick([outside], ["FAIL"], "PASS"),
                      allowed=constant(allowed_countries_text(policy), out))[
        ["provider", "account_id", "region", "resource_id", "name", "locations", "status", "allowed"]]


def _by_subject(frame: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """Judge every (subject, location, role) row, then one row per subject.

    ``frame`` has provider, account_id, region (the subject's home), resource_id, kind, name,
    ``location`` and ``role`` ("replication copy", "stored" ...). A subject FAILs when any of
    its locations is outside the allowed countries; ``locations`` lists them all.
    """
    if "target_account" not in frame.columns:
        frame = frame.assign(target_account=pd.NA)
    rows = location_verdict(frame, policy, location="location")

    def texts(places: pd.DataFrame) -> pd.DataFrame:  # a few (role, location, verdict) combinations
        location = places["location"].astype("string")
        role_ja = (places["role"].str.replace(r"^stored$", "保存先", regex=True)
                   .str.replace(r"^destination$", "送信先", regex=True).str.replace(r"^replica$", "レプリカ", regex=True)
                   .str.replace(r" copy$", " コピー", regex=True))
        return pd.DataFrame({
            "_text": places["role"] + " in " + location.fillna("unknown") + " (" + places["countries"] + ")",
            "_text_ja": (role_ja + ": " + location.fillna("不明") + " ("
                         + places["countries"].str.replace("unknown location", "不明な場所") + ")"),
            "_bad": location.fillna("unknown").where(places["_outside"].astype(bool))}, dtype="string")

    rows = rows.assign(**per_distinct(rows, ["role", "location", "countries", "_outside"], texts))
    subject = ["provider", "account_id", "resource_id"]
    # Most subjects have one location: take those rows as they are, aggregate only the rest.
    size = rows.groupby(subject, sort=False, dropna=False, observed=True)["role"].transform("size")
    one = rows[size == 1]
    single = pd.DataFrame({
        **{k: one[k] for k in subject}, "region": one["region"], "kind": one["kind"], "name": one["name"],
        "roles": one["role"], "locations": one["_text"], "_locations_ja": one["_text_ja"],
        "outside": one["_bad"].fillna(""), "target_accounts": text_series(one["target_account"]).fillna(""),
        "_outside": one["_outside"]})
    several = rows[size > 1]
    multi = several.groupby(subject, as_index=False, sort=False, dropna=False, observed=True).agg(
        region=("region", "first"), kind=("kind", "first"), name=("name", "first"), _outside=("_outside", "any"))
    multi = add_joined(multi, several, subject, {"role": "roles", "_bad": "outside", "target_account": "target_accounts"})
    multi = add_joined(multi, several, subject, {"_text": "locations"}, sep="; ")
    multi = add_joined(multi, several, subject, {"_text_ja": "_locations_ja"}, sep="、")
    out = stacked([single, multi])
    out["_outside"] = out["_outside"].astype(bool)
    return out.assign(status=pick([out["_outside"]], ["FAIL"], "PASS"),
                      allowed=constant(allowed_countries_text(policy), out)).drop(columns=["_outside"])


def _copies(inv, kinds: tuple[str, ...]) -> pd.DataFrame:
    """Replicas of the given kinds as (subject, location, role) rows, named after their source."""
    rep = names(inv, inv.replicas[inv.replicas["kind"].isin(kinds)].rename(columns={"kind": "copy_kind"}))
    return pd.DataFrame({"provider": rep["provider"], "account_id": rep["account_id"],
                         "region": rep["source_region"], "resource_id": rep["resource_id"], "kind": rep["kind"],
                         "name": rep["name"], "location": rep["target_region"],
                         "role": rep["copy_kind"].fillna("unknown").str.replace("_", " ") + " copy",
                         "target_account": rep["target_account"]})


_COPY_REASONS = {
    "pass": {"en": "{kind} {name}: {locations}; allowed: {allowed}",
             "ja": "{kind} {name}: {_locations_ja}。許可範囲内です (許可: {allowed})"},
    "fail": {"en": "{kind} {name}: {locations}; allowed: {allowed}",
             "ja": "{kind} {name}: {_locations_ja}。許可された国 ({allowed}) の外を含みます ({outside})"},
}


@check(
    "RES-003",
    title={"en": "Storage replication / secondary copy outside allowed",
           "ja": "ストレージのレプリケーション先・セカンダリコピーが許可範囲外"},
    controls=["18.1.1", "12.3.1"],
    policy_items=["11(6)"],
    severity="high",
    needs=["replicas", "resources"],
    reasons=_COPY_REASONS,
    remediation={"en": "Point replication at a destination in an allowed country (e.g. a locally or zone-redundant "
                       "SKU, or a replication rule to an in-country bucket).",
                 "ja": "レプリケーション先を許可国内に変更してください (LRS/ZRS への変更や国内バケットへの複製ルールなど)。"},
)
def storage_replication(inv, policy: Policy) -> pd.DataFrame:
    return _by_subject(_copies(inv, ("replication", "geo_pair")), policy)


@check(
    "RES-004",
    title={"en": "Database replicas / global tables outside allowed",
           "ja": "データベースのレプリカ・グローバルテーブルが許可範囲外"},
    controls=["18.1.1", "12.3.1"],
    policy_items=["11(6)"],
    severity="high",
    needs=["replicas", "resources"],
    reasons=_COPY_REASONS,
    remediation={"en": "Remove the replica (or global-table region) outside the allowed countries and re-create it "
                       "in an allowed region.",
                 "ja": "許可国外のレプリカ (グローバルテーブルのリージョン) を削除し、許可されたリージョンに作り直してください。"},
)
def database_replicas(inv, policy: Policy) -> pd.DataFrame:
    return _by_subject(_copies(inv, ("read_replica", "global_table")), policy)


@check(
    "RES-005",
    title={"en": "Backups, snapshots, images stored or copied outside allowed",
           "ja": "バックアップ・スナップショット・イメージの保存先・コピー先が許可範囲外"},
    controls=["12.3.1", "18.1.1", "CLD.8.1.5"],
    policy_items=["11(6)", "11(2)"],
    severity="high",
    needs=["replicas", "resources"],
    reasons=_COPY_REASONS,
    remediation={"en": "Set backup copy rules, snapshot storage locations and backup redundancy to allowed regions "
                       "(a default 'nearest multi-region' location is not in-country); delete copies held elsewhere.",
                 "ja": "バックアップのコピールール、スナップショットの保存場所、バックアップ冗長性を許可リージョンに設定し"
                       "(既定の「最寄りのマルチリージョン」は国内ではありません)、許可国外のコピーを削除してください。"},
)
def backups_outside(inv, policy: Policy) -> pd.DataFrame:
    stored = resources(inv)[["provider", "account_id", "region", "resource_id", "kind", "name"]]
    stored = stored[stored["kind"].isin(BACKUP_KINDS)]
    stored = stored.assign(location=stored["region"], role="stored")
    return _by_subject(stacked([stored, _copies(inv, ("backup", "snapshot_copy"))]), policy)


def _region_values(values: pd.Series) -> pd.Series:
    """Guardrail region values as plain location codes (GCP value groups ``in:<region>-locations``)."""
    return (values.astype("string").str.strip().str.lower()
            .str.replace(r"^(in|under):", "", regex=True).str.replace(r"-locations$", "", regex=True))


@check(
    "RES-006",
    title={"en": "No preventive region-restriction guardrail",
           "ja": "リージョン制限の予防的ガードレールがない"},
    controls=["5.1.1", "18.1.1", "CLD.6.3.1"],
    policy_items=["11(6)", "12(1)"],
    severity="medium",
    needs=["guardrails.region_restriction", "tenants"],
    reasons={
        "pass": {"en": "account {account_id} is covered by an enforced region restriction ({scope}) allowing {values}",
                 "ja": "アカウント {account_id} には強制されたリージョン制限 ({scope}) があり、許可は {values} です"},
        "audit_only": {"en": "account {account_id} has a region restriction ({scope}) that is not enforced (audit only)",
                       "ja": "アカウント {account_id} のリージョン制限 ({scope}) は強制されていません (監査のみ)"},
        "too_wide": {"en": "account {account_id} has a region restriction ({scope}) allowing locations outside "
                           "{allowed}: {outside_values}",
                     "ja": "アカウント {account_id} のリージョン制限 ({scope}) は許可国 ({allowed}) 外の場所を許可しています: {outside_values}"},
        "fail": {"en": "account {account_id} has no region-restriction guardrail",
                 "ja": "アカウント {account_id} にはリージョン制限のガードレールがありません"},
    },
    remediation={"en": "Attach a deny-type region restriction (SCP on aws:RequestedRegion, Azure 'Allowed locations' "
                       "with enforcement, GCP gcp.resourceLocations) at the top of the hierarchy, listing only "
                       "allowed regions.",
                 "ja": "階層の最上位に、許可リージョンのみを列挙した拒否型のリージョン制限 (aws:RequestedRegion の SCP、"
                       "強制モードの Azure「許可されている場所」、GCP gcp.resourceLocations) を適用してください。"},
)
def region_guardrail(inv, policy: Policy) -> pd.DataFrame:
    accts = accounts(inv)
    g = account_guardrails(inv, ["region_restriction"]).reset_index(drop=True)
    g = g.assign(_gid=g.index)
    # One row per allowed value; a restriction without values is "unknown location" (too wide).
    vals = g[["provider", "_gid", "values"]].explode("values").reset_index(drop=True)
    vals["location"] = _region_values(vals["values"])
    vals = location_verdict(vals, policy, location="location")
    vals["_bad_value"] = vals["location"].where(vals["_outside"])
    per = vals.groupby("_gid", as_index=False, observed=True).agg(_any_outside=("_outside", "any"))
    per = add_joined(per, vals, ["_gid"], {"_bad_value": "outside_values"}).set_index("_gid")
    g = g.join(per, on="_gid")
    g["_any_outside"] = g["_any_outside"].fillna(True).astype(bool)
    g["_effective"] = flag(g["effective"], False)
    # Rank: 0 enforced and narrow enough (PASS), 1 too wide, 2 audit only; the best guardrail wins.
    g["_rank"] = np.where(~g["_effective"], 2, np.where(g["_any_outside"], 1, 0))
    best = g.sort_values(["_rank", "_gid"]).drop_duplicates(KEY)
    out = accts.merge(best, on=KEY, how="left")
    rank = out["_rank"]
    out["status"] = np.select([rank == 0, rank.isin([1, 2])], ["PASS", "WARN"], "FAIL")
    out["reason_key"] = np.select([rank == 0, rank == 1, rank == 2], ["pass", "too_wide", "audit_only"], "fail")
    out["values"] = out["values"].astype(object).map(lambda v: list(v) if isinstance(v, (list, tuple)) else [])
    out["outside_values"] = out["outside_values"].astype(object).where(out["outside_values"].notna(), "")
    out["effective"] = out["effective"].astype("boolean")
    return out.assign(resource_id=out["account_id"], allowed=allowed_countries_text(policy))[
        ["provider", "account_id", "resource_id", "status", "reason_key", "scope", "effective", "values",
         "outside_values", "allowed"]]


@check(
    "RES-007",
    title={"en": "Opt-in regions enabled outside allowed list",
           "ja": "許可されていないオプトインリージョンが有効"},
    controls=["18.1.1"],
    policy_items=["11(6)"],
    severity="medium",
    needs=["regions"],
    providers=["aws"],
    reasons={
        "pass": {"en": "opt-in region {region} ({countries}) is {state} in account {account_id}; allowed: {allowed}",
                 "ja": "オプトインリージョン {region} ({countries}) はアカウント {account_id} で {state} です (許可: {allowed})"},
        "fail": {"en": "opt-in region {region} ({countries}) is {state} in account {account_id}; allowed: {allowed}",
                 "ja": "許可国 ({allowed}) 外のオプトインリージョン {region} ({countries}) がアカウント {account_id} で {state} です"},
    },
    remediation={"en": "Disable the opt-in region in the account settings (Account > Regions) unless it is needed "
                       "and allowed.",
                 "ja": "必要かつ許可されたリージョンでない限り、アカウント設定でオプトインリージョンを無効にしてください。"},
)
def opt_in_regions(inv, policy: Policy) -> pd.DataFrame:
    reg = inv.regions[(inv.regions["provider"] == "aws") & (inv.regions["opt_in"] != "not-required").fillna(True)]
    reg = location_verdict(reg, policy)
    # enabled <NA>: taken from opt_in; both unknown counts as enabled (fail closed).
    fallback = ~reg["opt_in"].isin(["not-opted-in"]).fillna(False).astype(bool)
    enabled = reg["enabled"].astype("boolean").fillna(pd.Series(fallback, index=reg.index)).astype(bool)
    state = np.where(reg["enabled"].isna() & reg["opt_in"].isna(), "possibly enabled (status unknown)",
                     np.where(enabled, "enabled", "not enabled"))
    status = np.where(enabled & reg["_outside"], "FAIL", "PASS")
    return reg.assign(resource_id=reg["region"], state=state, status=status,
                      allowed=allowed_countries_text(policy))[
        ["provider", "account_id", "region", "resource_id", "opt_in", "enabled", "state", "countries", "status",
         "allowed"]]


@check(
    "RES-008",
    title={"en": "Logs, keys and telemetry stored outside allowed",
           "ja": "ログ・暗号鍵・テレメトリの保存場所が許可範囲外"},
    controls=["12.4.1", "10.1.2", "18.1.1"],
    policy_items=["11(6)", "12(10)"],
    severity="medium",
    needs=["audit_logs", "resources", "replicas"],
    reasons=_COPY_REASONS,
    remediation={"en": "Send audit logs to a log store in an allowed region, pin log buckets and key rings to an "
                       "allowed region (not 'global'), and remove multi-region key replicas outside it.",
                 "ja": "監査ログの送信先を許可リージョンのログストアにし、ログバケットとキーリングを許可リージョンに固定"
                       "(global 不可) し、許可国外のマルチリージョンキーのレプリカを削除してください。"},
)
def logs_and_keys_outside(inv, policy: Policy) -> pd.DataFrame:
    logs = inv.audit_logs
    logs = pd.DataFrame({"provider": logs["provider"], "account_id": logs["account_id"], "region": logs["region"],
                         "resource_id": logs["log_id"], "name": logs["log_id"], "kind": "audit log",
                         "location": logs["destination_region"], "role": "destination"})
    res = resources_of(inv, ["log_store", "key"], ["provider", "account_id", "region", "resource_id", "name"])
    res = pd.DataFrame({"provider": res["provider"], "account_id": res["account_id"], "region": res["region"],
                        "resource_id": res["resource_id"], "name": res["name"],
                        "kind": res["kind"].map({"log_store": "log store", "key": "key"}),
                        "location": res["region"], "role": "stored"})
    keys = _copies(inv, ("multi_region_key",)).assign(kind="key", role="replica")
    return _by_subject(stacked([logs, res, keys]), policy)


# Global services that cache or relay content (edge caches, messaging without a storage policy).
_GLOBAL_CONTENT_KINDS = ("cdn", "topic", "queue")


@check(
    "RES-009",
    title={"en": "Global / non-regional services holding data", "ja": "グローバル (リージョン外) サービスによるデータ保持"},
    controls=["5.1.1", "18.1.1"],
    policy_items=["11(6)"],
    severity="info",
    needs=["resources", "tags"],
    shares=["labels"],
    tier="extended",
    reasons={
        "warn": {"en": "{kind} {name} is a global service: its data may be held in any country",
                 "ja": "{kind} {name} はグローバルサービスで、データがどの国にも保持され得ます"},
        "fail": {"en": "{kind} {name} is a global caching / messaging service holding {level} data",
                 "ja": "{kind} {name} はグローバルなキャッシュ・メッセージングサービスで、{_level_ja} のデータを扱います"},
    },
    remediation={"en": "Keep 極秘/部外秘 content off global caches and messaging (or pin message storage to allowed "
                       "regions); record the remaining global services in the asset inventory.",
                 "ja": "極秘/部外秘 のコンテンツをグローバルなキャッシュ・メッセージングに載せない (またはメッセージの保存先を"
                       "許可リージョンに固定する) ようにし、残るグローバルサービスは資産目録に記録してください。"},
)
def global_services(inv, policy: Policy) -> pd.DataFrame:
    r = resources(inv)
    is_global = (lowered(r["region"], strip=True) == "global").fillna(False).astype(bool)
    # firewalls and security groups are global control-plane objects that hold no customer data
    holds_data = ~r["kind"].isin(["security_group", "peering"]).fillna(False).astype(bool)
    r = r[(is_global & holds_data) | (r["kind"] == "cdn")]
    r = with_labels(inv, policy, r, ["level"])
    sensitive = r["kind"].isin(_GLOBAL_CONTENT_KINDS) & r["level"].isin(ESCALATING_LEVELS)
    status = np.where(sensitive, "FAIL", "WARN")
    severity = np.where(sensitive, "medium", "info")
    return r.assign(status=status, severity=severity, _level_ja=level_name_ja(r["level"]))[
        ["provider", "account_id", "region", "resource_id", "kind", "name", "level", "_level_ja", "status",
         "severity"]]
