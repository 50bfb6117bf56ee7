"""The Findings wrapper: summary, coverage, Statement of Applicability, drift, records."""

import json

import numpy as np
import pandas as pd
import pytest

from cloudaudit import catalog
from cloudaudit.engine import define_check, run_checks
from cloudaudit.policy import Policy
from cloudaudit.testing import inventory

REASONS = {"pass": {"en": "{name} ok", "ja": "{name} 問題なし"}, "fail": {"en": "{name} bad", "ja": "{name} 問題あり"}}


def _check(cid, controls, bad_names):
    def fn(inv, policy):
        res = inv.resources
        return res[["provider", "account_id", "region", "resource_id", "name"]].assign(
            status=res["name"].isin(bad_names).map({True: "FAIL", False: "PASS"}))
    return define_check(cid, fn, title={"en": cid, "ja": cid}, controls=controls, severity="high",
                        needs=["resources"], reasons=REASONS)


def bucket(account, name, provider="aws"):
    return {"provider": provider, "account_id": account, "region": "ap-northeast-1", "resource_id": name,
            "name": name, "kind": "bucket"}


def findings(bad=("b",), gaps=()):
    inv = inventory(resources=[bucket("1", "a"), bucket("1", "b"), bucket("2", "c")], gaps=list(gaps))
    checks = [_check("TST-101", ["9.4.1"], bad), _check("TST-102", ["9.4.1", "18.1.1"], ())]
    return run_checks(inv, Policy(), checks=checks)


def test_dtypes_are_categorical_and_timezone_aware():
    df = findings().df
    assert isinstance(df["status"].dtype, pd.CategoricalDtype)
    assert list(df["severity"].cat.categories) == ["info", "low", "medium", "high", "critical"]
    assert str(df["collected_at"].dt.tz) == "UTC"


def test_a_runs_subject_columns_are_codes_in_core_and_text_in_rows_and_df():
    f = findings(gaps=[{"provider": "aws", "account_id": "2", "table": "resources", "status": "denied",
                        "message": "AccessDenied"}])
    core = f.core
    for col in ("provider", "account_id", "region", "classification", "acceptance"):
        assert isinstance(core[col].dtype, pd.CategoricalDtype), col
    # each account id held once, whatever the number of rows; the ERROR rows keep a missing region
    assert sorted(core["account_id"].cat.categories) == ["1", "2"]
    assert core["region"].isna().sum() == 2
    rows, df = f.rows(np.arange(len(f))), f.df
    for frame in (rows, df):
        for col in ("provider", "account_id", "region", "classification", "acceptance"):
            assert frame[col].dtype == "string", col
    assert df["account_id"].tolist() == core["account_id"].astype("string").tolist()
    assert df["region"].isna().sum() == 2
    # plain pandas on the text, as users write it
    assert df["resource_id"].fillna(df["account_id"]).notna().all()


def test_summary_lists_providers_with_rows_in_order_whatever_the_dtype():
    f = findings(bad=("b", "c"))
    inv = inventory(resources=[bucket("9", "z", provider="gcp"), bucket("1", "a")])
    g = run_checks(inv, Policy(), checks=[_check("TST-103", ["9.4.1"], ("z",))])
    assert list(g.summary().index) == ["aws", "gcp", "total"]
    # the same table for the codes of a run and for text (findings read back from a file)
    from cloudaudit.findings import Findings
    assert Findings(f.df).summary().equals(f.summary())
    assert list(f.summary().index) == ["aws", "total"]


def test_summary_and_coverage():
    f = findings(gaps=[{"provider": "aws", "account_id": "2", "table": "resources", "status": "denied",
                        "message": "AccessDenied"}])
    summary = f.summary()
    assert summary.loc["total", "FAIL"] == 1 and summary.loc["total", "ERROR"] == 2
    cov = f.coverage()
    assert cov["total"] == len(f.df) and cov["evaluated"] == len(f.df) - 2
    assert any("AccessDenied" in reason for reason in cov["errors"])


def test_by_check_counts_findings_per_check_and_status_like_a_crosstab():
    f = findings(gaps=[{"provider": "aws", "account_id": "2", "table": "resources", "status": "denied",
                        "message": "AccessDenied"}])
    df = f.df
    expected = pd.crosstab(df["check_id"].astype(str), df["status"].astype(str)).reindex(
        columns=["PASS", "FAIL", "WARN", "ERROR", "SUPPRESSED"], fill_value=0)
    got = f.by_check()
    assert got.to_dict() == expected.to_dict() and got.index.tolist() == ["TST-101", "TST-102"]
    assert got.loc["TST-101"].tolist() == [1, 1, 0, 1, 0]


def test_by_control_lists_every_catalog_control_with_worst_status_and_manual_ones(monkeypatch):
    f = findings(gaps=[{"provider": "aws", "account_id": "2", "table": "resources", "status": "denied",
                        "message": "AccessDenied"}])
    # the SoA maps checks to controls through the registry: use this test's two checks
    from cloudaudit import findings as findings_module

    checks = {c.id: c for c in (_check("TST-101", ["9.4.1"], ("b",)), _check("TST-102", ["9.4.1", "18.1.1"], ()))}
    monkeypatch.setattr(findings_module, "registry", lambda: checks)
    soa = f.by_control().set_index("control")
    assert len(soa) == len(catalog.controls())
    assert soa.loc["9.4.1", "status"] == "FAIL"            # a FAIL outranks the ERROR of account 2
    assert soa.loc["9.4.1", "checks"] == "TST-101, TST-102"
    assert soa.loc["18.1.1", "status"] == "ERROR"          # only passes and a gap: evidence missing
    assert soa.loc["CLD.6.3.1", "status"] == "MANUAL" and soa.loc["CLD.6.3.1", "checks"] == ""
    assert soa.loc["9.4.1", "failed"] == 1 and soa.loc["9.4.1", "errors"] == 2


def test_diff_new_resolved_persisting():
    before = findings(bad=("a", "b"))
    after = findings(bad=("b", "c"))
    changes = after.diff(before).set_index("resource_id")["change"].to_dict()
    assert changes == {"a": "resolved", "b": "persisting", "c": "new"}


def test_records_are_json_ready():
    records = findings().to_records()
    json.dumps(records)
    row = next(r for r in records if r["status"] == "FAIL")
    assert row["controls"] == ["9.4.1"] and row["evidence"] == {"name": "b"}


def test_notebook_view_is_html():
    html = findings()._repr_html_()
    assert html.startswith("<") and "cloudaudit findings" in html and "b bad" in html


def test_findings_of_a_run_pickle_with_their_text():
    import pickle

    from cloudaudit.engine import run_checks
    from cloudaudit.policy import Policy
    from cloudaudit.testing import inventory

    inv = inventory(resources=[{"provider": "aws", "account_id": "1", "region": "ap-northeast-1", "resource_id": "b",
                                "name": "b", "kind": "bucket", "encryption": "none"}])
    findings = run_checks(inv, Policy(), checks=["ENC-001", "CLS-001"], run_id="r")
    copy = pickle.loads(pickle.dumps(findings))
    pd.testing.assert_frame_equal(copy.df, findings.df)
    assert copy.df["reason"].str.len().gt(0).all() and len(copy.rows([0])) == 1


def test_rows_take_a_nullable_mask_or_positions_and_refuse_a_mask_of_the_wrong_length():
    f = findings()
    core = f.core
    mask = pd.Series([True, None, False] + [False] * (len(f) - 3), dtype="boolean")
    assert f.rows(mask).index.tolist() == [0]
    assert f.rows([2, 0]).index.tolist() == [2, 0] and f.rows([]).empty
    assert f.rows(core["status"] == "FAIL")["reason"].tolist() == ["b bad"]
    with pytest.raises(ValueError, match="mask of 2 values"):
        f.rows(np.array([True, False]))


def test_large_frames_decode_their_coded_columns_on_threads_to_the_same_text(monkeypatch):
    from cloudaudit import findings as module

    one_by_one = findings(bad=("b", "c")).df
    monkeypatch.setattr(module, "_PARALLEL_TEXT_ROWS", 0)
    on_threads = findings(bad=("b", "c"))
    pd.testing.assert_frame_equal(on_threads.df.drop(columns=["run_id", "collected_at"]),
                                  one_by_one.drop(columns=["run_id", "collected_at"]))
    assert on_threads.rows([0, 2])["account_id"].tolist() == ["1", "2"]


def test_rows_render_only_the_text_columns_asked_for(monkeypatch):
    from cloudaudit import engine

    f = findings(bad=("b",))
    whole = f.rows(np.arange(len(f)))
    rendered = []
    monkeypatch.setattr(engine, "_render_arrow", lambda *a: rendered.append(1) or pytest.fail("reasons rendered"))
    evidence = f.rows(np.arange(len(f)), text=["evidence"])
    assert "reason" not in evidence.columns and "reason_ja" not in evidence.columns
    assert evidence["evidence"].tolist() == whole["evidence"].tolist() and not rendered
    assert list(evidence.columns) == [c for c in whole.columns if c not in ("reason", "reason_ja")]
    with pytest.raises(ValueError, match="'title' is not a text column"):
        f.rows([0], text=["title"])
    monkeypatch.undo()
    assert f.rows([1], text=["reason"])["reason"].tolist() == whole["reason"].iloc[[1]].tolist()
    f.df  # once rendered, the columns asked for come from the frame
    assert list(f.rows([0], text=["evidence"]).columns) == list(evidence.columns)
