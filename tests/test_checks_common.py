"""Tests of the shared check helpers in checks/_common.py."""

from pathlib import Path

import numpy as np
import pandas as pd

from cloudaudit import memo
from cloudaudit.checks import _common

CHECKS = Path(_common.__file__).parent


def test_joined_sorted_distinct_values_per_group_without_missing():
    frame = pd.DataFrame({"k": ["a", "a", "a", "b", "c"], "v": ["y", "x", "y", None, "z"]})
    out = _common.joined(frame, ["k"], "v", "vs")
    assert dict(zip(out["k"], out["vs"])) == {"a": "x, y", "c": "z"}  # b has no value: no row
    assert _common.joined(frame, ["k"], "v", "vs", sep="; ").set_index("k").loc["a", "vs"] == "x; y"
    # numbers sort as numbers (ports), not as text
    ports = pd.DataFrame({"k": ["a", "a", "a"], "p": [3389, 22, 22]})
    assert _common.joined(ports, ["k"], "p", "ports")["ports"].tolist() == ["22, 3389"]
    empty = _common.joined(frame.iloc[3:4], ["k"], "v", "vs")
    assert empty.empty and list(empty.columns) == ["k", "vs"]


def test_joined_matches_a_plain_python_reference_in_rows_order_and_text():
    # groups come in the order a table sorted by value meets them; keys may be missing
    rng = np.random.default_rng(7)
    n = 2_000
    frame = pd.DataFrame({
        "p": pd.array(rng.choice(["aws", "gcp", None], n), dtype="string"),
        "a": pd.array(rng.choice([f"acct{i}" for i in range(40)], n), dtype="string"),
        "role": pd.array(rng.choice([f"r{i:02d}" for i in range(30)] + [None], n), dtype="string"),
        "port": rng.choice([22, 80, 443, 3389, 8080], n),
    })
    for column, text in (("role", str), ("port", lambda v: str(int(v)))):
        values = frame.dropna(subset=[column]).drop_duplicates(["p", "a", column])
        values = values.iloc[np.argsort(values[column].to_numpy(dtype=object if column == "role" else None),
                                        kind="stable")]
        expected: dict = {}
        for p, a, v in zip(values["p"], values["a"], values[column]):
            expected.setdefault((None if pd.isna(p) else p, a), []).append(text(v))
        out = _common.joined(frame, ["p", "a"], column, "joined")
        got = [((None if pd.isna(p) else p, a), t) for p, a, t in zip(out["p"], out["a"], out["joined"])]
        assert got == [(key, ", ".join(vals)) for key, vals in expected.items()], column
        assert out["p"].dtype == frame["p"].dtype and isinstance(out.index, pd.RangeIndex)


def test_lowered_is_str_lower_worked_out_per_distinct_value():
    values = pd.Series(["Customer", None, " GLOBAL ", "customer"], dtype="string", index=[5, 6, 7, 8])
    assert _common.lowered(values).tolist() == values.str.lower().tolist()
    stripped = _common.lowered(values, strip=True)
    assert stripped.fillna("-").tolist() == ["customer", "-", "global", "customer"] and list(stripped.index) == [5, 6, 7, 8]


def test_first_rows_of_groups_with_or_without_appearance_order():
    in_order = np.array([0, 0, 1, 0, 2, 1, 3, 3])
    assert _common._first_rows(in_order).tolist() == [0, 2, 4, 6]
    shuffled = np.array([2, 0, 2, 1, 0])  # not numbered by appearance: the sorting way
    assert _common._first_rows(shuffled).tolist() == np.unique(shuffled, return_index=True)[1].tolist() == [1, 3, 0]
    assert _common._first_rows(np.array([], dtype=np.int64)).tolist() == []


def test_add_joined_keeps_every_row_and_fills_groups_without_values():
    base = pd.DataFrame({"k": ["c", "b", "a"]})
    source = pd.DataFrame({"k": ["a", "a", "c", "b"], "v": ["2", "1", "3", None], "w": ["q", None, None, None]})
    out = _common.add_joined(base, source, ["k"], {"v": "vs", "w": "ws"}, fill="-")
    assert out["k"].tolist() == ["c", "b", "a"]
    assert out["vs"].tolist() == ["3", "-", "1, 2"] and out["ws"].tolist() == ["-", "-", "q"]


def test_check_modules_use_the_shared_join_helper_not_their_own_lambdas():
    for path in CHECKS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "join(sorted(set(" not in text, path.name
        assert "def joined(" not in text or path.name == "_common.py", path.name


def test_no_check_filters_every_column_of_the_resources():
    """A filter of the whole resources table copies its 24 columns: checks take the columns they
    read first (resources_of, data_bearing, or a column selection)."""
    import re

    whole = re.compile(r"(resources\(inv\)|inv\.resources)\[(resources\(inv\)|inv\.resources)\[")
    for path in CHECKS.glob("*.py"):
        assert not whole.search(path.read_text(encoding="utf-8")), path.name


def test_every_group_by_says_observed_since_the_inventory_keys_are_categoricals():
    """pandas before 3.0 groups categoricals over every category by default (observed=False):
    a group-by on accounts and regions would make a row for every pair that does not exist. The
    package allows pandas 2.1, so every group-by over its tables says observed=True."""
    import ast

    from cloudaudit import reports

    missing = []
    folders = [CHECKS, Path(memo.__file__).parent, Path(reports.__file__).parent]  # checks, cloudaudit, reports
    for folder in folders:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "groupby" and not any(k.arg == "observed" for k in node.keywords)):
                    missing.append(f"{path.name}:{node.lineno}")
    assert not missing, missing


def test_guardrail_verdict_and_guardrail_presence_apply_organization_guardrails_alike():
    from cloudaudit.checks import authentication, logging
    from cloudaudit.testing import inventory

    tenants = [{"provider": "aws", "account_id": a, "org_id": "o-abc"} for a in ("111", "222", "333")]
    tenants.append({"provider": "aws", "account_id": "444", "org_id": "o-other"})
    guardrails = [
        {"provider": "aws", "account_id": "o-abc", "scope": "organization", "kind": "mfa_required", "effective": False},
        {"provider": "aws", "account_id": "222", "scope": "account", "kind": "mfa_required", "effective": True},
        {"provider": "aws", "account_id": "333", "scope": "account", "kind": "mfa_required", "effective": None},
        {"provider": "aws", "account_id": "o-other", "scope": "organization", "kind": "public_access_block",
         "effective": True},
    ]
    inv = inventory(tenants=tenants, guardrails=guardrails)
    accounts = _common.accounts(inv)
    verdict = _common.guardrail_verdict(inv, "mfa_required", accounts).set_index("account_id")
    assert verdict["status"].to_dict() == {"111": "WARN", "222": "PASS", "333": "WARN", "444": "FAIL"}
    assert verdict.loc["111", "guardrails"] == "organization o-abc"
    assert verdict.loc["222", "guardrails"] == "account 222, organization o-abc"
    presence = _common.guardrail_presence(inv, {"aws": ("mfa_required",)}).set_index("account_id")
    derived = presence.apply(lambda r: "PASS" if r["_effective"] else "WARN" if r["_present"] else "FAIL", axis=1)
    assert derived.to_dict() == verdict["status"].to_dict()
    # one implementation: the AUTH and LOG checks use the shared one
    assert authentication.guardrail_verdict is _common.guardrail_verdict is logging.guardrail_verdict


def test_ages_in_every_check_are_measured_against_one_fixable_now():
    from identity_fakes import TENANTS, principal, run, statuses

    from cloudaudit.testing import inventory

    then = pd.Timestamp("2020-03-01", tz="UTC")
    inv = inventory(
        tenants=TENANTS,
        principals=[principal("aws", "111111111111", "u-1", "u1", last_active=then - pd.Timedelta(days=10),
                              created=then - pd.Timedelta(days=400)),
                    principal("azure", "tenant-1", "guest-1", "guest-1", kind="guest", external=True,
                              last_active=then - pd.Timedelta(days=10))],
        credentials=[{"provider": "aws", "account_id": "111111111111", "principal_id": "u-1", "credential_id": "AKIA1",
                      "kind": "access_key", "active": True, "created": then - pd.Timedelta(days=30),
                      "last_rotated": then - pd.Timedelta(days=30), "last_used": then - pd.Timedelta(days=1)}])
    with _common.fixed_now("2020-03-01") as now:
        assert _common.now_utc() == now == then
        assert _common.days_since(pd.Series([then - pd.Timedelta(days=3)])).tolist() == [3]
        judged_then = {c: statuses(run(inv, c)) for c in ("AUTH-009", "LCM-001", "ISL-008")}
    assert judged_then == {"AUTH-009": {"AKIA1": "PASS"}, "LCM-001": {"u-1": "PASS", "guest-1": "PASS"}, "ISL-008": {"guest-1": "PASS"}}
    assert _common.now_utc() > then + pd.Timedelta(days=365)
    judged_now = {c: statuses(run(inv, c)) for c in ("AUTH-009", "LCM-001", "ISL-008")}
    assert judged_now == {"AUTH-009": {"AKIA1": "FAIL"}, "LCM-001": {"u-1": "FAIL", "guest-1": "FAIL"}, "ISL-008": {"guest-1": "FAIL"}}


def test_no_check_reads_the_wall_clock_itself():
    for path in CHECKS.glob("*.py"):
        if path.name == "_common.py":
            continue
        text = path.read_text(encoding="utf-8")
        for call in ("Timestamp.now", "datetime.now", "Timestamp.utcnow", "date.today", "time.time("):
            assert call not in text, (path.name, call)


def test_join_nonempty_skips_empty_and_missing_parts_row_by_row():
    index = [7, 3, 5, 1, 9]
    first = pd.Series(["a", "", None, "d", ""], index=index)
    second = pd.Series(["b", "c", None, "", ""], index=index, dtype="string")
    third = pd.Series(["x", None, "", "e", ""], index=index, dtype=object)
    out = _common.join_nonempty([first, second, third])
    assert out.index.tolist() == index
    assert out.tolist() == ["a; b; x", "c", "", "d; e", ""]
    assert _common.join_nonempty([first], sep=", ").tolist() == ["a", "", "", "d", ""]


def test_memoized_computes_once_per_sources_and_a_callers_edit_never_reaches_the_cache():
    import threading

    calls = []
    first, second = pd.DataFrame({"a": [1, 2]}), pd.DataFrame({"a": [1, 2]})

    def compute(frame):
        calls.append(1)
        return frame.assign(b=frame["a"] * 10)

    got = [None] * 4
    threads = [threading.Thread(target=lambda i=i: got.__setitem__(i, memo.memoized("t", (first,),
                                                                                   lambda: compute(first))))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and all(g["b"].tolist() == [10, 20] for g in got)
    got[0].loc[0, "b"] = -1                       # a check editing its copy
    assert memo.memoized("t", (first,), lambda: compute(first))["b"].tolist() == [10, 20]
    assert len(calls) == 1
    memo.memoized("t", (second,), lambda: compute(second))   # an equal but different frame: recomputed
    assert len(calls) == 2


def test_tables_shared_by_the_checks_of_a_run_are_not_kept_after_it():
    from cloudaudit.engine import run_checks
    from cloudaudit.policy import Policy
    from cloudaudit.testing import inventory

    inv = inventory(resources=[{"provider": "aws", "account_id": "1", "region": "ap-northeast-1", "resource_id": "b",
                                "name": "b", "kind": "bucket"}])
    findings = run_checks(inv, Policy(), checks=["CLS-001", "CLS-002", "ENC-001"])
    assert len(findings) == 3 and not memo._MEMO


def test_with_labels_takes_the_labels_of_a_filter_of_the_resources_by_position_or_looks_them_up():
    from cloudaudit.frames import lookup, positions_in
    from cloudaudit.labels import resource_labels
    from cloudaudit.policy import Policy
    from cloudaudit.testing import inventory

    res = [{"provider": "aws", "account_id": a, "region": "ap-northeast-1", "resource_id": r, "name": r,
            "kind": "bucket"} for a, r in [("1", "x"), ("1", "y"), ("2", "x"), ("2", "z")]]
    tags = [{"provider": "aws", "account_id": "1", "resource_id": "x", "key": "classification", "value": "極秘"},
            {"provider": "aws", "account_id": "2", "resource_id": "2", "key": "classification", "value": "公開"}]
    inv = inventory(resources=res, tags=tags)
    policy = Policy()
    columns = ["label", "level", "labelled", "label_source"]
    labels = resource_labels(inv, policy)
    frames = {"filter": inv.resources.iloc[[3, 0, 2]],                                   # by position
              "reindexed": inv.resources.iloc[[3, 0, 2]].reset_index(drop=True),        # index no longer names rows
              "edited": inv.resources.iloc[[1, 2]].assign(account_id=["2", "1"]),       # keys differ there
              "empty": inv.resources.iloc[[]]}
    for name, frame in frames.items():
        got = _common.with_labels(inv, policy, frame, columns)
        # values as a lookup gives them (a lookup's bool column is object where it filled a row)
        pd.testing.assert_frame_equal(got, lookup(frame, labels, _common.RKEY, columns), obj=name, check_dtype=False)
    # the filter is read by position; the others by key
    assert positions_in(inv.resources, frames["filter"], _common.RKEY).tolist() == [3, 0, 2]
    assert positions_in(inv.resources, frames["edited"], _common.RKEY) is None
    assert positions_in(inv.resources, frames["reindexed"], _common.RKEY) is None
    got = _common.with_labels(inv, policy, frames["filter"], columns)
    assert got["level"].tolist() == ["public", "top_secret", "public"]
    assert got["label_source"].tolist() == ["account", "resource", "account"]
    # (2, y) is no resource of the inventory; (1, x) is, labelled 極秘
    assert _common.with_labels(inv, policy, frames["edited"], ["level"])["level"].isna().tolist() == [True, False]


def test_pick_is_np_select_over_text_as_a_categorical():
    import numpy as np

    first = np.array([True, False, False, True])
    second = pd.Series([True, True, False, False])
    got = _common.pick([first, second], ["a", "b"], "c")
    assert isinstance(got, pd.Categorical)
    assert list(got) == list(np.select([first, second], ["a", "b"], "c")) == ["a", "b", "c", "a"]
    assert list(_common.pick([first], ["x"], "x")) == ["x"] * 4   # a choice equal to the default


def test_per_distinct_computes_once_per_combination_and_aligns_with_every_row():
    frame = pd.DataFrame({"p": ["aws", "aws", "gcp", "aws", None], "r": ["x", "y", "x", "x", None],
                          "other": [1, 2, 3, 4, 5]}, index=[10, 11, 12, 13, 14]).astype({"p": "string", "r": "string"})
    seen = []

    def compute(distinct):
        seen.append(len(distinct))
        return pd.DataFrame({"text": (distinct["p"].fillna("-") + "/" + distinct["r"].fillna("-")).astype("string"),
                             "flag": (distinct["r"] == "x").fillna(False).astype(bool)})

    out = _common.per_distinct(frame, ["p", "r"], compute)
    assert seen == [4]                                   # (aws, x) once for rows 10 and 13
    assert out.index.tolist() == [10, 11, 12, 13, 14]
    assert out["text"].tolist() == ["aws/x", "aws/y", "gcp/x", "aws/x", "-/-"]
    assert out["flag"].tolist() == [True, False, True, True, False] and out["flag"].dtype == bool


def test_constant_is_one_text_in_every_row_held_once():
    frame = pd.DataFrame({"x": [1, 2, 3]}, index=[7, 8, 9])
    got = _common.constant("JP, US", frame)
    assert got.index.tolist() == [7, 8, 9] and got.tolist() == ["JP, US"] * 3
    assert isinstance(got.dtype, pd.CategoricalDtype) and list(got.cat.categories) == ["JP, US"]
    assert _common.constant("x", frame.iloc[:0]).empty


def test_per_distinct_gives_text_as_categoricals_when_asked_each_text_once():
    frame = pd.DataFrame({"p": ["aws", "aws", "gcp", "aws", None, "gcp"]}, index=[3, 4, 5, 6, 7, 8]).astype("string")

    def compute(distinct):  # two places with the same text, and one without any
        text = distinct["p"].map({"aws": "same", "gcp": "same"}).astype("string")
        return pd.DataFrame({"text": text, "n": distinct["p"].str.len()})

    out = _common.per_distinct(frame, ["p"], compute, categories=True)
    assert isinstance(out["text"].dtype, pd.CategoricalDtype) and list(out["text"].cat.categories) == ["same"]
    assert out["text"].tolist()[:4] == ["same"] * 4 and pd.isna(out["text"].iloc[4]) and out["text"].iloc[5] == "same"
    assert out.index.tolist() == [3, 4, 5, 6, 7, 8]
    as_text = _common.per_distinct(frame, ["p"], compute)
    assert out["text"].astype("string").tolist() == as_text["text"].tolist()
    assert out["n"].tolist() == as_text["n"].tolist()  # other columns as without it


def test_resources_of_some_kinds_with_only_the_columns_asked_for():
    from cloudaudit.testing import inventory

    inv = inventory(resources=[
        {"provider": "aws", "account_id": "1", "region": "ap-northeast-1", "resource_id": f"r{n}", "kind": kind,
         "name": None if n == 0 else f"n{n}", "https_only": True}
        for n, kind in enumerate(["bucket", "vm", "database", None, "bucket"])])
    got = _common.resources_of(inv, ["bucket", "database"], ["resource_id", "name", "https_only"])
    assert list(got.columns) == ["resource_id", "name", "https_only", "kind"]
    assert got["resource_id"].tolist() == ["r0", "r2", "r4"] and got.index.tolist() == [0, 2, 4]  # rows of resources
    assert got["name"].tolist() == ["r0", "n2", "n4"]  # a missing name filled from the id, as resources() does
    memo.clear()
