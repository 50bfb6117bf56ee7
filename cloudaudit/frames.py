"""Table helpers shared by the engine and the checks (pure pandas / Arrow, no SDKs)."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import union_categoricals


def lookup(left: pd.DataFrame, right: pd.DataFrame, on: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """``left`` with ``right``'s ``columns`` added where the ``on`` keys match (missing elsewhere).

    The same rows as ``left.merge(right[on + columns], on=on, how="left")`` when ``right`` has
    at most one row per key, without copying ``left``: the last key (the most selective, e.g.
    ``resource_id``) is hashed once in Arrow and the other keys are compared on the hits only.
    Keys that occur in more than one row of ``right`` on their own go through a full-key
    merge. As in a merge, a missing key (<NA>) matches a missing key. Where ``right`` has
    several rows for one key, the first one counts (a dictionary lookup, not a row-multiplying
    join). The result has a fresh RangeIndex, as a merge has.
    """
    on, columns = list(on), list(columns)
    last, others = on[-1], on[:-1]
    if 4 * len(left) < len(right):  # a few keys in a large table: hash only the rows that can match
        wanted = pc.is_in(text_chunks(right[last]), value_set=_distinct_text(left[last]), skip_nulls=False)
        right = right[pc.fill_null(wanted, False).to_numpy(zero_copy_only=False)]
    dictionary, codes, counts, first = _hashed(right[last])
    # One probe per left row; keys held by one right row are decided here, on the hits only.
    unique = positions_of(left[last], dictionary)
    # per distinct key: the right row holding it when it is held once (else -1), and whether
    # several rows hold it; an absent key (-1) is neither
    found = per_code(unique, np.where(counts == 1, first, -1), -1)
    shared = per_code(unique, counts > 1, False)
    hit = np.flatnonzero(found >= 0)
    if others and len(hit):
        same = np.ones(len(hit), dtype=bool)
        for key in others:
            same &= _same_at(left[key], hit, right[key], found[hit])
        found[hit[~same]] = -1
    out = left.reset_index(drop=True)
    added = {col: _take(right[col], found) for col in columns}
    rows = np.flatnonzero(shared)
    if len(rows):  # last key held by several right rows: match on every key
        many = right[on + columns].iloc[np.flatnonzero(counts[codes] > 1)]
        matched = out[on].iloc[rows].merge(many.drop_duplicates(on), on=on, how="left")
        for col in columns:
            column = pd.Series(added[col])
            fill = matched[col].notna().to_numpy()
            column.iloc[rows[fill]] = matched[col].to_numpy()[fill]
            added[col] = column.array
    return out.assign(**{col: pd.Series(values, index=out.index) for col, values in added.items()})


class _Remembered:
    """Results remembered for the last few inputs, found by the identity of the inputs' data.
    An entry keeps ``inputs`` alive and is dropped as soon as one of its ``watched`` objects
    (the Arrow columns whose buffers the key names) is freed, so no other data can take their
    addresses while it is remembered, and a column no longer in use is not held for the run."""

    def __init__(self, keep: int) -> None:
        self._items: OrderedDict[tuple, tuple] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep
        self._freed: list[tuple] = []  # keys whose watched objects died (appended by weakref callbacks)

    def get(self, key: tuple) -> tuple | None:
        """``(result,)`` if remembered, else None."""
        with self._lock:
            self._purge()
            hit = self._items.get(key)
            if hit is None:
                return None
            self._items.move_to_end(key)
            return (hit[1],)

    def put(self, key: tuple, inputs: object, result: object, watched: Sequence[object] = ()) -> None:
        # a callback only appends: it may run on any thread, inside this lock too (a collection)
        refs = [weakref.ref(obj, lambda _, key=key: self._freed.append(key)) for obj in watched]
        with self._lock:
            self._purge()
            self._items[key] = (inputs, result, refs)
            while len(self._items) > self._keep:
                self._items.popitem(last=False)

    def of_column(self, values: pd.Series, compute: Callable[[], object]) -> object:
        """``compute()`` for a column, remembered by the column's own data (Arrow buffers, a
        categorical's codes) while that data lives (any other column is computed every time)."""
        identity = column_identity(values)
        hit = self.get(identity) if identity is not None else None
        if hit is not None:
            return hit[0]
        result = compute()
        if identity is not None:
            self.put(identity, None, result, watched=_column_data(values))
        return result

    def _purge(self) -> None:
        while self._freed:
            key = self._freed.pop()
            entry = self._items.get(key)
            if entry is not None and any(ref() is None for ref in entry[2]):  # not a newer entry's key
                del self._items[key]

    def __len__(self) -> int:
        with self._lock:
            self._purge()
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._freed.clear()


def _arrow_data(values: pd.Series) -> "pa.ChunkedArray | None":
    """The Arrow data behind a column (shared by its shallow copies and selections), or None."""
    array = values.array
    return array.__arrow_array__() if isinstance(array, pd.arrays.ArrowExtensionArray) else None


def _column_data(values: pd.Series) -> list:
    """The objects that hold a column's data (its Arrow data; a categorical's codes and
    categories), to watch while something is remembered for it; empty for any other column."""
    array = values.array
    if isinstance(array, pd.arrays.ArrowExtensionArray):
        return [array.__arrow_array__()]
    if isinstance(array, pd.Categorical):
        codes = array.codes  # a read-only view: its base owns the memory
        watched = [codes.base if codes.base is not None else codes]
        categories = array.categories.array
        if isinstance(categories, pd.arrays.ArrowExtensionArray):
            watched.append(categories.__arrow_array__())
        return watched
    return []


def column_identity(values: pd.Series) -> tuple | None:
    """The identity of a column's data: :func:`arrow_identity`, or for a categorical whose
    categories are Arrow-backed its codes' memory and its categories' identity (the inventory's
    keys and vocabularies). None for any other column."""
    array = values.array
    if isinstance(array, pd.arrays.ArrowExtensionArray):
        return arrow_identity(values)
    if isinstance(array, pd.Categorical):
        categories = array.categories.array
        if not isinstance(categories, pd.arrays.ArrowExtensionArray):
            return None
        codes = array.codes
        return ("categorical", codes.__array_interface__["data"][0], codes.dtype.str, codes.shape, codes.strides,
                arrow_identity(pd.Series(categories, copy=False)))
    return None


# the key columns and filters looked at again and again in one run (the classification tags'
# columns batch after batch, the data-bearing resources of several checks)
_HASHED = _Remembered(8)
_POSITIONS = _Remembered(8)
_ENCODED = _Remembered(16)


def _hashed(values: pd.Series) -> tuple["pa.Array", np.ndarray, np.ndarray, np.ndarray]:
    """One hash over a key column (<NA> is a value of its own): its distinct values, each row's
    code, how often each value occurs and a row holding it (the row, for the values held once:
    the only ones used). Remembered for the last few columns by the identity of their Arrow
    buffers, which never change: the classification looks the same tags up batch after batch.
    The key is the column's own data (a column of several chunks, or of another string type,
    is combined or cast anew on every call)."""
    return _HASHED.of_column(values, lambda: _hash(values))


def _hash(values: pd.Series) -> tuple["pa.Array", np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(values.dtype, pd.CategoricalDtype):  # hashed already: its categories, a missing value last
        dictionary = categories_text(values)
        codes = values.cat.codes.to_numpy().astype(np.int64)
        if (codes < 0).any():
            codes[codes < 0] = len(dictionary)
            dictionary = pa.concat_arrays([dictionary, pa.nulls(1, pa.large_string())])
    else:
        encoded = pc.dictionary_encode(text_array(values), null_encoding="encode")
        dictionary = encoded.dictionary
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    counts = np.bincount(codes, minlength=len(dictionary))
    first = np.full(len(dictionary), -1, dtype=np.int64)
    first[codes] = np.arange(len(codes))
    for computed in (codes, counts, first):
        computed.setflags(write=False)  # shared by every lookup of this column
    return dictionary, codes, counts, first


def arrow_identity(values: pd.Series) -> tuple | None:
    """The identity of an Arrow-backed column's data (its buffers, offsets and lengths): two
    columns with the same identity hold the same values, as long as the first one is alive
    (Arrow buffers never change). None for a column not backed by Arrow."""
    array = values.array
    if not isinstance(array, pd.arrays.ArrowExtensionArray):
        return None
    data = array.__arrow_array__()
    return tuple(_identity(chunk) for chunk in (data.chunks if isinstance(data, pa.ChunkedArray) else [data]))


def _identity(array: "pa.Array") -> tuple:
    """Where an Arrow array's data lives: its buffers' addresses and sizes, offset and length."""
    return (tuple((b.address, b.size) if b is not None else None for b in array.buffers()), array.offset, len(array))


def forget_remembered() -> None:
    """Drop the key hashes :func:`lookup`, the filters :func:`positions_in` and the codes
    :func:`encode` remember; ``run_checks`` does at the end of a run."""
    _HASHED.clear()
    _POSITIONS.clear()
    _ENCODED.clear()


def _distinct_text(values: pd.Series) -> "pa.Array":
    """A column's values for a set lookup: a categorical's categories (and null if it has a
    missing value), not one string per row."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return text_array(values)
    distinct = categories_text(values)
    return pa.concat_arrays([distinct, pa.nulls(1, pa.large_string())]) if values.isna().any() else distinct


def categories_text(values: "pd.Series | pd.Categorical") -> "pa.Array":
    """A categorical's categories as one ``large_string`` Arrow array (categories backed by
    Arrow convert to a chunked array, which the kernels that return indices refuse)."""
    categories = values.cat.categories if isinstance(values, pd.Series) else values.categories
    array = pa.array(categories.astype("string"), from_pandas=True).cast(pa.large_string())
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def positions_of(values: pd.Series, dictionary: "pa.Array") -> np.ndarray:
    """Each value's position in ``dictionary`` (a null value: the null's), -1 where absent; a
    categorical is looked up once per category. Integer positions (int32 or int64). Hashed in
    Arrow: :func:`lookup`'s probes, and the engine's statuses and severities."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        found = pc.index_in(text_chunks(values), value_set=dictionary, skip_nulls=False)
        return pc.fill_null(found, -1).to_numpy()  # int32
    categories = categories_text(values)
    per_category = pc.fill_null(pc.index_in(categories, value_set=dictionary), -1).to_numpy().astype(np.int64)
    null = pc.fill_null(pc.index_in(pa.nulls(1, pa.large_string()), value_set=dictionary, skip_nulls=False), -1)
    codes = values.cat.codes.to_numpy()
    return np.where(codes >= 0, per_category[np.maximum(codes, 0)] if len(per_category) else -1,
                    null.to_numpy()[0])


def _same_at(left: pd.Series, rows: np.ndarray, right: pd.Series, right_rows: np.ndarray) -> np.ndarray:
    """``left[rows] == right[right_rows]`` as keys compare (a missing value equals a missing
    value). A categorical ``left`` is compared on codes: ``right``'s values are looked up once
    among its categories, and no text is built per row."""
    if not isinstance(left.dtype, pd.CategoricalDtype):
        return same_values(_text_at(left, rows), _text_at(right, right_rows))
    categories = categories_text(left)
    if isinstance(right.dtype, pd.CategoricalDtype):  # right's categories placed among left's, once each
        right_codes = right.cat.codes.to_numpy()[right_rows]
        placed = pc.fill_null(pc.index_in(categories_text(right), value_set=categories), -2).to_numpy()
        theirs_missing = right_codes < 0
        theirs = per_code(right_codes, placed.astype(np.int64), -2)
    else:
        theirs = pc.index_in(text_chunks(right), value_set=categories)  # null for a missing or unknown value
        theirs_missing = pc.is_null(text_chunks(right)).to_numpy(zero_copy_only=False)[right_rows]
        theirs = pc.fill_null(theirs, -2).to_numpy().astype(np.int64)[right_rows]  # -2: a value left never holds
    mine = left.cat.codes.to_numpy()[rows].astype(np.int64)  # -1: missing
    return np.where(mine >= 0, mine == theirs, theirs_missing)


def _text_at(values: pd.Series, rows: np.ndarray) -> "pa.Array":
    """A column's text at ``rows`` (a categorical taken by code first)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return text_array(values.iloc[rows])
    return pc.take(text_chunks(values), pa.array(rows))


def same_values(mine, theirs) -> np.ndarray:
    """Element-wise equality of two Arrow arrays of one length, a missing value equal to a
    missing value (as keys compare in a merge)."""
    both_missing = pc.and_(pc.is_null(mine), pc.is_null(theirs))
    return pc.or_(pc.fill_null(pc.equal(mine, theirs), False), both_missing).to_numpy(zero_copy_only=False)


def text_array(values: pd.Series) -> "pa.Array":
    """A column as one ``large_string`` Arrow array; missing values stay null."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # each category converted once, then taken
        categories = categories_text(values)
        codes = values.cat.codes.to_numpy()
        return categories.take(pa.array(codes, mask=codes < 0))
    array = pa.array(values.astype("string"), from_pandas=True).cast(pa.large_string())
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def text_series(values: pd.Series) -> pd.Series:
    """A column (a categorical: each category converted once, then taken) as a ``string``
    Series backed by Arrow, with the same index."""
    return pd.Series(pd.arrays.ArrowStringArray(text_array(values)), index=values.index)


def text_chunks(values: pd.Series) -> "pa.ChunkedArray":
    """A column as Arrow strings, keeping its chunks (no copy of Arrow-backed text), for probes."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return pa.chunked_array([text_array(values)])
    array = pa.array(values.astype("string"), from_pandas=True)
    return array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])


def _take(values: pd.Series, positions: np.ndarray):
    """``values`` at ``positions``, missing where the position is -1 (dtype kept where it can hold NA)."""
    return pd.api.extensions.take(values.array, positions, allow_fill=True)


def map_text(values: pd.Series, function: Callable[[str], str | None]) -> pd.Series:
    """``values.map(function)`` for a text column with few distinct values, as a ``string``
    Series: ``function`` is called once per distinct value and the column is built in Arrow.
    Missing values stay missing (``function`` is not called for them)."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # encoded already: its categories, a missing value -1
        distinct, codes = categories_text(values), values.cat.codes.to_numpy()
        indices = pa.array(codes, mask=codes < 0)
    else:
        encoded = pc.dictionary_encode(text_array(values))
        distinct, indices = encoded.dictionary, encoded.indices
    mapped = pa.array([function(v) for v in distinct.to_pylist()], pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(mapped.take(indices)), index=values.index)


def lowered(values: pd.Series, strip: bool = False) -> pd.Series:
    """``values.str.lower()`` (``.str.strip().str.lower()`` with ``strip``) for a column of few
    distinct values (kinds, regions, encryption, statuses ...), worked out once per value."""
    return map_text(values, (lambda v: v.strip().lower()) if strip else str.lower)


def positions_in(table: pd.DataFrame, frame: pd.DataFrame, keys: Sequence[str]) -> np.ndarray | None:
    """The positions in ``table`` of ``frame``'s rows when ``frame``'s index still names them (a
    filter of ``table``) and the ``keys`` there are the frame's, a missing value matching a
    missing value; else None. Lets a caller take ``table``'s columns by position instead of
    hashing the keys. Remembered for the frames of the last few calls (a table several checks
    share is verified once)."""
    columns = [table[k] for k in keys if k in table.columns] + [frame[k] for k in keys if k in frame.columns]
    identities = tuple(column_identity(column) for column in columns)
    remembered = None not in identities and len(columns) == 2 * len(keys)
    index = frame.index.to_numpy()  # shallow copies of a frame share these values, not the Index object
    key = (identities, index.__array_interface__["data"][0], index.dtype.str, index.shape, index.strides, len(table))
    if remembered:
        hit = _POSITIONS.get(key)
        if hit is not None:
            return hit[0]
    positions = _positions_in(table, frame, keys)
    if positions is not None:
        positions.setflags(write=False)  # shared by the callers that verify the same frame
    if remembered:  # the frame's index kept alive with the entry, which goes with the columns' data
        _POSITIONS.put(key, index, positions, watched=[data for column in columns for data in _column_data(column)])
    return positions


def _positions_in(table: pd.DataFrame, frame: pd.DataFrame, keys: Sequence[str]) -> np.ndarray | None:
    index = table.index
    if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        return None
    if not pd.api.types.is_integer_dtype(frame.index.dtype) or any(k not in frame.columns for k in keys):
        return None
    positions = frame.index.to_numpy().astype(np.int64)
    if len(positions) and (positions.min() < 0 or positions.max() >= len(table)):
        return None
    # the most selective key first, and a few rows before all of them: most frames that are
    # not a filter of the table fail here cheaply
    ordered = list(keys)[::-1]
    for rows in (positions[:64], positions):
        for key in ordered:
            if not _same_rows(frame[key].iloc[:len(rows)], table[key], rows):
                return None
    return positions


def _same_categories(one: pd.Series, other: pd.Series) -> bool:
    """Whether two categoricals' codes mean the same values: the same categories in the same
    order (dtype equality ignores the order of unordered categories)."""
    mine, theirs = one.cat.categories, other.cat.categories
    return mine is theirs or mine.equals(theirs)


def _same_rows(values: pd.Series, column: pd.Series, rows: np.ndarray) -> bool:
    """Whether ``values`` are ``column``'s at ``rows`` (a missing value matching a missing value):
    on codes when both are categoricals over the same categories (a filter of the column)."""
    if (isinstance(values.dtype, pd.CategoricalDtype) and isinstance(column.dtype, pd.CategoricalDtype)
            and _same_categories(values, column)):
        return bool(np.array_equal(values.cat.codes.to_numpy(), column.cat.codes.to_numpy()[rows]))
    return bool(same_values(text_chunks(values).combine_chunks(),
                            text_chunks(column).take(pa.array(rows)).combine_chunks()).all())


def per_code(codes: np.ndarray, table: np.ndarray, missing, out: np.ndarray | None = None) -> np.ndarray:
    """``table[code]`` for every code of a categorical (or :func:`encode`), ``missing`` where
    the code is -1 (a missing value): a value worked out once per category, taken for every row
    (into ``out`` when given, which sets the result's type)."""
    table = np.asarray(table)
    table = np.append(np.array(missing, dtype=table.dtype), table)
    if out is not None:
        table = table.astype(out.dtype, copy=False)
    # code -1 takes the missing value put first. Shifted in place as the index type take uses
    # (it would convert smaller codes to it anyway): no further copy of millions of codes.
    index = codes.astype(np.intp)
    index += 1
    return table.take(index, out=out)


def occurring(values: pd.Categorical) -> pd.Categorical:
    """The categorical with only the categories that occur, in their order (as
    ``remove_unused_categories``, counted instead of sorting the codes)."""
    codes = values.codes
    used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(values.categories)))
    if len(used) == len(values.categories):
        return values
    remap = np.full(len(values.categories), -1, dtype=codes.dtype)
    remap[used] = np.arange(len(used))
    return pd.Categorical.from_codes(per_code(codes, remap, -1), categories=values.categories[used])


def encode(values: pd.Series) -> tuple[np.ndarray, "pa.Array"]:
    """A text column as (codes, -1 where missing; its distinct values as a large_string
    array), hashed once in Arrow (a categorical: its codes, over the categories it uses). The
    codes are the narrowest signed integers that hold them (a run's providers in one byte, its
    accounts and regions in two). :func:`unify` joins the codes of several columns."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        kept = occurring(values.array)
        dictionary = categories_text(kept)
        return narrow_codes(kept.codes, len(dictionary)), dictionary
    # Several checks pass the same column through (the kinds, accounts and regions of the
    # data-bearing resources): remembered by the column's data, like a key column's hash.
    return _ENCODED.of_column(values, lambda: _encode_text(values))


def _encode_text(values: pd.Series) -> tuple[np.ndarray, "pa.Array"]:
    encoded = pc.dictionary_encode(text_chunks(values).cast(pa.large_string()))
    if encoded.num_chunks == 0:
        return np.zeros(0, dtype=np.int8), pa.array([], pa.large_string())
    codes = np.concatenate([pc.fill_null(chunk.indices, -1).to_numpy() for chunk in encoded.chunks])
    dictionary = encoded.chunk(0).dictionary
    codes = narrow_codes(codes, len(dictionary))
    codes.setflags(write=False)  # shared by the callers that encode the same column
    return codes, dictionary


def group_numbers(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Each row's group among the distinct combinations of ``columns``, numbered 0 .. k-1 in
    order of appearance, a missing value a value of its own: what
    ``frame.groupby(columns, sort=False, dropna=False, observed=True).ngroup()`` gives. Text
    columns are encoded through :func:`encode` (remembered: the columns several checks share
    are hashed once a run), and the combinations are numbered as integers."""
    combined = np.zeros(len(frame), dtype=np.int64)
    span = 1
    for col in columns:
        codes, distinct = _column_codes(frame[col])
        span *= distinct + 1
        if span >= 2 ** 62:  # too many combinations for one integer
            return frame.groupby(list(columns), sort=False, dropna=False, observed=True).ngroup().to_numpy()
        combined = combined * (distinct + 1) + (codes.astype(np.int64) + 1)  # 0: missing
    return pd.factorize(combined, sort=False)[0].astype(np.int64)


def _column_codes(values: pd.Series) -> tuple[np.ndarray, int]:
    """(codes, -1 where missing; the number of distinct values) of one column."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), len(values.cat.categories)
    if _arrow_data(values) is not None and pd.api.types.is_string_dtype(values.dtype):
        codes, dictionary = encode(values)
        return codes, len(dictionary)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, len(uniques)


def narrow_codes(codes: np.ndarray, categories: int) -> np.ndarray:
    """``codes`` (-1 .. ``categories`` - 1) in the narrowest signed integer type that holds them."""
    return codes.astype(_code_type(categories), copy=False)


def _code_type(categories: int) -> type:
    """The narrowest signed integer type for the codes of ``categories`` values (and -1): the
    one pandas keeps a categorical's codes in."""
    for dtype in (np.int8, np.int16, np.int32):
        if categories < np.iinfo(dtype).max:
            return dtype
    return np.int64


def unify(coded: Sequence[tuple[np.ndarray, "pa.Array"]]) -> pd.Categorical:
    """One categorical over the concatenation of several (codes, dictionary) columns (as
    :func:`encode` returns, or positions into a shared array of values). A dictionary shared by
    several columns (the same object) is hashed once; duplicate values within or across the
    dictionaries become one category; a null value in a dictionary is a missing value."""
    offsets: dict[int, int] = {}
    arrays: list = []
    for _, dictionary in coded:
        if id(dictionary) not in offsets:
            offsets[id(dictionary)] = sum(len(a) for a in arrays)
            chunks = dictionary.chunks if isinstance(dictionary, pa.ChunkedArray) else [dictionary]
            arrays.extend(chunk.cast(pa.large_string()) for chunk in chunks)
    merged = pc.dictionary_encode(pa.chunked_array(arrays, pa.large_string()))
    remap = np.concatenate([np.zeros(0, dtype=np.int32)]
                           + [pc.fill_null(chunk.indices, -1).to_numpy() for chunk in merged.chunks])
    categories = merged.chunk(0).dictionary if merged.num_chunks else pa.array([], pa.large_string())
    code_type = _code_type(len(categories))  # as pandas keeps them: no second copy
    codes = np.empty(sum(len(c) for c, _ in coded), dtype=code_type)
    start = 0
    for part, dictionary in coded:
        offset = offsets[id(dictionary)]
        per_code(part, remap[offset:offset + len(dictionary)], -1, out=codes[start:start + len(part)])  # in place
        start += len(part)
    return pd.Categorical.from_codes(codes, categories=pd.Index(pd.arrays.ArrowStringArray(categories)))


def filled(values: pd.Series, text: str) -> pd.Series:
    """A text column with missing values as ``text``; a categorical stays categorical (the
    category is added once instead of every row converted)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        if not values.isna().any():
            return values
        if text not in values.cat.categories:
            values = values.cat.add_categories([text])
        return values.fillna(text)
    return values.fillna(text)


def stacked(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """``pd.concat(frames, ignore_index=True)`` that keeps categoricals cheap: a column that is a
    categorical in every frame (or missing in every row of the others) stays one, over the
    union of the categories, sorted; a column that mixes categoricals with text is text taken
    in Arrow. ``pd.concat`` makes Python strings of both (at a million rows, ~0.1 s and
    50 MB each)."""
    frames = [frame for frame in frames if frame is not None]
    if not frames:
        return pd.DataFrame()
    columns = list(dict.fromkeys(col for frame in frames for col in frame.columns))
    coded = {}
    for col in columns:
        parts = [frame[col] for frame in frames if col in frame.columns]
        categorical = [isinstance(part.dtype, pd.CategoricalDtype) for part in parts]
        if not any(categorical):
            continue
        blank = [not c and part.isna().all() for c, part in zip(categorical, parts)]
        if len(parts) == len(frames) and all(c or b for c, b in zip(categorical, blank)):
            arrays = [part.array for part, c in zip(parts, categorical) if c]
            if len({str(a.categories.dtype) for a in arrays}) > 1:  # "str" and "string" ones: all text
                arrays = [a.rename_categories(a.categories.astype("string")) for a in arrays]
            known = union_categoricals(arrays, sort_categories=True)
            given, none = iter(arrays), pd.Categorical([], categories=known.categories)
            pieces = [next(given) if c else none.take(np.full(len(part), -1), allow_fill=True)
                      for part, c in zip(parts, categorical)]
            coded[col] = union_categoricals(pieces, sort_categories=True)
        else:
            frames = [frame.assign(**{col: text_series(frame[col])}) if col in frame.columns
                      and isinstance(frame[col].dtype, pd.CategoricalDtype) else frame for frame in frames]
    out = pd.concat([frame.drop(columns=[c for c in coded if c in frame.columns]) for frame in frames],
                    ignore_index=True)
    out = out.assign(**{col: pd.Series(values, index=out.index) for col, values in coded.items()})
    return out[columns]
