"""Golden tests for the isolation checks (ISL-001..ISL-010, ISL-012)."""

from __future__ import annotations

from datetime import date

import pandas as pd
from data_checks_helpers import TODAY, account_statuses, denied, label, res, row, run, statuses

from cloudaudit.engine import run_checks
from cloudaudit.policy import Policy, RiskAcceptance
from cloudaudit.testing import inventory


def test_ISL_001_public_buckets_write_is_critical_public_label_passes_unknown_fails():
    inv = inventory(
        resources=[
            res("aws", "1", "private", "bucket", "ap-northeast-1", public_read=False, public_write=False),
            res("aws", "1", "website", "bucket", "ap-northeast-1", public_read=True, public_write=False),
            res("aws", "1", "leaky", "bucket", "ap-northeast-1", public_read=True, public_write=False),
            res("gcp", "p", "dropbox", "bucket", "asia1", public_read=False, public_write=True),
            res("azure", "s", "unknown", "bucket", "japaneast", public_read=None, public_write=False),
            res("aws", "1", "secret-public", "bucket", "ap-northeast-1", public_read=True, public_write=False),
        ],
        tags=[label("aws", "1", "website", "公開"), label("aws", "1", "secret-public", "部外秘")])
    df = run(inv, "ISL-001")
    assert statuses(df) == {"private": "PASS", "website": "PASS", "leaky": "FAIL", "dropbox": "FAIL",
                            "unknown": "FAIL", "secret-public": "FAIL"}
    assert row(df, "website")["severity"] == "info"
    assert "labelled public" in row(df, "website")["reason"]
    assert row(df, "dropbox")["severity"] == "critical"
    assert row(df, "dropbox")["reason"] == "bucket dropbox is anonymously writable"
    assert "unknown" in row(df, "unknown")["reason"]
    assert row(df, "secret-public")["classification"] == "confidential"


def test_ISL_001_public_label_with_unknown_write_is_not_a_pass():
    inv = inventory(resources=[res("aws", "1", "site", "bucket", "ap-northeast-1", public_read=True, public_write=None)],
                    tags=[label("aws", "1", "site", "公開")])
    df = run(inv, "ISL-001")
    assert statuses(df) == {"site": "FAIL"}
    assert row(df, "site")["reason"] == "bucket site: anonymous access is unknown (read: yes, write: unknown)"


def test_ISL_001_active_acceptance_suppresses_expired_one_is_reported():
    inv = inventory(resources=[res("aws", "1", "site-a", "bucket", "ap-northeast-1", public_read=True, public_write=False),
                               res("aws", "1", "site-b", "bucket", "ap-northeast-1", public_read=True, public_write=False)])
    policy = Policy(acceptances=(RiskAcceptance("ISL-001", "site-a", "public web", "ito", date(2027, 1, 1)),
                                 RiskAcceptance("ISL-*", "site-b", "old", "ito", date(2025, 1, 1))))
    findings = run_checks(inv, policy, checks=["ISL-001"], today=TODAY)
    assert statuses(findings.df) == {"site-a": "SUPPRESSED", "site-b": "FAIL"}, findings.df["reason"].tolist()
    assert findings.expired_acceptances[0]["resource"] == "site-b"


def test_ISL_002_all_guardrails_enforced_pass_audit_only_warns_missing_fails():
    def g(p, a, kind, eff=True):
        return {"provider": p, "account_id": a, "kind": kind, "effective": eff, "scope": "root"}
    inv = inventory(
        tenants=[{"provider": "aws", "account_id": a, "org_id": "o-1"} for a in ("1", "2")]
        + [{"provider": "azure", "account_id": "sub", "org_id": "tenant-1"},
           {"provider": "gcp", "account_id": "p", "org_id": "organizations/1"}],
        guardrails=[g("aws", "1", "public_access_block"), g("aws", "1", "snapshot_public_block"),
                    g("aws", "1", "image_public_block"),
                    g("aws", "2", "public_access_block"), g("aws", "2", "snapshot_public_block"),
                    g("azure", "sub", "public_access_block", False),
                    g("gcp", "p", "public_access_block"), g("gcp", "p", "domain_restriction")])
    df = run(inv, "ISL-002")
    assert statuses(df) == {"1": "PASS", "2": "FAIL", "sub": "WARN", "p": "PASS"}
    assert row(df, "2")["reason"] == "account 2 lacks image_public_block"
    assert "audit mode" in row(df, "sub")["reason"]


def test_ISL_003_ssh_from_anywhere_fails_ranges_and_unattached_and_restricted_sources():
    def rule(rs, rid, source, proto, lo, hi, attached=True, direction="ingress", action="allow"):
        return {"provider": "aws", "account_id": "1", "region": "ap-northeast-1", "resource_id": rs, "rule_id": rid,
                "direction": direction, "source": source, "protocol": proto, "port_from": lo, "port_to": hi,
                "action": action, "attached": attached}
    inv = inventory(network_rules=[
        rule("sg-ssh", "r1", "0.0.0.0/0", "tcp", 22, 22),
        rule("sg-ssh", "r2", "10.0.0.0/8", "tcp", 3389, 3389),
        rule("sg-web", "r3", "0.0.0.0/0", "tcp", 443, 443),
        rule("sg-all", "r4", "::/0", "all", None, None),
        rule("sg-range", "r5", "*", "tcp", 3000, 4000),
        rule("sg-idle", "r6", "0.0.0.0/0", "tcp", 22, 22, attached=False),
        rule("sg-iap", "r7", "35.235.240.0/20", "tcp", 22, 22),
        rule("sg-egress", "r8", "0.0.0.0/0", "tcp", 22, 22, direction="egress"),
        rule("sg-udp", "r9", "0.0.0.0/0", "udp", 3389, 3389),
    ])
    df = run(inv, "ISL-003")
    assert statuses(df) == {"sg-ssh": "FAIL", "sg-web": "PASS", "sg-all": "FAIL", "sg-range": "FAIL",
                            "sg-idle": "WARN", "sg-iap": "PASS", "sg-egress": "PASS", "sg-udp": "PASS"}
    assert row(df, "sg-ssh")["reason"] == "rule set sg-ssh opens port(s) 22 to the Internet (rules r1)"
    assert "22, 23, 445, 3389, 5985, 5986" in row(df, "sg-all")["reason"]
    assert "3389" in row(df, "sg-range")["reason"]
    assert row(df, "sg-idle")["severity"] == "low"


def test_ISL_004_open_database_fails_unknown_database_fails_closed_database_passes():
    inv = inventory(resources=[
        res("aws", "1", "rds-open", "database", "ap-northeast-1", network_open=True),
        res("aws", "1", "rds-private", "database", "ap-northeast-1", network_open=False),
        res("gcp", "p", "sql-unknown", "database", "asia-northeast1", network_open=None),
        res("azure", "s", "st-allow", "bucket", "japaneast", network_open=True),
        res("aws", "1", "s3", "bucket", "ap-northeast-1", network_open=None),  # not applicable
    ], tags=[label("aws", "1", "rds-open", "極秘")])
    df = run(inv, "ISL-004")
    assert statuses(df) == {"rds-open": "FAIL", "rds-private": "PASS", "sql-unknown": "FAIL", "st-allow": "FAIL"}
    assert row(df, "rds-open")["severity"] == "critical"  # high, escalated for 極秘
    assert row(df, "sql-unknown")["reason"] == "database sql-unknown: network reachability is unknown"


def test_ISL_005_public_snapshot_fails_unknown_image_fails_private_passes():
    inv = inventory(resources=[
        res("aws", "1", "snap-pub", "snapshot", "ap-northeast-1", public_read=True),
        res("aws", "1", "ami-priv", "image", "ap-northeast-1", public_read=False),
        res("aws", "1", "rds-snap", "db_snapshot", "ap-northeast-1", public_read=None),
        res("azure", "s", "disk-sas", "volume", "japaneast", public_read=True),
        res("aws", "1", "ebs", "volume", "ap-northeast-1"),  # volumes without a share notion: skipped
    ])
    df = run(inv, "ISL-005")
    assert statuses(df) == {"snap-pub": "FAIL", "ami-priv": "PASS", "rds-snap": "FAIL", "disk-sas": "FAIL"}
    assert row(df, "snap-pub")["reason"] == "snapshot snap-pub is shared with everyone"
    assert "unknown" in row(df, "rds-snap")["reason"]


def test_ISL_006_external_trust_with_and_without_condition_and_allow_list():
    def trust(role, trusted, account, external=True, ext_id=False, wildcard=False, privilege="admin"):
        return {"provider": "aws", "account_id": "1", "role_id": role, "trusted": trusted,
                "trusted_account": account, "external": external, "external_id": ext_id, "wildcard": wildcard,
                "privilege": privilege}
    inv = inventory(
        trusts=[trust("role/internal", "arn:aws:iam::2:root", "2", external=False),
                trust("role/vendor-ok", "arn:aws:iam::777:root", "777", ext_id=True),
                trust("role/vendor-nocond", "arn:aws:iam::777:root", "777", ext_id=False),
                trust("role/stranger", "arn:aws:iam::999:root", "999", ext_id=True, privilege="read"),
                trust("role/anyone", "*", None, wildcard=True),
                trust("role/unknown", "arn:aws:iam::555:root", "555", external=None, ext_id=True)],
        grants=[{"provider": "gcp", "account_id": "p", "principal_id": "user:bob@gmail.com", "role": "roles/owner",
                 "privilege": "admin", "external": True, "scope": "projects/p"},
                {"provider": "gcp", "account_id": "p", "principal_id": "user:eve@corp.example", "role": "roles/viewer",
                 "privilege": "read", "external": False, "scope": "projects/p"},
                {"provider": "gcp", "account_id": "p", "principal_id": "user:who@unknown.example", "role": "roles/viewer",
                 "privilege": "read", "external": None, "scope": "projects/p"},
                {"provider": "gcp", "account_id": "p", "principal_id": "allUsers", "role": "roles/viewer",
                 "privilege": "read", "external": True, "public": True, "scope": "resource //storage/b"}])
    df = run(inv, "ISL-006", Policy(trusted_accounts=("777",)))
    assert statuses(df) == {"role/internal": "PASS", "role/vendor-ok": "PASS", "role/vendor-nocond": "WARN",
                            "role/stranger": "FAIL", "role/anyone": "FAIL", "role/unknown": "FAIL",
                            "user:bob@gmail.com": "FAIL", "user:who@unknown.example": "FAIL"}
    assert "is unknown" in row(df, "user:who@unknown.example")["reason"]
    assert "(ExternalId required)" in row(df, "role/stranger")["reason"]
    assert row(df, "role/stranger")["severity"] == "high"
    assert row(df, "role/anyone")["severity"] == "critical"
    assert row(df, "user:bob@gmail.com")["severity"] == "critical"
    assert "without an ExternalId condition" in row(df, "role/vendor-nocond")["reason"]


def test_ISL_007_anonymous_queue_and_public_invoker_fail_private_topic_passes():
    inv = inventory(
        resources=[res("aws", "1", "q-open", "queue", "ap-northeast-1", public_read=False, public_write=True),
                   res("aws", "1", "topic", "topic", "ap-northeast-1", public_read=False, public_write=False),
                   res("gcp", "p", "run-fn", "function", "asia-northeast1", public_read=False, public_write=False),
                   res("aws", "1", "key-x", "key", "ap-northeast-1"),
                   res("gcp", "p", "bkt", "bucket", "asia1", public_read=True)],  # ISL-001's
        grants=[{"provider": "gcp", "account_id": "p", "principal_id": "allUsers", "role": "roles/run.invoker",
                 "privilege": "read", "public": True, "scope": "resource run-fn"},
                {"provider": "gcp", "account_id": "p", "principal_id": "allUsers", "role": "roles/pubsub.subscriber",
                 "privilege": "read", "public": True, "scope": "projects/p/subscriptions/s"},
                {"provider": "gcp", "account_id": "p", "principal_id": "allUsers", "role": "roles/storage.objectViewer",
                 "privilege": "read", "public": True, "scope": "bkt"},
                {"provider": "aws", "account_id": "1", "principal_id": "*", "role": "lambda:InvokeFunction",
                 "privilege": "read", "public": True, "scope": None}])   # scope not read: never dropped
    df = run(inv, "ISL-007")
    assert statuses(df) == {"q-open": "FAIL", "topic": "PASS", "run-fn": "FAIL", "key-x": "FAIL",
                            "projects/p/subscriptions/s": "FAIL", "1": "FAIL"}
    assert "grant of unknown scope in account 1 is open to anonymous callers" in row(df, "1")["reason"]
    assert row(df, "run-fn")["severity"] == "medium"
    assert "public grant roles/run.invoker" in row(df, "run-fn")["reason"]
    assert row(df, "q-open")["severity"] == "critical"
    assert "unknown" in row(df, "key-x")["reason"]


def test_ISL_008_privileged_or_stale_guest_fails_active_guest_passes_not_for_aws():
    now = pd.Timestamp.now(tz="UTC")
    def p(provider, account, pid, last, external=True, kind="guest"):
        return {"provider": provider, "account_id": account, "principal_id": pid, "name": pid, "kind": kind,
                "external": external, "last_active": last}
    inv = inventory(
        principals=[p("azure", "t", "guest-admin", now), p("azure", "t", "guest-ok", now - pd.Timedelta(days=3)),
                    p("azure", "t", "guest-stale", now - pd.Timedelta(days=400)),
                    p("gcp", "p", "user:x@gmail.com", None, kind="user"),
                    p("azure", "t", "member", now, external=False, kind="user"),
                    p("aws", "1", "arn:ext", None, kind="role"),
                    p("gcp", "organizations/1", "user:owner@gmail.com", now, kind="user") | {"human": True},
                    p("gcp", "organizations/1", "allUsers", None, kind="group") | {"human": False},
                    p("gcp", "organizations/1", "serviceAccount:x@vendor.iam", None, kind="service_account")
                    | {"human": False}],
        grants=[{"provider": "azure", "account_id": "t", "principal_id": "guest-admin", "role": "Owner",
                 "privilege": "admin"},
                {"provider": "gcp", "account_id": "proj", "principal_id": "user:owner@gmail.com",
                 "role": "roles/owner", "privilege": "admin"}])
    df = run(inv, "ISL-008")
    assert statuses(df) == {"guest-admin": "FAIL", "guest-ok": "PASS", "guest-stale": "FAIL",
                            "user:x@gmail.com": "FAIL", "user:owner@gmail.com": "FAIL"}
    assert "roles/owner on proj" in row(df, "user:owner@gmail.com")["reason"]
    assert row(df, "guest-admin")["reason"] == "external identity guest-admin: holds privileged role(s) Owner on t"
    assert row(df, "guest-admin")["severity"] == "high"
    assert "never active" in row(df, "user:x@gmail.com")["reason"]


def test_ISL_008_unsupported_last_active_column_is_error():
    inv = inventory(principals=[{"provider": "azure", "account_id": "t", "principal_id": "g", "kind": "guest",
                                 "external": True}],
                    gaps=[{"provider": "azure", "account_id": "t", "table": "principals.last_active",
                           "status": "unsupported", "message": "no Entra ID P1 licence"}])
    assert account_statuses(run(inv, "ISL-008")) == {("azure", "t"): ["ERROR"]}


def test_ISL_009_default_network_in_use_fails_empty_warns():
    inv = inventory(resources=[
        res("aws", "1", "vpc-default", "network", "ap-northeast-1", is_default=True, attached=True),
        res("gcp", "p", "default", "network", "global", is_default=True, attached=False),
        res("aws", "1", "vpc-app", "network", "ap-northeast-1", is_default=False, attached=True),
        res("aws", "1", "sg-x", "security_group", "ap-northeast-1", is_default=None, attached=True),
    ])
    df = run(inv, "ISL-009")
    assert statuses(df) == {"vpc-default": "FAIL", "default": "WARN", "vpc-app": "PASS", "sg-x": "FAIL"}
    assert row(df, "default")["severity"] == "low"
    assert "unknown whether" in row(df, "sg-x")["reason"]


def test_ISL_010_peering_to_external_account_fails_internal_and_approved_pass():
    inv = inventory(
        tenants=[{"provider": "aws", "account_id": a, "org_id": "o-1"} for a in ("1", "2")],
        resources=[res("aws", "1", "pcx-int", "peering", "ap-northeast-1", peer_account="2"),
                   res("aws", "1", "pcx-vendor", "peering", "ap-northeast-1", peer_account="777"),
                   res("aws", "1", "pcx-ext", "peering", "ap-northeast-1", peer_account="999"),
                   res("aws", "1", "pcx-unk", "peering", "ap-northeast-1", peer_account=None)])
    df = run(inv, "ISL-010", Policy(trusted_accounts=("777",)))
    assert statuses(df) == {"pcx-int": "PASS", "pcx-vendor": "PASS", "pcx-ext": "FAIL", "pcx-unk": "FAIL"}
    assert row(df, "pcx-ext")["reason"] == \
        "peering pcx-ext connects to external account 999, not on the approved list"
    assert row(df, "pcx-unk")["severity"] == "high"


def test_ISL_012_vm_with_imdsv1_fails_hardened_vm_passes():
    inv = inventory(resources=[
        res("aws", "1", "i-weak", "vm", "ap-northeast-1a", weak_settings=["imdsv1", "serial_port"]),
        res("gcp", "p", "vm-ok", "vm", "asia-northeast1-a", weak_settings=[]),
    ])
    df = run(inv, "ISL-012")
    assert statuses(df) == {"i-weak": "FAIL", "vm-ok": "PASS"}
    assert row(df, "i-weak")["reason"] == "vm i-weak has hardening weaknesses: imdsv1, serial_port"


def test_ISL_012_vm_whose_settings_were_not_read_is_not_a_pass():
    inv = inventory(resources=[res("azure", "s", "vm-unread", "vm", "japaneast")])
    df = run(inv, "ISL-012")
    assert statuses(df) == {"vm-unread": "FAIL"}
    assert row(df, "vm-unread")["reason"] == "vm vm-unread: hardening settings were not read"


def test_ISL_denied_source_is_error_for_that_account_only():
    inv = inventory(
        resources=[res("aws", "1", "b1", "bucket", "ap-northeast-1", public_read=False, public_write=False),
                   res("aws", "2", "b2", "bucket", "ap-northeast-1", public_read=False, public_write=False)],
        network_rules=[{"provider": "aws", "account_id": a, "resource_id": f"sg-{a}", "direction": "ingress",
                        "source": "0.0.0.0/0", "protocol": "tcp", "port_from": 443, "port_to": 443,
                        "action": "allow", "attached": True} for a in ("1", "2")],
        trusts=[{"provider": "aws", "account_id": a, "role_id": f"r{a}", "trusted": "x", "external": False}
                for a in ("1", "2")],
        gaps=[denied("aws", "2", "resources"), denied("aws", "2", "network_rules"), denied("aws", "2", "trusts")])
    for check_id, ok_id in (("ISL-001", "b1"), ("ISL-003", "sg-1"), ("ISL-006", "r1")):
        df = run(inv, check_id)
        assert account_statuses(df)[("aws", "2")] == ["ERROR"], check_id
        assert statuses(df) == {ok_id: "PASS"}, check_id


def test_ISL_011_account_mixing_prod_and_dev_tags_fails_prod_only_passes():
    def tag(account, rid, value, key="env"):
        return {"provider": "aws", "account_id": account, "resource_id": rid, "key": key, "value": value}
    inv = inventory(tags=[tag("1", "a", "prod"), tag("1", "b", "dev", key="Environment"),
                          tag("2", "c", "Production"), tag("2", "d", "prd"),
                          tag("3", "3", "dev"), tag("3", "e", "prod")])  # account-level tag not counted
    df = run(inv, "ISL-011")
    assert statuses(df) == {"1": "FAIL", "2": "PASS", "3": "PASS"}
    assert row(df, "1")["reason"] == "account 1 mixes production and non-production resources (dev, prod)"


def test_ISL_002_unreadable_snapshot_block_is_error_unrelated_kind_is_not():
    def g(a, kind):
        return {"provider": "aws", "account_id": a, "kind": kind, "effective": True}
    kinds = ("public_access_block", "snapshot_public_block", "image_public_block")
    inv = inventory(tenants=[{"provider": "aws", "account_id": a, "org_id": "o-1"} for a in ("1", "2")],
                    guardrails=[g(a, k) for a in ("1", "2") for k in kinds],
                    gaps=[denied("aws", "1", "guardrails.snapshot_public_block"),
                          denied("aws", "2", "guardrails.password_policy")])
    assert account_statuses(run(inv, "ISL-002")) == {("aws", "1"): ["ERROR"], ("aws", "2"): ["PASS"]}
