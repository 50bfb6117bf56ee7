"""Information classification (CLS): the seed policy's four levels and their control matrix.

Levels: 極秘 (top_secret), 部外秘 (confidential), グループ外秘 (group_internal), 公開 (public),
with the aliases of :data:`cloudaudit.policy.DEFAULT_ALIASES`. Unlabelled data-bearing
resources are judged at ``policy.default_level``; a label on the account is inherited.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cloudaudit.engine import check
from cloudaudit.frames import lookup
from cloudaudit.policy import Policy

from ._common import (BACKUP_KINDS, constant, data_bearing, flag, judged_level, level_name_ja, location_verdict,
                      lowered, per_distinct, pick, with_labels)

_LEVEL_TEXT = "極秘/部外秘/グループ外秘/公開"
# Kinds where anonymous access is a real setting: unknown there is a violation (fail closed).
_SHAREABLE = ("bucket",) + BACKUP_KINDS[:3]
# Kinds with a data-plane access log (object reads, queries, secret reads ...); for disks,
# snapshots and images there is none, so only an explicit False counts there.
_LOGGABLE = ("bucket", "database", "table", "dataset", "file_share", "secret", "queue", "topic", "log_store")


@check(
    "CLS-001",
    title={"en": "Data-bearing resources missing / invalid classification label",
           "ja": "データを保持するリソースに機密区分ラベルがない・不正"},
    controls=["8.2.2"],
    policy_items=["CLS", "11(2)"],
    severity="medium",
    needs=["resources", "tags"],
    shares=["data_bearing", "labels"],
    reasons={
        "pass": {"en": "{kind} {name} is labelled {tag_key}={label} ({level}, label on the {label_source})",
                 "ja": "{kind} {name} には {tag_key}={label} ({_level_ja}、{_label_source_ja}のラベル) が付いています"},
        "missing": {"en": "{kind} {name} has no {tag_key} label (judged as {level})",
                    "ja": "{kind} {name} に {tag_key} ラベルがありません ({_level_ja} として扱います)"},
        "invalid": {"en": "{kind} {name} has {tag_key}={label}, which is not a level of the scheme ({levels})",
                    "ja": "{kind} {name} の {tag_key}={label} は区分 ({levels}) のいずれでもありません"},
    },
    remediation={"en": "Tag every data-bearing resource (or its account) with the classification key and one of the "
                       "four levels; enforce it with a tag policy / 'require a tag' policy.",
                 "ja": "データを保持するすべてのリソース (またはそのアカウント) に機密区分キーと 4 区分のいずれかの値を"
                       "付け、タグポリシー・「タグを必須にする」ポリシーで強制してください。"},
)
def missing_labels(inv, policy: Policy) -> pd.DataFrame:
    res = data_bearing(inv)
    res = with_labels(inv, policy, res, ["label", "level", "labelled", "label_source"])
    labelled = flag(res["labelled"], False)
    invalid = labelled & (res["level"] == "invalid").fillna(False).astype(bool)
    status = pick([~labelled | invalid], ["FAIL"], "PASS")
    key = pick([~labelled, invalid], ["missing", "invalid"], "pass")
    return res.assign(status=status, reason_key=key, tag_key=constant(policy.classification_key, res),
                      _level_ja=level_name_ja(res["level"]), levels=constant(_LEVEL_TEXT, res),
                      _label_source_ja=res["label_source"].map({"resource": "リソース", "account": "アカウント"}))[
        ["provider", "account_id", "region", "resource_id", "kind", "name", "tag_key", "label", "label_source",
         "_label_source_ja", "level", "_level_ja", "levels", "status", "reason_key"]]


@check(
    "CLS-002",
    title={"en": "Classification-driven control violations", "ja": "機密区分に応じた管理策の違反"},
    controls=["8.2.2", "9.4.1", "10.1.1", "18.1.1"],
    policy_items=["CLS", "11(6)", "12(8)"],
    severity="high",
    needs=["resources", "tags"],
    shares=["data_bearing", "labels"],
    reasons={
        "pass": {"en": "{kind} {name} ({level}) meets every requirement of its level",
                 "ja": "{kind} {name} ({_level_ja}) は区分のすべての要件を満たしています"},
        "fail": {"en": "{kind} {name} ({level}) violates its level: {violations}",
                 "ja": "{kind} {name} ({_level_ja}) は区分の要件に違反しています: {_violations_ja}"},
    },
    remediation={"en": "Bring the resource in line with its level (no public access, allowed countries only, "
                       "customer-managed key, data-access logging), or correct its label.",
                 "ja": "区分の要件 (公開禁止、許可国のみ、顧客管理鍵、データアクセスログ) に合わせるか、ラベルを訂正してください。"},
)
def classification_matrix(inv, policy: Policy) -> pd.DataFrame:
    res = data_bearing(inv)
    res = with_labels(inv, policy, res, ["label", "level", "labelled"])
    level = judged_level(res["level"], policy)
    res["level"] = level
    rules = pd.DataFrame([{"level": k, "_public_ok": v.public_allowed, "_cmk": v.customer_managed_key,
                           "_dal": v.data_access_logging} for k, v in policy.matrix.items()])
    res = lookup(res, rules, ["level"], ["_public_ok", "_cmk", "_dal"])
    # Residency per level, decided once per distinct (provider, region, level): a few hundred
    # places for a million resources.
    def place_verdicts(places: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame({"_outside": False, "countries": ""}, index=places.index).astype({"countries": "string"})
        for lvl in places["level"].dropna().unique():
            at = (places["level"] == lvl).fillna(False).to_numpy(dtype=bool)
            allowed = policy.countries_for_level(lvl)
            verdict = location_verdict(places[at], policy, allowed=allowed)
            out.loc[at, "_outside"] = verdict["_outside"].to_numpy(dtype=bool)
            out.loc[at, "countries"] = (verdict["countries"] + "; allowed: " + ", ".join(allowed)).to_numpy()
        return out

    res = res.assign(**per_distinct(res, ["provider", "region", "level"], place_verdicts, categories=True))
    read, write = res["public_read"].astype("boolean"), res["public_write"].astype("boolean")
    public = flag(read, False) | flag(write, False)
    public_unknown = ~public & (read.isna() | write.isna()) & res["kind"].isin(_SHAREABLE)
    enc = lowered(res["encryption"])
    cmk_unknown = enc.isna() | (enc == "unknown")
    dal = res["data_access_logging"].astype("boolean")
    not_public = ~res["_public_ok"].astype(bool)
    cmk, logging = res["_cmk"].astype(bool), res["_dal"].astype(bool)
    violated = [not_public & public, not_public & public_unknown, res["_outside"],
                cmk & ~cmk_unknown & (enc != "customer"), cmk & cmk_unknown, logging & (dal == False),  # noqa: E712
                logging & dal.isna() & res["kind"].isin(_LOGGABLE)]
    bits = np.zeros(len(res), dtype=np.int64)
    for i, mask in enumerate(violated):
        bits |= mask.fillna(False).to_numpy(dtype=bool).astype(np.int64) << i
    # The text depends on the violations, the place (bit 2) and the encryption (bit 3) only: it
    # is written once per distinct combination and taken for every row.
    shown = pd.DataFrame({"_bits": bits, "_region": res["region"].where(bits & 4 > 0),
                          "_countries": res["countries"].where(bits & 4 > 0),
                          "_key": res["encryption"].where(bits & 8 > 0)}, index=res.index)

    def texts(combinations: pd.DataFrame) -> pd.DataFrame:
        written = [_violation_texts(int(b), region, countries, key) for b, region, countries, key in zip(
            combinations["_bits"], combinations["_region"], combinations["_countries"], combinations["_key"])]
        return pd.DataFrame(written, columns=["violations", "_violations_ja"], dtype="string")

    violations = per_distinct(shown, list(shown.columns), texts, categories=True)
    status = pick([(violations["violations"] != "").to_numpy(dtype=bool)], ["FAIL"], "PASS")
    return res.assign(**violations, status=status, _level_ja=level_name_ja(res["level"]))[
        ["provider", "account_id", "region", "resource_id", "kind", "name", "label", "level", "_level_ja",
         "public_read", "public_write", "countries", "encryption", "data_access_logging", "violations",
         "_violations_ja", "status"]]


_VIOLATIONS = (("publicly accessible", "公開アクセス可能"), ("public access unknown", "公開可否が不明"),
               None, None, ("key type unknown", "鍵の種類が不明"), ("no data-access logging", "データアクセスログなし"),
               ("data-access logging unknown", "データアクセスログの有無が不明"))


def _violation_texts(bits: int, region, countries: str, encryption) -> tuple[str, str]:
    """CLS-002's violations (English, Japanese) for the bits set (in :data:`_VIOLATIONS` order;
    bit 2: outside the level's countries, bit 3: not a customer-managed key)."""
    en, ja = [], []
    for i, texts in enumerate(_VIOLATIONS):
        if not bits & (1 << i):
            continue
        if i == 2:
            en.append(f"stored in {'unknown location' if pd.isna(region) else region} ({countries})")
            ja.append(f"{'不明な場所' if pd.isna(region) else region} ({countries}) に保存")
        elif i == 3:
            key = "unknown" if pd.isna(encryption) else encryption
            en.append(f"not encrypted with a customer-managed key ({key})")
            ja.append(f"顧客管理鍵で暗号化されていない ({key})")
        else:
            en.append(texts[0])
            ja.append(texts[1])
    return "; ".join(en), "、".join(ja)
