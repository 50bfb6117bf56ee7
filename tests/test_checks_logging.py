"""Golden tests of the LOG checks: audit trails, integrity, retention, data-access logs, detection, alerting."""

from cloudaudit.engine import registry, run_checks
from cloudaudit.policy import Policy, Thresholds
from cloudaudit.testing import inventory

from identity_fakes import assert_family_survives_sparse_inventories, AWS, AZ_SUB, AZ_TENANT, GCP, GCP_ORG, TENANTS, denied, errors, row, run, statuses, unsupported

AWS2 = "222222222222"


def trail(provider, account, log_id, region="ap-northeast-1", **extra):
    data = {"provider": provider, "account_id": account, "region": region, "log_id": log_id, "scope": "account",
            "enabled": True, "multi_region": False, "management_events": True, "data_events": False,
            "integrity": True, "retention_days": 400}
    data.update(extra)
    return data


def region(provider, account, code, enabled=True):
    return {"provider": provider, "account_id": account, "region": code, "enabled": enabled}


def guard(provider, account, kind, effective=True, values=None, scope="account"):
    return {"provider": provider, "account_id": account, "scope": scope, "kind": kind, "effective": effective,
            "values": values}


TENANTS2 = TENANTS + [{"provider": "aws", "account_id": AWS2, "org_id": "o-abc"}]


def test_LOG_001_every_enabled_region_needs_a_management_event_trail_and_org_trails_cover_members():
    regions = [region("aws", AWS, "ap-northeast-1"), region("aws", AWS, "ap-northeast-3"),
               region("aws", AWS, "us-east-1", enabled=False),
               region("aws", AWS2, "ap-northeast-1"), region("aws", AWS2, "ap-northeast-3")]
    logs = [
        trail("aws", AWS, "tokyo-only"),                                  # regional: covers ap-northeast-1 of AWS
        trail("aws", AWS, "org-trail", scope="organization", multi_region=True, region="ap-northeast-3",
              enabled=False),                                             # off: covers nothing
        trail("azure", AZ_SUB, "diag-sub", region="global", multi_region=True),
        trail("gcp", GCP_ORG, "org-sink", region="global", multi_region=True, scope="organization"),
    ]
    inv = inventory(tenants=TENANTS2, regions=regions, audit_logs=logs)
    df = run(inv, "LOG-001")
    assert statuses(df) == {f"{AWS}/ap-northeast-1": "PASS", f"{AWS}/ap-northeast-3": "FAIL",
                            f"{AWS2}/ap-northeast-1": "FAIL", f"{AWS2}/ap-northeast-3": "FAIL",
                            f"{AZ_SUB}/all regions": "PASS", f"{GCP}/all regions": "PASS"}
    assert row(df, f"{AWS}/ap-northeast-3")["reason"] == \
        "account 111111111111 in ap-northeast-3: no enabled audit log records management events"
    assert row(df, f"{GCP}/all regions")["reason"] == "account proj-1 in all regions: management events are logged by org-sink"
    assert row(df, f"{AWS}/ap-northeast-3")["region"] == "ap-northeast-3"
    # The organization trail, once on, covers every region of every member account.
    logs[1]["enabled"] = True
    logs[0]["management_events"] = False
    df = run(inventory(tenants=TENANTS2, regions=regions, audit_logs=logs), "LOG-001")
    assert set(statuses(df).values()) == {"PASS"}
    assert "org-trail" in row(df, f"{AWS2}/ap-northeast-3")["reason"]


def test_LOG_001_denied_trail_source_is_error_for_that_account_while_others_are_evaluated():
    inv = inventory(tenants=TENANTS, regions=[region("aws", AWS, "ap-northeast-1")],
                    audit_logs=[trail("azure", AZ_SUB, "diag", region="global", multi_region=True)],
                    gaps=[denied("aws", AWS, "audit_logs")])
    df = run(inv, "LOG-001")
    assert statuses(df) == {f"{AZ_SUB}/all regions": "PASS", f"{GCP}/all regions": "FAIL"}
    assert "denied" in errors(df)[("aws", AWS)]


def test_LOG_002_integrity_off_or_unknown_fails():
    inv = inventory(tenants=TENANTS, audit_logs=[
        trail("aws", AWS, "validated"), trail("azure", AZ_SUB, "mutable", integrity=False),
        trail("gcp", GCP, "who-knows", integrity=None), trail("aws", AWS, "off", enabled=False, integrity=False),
        trail("aws", AWS, "config-recorder", management_events=False, data_events=False, integrity=None)])
    df = run(inv, "LOG-002")
    assert statuses(df) == {"validated": "PASS", "mutable": "FAIL", "who-knows": "FAIL"}
    assert row(df, "mutable")["reason"] == "audit log mutable has no integrity validation or immutability"
    assert "unknown" in row(df, "who-knows")["reason"]


def test_LOG_003_retention_below_minimum_fails_forever_passes_unknown_fails():
    inv = inventory(tenants=TENANTS, audit_logs=[
        trail("aws", AWS, "long", retention_days=400), trail("azure", AZ_SUB, "short", retention_days=90),
        trail("gcp", GCP, "_Default", retention_days=30), trail("gcp", GCP, "forever", retention_days=0),
        trail("aws", AWS, "unknown", retention_days=None)])
    df = run(inv, "LOG-003")
    assert statuses(df) == {"long": "PASS", "short": "FAIL", "_Default": "FAIL", "forever": "PASS", "unknown": "FAIL"}
    assert row(df, "short")["reason"] == "audit log short keeps logs 90 days, less than 365 days"
    assert row(df, "forever")["reason"] == "audit log forever keeps logs forever (minimum 365 days)"
    assert "retention unknown" in row(df, "unknown")["reason"]
    df = run(inv, "LOG-003", Policy(thresholds=Thresholds(log_retention_days=30)))
    assert statuses(df)["_Default"] == "PASS" and statuses(df)["short"] == "PASS"


def test_LOG_004_classified_stores_need_data_access_logging():
    res = [
        {"provider": "aws", "account_id": AWS, "region": "ap-northeast-1", "resource_id": "b-secret", "name": "hr",
         "kind": "bucket", "data_bearing": True, "data_access_logging": False},
        {"provider": "azure", "account_id": AZ_SUB, "region": "japaneast", "resource_id": "sa-conf", "name": "sales",
         "kind": "bucket", "data_bearing": True, "data_access_logging": True},
        {"provider": "gcp", "account_id": GCP, "region": "asia-northeast1", "resource_id": "b-public", "name": "www",
         "kind": "bucket", "data_bearing": True, "data_access_logging": False},
        {"provider": "gcp", "account_id": GCP, "region": "asia-northeast1", "resource_id": "b-nolabel", "name": "misc",
         "kind": "bucket", "data_bearing": True, "data_access_logging": None},
        {"provider": "aws", "account_id": AWS, "region": "ap-northeast-1", "resource_id": "vm-1", "name": "vm",
         "kind": "vm", "data_bearing": False, "data_access_logging": False},
        # disks have no data plane to log: not a subject even when labelled 極秘
        {"provider": "aws", "account_id": AWS, "region": "ap-northeast-1", "resource_id": "vol-1", "name": "disk",
         "kind": "volume", "data_bearing": True, "data_access_logging": False},
    ]
    tags = [{"provider": "aws", "account_id": AWS, "resource_id": "b-secret", "key": "classification", "value": "極秘"},
            {"provider": "azure", "account_id": AZ_SUB, "resource_id": "sa-conf", "key": "classification",
             "value": "confidential"},
            {"provider": "gcp", "account_id": GCP, "resource_id": "b-public", "key": "classification", "value": "public"},
            {"provider": "aws", "account_id": AWS, "resource_id": "vol-1", "key": "classification", "value": "極秘"}]
    inv = inventory(tenants=TENANTS, resources=res, tags=tags)
    df = run(inv, "LOG-004")
    assert statuses(df) == {"b-secret": "FAIL", "sa-conf": "PASS", "b-nolabel": "FAIL"}
    assert row(df, "b-secret")["reason"] == "bucket hr (labelled 極秘 = top_secret) has no data-access logging"
    assert row(df, "b-secret")["reason_ja"] == "bucket hr (ラベル 極秘 = 極秘) でデータアクセスログが取得されていません"
    assert row(df, "b-secret")["severity"] == "high"  # raised one level for 極秘
    assert "unlabelled, default level confidential" in row(df, "b-nolabel")["reason"]
    assert "unknown" in row(df, "b-nolabel")["reason"]


def test_LOG_004_unsupported_logging_column_is_error_for_that_account():
    res = [{"provider": "gcp", "account_id": GCP, "region": "asia-northeast1", "resource_id": "b1", "kind": "bucket",
            "data_bearing": True, "data_access_logging": True},
           {"provider": "aws", "account_id": AWS, "region": "ap-northeast-1", "resource_id": "b2", "kind": "bucket",
            "data_bearing": True, "data_access_logging": True}]
    inv = inventory(resources=res, gaps=[unsupported("gcp", GCP, "resources.data_access_logging", "no auditConfigs")])
    df = run(inv, "LOG-004")
    assert statuses(df) == {"b2": "PASS"} and ("gcp", GCP) in errors(df)


def test_LOG_005_threat_detection_per_account_and_region():
    regions = [region("aws", AWS, "ap-northeast-1"), region("aws", AWS, "ap-northeast-3"),
               region("aws", AWS2, "ap-northeast-1")]
    guards = [guard("aws", AWS, "threat_detection", True, ["ap-northeast-1"], scope="guardduty"),
              guard("aws", AWS, "threat_detection", False, ["ap-northeast-3"], scope="guardduty"),
              guard("azure", AZ_SUB, "threat_detection", True, ["*"], scope="defender"),
              guard("gcp", GCP_ORG, "threat_detection", True, ["*"], scope="scc")]
    inv = inventory(tenants=TENANTS2, regions=regions, guardrails=guards)
    df = run(inv, "LOG-005")
    assert statuses(df) == {f"{AWS}/ap-northeast-1": "PASS", f"{AWS}/ap-northeast-3": "WARN",
                            f"{AWS2}/ap-northeast-1": "FAIL", f"{AZ_SUB}/all regions": "PASS",
                            f"{GCP}/all regions": "PASS"}
    assert row(df, f"{AWS2}/ap-northeast-1")["reason"] == \
        "account 222222222222 in ap-northeast-1: no threat detection is enabled"
    assert "scc organizations/9" in row(df, f"{GCP}/all regions")["reason"]


def test_LOG_005_denied_guardrail_source_is_error_not_pass():
    inv = inventory(tenants=TENANTS, guardrails=[guard("azure", AZ_SUB, "threat_detection", True, ["*"]),
                                                 guard("gcp", GCP, "threat_detection", True, ["*"])],
                    gaps=[denied("gcp", GCP, "guardrails")])
    df = run(inv, "LOG-005")
    assert statuses(df) == {f"{AZ_SUB}/all regions": "PASS", f"{AWS}/all regions": "FAIL"}
    assert ("gcp", GCP) in errors(df)


def test_LOG_007_security_alerting_per_account():
    inv = inventory(tenants=TENANTS2, guardrails=[
        guard("aws", AWS, "security_alerting", True), guard("aws", AWS2, "security_alerting", None),
        guard("azure", AZ_TENANT, "security_contact", True)])
    df = run(inv, "LOG-007")
    assert statuses(df) == {AWS: "PASS", AWS2: "WARN", AZ_SUB: "FAIL", GCP: "FAIL"}
    assert row(df, AZ_SUB)["reason"] == \
        "account sub-1: no alerting on privileged or security-relevant control-plane events"


def test_LOG_008_security_contact_per_account_inherited_from_the_organization():
    inv = inventory(tenants=TENANTS2, guardrails=[
        guard("aws", AWS, "security_contact", True), guard("gcp", GCP_ORG, "security_contact", True,
                                                           scope="organization"),
        guard("azure", AZ_SUB, "security_alerting", True)],
        gaps=[denied("aws", AWS2, "guardrails")])
    df = run(inv, "LOG-008")
    assert statuses(df) == {AWS: "PASS", AZ_SUB: "FAIL", GCP: "PASS"}
    assert ("aws", AWS2) in errors(df)
    assert row(df, GCP)["reason"] == "account proj-1: a security contact is registered (organization organizations/9)"
    assert set(df["severity"].astype(str)) == {"low"}


def test_LOG_checks_evaluate_empty_and_sparse_inventories_without_crashing():
    assert_family_survives_sparse_inventories(
        "LOG-", audit_logs=[{"provider": "aws", "account_id": AWS, "log_id": "t"}],
        guardrails=[{"provider": "gcp", "account_id": GCP, "kind": "threat_detection"}],
        resources=[{"provider": "azure", "account_id": AZ_SUB, "resource_id": "r", "kind": "bucket"}])
