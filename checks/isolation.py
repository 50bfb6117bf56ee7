"""Isolation, segregation and public exposure (ISL)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from cloudaudit.engine import check
from cloudaudit.frames import filled, lookup, lowered, stacked, text_series
from cloudaudit.policy import Policy

from ._common import (BACKUP_KINDS, KEY, RKEY, accounts, add_joined, days_since, flag, guardrail_presence,
                      join_nonempty, joined, pass_or_fail, pick, resources, resources_of, state_text, text_or,
                      with_labels)

_ANY_SOURCE = ("0.0.0.0/0", "::/0", "*", "internet", "any")
_TCP = ("tcp", "all", "*", "-1")
# Non-storage kinds that can carry a resource policy open to anonymous callers (ISL-007);
# invocation endpoints among them are rated medium, data and keys critical.
ANON_KINDS = ("queue", "topic", "secret", "key", "table", "dataset", "log_store", "file_share", "database",
              "function", "api_gateway", "registry")
INVOCATION_KINDS = ("function", "api_gateway")
# Kinds with a network endpoint whose reachability is always known to the adapters (ISL-004).
ENDPOINT_KINDS = ("database", "cluster")
# Preventive guardrails expected per provider (ISL-002).
PUBLIC_GUARDRAILS = {
    "aws": ("public_access_block", "snapshot_public_block", "image_public_block"),
    "azure": ("public_access_block",),
    "gcp": ("public_access_block", "domain_restriction"),
}
_PRIVILEGE_SEVERITY = {"admin": "critical", "write": "high", "read": "high"}


def _trusted_pattern(policy: Policy) -> str | None:
    """Regex matching any approved external account / domain (policy.trusted_accounts)."""
    items = [i for i in policy.trusted_accounts if i]
    return "|".join(re.escape(i) for i in items) if items else None


def _matches(series: pd.Series, pattern: str | None) -> pd.Series:
    if pattern is None:
        return pd.Series(False, index=series.index)
    return series.astype("string").str.contains(pattern, case=False, regex=True).fillna(False).astype(bool)


def scope_target(scope: pd.Series) -> pd.Series:
    """The resource a grant scope names: ``resource //storage.googleapis.com/b`` -> ``//storage.googleapis.com/b``.

    Adapters may prefix the scope with its level (resource, project, folder ...); a first word
    without ``/`` or ``:`` followed by a space is such a prefix.
    """
    return scope.astype("string").str.replace(r"^[A-Za-z_-]+\s+(?=\S)", "", regex=True)


@check(
    "ISL-001",
    title={"en": "Publicly accessible object storage", "ja": "公開アクセス可能なオブジェクトストレージ"},
    controls=["9.4.1", "13.1.3", "CLD.9.5.1"],
    policy_items=["11(3)", "12(8)"],
    severity="critical",
    needs=["resources", "tags"],
    shares=["labels"],
    reasons={
        "pass": {"en": "bucket {name} allows no anonymous access",
                 "ja": "バケット {name} は匿名アクセスを許可していません"},
        "public_label": {"en": "bucket {name} is anonymously readable and labelled public ({label})",
                         "ja": "バケット {name} は匿名で読み取り可能ですが、公開 ({label}) に分類されています"},
        "fail": {"en": "bucket {name} is anonymously {access}",
                 "ja": "バケット {name} は匿名で{_access_ja}可能です"},
        "unknown": {"en": "bucket {name}: anonymous access is unknown (read: {read}, write: {write})",
                    "ja": "バケット {name} の匿名アクセス可否が不明です (読み取り: {read}, 書き込み: {write})"},
    },
    remediation={"en": "Block public access (S3 Block Public Access, allowBlobPublicAccess=false, GCS public access "
                       "prevention) and remove AllUsers / anonymous grants.",
                 "ja": "パブリックアクセスをブロックし (S3 ブロックパブリックアクセス、allowBlobPublicAccess=false、"
                       "GCS 公開アクセス防止)、AllUsers や匿名の権限付与を削除してください。"},
)
def public_buckets(inv, policy: Policy) -> pd.DataFrame:
    r = resources(inv)[["provider", "account_id", "region", "resource_id", "kind", "name", "public_read",
                        "public_write"]]
    b = with_labels(inv, policy, r[r["kind"] == "bucket"], ["label", "level", "labelled"])
    read, write = b["public_read"].astype("boolean"), b["public_write"].astype("boolean")
    is_read, is_write = flag(read, False), flag(write, False)
    labelled_public = is_read & ~is_write & (b["level"] == "public") & flag(b["labelled"], False)
    # A bucket labelled public may be readable, never writable: it passes only when write is known False.
    public_label = labelled_public & write.notna()
    unknown = ((read.isna() | write.isna()) & ~is_write & ~is_read) | (labelled_public & write.isna())
    status = pick([is_write, public_label, unknown, is_read], ["FAIL", "PASS", "FAIL", "FAIL"], "PASS")
    key = pick([is_write | (is_read & ~public_label & ~unknown), public_label, unknown],
               ["fail", "public_label", "unknown"], "pass")
    access = np.where(is_write & is_read, "readable and writable", np.where(is_write, "writable", "readable"))
    _access_ja = np.where(is_write & is_read, "読み取り・書き込み", np.where(is_write, "書き込み", "読み取り"))
    severity = pick([is_write, public_label], ["critical", "info"], "critical")
    return b.assign(status=status, reason_key=key, access=access, _access_ja=_access_ja, severity=severity,
                    read=state_text(read, "yes", "no"), write=state_text(write, "yes", "no"))[
        ["provider", "account_id", "region", "resource_id", "name", "status", "reason_key", "severity", "access",
         "_access_ja", "read", "write", "label"]]


@check(
    "ISL-002",
    title={"en": "Tenant-wide public-access prevention guardrails missing",
           "ja": "テナント全体の公開アクセス防止ガードレールがない"},
    controls=["9.4.1"],
    policy_items=["12(1)", "12(8)"],
    severity="medium",
    needs=[f"{p}:guardrails.{k}" for p, kinds in PUBLIC_GUARDRAILS.items() for k in kinds] + ["tenants"],
    reasons={
        "pass": {"en": "account {account_id} enforces {present}",
                 "ja": "アカウント {account_id} では {present} が強制されています"},
        "warn": {"en": "account {account_id} has {audit_only} only in audit mode (not enforced)",
                 "ja": "アカウント {account_id} の {audit_only} は監査モードのみで強制されていません"},
        "fail": {"en": "account {account_id} lacks {missing}",
                 "ja": "アカウント {account_id} には {missing} がありません"},
    },
    remediation={"en": "Enable account-wide public-access blocks (S3, EBS snapshots, AMIs), deny-mode Azure policy for "
                       "storage public access, GCP storage.publicAccessPrevention and domain-restricted sharing.",
                 "ja": "アカウント全体のパブリックアクセスブロック (S3、EBS スナップショット、AMI)、拒否モードの Azure "
                       "ポリシー、GCP の storage.publicAccessPrevention とドメイン制限共有を有効にしてください。"},
)
def public_access_guardrails(inv, policy: Policy) -> pd.DataFrame:
    g = guardrail_presence(inv, PUBLIC_GUARDRAILS)
    g["_missing"] = g["kind"].where(~g["_present"])
    g["_audit"] = g["kind"].where(g["_present"] & ~g["_effective"])
    g["_ok"] = g["kind"].where(g["_effective"])
    out = add_joined(g[KEY].drop_duplicates().reset_index(drop=True), g, KEY,
                     {"_missing": "missing", "_audit": "audit_only", "_ok": "present"})
    status = np.select([out["missing"] != "", out["audit_only"] != ""], ["FAIL", "WARN"], "PASS")
    return out.assign(resource_id=out["account_id"], status=status)


@check(
    "ISL-003",
    title={"en": "Admin / remote-access ports open to the Internet",
           "ja": "管理・リモートアクセス用ポートがインターネットに開放されている"},
    controls=["13.1.3", "9.1.2", "CLD.9.5.2"],
    policy_items=["11(3)"],
    severity="high",
    needs=["network_rules"],
    reasons={
        "pass": {"en": "rule set {resource_id} opens no admin port ({checked}) to the Internet",
                 "ja": "ルールセット {resource_id} は管理ポート ({checked}) をインターネットに開放していません"},
        "fail": {"en": "rule set {resource_id} opens port(s) {ports} to the Internet (rules {rules})",
                 "ja": "ルールセット {resource_id} はポート {ports} をインターネットに開放しています (ルール {rules})"},
        "warn": {"en": "rule set {resource_id} opens port(s) {ports} to the Internet (rules {rules}) but is not attached",
                 "ja": "ルールセット {resource_id} はポート {ports} をインターネットに開放しています (ルール {rules}) が、未使用です"},
    },
    remediation={"en": "Restrict the source to known ranges or use a bastion / session manager / IAP instead of "
                       "opening admin ports.",
                 "ja": "送信元を既知の範囲に限定するか、管理ポートを開放せず踏み台・Session Manager・IAP を使用してください。"},
)
def admin_ports_open(inv, policy: Policy) -> pd.DataFrame:
    rules = inv.network_rules
    ports = pd.DataFrame({"_port": list(policy.thresholds.admin_ports)})
    direction, action = rules["direction"].str.lower(), rules["action"].str.lower()
    source, protocol = rules["source"].str.strip().str.lower(), rules["protocol"].str.lower()
    # Unknown direction / action / source / protocol count as the open case (fail closed).
    open_ = rules[((direction == "ingress") | direction.isna()).fillna(True).astype(bool)
                  & ((action != "deny") | action.isna()).fillna(True).astype(bool)
                  & (source.isin(_ANY_SOURCE) | source.isna()).fillna(True).astype(bool)
                  & (protocol.isin(_TCP) | protocol.isna()).fillna(True).astype(bool)]
    hits = open_.merge(ports, how="cross")
    lo, hi = hits["port_from"].fillna(0), hits["port_to"].fillna(65535)
    hits = hits[(lo <= hits["_port"]) & (hits["_port"] <= hi)]
    per = add_joined(joined(hits, KEY + ["resource_id"], "_port", "ports"), hits, KEY + ["resource_id"],
                     {"rule_id": "rules"})
    sets = rules.assign(_att=flag(rules["attached"], True)).groupby(KEY + ["resource_id"], as_index=False, observed=True).agg(
        region=("region", "first"), attached=("_att", "any"))
    out = sets.merge(per, on=KEY + ["resource_id"], how="left")
    bad = out["ports"].notna()
    out["status"] = np.select([bad & out["attached"], bad], ["FAIL", "WARN"], "PASS")
    out["severity"] = np.where(out["status"] == "WARN", "low", "high")
    return out.assign(checked=", ".join(str(p) for p in policy.thresholds.admin_ports))


@check(
    "ISL-004",
    title={"en": "Data-service endpoints reachable from any network",
           "ja": "任意のネットワークから到達可能なデータサービスのエンドポイント"},
    controls=["9.4.1", "13.1.3"],
    policy_items=["12(8)"],
    severity="high",
    needs=["resources"],
    reasons={
        "pass": {"en": "{kind} {name} does not accept connections from any network",
                 "ja": "{kind} {name} は任意のネットワークからの接続を受け付けません"},
        "fail": {"en": "{kind} {name} accepts connections from any network",
                 "ja": "{kind} {name} は任意のネットワークからの接続を受け付けます"},
        "unknown": {"en": "{kind} {name}: network reachability is unknown",
                    "ja": "{kind} {name} のネットワーク到達性が不明です"},
    },
    remediation={"en": "Disable public network access / public accessibility and allow only private endpoints or "
                       "named source ranges.",
                 "ja": "パブリックネットワークアクセスを無効にし、プライベートエンドポイントまたは特定の送信元範囲のみを許可してください。"},
)
def open_endpoints(inv, policy: Policy) -> pd.DataFrame:
    r = resources(inv)[["provider", "account_id", "region", "resource_id", "kind", "name", "network_open"]]
    # Evaluated where the adapter knows reachability, and always for databases / clusters
    # (unknown there FAILs); object stores without a network setting are ISL-001's.
    r = r[r["network_open"].notna() | r["kind"].isin(ENDPOINT_KINDS)]
    open_ = r["network_open"].astype("boolean")
    is_open = flag(open_, True)
    status = pick([is_open], ["FAIL"], "PASS")
    key = pick([open_.isna(), is_open], ["unknown", "fail"], "pass")
    return r.assign(status=status, reason_key=key)[
        ["provider", "account_id", "region", "resource_id", "kind", "name", "network_open", "status", "reason_key"]]


@check(
    "ISL-005",
    title={"en": "Publicly shared snapshots, images, disks", "ja": "公開共有されたスナップショット・イメージ・ディスク"},
    controls=["9.4.1"],
    policy_items=["12(8)"],
    severity="critical",
    needs=["resources"],
    reasons={
        "pass": {"en": "{kind} {name} is not shared publicly", "ja": "{kind} {name} は公開共有されていません"},
        "fail": {"en": "{kind} {name} is shared with everyone", "ja": "{kind} {name} は全員に共有されています"},
        "unknown": {"en": "{kind} {name}: public sharing is unknown", "ja": "{kind} {name} の公開共有の有無が不明です"},
    },
    remediation={"en": "Remove the public share (createVolumePermission / launchPermission 'all', RDS restore 'all', "
                       "disk SAS / AllowAll, allUsers) and enable the account-level block.",
                 "ja": "公開共有 (createVolumePermission / launchPermission の all、RDS の restore all、ディスク SAS、"
                       "allUsers) を削除し、アカウントレベルのブロックを有効にしてください。"},
)
def public_snapshots(inv, policy: Policy) -> pd.DataFrame:
    r = resources(inv)[["provider", "account_id", "region", "resource_id", "kind", "name", "public_read"]]
    # Volumes only where the provider can expose them (Azure disk SAS): unknown is not applicable there.
    r = r[r["kind"].isin(BACKUP_KINDS[:3]) | ((r["kind"] == "volume") & r["public_read"].notna())]
    pub = r["public_read"].astype("boolean")  # sharing a copy = anyone may read / restore it
    shared = flag(pub, True)
    status = pick([shared], ["FAIL"], "PASS")
    key = pick([pub.isna(), shared], ["unknown", "fail"], "pass")
    return r.assign(status=status, reason_key=key)[
        ["provider", "account_id", "region", "resource_id", "kind", "name", "public_read", "status", "reason_key"]]


@check(
    "ISL-006",
    title={"en": "External (cross-tenant) principals in IAM policies and role trusts",
           "ja": "IAM ポリシー・ロール信頼関係における外部 (他テナント) プリンシパル"},
    controls=["9.2.2", "9.4.1", "15.1.2"],
    policy_items=["11(3)", "12(3)"],
    severity="high",
    needs=["trusts", "grants"],
    reasons={
        "pass": {"en": "{subject} {resource_id} is trusted only inside the organization",
                 "ja": "{subject} {resource_id} は組織内からのみ信頼されています"},
        "approved": {"en": "{subject} {resource_id}: external {external} is on the approved list{condition}",
                     "ja": "{subject} {resource_id}: 外部 {external} は承認済みリストにあります{_condition_ja}"},
        "approved_no_condition": {
            "en": "{subject} {resource_id}: approved external {external} can assume it without an ExternalId condition",
            "ja": "{subject} {resource_id}: 承認済みの外部 {external} が ExternalId 条件なしで引き受け可能です"},
        "fail": {"en": "{subject} {resource_id} grants access to external {external} not on the approved list{condition}",
                 "ja": "{subject} {resource_id} は承認リストにない外部 {external} にアクセスを許可しています{_condition_ja}"},
        "principal_fail": {"en": "external principal {resource_id} holds {roles} in {account_id} and is not on the "
                                 "approved list",
                           "ja": "承認リストにない外部プリンシパル {resource_id} が {account_id} で {roles} を保有しています"},
        "principal_unknown": {"en": "principal {resource_id} holds {roles} in {account_id}; whether it is outside the "
                                    "organization is unknown",
                              "ja": "プリンシパル {resource_id} は {account_id} で {roles} を保有していますが、組織外かどうか不明です"},
        "principal_approved": {"en": "external principal {resource_id} holds {roles} in {account_id} and is on the "
                                     "approved list",
                               "ja": "外部プリンシパル {resource_id} は {account_id} で {roles} を保有し、承認済みリストにあります"},
        "wildcard": {"en": "{subject} {resource_id} can be assumed by anyone ({external})",
                     "ja": "{subject} {resource_id} は誰でも引き受け可能です ({external})"},
    },
    remediation={"en": "Remove external principals that are not contracted vendors; require an ExternalId (and MFA) "
                       "condition for approved ones and list them in identity.trusted_accounts.",
                 "ja": "契約済みでない外部プリンシパルを削除し、承認済みのものには ExternalId (と MFA) 条件を必須にして "
                       "identity.trusted_accounts に登録してください。"},
)
def external_principals(inv, policy: Policy) -> pd.DataFrame:
    pattern = _trusted_pattern(policy)
    t = inv.trusts
    t_ext = flag(t["external"], True)  # unknown origin counts as external
    t_wild = flag(t["wildcard"], False)
    t_ok = _matches(t["trusted_account"], pattern) | _matches(t["trusted"], pattern)
    t_cond = flag(t["external_id"], False)
    # rank: 0 internal, 1 approved with condition, 2 approved without, 3 external, 4 wildcard
    rank = np.select([t_wild, t_ext & ~t_ok, t_ext & ~t_cond, t_ext], [4, 3, 2, 1], 0)
    t = t.assign(_rank=rank, _ext=t["trusted"].where(t_ext | t_wild), _cond=t_cond,
                 _priv=filled(t["privilege"], "admin"))
    roles = t.sort_values("_rank", ascending=False).groupby(KEY + ["role_id"], as_index=False, observed=True).agg(
        _rank=("_rank", "max"), _cond=("_cond", "all"), privilege=("_priv", "first"))
    roles = add_joined(roles, t, KEY + ["role_id"], {"_ext": "external"})
    roles = roles.rename(columns={"role_id": "resource_id"}).assign(subject="role")
    g = inv.grants
    # Anonymous / all-users grants are ISL-001 / ISL-007's; here: named outside parties.
    # A grant whose holder's origin is unknown is judged as external (fail closed).
    g = g[flag(g["external"], True) & ~flag(g["public"], False)]
    g_ok = _matches(g["principal_id"], pattern)
    g = g.assign(_rank=np.where(g_ok, 1, 3), _cond=True, external=g["principal_id"],
                 _priv=filled(g["privilege"], "admin"), _unknown=g["external"].isna())
    order = {"admin": 0, "write": 1, "read": 2}
    # the rank as a number (a categorical's map would sort by its categories' order)
    princ = g.assign(_o=text_series(g["_priv"]).map(order).fillna(0)).sort_values("_o").groupby(
        KEY + ["principal_id"], as_index=False, observed=True).agg(
        _rank=("_rank", "max"), external=("external", "first"), _cond=("_cond", "all"), privilege=("_priv", "first"),
        _unknown=("_unknown", "all"))
    princ = add_joined(princ, g, KEY + ["principal_id"], {"role": "roles"})
    princ = princ.rename(columns={"principal_id": "resource_id"}).assign(subject="principal")
    out = stacked([roles, princ])
    r = out["_rank"]
    out["status"] = np.select([r >= 3, r == 2], ["FAIL", "WARN"], "PASS")
    out["reason_key"] = np.select([r == 4, r == 3, r == 2, r == 1], ["wildcard", "fail", "approved_no_condition",
                                                                     "approved"], "pass")
    principal = out["subject"] == "principal"
    out.loc[principal & (r == 3), "reason_key"] = "principal_fail"
    out.loc[principal & (r == 1), "reason_key"] = "principal_approved"
    out.loc[principal & (r == 3) & flag(out["_unknown"].astype("boolean"), False), "reason_key"] = "principal_unknown"
    out["condition"] = np.where(principal, "", np.where(out["_cond"], " (ExternalId required)",
                                                        " (no ExternalId condition)"))
    out["_condition_ja"] = np.where(principal, "", np.where(out["_cond"], " (ExternalId 条件あり)",
                                                           " (ExternalId 条件なし)"))
    # Severity by what the external party can do: admin critical, anyone critical.
    out["severity"] = np.select([r == 4, out["status"] == "WARN", out["status"] == "PASS"],
                                ["critical", "medium", "high"],
                                out["privilege"].map(_PRIVILEGE_SEVERITY).fillna("high"))
    return out.drop(columns=["_rank", "_cond", "_unknown"], errors="ignore")


@check(
    "ISL-007",
    title={"en": "Anonymous / wildcard principals on non-storage resources",
           "ja": "ストレージ以外のリソースに対する匿名・ワイルドカードのプリンシパル"},
    controls=["9.4.1"],
    policy_items=["12(8)"],
    severity="critical",
    needs=["resources", "grants"],
    reasons={
        "pass": {"en": "{kind} {name} allows no anonymous access", "ja": "{kind} {name} は匿名アクセスを許可していません"},
        "fail": {"en": "{kind} {name} is open to anonymous callers ({via})",
                 "ja": "{kind} {name} は匿名の呼び出し元に開放されています ({via})"},
        "unknown": {"en": "{kind} {name}: anonymous access is unknown",
                    "ja": "{kind} {name} の匿名アクセス可否が不明です"},
    },
    remediation={"en": "Remove '*' / allUsers / allAuthenticatedUsers principals or add a restricting condition "
                       "(aws:PrincipalOrgID, source VPC endpoint); require authentication on function URLs.",
                 "ja": "'*' / allUsers / allAuthenticatedUsers を削除するか制限条件 (aws:PrincipalOrgID、VPC "
                       "エンドポイント) を付け、関数 URL には認証を必須にしてください。"},
)
def anonymous_principals(inv, policy: Policy) -> pd.DataFrame:
    r = resources_of(inv, ANON_KINDS, ["provider", "account_id", "region", "resource_id", "name", "public_read",
                                       "public_write"])
    g = inv.grants[flag(inv.grants["public"], False)]
    # a public grant whose scope was not read is judged on the account, never dropped
    g = g.assign(scope=scope_target(g["scope"]).fillna(g["account_id"].astype("string")))
    per = add_joined(g[KEY + ["scope"]].dropna().drop_duplicates(), g, KEY + ["scope"], {"role": "_roles"})
    per = pd.DataFrame({"provider": per["provider"], "account_id": per["account_id"], "resource_id": per["scope"],
                        "_grant": ("public grant " + per["_roles"].astype(str)).str.rstrip()})
    r = lookup(r, per, RKEY, ["_grant"])  # per holds one row per scope
    pol = r["public_read"].astype("boolean") | r["public_write"].astype("boolean")
    granted = r["_grant"].notna()
    anon = flag(pol, False) | granted
    unknown = pol.isna() & ~granted
    status = pick([anon | unknown], ["FAIL"], "PASS")
    key = pick([anon, unknown], ["fail", "unknown"], "pass")
    via = join_nonempty([pd.Series(np.where(flag(pol, False), "resource policy", ""), index=r.index),
                         r["_grant"]], sep=", ")
    severity = pick([r["kind"].isin(INVOCATION_KINDS)], ["medium"], "critical")
    rows = r.assign(status=status, reason_key=key, via=via, severity=severity)
    # Public grants on scopes that are not such resources (and not buckets / backups, which
    # ISL-001 / ISL-005 judge) still FAIL: anonymous access to an unknown kind of thing.
    known = lookup(per, resources(inv)[RKEY].assign(_known=True), RKEY, ["_known"])["_known"].notna()
    orphan = per[~known.to_numpy(dtype=bool)].reset_index(drop=True)
    on_account = (orphan["resource_id"] == orphan["account_id"]).to_numpy(dtype=bool)
    orphan = orphan.assign(kind=np.where(on_account, "grant", "resource"),
                           name=np.where(on_account, "of unknown scope in account " + orphan["account_id"].astype(str),
                                         orphan["resource_id"].astype(str)),
                           status="FAIL", reason_key="fail", via=orphan["_grant"], severity="critical", region=pd.NA)
    out = stacked([rows, orphan])
    return out[["provider", "account_id", "region", "resource_id", "kind", "name", "status", "reason_key", "via",
                "severity"]]


@check(
    "ISL-008",
    title={"en": "External / guest identities", "ja": "外部・ゲストの ID"},
    controls=["9.2.1", "9.2.2", "9.2.3"],
    policy_items=["11(4)"],
    severity="medium",
    needs=["principals", "principals.last_active", "grants"],
    providers=["azure", "gcp"],
    reasons={
        "pass": {"en": "external identity {name} holds no privileged role and was active on {last_active}",
                 "ja": "外部 ID {name} は特権ロールを持たず、{last_active} に利用されています"},
        "fail": {"en": "external identity {name}: {problems}", "ja": "外部 ID {name}: {_problems_ja}"},
    },
    remediation={"en": "Remove guests that are inactive or no longer needed, and do not give external identities "
                       "privileged roles; restrict who may invite guests.",
                 "ja": "不要・非アクティブなゲストを削除し、外部 ID に特権ロールを付与しないでください。ゲスト招待者も制限してください。"},
)
def external_identities(inv, policy: Policy) -> pd.DataFrame:
    p = inv.principals
    # People from outside (guests, foreign-domain users); external workloads are ISL-006's and
    # anonymous members (allUsers) ISL-001 / ISL-007's.
    anonymous = p["principal_id"].isin(["allUsers", "allAuthenticatedUsers", "*"]).fillna(False).astype(bool)
    p = p[(flag(p["external"], False) | (p["kind"] == "guest").fillna(False).astype(bool))
          & flag(p["human"], True) & ~anonymous]
    g = inv.grants
    # Grants may sit in another account than the principal row (GCP org-level principals).
    g = g[(g["privilege"] == "admin").fillna(False).astype(bool)]
    g = g.assign(_role=text_or(g["role"], "admin role") + " on " + text_series(g["account_id"]))
    admins = joined(g, ["provider", "principal_id"], "_role", "admin_roles")
    p = p.merge(admins, on=["provider", "principal_id"], how="left")
    stale = p["last_active"].isna() | flag(days_since(p["last_active"]) > policy.thresholds.inactive_days, False)
    privileged = p["admin_roles"].notna()
    problems = join_nonempty([
        pd.Series(np.where(privileged, "holds privileged role(s) " + p["admin_roles"].fillna(""), ""), index=p.index),
        pd.Series(np.where(p["last_active"].isna(), "never active or activity unknown",
                           np.where(stale, f"inactive for more than {policy.thresholds.inactive_days} days", "")),
                  index=p.index)])
    _problems_ja = join_nonempty([
        pd.Series(np.where(privileged, "特権ロール " + p["admin_roles"].fillna("") + " を保有", ""), index=p.index),
        pd.Series(np.where(p["last_active"].isna(), "利用実績なしまたは不明",
                           np.where(stale, f"{policy.thresholds.inactive_days} 日を超えて未使用", "")),
                  index=p.index)])
    status = np.where(privileged | stale, "FAIL", "PASS")
    severity = np.where(privileged, "high", "medium")
    return p.assign(resource_id=p["principal_id"], status=status, problems=problems, _problems_ja=_problems_ja,
                    severity=severity)[
        ["provider", "account_id", "resource_id", "name", "kind", "last_active", "admin_roles", "status",
         "problems", "_problems_ja", "severity"]]


@check(
    "ISL-009",
    title={"en": "Default networks / default rules present", "ja": "デフォルトネットワーク・デフォルトルールが存在する"},
    controls=["13.1.3", "CLD.13.1.4"],
    policy_items=["11(3)"],
    severity="medium",
    needs=["resources"],
    reasons={
        "pass": {"en": "{kind} {name} is not a provider default", "ja": "{kind} {name} はプロバイダ既定のものではありません"},
        "fail": {"en": "default {kind} {name} in {region} is present and in use",
                 "ja": "{region} の既定の {kind} {name} が存在し、使用されています"},
        "warn": {"en": "default {kind} {name} in {region} is present but not in use",
                 "ja": "{region} の既定の {kind} {name} が未使用のまま存在します"},
        "unknown": {"en": "{kind} {name}: unknown whether it is a provider default",
                    "ja": "{kind} {name} がプロバイダ既定のものかどうか不明です"},
    },
    remediation={"en": "Delete unused default networks and empty default security groups' rules; move workloads to "
                       "purpose-built networks.",
                 "ja": "未使用の既定ネットワークを削除し、既定セキュリティグループのルールを空にして、ワークロードを専用ネットワークへ移してください。"},
)
def default_networks(inv, policy: Policy) -> pd.DataFrame:
    r = resources_of(inv, ["network", "security_group"],
                     ["provider", "account_id", "region", "resource_id", "name", "is_default", "attached"])
    default = r["is_default"].astype("boolean")
    in_use = flag(r["attached"], True)
    is_def = flag(default, False)
    status = np.select([default.isna(), is_def & in_use, is_def], ["FAIL", "FAIL", "WARN"], "PASS")
    key = np.select([default.isna(), is_def & in_use, is_def], ["unknown", "fail", "warn"], "pass")
    severity = np.where(key == "warn", "low", "medium")
    return r.assign(status=status, reason_key=key, severity=severity)[
        ["provider", "account_id", "region", "resource_id", "kind", "name", "is_default", "attached", "status",
         "reason_key", "severity"]]


@check(
    "ISL-010",
    title={"en": "Network connectivity to external tenants", "ja": "外部テナントとのネットワーク接続"},
    controls=["13.1.3", "CLD.9.5.1"],
    policy_items=["12(3)"],
    severity="medium",
    needs=["resources", "tenants"],
    reasons={
        "pass": {"en": "peering {name} connects to {peer_account}, inside the organization",
                 "ja": "ピアリング {name} の接続先 {peer_account} は組織内です"},
        "approved": {"en": "peering {name} connects to approved external account {peer_account}",
                     "ja": "ピアリング {name} の接続先は承認済みの外部アカウント {peer_account} です"},
        "fail": {"en": "peering {name} connects to external account {peer_account}, not on the approved list",
                 "ja": "ピアリング {name} は承認リストにない外部アカウント {peer_account} に接続しています"},
        "unknown": {"en": "peering {name}: the remote account is unknown",
                    "ja": "ピアリング {name} の接続先アカウントが不明です"},
    },
    remediation={"en": "Remove peerings, attachments and private-endpoint connections to accounts outside the "
                       "organization, or list the vendor in identity.trusted_accounts.",
                 "ja": "組織外アカウントとのピアリング・アタッチメント・プライベートエンドポイント接続を削除するか、"
                       "委託先を identity.trusted_accounts に登録してください。"},
)
def external_connectivity(inv, policy: Policy) -> pd.DataFrame:
    r = resources_of(inv, ["peering"], ["provider", "account_id", "region", "resource_id", "name", "peer_account"])
    own = set(inv.tenants["account_id"].dropna()) | set(accounts(inv)["account_id"])
    peer = r["peer_account"]
    internal = peer.isin(own).fillna(False).astype(bool)
    approved = _matches(peer, _trusted_pattern(policy)) & ~internal
    unknown = peer.isna()
    status = np.select([unknown, internal | approved], ["FAIL", "PASS"], "FAIL")
    key = np.select([unknown, internal, approved], ["unknown", "pass", "approved"], "fail")
    severity = np.where(unknown, "high", "medium")
    return r.assign(status=status, reason_key=key, severity=severity)[
        ["provider", "account_id", "region", "resource_id", "name", "peer_account", "status", "reason_key",
         "severity"]]


@check(
    "ISL-012",
    title={"en": "VM hardening weaknesses", "ja": "仮想マシンの要塞化の不備"},
    controls=["CLD.9.5.2"],
    policy_items=["12(7)"],
    severity="medium",
    needs=["resources.weak_settings"],
    reasons={
        "pass": {"en": "vm {name} has no known hardening weakness", "ja": "VM {name} に既知の要塞化の不備はありません"},
        "fail": {"en": "vm {name} has hardening weaknesses: {weak_settings}",
                 "ja": "VM {name} に要塞化の不備があります: {weak_settings}"},
        "unknown": {"en": "vm {name}: hardening settings were not read",
                    "ja": "VM {name}: 要塞化の設定を取得できませんでした"},
    },
    remediation={"en": "Require IMDSv2, enable secure boot / vTPM / integrity monitoring (Trusted Launch, Shielded "
                       "VM), OS Login, disable serial ports, password login and project-wide SSH keys.",
                 "ja": "IMDSv2 の必須化、セキュアブート・vTPM・整合性監視 (トラステッド起動、Shielded VM)、OS Login を"
                       "有効にし、シリアルポート・パスワードログイン・プロジェクト全体の SSH 鍵を無効にしてください。"},
)
def vm_hardening(inv, policy: Policy) -> pd.DataFrame:
    vms = resources_of(inv, ["vm"], ["provider", "account_id", "region", "resource_id", "name", "weak_settings"])
    count = vms["weak_settings"].astype(object).str.len()
    key = np.select([count.isna().to_numpy(), (count > 0).fillna(False).to_numpy()], ["unknown", "fail"], "pass")
    return vms.assign(status=pass_or_fail(key), reason_key=key)[
        ["provider", "account_id", "region", "resource_id", "name", "weak_settings", "status", "reason_key"]]


_ENV_KEYS = ("env", "environment", "stage", "tier")
_PROD = r"^(prod|production|prd|live|本番)$"


@check(
    "ISL-011",
    title={"en": "Production / non-production not segregated at tenancy boundary",
           "ja": "本番環境と非本番環境がテナンシー境界で分離されていない"},
    controls=["13.1.3", "12.1.4"],
    policy_items=["11(3)"],
    severity="low",
    needs=["tags"],
    tier="extended",
    reasons={
        "pass": {"en": "account {account_id} holds only {environments} resources",
                 "ja": "アカウント {account_id} には {environments} のリソースのみがあります"},
        "fail": {"en": "account {account_id} mixes production and non-production resources ({environments})",
                 "ja": "アカウント {account_id} に本番と非本番のリソースが混在しています ({environments})"},
    },
    remediation={"en": "Keep production and non-production workloads in separate accounts / subscriptions / projects.",
                 "ja": "本番と非本番のワークロードは別のアカウント・サブスクリプション・プロジェクトに分けてください。"},
)
def prod_nonprod_mixed(inv, policy: Policy) -> pd.DataFrame:
    t = inv.tags
    # Heuristic: environment tags on resources (not on the account itself).
    t = t[lowered(t["key"]).isin(_ENV_KEYS).fillna(False).astype(bool) & (t["resource_id"] != t["account_id"])]
    value = t["value"].astype("string").str.strip().str.lower()
    t = t.assign(_prod=value.str.match(_PROD).fillna(False).astype(bool), _env=value)
    per = t.groupby(KEY, as_index=False, observed=True).agg(_any_prod=("_prod", "any"), _all_prod=("_prod", "all"))
    per = add_joined(per, t, KEY, {"_env": "environments"})
    status = np.where(per["_any_prod"] & ~per["_all_prod"], "FAIL", "PASS")
    return per.assign(resource_id=per["account_id"], status=status)[
        ["provider", "account_id", "resource_id", "environments", "status"]]
