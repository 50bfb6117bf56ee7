"""Golden tests for the residency checks (RES-001..RES-008)."""

from __future__ import annotations

from datetime import date

from data_checks_helpers import account_statuses, denied, label, res, row, run, statuses

from cloudaudit.policy import Policy, RiskAcceptance
from cloudaudit.testing import inventory


def test_RES_001_jp_passes_us_multi_region_and_unknown_fail_and_top_secret_escalates():
    inv = inventory(
        resources=[
            res("aws", "111", "tokyo-db", "database", "ap-northeast-1a"),
            res("aws", "111", "virginia", "bucket", "us-east-1"),
            res("aws", "111", "nowhere", "bucket", None),
            res("gcp", "proj", "asia-multi", "dataset", "asia"),
            res("gcp", "proj", "asia-dual", "bucket", "asia1"),
            res("aws", "111", "us-key", "key", "us-east-1"),  # not data-bearing: not evaluated here
        ],
        tags=[label("aws", "111", "virginia", "極秘")],
    )
    df = run(inv, "RES-001")
    assert statuses(df) == {"tokyo-db": "PASS", "virginia": "FAIL", "nowhere": "FAIL", "asia-multi": "FAIL",
                            "asia-dual": "PASS"}
    assert "us-east-1 (US); allowed: JP" in row(df, "virginia")["reason"]
    assert "unknown location" in row(df, "nowhere")["reason"]
    assert row(df, "virginia")["severity"] == "critical"     # high + one level for 極秘
    assert row(df, "asia-multi")["severity"] == "high"


def test_RES_001_allowed_regions_narrow_countries():
    inv = inventory(resources=[res("aws", "1", "osaka", "bucket", "ap-northeast-3"),
                               res("aws", "1", "tokyo", "bucket", "ap-northeast-1"),
                               res("gcp", "p", "dual", "bucket", "asia1"),
                               res("gcp", "p", "osaka-gcp", "bucket", "asia-northeast2")])
    policy = Policy(allowed_regions={"aws": ("ap-northeast-1",), "gcp": ("asia-northeast1", "asia-northeast2")})
    assert statuses(run(inv, "RES-001", policy)) == {"osaka": "FAIL", "tokyo": "PASS", "dual": "PASS",
                                                    "osaka-gcp": "PASS"}


def test_RES_001_active_acceptance_suppresses_expired_does_not():
    inv = inventory(resources=[res("aws", "1", "arn:a", "bucket", "us-east-1"),
                               res("aws", "1", "arn:b", "bucket", "eu-west-1")])
    policy = Policy(acceptances=(
        RiskAcceptance("RES-001", "arn:a", "CDN origin", "sato", date(2027, 3, 31)),
        RiskAcceptance("RES-001", "arn:b", "migration", "suzuki", date(2026, 1, 31)),
    ))
    from cloudaudit.engine import run_checks
    findings = run_checks(inv, policy, checks=["RES-001"], today=date(2026, 11, 25))
    assert statuses(findings.df) == {"arn:a": "SUPPRESSED", "arn:b": "FAIL"}
    assert [e["resource"] for e in findings.expired_acceptances] == ["arn:b"]


def test_RES_002_dual_region_in_japan_passes_and_multi_region_asia_fails():
    inv = inventory(resources=[
        res("gcp", "p", "gs-dual", "bucket", "asia1"),
        res("gcp", "p", "gs-asia", "bucket", "asia"),
        res("gcp", "p", "gs-us", "bucket", "us"),
        res("azure", "sub", "stjp", "bucket", "japaneast"),
        res("azure", "sub", "stbr", "bucket", "brazilsouth"),
        res("azure", "sub", "stjp-grs", "bucket", "japaneast"),
        res("aws", "1", "s3-odd", "bucket", "mars-north-1"),
        res("aws", "1", "vol", "volume", "us-east-1"),  # not a bucket
    ], replicas=[
        {"provider": "azure", "account_id": "sub", "resource_id": "stjp-grs", "source_region": "japaneast",
         "target_region": "japanwest", "kind": "geo_pair"},
        {"provider": "azure", "account_id": "sub", "resource_id": "stjp", "source_region": "japaneast",
         "target_region": "southeastasia", "kind": "geo_pair"},
    ])
    df = run(inv, "RES-002")
    assert statuses(df) == {"gs-dual": "PASS", "gs-asia": "FAIL", "gs-us": "FAIL", "stjp": "FAIL", "stbr": "FAIL",
                            "stjp-grs": "PASS", "s3-odd": "FAIL"}
    assert row(df, "stjp")["reason"] == ("bucket stjp is stored in japaneast (JP) + southeastasia (secondary) (SG); "
                                         "allowed: JP")
    assert "HK, ID, IN, JP, KR, SG, TW" in row(df, "gs-asia")["reason"]
    assert "unknown location" in row(df, "s3-odd")["reason"]


def test_RES_003_replication_to_us_fails_geo_pair_in_japan_passes():
    inv = inventory(
        resources=[res("aws", "1", "arn:s3:data", "bucket", "ap-northeast-1"),
                   res("azure", "s", "/sub/st1", "bucket", "japaneast"),
                   res("azure", "s", "/sub/st2", "bucket", "brazilsouth")],
        replicas=[
            {"provider": "aws", "account_id": "1", "resource_id": "arn:s3:data", "source_region": "ap-northeast-1",
             "target_region": "us-east-1", "kind": "replication", "target_account": "999"},
            {"provider": "azure", "account_id": "s", "resource_id": "/sub/st1", "source_region": "japaneast",
             "target_region": "japanwest", "kind": "geo_pair"},
            {"provider": "azure", "account_id": "s", "resource_id": "/sub/st2", "source_region": "brazilsouth",
             "target_region": "southcentralus", "kind": "geo_pair"},
            {"provider": "aws", "account_id": "1", "resource_id": "arn:rds", "source_region": "ap-northeast-1",
             "target_region": "us-west-2", "kind": "read_replica"},  # RES-004's
        ])
    df = run(inv, "RES-003")
    assert statuses(df) == {"arn:s3:data": "FAIL", "/sub/st1": "PASS", "/sub/st2": "FAIL"}
    assert row(df, "arn:s3:data")["reason"] == "bucket arn:s3:data: replication copy in us-east-1 (US); allowed: JP"
    assert '"target_accounts":"999"' in row(df, "arn:s3:data")["evidence"]


def test_RES_004_read_replica_abroad_and_unknown_target_fail_global_table_in_japan_passes():
    inv = inventory(replicas=[
        {"provider": "aws", "account_id": "1", "resource_id": "arn:rds:db1", "source_region": "ap-northeast-1",
         "target_region": "us-west-2", "kind": "read_replica"},
        {"provider": "aws", "account_id": "1", "resource_id": "arn:ddb:t1", "source_region": "ap-northeast-1",
         "target_region": "ap-northeast-3", "kind": "global_table"},
        {"provider": "aws", "account_id": "1", "resource_id": "arn:ddb:t2", "source_region": "ap-northeast-1",
         "target_region": "ap-northeast-3", "kind": "global_table"},
        {"provider": "aws", "account_id": "1", "resource_id": "arn:ddb:t2", "source_region": "ap-northeast-1",
         "target_region": "eu-west-1", "kind": "global_table"},
        {"provider": "gcp", "account_id": "p", "resource_id": "sql-1", "source_region": "asia-northeast1",
         "target_region": None, "kind": "read_replica"},
        {"provider": "aws", "account_id": "1", "resource_id": "arn:s3", "source_region": "ap-northeast-1",
         "target_region": "us-east-1", "kind": "replication"},  # RES-003's
    ])
    df = run(inv, "RES-004")
    assert statuses(df) == {"arn:rds:db1": "FAIL", "arn:ddb:t1": "PASS", "arn:ddb:t2": "FAIL", "sql-1": "FAIL"}
    assert row(df, "arn:ddb:t2")["reason"] == ("resource arn:ddb:t2: global table copy in ap-northeast-3 (JP); "
                                               "global table copy in eu-west-1 (IE); allowed: JP")
    assert "unknown location" in row(df, "sql-1")["reason"]


def test_RES_005_backup_to_nearest_multi_region_fails_and_snapshots_judged_where_stored():
    inv = inventory(
        resources=[res("gcp", "p", "disk-snap", "snapshot", "asia-northeast1"),
                   res("aws", "1", "snap-us", "snapshot", "us-west-2"),
                   res("aws", "1", "bucket-jp", "bucket", "ap-northeast-1")],  # not a backup kind
        replicas=[{"provider": "gcp", "account_id": "p", "resource_id": "sql-1", "source_region": "asia-northeast1",
                   "target_region": "asia", "kind": "backup"},
                  {"provider": "aws", "account_id": "1", "resource_id": "arn:vault", "source_region": "ap-northeast-1",
                   "target_region": "ap-northeast-3", "kind": "snapshot_copy"}])
    df = run(inv, "RES-005")
    assert statuses(df) == {"disk-snap": "PASS", "snap-us": "FAIL", "sql-1": "FAIL", "arn:vault": "PASS"}
    assert row(df, "snap-us")["reason"] == "snapshot snap-us: stored in us-west-2 (US); allowed: JP"
    assert row(df, "sql-1")["reason"].startswith("resource sql-1: backup copy in asia (")
    assert row(df, "sql-1")["reason_ja"].startswith("resource sql-1: backup コピー: asia (")
    assert row(df, "sql-1")["reason_ja"].endswith("の外を含みます (asia)")


def test_RES_006_enforced_passes_audit_only_and_too_wide_warn_missing_fails():
    def g(provider, account, effective, values, scope="root"):
        return {"provider": provider, "account_id": account, "scope": scope, "kind": "region_restriction",
                "effective": effective, "values": values}
    inv = inventory(
        tenants=[{"provider": "aws", "account_id": a, "org_id": "o-1"} for a in ("1", "2", "3", "4")]
        + [{"provider": "gcp", "account_id": "p1", "org_id": "organizations/9"},
           {"provider": "gcp", "account_id": "organizations/9", "org_id": "organizations/9"}],
        guardrails=[g("aws", "1", True, ["ap-northeast-1", "ap-northeast-3"]),
                    g("aws", "2", False, ["ap-northeast-1"]),
                    g("aws", "3", True, ["ap-northeast-1", "us-east-1"]),
                    g("aws", "4", True, ["ap-northeast-1"]) | {"kind": "public_access_block"},
                    g("gcp", "p1", True, ["in:asia-northeast1-locations", "in:asia-northeast2-locations"],
                      scope="organizations/9")])
    df = run(inv, "RES-006")
    assert statuses(df) == {"1": "PASS", "2": "WARN", "3": "WARN", "4": "FAIL", "p1": "PASS"}
    assert "not enforced" in row(df, "2")["reason"]
    assert "outside JP: us-east-1" in row(df, "3")["reason"]
    assert row(df, "4")["reason"] == "account 4 has no region-restriction guardrail"


def test_RES_007_enabled_opt_in_region_outside_fails_only_for_aws():
    inv = inventory(regions=[
        {"provider": "aws", "account_id": "1", "region": "me-south-1", "enabled": True, "opt_in": "opted-in"},
        {"provider": "aws", "account_id": "1", "region": "af-south-1", "enabled": False, "opt_in": "not-opted-in"},
        {"provider": "aws", "account_id": "1", "region": "us-east-1", "enabled": True, "opt_in": "not-required"},
        {"provider": "aws", "account_id": "1", "region": "ap-east-1", "enabled": None, "opt_in": None},
        {"provider": "azure", "account_id": "s", "region": "brazilsouth", "enabled": True},
    ])
    df = run(inv, "RES-007")
    assert statuses(df) == {"me-south-1": "FAIL", "af-south-1": "PASS", "ap-east-1": "FAIL"}
    assert "status unknown" in row(df, "ap-east-1")["reason"]
    assert set(df["provider"]) == {"aws"}


def test_RES_008_log_destinations_log_stores_keys_and_key_replicas():
    inv = inventory(
        audit_logs=[{"provider": "aws", "account_id": "1", "region": "ap-northeast-1", "log_id": "trail-org",
                     "destination_region": "us-east-1"},
                    {"provider": "azure", "account_id": "s", "region": "japaneast", "log_id": "diag-1",
                     "destination_region": "japaneast"}],
        resources=[res("gcp", "p", "_Default", "log_store", "global"),
                   res("gcp", "p", "kr-jp/key1", "key", "asia-northeast1"),
                   res("aws", "1", "mrk-1", "key", "ap-northeast-1"),
                   res("aws", "1", "bucket", "bucket", "us-east-1")],  # RES-001's
        replicas=[{"provider": "aws", "account_id": "1", "resource_id": "mrk-1", "source_region": "ap-northeast-1",
                   "target_region": "us-west-2", "kind": "multi_region_key"}])
    df = run(inv, "RES-008")
    assert statuses(df) == {"trail-org": "FAIL", "diag-1": "PASS", "_Default": "FAIL", "kr-jp/key1": "PASS",
                            "mrk-1": "FAIL"}
    assert "unknown location" in row(df, "_Default")["reason"]
    assert row(df, "mrk-1")["reason"] == \
        "key mrk-1: replica in us-west-2 (US); stored in ap-northeast-1 (JP); allowed: JP"
    assert row(df, "trail-org")["reason"] == "audit log trail-org: destination in us-east-1 (US); allowed: JP"


def test_RES_denied_source_is_error_for_that_account_only():
    inv = inventory(resources=[res("aws", "1", "a", "bucket", "ap-northeast-1"),
                               res("aws", "2", "b", "bucket", "ap-northeast-1")],
                    gaps=[denied("aws", "2", "resources")])
    for check_id in ("RES-001", "RES-002", "RES-005", "RES-008"):
        by_account = account_statuses(run(inv, check_id))
        assert by_account[("aws", "2")] == ["ERROR"], check_id
        assert "ERROR" not in by_account.get(("aws", "1"), []), check_id
    df = run(inv, "RES-001")
    assert statuses(df) == {"a": "PASS"}
    assert "AccessDenied" in df[df["status"] == "ERROR"]["reason"].iloc[0]


def test_RES_006_denied_guardrails_is_error_not_fail_or_pass():
    inv = inventory(tenants=[{"provider": "aws", "account_id": a, "org_id": "o-1"} for a in ("1", "2")],
                    guardrails=[{"provider": "aws", "account_id": "1", "kind": "region_restriction",
                                 "effective": True, "values": ["ap-northeast-1"]}],
                    gaps=[denied("aws", "2", "guardrails")])
    assert account_statuses(run(inv, "RES-006")) == {("aws", "1"): ["PASS"], ("aws", "2"): ["ERROR"]}


def test_RES_006_org_level_guardrail_covers_every_member_account():
    inv = inventory(
        tenants=[{"provider": "aws", "account_id": a, "org_id": "o-9"} for a in ("5", "6")]
        + [{"provider": "azure", "account_id": "sub", "org_id": "tenant-1"}],
        guardrails=[{"provider": "aws", "account_id": "o-9", "scope": "r-root", "kind": "region_restriction",
                     "effective": True, "values": ["ap-northeast-1"]},
                    {"provider": "azure", "account_id": "tenant-1", "scope": "/providers/Microsoft.Management/mg",
                     "kind": "region_restriction", "effective": True, "values": ["japaneast", "japanwest"]}])
    df = run(inv, "RES-006")
    assert statuses(df) == {"5": "PASS", "6": "PASS", "sub": "PASS"}
    assert "o-9" not in set(df["account_id"])


def test_data_checks_do_not_crash_or_pass_on_rows_with_every_field_unknown():
    """Every RES/ISL/ENC/CLS/CSP check over rows whose fields are all <NA>: no exception, no PASS
    (except ISL-012, whose empty weak_settings list means "none found" by contract)."""
    from cloudaudit.engine import registry

    kinds = ["bucket", "volume", "snapshot", "image", "database", "db_snapshot", "key", "vm", "network",
             "security_group", "peering", "load_balancer", "queue", "function", None]
    providers = ("aws", "azure", "gcp")
    inv = inventory(
        tenants=[{"provider": p, "account_id": "1", "org_id": "o"} for p in providers],
        resources=[{"provider": p, "account_id": "1", "resource_id": f"{p}-{k}", "kind": k}
                   for p in providers for k in kinds],
        replicas=[{"provider": "aws", "account_id": "1", "resource_id": "r", "kind": k}
                  for k in ("replication", "read_replica", "backup", "multi_region_key")],
        guardrails=[{"provider": "aws", "account_id": "1", "kind": k}
                    for k in ("region_restriction", "public_access_block", "provider_access_approval")],
        network_rules=[{"provider": "aws", "account_id": "1", "resource_id": "sg"}],
        trusts=[{"provider": "aws", "account_id": "1", "role_id": "role"}],
        grants=[{"provider": "gcp", "account_id": "1", "principal_id": "u", "external": True, "public": None}],
        principals=[{"provider": "azure", "account_id": "1", "principal_id": "g", "kind": "guest"}],
        audit_logs=[{"provider": "aws", "account_id": "1", "log_id": "t"}],
        regions=[{"provider": "aws", "account_id": "1", "region": "me-south-1"}])
    ids = [c for c in registry() if c.split("-")[0] in ("RES", "ISL", "ENC", "CLS", "CSP")]
    assert len(ids) == 31  # 29 core + RES-009, ISL-011
    for check_id in ids:
        df = run(inv, check_id)
        assert not df["reason"].str.startswith("check failed").any(), (check_id, df["reason"].tolist())
        assert not (df["status"] == "ERROR").any(), check_id
        passed = df[df["status"] == "PASS"]
        if check_id != "ISL-012":
            assert passed.empty, (check_id, passed["reason"].tolist())


def test_RES_009_global_services_listed_and_classified_cdn_content_fails():
    inv = inventory(
        resources=[res("azure", "s", "fd-public", "cdn", "global"),
                   res("aws", "1", "cf-secret", "cdn", "global"),
                   res("gcp", "p", "topic-global", "topic", "global"),
                   res("azure", "s", "dns", "network", "global"),
                   res("aws", "1", "bucket-jp", "bucket", "ap-northeast-1")],
        tags=[label("azure", "s", "fd-public", "公開"), label("aws", "1", "cf-secret", "極秘"),
              label("gcp", "p", "topic-global", "グループ外秘")])
    df = run(inv, "RES-009")
    assert statuses(df) == {"fd-public": "WARN", "cf-secret": "FAIL", "topic-global": "WARN", "dns": "WARN"}
    assert row(df, "cf-secret")["severity"] == "high"   # medium + one level for 極秘
    assert row(df, "fd-public")["severity"] == "info"
    assert row(df, "cf-secret")["reason"] == "cdn cf-secret is a global caching / messaging service holding top_secret data"


def test_RES_006_needs_only_the_region_restriction_kind():
    inv = inventory(tenants=[{"provider": "aws", "account_id": a, "org_id": "o-1"} for a in ("1", "2")],
                    guardrails=[{"provider": "aws", "account_id": a, "kind": "region_restriction",
                                 "effective": True, "values": ["ap-northeast-1"]} for a in ("1", "2")],
                    gaps=[denied("aws", "1", "guardrails.snapshot_public_block"),
                          denied("aws", "2", "guardrails.region_restriction")])
    assert account_statuses(run(inv, "RES-006")) == {("aws", "1"): ["PASS"], ("aws", "2"): ["ERROR"]}
