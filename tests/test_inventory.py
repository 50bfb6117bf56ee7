import pandas as pd
import pytest

from cloudaudit.errors import SchemaError
from cloudaudit.inventory import SCHEMA, TABLES, Inventory, make_table, schema_markdown


def test_every_table_and_column_is_documented():
    expected = {"tenants", "regions", "resources", "tags", "replicas", "principals", "credentials", "grants",
                "trusts", "network_rules", "guardrails", "audit_logs", "coverage"}
    assert set(TABLES) == expected
    for table, columns in SCHEMA.items():
        for column, (dtype, meaning) in columns.items():
            assert meaning, (table, column)
    doc = open("docs/inventory.md", encoding="utf-8").read()
    assert doc == schema_markdown(), "regenerate: python -m cloudaudit.inventory > docs/inventory.md"


def test_unknown_column_names_table_and_column():
    with pytest.raises(SchemaError, match=r"'resources' has unknown column 'colour'"):
        make_table("resources", [{"provider": "aws", "account_id": "1", "colour": "red"}])


def test_bad_value_names_table_and_column():
    with pytest.raises(SchemaError, match=r"'credentials', column 'created'"):
        make_table("credentials", [{"provider": "aws", "account_id": "1", "created": "not a date"}])


def test_empty_key_is_rejected():
    with pytest.raises(SchemaError, match="'account_id': empty key"):
        make_table("tenants", [{"provider": "aws", "account_id": None}])


def test_timestamps_become_utc_and_booleans_nullable():
    t = make_table("credentials", [
        {"provider": "aws", "account_id": "1", "created": "2026-01-01T09:00:00+09:00", "active": True},
        {"provider": "aws", "account_id": "1", "created": None, "active": None}])
    assert str(t["created"].dtype) == "datetime64[ns, UTC]"
    assert t["created"].iloc[0] == pd.Timestamp("2026-01-01T00:00:00Z")
    assert str(t["active"].dtype) == "boolean" and t["active"].isna().iloc[1]


def test_missing_tables_are_empty_with_columns():
    inv = Inventory()
    for name in TABLES:
        assert list(inv[name].columns) == list(SCHEMA[name])
        assert len(getattr(inv, name)) == 0


def sample() -> Inventory:
    return Inventory({
        "resources": pd.DataFrame([{"provider": "aws", "account_id": "111", "region": "ap-northeast-1",
                                    "resource_id": "arn:aws:s3:::b", "kind": "bucket", "public_read": None,
                                    "created": "2026-01-01T00:00:00Z"}]),
        "guardrails": pd.DataFrame([{"provider": "gcp", "account_id": "p", "kind": "region_restriction",
                                     "values": ["asia-northeast1", "asia-northeast2"]}]),
    })


@pytest.mark.parametrize("partition", [False, True])
def test_parquet_round_trip(tmp_path, partition):
    inv = sample()
    inv.save(tmp_path / "inv", partition=partition)
    back = Inventory.load(tmp_path / "inv")
    for name in TABLES:
        a = inv[name].sort_values(list(inv[name].columns[:2])).reset_index(drop=True)
        b = back[name].sort_values(list(back[name].columns[:2])).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_dtype=True, check_categorical=False)
    assert back.guardrails["values"].iloc[0] == ["asia-northeast1", "asia-northeast2"]


def test_partitioned_load_reads_one_account(tmp_path):
    sample().save(tmp_path / "inv", partition=True)
    only = Inventory.load(tmp_path / "inv", filters=[("account_id", "==", "111")])
    assert only.resources["account_id"].tolist() == ["111"] and only.guardrails.empty


def test_partitions_written_apart_read_back_together_when_a_list_is_unread_in_one(tmp_path):
    # one worker per account writes into the same dataset: an all-None list column must keep its type
    read = Inventory({"guardrails": pd.DataFrame([{"provider": "aws", "account_id": "2", "kind": "region_restriction",
                                                   "values": ["ap-northeast-1"]}])})
    unread = Inventory({"guardrails": pd.DataFrame([{"provider": "aws", "account_id": "1", "kind": "region_restriction",
                                                     "values": None}])})
    unread.save(tmp_path / "inv", partition=True)
    read.save(tmp_path / "inv", partition=True)
    back = Inventory.load(tmp_path / "inv").guardrails.sort_values("account_id")
    assert back["values"].iloc[0] is None and back["values"].iloc[1] == ["ap-northeast-1"]


def test_load_of_a_non_inventory_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SchemaError, match="not an inventory directory"):
        Inventory.load(tmp_path)


def test_repr_html_counts_rows():
    html = sample()._repr_html_()
    assert "resources" in html and "guardrails" in html


def test_repeated_text_is_held_as_categoricals_over_text_and_stays_so_when_inventories_are_stacked():
    aws = Inventory({"resources": pd.DataFrame([{"provider": "aws", "account_id": 111, "region": "us-east-1",
                                                 "resource_id": "b1", "kind": "bucket"}])})
    gcp = Inventory({"resources": pd.DataFrame({"provider": ["gcp"], "account_id": ["p"], "region": [None],
                                                "resource_id": ["v1"], "kind": pd.Categorical(["vm"])})})
    for inv in (aws, gcp):
        for table, columns in SCHEMA.items():
            for column, (dtype, _) in columns.items():
                values = inv[table][column]
                if dtype == "category":
                    assert isinstance(values.dtype, pd.CategoricalDtype), (table, column)
                    assert str(values.cat.categories.dtype) == "string", (table, column)  # not "str"
    assert aws.resources["account_id"].tolist() == ["111"]  # a number given is its text, as for a string column
    both = Inventory.concat([aws, gcp]).resources
    assert isinstance(both["provider"].dtype, pd.CategoricalDtype)  # not Python strings
    assert list(both["provider"].cat.categories) == ["aws", "gcp"]
    assert both["kind"].tolist() == ["bucket", "vm"] and both["region"].isna().tolist() == [False, True]
