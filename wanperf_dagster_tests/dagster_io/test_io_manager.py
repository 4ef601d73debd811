"""The Redis IO manager through `dagster.materialize` against a real server."""

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest

from wanperf_dagster.dagster_io.io_manager import RedisIOManager
from wanperf_dagster.dagster_io.resources import RedisResource
from wanperf_dagster.storage import datasets
from wanperf_dagster.storage.datasets import Dataset, Lifetime
from wanperf_dagster.store import decode_table, keys

pytestmark = [pytest.mark.storage, pytest.mark.dagster]

DAYS = dg.DailyPartitionsDefinition(start_date="2026-11-01")
SITES = dg.StaticPartitionsDefinition(["s1", "s2", "s3"])
SITE_DAY = dg.MultiPartitionsDefinition({"day": DAYS, "site": SITES})


# the test assets' records, as storage/datasets.py would have them
RECORDS = [
    Dataset("upstream", "asset", "none", Lifetime.LONG),
    Dataset("daily", "asset", "day", Lifetime.HOT),
    Dataset("per_day", "asset", "day", Lifetime.LONG),
    Dataset(
        "snapshots",
        "asset",
        "site_day",
        Lifetime.HOT,
        partition_columns={"day": "ts", "site": "site_id"},
    ),
    Dataset("never", "asset", "day", Lifetime.LONG),
    Dataset("unmapped", "asset", "site_day", Lifetime.HOT),
]


@pytest.fixture
def resources(redis_url, redis_client, monkeypatch):
    for record in RECORDS:
        monkeypatch.setitem(datasets.DATASETS, record.name, record)
    res = RedisResource(url=redis_url, hot_days=2)
    return {"redis": res, "io_manager": RedisIOManager(redis=res)}


def _frame(day: str, site: str, n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": pd.date_range(f"{day} 00:00", periods=n, freq="10min", tz="UTC"),
            "site_id": pd.Series([site] * n, dtype="string"),
            "circuit_id": pd.Categorical([f"{site}:ge-0/0/0"] * n),
            "rx_bytes": pd.array([1, None, 3][:n], dtype="Int64"),
            "util_pct": [10.5, 20.25, None][:n],
        }
    )


def test_unpartitioned_roundtrip_preserves_dtypes(resources, redis_client):
    frame = _frame("2026-11-02", "s1")

    @dg.asset
    def upstream() -> pd.DataFrame:
        return frame

    seen = {}

    @dg.asset
    def downstream(upstream: pd.DataFrame) -> None:
        seen["df"] = upstream

    result = dg.materialize([upstream, downstream], resources=resources)
    assert result.success
    got = seen["df"]
    pd.testing.assert_frame_equal(got, frame)
    assert str(got["ts"].dtype) == "datetime64[ns, UTC]" or str(got["ts"].dtype).endswith(", UTC]")
    assert str(got["rx_bytes"].dtype) == "Int64"
    assert isinstance(got["circuit_id"].dtype, pd.CategoricalDtype)
    meta = result.asset_materializations_for_node("upstream")[0].metadata
    assert meta["dagster/row_count"].value == 3
    assert [c.name for c in meta["dagster/column_schema"].value.columns] == list(frame.columns)
    assert redis_client.exists(keys.asset_value(["upstream"]))


def test_daily_partition_lives_as_long_as_its_record_says(resources, redis_client):
    @dg.asset(partitions_def=DAYS)
    def daily(context) -> pd.DataFrame:
        return _frame(context.partition_key, "s1")

    result = dg.materialize([daily], resources=resources, partition_key="2026-11-05")
    assert result.success
    key = keys.asset_value(["daily"], "2026-11-05")
    assert 2 * 86400 - 100 < redis_client.ttl(key) <= 2 * 86400  # hot: hot_days=2
    assert result.asset_materializations_for_node("daily")[0].metadata["ttl_days"].value == 2


def test_an_asset_the_registry_does_not_have_is_refused(resources, redis_client):
    @dg.asset
    def unregistered() -> pd.DataFrame:
        return _frame("2026-11-02", "s1")

    with pytest.raises(Exception, match="'unregistered' is not a registered dataset"):
        dg.materialize([unregistered], resources=resources)
    assert not redis_client.exists(keys.asset_value(["unregistered"]))


def test_one_partition_cut_from_an_org_frame_stores_only_its_own_ids(resources, redis_client):
    org = [f"site-{i:04d}" for i in range(2000)]

    @dg.asset(partitions_def=DAYS)
    def per_day(context) -> pd.DataFrame:
        frame = pd.DataFrame({"site_id": pd.Categorical(org), "value": range(2000)})
        return frame[frame["site_id"].isin(["site-0007", "site-0008"])]  # categories: all 2,000

    result = dg.materialize([per_day], resources=resources, partition_key="2026-11-05")
    assert (
        result.asset_materializations_for_node("per_day")[0].metadata["stored_bytes"].value < 2000
    )
    raw = redis_client.get(keys.asset_value(["per_day"], "2026-11-05"))
    stored = decode_table(raw).column("site_id").chunk(0).dictionary.to_pylist()
    assert stored == ["site-0007", "site-0008"]


def test_many_partitions_written_in_one_pipeline_and_loaded_through_mapping(
    resources, redis_client, monkeypatch
):
    """A range of day x site partitions in one step; a daily asset loads all sites of its day."""

    @dg.asset(partitions_def=SITE_DAY, backfill_policy=dg.BackfillPolicy.single_run())
    def snapshots(context) -> pd.DataFrame:
        frames = [
            _frame(k.keys_by_dimension["day"], k.keys_by_dimension["site"])
            for k in (
                dg.MultiPartitionKey(dict(x.keys_by_dimension)) for x in context.partition_keys
            )
            if k.keys_by_dimension["site"] != "s3"  # s3 has no data: stored as an empty partition
        ]
        return pd.concat(frames, ignore_index=True)

    loaded = {}

    @dg.asset(
        partitions_def=DAYS,
        ins={
            "snapshots": dg.AssetIn(
                partition_mapping=dg.MultiToSingleDimensionPartitionMapping(
                    partition_dimension_name="day"
                )
            )
        },
    )
    def per_day(context, snapshots: pa.Table) -> None:
        loaded["table"] = snapshots

    executes = []
    pipeline_cls = type(redis_client.pipeline())
    real_execute = pipeline_cls.execute

    def counting(self, *a, **kw):
        executes.append(len(self))  # the commands queued (a cluster's pipeline splits them by node)
        return real_execute(self, *a, **kw)

    monkeypatch.setattr(pipeline_cls, "execute", counting)
    keys_ = [dg.MultiPartitionKey({"day": "2026-11-03", "site": s}) for s in ("s1", "s2", "s3")]
    result = dg.materialize(
        [snapshots],
        resources=resources,
        selection=[snapshots],
        tags={
            "dagster/asset_partition_range_start": keys_[0],
            "dagster/asset_partition_range_end": keys_[-1],
        },
    )
    assert result.success
    assert executes == [3]  # three partitions, one round trip
    # the client is closed after the run, on one server as on a cluster
    assert not [
        e.message for e in result.all_events if "Teardown of resources" in (e.message or "")
    ]
    for site in ("s1", "s2", "s3"):
        assert redis_client.exists(keys.asset_value(["snapshots"], f"2026-11-03|{site}"))

    executes.clear()
    result = dg.materialize(
        [snapshots, per_day], resources=resources, selection=[per_day], partition_key="2026-11-03"
    )
    assert result.success
    assert executes == [3]
    table = loaded["table"]
    assert isinstance(table, pa.Table)
    assert sorted(set(table.column("site_id").to_pylist())) == ["s1", "s2"]
    assert table.num_rows == 6


def test_missing_partition_names_asset_and_key(resources):
    @dg.asset(partitions_def=DAYS)
    def never(context) -> pd.DataFrame:
        return _frame(context.partition_key, "s1")

    @dg.asset(partitions_def=DAYS)
    def after(never: pd.DataFrame) -> None:
        return None

    with pytest.raises(Exception, match=r"asset never: no stored value for partition 2026-11-09"):
        dg.materialize(
            [never, after], resources=resources, selection=[after], partition_key="2026-11-09"
        )


def test_multi_partition_write_without_partition_columns_fails_clearly(resources):
    @dg.asset(partitions_def=SITE_DAY, backfill_policy=dg.BackfillPolicy.single_run())
    def unmapped(context) -> pd.DataFrame:
        return _frame("2026-11-03", "s1")

    keys_ = [dg.MultiPartitionKey({"day": "2026-11-03", "site": s}) for s in ("s1", "s2")]
    with pytest.raises(Exception, match=r"storage/datasets\.py does not name the column"):
        dg.materialize(
            [unmapped],
            resources=resources,
            tags={
                "dagster/asset_partition_range_start": keys_[0],
                "dagster/asset_partition_range_end": keys_[-1],
            },
        )
