"""Golden tests for the encryption checks (ENC-001..003, ENC-005..008)."""

from __future__ import annotations

from datetime import date

from data_checks_helpers import TODAY, account_statuses, denied, label, res, row, run, statuses

from cloudaudit.engine import run_checks
from cloudaudit.policy import DEFAULT_MATRIX, LevelRules, Policy, RiskAcceptance
from cloudaudit.testing import inventory


def test_ENC_001_top_secret_without_cmk_fails_escalated_public_passes_unlabelled_default_level():
    inv = inventory(
        resources=[res("aws", "1", "ts-sse", "bucket", "ap-northeast-1", encryption="provider"),
                   res("aws", "1", "ts-cmk", "bucket", "ap-northeast-1", encryption="customer", key_id="k1"),
                   res("aws", "1", "pub", "bucket", "ap-northeast-1", encryption="provider"),
                   res("gcp", "p", "nolabel", "dataset", "asia-northeast1", encryption="provider"),
                   res("azure", "s", "conf-unk", "database", "japaneast", encryption=None),
                   res("aws", "1", "k", "key", "ap-northeast-1")],  # not data-bearing
        tags=[label("aws", "1", "ts-sse", "極秘"), label("aws", "1", "ts-cmk", "gokuhi"),
              label("aws", "1", "pub", "公開"), label("azure", "s", "conf-unk", "部外秘")])
    df = run(inv, "ENC-001")
    assert statuses(df) == {"ts-sse": "FAIL", "ts-cmk": "PASS", "pub": "PASS", "nolabel": "FAIL",
                            "conf-unk": "FAIL"}
    assert row(df, "ts-sse")["reason"] == \
        "bucket ts-sse (top_secret) requires a customer-managed key but uses provider encryption"
    assert "極秘" in row(df, "ts-sse")["reason_ja"]
    assert row(df, "ts-sse")["severity"] == "critical"     # high, raised by the engine for a 極秘 label
    assert row(df, "nolabel")["severity"] == "high"        # unlabelled: judged at the default level 部外秘
    assert "does not require" in row(df, "pub")["reason"]
    assert "unknown" in row(df, "conf-unk")["reason"]


def test_ENC_001_policy_matrix_decides_and_low_severity_for_lower_levels():
    matrix = dict(DEFAULT_MATRIX, group_internal=LevelRules(False, None, True, False))
    inv = inventory(resources=[res("aws", "1", "gi", "bucket", "ap-northeast-1", encryption="provider")],
                    tags=[label("aws", "1", "gi", "グループ外秘")])
    df = run(inv, "ENC-001", Policy(matrix=matrix))
    assert statuses(df) == {"gi": "FAIL"}
    assert row(df, "gi")["severity"] == "low"
    assert statuses(run(inv, "ENC-001")) == {"gi": "PASS"}


def test_ENC_001_active_acceptance_suppresses_expired_one_does_not():
    inv = inventory(resources=[res("aws", "1", "a", "bucket", "ap-northeast-1", encryption="provider"),
                               res("aws", "1", "b", "bucket", "ap-northeast-1", encryption="provider")])
    policy = Policy(acceptances=(RiskAcceptance("ENC-001", "a", "migration", "kato", date(2026, 12, 31)),
                                 RiskAcceptance("ENC-001", "b", "migration", "kato", date(2026, 11, 24))))
    findings = run_checks(inv, policy, checks=["ENC-001"], today=TODAY)
    assert statuses(findings.df) == {"a": "SUPPRESSED", "b": "FAIL"}
    assert len(findings.expired_acceptances) == 1


def test_ENC_002_unencrypted_volume_fails_unknown_fails_not_for_gcp():
    inv = inventory(resources=[
        res("aws", "1", "vol-plain", "volume", "ap-northeast-1", encryption="none"),
        res("aws", "1", "vol-enc", "volume", "ap-northeast-1", encryption="provider"),
        res("azure", "s", "sqldb", "database", "japaneast", encryption="unknown"),
        res("azure", "s", "vm", "vm", "japaneast", encryption="none"),  # not data-bearing
        res("gcp", "p", "gcs", "bucket", "asia1", encryption="none"),     # GCP: NA
    ])
    df = run(inv, "ENC-002")
    assert statuses(df) == {"vol-plain": "FAIL", "vol-enc": "PASS", "sqldb": "FAIL"}
    assert row(df, "vol-plain")["reason"] == "volume vol-plain is not encrypted at rest"
    assert "unknown" in row(df, "sqldb")["reason"]


def test_ENC_003_rotation_off_and_too_long_fail_provider_keys_skipped():
    inv = inventory(resources=[
        res("aws", "1", "k-off", "key", "ap-northeast-1", key_manager="customer", rotation_enabled=False,
            rotation_days=None),
        res("aws", "1", "k-ok", "key", "ap-northeast-1", key_manager="customer", rotation_enabled=True,
            rotation_days=365),
        res("gcp", "p", "k-long", "key", "asia-northeast1", key_manager="customer", rotation_enabled=True,
            rotation_days=730),
        res("aws", "1", "k-aws", "key", "ap-northeast-1", key_manager="provider", rotation_days=None),
        res("azure", "s", "k-unk", "key", "japaneast", key_manager=None, rotation_enabled=False, rotation_days=None),
    ])
    df = run(inv, "ENC-003")
    assert statuses(df) == {"k-off": "FAIL", "k-ok": "PASS", "k-long": "FAIL", "k-unk": "FAIL"}
    assert row(df, "k-long")["reason"] == "key k-long rotates every 730 days, longer than 365 days"
    assert row(df, "k-off")["reason"] == "key k-off has automatic rotation off"
    assert row(df, "k-ok")["reason"] == "key k-ok rotates every 365 days (limit 365 days)"


def test_ENC_003_rotation_status_not_read_fails_as_unknown_not_as_off():
    """rotation_enabled <NA> (not read) is its own reason; rotation_days is judged only where rotation is on."""
    inv = inventory(resources=[
        res("aws", "1", "k-unread", "key", "ap-northeast-1", key_manager="customer", rotation_days=None),
        res("aws", "1", "k-off", "key", "ap-northeast-1", key_manager="customer", rotation_enabled=False,
            rotation_days=None),
        # a period left over on a key whose rotation is off is not judged as a period
        res("aws", "1", "k-off-period", "key", "ap-northeast-1", key_manager="customer", rotation_enabled=False,
            rotation_days=90),
        # on, but the period was not read (e.g. an Azure rotate action triggered before expiry): fail closed
        res("azure", "s", "k-on-noperiod", "key", "japaneast", key_manager="customer", rotation_enabled=True,
            rotation_days=None),
    ])
    df = run(inv, "ENC-003")
    assert statuses(df) == {"k-unread": "FAIL", "k-off": "FAIL", "k-off-period": "FAIL", "k-on-noperiod": "FAIL"}
    assert row(df, "k-unread")["reason"] == "key k-unread: whether automatic rotation is on was not read"
    assert "読み取れませんでした" in row(df, "k-unread")["reason_ja"]
    assert "off" not in row(df, "k-unread")["reason"]
    assert row(df, "k-off")["reason"] == "key k-off has automatic rotation off"
    assert row(df, "k-off-period")["reason"] == "key k-off-period has automatic rotation off"
    assert row(df, "k-on-noperiod")["reason"] == \
        "key k-on-noperiod has automatic rotation on; its rotation period was not read"


def test_ENC_005_bucket_accepting_http_fails_unknown_fails_gcp_not_evaluated():
    inv = inventory(resources=[
        res("aws", "1", "s3-http", "bucket", "ap-northeast-1", https_only=False),
        res("azure", "s", "st-https", "bucket", "japaneast", https_only=True),
        res("aws", "1", "s3-unk", "bucket", "ap-northeast-1"),
        res("gcp", "p", "gcs", "bucket", "asia1", https_only=None),
    ])
    df = run(inv, "ENC-005")
    assert statuses(df) == {"s3-http": "FAIL", "st-https": "PASS", "s3-unk": "FAIL"}
    assert row(df, "s3-http")["reason"] == "bucket s3-http accepts plain HTTP"


def test_ENC_006_tls_below_minimum_fails_unknown_web_endpoint_fails():
    inv = inventory(resources=[
        res("azure", "s", "st-tls10", "bucket", "japaneast", min_tls="1.0"),
        res("azure", "s", "sql-tls12", "database", "japaneast", min_tls="1.2"),
        res("gcp", "p", "lb-unk", "load_balancer", "global"),
        res("aws", "1", "cf", "cdn", "global", min_tls="TLSv1.1"),
        res("aws", "1", "ebs", "volume", "ap-northeast-1"),  # no TLS notion: not evaluated
    ])
    df = run(inv, "ENC-006")
    assert statuses(df) == {"st-tls10": "FAIL", "sql-tls12": "PASS", "lb-unk": "FAIL", "cf": "FAIL"}
    assert row(df, "st-tls10")["reason"] == "bucket st-tls10 accepts TLS 1.0, below the policy minimum 1.2"
    assert "unknown" in row(df, "lb-unk")["reason"]
    assert statuses(run(inv, "ENC-006", Policy())) == statuses(df)


def test_ENC_006_data_store_whose_minimum_tls_was_not_read_fails_unknown():
    inv = inventory(resources=[
        res("aws", "1", "s3-unread", "bucket", "ap-northeast-1"),
        res("gcp", "p", "sql-unread", "database", "asia-northeast1", min_tls=None),
        res("azure", "s", "st-tls12", "bucket", "japaneast", min_tls="1.2"),
        res("aws", "1", "snap", "snapshot", "ap-northeast-1"),  # no endpoint of its own: not evaluated
    ])
    df = run(inv, "ENC-006")
    assert statuses(df) == {"s3-unread": "FAIL", "sql-unread": "FAIL", "st-tls12": "PASS"}
    assert row(df, "s3-unread")["reason"] == "bucket s3-unread: the minimum TLS version is unknown (not read)"
    assert "不明" in row(df, "sql-unread")["reason_ja"]


def test_ENC_006_unread_minimum_tls_column_is_error_other_accounts_keep_their_verdict():
    inv = inventory(resources=[res("gcp", "p", "gcs-unread", "bucket", "asia-northeast1"),
                               res("gcp", "q", "gcs-tls12", "bucket", "asia-northeast1", min_tls="1.2")],
                    gaps=[denied("gcp", "p", "resources.min_tls")])
    df = run(inv, "ENC-006")
    assert account_statuses(df)[("gcp", "p")] == ["ERROR"]
    assert statuses(df) == {"gcs-tls12": "PASS"}
    # the column's coverage is not needed by checks that do not read it
    assert account_statuses(run(inv, "ENC-005")).get(("gcp", "p")) != ["ERROR"]


def test_ENC_007_public_http_listener_fails_internal_passes_redirect_passes():
    inv = inventory(resources=[
        res("aws", "1", "alb-http", "load_balancer", "ap-northeast-1", network_open=True, https_only=False),
        res("aws", "1", "alb-redirect", "load_balancer", "ap-northeast-1", network_open=True, https_only=True),
        res("aws", "1", "alb-internal", "load_balancer", "ap-northeast-1", network_open=False, https_only=False),
        res("azure", "s", "app-unk", "web_app", "japaneast", network_open=None, https_only=None),
    ])
    df = run(inv, "ENC-007")
    assert statuses(df) == {"alb-http": "FAIL", "alb-redirect": "PASS", "alb-internal": "PASS", "app-unk": "FAIL"}
    assert row(df, "alb-http")["reason"] == \
        "Internet-facing load_balancer alb-http serves plain HTTP without redirecting to HTTPS"
    assert row(df, "alb-internal")["reason"] == "load_balancer alb-internal is not Internet-facing"


def test_ENC_008_database_without_forced_tls_fails_unknown_fails():
    inv = inventory(resources=[
        res("aws", "1", "rds-plain", "database", "ap-northeast-1", https_only=False),
        res("gcp", "p", "sql-tls", "database", "asia-northeast1", https_only=True),
        res("azure", "s", "pg-unk", "database", "japaneast"),
    ])
    df = run(inv, "ENC-008")
    assert statuses(df) == {"rds-plain": "FAIL", "sql-tls": "PASS", "pg-unk": "FAIL"}
    assert row(df, "rds-plain")["reason"] == "database rds-plain accepts non-TLS connections"


def test_ENC_008_unread_tls_setting_of_one_database_is_error_for_it_only():
    """A parameter group that could not be read: coverage for resources.https_only naming the
    databases using it voids their verdicts only; checks that do not read the column keep theirs."""
    inv = inventory(resources=[res("aws", "1", "rds-unread", "database", "ap-northeast-1", encryption="customer"),
                               res("aws", "1", "rds-forced", "database", "ap-northeast-1", https_only=True)],
                    gaps=[{**denied("aws", "1", "resources.https_only"), "region": "ap-northeast-1",
                           "resource_id": "rds-unread"}])
    df = run(inv, "ENC-008")
    assert statuses(df) == {"rds-unread": "ERROR", "rds-forced": "PASS"}
    assert "resources.https_only" in row(df, "rds-unread")["reason"]
    assert statuses(run(inv, "ENC-002"))["rds-unread"] == "PASS"


def test_ENC_denied_source_is_error_for_that_account_only():
    inv = inventory(resources=[res("aws", "1", "v1", "volume", "ap-northeast-1", encryption="customer"),
                               res("aws", "2", "v2", "volume", "ap-northeast-1", encryption="none")],
                    gaps=[denied("aws", "2", "resources")])
    for check_id in ("ENC-001", "ENC-002"):
        df = run(inv, check_id)
        assert account_statuses(df)[("aws", "2")] == ["ERROR"], check_id
        assert statuses(df) == {"v1": "PASS"}, check_id
    # a denied tags source leaves ENC-001 unable to know the level: ERROR too
    inv = inventory(resources=[res("aws", "1", "v1", "volume", "ap-northeast-1", encryption="customer")],
                    gaps=[denied("aws", "1", "tags")])
    assert account_statuses(run(inv, "ENC-001")) == {("aws", "1"): ["ERROR"]}
