"""cloudaudit.frames.lookup: a left join by key that never copies the left table."""

import pandas as pd
import numpy as np
import pytest
import pyarrow as pa

from cloudaudit import frames
from cloudaudit.frames import (encode, filled, group_numbers, lookup, map_text, narrow_codes, positions_in, stacked,
                               unify)

RKEY = ["provider", "account_id", "resource_id"]


def frame(rows, columns):
    return pd.DataFrame(rows, columns=columns).astype({c: "string" for c in RKEY if c in columns})


LEFT = frame([("aws", "1", "a", 0), ("aws", "2", "a", 1), ("aws", "1", "b", 2), ("gcp", "1", "b", 3),
              (None, "1", "b", 4), ("aws", "1", None, 5), ("aws", "1", "zz", 6)], RKEY + ["x"])
RIGHT = frame([("aws", "1", "a", "top", 1, True), ("aws", "2", "a", "pub", 2, False), ("aws", "1", "b", "conf", 3, True)],
              RKEY + ["label", "n", "flag"]).assign(when=pd.to_datetime(["2026-01-01"] * 3, utc=True))


def test_lookup_gives_the_rows_and_dtypes_of_a_left_merge_on_unique_keys():
    columns = ["label", "n", "flag", "when"]
    got = lookup(LEFT.set_axis([9, 8, 7, 6, 5, 4, 3]), RIGHT, RKEY, columns)
    expected = LEFT.merge(RIGHT, on=RKEY, how="left")
    pd.testing.assert_frame_equal(got, expected)


def test_lookup_compares_every_key_not_only_the_hashed_one():
    got = lookup(LEFT, RIGHT, RKEY, ["label"])
    # ("aws","2","a") and ("aws","1","a") share the resource id; ("gcp","1","b") differs only by provider
    assert got["label"].tolist()[:3] == ["top", "pub", "conf"] and pd.isna(got.loc[3, "label"])


def test_a_table_looked_up_again_is_hashed_once_and_a_changed_table_is_hashed_anew():
    frames.forget_remembered()
    right = pd.concat([RIGHT] * 3, ignore_index=True).assign(
        resource_id=pd.array(["a", "a2", "b", "c", "d", "e", "f", "g", "h"], dtype="string"))
    first = lookup(LEFT, right, RKEY, ["label"])
    assert len(frames._HASHED) == 1
    again = lookup(LEFT.iloc[::-1].reset_index(drop=True), right[RKEY + ["label"]], RKEY, ["label"])  # same column
    assert len(frames._HASHED) == 1
    pd.testing.assert_frame_equal(again, LEFT.iloc[::-1].reset_index(drop=True).merge(right[RKEY + ["label"]],
                                                                                       on=RKEY, how="left"))
    changed = right.copy()
    changed.loc[0, "resource_id"] = "zz"  # a new column: new buffers, never the old hash
    got = lookup(LEFT, changed, RKEY, ["label"])
    assert len(frames._HASHED) == 2 and got.loc[6, "label"] == "top" and pd.isna(got.loc[0, "label"])
    assert first.loc[0, "label"] == "top"
    frames.forget_remembered()
    assert not frames._HASHED


@pytest.mark.parametrize("chunks, kind", [(2, pa.large_string()), (1, pa.string())])
def test_a_column_of_several_chunks_or_another_string_type_is_hashed_once(chunks, kind):
    frames.forget_remembered()
    ids = [f"x{i}" for i in range(len(RIGHT))]
    split = np.array_split(np.arange(len(ids)), chunks)
    column = pa.chunked_array([pa.array([ids[i] for i in rows], kind) for rows in split], kind)
    right = RIGHT.assign(resource_id=pd.arrays.ArrowStringArray(column.cast(pa.large_string()))
                         if kind == pa.large_string() else pd.array(column, dtype=pd.ArrowDtype(kind)))
    looked_up = [lookup(LEFT, right, RKEY, ["label"]) for _ in range(3)]
    assert len(frames._HASHED) == 1  # the same column: one hash, however it is stored
    pd.testing.assert_frame_equal(looked_up[0], looked_up[2])
    frames.forget_remembered()


def test_a_remembered_hash_or_filter_is_dropped_when_its_columns_are_freed():
    frames.forget_remembered()
    right = RIGHT.assign(resource_id=pd.array([f"r{i}" for i in range(len(RIGHT))], dtype="string"))
    lookup(LEFT, right, RKEY, ["label"])
    table = LEFT.copy()
    rows = table.iloc[[1, 3, 6]]
    assert positions_in(table, rows, RKEY).tolist() == [1, 3, 6]
    assert len(frames._HASHED) == 1 and len(frames._POSITIONS) == 1
    again = right[RKEY + ["label"]]  # a selection shares the column's data: the entry stays
    del right
    assert len(frames._HASHED) == 1
    del again, rows  # the last frames holding that data: their columns go, and so do the entries
    assert len(frames._HASHED) == 0 and len(frames._POSITIONS) == 0


def test_where_the_right_table_has_two_rows_for_one_key_the_first_counts_and_no_row_is_added():
    twice = pd.concat([RIGHT, RIGHT.iloc[[0]].assign(label="second")], ignore_index=True)
    got = lookup(LEFT, twice, RKEY, ["label"])
    assert len(got) == len(LEFT) and got.loc[0, "label"] == "top"


def test_a_missing_key_matches_a_missing_key_as_in_a_merge():
    right = pd.concat([RIGHT, frame([("aws", "1", None, "none-key", 9, True), (None, "1", "b", "no-provider", 8, True)],
                                    RKEY + ["label", "n", "flag"])], ignore_index=True)
    got = lookup(LEFT, right, RKEY, ["label"])
    expected = LEFT.merge(right[RKEY + ["label"]], on=RKEY, how="left")
    assert got.loc[5, "label"] == "none-key" and got.loc[4, "label"] == "no-provider"
    pd.testing.assert_frame_equal(got, expected)


def test_map_text_calls_the_function_once_per_distinct_value_and_keeps_missing_values():
    calls = []

    def upper(value):
        calls.append(value)
        return None if value == "drop" else value.upper()

    values = pd.Series(["a", None, "b", "a", "drop", "b"], index=[3, 4, 5, 6, 7, 8])
    got = map_text(values, upper)
    assert got.index.tolist() == values.index.tolist() and str(got.dtype) == "string"
    assert got.tolist()[:1] == ["A"] and pd.isna(got.iloc[1]) and got.tolist()[2:4] == ["B", "A"]
    assert pd.isna(got.iloc[4]) and sorted(calls) == ["a", "b", "drop"]
    calls.clear()  # a categorical (the inventory's kinds, regions ...): once per category, the same text
    coded = map_text(values.astype("string").astype("category"), upper)
    assert coded.astype(object).tolist() == got.astype(object).tolist() and str(coded.dtype) == "string"
    assert sorted(calls) == ["a", "b", "drop"] and coded.index.tolist() == values.index.tolist()


def test_lookup_in_an_empty_table_adds_missing_values():
    got = lookup(LEFT, RIGHT.iloc[:0], RKEY, ["label", "n"])
    assert len(got) == len(LEFT) and got["label"].isna().all() and got["n"].isna().all()


def test_a_few_keys_in_a_large_table_give_the_rows_of_a_merge():
    # the large right table is narrowed to the rows whose last key the left table holds
    filler = frame([("aws", "1", f"r{i}", f"l{i}", i, True) for i in range(40)], RKEY + ["label", "n", "flag"])
    right = pd.concat([filler, RIGHT.drop(columns="when"),
                       frame([("aws", "1", None, "none-key", 9, True)], RKEY + ["label", "n", "flag"])],
                      ignore_index=True)
    left = LEFT.iloc[[0, 2, 3, 5, 6]].reset_index(drop=True)
    assert 4 * len(left) < len(right)
    got = lookup(left, right, RKEY, ["label", "n"])
    pd.testing.assert_frame_equal(got, left.merge(right[RKEY + ["label", "n"]], on=RKEY, how="left"))
    assert got["label"].tolist()[:2] == ["top", "conf"] and got.loc[3, "label"] == "none-key"


def test_encode_and_unify_give_one_categorical_over_several_columns():
    first = pd.Series(["x", None, "y", "x"], dtype="string")
    second = pd.Series(["y", "z"], dtype="string")
    codes, dictionary = encode(first)
    assert codes.dtype == np.int8 and codes.tolist() == [0, -1, 1, 0] and dictionary.to_pylist() == ["x", "y"]
    # a dictionary shared by two columns (the same object) and one holding a null and a duplicate
    shared = pa.array(["z", "x", None, "q"], pa.large_string())
    joined = unify([encode(first), encode(second), (np.array([0, 3, 2, -1], dtype=np.int32), shared),
                    (np.array([1], dtype=np.int32), shared)])
    assert list(pd.Series(joined).astype(object).where(pd.notna(joined), None)) == [
        "x", None, "y", "x", "y", "z", "z", "q", None, None, "x"]
    assert sorted(joined.categories) == ["q", "x", "y", "z"]  # each value once
    empty = unify([encode(pd.Series([], dtype="string")), encode(pd.Series([None, None], dtype="string"))])
    assert len(empty) == 2 and pd.isna(empty).all()


def test_encoding_the_same_column_again_gives_the_remembered_codes():
    frames.forget_remembered()
    column = pd.Series(["x", None, "y", "x"], dtype="string")
    first = encode(column)
    again = encode(column.to_frame()[column.name if column.name else 0].copy(deep=False))  # the same data
    assert again[0] is first[0] and again[1] is first[1] and not first[0].flags.writeable
    other = encode(pd.Series(["x", None, "y", "x"], dtype="string"))  # equal values, other data
    assert other[0] is not first[0] and other[0].tolist() == first[0].tolist()
    frames.forget_remembered()


def test_encode_takes_a_categoricals_codes_over_the_categories_it_uses():
    values = pd.Series(pd.Categorical(["b", None, "d", "b"], categories=["a", "b", "c", "d"]))
    codes, dictionary = encode(values)
    assert codes.dtype == np.int8 and codes.tolist() == [0, -1, 1, 0] and dictionary.to_pylist() == ["b", "d"]
    joined = unify([(codes, dictionary), encode(pd.Series(["d", "e"], dtype="string"))])
    assert list(pd.Series(joined).astype(object).where(pd.notna(joined), None)) == ["b", None, "d", "b", "d", "e"]
    assert sorted(joined.categories) == ["b", "d", "e"]


def test_codes_are_held_in_the_narrowest_integers_and_unify_across_widths():
    many = pd.Series([f"v{i}" for i in range(300)] + [None], dtype="string")
    codes, dictionary = encode(many)
    assert codes.dtype == np.int16 and codes[-1] == -1 and len(dictionary) == 300
    assert narrow_codes(np.array([-1, 5]), 126).dtype == np.int8  # as pandas keeps a categorical's codes
    assert narrow_codes(np.array([-1, 5]), 127).dtype == pd.Categorical(range(127)).codes.dtype == np.int16
    assert narrow_codes(np.array([-1, 5]), 40_000).dtype == np.int32
    joined = unify([(codes, dictionary), encode(pd.Series(["v299", "w"], dtype="string"))])
    assert list(pd.Series(joined).astype(object).where(pd.notna(joined), None))[-3:] == [None, "v299", "w"]


def test_filled_keeps_a_categorical_categorical():
    values = pd.Series(pd.Categorical(["a", None, "b"]))
    out = filled(values, "-")
    assert isinstance(out.dtype, pd.CategoricalDtype) and out.tolist() == ["a", "-", "b"]
    assert filled(pd.Series(["a", None], dtype="string"), "-").tolist() == ["a", "-"]


def test_lookup_with_categorical_keys_gives_what_text_keys_give():
    coded = LEFT.assign(**{key: LEFT[key].astype("category") for key in RKEY})
    for on in (RKEY, ["provider", "account_id"], ["resource_id"]):
        expected = lookup(LEFT, RIGHT, on, ["label", "n"])
        got = lookup(coded, RIGHT, on, ["label", "n"])
        pd.testing.assert_frame_equal(got[["x", "label", "n"]], expected[["x", "label", "n"]], obj=str(on))
    # a missing key on the right matches a missing key on the left, on codes as on text
    right = pd.concat([RIGHT, frame([(None, "1", "b", "none", 9, False)], RKEY + ["label", "n", "flag"])],
                      ignore_index=True)
    text_keys = lookup(LEFT, right, RKEY, ["label"])["label"]
    code_keys = lookup(coded, right, RKEY, ["label"])["label"]
    assert code_keys.tolist() == text_keys.tolist() and code_keys.iloc[4] == "none"
    # and a categorical right table, as the classification tags' levels are
    right = RIGHT.assign(label=RIGHT["label"].astype("category"))
    got = lookup(coded, right, RKEY, ["label"])["label"]
    assert got.astype(object).where(got.notna(), None).tolist() == ["top", "pub", "conf", None, None, None, None]


def test_positions_of_a_filter_are_verified_once_per_frame_and_never_for_a_changed_one():
    frames.forget_remembered()
    table = LEFT.copy()
    rows = table.iloc[[1, 3, 6]]
    first = positions_in(table, rows, RKEY)
    assert first.tolist() == [1, 3, 6] and len(frames._POSITIONS) == 1
    assert positions_in(table, rows.copy(deep=False), RKEY) is first  # the same index and column data
    moved = rows.assign(resource_id=pd.array(["zz", "b", "zz"], dtype="string"))  # new data: checked anew
    assert positions_in(table, moved, RKEY) is None and len(frames._POSITIONS) == 2
    assert positions_in(table, rows.reset_index(drop=True), RKEY) is None  # the index no longer names the rows
    frames.forget_remembered()
    assert not frames._POSITIONS


def test_a_categorical_right_table_is_looked_up_as_its_text_would_be():
    # the inventory's keys are categoricals: a missing key still matches a missing key
    right = pd.concat([RIGHT, frame([(None, "1", "b", "none", 9, False)], RKEY + ["label", "n", "flag"])],
                      ignore_index=True)
    coded = right.assign(**{key: right[key].astype("category") for key in RKEY})
    for on in (RKEY, ["provider", "account_id"], ["resource_id"]):
        expected = lookup(LEFT, right, on, ["label", "n"])
        for left in (LEFT, LEFT.assign(**{key: LEFT[key].astype("category") for key in RKEY})):
            got = lookup(left, coded, on, ["label", "n"])
            pd.testing.assert_frame_equal(got[["x", "label", "n"]], expected[["x", "label", "n"]], obj=str(on))


def test_positions_of_a_filter_of_categorical_keys_are_compared_on_codes_and_remembered():
    frames.forget_remembered()
    table = LEFT.assign(**{key: LEFT[key].astype("category") for key in RKEY})
    rows = table.iloc[[1, 3, 6]]
    first = positions_in(table, rows, RKEY)
    assert first.tolist() == [1, 3, 6] and len(frames._POSITIONS) == 1
    assert positions_in(table, rows.copy(deep=False), RKEY) is first
    # other codes, or the same codes over categories in another order, are other values
    moved = rows.assign(resource_id=rows["resource_id"].cat.rename_categories(
        list(reversed(rows["resource_id"].cat.categories))))
    assert positions_in(table, moved, RKEY) is None
    text = rows.assign(resource_id=rows["resource_id"].astype("string"))  # text against codes: compared as text
    assert positions_in(table, text, RKEY).tolist() == [1, 3, 6]
    frames.forget_remembered()


def test_stacked_keeps_categoricals_categorical_and_makes_text_of_a_mix():
    coded = pd.DataFrame({"kind": pd.Categorical(["vm", "bucket"]), "name": ["a", "b"],
                          "place": pd.Categorical(["tokyo", "osaka"])})
    other = pd.DataFrame({"kind": pd.Series(["key", None], dtype="string").astype("category"), "name": ["c", "d"],
                          "place": pd.array(["seoul", None], dtype="string")})
    blank = pd.DataFrame({"kind": [None], "name": ["e"]})
    out = stacked([coded, other, blank])
    assert list(out.columns) == ["kind", "name", "place"] and list(out.index) == [0, 1, 2, 3, 4]
    assert isinstance(out["kind"].dtype, pd.CategoricalDtype)  # every part coded, or missing in every row
    assert list(out["kind"].cat.categories) == ["bucket", "key", "vm"]
    assert out["kind"].astype(object).where(out["kind"].notna(), None).tolist() == ["vm", "bucket", "key", None, None]
    assert out["place"].dtype == "string"  # codes mixed with text: text
    assert out["place"].tolist()[:3] == ["tokyo", "osaka", "seoul"] and out["place"].isna().tolist()[3:] == [True, True]


def _ngroup(frame, columns):
    return frame.groupby(columns, sort=False, dropna=False, observed=True).ngroup().to_numpy()


def test_group_numbers_are_a_group_bys_over_text_categoricals_booleans_and_missing_values():
    frames.forget_remembered()
    rows = pd.DataFrame({
        "text": pd.Series(["a", "b", None, "a", "b", None, "c", "a"], dtype="string"),
        "cat": pd.Categorical(["x", None, "y", "x", None, "y", "x", "z"], categories=["z", "y", "x", "w"]),
        "flag": pd.array([True, None, False, True, None, False, True, True], dtype="boolean"),
        "n": pd.array([1, 2, None, 1, 2, None, 3, 1], dtype="Int64"),
    })
    for columns in (["text"], ["cat"], ["text", "cat"], ["flag", "n"], ["text", "cat", "flag", "n"]):
        numbers = group_numbers(rows, columns)
        assert numbers.tolist() == _ngroup(rows, columns).tolist(), columns
    text = rows["text"]
    assert group_numbers(rows, ["text"]).tolist() == group_numbers(rows.assign(text=text), ["text"]).tolist()
    frames.forget_remembered()


def test_group_numbers_of_too_many_combinations_for_one_integer_are_a_group_bys():
    # four columns of 65,535 values (and "missing"): 2**64 combinations of them, so the first
    # column would be multiplied out of a 64-bit number and its two values fall into one group
    values = pd.Series(np.random.default_rng(7).permutation(65_535).astype(str), dtype="string")
    half = pd.DataFrame({f"c{i}": values for i in range(1, 5)})
    wide = pd.concat([half.assign(c0="a"), half.assign(c0="b")], ignore_index=True)
    columns = ["c0", "c1", "c2", "c3", "c4"]
    numbers = group_numbers(wide, columns)
    assert numbers.max() + 1 == len(wide)
    assert numbers.tolist() == _ngroup(wide, columns).tolist()
    frames.forget_remembered()
