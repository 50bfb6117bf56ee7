"""The fail-closed runner, risk acceptances and severity escalation, on tiny inventories."""

import time
from datetime import date

import numpy as np
import pandas as pd
import pytest

from cloudaudit.engine import define_check, render_template, run_checks
from cloudaudit.errors import RegistryError
from cloudaudit.inventory import make_table
from cloudaudit.policy import Policy, RiskAcceptance
from cloudaudit.testing import inventory

REASONS = {"pass": {"en": "{name} ok", "ja": "{name} は問題ありません"},
           "fail": {"en": "{name} is public", "ja": "{name} は公開されています"}}


def public_buckets(inv, policy):
    res = inv.resources
    return res[["provider", "account_id", "region", "resource_id", "name"]].assign(
        status=np.where(res["public_read"].fillna(True), "FAIL", "PASS"))


PUBLIC = define_check("TST-001", public_buckets, title={"en": "Public buckets", "ja": "公開バケット"},
                      controls=["9.4.1"], severity="high", needs=["resources"], reasons=REASONS)


def bucket(account, rid, public, region="ap-northeast-1", provider="aws"):
    return {"provider": provider, "account_id": account, "region": region, "resource_id": rid, "name": rid,
            "kind": "bucket", "public_read": public}


def statuses(findings):
    return dict(zip(findings.df["resource_id"].fillna(findings.df["account_id"]), findings.df["status"].astype(str)))


def test_pass_and_fail_rows_with_reasons_in_both_languages():
    inv = inventory(resources=[bucket("1", "a", False), bucket("1", "b", True)])
    f = run_checks(inv, Policy(), checks=[PUBLIC])
    assert statuses(f) == {"a": "PASS", "b": "FAIL"}
    row = f.df.set_index("resource_id").loc["b"]
    assert row["reason"] == "b is public" and row["reason_ja"] == "b は公開されています"
    assert row["controls"] == "9.4.1" and row["check_id"] == "TST-001"
    assert '"name":"b"' in row["evidence"]


def test_denied_source_gives_error_for_that_account_not_pass():
    inv = inventory(resources=[bucket("1", "a", False), bucket("2", "c", False)],
                    gaps=[{"provider": "aws", "account_id": "2", "table": "resources", "status": "denied",
                           "message": "AccessDenied: s3:ListAllMyBuckets"}])
    f = run_checks(inv, Policy(), checks=[PUBLIC])
    assert statuses(f) == {"a": "PASS", "2": "ERROR"}
    error = f.df[f.df["status"] == "ERROR"].iloc[0]
    assert "denied" in error["reason"] and "AccessDenied" in error["reason"]


def test_region_gap_only_replaces_that_region():
    inv = inventory(resources=[bucket("1", "tokyo", False), bucket("1", "osaka", False, region="ap-northeast-3")],
                    coverage=[{"provider": "aws", "account_id": "1", "region": "ap-northeast-3", "table": "resources",
                               "source": "s3", "status": "error", "message": "Throttling: rate exceeded"}])
    f = run_checks(inv, Policy(), checks=[PUBLIC])
    got = f.df[["resource_id", "region", "status"]].astype(object).fillna("-").values.tolist()
    assert ["tokyo", "ap-northeast-1", "PASS"] in got
    assert ["-", "ap-northeast-3", "ERROR"] in got
    assert not any(r[0] == "osaka" for r in got)


def test_table_never_collected_for_an_account_is_an_error():
    inv = inventory(resources=[bucket("1", "a", False)])
    inv.tables["tenants"] = make_table("tenants", pd.concat(
        [inv.tenants, pd.DataFrame([{"provider": "gcp", "account_id": "p9"}])], ignore_index=True))
    f = run_checks(inv, Policy(), checks=[PUBLIC])
    err = f.df[f.df["account_id"] == "p9"]
    assert err["status"].tolist() == ["ERROR"] and "not collected" in err["reason"].iloc[0]


def test_column_level_gap_fails_only_checks_that_need_the_column():
    needs_mfa = define_check("TST-002", public_buckets, title={"en": "t", "ja": "t"}, controls=["9.2.3"],
                             severity="low", needs=["resources", "principals.mfa"], reasons=REASONS)
    inv = inventory(resources=[bucket("1", "a", False)],
                    gaps=[{"provider": "aws", "account_id": "1", "table": "principals.mfa", "status": "unsupported",
                           "message": "not licensed"}])
    f = run_checks(inv, Policy(), checks=[PUBLIC, needs_mfa])
    by_check = f.df.groupby("check_id")["status"].agg(lambda s: sorted(s.astype(str)))
    assert by_check["TST-001"] == ["PASS"]
    assert by_check["TST-002"] == ["ERROR"]


def _broken(inv, policy):
    raise KeyError("no_such_column")


def broken_check():
    return define_check("TST-003", _broken, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                        needs=["resources"], reasons=REASONS)


def test_exception_inside_a_check_becomes_error_rows_not_a_crash():
    inv = inventory(resources=[bucket("1", "a", False), bucket("2", "b", True)])
    f = run_checks(inv, Policy(), checks=[broken_check(), PUBLIC])
    errors = f.df[f.df["check_id"] == "TST-003"]
    assert set(errors["status"].astype(str)) == {"ERROR"} and set(errors["account_id"]) == {"1", "2"}
    assert "KeyError" in errors["reason"].iloc[0]
    assert statuses(f.__class__(f.df[f.df["check_id"] == "TST-001"])) == {"a": "PASS", "b": "FAIL"}


def test_a_failed_checks_rows_name_their_subjects_as_text_like_every_other_part():
    # an object column in one part makes the concatenation of millions of ids Python strings
    from cloudaudit.engine import _run_one, _scopes

    inv = inventory(resources=[bucket("1", "a", False), bucket("2", "b", True)])
    part = _run_one(broken_check(), inv, Policy(), _scopes(inv))
    assert part.frame["resource_id"].dtype == "string" and len(part.frame) == 2


def test_invalid_status_from_a_check_is_an_error():
    def weird(inv, policy):
        return public_buckets(inv, policy).assign(status="OK")

    c = define_check("TST-004", weird, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                     needs=["resources"], reasons=REASONS)
    f = run_checks(inventory(resources=[bucket("1", "a", False)]), Policy(), checks=[c])
    assert f.df["status"].astype(str).tolist() == ["ERROR"]


def test_active_acceptance_suppresses_and_expired_one_is_listed():
    inv = inventory(resources=[bucket("1", "web-site", True), bucket("1", "data", True)])
    policy = Policy(acceptances=(
        RiskAcceptance("TST-001", "web-*", "public website", "ciso@example.jp", date(2027, 1, 1)),
        RiskAcceptance("TST-001", "data", "temporary", "ops@example.jp", date(2026, 1, 1)),
    ))
    f = run_checks(inv, policy, checks=[PUBLIC], today=date(2026, 11, 25))
    assert statuses(f) == {"web-site": "SUPPRESSED", "data": "FAIL"}
    assert "ciso@example.jp" in f.df.set_index("resource_id").loc["web-site", "acceptance"]
    assert f.expired_acceptances == [{"check_id": "TST-001", "resource": "data", "owner": "ops@example.jp",
                                      "expires": "2026-01-01", "reason": "temporary", "findings": 1}]


def test_acceptance_without_expiry_never_expires():
    inv = inventory(resources=[bucket("1", "web", True)])
    policy = Policy(acceptances=(RiskAcceptance("TST-*", "*", "ok", "me", None),))
    f = run_checks(inv, policy, checks=[PUBLIC], today=date(2099, 1, 1))
    assert statuses(f) == {"web": "SUPPRESSED"}


@pytest.mark.parametrize("label,expected", [("極秘", "critical"), ("bugaihi", "critical"),
                                            ("グループ外秘", "high"), ("公開", "high"), (None, "high")])
def test_labelled_top_secret_and_confidential_raise_severity(label, expected):
    tags = [] if label is None else [{"provider": "aws", "account_id": "1", "resource_id": "b", "key": "classification",
                                      "value": label}]
    f = run_checks(inventory(resources=[bucket("1", "b", True)], tags=tags), Policy(), checks=[PUBLIC])
    assert f.df["severity"].astype(str).tolist() == [expected]


def test_classification_is_looked_up_by_provider_account_and_resource():
    # "shared" is labelled in two accounts with different levels; "b" only in account 1
    tags = [{"provider": "aws", "account_id": "1", "resource_id": "shared", "key": "classification", "value": "極秘"},
            {"provider": "aws", "account_id": "2", "resource_id": "shared", "key": "classification", "value": "公開"},
            {"provider": "aws", "account_id": "1", "resource_id": "b", "key": "classification", "value": "部外秘"}]
    inv = inventory(resources=[bucket("1", "shared", True), bucket("2", "shared", True), bucket("1", "b", True),
                               bucket("2", "b", True), bucket("1", "b", True, provider="gcp")], tags=tags)
    df = run_checks(inv, Policy(), checks=[PUBLIC]).df
    got = {(p, a, r): (c if isinstance(c, str) else None, str(s)) for p, a, r, c, s in
           zip(df["provider"], df["account_id"], df["resource_id"], df["classification"], df["severity"])}
    assert got == {("aws", "1", "shared"): ("top_secret", "critical"), ("aws", "2", "shared"): ("public", "high"),
                   ("aws", "1", "b"): ("confidential", "critical"), ("aws", "2", "b"): (None, "high"),
                   ("gcp", "1", "b"): (None, "high")}


def test_a_label_on_the_account_classifies_and_escalates_its_unlabelled_resources():
    # account 1 is labelled 極秘 (a tag whose subject is the account); "own" overrides it with 公開
    tags = [{"provider": "aws", "account_id": "1", "resource_id": "1", "key": "classification", "value": "極秘"},
            {"provider": "aws", "account_id": "1", "resource_id": "own", "key": "classification", "value": "公開"}]
    inv = inventory(resources=[bucket("1", "inherits", True), bucket("1", "own", True), bucket("2", "other", True)],
                    tags=tags)
    df = run_checks(inv, Policy(), checks=[PUBLIC]).df
    got = {r: (c if isinstance(c, str) else None, str(s)) for r, c, s in
           zip(df["resource_id"], df["classification"], df["severity"])}
    assert got == {"inherits": ("top_secret", "critical"), "own": ("public", "high"), "other": (None, "high")}


def test_a_row_severity_outside_the_scale_makes_the_check_error_not_a_blank_severity():
    def odd(inv, policy):
        return public_buckets(inv, policy).assign(severity="urgent")

    check = define_check("TST-011", odd, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                         needs=["resources"], reasons=REASONS)
    df = run_checks(inventory(resources=[bucket("1", "b", True)]), Policy(), checks=[check]).df
    assert df["status"].astype(str).tolist() == ["ERROR"] and "urgent" in df["reason"].iloc[0]


def test_categorical_statuses_severities_and_keys_give_the_same_findings_as_text():
    # checks choose statuses and severities with pick() (categoricals, possibly listing values
    # that never occur) and may give coded provider / account / region columns
    def as_text(inv, policy):
        rows = public_buckets(inv, policy)
        return rows.assign(severity=np.where(rows["status"] == "FAIL", "critical", None))

    def as_codes(inv, policy):
        rows = as_text(inv, policy)
        coded = {col: pd.Categorical(rows[col], categories=["unused", *sorted(rows[col].dropna().unique())])
                 for col in ("provider", "account_id", "region", "status", "severity")}
        return rows.assign(**coded)

    inv = inventory(resources=[bucket("1", "a", False), bucket("2", "b", True, region="us-east-1"),
                               bucket("2", "c", False, provider="gcp")])
    got, AS_OF = {}, pd.Timestamp("2026-11-01", tz="UTC")
    for name, fn in (("text", as_text), ("codes", as_codes)):
        check = define_check(f"TST-02{len(got)}", fn, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                             needs=["resources"], reasons=REASONS)
        got[name] = run_checks(inv, Policy(), checks=[check], run_id="r", as_of=AS_OF).df.drop(columns=["check_id"])
    pd.testing.assert_frame_equal(got["codes"], got["text"])
    assert got["codes"]["severity"].astype(str).tolist() == ["low", "critical", "low"]  # the check's default fills
    assert got["codes"]["reason"].tolist() == ["a ok", "b is public", "c ok"]


def test_evidence_is_json_for_every_column_type():
    import json

    def typed(inv, policy):
        rows = public_buckets(inv, policy)
        n = len(rows)
        return rows.assign(
            when=pd.to_datetime(["2026-01-02 03:04:05.123456"] + [None] * (n - 1), utc=True),
            days=[1.5] + [np.nan] * (n - 1), count=pd.array([3] + [None] * (n - 1), dtype="Int64"),
            flag=pd.array([True] + [None] * (n - 1), dtype="boolean"), names=[["x", 'q"uote']] + [None] * (n - 1),
            note=['back\\slash "quoted" \x01 ctl'] + [None] * (n - 1), kinds=[{"b", "a"}] + [None] * (n - 1),
            said=['say "hi"'] + ["plain"] * (n - 1), plain=["x"] * n)

    check = define_check("TST-012", typed, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                         needs=["resources"], reasons=REASONS)
    df = run_checks(inventory(resources=[bucket("1", "a", True), bucket("1", "b", True)]), Policy(),
                    checks=[check]).df.set_index("resource_id")
    assert json.loads(df.loc["a", "evidence"]) == {
        "name": "a", "when": "2026-01-02T03:04:05.123Z", "days": 1.5, "count": 3, "flag": True,
        "names": ["x", 'q"uote'], "note": 'back\\slash "quoted" \x01 ctl', "kinds": ["a", "b"],
        "said": 'say "hi"', "plain": "x"}
    assert json.loads(df.loc["b", "evidence"]) == {"name": "b", "when": None, "days": None, "count": None,
                                                   "flag": None, "names": None, "note": None, "kinds": None,
                                                   "said": "plain", "plain": "x"}


def test_severity_escalation_caps_at_critical():
    crit = define_check("TST-005", public_buckets, title={"en": "t", "ja": "t"}, controls=["9.4.1"],
                        severity="critical", needs=["resources"], reasons=REASONS)
    tags = [{"provider": "aws", "account_id": "1", "resource_id": "b", "key": "classification", "value": "極秘"}]
    f = run_checks(inventory(resources=[bucket("1", "b", True)], tags=tags), Policy(), checks=[crit])
    assert f.df["severity"].astype(str).tolist() == ["critical"]


def test_bad_metadata_is_rejected():
    with pytest.raises(RegistryError, match="severity"):
        define_check("TST-006", public_buckets, title={}, controls=[], severity="huge", needs=[], reasons={})
    with pytest.raises(RegistryError, match="unknown table"):
        define_check("TST-006", public_buckets, title={}, controls=[], severity="low", needs=["buckets"], reasons={})
    with pytest.raises(RegistryError, match="form"):
        define_check("bad id", public_buckets, title={}, controls=[], severity="low", needs=[], reasons={})


def test_render_template_is_vectorized_and_marks_missing_values():
    frame = pd.DataFrame({"name": ["a", None], "n": [1, 2]})
    assert render_template("{name} has {n}", frame).tolist() == ["a has 1", "unknown has 2"]


def test_render_template_over_chunked_arrow_columns():
    chunked = pd.Series(pd.arrays.ArrowStringArray(__import__("pyarrow").chunked_array([["a"], ["b", None]])))
    frame = pd.DataFrame({"name": chunked, "when": pd.to_datetime(["2026-01-02", None, "2026-03-04"], utc=True)})
    assert render_template("{name} on {when}", frame).tolist() == ["a on 2026-01-02", "b on unknown",
                                                                  "unknown on 2026-03-04"]


def test_reasons_and_evidence_stay_on_their_row_when_tenant_text_holds_line_separators():
    # U+2028 / U+2029 / \x85 are line breaks to str.splitlines but not to JSON
    names = ["a\u2028x", "b\nnew line", "c\u2029\x85", "d"]
    inv = inventory(resources=[bucket("1", n, i % 2 == 0) for i, n in enumerate(names)])
    f = run_checks(inv, Policy(), checks=[PUBLIC])
    df = f.df.set_index("resource_id")
    assert len(df) == 4
    for i, n in enumerate(names):
        assert df.loc[n, "status"] == ("FAIL" if i % 2 == 0 else "PASS")
        assert df.loc[n, "reason"] == (f"{n} is public" if i % 2 == 0 else f"{n} ok")
        assert __import__("json").loads(df.loc[n, "evidence"])["name"] == n


def _account_verdict(inv, policy):
    """Per-bucket rows plus one account-level row (resource_id <NA>)."""
    rows = public_buckets(inv, policy)
    summary = rows.groupby(["provider", "account_id"], as_index=False).agg(region=("region", "first"))
    return pd.concat([rows, summary.assign(resource_id=pd.NA, name="all buckets", status="PASS")], ignore_index=True)


def test_a_gap_for_one_subject_replaces_that_subject_and_withdraws_the_account_verdict():
    check = define_check("TST-010", _account_verdict, title={"en": "t", "ja": "t"}, controls=["9.4.1"],
                         severity="medium", needs=["resources"], reasons=REASONS)
    inv = inventory(resources=[bucket("1", "a", False), bucket("1", "b", False), bucket("2", "c", False)],
                    gaps=[{"provider": "aws", "account_id": "1", "region": "ap-northeast-1", "resource_id": "b",
                           "table": "resources", "status": "denied", "message": "b's policy: AccessDenied"}])
    df = run_checks(inv, Policy(), checks=[check]).df
    got = {(a, r if isinstance(r, str) else None): s for a, r, s in
           zip(df["account_id"], df["resource_id"], df["status"].astype(str))}
    # the account-level PASS of account 1 is withdrawn (it rested on b); b's ERROR stands for it
    assert got == {("1", "a"): "PASS", ("1", "b"): "ERROR", ("2", "c"): "PASS", ("2", None): "PASS"}
    error = df[(df["account_id"] == "1") & (df["resource_id"] == "b")]["reason"].iloc[0]
    assert "b's policy: AccessDenied" in error


def test_guardrail_kind_gap_fails_only_checks_needing_that_kind():
    region_check = define_check("TST-007", public_buckets, title={"en": "t", "ja": "t"}, controls=["18.1.1"],
                                severity="medium", needs=["resources", "guardrails.region_restriction"],
                                reasons=REASONS)
    snapshot_check = define_check("TST-008", public_buckets, title={"en": "t", "ja": "t"}, controls=["9.4.1"],
                                  severity="medium", needs=["resources", "guardrails.snapshot_public_block"],
                                  reasons=REASONS)
    inv = inventory(resources=[bucket("1", "a", False)],
                    gaps=[{"provider": "aws", "account_id": "1", "table": "guardrails.snapshot_public_block",
                           "status": "unsupported", "message": "not implemented"}])
    f = run_checks(inv, Policy(), checks=[region_check, snapshot_check])
    by_check = dict(zip(f.df["check_id"], f.df["status"].astype(str)))
    assert by_check == {"TST-007": "PASS", "TST-008": "ERROR"}
    with pytest.raises(RegistryError, match="guardrails.no_such_kind"):
        define_check("TST-009", public_buckets, title={}, controls=[], severity="low",
                     needs=["guardrails.no_such_kind"], reasons={})


def test_whole_table_need_fails_on_a_failed_part_of_the_table():
    whole = define_check("TST-010", public_buckets, title={"en": "t", "ja": "t"}, controls=["18.1.1"],
                         severity="medium", needs=["resources", "guardrails"], reasons=REASONS)
    inv = inventory(resources=[bucket("1", "a", False)],
                    gaps=[{"provider": "aws", "account_id": "1", "table": "guardrails.snapshot_public_block",
                           "status": "denied", "message": "AccessDenied"}])
    f = run_checks(inv, Policy(), checks=[whole])
    assert f.df["status"].astype(str).tolist() == ["ERROR"]
    assert "guardrails.snapshot_public_block" in f.df["reason"].iloc[0]


def test_column_gap_does_not_fail_a_check_that_does_not_name_the_column():
    inv = inventory(resources=[bucket("1", "a", False)],
                    gaps=[{"provider": "aws", "account_id": "1", "table": "resources.data_access_logging",
                           "status": "unsupported", "message": "no data-plane logs"}])
    f = run_checks(inv, Policy(), checks=[PUBLIC])
    assert f.df["status"].astype(str).tolist() == ["PASS"]


def test_provider_qualified_need_applies_to_that_provider_only():
    c = define_check("TST-011", public_buckets, title={"en": "t", "ja": "t"}, controls=["9.4.1"],
                     severity="medium", needs=["resources", "aws:guardrails.snapshot_public_block"], reasons=REASONS)
    inv = inventory(resources=[bucket("1", "a", False), bucket("p", "g", False, provider="gcp")],
                    gaps=[{"provider": "aws", "account_id": "1", "table": "guardrails.snapshot_public_block",
                           "status": "unsupported", "message": "not implemented"},
                          {"provider": "gcp", "account_id": "p", "table": "guardrails.snapshot_public_block",
                           "status": "unsupported", "message": "no such setting on GCP"}])
    f = run_checks(inv, Policy(), checks=[c])
    assert dict(zip(f.df["provider"], f.df["status"].astype(str))) == {"aws": "ERROR", "gcp": "PASS"}
    with pytest.raises(RegistryError):
        define_check("TST-012", public_buckets, title={}, controls=[], severity="low",
                     needs=["oracle:guardrails"], reasons={})


def test_account_wide_verdict_is_voided_by_a_gap_in_one_region():
    def account_level(inv, policy):
        return pd.DataFrame({"provider": ["aws"], "account_id": ["1"], "resource_id": ["1"], "name": ["acct"],
                             "status": ["FAIL"]})

    c = define_check("TST-013", account_level, title={"en": "t", "ja": "t"}, controls=["9.4.1"],
                     severity="medium", needs=["resources"], reasons=REASONS)
    inv = inventory(resources=[bucket("1", "a", False)],
                    coverage=[{"provider": "aws", "account_id": "1", "region": "eu-west-1", "table": "resources",
                               "source": "ec2", "status": "error", "message": "Throttling"}])
    f = run_checks(inv, Policy(), checks=[c])
    assert f.df[["region", "status"]].astype(str).values.tolist() == [["eu-west-1", "ERROR"]]


def test_error_reasons_are_written_in_both_languages():
    inv = inventory(resources=[bucket("1", "a", False), bucket("2", "b", False)],
                    gaps=[{"provider": "aws", "account_id": "2", "table": "resources", "status": "denied",
                           "message": "AccessDenied"}])
    inv.tables["tenants"] = make_table("tenants", pd.concat(
        [inv.tenants, pd.DataFrame([{"provider": "gcp", "account_id": "p9"}])], ignore_index=True))
    f = run_checks(inv, Policy(), checks=[PUBLIC]).df.set_index("account_id")
    assert f.loc["2", "reason_ja"].startswith("評価できませんでした: 取得元 test (resources) はアクセス拒否")
    assert f.loc["p9", "reason_ja"] == "評価できませんでした: resources は収集されていません"


def test_checks_on_a_thread_pool_give_the_same_findings_in_the_same_order_as_one_thread(monkeypatch):
    from benchmarks import estate
    from cloudaudit import engine

    inv = estate.generate(estate.Sizes().scaled(2000), seed=7)
    one = run_checks(inv, Policy(), run_id="r", as_of="2026-11-01", workers=1).df
    pool = run_checks(inv, Policy(), run_id="r", as_of="2026-11-01", workers=4).df
    assert len(one) > 1000 and one["check_id"].nunique() > 40
    assert one["classification"].notna().sum() > 100
    pd.testing.assert_frame_equal(one, pool)
    # the pool classifies the parts in batches as checks finish: small batches, the same findings
    monkeypatch.setattr(engine, "_CLASSIFY_BATCH", 50)
    batched = run_checks(inv, Policy(), run_id="r", as_of="2026-11-01", workers=2).df
    pd.testing.assert_frame_equal(one, batched)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_shared_table_is_dropped_when_its_last_declared_reader_is_done(workers):
    from cloudaudit import memo

    computed, started = [], []

    def reader(inv, policy):
        memo.memoized("tst_shared", (inv.resources,), lambda: computed.append(1) or inv.resources)
        return public_buckets(inv, policy)

    def sharing(n):
        def run(inv, policy):
            started.append(n)
            return reader(inv, policy)
        return define_check(f"TST-05{n}", run, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                            needs=["resources"], reasons=REASONS, shares=["tst_shared"])

    def late(inv, policy):  # does not declare the table: runs after the sharers, finds it dropped
        started.append("late")
        deadline = time.monotonic() + 5
        while "tst_shared" in memo._MEMO and time.monotonic() < deadline:  # on a pool: the other sharer may still run
            time.sleep(0.01)
        return reader(inv, policy)

    checks = [define_check("TST-059", late, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                           needs=["resources"], reasons=REASONS), sharing(1), sharing(2)]
    df = run_checks(inventory(resources=[bucket("1", "a", True)]), Policy(), checks=checks, workers=workers).df
    assert df["check_id"].tolist() == ["TST-059", "TST-051", "TST-052"]  # the findings keep the order given
    assert started[-1] == "late"  # the checks that share tables start first
    assert len(computed) == 2  # computed for the sharers, dropped after them, computed again for the late reader
    assert "tst_shared" not in memo._MEMO


def test_the_pages_of_a_dropped_shared_table_are_given_back_at_once(monkeypatch):
    from cloudaudit import engine

    released = []
    monkeypatch.setattr(engine, "_release_arrow_memory", lambda: released.append(1))
    readers = [define_check(f"TST-08{n}", public_buckets, title={"en": "t", "ja": "t"}, controls=["9.4.1"],
                            severity="low", needs=["resources"], reasons=REASONS, shares=["labels"]) for n in range(2)]
    shared = engine._SharedTables(readers)
    shared.done(readers[0])
    assert not released  # another reader still needs the table
    shared.done(readers[1])
    assert released == [1]


def test_the_threads_start_on_different_shared_tables_where_the_checks_allow():
    # two threads starting on checks that need the same table: one waits while the other builds it
    from cloudaudit.engine import _Schedule, _start_order

    def sharing(n, tables):
        return define_check(f"TST-06{n}", public_buckets, title={"en": "t", "ja": "t"}, controls=["9.4.1"],
                            severity="low", needs=["resources"], reasons=REASONS, shares=tables)

    plain = define_check("TST-069", public_buckets, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                         needs=["resources"], reasons=REASONS)
    checks = [plain, sharing(1, ["identities"]), sharing(2, ["identities", "admin_grants"]), sharing(3, ["labels"]),
              sharing(4, ["labels", "data_bearing"]), sharing(5, ["identities"])]
    schedule = _Schedule(checks, _start_order(checks))
    first, second = schedule.take(), schedule.take()  # the two threads' first checks, both still running
    assert [checks[first].id, checks[second].id] == ["TST-061", "TST-063"]
    schedule.finished(first)
    schedule.finished(second)
    started = [checks[i].id for i in iter(schedule.take, None)]
    assert started == ["TST-062", "TST-064", "TST-065", "TST-069"]  # then in start order, the plain check last


def test_a_check_whose_table_another_thread_is_building_lets_another_sharing_check_go_first():
    from cloudaudit.engine import _Schedule

    def check_sharing(n, tables):
        return define_check(f"TST-07{n}", public_buckets, title={"en": "t", "ja": "t"}, controls=["9.4.1"],
                            severity="low", needs=["resources"], reasons=REASONS, shares=tables)

    checks = [check_sharing(1, ["labels"]), check_sharing(2, ["labels"]), check_sharing(3, ["identities"]),
              check_sharing(4, [])]
    schedule = _Schedule(checks, [0, 1, 2, 3])
    assert schedule.take() == 0  # it builds the labels
    assert schedule.take() == 2  # the next would wait for them: the one on the identities goes first
    assert schedule.take() == 1  # nothing else shares tables: it waits, and the plain check stays last
    schedule.finished(0)
    schedule.finished(2)
    assert schedule.take() == 3 and schedule.take() is None
    stopped = _Schedule(checks, [0, 1, 2, 3])
    stopped.stop()
    assert stopped.take() is None  # Ctrl-C: nothing more starts


def test_shares_names_a_table():
    with pytest.raises(RegistryError, match="shares"):
        define_check("TST-058", public_buckets, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                     needs=["resources"], reasons=REASONS, shares=["labels/True"])


def test_the_last_checks_parts_are_classified_as_they_finish(monkeypatch):
    from cloudaudit import engine

    looked_up = []
    original = engine._look_up_levels
    monkeypatch.setattr(engine, "_look_up_levels", lambda parts, *a: looked_up.append(len(parts)) or original(parts, *a))
    monkeypatch.setattr(engine, "_CLASSIFY_BATCH", 10**9)  # no batch fills up
    monkeypatch.setattr(engine, "_CLASSIFY_LAST", 1)
    def fresh_ids(inv, policy):  # new id buffers each time: no part is a twin of another
        found = public_buckets(inv, policy)
        return found.assign(resource_id=found["resource_id"] + "")

    checks = [define_check(f"TST-04{n}", fresh_ids, title={"en": "t", "ja": "t"}, controls=["9.4.1"],
                           severity="low", needs=["resources"], reasons=REASONS) for n in range(5)]
    inv = inventory(resources=[bucket("1", f"b{n}", n % 2 == 0) for n in range(4)])
    df = run_checks(inv, Policy(), checks=checks, workers=2).df
    assert len(df) == 20 and df["status"].astype(str).tolist() == ["FAIL", "PASS", "FAIL", "PASS"] * 5
    # once two checks or fewer are left, each part is looked up as it comes (one lookup holds
    # the parts that finished before)
    assert sum(looked_up) == 5 and len(looked_up) >= 3


def test_every_thread_judges_ages_by_the_runs_clock():
    from cloudaudit.engine import now_utc

    def stamped(inv, policy):
        return public_buckets(inv, policy).assign(now=now_utc())

    checks = [define_check(f"TST-02{n}", stamped, title={"en": "t", "ja": "t"}, controls=["9.4.1"],
                           severity="low", needs=["resources"], reasons=REASONS) for n in range(4)]
    df = run_checks(inventory(resources=[bucket("1", "a", True)]), Policy(), checks=checks,
                    as_of="2020-02-02", workers=4).df
    assert len(df) == 4
    assert all(__import__("json").loads(e)["now"].startswith("2020-02-02T") for e in df["evidence"])


def test_render_template_gives_the_calendar_day_in_the_columns_own_zone():
    frame = pd.DataFrame({"t": pd.to_datetime(["2026-01-01 20:00", None], utc=True).tz_convert("Asia/Tokyo"),
                          "n": pd.to_datetime(["2026-03-04 23:59", "1999-12-31 00:00"])})
    assert render_template("{t} / {n}", frame).tolist() == ["2026-01-02 / 2026-03-04", "unknown / 1999-12-31"]


def test_an_interrupted_run_does_not_go_on_with_the_queued_checks():
    import threading

    started, release = [], threading.Event()

    def slow(inv, policy):
        started.append(1)
        if len(started) == 1:
            raise KeyboardInterrupt  # as Ctrl-C would surface in the waiting run
        release.wait(0.5)
        return public_buckets(inv, policy)

    checks = [define_check(f"TST-03{n}", slow, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                           needs=["resources"], reasons=REASONS) for n in range(8)]
    with pytest.raises(KeyboardInterrupt):
        run_checks(inventory(resources=[bucket("1", "a", True)]), Policy(), checks=checks, workers=2)
    release.set()
    assert len(started) <= 3  # the one interrupted, the one already running on the other thread, at most one more


def test_text_rendered_for_some_rows_is_the_text_those_rows_have_in_the_whole_run():
    from benchmarks import estate

    inv = estate.generate(estate.Sizes().scaled(2000), seed=7)
    denied = inv.coverage.iloc[[0]].assign(table="principals", status="denied", message="AccessDenied")
    inv.tables["coverage"] = pd.concat([inv.coverage, denied], ignore_index=True)
    lazy = run_checks(inv, Policy(), run_id="r", as_of="2026-11-01", workers=3)   # renders on threads
    whole = run_checks(inv, Policy(), run_id="r", as_of="2026-11-01", workers=1).df
    errors = np.flatnonzero((whole["status"] == "ERROR").to_numpy())
    picks = np.concatenate([np.random.default_rng(1).choice(len(whole), 400, replace=False), errors[:20]])
    assert len(errors) and whole.iloc[picks]["check_id"].nunique() > 30
    pd.testing.assert_frame_equal(lazy.rows(picks), whole.iloc[picks])           # unsorted positions
    failing = (lazy.core["status"] == "FAIL").to_numpy()
    pd.testing.assert_frame_equal(lazy.rows(failing), whole[failing])             # a mask
    lazy.summary(), lazy.by_control(), lazy.coverage(), repr(lazy)
    assert lazy._text is not None                                                 # none of it rendered every row
    pd.testing.assert_frame_equal(lazy.df, whole)


def test_rows_of_a_crashed_check_and_of_coverage_gaps_keep_their_reasons():
    def broken(inv, policy):
        raise RuntimeError("boom")

    crash = define_check("TST-031", broken, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                         needs=["resources"], reasons=REASONS)
    inv = inventory(resources=[bucket("1", "a", True), bucket("2", "b", False)],
                    gaps=[{"provider": "aws", "account_id": "2", "table": "resources", "status": "denied",
                           "message": "AccessDenied"}])
    whole = run_checks(inv, Policy(), checks=[PUBLIC, crash], run_id="r", as_of="2026-11-01").df
    lazy = run_checks(inv, Policy(), checks=[PUBLIC, crash], run_id="r", as_of="2026-11-01")
    assert whole["reason"].str.contains("boom").any() and whole["reason"].str.contains("AccessDenied").any()
    picks = np.arange(len(whole))[::-1]
    pd.testing.assert_frame_equal(lazy.rows(picks), whole.iloc[picks])


def test_evidence_of_a_mixed_column_is_the_same_rendered_alone_or_with_other_rows():
    def mixed(inv, policy):
        rows = public_buckets(inv, policy)
        return rows.assign(value=pd.Series(["text", ["x", "y"]], dtype=object, index=rows.index))

    check = define_check("TST-032", mixed, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                         needs=["resources"], reasons=REASONS)
    inv = inventory(resources=[bucket("1", "a", True), bucket("1", "b", True)])
    findings = run_checks(inv, Policy(), checks=[check])
    alone = findings.rows([1])["evidence"].iloc[0]
    assert findings.df["evidence"].iloc[1] == alone == '{"name":"b","value":["x","y"]}'


def test_large_results_with_repeated_text_render_the_same_text():
    import json

    n = 12_000  # past the size where the engine stores repeated text once per value
    kinds = np.array(["bucket", "disk", "vm"], dtype=object)[np.arange(n) % 3]
    notes = np.array(['say "hi"', None, "plain", "極秘"], dtype=object)[np.arange(n) % 4]

    def repetitive(inv, policy):
        rows = public_buckets(inv, policy)
        return rows.assign(kind=pd.array(kinds, dtype="string"), note=pd.Series(notes, dtype=object, index=rows.index))

    reasons = {"pass": {"en": "{name} is a {kind} ({note})", "ja": "{name} は {kind}"},
               "fail": {"en": "{name} is public", "ja": "{name} は公開"}}
    check = define_check("TST-033", repetitive, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                         needs=["resources"], reasons=reasons)
    inv = inventory(resources=[bucket("1", f"b{i:05d}", False) for i in range(n)])
    findings = run_checks(inv, Policy(), checks=[check])
    df = findings.df
    expected_reason = [f"b{i:05d} is a {k} ({'unknown' if t is None else t})" for i, (k, t) in enumerate(zip(kinds, notes))]
    expected_evidence = [json.dumps({"name": f"b{i:05d}", "kind": k, "note": t}, ensure_ascii=False, separators=(",", ":"))
                         for i, (k, t) in enumerate(zip(kinds, notes))]
    assert df["reason"].tolist() == expected_reason
    assert df["evidence"].tolist() == expected_evidence


def test_a_run_whose_text_failed_to_render_says_so_instead_of_giving_partial_text(monkeypatch):
    from cloudaudit import engine

    checks = [define_check(f"TST-04{n}", public_buckets, title={"en": "t", "ja": "t"}, controls=["9.4.1"],
                           severity="low", needs=["resources"], reasons=REASONS) for n in range(2)]
    findings = run_checks(inventory(resources=[bucket("1", "a", True)]), Policy(), checks=checks, workers=1)
    render, calls = engine._Pending.render, []

    def failing_second(self, *args):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError("out of memory")
        return render(self, *args)

    monkeypatch.setattr(engine._Pending, "render", failing_second)
    with pytest.raises(MemoryError):
        findings.df
    monkeypatch.setattr(engine._Pending, "render", render)
    for read in (lambda: findings.df, lambda: findings.rows([0])):
        with pytest.raises(RuntimeError, match="could not be rendered: MemoryError: out of memory"):
            read()
    assert findings.summary().loc["total", "FAIL"] == 2   # what needs no text still works


def test_repeated_text_columns_are_kept_once_per_value_and_names_as_they_are():
    from cloudaudit.engine import _repetitive_text

    n = 30_000
    frame = pd.DataFrame({"kind": pd.array(np.array(["bucket", "disk", None], dtype=object)[np.arange(n) % 3],
                                           dtype="string"),
                          "violations": pd.array([f"v{i % 2000}" for i in range(n)], dtype="string"),
                          "name": pd.array([f"name-{i}" for i in range(n)], dtype="string"),
                          "count": np.arange(n)})
    encoded = _repetitive_text(frame)
    assert set(encoded) == {"kind", "violations"}
    for col, values in encoded.items():
        assert pd.Series(values).astype("string").tolist() == frame[col].tolist()


def test_templates_naming_subject_columns_read_them_from_the_run_not_from_a_kept_copy():
    reasons = {"pass": {"en": "{resource_id} in {account_id}/{region} ok", "ja": "{provider} ok"},
               "fail": {"en": "{resource_id} in {account_id}/{region} public", "ja": "{provider} 公開"}}
    c = define_check("TST-050", public_buckets, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                     needs=["resources"], reasons=reasons)
    inv = inventory(resources=[bucket("1", "a", False), bucket("2", "b", True, region="us-east-1"),
                               bucket("3", "c", True, provider="gcp", region="asia-northeast1")])
    f = run_checks(inv, Policy(), checks=[c])
    kept = [part.pending.source for part in f._text._parts]
    assert all(not {"provider", "account_id", "region", "resource_id"} & set(source.columns) for source in kept)
    assert f.rows([2, 0])["reason"].tolist() == ["c in 3/asia-northeast1 public", "a in 1/ap-northeast-1 ok"]
    assert f.df["reason"].tolist() == ["a in 1/ap-northeast-1 ok", "b in 2/us-east-1 public",
                                       "c in 3/asia-northeast1 public"]
    assert f.df["reason_ja"].tolist() == ["aws ok", "aws 公開", "gcp 公開"]


def test_a_categorical_reason_key_needs_templates_only_for_the_keys_that_occur():
    def keyed(inv, policy):
        rows = public_buckets(inv, policy)
        keys = pd.Categorical(rows["status"].str.lower(), categories=["never_used", "fail", "unused", "pass"])
        return rows.assign(reason_key=keys)

    c = define_check("TST-051", keyed, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                     needs=["resources"], reasons=REASONS)
    f = run_checks(inventory(resources=[bucket("1", "a", False), bucket("1", "b", True)]), Policy(), checks=[c])
    assert f.df["status"].astype(str).tolist() == ["PASS", "FAIL"]
    assert f.df["reason"].tolist() == ["a ok", "b is public"]  # each row rendered with its own key's template


def test_a_missing_reason_key_makes_the_check_error_instead_of_borrowing_a_template():
    def unkeyed(inv, policy):
        rows = public_buckets(inv, policy)
        return rows.assign(reason_key=pd.Categorical([None, "fail"], categories=["pass", "fail"]))

    c = define_check("TST-052", unkeyed, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                     needs=["resources"], reasons=REASONS)
    df = run_checks(inventory(resources=[bucket("1", "a", False), bucket("1", "b", True)]), Policy(), checks=[c]).df
    assert set(df["status"].astype(str)) == {"ERROR"} and "reason_key is missing in 1 rows" in df["reason"].iloc[0]


def test_a_run_turns_transparent_huge_pages_off_while_it_runs_and_back_after():
    from cloudaudit._pages import huge_pages_disabled, small_pages

    seen = []

    def watch(inv, policy):
        seen.append(huge_pages_disabled())
        return public_buckets(inv, policy)

    check = define_check("TST-030", watch, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                         needs=["resources"], reasons=REASONS)
    before = huge_pages_disabled()
    run_checks(inventory(resources=[bucket("1", "a", False)]), Policy(), checks=[check])
    if before is None:  # not Linux: nothing to switch, nothing switched
        assert seen == [None] and huge_pages_disabled() is None
        return
    assert seen == [True] and huge_pages_disabled() is before is False
    with small_pages():  # a process (or an enclosing block) that has them off keeps them off
        run_checks(inventory(resources=[bucket("1", "a", False)]), Policy(), checks=[check])
        assert huge_pages_disabled() is True
    assert huge_pages_disabled() is False


def test_trim_heap_gives_freed_heap_pages_back_to_the_system():
    import sys

    from cloudaudit._pages import trim_heap

    def rss_mb() -> float:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

    if not sys.platform.startswith("linux"):
        assert trim_heap() is False
        return
    # 3,000 blocks of 64 KB: under glibc's mmap threshold, so they live on the heap; the last
    # one stays allocated, so the freed pages are in the middle of the heap, not at its top
    blocks = [np.ones(8192) for _ in range(3000)]
    keep = blocks[-1]
    del blocks
    held = rss_mb()
    assert trim_heap() is True
    assert rss_mb() < held - 100  # ~190 MB were freed into the heap
    assert keep.sum() == 8192


def test_a_run_starts_by_giving_the_pages_an_earlier_run_freed_back():
    import sys

    if not sys.platform.startswith("linux"):
        return

    def rss_mb() -> float:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

    seen = []

    def measuring(inv, policy):  # the resident memory while the run's checks run
        seen.append(rss_mb())
        return inv.resources[["provider", "account_id", "region", "resource_id", "name"]].assign(status="PASS")

    check = define_check("TST-050", measuring, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                         needs=["resources"], reasons=REASONS)
    blocks = [np.ones(8192) for _ in range(3000)]  # ~190 MB freed into the heap, as an earlier run leaves it
    keep = blocks[-1]
    del blocks
    held = rss_mb()
    run_checks(inventory(resources=[bucket("1", "a", False)]), Policy(), checks=[check])
    assert seen and seen[0] < held - 100
    assert keep.sum() == 8192


def test_parts_reporting_on_the_same_rows_share_one_classification_lookup():
    from cloudaudit import engine

    def same_rows(inv, policy):
        return inv.resources[["provider", "account_id", "region", "resource_id", "name"]].assign(status="PASS")

    def other_account(inv, policy):  # the very resource ids, but said of another account: its own lookup
        return same_rows(inv, policy).assign(account_id="2")

    checks = [define_check(f"TST-04{i}", fn, title={"en": "t", "ja": "t"}, controls=["9.4.1"], severity="low",
                           needs=["resources"], reasons=REASONS) for i, fn in enumerate((same_rows, same_rows,
                                                                                        other_account))]
    tags = [{"provider": "aws", "account_id": "1", "resource_id": "a", "key": "classification", "value": "極秘"},
            {"provider": "aws", "account_id": "2", "resource_id": "a", "key": "classification", "value": "公開"}]
    inv = inventory(resources=[bucket("1", "a", False), bucket("1", "b", False)], tags=tags)
    scopes = engine._scopes(inv)
    parts = [engine._run_one(c, inv, Policy(), scopes) for c in checks]
    engine._classify(parts, inv, Policy())
    first, twin, other = parts
    assert twin.classification is first.classification  # looked up once
    assert other.classification is not first.classification
    levels = [list(pd.Categorical.from_codes(p.classification, categories=p.dictionaries["classification"]
                                             .to_pylist()).astype(object)) for p in parts]
    assert levels[0] == levels[1] == ["top_secret", np.nan] and levels[2] == ["public", np.nan]
    df = run_checks(inv, Policy(), checks=checks, workers=2).df
    assert df.groupby("check_id")["classification"].apply(lambda c: c.fillna("-").tolist()).to_dict() == {
        "TST-040": ["top_secret", "-"], "TST-041": ["top_secret", "-"], "TST-042": ["public", "-"]}
