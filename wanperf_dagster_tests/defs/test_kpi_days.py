"""A day's stored KPIs equal the KPIs of the whole history computed at once: three simulated days
swept for real, materialized through Dagster one day at a time, compared with the engine over all
three days as one input, to the last byte and flap; the interval across each midnight counts on
the later day; re-materializing a day leaves its neighbour's numbers alone."""

import dagster as dg
import pandas as pd
import pytest

from harness.instance_config import project_instance_overrides
from wanperf_dagster import kpi
from wanperf_dagster.dagster_io.io_manager import RedisIOManager
from wanperf_dagster.dagster_io.resources import MistApiResource, RedisResource, WanperfSettings
from wanperf_dagster.definitions import defs
from wanperf_dagster.mist import SweepConfig, run_sweep
from wanperf_dagster.settings import get_settings
from wanperf_dagster.sources import in_process_simulator
from wanperf_dagster.storage import AssetStore, site_day_key, site_id_of

pytestmark = [pytest.mark.dagster, pytest.mark.storage, pytest.mark.integration]

DAY0 = 1_764_115_200  # 2025-11-26 00:00 UTC
DAYS = ["2025-11-26", "2025-11-27", "2025-11-28"]
SITES, SEED = 6, 8


@pytest.fixture
def swept(redis_url, redis_client):
    """Three days of 10-minute sweeps of a 6-site org, through the real client and sweep."""
    server = in_process_simulator(SITES, SEED)
    sim = server.sim
    client = MistApiResource(simulator_sites=SITES, simulator_seed=SEED).get_client()
    try:
        for k in range(3 * 144):
            sim.clock.set(DAY0 + k * 600 + 30)
            run_sweep(client, redis_client, SweepConfig())
    finally:
        sim.clock.set(None)
    redis = RedisResource(url=redis_url, data_dir=str(get_settings().data_dir))
    return {
        "settings": WanperfSettings(),
        "redis": redis,
        "io_manager": RedisIOManager(redis=redis),
        "mist": MistApiResource(simulator_sites=SITES, simulator_seed=SEED),
    }


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype(str)
    out["day"] = out["day"].astype(str)
    return out.sort_values(keys).reset_index(drop=True)


class Days:
    """The org's sites as partitions of a test instance; the kpis group materialized a day (or a
    chunk from one day's first site to another day's last) at a time; what it stored."""

    def __init__(self, resources: dict, store: AssetStore, instance: dg.DagsterInstance):
        self.assets, self.resources = list(defs().assets), resources
        self.store, self.instance = store, instance
        self.run(["mist_sites"])
        self.sites = store.site_ids()
        instance.add_dynamic_partitions("site", self.sites)

    def run(self, selection, **kw) -> dg.ExecuteInProcessResult:
        result = dg.materialize(
            self.assets, selection=selection, resources=self.resources, instance=self.instance, **kw
        )
        assert result.success
        return result

    def materialize(self, day: str, last_day: str | None = None) -> dg.ExecuteInProcessResult:
        first, last = (
            dg.MultiPartitionKey({"day": d, "site": s})
            for d, s in ((day, self.sites[0]), (last_day or day, self.sites[-1]))
        )
        return self.run(
            dg.AssetSelection.groups("kpis"),
            tags={
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            },
        )

    def stored(self, asset: str, days: list[str]) -> pd.DataFrame:
        keys = [site_day_key(d, s) for d in days for s in self.sites]
        return self.store.load(asset, keys).to_pandas()


@pytest.fixture
def days(swept, redis_client):
    with dg.instance_for_test(overrides=project_instance_overrides()) as instance:
        yield Days(swept, AssetStore(redis_client), instance)


def test_days_materialized_one_at_a_time_equal_the_whole_history(days):
    store, sites, materialize_day, stored = days.store, days.sites, days.materialize, days.stored
    results = {day: materialize_day(day) for day in DAYS}

    snapshots = stored("site_snapshots", DAYS)
    config = kpi.KpiConfig.for_sites(store.latest("mist_sites").to_pandas())
    whole_hourly, whole_daily = kpi.circuit_kpis(snapshots, 10, config)

    daily = stored("circuit_kpis", DAYS)
    hourly = stored("circuit_kpis_hourly", DAYS)
    pd.testing.assert_frame_equal(
        _sorted(daily, ["day", "circuit_id"]), _sorted(whole_daily, ["day", "circuit_id"])
    )
    pd.testing.assert_frame_equal(
        _sorted(hourly, ["hour", "circuit_id"]), _sorted(whole_hourly, ["hour", "circuit_id"])
    )
    # the interval across midnight is counted: on each later day, every circuit's first
    # interval has a start (its counter minutes reach back to 23:50), and the volume of the
    # day is more than the day alone would give
    later = daily[daily["day"].astype(str) != DAYS[0]]
    assert (later["counter_minutes"] == 1440).all()
    alone = kpi.daily_circuit_kpis(
        snapshots[snapshots["ts"].dt.strftime("%Y-%m-%d") == DAYS[1]], 10
    )
    assert later[later["day"].astype(str) == DAYS[1]]["rx_bytes"].sum() > alone["rx_bytes"].sum()

    # each partition says whether its previous day was there
    for day, result in results.items():
        events = [
            e
            for e in result.asset_materializations_for_node("circuit_kpis")
            if e.asset_key == dg.AssetKey("circuit_kpis")
        ]
        assert len(events) == len(sites)
        for event in events:
            available = event.metadata["previous_day_available"].value
            assert available == (day != DAYS[0]), (day, event.partition)

    # re-materializing a day changes nothing, neither it nor its neighbour
    before = stored("circuit_kpis", DAYS[1:])
    materialize_day(DAYS[1])
    pd.testing.assert_frame_equal(
        _sorted(stored("circuit_kpis", DAYS[1:]), ["day", "circuit_id"]),
        _sorted(before, ["day", "circuit_id"]),
    )

    # one run across two days, as a chunk that spans midnight: each site-day's figures on
    # its materialization are its own, not its site's over both days
    across = materialize_day(DAYS[1], DAYS[2])
    rows = stored("circuit_kpis", DAYS[1:])
    per = rows.groupby([rows["day"].astype(str), rows["site_id"].astype(str)], observed=True).agg(
        circuits=("circuit_id", "size"), flaps=("flaps", "sum")
    )
    events = [
        e
        for e in across.asset_materializations_for_node("circuit_kpis")
        if e.asset_key == dg.AssetKey("circuit_kpis")
    ]
    assert len(events) == 2 * len(sites) == len(per)
    for event in events:
        dims = event.partition.keys_by_dimension
        want = per.loc[(dims["day"], site_id_of(dims["site"]))]
        assert event.metadata["circuits"].value == want["circuits"], event.partition
        assert event.metadata["flaps"].value == want["flaps"], event.partition
        assert event.metadata["previous_day_available"].value is True
    samples = stored("site_snapshots", DAYS[1:])
    per_day = samples.groupby(
        [samples["ts"].dt.strftime("%Y-%m-%d"), samples["site_id"].astype(str)], observed=True
    ).size()
    snapshot_events = across.asset_materializations_for_node("site_snapshots")
    assert len(snapshot_events) == 2 * len(sites)
    for event in snapshot_events:
        dims = event.partition.keys_by_dimension
        want = per_day.loc[(dims["day"], site_id_of(dims["site"]))]
        assert event.metadata["dagster/row_count"].value == want, event.partition


def test_an_old_site_day_is_recomputed_exactly_once_its_raw_samples_are_released(
    days, swept, redis_client
):
    """A day over for more than a day, its snapshot in the history tier: Redis lets its raw
    samples go. Recomputing it a month on, with its snapshot gone from Redis too (8 days there),
    gives the same snapshot and KPIs, from the history; a sample that lands for it after the
    release counts once."""
    from wanperf_dagster.store import keys as store_keys
    from wanperf_dagster.store import samples as sample_store

    sites = days.sites

    def stored(asset: str, day: str) -> pd.DataFrame:
        return days.stored(asset, [day])

    materialize = days.materialize
    site_days = [(DAYS[1], site_id_of(s)) for s in sites]
    raw = sample_store.read_site_days(redis_client, site_days)
    assert len(raw) == 144 * raw["circuit_id"].nunique()
    materialize(DAYS[0])
    materialize(DAYS[1])
    snapshot, daily = stored("site_snapshots", DAYS[1]), stored("circuit_kpis", DAYS[1])
    # released: no raw sample of the day left in Redis, each site-day marked
    assert sample_store.read_site_days(redis_client, site_days).empty
    assert sample_store.released_site_days(redis_client, site_days) == set(site_days)
    assert not sample_store.read_site_days(redis_client, [(DAYS[2], site_id_of(sites[0]))]).empty
    # a month on: the day's snapshots have left Redis as well
    for s in sites:
        redis_client.delete(store_keys.asset_value(["site_snapshots"], site_day_key(DAYS[1], s)))
    materialize(DAYS[1])
    again = stored("site_snapshots", DAYS[1])
    pd.testing.assert_frame_equal(_plain(again), _plain(snapshot))
    assert len(again) == len(raw)  # every sample, once
    pd.testing.assert_frame_equal(
        _sorted(stored("circuit_kpis", DAYS[1]), ["day", "circuit_id"]),
        _sorted(daily, ["day", "circuit_id"]),
    )
    # a sample of that day landing after the release: counted once, beside the rest
    server = in_process_simulator(SITES, SEED)
    try:
        server.sim.clock.set(DAY0 + 86400 + 10 * 600 + 30)
        run_sweep(swept["mist"].get_client(), redis_client, SweepConfig())
    finally:
        server.sim.clock.set(None)
    materialize(DAYS[1])
    pd.testing.assert_frame_equal(_plain(stored("site_snapshots", DAYS[1])), _plain(snapshot))


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype(str)
    return out.sort_values(["ts", "circuit_id"]).reset_index(drop=True)
