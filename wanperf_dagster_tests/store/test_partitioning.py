import pandas as pd
import pyarrow as pa
import pytest

from wanperf_dagster.store import decode_table, encode_table
from wanperf_dagster.store.partitioning import (
    concat_partitions,
    partition_keys_of,
    split_by_partition,
)


def _table():
    ts = pd.to_datetime(
        ["2026-11-26 23:50", "2026-11-27 00:00", "2026-11-26 00:10", "2026-11-27 12:00"], utc=True
    )
    return pa.Table.from_pandas(
        pd.DataFrame({"ts": ts, "site_id": ["b", "a", "b", "b"], "v": [1, 2, 3, 4]}),
        preserve_index=False,
    )


def test_partition_keys_from_timestamp_and_string():
    keys = partition_keys_of(_table(), ["ts", "site_id"]).to_pylist()
    assert keys == ["2026-11-26|b", "2026-11-27|a", "2026-11-26|b", "2026-11-27|b"]


def test_split_keeps_order_within_partition_and_fills_expected():
    parts = split_by_partition(
        _table(),
        ["ts", "site_id"],
        expected=["2026-11-26|b", "2026-11-27|a", "2026-11-27|b", "2026-11-28|a"],
    )
    assert parts["2026-11-26|b"].column("v").to_pylist() == [1, 3]
    assert parts["2026-11-27|a"].column("v").to_pylist() == [2]
    assert parts["2026-11-27|b"].column("v").to_pylist() == [4]
    assert parts["2026-11-28|a"].num_rows == 0
    assert parts["2026-11-28|a"].schema == _table().schema


def test_split_rejects_rows_outside_the_step():
    with pytest.raises(ValueError, match="outside this step"):
        split_by_partition(_table(), ["ts", "site_id"], expected=["2026-11-26|b"])


def test_split_missing_column():
    with pytest.raises(KeyError, match="nope"):
        split_by_partition(_table(), ["nope"])


def _org_frame(sites: int = 2000) -> pd.DataFrame:
    """Per-site rows whose id columns are categoricals over the whole org, as the KPI engine
    builds them; one null circuit; an ordered band whose order means something."""
    circuits = [f"c{i:05d}" for i in range(2 * sites)]
    frame = pd.DataFrame(
        {
            "site_id": pd.Categorical([f"s{i // 2:04d}" for i in range(2 * sites)]),
            "circuit_id": pd.Categorical(circuits),
            "util_band": pd.Categorical(
                ["critical", "normal"] * sites,
                categories=["normal", "elevated", "high", "critical"],
                ordered=True,
            ),
            "value": range(2 * sites),
        }
    )
    frame.loc[3, "circuit_id"] = None
    return frame.sample(frac=1, random_state=1)  # rows in no particular order


def test_partitions_carry_only_their_own_dictionary_values():
    table = pa.Table.from_pandas(_org_frame(), preserve_index=False)
    parts = split_by_partition(table, ["site_id"])
    one = parts["s0007"]
    assert one.column("site_id").chunk(0).dictionary.to_pylist() == ["s0007"]
    assert one.column("circuit_id").chunk(0).dictionary.to_pylist() == ["c00014", "c00015"]
    assert one.schema == table.schema  # same types, index widths included
    # stored, a two-row partition is small instead of carrying 6,000 ids
    assert len(encode_table(one)) < 3000 < len(encode_table(table.slice(0, 2)))
    # an ordered dictionary keeps every value, in its order
    assert one.column("util_band").chunk(0).dictionary.to_pylist() == [
        "normal",
        "elevated",
        "high",
        "critical",
    ]


def test_partitions_concatenate_back_to_the_same_frame_with_sorted_categories():
    frame = _org_frame()
    parts = split_by_partition(pa.Table.from_pandas(frame, preserve_index=False), ["site_id"])
    stored = [decode_table(encode_table(t)) for t in parts.values()]
    back = concat_partitions(stored).to_pandas()
    key = ["site_id", "value"]
    expected = frame.sort_values("value").reset_index(drop=True)
    got = back.sort_values("value").reset_index(drop=True)
    assert (got[key].astype(str) == expected[key].astype(str)).all().all()
    assert got["circuit_id"].isna().sum() == 1 and pd.isna(got.loc[3, "circuit_id"])
    assert list(got["circuit_id"].cat.categories) == sorted(frame["circuit_id"].dropna().unique())
    assert list(got["site_id"].cat.categories) == sorted(frame["site_id"].unique())
    assert got["util_band"].cat.ordered and list(got["util_band"].cat.categories) == [
        "normal",
        "elevated",
        "high",
        "critical",
    ]
    assert (got["util_band"] == expected["util_band"]).all()


def test_an_empty_partition_takes_the_types_of_the_partitions_with_rows():
    """A site-day with no VPN path was stored from an empty pandas frame, its `site_id` a float:
    the day's read of every site's partitions failed on it ("Field site_id has incompatible
    types: large_string vs double"). An empty partition's types say nothing; the others' win."""
    with_rows = pa.Table.from_pandas(
        pd.DataFrame({"site_id": ["s1", "s2"], "mos_min": [4.1, 3.9]}), preserve_index=False
    )
    empty = pa.Table.from_pandas(
        pd.DataFrame({"site_id": pd.Series(dtype=float), "mos_min": pd.Series(dtype=float)}),
        preserve_index=False,
    )
    assert empty.schema.field("site_id").type == pa.float64()
    for order in ([empty, with_rows], [with_rows, empty, with_rows]):
        table = concat_partitions(order)
        assert table.schema.field("site_id").type == with_rows.schema.field("site_id").type
        assert table.num_rows == 2 * sum(t is with_rows for t in order)
    only_empty = concat_partitions([empty, empty])
    assert only_empty.num_rows == 0 and only_empty.schema.field("site_id").type == pa.float64()


def test_a_day_of_more_circuits_than_a_chunk_numbers_them_in_a_wider_index():
    """pandas codes a chunk's ~1,150 circuits in int16; a day of 20,000 sites held 45,489, and
    the day rollups' read of it failed ("Integer value 45489 not in range: -32768 to 32767")."""
    chunks = [
        pa.Table.from_pandas(
            pd.DataFrame(
                {
                    "circuit_id": pd.Categorical([f"c{k:02d}-{i:05d}" for i in range(20_000)]),
                    "up_minutes": range(20_000),
                }
            ),
            preserve_index=False,
        )
        for k in range(2)
    ]
    assert chunks[0].schema.field("circuit_id").type.index_type == pa.int16()
    day = concat_partitions([decode_table(encode_table(t)) for t in chunks])
    assert day.schema.field("circuit_id").type.index_type == pa.int32()
    frame = day.to_pandas()
    assert frame["circuit_id"].nunique() == 40_000
    assert list(frame["circuit_id"].astype(str)[[0, 20_000, 39_999]]) == [
        "c00-00000",
        "c01-00000",
        "c01-19999",
    ]
    small = concat_partitions(chunks[:1] + chunks[:1])  # fits: the index stays as it was
    assert small.schema.field("circuit_id").type.index_type == pa.int16()
