"""Golden tests for the provider-access check (CSP-001)."""

from __future__ import annotations

from datetime import date

from data_checks_helpers import TODAY, account_statuses, denied, label, res, row, run, statuses

from cloudaudit.engine import run_checks
from cloudaudit.policy import Policy, RiskAcceptance
from cloudaudit.testing import inventory


def _approval(provider, account, effective):
    return {"provider": provider, "account_id": account, "kind": "provider_access_approval", "effective": effective,
            "scope": "tenant"}


def test_CSP_001_approval_for_classified_data_and_customer_keys_on_aws():
    inv = inventory(
        tenants=[{"provider": "azure", "account_id": s, "org_id": "tenant-1"} for s in ("s-lockbox", "s-none", "s-audit")]
        + [{"provider": "gcp", "account_id": "p-public", "org_id": "organizations/1"}]
        + [{"provider": "aws", "account_id": a, "org_id": "o-1"} for a in ("111", "222")],
        resources=[res("azure", "s-lockbox", "st1", "bucket", "japaneast"),
                   res("azure", "s-none", "st2", "bucket", "japaneast"),
                   res("azure", "s-audit", "st3", "bucket", "japaneast"),
                   res("gcp", "p-public", "site", "bucket", "asia1"),
                   res("aws", "111", "ts-cmk", "bucket", "ap-northeast-1", encryption="customer"),
                   res("aws", "222", "ts-sse", "bucket", "ap-northeast-1", encryption="provider"),
                   res("aws", "222", "conf-cmk", "database", "ap-northeast-1", encryption="customer")],
        tags=[label("azure", "s-none", "st2", "極秘"), label("gcp", "p-public", "site", "公開"),
              label("aws", "111", "ts-cmk", "極秘"), label("aws", "222", "ts-sse", "極秘")],
        guardrails=[_approval("azure", "tenant-1", True) | {"account_id": "s-lockbox"},
                    _approval("azure", "s-audit", False)])
    df = run(inv, "CSP-001")
    assert statuses(df) == {"s-lockbox": "PASS", "s-none": "FAIL", "s-audit": "WARN", "p-public": "WARN",
                            "111": "PASS", "222": "FAIL"}
    assert row(df, "s-none")["severity"] == "high"          # 極秘 data present
    assert row(df, "s-audit")["severity"] == "medium"
    assert row(df, "p-public")["severity"] == "info"
    assert "keep evidence of the contractual controls" in row(df, "p-public")["reason"]
    assert row(df, "222")["reason"] == ("account 222: 1 of 2 極秘/部外秘 resource(s) are not encrypted with "
                                        "customer-managed keys")


def test_CSP_001_tenant_level_lockbox_applies_to_subscriptions_and_acceptance_expiry():
    inv = inventory(
        tenants=[{"provider": "azure", "account_id": s, "org_id": "tenant-1"} for s in ("s1", "s2")],
        resources=[res("azure", "s1", "a", "bucket", "japaneast"), res("azure", "s2", "b", "bucket", "japaneast")],
        guardrails=[_approval("azure", "tenant-1", False)])
    policy = Policy(acceptances=(RiskAcceptance("CSP-001", "s1", "lockbox rollout", "abe", date(2027, 1, 1)),
                                 RiskAcceptance("CSP-001", "s2", "lockbox rollout", "abe", date(2026, 1, 1))))
    findings = run_checks(inv, policy, checks=["CSP-001"], today=TODAY)
    assert statuses(findings.df) == {"s1": "SUPPRESSED", "s2": "WARN"}
    assert [e["resource"] for e in findings.expired_acceptances] == ["s2"]


def test_CSP_denied_guardrails_is_error_for_that_account_only():
    inv = inventory(
        tenants=[{"provider": "gcp", "account_id": p, "org_id": "organizations/1"} for p in ("p1", "p2")],
        resources=[res("gcp", "p1", "a", "bucket", "asia1"), res("gcp", "p2", "b", "bucket", "asia1")],
        guardrails=[_approval("gcp", "p1", True)],
        gaps=[denied("gcp", "p2", "guardrails")])
    df = run(inv, "CSP-001")
    assert account_statuses(df) == {("gcp", "p1"): ["PASS"], ("gcp", "p2"): ["ERROR"]}


def test_CSP_001_unsupported_access_approval_is_error_not_fail():
    inv = inventory(tenants=[{"provider": "gcp", "account_id": "p1", "org_id": "organizations/1"}],
                    resources=[res("gcp", "p1", "a", "bucket", "asia1")],
                    gaps=[{"provider": "gcp", "account_id": "p1", "table": "guardrails.provider_access_approval",
                           "status": "unsupported", "message": "Access Approval not available"},
                          denied("gcp", "p1", "guardrails.region_restriction")])
    df = run(inv, "CSP-001")
    assert account_statuses(df) == {("gcp", "p1"): ["ERROR"]}
    assert "Access Approval not available" in df["reason"].iloc[0]
