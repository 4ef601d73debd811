import pandas as pd
import pyarrow as pa
import pytest

from wanperf_dagster.store import redact_url
from wanperf_dagster.store.partitioning import partition_keys_of, split_by_partition


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


def test_redact_url():
    assert redact_url("redis://:s3cret@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert redact_url("rediss://user:pw@h:1/2") == "rediss://user:***@h:1/2"
    assert redact_url("redis://127.0.0.1:6379/15") == "redis://127.0.0.1:6379/15"
