"""Golden tests for the classification checks (CLS-001, CLS-002)."""

from __future__ import annotations

from datetime import date

from data_checks_helpers import TODAY, account_statuses, denied, label, res, row, run, statuses

from cloudaudit.engine import run_checks
from cloudaudit.policy import DEFAULT_MATRIX, LevelRules, Policy, RiskAcceptance
from cloudaudit.testing import inventory


def test_CLS_001_missing_and_invalid_labels_fail_aliases_and_account_label_pass():
    inv = inventory(
        resources=[res("aws", "1", "kanji", "bucket", "ap-northeast-1"),
                   res("gcp", "p", "romaji", "dataset", "asia-northeast1"),
                   res("aws", "1", "none", "volume", "ap-northeast-1"),
                   res("azure", "s", "typo", "database", "japaneast"),
                   res("azure", "s2", "inherits", "bucket", "japaneast"),
                   res("aws", "1", "vm", "vm", "ap-northeast-1")],  # not data-bearing
        tags=[label("aws", "1", "kanji", "部外秘"), label("gcp", "p", "romaji", "gokuhi"),
              label("azure", "s", "typo", "secret-ish"), label("azure", "s2", "s2", "group-gaihi"),
              label("aws", "1", "none", "x", key="owner")])
    df = run(inv, "CLS-001")
    assert statuses(df) == {"kanji": "PASS", "romaji": "PASS", "none": "FAIL", "typo": "FAIL", "inherits": "PASS"}
    assert row(df, "none")["reason"] == "volume none has no classification label (judged as confidential)"
    assert "secret-ish, which is not a level" in row(df, "typo")["reason"]
    assert "label on the account" in row(df, "inherits")["reason"]
    assert row(df, "romaji")["reason"].startswith("dataset romaji is labelled classification=gokuhi (top_secret")


def test_CLS_001_custom_tag_key_and_expired_acceptance():
    inv = inventory(resources=[res("aws", "1", "a", "bucket", "ap-northeast-1"),
                               res("aws", "1", "b", "bucket", "ap-northeast-1")],
                    tags=[label("aws", "1", "a", "公開", key="kimitsu"), label("aws", "1", "b", "公開")])
    policy = Policy(classification_key="kimitsu",
                    acceptances=(RiskAcceptance("CLS-001", "b", "legacy", "mori", date(2026, 10, 1)),))
    findings = run_checks(inv, policy, checks=["CLS-001"], today=TODAY)
    assert statuses(findings.df) == {"a": "PASS", "b": "FAIL"}
    assert findings.expired_acceptances and findings.expired_acceptances[0]["resource"] == "b"


def test_CLS_002_top_secret_bucket_abroad_public_without_cmk_lists_every_violation():
    inv = inventory(
        resources=[
            res("aws", "1", "ts-bad", "bucket", "us-east-1", public_read=True, public_write=False,
                encryption="provider", data_access_logging=False),
            res("aws", "1", "ts-good", "bucket", "ap-northeast-1", public_read=False, public_write=False,
                encryption="customer", data_access_logging=True),
            res("gcp", "p", "pub-site", "bucket", "asia1", public_read=True, public_write=False,
                encryption="provider", data_access_logging=False),
            res("gcp", "p", "unlabelled", "bucket", "asia1", public_read=None, public_write=False,
                encryption="customer", data_access_logging=None),
            res("azure", "s", "internal", "database", "japaneast", encryption="provider",
                data_access_logging=False),
            res("aws", "1", "disk", "volume", "ap-northeast-1", encryption="customer"),  # no data-plane log
        ],
        tags=[label("aws", "1", "ts-bad", "極秘"), label("aws", "1", "ts-good", "極秘"),
              label("gcp", "p", "pub-site", "公開"), label("azure", "s", "internal", "グループ外秘")])
    df = run(inv, "CLS-002")
    assert statuses(df) == {"ts-bad": "FAIL", "ts-good": "PASS", "pub-site": "PASS", "unlabelled": "FAIL",
                            "internal": "PASS", "disk": "PASS"}
    reason = row(df, "ts-bad")["reason"]
    assert reason.startswith("bucket ts-bad (top_secret) violates its level: publicly accessible; stored in "
                             "us-east-1 (US; allowed: JP); not encrypted with a customer-managed key (provider); "
                             "no data-access logging")
    assert "公開アクセス可能" in row(df, "ts-bad")["reason_ja"]
    assert row(df, "ts-bad")["severity"] == "critical"   # high + 極秘 label
    assert row(df, "unlabelled")["reason"] == ("bucket unlabelled (confidential) violates its level: public access "
                                               "unknown; data-access logging unknown")


def test_CLS_002_texts_follow_each_resources_place_and_key_and_read_in_japanese():
    # The same violations on different places and keys: each row names its own.
    inv = inventory(
        resources=[res("aws", "1", "us", "bucket", "us-east-1", public_read=False, public_write=False,
                       encryption="provider", data_access_logging=True),
                   res("aws", "1", "eu", "bucket", "eu-west-1", public_read=False, public_write=False,
                       encryption="AES256", data_access_logging=True),
                   res("aws", "1", "nowhere", "bucket", None, public_read=False, public_write=False,
                       encryption=None, data_access_logging=True)],
        tags=[label("aws", "1", name, "極秘") for name in ("us", "eu", "nowhere")])
    df = run(inv, "CLS-002")
    assert row(df, "us")["reason"].endswith("violates its level: stored in us-east-1 (US; allowed: JP); "
                                            "not encrypted with a customer-managed key (provider)")
    assert row(df, "eu")["reason"].endswith("violates its level: stored in eu-west-1 (IE; allowed: JP); "
                                            "not encrypted with a customer-managed key (AES256)")
    assert row(df, "nowhere")["reason"].endswith("stored in unknown location (unknown location; allowed: JP); key type unknown")
    assert row(df, "us")["reason_ja"].endswith("us-east-1 (US; allowed: JP) に保存、顧客管理鍵で暗号化されていない (provider)")
    assert row(df, "nowhere")["reason_ja"].endswith("不明な場所 (unknown location; allowed: JP) に保存、鍵の種類が不明")


def test_CLS_002_per_level_allowed_countries_from_the_matrix():
    matrix = dict(DEFAULT_MATRIX, public=LevelRules(True, ("JP", "US"), False, False))
    inv = inventory(resources=[res("aws", "1", "pub-us", "bucket", "us-east-1", public_read=True,
                                   public_write=False, encryption="provider"),
                               res("aws", "1", "pub-eu", "bucket", "eu-west-1", public_read=True,
                                   public_write=False, encryption="provider")],
                    tags=[label("aws", "1", "pub-us", "public"), label("aws", "1", "pub-eu", "kokai")])
    df = run(inv, "CLS-002", Policy(matrix=matrix))
    assert statuses(df) == {"pub-us": "PASS", "pub-eu": "FAIL"}
    assert "eu-west-1 (IE; allowed: JP, US)" in row(df, "pub-eu")["reason"]


def test_CLS_denied_tags_is_error_for_that_account_only():
    inv = inventory(resources=[res("aws", "1", "a", "bucket", "ap-northeast-1"),
                               res("aws", "2", "b", "bucket", "ap-northeast-1")],
                    tags=[label("aws", "1", "a", "公開")],
                    gaps=[denied("aws", "2", "tags")])
    for check_id in ("CLS-001", "CLS-002"):
        df = run(inv, check_id)
        assert account_statuses(df)[("aws", "2")] == ["ERROR"], check_id
        assert list(statuses(df)) == ["a"], check_id
