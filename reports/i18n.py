"""Labels and number/date formats for the reports, one dict per language (en, ja)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pandas as pd

LANGUAGES: tuple[str, ...] = ("en", "ja")

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "report_title": "ISO/IEC 27017 cloud audit report",
        "compact_title": "cloudaudit findings",
        "organization": "Organization", "scope": "Scope", "collected_at": "Collection time",
        "tool_version": "Tool version", "bundle_hash": "Evidence bundle (SHA-256)", "run_id": "Run id",
        "generated_at": "Report generated", "not_available": "not available", "none": "none",
        "contents": "Contents",
        "sec_summary": "Executive summary", "sec_soa": "Statement of Applicability",
        "sec_residency": "Data residency", "sec_privileged": "Privileged access roster",
        "sec_isolation": "Isolation exposure", "sec_findings": "Findings",
        "sec_acceptances": "Risk acceptances", "sec_drift": "Drift since the previous run",
        "sec_appendix": "Appendix: method and permissions",
        "status_counts": "Findings by status", "severity_counts": "Open findings by severity",
        "per_account": "Status per provider and account", "coverage": "Coverage",
        "coverage_text": "{evaluated} of {total} check × account × region results were evaluated ({ratio}).",
        "error_reasons": "Why some results could not be evaluated", "count": "Count", "reason": "Reason",
        "provider": "Provider", "account": "Account", "region": "Region", "resource": "Resource",
        "status": "Status", "severity": "Severity", "check": "Check", "title": "Title",
        "control": "Control", "controls": "Controls", "kind": "Kind", "automation": "Automation",
        "checks": "Covering checks", "passed": "Passed", "failed": "Failed / warned", "errors": "Errors",
        "countries": "Countries", "resources": "Resources", "outside": "Outside allowed countries",
        "residency_from_findings": "Derived from the residency (RES) findings; replicas and backups are included when the corresponding checks ran.",
        "allowed_countries": "Allowed countries",
        "principal": "Principal", "role": "Role", "mfa": "MFA", "standing": "Standing / JIT",
        "last_activity": "Last activity", "last_active": "Last activity", "copies": "Copies (replicas, backups)",
        "via": "Granted via", "external": "External", "human": "Human",
        "privileged_from_findings": "Derived from the evidence of authentication findings.",
        "isolation_intro": "Open isolation and public-exposure findings (ISL checks).",
        "open_findings": "Open findings",
        "filters": "Filters", "search": "Search", "search_placeholder": "resource, reason, tag …",
        "all": "All", "shown": "{shown} of {matching} matching rows shown ({total} in the report)",
        "show_more": "Show more", "evidence": "Evidence", "remediation": "Remediation",
        "classification": "Classification", "acceptance": "Acceptance", "policy_items": "Policy items",
        "pass_omitted": "{count} further passing results are summarized here and not listed (see the JSON or CSV export for every row).",
        "open_omitted": "{count} further findings (FAIL, WARN, ERROR or SUPPRESSED, the least severe) are counted in the summary and not listed (see the JSON or CSV export for every row).",
        "acceptance_text": "Acceptance (owner, expiry, reason)", "expired_acceptances": "Expired acceptances (no longer applied)",
        "owner": "Owner", "expires": "Expires", "findings_count": "Findings",
        "no_acceptances": "No finding is suppressed by a risk acceptance.",
        "no_drift": "No previous run was given.", "change": "Change", "before": "Before", "after": "After",
        "change_new": "new", "change_resolved": "resolved", "change_persisting": "persisting",
        "method": "Method",
        "method_text": "cloudaudit collected the configuration of the tenancies listed in the scope with read-only API calls (Describe, List, Get, Search), normalized it into an inventory and evaluated each check over every account and region. Anything that could not be read is reported as ERROR and counted against coverage, never as a pass.",
        "permissions": "Permissions used", "permissions_default": "Read-only roles only (e.g. AWS SecurityAudit + ViewOnlyAccess, Azure Reader + Directory Readers, GCP Security Reviewer + Viewer).",
        "checks_run": "Checks run", "manual": "manual", "no_rows": "No rows.",
        "truncated": "Showing the first {shown} of {total} rows.",
        "n_findings": "{n} findings",
    },
    "ja": {
        "report_title": "ISO/IEC 27017 クラウド監査報告書",
        "compact_title": "cloudaudit 検出結果",
        "organization": "組織", "scope": "対象範囲", "collected_at": "収集日時",
        "tool_version": "ツールのバージョン", "bundle_hash": "証跡バンドル (SHA-256)", "run_id": "実行 ID",
        "generated_at": "報告書作成日時", "not_available": "情報なし", "none": "なし",
        "contents": "目次",
        "sec_summary": "エグゼクティブサマリー", "sec_soa": "適用宣言書",
        "sec_residency": "データの所在地", "sec_privileged": "特権アクセス一覧",
        "sec_isolation": "分離と公開範囲", "sec_findings": "検出事項",
        "sec_acceptances": "リスク受容", "sec_drift": "前回実行からの変化",
        "sec_appendix": "付録: 方法と権限",
        "status_counts": "状態別の検出件数", "severity_counts": "重大度別の未解決件数",
        "per_account": "プロバイダ・アカウント別の状態", "coverage": "評価網羅率",
        "coverage_text": "チェック × アカウント × リージョンの結果 {total} 件のうち {evaluated} 件を評価しました ({ratio})。",
        "error_reasons": "評価できなかった理由", "count": "件数", "reason": "理由",
        "provider": "プロバイダ", "account": "アカウント", "region": "リージョン", "resource": "リソース",
        "status": "状態", "severity": "重大度", "check": "チェック", "title": "タイトル",
        "control": "管理策", "controls": "管理策", "kind": "種別", "automation": "自動化",
        "checks": "対応するチェック", "passed": "適合", "failed": "不適合・警告", "errors": "エラー",
        "countries": "国", "resources": "リソース数", "outside": "許可国外",
        "residency_from_findings": "データ所在地 (RES) の検出結果から作成しました。対応するチェックを実行した場合、レプリカとバックアップも含まれます。",
        "allowed_countries": "許可された国",
        "principal": "プリンシパル", "role": "ロール", "mfa": "多要素認証", "standing": "常時 / 一時付与",
        "last_activity": "最終利用", "last_active": "最終利用", "copies": "複製 (レプリカ・バックアップ)",
        "via": "付与経路", "external": "外部", "human": "人",
        "privileged_from_findings": "認証に関する検出結果の証跡から作成しました。",
        "isolation_intro": "分離と公開に関する未解決の検出事項 (ISL チェック)。",
        "open_findings": "未解決の検出事項",
        "filters": "絞り込み", "search": "検索", "search_placeholder": "リソース、理由、タグ …",
        "all": "すべて", "shown": "該当 {matching} 件中 {shown} 件を表示 (報告書内 {total} 件)",
        "show_more": "さらに表示", "evidence": "証跡", "remediation": "対処方法",
        "classification": "機密区分", "acceptance": "リスク受容", "policy_items": "ポリシー項目",
        "pass_omitted": "ほかに適合の結果が {count} 件あり、ここでは件数のみ示します (全件は JSON または CSV 出力を参照)。",
        "open_omitted": "ほかに検出事項 (不適合・警告・エラー・受容済み。重大度の低いもの) が {count} 件あり、サマリーの件数にのみ含めています (全件は JSON または CSV 出力を参照)。",
        "acceptance_text": "受容内容 (責任者・期限・理由)", "expired_acceptances": "期限切れのリスク受容 (適用されていません)",
        "owner": "責任者", "expires": "期限", "findings_count": "件数",
        "no_acceptances": "リスク受容により抑止された検出事項はありません。",
        "no_drift": "前回の実行結果が指定されていません。", "change": "変化", "before": "前回", "after": "今回",
        "change_new": "新規", "change_resolved": "解消", "change_persisting": "継続",
        "method": "方法",
        "method_text": "cloudaudit は対象範囲のテナントの設定を読み取り専用の API 呼び出し (Describe、List、Get、Search) で収集し、インベントリに正規化したうえで、各チェックをすべてのアカウントとリージョンに対して評価しました。読み取れなかったものはエラーとして報告し、評価網羅率から差し引いています。適合とはみなしません。",
        "permissions": "使用した権限", "permissions_default": "読み取り専用のロールのみ (例: AWS SecurityAudit と ViewOnlyAccess、Azure Reader と Directory Readers、GCP Security Reviewer と Viewer)。",
        "checks_run": "実行したチェック", "manual": "手動", "no_rows": "該当なし。",
        "truncated": "全 {total} 行のうち先頭 {shown} 行を表示しています。",
        "n_findings": "{n} 件",
    },
}

STATUS_NAMES: dict[str, dict[str, str]] = {
    "en": {"PASS": "Pass", "FAIL": "Fail", "WARN": "Warning", "ERROR": "Error", "SUPPRESSED": "Accepted",
           "MANUAL": "Manual", "NOT RUN": "Not run"},
    "ja": {"PASS": "適合", "FAIL": "不適合", "WARN": "警告", "ERROR": "エラー", "SUPPRESSED": "リスク受容",
           "MANUAL": "手動確認", "NOT RUN": "未実行"},
}

SEVERITY_NAMES: dict[str, dict[str, str]] = {
    "en": {"info": "Info", "low": "Low", "medium": "Medium", "high": "High", "critical": "Critical"},
    "ja": {"info": "情報", "low": "低", "medium": "中", "high": "高", "critical": "緊急"},
}

LEVEL_NAMES: dict[str, dict[str, str]] = {
    "en": {"top_secret": "Top secret", "confidential": "Confidential", "group_internal": "Group internal",
           "public": "Public", "invalid": "Invalid label"},
    "ja": {"top_secret": "極秘", "confidential": "部外秘", "group_internal": "グループ外秘", "public": "公開",
           "invalid": "不正な区分"},
}

# values of roster columns worth translating (mfa kinds, grant paths)
VALUE_NAMES: dict[str, dict[str, str]] = {
    "en": {"none": "none", "virtual": "virtual (TOTP/SMS/push)", "hardware": "hardware token",
           "phishing_resistant": "phishing-resistant (FIDO2)", "unknown": "unknown",
           "direct": "direct", "group": "group", "inherited": "inherited"},
    "ja": {"none": "なし", "virtual": "仮想 (TOTP/SMS/プッシュ)", "hardware": "ハードウェアトークン",
           "phishing_resistant": "フィッシング耐性 (FIDO2)", "unknown": "不明",
           "direct": "直接", "group": "グループ", "inherited": "継承"},
}

AUTOMATION_NAMES: dict[str, dict[str, str]] = {
    "en": {"automated": "automated", "partial": "partial", "manual": "manual"},
    "ja": {"automated": "自動", "partial": "一部自動", "manual": "手動"},
}


def check_language(lang: str) -> str:
    """Return ``lang`` if supported, else raise a one-line ValueError."""
    if lang not in LANGUAGES:
        raise ValueError(f"report language {lang!r} is not supported (choose from {', '.join(LANGUAGES)})")
    return lang


def fmt_int(value: Any, lang: str) -> str:
    """Integer with thousands separators (both languages use commas)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def fmt_ratio(value: float, lang: str) -> str:
    """A share as a percentage with one decimal."""
    return f"{value * 100:.1f}%"


def fmt_datetime(value: Any, lang: str) -> str:
    """A timestamp in UTC: '25 Nov 2026 21:37 UTC' or '2026年11月25日 21:37 UTC'."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return LABELS[lang]["not_available"]
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize(timezone.utc)
    ts = ts.tz_convert(timezone.utc)
    if lang == "ja":
        return f"{ts.year}年{ts.month}月{ts.day}日 {ts:%H:%M} UTC"
    return f"{ts.day} {ts:%b %Y %H:%M} UTC"


def fmt_date(value: Any, lang: str) -> str:
    """A date: '25 Nov 2026' or '2026年11月25日'."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return LABELS[lang]["not_available"]
    ts = pd.Timestamp(value)
    return f"{ts.year}年{ts.month}月{ts.day}日" if lang == "ja" else f"{ts.day} {ts:%b %Y}"


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def localized(df: pd.DataFrame, column: str, lang: str) -> pd.Series:
    """``title``/``reason`` in the report language, falling back to English where it has no text
    (HTML report and OCSF export alike)."""
    base = df[column].astype("string").fillna("")  # plain strings: titles may be categorical
    other = None if lang == "en" else df.get(f"{column}_{lang}")
    if other is None:
        return base
    other = other.astype("string")
    return other.where(other.notna() & (other != ""), base).fillna("")
