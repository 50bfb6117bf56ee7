"""Logging, monitoring and forensics (LOG)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cloudaudit.engine import check
from cloudaudit.frames import stacked
from cloudaudit.policy import Policy

from ._common import (flag, guardrail_verdict, joined, level_name_ja, pass_or_fail, per_distinct, pick, resources_of,
                      text_or, with_labels)
from .authentication import KEY, account_universe

RKEY = KEY + ["region"]
# Kinds with a data plane whose reads and writes can be logged (object stores, databases and
# tables, file shares, secrets, messaging); disks, snapshots, images and backups have none.
DATA_STORE_KINDS = ("bucket", "database", "table", "dataset", "file_share", "secret", "queue", "topic")


def account_regions(inv) -> pd.DataFrame:
    """(provider, account_id, org_id, region) for every enabled region of every account in scope.

    Accounts with no ``regions`` rows get one row with region <NA> (judged account-wide).
    """
    accounts = account_universe(inv)
    reg = inv.regions[flag(inv.regions["enabled"], True)][RKEY].drop_duplicates()
    orgs = inv.tenants[KEY + ["org_id"]].drop_duplicates(KEY).astype("string")
    with_regions = reg.astype("string").merge(orgs, on=KEY, how="left")
    bare = accounts.merge(reg[KEY].drop_duplicates().astype("string"), on=KEY, how="left", indicator=True)
    bare = bare[bare["_merge"] == "left_only"].drop(columns="_merge").assign(region=pd.NA)
    out = stacked([with_regions, bare])
    return out.astype("string").reset_index(drop=True)


def _org_or_self(inv, frame: pd.DataFrame) -> pd.Series:
    """The organization of each row's account (``tenants.org_id``), or the account itself when it is
    an organization node (a GCP ``organizations/N`` sink, an Azure tenant)."""
    orgs = inv.tenants[KEY + ["org_id"]].drop_duplicates(KEY).astype("string")
    merged = frame[KEY].astype("string").merge(orgs, on=KEY, how="left")
    return merged["org_id"].fillna(merged["account_id"]).set_axis(frame.index)


def _covering(subjects: pd.DataFrame, items: pd.DataFrame, org_wide: pd.Series) -> pd.DataFrame:
    """Pairs (subject, item) where an item of the subject's account, or an org-wide item of its
    organization, applies. ``items`` has provider, account_id, _org; ``org_wide`` marks org items."""
    direct = subjects.merge(items.drop(columns="_org"), on=KEY)
    org_items = items[org_wide.to_numpy(dtype=bool)].drop(columns="account_id").rename(columns={"_org": "org_id"})
    inherited = subjects.dropna(subset=["org_id"]).merge(org_items, on=["provider", "org_id"])
    return stacked([direct, inherited])


@check(
    "LOG-001",
    title={"en": "Control-plane audit logging not enabled org-wide / in all regions",
           "ja": "管理操作の監査ログが組織全体・全リージョンで有効になっていない"},
    controls=["12.4.1", "12.4.3"], policy_items=["12(10)"], severity="high",
    needs=["audit_logs", "regions", "tenants"],
    reasons={
        "pass": {"en": "account {account_id} in {where}: management events are logged by {logs}",
                 "ja": "アカウント {account_id} ({where}): 管理操作は {logs} に記録されています"},
        "fail": {"en": "account {account_id} in {where}: no enabled audit log records management events",
                 "ja": "アカウント {account_id} ({where}): 管理操作を記録する有効な監査ログがありません"},
    },
    remediation={"en": "Enable an organization-wide, multi-region audit trail (CloudTrail organization trail, "
                       "subscription diagnostic settings, an aggregated log sink).",
                 "ja": "組織全体・全リージョンの監査ログを有効にしてください (CloudTrail 組織証跡、診断設定、集約シンク)。"},
)
def audit_logging_missing(inv, policy: Policy) -> pd.DataFrame:
    subjects = account_regions(inv)
    a = inv.audit_logs
    good = a[flag(a["enabled"], False) & flag(a["management_events"], False)]
    items = pd.DataFrame({"provider": good["provider"].astype("string"), "account_id": good["account_id"].astype("string"),
                          "_org": _org_or_self(inv, good), "log_id": text_or(good["log_id"], "audit log"),
                          "log_region": good["region"].astype("string"), "_multi": flag(good["multi_region"], False)})
    pairs = _covering(subjects, items, (good["scope"] == "organization").fillna(False))
    applies = pairs["_multi"].to_numpy(dtype=bool) | (pairs["log_region"] == pairs["region"]).fillna(False).to_numpy(dtype=bool)
    logs = joined(pairs[applies], RKEY, "log_id", "logs")
    out = subjects.merge(logs.astype("string"), on=RKEY, how="left")
    covered = out["logs"].notna().to_numpy()
    return out[RKEY].assign(resource_id=out["account_id"] + "/" + text_or(out["region"], "all regions"),
                            where=text_or(out["region"], "all regions"), logs=text_or(out["logs"], "none"),
                            status=np.where(covered, "PASS", "FAIL"))


def _log_rows(inv) -> pd.DataFrame:
    """Enabled audit logs that record management or data events (disabled ones are LOG-001's
    business; a configuration recorder that logs neither is no audit log)."""
    a = inv.audit_logs
    events = flag(a["management_events"], True) | flag(a["data_events"], True)
    a = a[flag(a["enabled"], True) & events]
    return a.rename(columns={"log_id": "resource_id"}).reset_index(drop=True)


@check(
    "LOG-002",
    title={"en": "Audit-log integrity / immutability not protected", "ja": "監査ログの完全性・改ざん防止が保護されていない"},
    controls=["12.4.1", "16.1.7", "18.1.3"], policy_items=["12(10)"], severity="medium",
    needs=["audit_logs"],
    reasons={
        "pass": {"en": "audit log {resource_id} is tamper-evident or immutable",
                 "ja": "監査ログ {resource_id} は改ざん検知または不変性が有効です"},
        "fail": {"en": "audit log {resource_id} has no integrity validation or immutability",
                 "ja": "監査ログ {resource_id} に完全性検証・不変性の設定がありません"},
        "unknown": {"en": "audit log {resource_id}: integrity protection unknown",
                    "ja": "監査ログ {resource_id}: 完全性保護の状態が不明です"},
    },
    remediation={"en": "Enable log file validation and a locked retention (Object Lock, immutable blobs, Bucket Lock).",
                 "ja": "ログファイル検証とロックされた保持設定 (Object Lock、不変 BLOB、Bucket Lock) を有効にしてください。"},
)
def log_integrity(inv, policy: Policy) -> pd.DataFrame:
    a = _log_rows(inv)
    integrity = a["integrity"].astype("boolean")
    key = pick([integrity.isna().to_numpy(), flag(integrity, False).to_numpy()], ["unknown", "pass"], "fail")
    return a[RKEY + ["resource_id", "scope", "destination_region"]].assign(
        integrity=integrity, status=pass_or_fail(key), reason_key=key)


@check(
    "LOG-003",
    title={"en": "Log retention shorter than policy", "ja": "ログの保存期間がポリシーより短い"},
    controls=["12.4.1", "16.1.7", "18.1.3"], policy_items=["12(10)"], severity="medium",
    needs=["audit_logs", "audit_logs.retention_days"],
    reasons={
        "pass": {"en": "audit log {resource_id} keeps logs {retention} (minimum {minimum_days} days)",
                 "ja": "監査ログ {resource_id} の保存期間は {retention} です (最低 {minimum_days} 日)"},
        "fail": {"en": "audit log {resource_id} keeps logs {retention}, less than {minimum_days} days",
                 "ja": "監査ログ {resource_id} の保存期間は {retention} で、最低 {minimum_days} 日に足りません"},
        "unknown": {"en": "audit log {resource_id}: retention unknown (minimum {minimum_days} days)",
                    "ja": "監査ログ {resource_id}: 保存期間が不明です (最低 {minimum_days} 日)"},
    },
    remediation={"en": "Set the log bucket / workspace / trail storage retention to at least the policy minimum.",
                 "ja": "ログの保存先 (バケット、ワークスペース等) の保持期間をポリシーの最低日数以上に設定してください。"},
)
def log_retention(inv, policy: Policy) -> pd.DataFrame:
    a = _log_rows(inv)
    days = a["retention_days"].astype("Int64")
    minimum = policy.thresholds.log_retention_days
    forever = (days == 0).fillna(False).to_numpy(dtype=bool)
    short = (days < minimum).fillna(False).to_numpy(dtype=bool) & ~forever
    key = pick([days.isna().to_numpy(), short], ["unknown", "fail"], "pass")
    retention = pd.Series(np.where(forever, "forever", days.astype(str) + " days"), index=a.index)
    return a[RKEY + ["resource_id"]].assign(retention_days=days, retention=retention, minimum_days=minimum,
                                            status=pass_or_fail(key), reason_key=key)


@check(
    "LOG-004",
    title={"en": "Data-access logging missing for sensitive data stores",
           "ja": "機密データの保存先でデータアクセスログが取得されていない"},
    controls=["12.4.1", "12.4.3"], policy_items=["11(1)", "12(8)"], severity="medium",
    needs=["resources.data_access_logging", "tags"],
    shares=["labels"],
    reasons={
        "pass": {"en": "{kind} {name} ({label}) logs data access",
                 "ja": "{kind} {name} ({label_ja}) はデータアクセスを記録しています"},
        "fail": {"en": "{kind} {name} ({label}) has no data-access logging",
                 "ja": "{kind} {name} ({label_ja}) でデータアクセスログが取得されていません"},
        "unknown": {"en": "{kind} {name} ({label}): data-access logging unknown",
                    "ja": "{kind} {name} ({label_ja}): データアクセスログの状態が不明です"},
    },
    remediation={"en": "Enable data-plane access logs (CloudTrail data events, diagnostic settings, DATA_READ/"
                       "DATA_WRITE audit logs) for the store.",
                 "ja": "データアクセスログ (CloudTrail データイベント、診断設定、DATA_READ/DATA_WRITE 監査ログ) を有効にしてください。"},
)
def sensitive_stores_without_access_logs(inv, policy: Policy) -> pd.DataFrame:
    res = resources_of(inv, DATA_STORE_KINDS, RKEY + ["resource_id", "name", "data_access_logging"])
    res = with_labels(inv, policy, res, ["label", "level", "labelled"])
    # A level the matrix does not know (an invalid label) is held to the strictest rule.
    required = {level: rules.data_access_logging for level, rules in policy.matrix.items()}
    res = res[res["level"].map(required).astype("boolean").fillna(True).astype(bool)]
    res = res.assign(labelled=flag(res["labelled"], False))

    def label_texts(labels: pd.DataFrame) -> pd.DataFrame:  # a few (labelled, label, level) combinations
        level, label = labels["level"].astype(str), labels["label"].astype(str)
        level_ja = level_name_ja(labels["level"]).astype(str)
        return pd.DataFrame({
            "label": np.where(labels["labelled"], "labelled " + label + " = " + level, "unlabelled, default level " + level),
            "label_ja": np.where(labels["labelled"], "ラベル " + label + " = " + level_ja, "ラベルなし、既定の区分 " + level_ja),
        }, dtype="string")

    texts = per_distinct(res, ["labelled", "label", "level"], label_texts, categories=True)
    logging_on = res["data_access_logging"].astype("boolean")
    key = pick([logging_on.isna().to_numpy(), flag(logging_on, False).to_numpy()], ["unknown", "pass"], "fail")
    return res[RKEY + ["resource_id"]].assign(
        name=text_or(res["name"], "").where(res["name"].notna(), res["resource_id"]), kind=text_or(res["kind"], "resource"),
        level=res["level"], label=texts["label"], label_ja=texts["label_ja"], data_access_logging=logging_on,
        status=pass_or_fail(key), reason_key=key)


@check(
    "LOG-005",
    title={"en": "Threat detection / vulnerability scanning not enabled",
           "ja": "脅威検知・脆弱性スキャンが有効になっていない"},
    controls=["CLD.12.4.5", "12.6.1", "CLD.9.5.2"], policy_items=["12(7)", "12(10)"], severity="medium",
    needs=["guardrails.threat_detection", "regions", "tenants"],
    reasons={
        "pass": {"en": "account {account_id} in {where}: threat detection is enabled ({detectors})",
                 "ja": "アカウント {account_id} ({where}): 脅威検知が有効です ({detectors})"},
        "warn": {"en": "account {account_id} in {where}: threat detection is configured but not enabled ({detectors})",
                 "ja": "アカウント {account_id} ({where}): 脅威検知は設定されていますが有効ではありません ({detectors})"},
        "fail": {"en": "account {account_id} in {where}: no threat detection is enabled",
                 "ja": "アカウント {account_id} ({where}): 脅威検知が有効になっていません"},
    },
    remediation={"en": "Enable GuardDuty in every enabled region, Defender for Cloud plans, or Security Command Center.",
                 "ja": "すべての有効なリージョンで GuardDuty、Defender for Cloud のプラン、または Security Command Center を有効にしてください。"},
)
def threat_detection_missing(inv, policy: Policy) -> pd.DataFrame:
    subjects = account_regions(inv)
    g = inv.guardrails[inv.guardrails["kind"] == "threat_detection"]
    g = g.assign(value=g["values"]).explode("value")  # an empty list becomes one row with no region
    items = pd.DataFrame({"provider": g["provider"].astype("string"), "account_id": g["account_id"].astype("string"),
                          "_org": _org_or_self(inv, g), "value": g["value"].astype("string"),
                          "_eff": flag(g["effective"], False),
                          "detector": text_or(g["scope"], "account") + " " + g["account_id"].astype(str)})
    # Detection set on an organization node (or an org id) applies to its member accounts.
    org_wide = items["account_id"].isin(inv.tenants["org_id"].dropna()) | \
        items["account_id"].str.startswith(("organizations/", "folders/")).fillna(False)
    pairs = _covering(subjects, items, org_wide)
    applies = (pairs["value"] == "*").fillna(False) | (pairs["value"] == pairs["region"]).fillna(False)
    pairs = pairs[applies.to_numpy(dtype=bool)]
    eff = pairs.groupby(RKEY, dropna=False, observed=True)["_eff"].any().rename("_on").reset_index()
    out = subjects.merge(eff.astype({"provider": "string", "account_id": "string", "region": "string"}),
                         on=RKEY, how="left")
    out = out.merge(joined(pairs, RKEY, "detector", "detectors").astype("string"), on=RKEY, how="left")
    on, present = flag(out["_on"], False).to_numpy(), out["_on"].notna().to_numpy()
    status = np.select([on, present], ["PASS", "WARN"], "FAIL")
    return out[RKEY].assign(resource_id=out["account_id"] + "/" + text_or(out["region"], "all regions"),
                            where=text_or(out["region"], "all regions"), detectors=text_or(out["detectors"], "none"),
                            status=status, reason_key=np.char.lower(status.astype(str)))


def _account_guardrail(inv, kind: str) -> pd.DataFrame:
    out = guardrail_verdict(inv, kind, account_universe(inv))
    return out[KEY + ["resource_id", "guardrails", "status", "reason_key"]]


@check(
    "LOG-007",
    title={"en": "No alerting on privileged / security-relevant control-plane events",
           "ja": "特権操作・セキュリティ上重要な管理操作に対するアラートがない"},
    controls=["12.4.3", "16.1.2", "CLD.12.4.5"], policy_items=["11(5)", "12(2)"], severity="medium",
    needs=["guardrails.security_alerting", "tenants"],
    reasons={
        "pass": {"en": "account {account_id}: security events raise alerts ({guardrails})",
                 "ja": "アカウント {account_id}: セキュリティ上重要な操作でアラートが通知されます ({guardrails})"},
        "warn": {"en": "account {account_id}: security alerting is configured but not active ({guardrails})",
                 "ja": "アカウント {account_id}: セキュリティアラートは設定されていますが有効ではありません ({guardrails})"},
        "fail": {"en": "account {account_id}: no alerting on privileged or security-relevant control-plane events",
                 "ja": "アカウント {account_id}: 特権操作やセキュリティ上重要な管理操作に対するアラートがありません"},
    },
    remediation={"en": "Create alerts with notification targets for IAM / policy / network / logging changes and "
                       "root or Global Administrator sign-ins.",
                 "ja": "IAM・ポリシー・ネットワーク・ログ設定の変更や最上位アカウントのサインインに通知付きアラートを設定してください。"},
)
def security_alerting_missing(inv, policy: Policy) -> pd.DataFrame:
    return _account_guardrail(inv, "security_alerting")


@check(
    "LOG-008",
    title={"en": "Security / incident contacts not registered with the CSP",
           "ja": "クラウド事業者にセキュリティ連絡先が登録されていない"},
    controls=["16.1.1", "16.1.2", "CLD.6.3.1"], policy_items=["12(10)"], severity="low",
    needs=["guardrails.security_contact", "tenants"],
    reasons={
        "pass": {"en": "account {account_id}: a security contact is registered ({guardrails})",
                 "ja": "アカウント {account_id}: セキュリティ連絡先が登録されています ({guardrails})"},
        "warn": {"en": "account {account_id}: a security contact exists but does not receive notifications ({guardrails})",
                 "ja": "アカウント {account_id}: セキュリティ連絡先はありますが通知を受け取る設定になっていません ({guardrails})"},
        "fail": {"en": "account {account_id}: no security contact is registered with the provider",
                 "ja": "アカウント {account_id}: クラウド事業者にセキュリティ連絡先が登録されていません"},
    },
    remediation={"en": "Register a security contact (AWS alternate contact SECURITY, Defender security contacts, "
                       "Essential Contacts with SECURITY).",
                 "ja": "セキュリティ連絡先を登録してください (AWS 代替連絡先 SECURITY、Defender のセキュリティ連絡先、Essential Contacts)。"},
)
def security_contact_missing(inv, policy: Policy) -> pd.DataFrame:
    return _account_guardrail(inv, "security_contact")
