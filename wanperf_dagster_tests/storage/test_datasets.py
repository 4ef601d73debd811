"""The dataset registry is the one list: the code location's assets, the history's views, the
lifetimes and the schemas all agree with it."""

import pyarrow as pa
import pytest

from wanperf_dagster.dagster_io.partitions import partitioning_of
from wanperf_dagster.definitions import defs
from wanperf_dagster.settings import RAW_SAMPLE_DAYS, Settings
from wanperf_dagster.storage import DATASETS, Lifetime, Lifetimes, dataset, history_datasets
from wanperf_dagster.storage.datasets import FEEDS, PARTITIONINGS, raw_feed_of
from wanperf_dagster.storage.schemas import logical_type, mismatches

pytestmark = pytest.mark.dagster


def test_every_asset_of_the_code_location_has_a_record_and_every_record_an_asset():
    partitioning = partitioning_of(defs())
    assets = {d.name: d for d in DATASETS.values() if d.kind == "asset"}
    assert set(partitioning) == set(assets)
    for name, kind in partitioning.items():
        assert assets[name].partitioning == kind, name


def test_records_are_complete():
    for d in DATASETS.values():
        assert d.partitioning in PARTITIONINGS, d.name
        assert d.feed is None or d.feed in FEEDS, d.name
        if d.partitioning == "site_day":  # a chunk's rows are split by these
            assert set(d.partition_columns) == {"day", "site"}, d.name
        if d.history:  # the history is the contract a user queries: declared, site-days
            assert d.partitioning == "site_day" and d.schema is not None, d.name
            assert d.lifetime in (Lifetime.HOT, Lifetime.SAMPLES), d.name
            assert set(d.partition_columns.values()) <= set(d.schema.names), d.name
    assert {raw_feed_of(f).name for f in FEEDS} == {
        "port_samples",
        "sle_feed",
        "paths_feed",
        "events_feed",
        "devices_feed",
    }
    assert history_datasets() == [
        "site_snapshots",
        "circuit_kpis",
        "circuit_kpis_hourly",
        "port_events",
        "site_sle",
        "site_sle_hourly",
        "vpn_path_kpis",
        "gateway_status",
    ]


def test_an_unknown_name_is_a_clear_error():
    with pytest.raises(KeyError, match="'circuit_kpi' is not a registered dataset"):
        dataset("circuit_kpi")


def test_lifetimes_come_from_the_settings_once():
    settings = Settings(hot_days=40, rollup_ttl_days=200)
    lifetimes = Lifetimes.from_settings(settings)
    assert lifetimes.seconds(Lifetime.RAW) == RAW_SAMPLE_DAYS * 86400
    assert lifetimes.seconds(Lifetime.HOT) == 40 * 86400
    assert lifetimes.seconds(Lifetime.LONG) == 200 * 86400
    assert Lifetime.HOT.days(settings) == 40 and Lifetime.RAW.days(settings) == RAW_SAMPLE_DAYS


def test_schema_mismatches_name_what_differs():
    declared = dataset("port_events").schema
    assert logical_type(pa.large_string()) == logical_type(pa.dictionary(pa.int8(), pa.string()))
    same = pa.schema([pa.field(f.name, pa.large_string()) for f in declared]).set(
        0, pa.field("ts", pa.timestamp("us", "UTC"))
    )
    assert mismatches(same, declared) == []
    retyped = same.set(1, pa.field("site_id", pa.int64()))
    assert mismatches(retyped, declared) == ["site_id: stored int64, declared string"]
    assert "declared, not stored: ['text']" in mismatches(same.remove(7), declared)[0]
