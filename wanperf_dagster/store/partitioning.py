"""Split one Arrow table into per-partition slices, and put partitions back together.

A step that materializes many partitions converts its frame to Arrow once, then this module
sorts the rows by partition key and slices them (zero-copy views; dictionary columns get one
sorted dictionary, and each slice the values it uses, all worked out at once), instead of
building one pandas sub-frame per partition: measured, 2,000 slices serialize in 0.5 s against
7.5 s for 2,000 pandas sub-frames converted one by one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _key_part(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_timestamp(column.type):
        # the UTC day; a cast, not strftime (measured 20x faster on 576k rows)
        column = column.cast(pa.timestamp(column.type.unit, tz="UTC")).cast(pa.date32())
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column.cast(pa.string())


def partition_keys_of(table: pa.Table, columns: Sequence[str], sep: str = "|") -> pa.ChunkedArray:
    """The partition key of every row: the given columns as strings joined by `sep`.

    Timestamp columns contribute their UTC day (`YYYY-MM-DD`), which is how a daily partition
    names itself.
    """
    _check_columns(table, columns)
    parts = [_key_part(table.column(c)) for c in columns]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, sep)


def compact_dictionaries(table: pa.Table, columns: Sequence[int] | None = None) -> pa.Table:
    """Re-encode unordered dictionary columns with only the values the table uses, sorted (as
    pandas orders categories), in the same index type.

    A slice keeps the whole dictionary of the table it was cut from: every site's and circuit's
    id in each site-day partition (measured for a 2,000-site org: a site-day of circuit_kpis
    stored in 85.7 KB instead of 16.6 KB, decoded into 195 KB of Arrow memory). Ordered
    dictionaries (where the order means something) are left whole."""
    if columns is None:
        columns = [i for i, f in enumerate(table.schema) if pa.types.is_dictionary(f.type)]
    for i in columns:
        field = table.schema.field(i)
        column = table.column(i)
        if field.type.ordered:
            continue
        encoded = _encode_sorted(column, field.type)
        table = table.set_column(i, field.with_type(encoded.type), encoded)
    return table


def concat_partitions(tables: Sequence[pa.Table]) -> pa.Table:
    """The inverse of `split_by_partition`: one table, its unordered dictionary columns in one
    sorted dictionary (as pandas builds categories), whatever each partition's held."""
    if len(tables) == 1:
        return compact_dictionaries(tables[0])
    full = [t for t in tables if t.num_rows]
    if full and len(full) < len(tables):
        tables = _empty_ones_retyped(tables, full)
    return compact_dictionaries(pa.concat_tables(tables, promote_options="permissive"))


def _empty_ones_retyped(tables: Sequence[pa.Table], full: Sequence[pa.Table]) -> list[pa.Table]:
    """An empty partition's column types say nothing (pandas makes an empty column a float, and
    a site with no VPN path stored its `site_id` so): where a partition with rows has the
    column, the empty one takes that type, so one empty site-day never fails a day's read."""
    types: dict[str, pa.DataType] = {}
    for table in full:
        for field in table.schema:
            types.setdefault(field.name, field.type)
    metadata = full[0].schema.metadata
    return [
        table
        if table.num_rows
        else pa.schema(
            [f.with_type(types.get(f.name, f.type)) for f in table.schema], metadata=metadata
        ).empty_table()
        for table in tables
    ]


_INDEX_TYPES = (pa.int8(), pa.int16(), pa.int32(), pa.int64())


def _index_type_for(size: int, index_type: pa.DataType) -> pa.DataType:
    """`index_type`, or the narrowest wider one that can number `size` values: pandas gives a
    site-day's few circuits int8 codes and a chunk's int16, and a day of 20,000 sites holds more
    than 32,767 circuits."""
    if size <= 2 ** (index_type.bit_width - 1):
        return index_type
    return next(t for t in _INDEX_TYPES if size <= 2 ** (t.bit_width - 1))


def _encode_sorted(column: pa.ChunkedArray, dict_type: pa.DictionaryType) -> pa.Array:
    values = column.cast(dict_type.value_type).combine_chunks()
    dictionary = pc.unique(values.drop_null())
    dictionary = dictionary.take(pc.sort_indices(dictionary))
    index_type = _index_type_for(len(dictionary), dict_type.index_type)
    indices = pc.index_in(values, value_set=dictionary).cast(index_type)
    return pa.DictionaryArray.from_arrays(indices, dictionary)


class _SlicedDictionary:
    """A dictionary column with a sorted dictionary, cut at the given row boundaries into
    slices that each hold only the values they use (still sorted, in the same index type).

    Every slice's values and indices are worked out at once with numpy; each slice is then two
    zero-copy views, so cutting 2,000 partitions costs a few array operations, not 2,000."""

    def __init__(self, column: pa.ChunkedArray, starts: np.ndarray, ends: np.ndarray):
        array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        self.type = array.type
        indices = array.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        valid = array.indices.is_valid().to_numpy(zero_copy_only=False)
        size = max(len(array.dictionary), 1)
        slice_of_row = np.repeat(np.arange(len(starts), dtype=np.int64), ends - starts)
        combined = slice_of_row * size + np.where(valid, indices, 0)
        used = np.unique(combined[valid])  # (slice, value) pairs, by slice then value
        first = np.searchsorted(used, np.arange(len(starts) + 1, dtype=np.int64) * size)
        local = np.searchsorted(used, combined) - first[slice_of_row]
        self.indices = pa.array(
            local.astype(self.type.index_type.to_pandas_dtype()),
            type=self.type.index_type,
            mask=None if valid.all() else ~valid,
        )
        self.values = array.dictionary.take(pa.array(used % size, type=pa.int64()))
        self.first = first.tolist()

    def part(self, k: int, start: int, end: int) -> pa.DictionaryArray:
        lo, hi = self.first[k], self.first[k + 1]
        return pa.DictionaryArray.from_arrays(
            self.indices.slice(start, end - start), self.values.slice(lo, hi - lo)
        )


def _check_columns(table: pa.Table, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise KeyError(
            f"partition column(s) {missing} not in the table (columns: {table.column_names})"
        )


def _row_codes(
    table: pa.Table,
    columns: Sequence[str],
    sep: str,
    value_maps: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """An integer code per row and the key string of each code, without building a string per row.

    Each column is dictionary-encoded on its own; the codes combine arithmetically, and only the
    distinct combinations are turned into key strings.
    """
    codes = np.zeros(table.num_rows, dtype=np.int64)
    dictionaries = []
    for column in columns:
        encoded = _key_part(table.column(column)).combine_chunks().dictionary_encode()
        values = encoded.dictionary.to_pylist()
        if value_maps and column in value_maps:  # e.g. a site id -> its partition key
            mapping = value_maps[column]
            values = [mapping.get(v, v) for v in values]
        codes = codes * len(values) + encoded.indices.to_numpy(zero_copy_only=False)
        dictionaries.append(values)
    unique, inverse = np.unique(codes, return_inverse=True)
    names = []
    for code in unique.tolist():
        parts = []
        for values in reversed(dictionaries):
            code, index = divmod(code, len(values))
            parts.append(values[index])
        names.append(sep.join(reversed(parts)))
    return inverse, names


def split_by_partition(
    table: pa.Table,
    columns: Sequence[str],
    expected: Sequence[str] | None = None,
    sep: str = "|",
    value_maps: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, pa.Table]:
    """Map each partition key to the rows of that partition (zero-copy slices of one sort).

    With `expected`, every expected key is present (an empty table when it has no rows) and rows
    whose key is not expected raise: a step must not silently write outside its partitions.
    `value_maps` turns a column's values into their key parts (a site id into its partition key).
    """
    _check_columns(table, columns)
    out: dict[str, pa.Table] = {}
    if table.num_rows:
        codes, names = _row_codes(table, columns, sep, value_maps)
        order = np.argsort(codes, kind="stable")
        sorted_table = table.take(pa.array(order))
        sorted_codes = codes[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        ends = np.r_[starts[1:], len(sorted_codes)]
        dictionary_columns = [
            i
            for i, field in enumerate(table.schema)
            if pa.types.is_dictionary(field.type) and not field.type.ordered
        ]
        # one sorted dictionary per column for the whole table, then each slice keeps the
        # values it uses with numpy on the indices: no Arrow call per slice and column
        sorted_table = compact_dictionaries(sorted_table, dictionary_columns)
        encoded = [
            _SlicedDictionary(sorted_table.column(i), starts, ends) for i in dictionary_columns
        ]
        fields = [sorted_table.schema.field(i) for i in dictionary_columns]
        for k, (start, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            part = sorted_table.slice(start, end - start)
            for i, field, column in zip(dictionary_columns, fields, encoded, strict=True):
                part = part.set_column(i, field, column.part(k, start, end))
            out[names[sorted_codes[start]]] = part
    if expected is not None:
        unexpected = sorted(set(out) - set(expected))
        if unexpected:
            raise ValueError(
                f"{sum(out[k].num_rows for k in unexpected)} rows belong to partitions outside "
                f"this step ({', '.join(unexpected[:5])}{'...' if len(unexpected) > 5 else ''})"
            )
        empty = table.schema.empty_table()
        out = {key: out.get(key, empty) for key in expected}
    return out
