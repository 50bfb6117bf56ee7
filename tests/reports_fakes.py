"""Findings for the report tests, built directly from FINDING_COLUMNS rows (no cloud, no checks)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from cloudaudit.engine import FINDING_COLUMNS
from cloudaudit.findings import Findings

HOSTILE = "</script><img src=x onerror=\"window.__pwned=1\"><!--"
FORMULA = '=HYPERLINK("http://evil.example/","click")'
COLLECTED = pd.Timestamp("2026-11-20T03:04:05Z")


def row(check_id: str, status: str, severity: str = "high", *, provider: str = "aws", account: str = "111111111111",
        region: str | None = "ap-northeast-1", resource: str | None = "r-1", title: str = "A check",
        title_ja: str = "チェック", reason: str = "why", reason_ja: str = "理由", evidence: dict | None = None,
        controls: str = "5.1.1", classification: str | None = None, acceptance: str | None = None) -> dict[str, Any]:
    """One finding row with sensible defaults."""
    return {"run_id": "20261120T030405Z-abc123", "check_id": check_id, "title": title, "title_ja": title_ja,
            "status": status, "severity": severity, "provider": provider, "account_id": account, "region": region,
            "resource_id": resource, "classification": classification, "reason": reason, "reason_ja": reason_ja,
            "evidence": json.dumps(evidence or {}, ensure_ascii=False), "controls": controls,
            "policy_items": "11(6)", "remediation": "Fix it.", "acceptance": acceptance, "collected_at": COLLECTED}


def findings_from(rows: list[dict[str, Any]], **kwargs: Any) -> Findings:
    return Findings(pd.DataFrame(rows, columns=list(FINDING_COLUMNS)), **kwargs)


def sample_findings() -> Findings:
    """A small mixed audit: residency, isolation, authentication, an acceptance, an error and hostile names."""
    rows = [
        row("RES-001", "PASS", resource="arn:aws:s3:::tokyo", title="Resources outside allowed jurisdictions",
            title_ja="許可されていない国・地域へのリソース配置", reason="bucket tokyo is in ap-northeast-1 (JP)",
            reason_ja="bucket tokyo は ap-northeast-1 (JP) にあります",
            evidence={"kind": "bucket", "name": "tokyo", "countries": "JP"}, classification="top_secret"),
        row("RES-001", "FAIL", region="us-east-1", resource="arn:aws:s3:::" + HOSTILE,
            title="Resources outside allowed jurisdictions", title_ja="許可されていない国・地域へのリソース配置",
            reason="bucket " + HOSTILE + " is in us-east-1 (US)", reason_ja="bucket " + HOSTILE + " は us-east-1 (US) にあります",
            evidence={"kind": "bucket", "name": HOSTILE, "countries": "US", "tag": FORMULA}, classification="confidential"),
        row("RES-001", "FAIL", severity="critical", provider="gcp", account="proj-a", region="us", resource="gs://multi",
            title="Resources outside allowed jurisdictions", title_ja="許可されていない国・地域へのリソース配置",
            reason="bucket multi is in us (US)", reason_ja="bucket multi は us (US) にあります",
            evidence={"kind": "bucket", "name": "multi", "countries": "US"}),
        row("ISL-001", "FAIL", severity="critical", provider="azure", account="sub-1", region="japaneast",
            resource="/subscriptions/sub-1/storageAccounts/open", title="Publicly accessible object storage",
            title_ja="公開されたオブジェクトストレージ", reason="storage open allows anonymous read",
            reason_ja="ストレージ open は匿名読み取りを許可しています", controls="9.4.1, 13.1.3", evidence={"public_read": True}),
        row("ISL-003", "WARN", severity="medium", resource="sg-1", title="Admin ports open to the Internet",
            title_ja="管理ポートがインターネットに公開", reason="sg-1 opens 22 to 0.0.0.0/0", reason_ja="sg-1 は 22 番を公開",
            controls="13.1.3", evidence={"port": 22}),
        row("AUTH-001", "FAIL", severity="high", region=None, resource="arn:aws:iam::111111111111:user/alice",
            title="Privileged principal without MFA", title_ja="多要素認証のない特権プリンシパル",
            reason="alice is admin without MFA", reason_ja="alice は多要素認証なしの管理者です", controls="9.4.2",
            evidence={"principal": "alice", "role": "AdministratorAccess", "mfa": "none", "standing": True,
                      "last_used": "2026-11-01"}),
        row("AUTH-001", "PASS", severity="high", region=None, resource="arn:aws:iam::111111111111:user/bob",
            title="Privileged principal without MFA", title_ja="多要素認証のない特権プリンシパル",
            reason="bob has MFA", reason_ja="bob は多要素認証を使用しています", controls="9.4.2",
            evidence={"principal": "bob", "role": "AdministratorAccess", "mfa": "hardware", "standing": False}),
        row("LOG-001", "SUPPRESSED", severity="medium", region=None, resource=None, title="Audit logging incomplete",
            title_ja="監査ログが不完全", reason="no org trail", reason_ja="組織の証跡がありません", controls="12.4.1",
            acceptance="accepted by ciso@example.jp until 2027-03-31: migration in progress"),
        row("LOG-002", "ERROR", severity="medium", region=None, resource=None, title="Log integrity",
            title_ja="ログの完全性", reason="not evaluated: source cloudtrail for audit_logs was denied: AccessDenied",
            reason_ja="評価できませんでした: AccessDenied", controls="12.4.1"),
    ]
    expired = [{"check_id": "ISL-001", "resource": "*legacy*", "owner": "ops@example.jp", "expires": "2026-01-31",
                "reason": "old exception", "findings": 2}]
    return findings_from(rows, expired_acceptances=expired, meta={"organization": "Example 株式会社"})


def bulk_findings(n_pass: int, n_fail: int) -> Findings:
    """Many RES-001 rows built column-wise (for size tests), reasons rendered from the check's own templates."""
    from cloudaudit.engine import registry, render_template

    n = n_pass + n_fail
    idx = pd.RangeIndex(n).astype(str)
    status = pd.Series(["PASS"] * n_pass + ["FAIL"] * n_fail)
    region = pd.Series(["ap-northeast-1"] * n_pass + ["us-east-1"] * n_fail)
    ev = pd.DataFrame({"kind": "bucket", "name": "bucket-" + idx + "-data-store",
                       "countries": region.map({"ap-northeast-1": "JP", "us-east-1": "US"}), "allowed": "JP"})
    frame = ev.assign(region=region)
    templates = registry()["RES-001"].reasons
    reason = pd.Series("", index=frame.index, dtype=object)
    reason_ja = reason.copy()
    for key, mask in (("pass", status == "PASS"), ("fail", status == "FAIL")):
        if mask.any():
            reason[mask] = render_template(templates[key]["en"], frame[mask])
            reason_ja[mask] = render_template(templates[key]["ja"], frame[mask])
    df = pd.DataFrame({
        "run_id": "20261120T030405Z-abc123", "check_id": "RES-001", "title": "Resources deployed outside allowed jurisdictions",
        "title_ja": "許可されていない国・地域へのリソース配置", "status": status,
        "severity": pd.Series(["info", "low", "medium", "high", "critical"] * (n // 5 + 1))[:n].to_numpy(),
        "provider": "aws", "account_id": (100000000000 + pd.RangeIndex(n) % 40).astype(str), "region": region,
        "resource_id": "arn:aws:s3:::" + ev["name"], "classification": "confidential", "reason": reason,
        "reason_ja": reason_ja, "evidence": ev.to_json(orient="records", lines=True, force_ascii=False).splitlines(),
        "controls": "5.1.1, 18.1.1", "policy_items": "11(6)", "remediation": "Move the resource.", "acceptance": None,
        "collected_at": COLLECTED})
    return Findings(df)


def decode_payload(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a report's findings payload as dicts (an independent reading of the format report.js reads)."""
    cols, strings = data["cols"], data["s"]
    encoded = {"c", "t", "p", "a", "g", "k", "l", "m"}
    out = []
    for packed in data["rows"]:
        r = {c: (strings[v] if c in encoded else v) for c, v in zip(cols, packed)}
        shape = data["E"][r["e"][0]]
        r["e"] = dict(zip(shape, r["e"][1:]))
        if isinstance(r["x"], int):
            std = {"provider": r["p"], "account_id": r["a"], "region": r["g"], "resource_id": r["r"]}
            text = []
            for part in data["T"][r["x"]]:
                if isinstance(part, str):
                    text.append(part)
                else:
                    v = (std[part[0]] or None) if part[0] in std else r["e"].get(part[0])
                    text.append("unknown" if v is None else str(v))
            r["x"] = "".join(text)
        r["status"] = data["status_keys"][r["s"]]
        out.append(r)
    return out
