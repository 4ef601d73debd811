"""Every asset materializes against the simulator and a real Redis, and the numbers hold up:
sweeps at simulated times → site_snapshots → circuit_kpis equal the KPI engine on the same
samples and agree with the simulator's ground truth."""

import json
import warnings

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest

from harness.instance_config import project_instance_overrides
from wanperf_dagster import alerts, kpi
from wanperf_dagster.dagster_io.io_manager import RedisIOManager
from wanperf_dagster.dagster_io.resources import MistApiResource, RedisResource, WanperfSettings
from wanperf_dagster.definitions import defs
from wanperf_dagster.defs.ingest import assets as ingest
from wanperf_dagster.defs.ingest import automation
from wanperf_dagster.mist import SweepConfig, run_sweep
from wanperf_dagster.settings import get_settings
from wanperf_dagster.sources import in_process_simulator
from wanperf_dagster.storage import site_day_key, site_partition_keys
from wanperf_dagster.store import get_tables, put_tables

warnings.filterwarnings("ignore", category=dg.BetaWarning)
pytestmark = [pytest.mark.dagster, pytest.mark.storage, pytest.mark.integration]

DAY0 = 1_764_115_200  # 2025-11-26 00:00 UTC
DAY = "2025-11-26"
SITES, SEED = 12, 5


@pytest.fixture
def sim():
    server = in_process_simulator(SITES, SEED)
    server.sim.clock.set(DAY0 + 300)
    yield server.sim
    server.sim.clock.set(None)


@pytest.fixture
def resources(redis_url, redis_client, sim):
    redis = RedisResource(url=redis_url, data_dir=str(get_settings().data_dir))
    return {
        "settings": WanperfSettings(),
        "redis": redis,
        "io_manager": RedisIOManager(redis=redis),
        "mist": MistApiResource(simulator_sites=SITES, simulator_seed=SEED),
    }


@pytest.fixture
def instance():
    with dg.instance_for_test(overrides=project_instance_overrides()) as inst:
        yield inst


def site_range_tags(sites):
    keys = [dg.MultiPartitionKey({"day": DAY, "site": s}) for s in sites]
    return {
        "dagster/asset_partition_range_start": keys[0],
        "dagster/asset_partition_range_end": keys[-1],
    }


def test_every_asset_materializes_and_kpis_match_engine_and_truth(
    sim, resources, instance, redis_client, monkeypatch
):
    all_assets = list(defs().assets)  # every asset of the code location

    def run(selection, **kw):
        result = dg.materialize(
            all_assets, selection=selection, resources=resources, instance=instance, **kw
        )
        assert result.success
        return result

    run([ingest.mist_sites])
    sites = get_tables(redis_client, ["mist_sites"], [None])[0][0].to_pandas()
    assert len(sites) == SITES and set(sites["region"]) <= {"AMER", "LATAM", "EMEA", "APAC"}
    site_ids = list(sites["site_id"])
    # the partitions the sensor makes: each site's name at first sight and its id
    site_keys, _ = site_partition_keys(site_ids, list(sites["name"]), [])
    assert all(k.startswith(n) for k, n in zip(site_keys, sites["name"], strict=True))
    instance.add_dynamic_partitions("site", site_keys)

    # the sweep as an asset twice, then the rest of the day through the same code, fast
    for k in range(2):
        sim.clock.set(DAY0 + k * 600 + 30)
        result = run([ingest.raw_port_stats])
        meta = result.asset_materializations_for_node("raw_port_stats")[0].metadata
        assert (
            meta["samples"].value == int(sim.org.arrays["is_wan"].sum())
            and meta["quarantined"].value == 0
        )
        [complete] = result.get_asset_check_evaluations()
        assert complete.check_name == "sweep_complete" and complete.passed
        assert complete.metadata["sites_missing"].value == 0
    client = resources["mist"].get_client()
    for k in range(2, 144):
        sim.clock.set(DAY0 + k * 600 + 30)
        run_sweep(client, redis_client, SweepConfig())

    result = run(dg.AssetSelection.groups("kpis"), tags=site_range_tags(site_keys))
    checks = result.get_asset_check_evaluations()
    assert {c.check_name for c in checks} == {
        "no_duplicate_samples",
        "kpi_bounds",
        "coverage",
        "events_agree_with_samples",
        "status_read",
    }
    assert all(c.passed for c in checks if c.check_name not in ("coverage", "status_read"))
    # no gateway's status was ever read here: each is unknown, none "fine"
    [status_read] = [c for c in checks if c.check_name == "status_read"]
    assert not status_read.passed
    unread = status_read.metadata["gateways_below"].value
    assert unread + status_read.metadata["gateways_never_seen"].value == len(sim.org.gateways)
    keys = [site_day_key(DAY, k) for k in site_keys]
    snap_tables, missing = get_tables(redis_client, ["site_snapshots"], keys)
    assert not missing
    snapshots = pd.concat([t.to_pandas() for t in snap_tables], ignore_index=True)
    assert len(snapshots) == 144 * int(sim.org.arrays["is_wan"].sum())
    kpi_tables, _ = get_tables(redis_client, ["circuit_kpis"], keys)
    stored = (
        pd.concat([t.to_pandas() for t in kpi_tables], ignore_index=True)
        .set_index("circuit_id")
        .sort_index()
    )
    regions = dict(zip(sites["site_id"], sites["region"], strict=True))
    expected = (
        kpi.daily_circuit_kpis(snapshots, 10, kpi.KpiConfig(site_regions=regions))
        .set_index("circuit_id")
        .sort_index()
    )
    for col in (
        "up_minutes",
        "down_minutes",
        "flaps",
        "rx_bytes",
        "minutes_above_90",
        "failover_minutes",
    ):
        assert (stored[col].to_numpy() == expected[col].to_numpy()).all(), col
    assert (stored["region"].astype(str) == stored["site_id"].astype(str).map(regions)).all()
    names = dict(zip(sites["site_id"], sites["name"], strict=True))
    assert (stored["site_name"].astype(str) == stored["site_id"].astype(str).map(names)).all()

    # and the truth: availability within one interval per state change
    truth = sim.world.truth(sim.org.wan_port_indices(), DAY0, 1440)
    for cid, t in truth.groupby("circuit_id"):
        changes = int(t["up"].astype(int).diff().abs().sum()) + int(t["flaps"].sum())
        assert abs(stored.loc[cid, "up_minutes"] - int(t["up"].sum())) <= 10 * (changes + 1)

    run(["region_kpis", "org_kpis", "top_offenders", "congestion_trends"], partition_key=DAY)
    org_meta = instance.get_latest_materialization_event(
        dg.AssetKey("org_kpis")
    ).asset_materialization.metadata
    assert 0 < org_meta["org_availability_pct"].value <= 100
    assert org_meta["org_availability_pct"].value == round(
        org_meta["org_availability_pct"].value, 3
    )
    assert org_meta["circuits"].value == len(stored) and org_meta["site_days_missing"].value == 0
    top_meta = instance.get_latest_materialization_event(
        dg.AssetKey("top_offenders")
    ).asset_materialization.metadata
    worst = top_meta["worst_by_availability_pct"].value.records
    lowest = stored.sort_values("availability_pct").iloc[0]
    assert worst[0].data["site_name"] == names[str(lowest["site_id"])]
    assert worst[0].data["availability_pct"] == round(float(lowest["availability_pct"]), 2)
    assert [c.name for c in top_meta["worst_by_availability_pct"].value.schema.columns] == [
        "rank",
        "site_name",
        "region",
        "circuit_id",
        "availability_pct",
        "down_seconds",
    ]

    # each site-day's materialization carries that site's own figures, not the chunk's
    events = [
        e
        for e in result.asset_materializations_for_node("circuit_kpis")
        if e.asset_key == dg.AssetKey("circuit_kpis")
    ]
    assert len(events) == SITES
    for event in events:
        site_id = event.partition.split("_")[-1]
        rows = stored[stored["site_id"].astype(str) == site_id]
        assert event.metadata["site"].value == names[site_id]
        assert (
            event.metadata["circuits"].value
            == len(rows)
            == event.metadata["dagster/row_count"].value
        )
        # one down figure: the exact seconds, and the same in minutes beside them
        assert event.metadata["down_seconds"].value == int(rows["down_seconds"].sum())
        assert event.metadata["down_minutes"].value == round(rows["down_seconds"].sum() / 60, 1)
    run(["weekly_circuit_kpis"], partition_key="2025-11-24")
    weekly = get_tables(redis_client, ["weekly_circuit_kpis"], ["2025-11-24"])[0][0].to_pandas()
    assert (
        weekly.set_index("circuit_id").sort_index()["up_minutes"].to_numpy()
        == stored["up_minutes"].to_numpy()
    ).all()
    run(["monthly_circuit_kpis"], partition_key="2025-11-01")
    monthly = get_tables(redis_client, ["monthly_circuit_kpis"], ["2025-11-01"])[0][0].to_pandas()
    assert (
        monthly.set_index("circuit_id").sort_index()["up_minutes"].to_numpy()
        == stored["up_minutes"].to_numpy()
    ).all()
    # read a slice of the sites at a time (as at 10,000 sites): the same month, row for row
    from wanperf_dagster.defs.rollups import assets as rollup_assets

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rollup_assets, "SLICE_SITES", 5)
        assert len(kpi.site_slices([str(k) for k in range(SITES)], 5)) == 3
        run(["monthly_circuit_kpis"], partition_key="2025-11-01")
    sliced = get_tables(redis_client, ["monthly_circuit_kpis"], ["2025-11-01"])[0][0].to_pandas()

    def plain(frame):  # the slices' ids come back as strings, the whole's as categories
        out = frame.astype({c: str for c in frame.columns if frame[c].dtype == "category"})
        return out.sort_values("circuit_id").reset_index(drop=True)

    pd.testing.assert_frame_equal(plain(sliced), plain(monthly), check_dtype=False)
    run(["circuit_trends_13m"], partition_key="2025-11-01")
    trends = get_tables(redis_client, ["circuit_trends_13m"], ["2025-11-01"])[0][0].to_pandas()
    assert len(trends) == len(stored) and (trends["months"] == 1).all()
    # one day of hourly KPIs is one week seen: every circuit still learning, none judged
    run(["circuit_baselines"], partition_key=DAY)
    meta = instance.get_latest_materialization_event(
        dg.AssetKey("circuit_baselines")
    ).asset_materialization.metadata
    assert meta["circuits"].value == len(stored) and meta["circuits_learning"].value == len(stored)
    assert meta["circuits_learnt"].value == 0 and meta["circuit_hours_learnt"].value == 0
    from wanperf_dagster.kpi.baselines import hour_of_week
    from wanperf_dagster.storage import AssetStore as Store

    noon = int(pd.Timestamp(f"{DAY} 12:00", tz="UTC").timestamp())
    learning = Store(redis_client).baselines_at(sim.org.id, int(hour_of_week(noon)))
    assert len(learning) == len(stored) and (learning["weeks"] == 1).all()
    assert learning["util_median"].isna().all()  # learning, not "normal at 0 %"
    from wanperf_dagster.defs.rollups import baselines as baselines_module

    with pytest.MonkeyPatch.context() as patch:  # some sites at a time: the same baselines
        patch.setattr(baselines_module, "SITES_AT_ONCE", 5)
        run(["circuit_baselines"], partition_key=DAY)
    sliced = Store(redis_client).baselines_at(sim.org.id, int(hour_of_week(noon)))
    pd.testing.assert_frame_equal(
        sliced.sort_values("circuit_id").reset_index(drop=True),
        learning.sort_values("circuit_id").reset_index(drop=True),
        check_dtype=False,
    )
    run(["circuit_baselines"], partition_key="2025-11-20")  # an older day: the newer kept
    assert Store(redis_client).baselines_built(sim.org.id)["through"] == DAY

    # the history tier holds the same site-days; once Redis lets them go, they are read from it
    from wanperf_dagster.settings import get_settings
    from wanperf_dagster.storage import AssetStore
    from wanperf_dagster.store import keys as store_keys

    assets = AssetStore.from_settings(get_settings(), client=redis_client)
    assert assets.history.days("circuit_kpis") == [DAY]
    for key in keys:
        redis_client.delete(store_keys.asset_value(["circuit_kpis"], key))
    run(["org_kpis"], partition_key=DAY)  # its input comes from the history now
    again = instance.get_latest_materialization_event(dg.AssetKey("org_kpis"))
    assert again.asset_materialization.metadata["circuits"].value == len(stored)
    assert again.asset_materialization.metadata["site_days_missing"].value == 0

    run(["wan_status_now"])
    status = get_tables(redis_client, ["wan_status_now"], [None])[0][0].to_pandas()
    assert set(status["window_hours"]) == {3, 12, 24} and status["circuit_id"].nunique() == len(
        stored
    )
    _sliced_status_equals_whole(assets, sim, monkeypatch)

    # the alerts after the sweep: stored, counted in the metadata, named by site
    run(["wan_alerts"])
    incidents = get_tables(redis_client, ["wan_alerts"], [None])[0][0].to_pandas()
    event = instance.get_latest_materialization_event(dg.AssetKey("wan_alerts"))
    meta = event.asset_materialization.metadata
    now_open = incidents[incidents["status"] == "open"]
    assert meta["open"].value == len(now_open) and meta["dagster/row_count"].value == len(incidents)
    assert sum(meta[f"open_{k}"].value for k in alerts.KINDS) == len(now_open)
    assert set(incidents["kind"]) <= set(alerts.KINDS)
    assert not (set(incidents["site_name"]) & set(incidents["site_id"]))  # names, not ids


def _sliced_status_equals_whole(assets, sim, monkeypatch) -> None:
    """`wan_status_now` reads a slice of sites at a time: the same windows as all at once, also
    when a slice's sites are stale (their newest half hour not yet swept): that slice is read
    again and its windows end where the newest sample of all ends them. And it reads only the
    slots its longest window needs (here 12 h of the day's 24): the same windows again, and the
    whole days read when the newest sample is too old for that."""
    from wanperf_dagster.defs.status import assets as status_assets
    from wanperf_dagster.defs.status.assets import sliced_window_kpis
    from wanperf_dagster.storage import day_of

    sites = [s for s, _ in assets.sites_by_age(sim.org.id)]
    now = sim.clock.now()
    days = sorted({day_of(now), day_of(now - 86400)})
    pairs = [(d, s) for d in days for s in sites]
    hours = (3, 12)
    since = (int(now) - 12 * 3600 - 600) // 600 * 600

    def ordered(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.sort_values(["circuit_id", "window_hours"]).reset_index(drop=True)

    reads: list = []  # each read's `since`

    class FirstSitesStale:  # the same store, the first slice's newest half hour not yet swept
        def read_samples(self, asked, since=None):
            reads.append(since)
            frame = assets.read_samples(asked, since=since)
            ts = pd.to_datetime(frame["ts"], utc=True)
            newest = pd.Timestamp(now, unit="s", tz="UTC").floor("10min")
            keep = ~frame["site_id"].isin(sites[:2]) | (ts < newest - pd.Timedelta(minutes=30))
            return frame[keep]

    class SweepsBehind(FirstSitesStale):  # nothing swept for the last 6 hours
        def read_samples(self, asked, since=None):
            frame = super().read_samples(asked, since)
            ts = pd.to_datetime(frame["ts"], utc=True)
            return frame[ts < pd.Timestamp(now - 6 * 3600, unit="s", tz="UTC")]

    monkeypatch.setattr(status_assets, "SITES_AT_ONCE", 2)
    assert len(sites) > 2 * status_assets.SITES_AT_ONCE
    for store in (assets, FirstSitesStale(), SweepsBehind()):
        whole = kpi.window_kpis(store.read_samples(pairs), 10, hours=hours)
        assert (
            assets.read_samples(pairs, since=since)["ts"].min()
            > assets.read_samples(pairs)["ts"].min()
        )  # the slots before `since` are not read
        for read_from in (None, since):
            reads.clear()
            sliced = sliced_window_kpis(store, sites, days, 10, None, read_from, hours)
            pd.testing.assert_frame_equal(ordered(sliced), ordered(whole), check_categorical=False)
            if read_from is not None:  # read from `since` unless the sweeps are behind
                assert (None in reads) == isinstance(store, SweepsBehind), reads


def test_partition_sensor_names_partitions_and_keeps_them_through_renames(
    resources, instance, redis_client
):
    ids = {k: f"{k * 8}-aaaa-4aaa-8aaa-{k * 12}" for k in "abcde"}

    def publish(sites: dict[str, str]):
        put_tables(
            redis_client,
            ["mist_sites"],
            {
                None: pa.table(
                    {
                        "site_id": [ids[k] for k in sites],
                        "name": list(sites.values()),
                        "region": ["EMEA"] * len(sites),
                    }
                )
            },
            None,
        )

    def evaluate():
        before = {k: redis_client.dump(k) for k in redis_client.scan_iter("*")}
        with dg.build_sensor_context(
            instance=instance, resources={"redis": resources["redis"]}
        ) as ctx:
            result = automation.site_partitions_sensor(ctx)
        after = {k: redis_client.dump(k) for k in redis_client.scan_iter("*")}
        assert before == after  # evaluating (or previewing) the sensor writes nothing
        return result

    first = evaluate()
    assert isinstance(first, dg.SensorResult) and first.run_requests  # no inventory yet: fetch it
    publish({"a": "Paris HQ", "b": "Lyon", "c": "Nice / Port"})
    result = evaluate()
    keys = result.dynamic_partitions_requests[0].partition_keys
    assert keys == [f"Paris-HQ_{ids['a']}", f"Lyon_{ids['b']}", f"Nice-Port_{ids['c']}"]
    instance.add_dynamic_partitions("site", keys)
    # Paris renamed, a decommissioned... no: Lyon decommissioned, a new site; and a partition
    # made before names (a bare id) is kept as it is
    instance.add_dynamic_partitions("site", [ids["e"]])
    publish({"a": "Paris Head Office", "c": "Nice / Port", "d": "Lille", "e": "Lens"})
    result = evaluate()
    assert result.dynamic_partitions_requests[0].partition_keys == [f"Lille_{ids['d']}"]
    instance.add_dynamic_partitions("site", [f"Lille_{ids['d']}"])
    assert instance.get_dynamic_partitions("site") == [*keys, ids["e"], f"Lille_{ids['d']}"]
    again = evaluate()  # nothing new: a renamed site keeps its partition
    assert not again.dynamic_partitions_requests and json.loads(again.cursor)["retired"] == [
        f"Lyon_{ids['b']}"
    ]


def test_backfill_automation_requests_yesterday_nightly_and_three_days_each_morning(instance):
    """The kpi_backfills conditions, evaluated as the sensor daemon does (a preview: nothing is
    launched or added): nothing before a tick, yesterday after 00:20, the last 3 complete days
    after 03:40, for every site partition and the day rollups; never today, weeks or months."""
    sites = [f"s{i:02d}" for i in range(7)]
    instance.add_dynamic_partitions("site", sites)
    definitions = defs()

    def evaluate(at: str, cursor=None):
        return dg.evaluate_automation_conditions(
            defs=definitions,
            instance=instance,
            cursor=cursor,
            evaluation_time=pd.Timestamp(at, tz="UTC").to_pydatetime(),
        )

    def requested(result) -> dict[str, set[str]]:
        return {
            r.key.to_user_string(): {
                str(k) for k in r.true_subset.expensively_compute_partition_keys()
            }
            for r in result.results
            if r.true_subset.size
        }

    first = evaluate("2025-11-27 00:10")
    assert requested(first) == {}  # no tick has passed since the last evaluation
    nightly = evaluate("2025-11-27 00:25", first.cursor)
    got = requested(nightly)
    assert got["circuit_kpis"] == {f"2025-11-26|{s}" for s in sites}
    assert got["site_snapshots"] == got["circuit_kpis"] == got["circuit_kpis_hourly"]
    for per_site_day in (
        "port_events",
        "site_sle",
        "site_sle_hourly",
        "vpn_path_kpis",
        "gateway_status",
    ):
        assert got[per_site_day] == got["circuit_kpis"], per_site_day
    for rollup in ("region_kpis", "org_kpis", "top_offenders", "congestion_trends"):
        assert got[rollup] == {"2025-11-26"}, rollup
    assert got["site_wan_health"] == {"2025-11-26"}
    assert set(got) == {
        "site_snapshots",
        "circuit_kpis",
        "circuit_kpis_hourly",
        "port_events",
        "site_sle",
        "site_sle_hourly",
        "vpn_path_kpis",
        "gateway_status",
        "site_wan_health",
        "region_kpis",
        "org_kpis",
        "top_offenders",
        "congestion_trends",
        "circuit_baselines",
    }
    later = evaluate("2025-11-27 01:00", nightly.cursor)
    assert requested(later) == {}  # once per tick
    rolling = evaluate("2025-11-27 03:45", later.cursor)
    days = {"2025-11-24", "2025-11-25", "2025-11-26"}
    assert requested(rolling)["org_kpis"] == days
    assert {k.split("|")[0] for k in requested(rolling)["circuit_kpis"]} == days
    assert len(requested(rolling)["circuit_kpis"]) == 3 * len(sites)
    assert instance.get_backfills() == [] and instance.get_runs() == []  # a preview changes nothing


def test_stale_site_refresh_sensor_and_job(sim, resources, instance, redis_client):
    from wanperf_dagster.store import keys, sites_by_age

    client = resources["mist"].get_client()
    sim.clock.set(DAY0 + 600)
    run_sweep(client, redis_client, SweepConfig())
    needed = {k: resources[k] for k in ("redis", "mist", "settings")}

    def evaluate():
        with dg.build_sensor_context(instance=instance, resources=needed) as ctx:
            return automation.stale_site_refresh_sensor(ctx)

    assert isinstance(evaluate(), dg.SkipReason)  # every site fresh
    laggard = sites_by_age(redis_client, sim.org.id)[0][0]
    redis_client.zadd(keys.cache_age(sim.org.id), {laggard: DAY0 - 7200})  # left behind
    request = evaluate()
    assert isinstance(request, dg.RunRequest)
    result = automation.stale_site_refresh_job.execute_in_process(
        resources=needed, run_config=request.run_config, instance=instance
    )
    assert result.success
    assert dict(sites_by_age(redis_client, sim.org.id))[laggard] >= DAY0 + 600
    sim.clock.set(DAY0 + 86400)  # no sweep for a day: nothing to lag behind, the sweep catches up
    assert "no recent sweep" in evaluate().skip_message


def test_sweep_completeness_names_the_sites_a_sweep_missed(redis_url, redis_client):
    from wanperf_dagster.store import keys
    from wanperf_dagster.store.sessions import SweepSession

    redis = RedisResource(url=redis_url, data_dir=str(get_settings().data_dir))
    slot = DAY0 + 600
    redis_client.zadd(
        keys.cache_age("org-1"),
        {"site-swept": slot + 5, "site-missed": slot - 600, "site-decommissioned": slot - 86400},
    )
    session = SweepSession(org_id="org-1", slot=slot)

    # before the first inventory every site swept before counts
    result = ingest.sweep_completeness(redis, [session])
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["sites_missing"].value == 2

    # with an inventory, only the sites still in it
    inventory = pd.DataFrame({"site_id": ["site-swept", "site-missed"], "region": ["EMEA"] * 2})
    put_tables(redis_client, ["mist_sites"], {None: pa.Table.from_pandas(inventory)}, None)
    result = ingest.sweep_completeness(redis, [session])
    assert not result.passed
    assert result.metadata["sites_missing"].value == 1
    assert result.metadata["first_missing"].value == "site-missed"

    # every site in, but records quarantined: still a warning
    redis_client.zadd(keys.cache_age("org-1"), {"site-missed": slot + 7})
    assert ingest.sweep_completeness(redis, [session]).passed
    session.quarantined = 3
    result = ingest.sweep_completeness(redis, [session])
    assert not result.passed and result.metadata["records_quarantined"].value == 3


def test_rollups_follow_a_re_run_of_their_site_days(instance):
    """A day's site-days materialized again (a backfill, a re-run from the UI): that day's
    rollups, and its week's and month's, are requested once the site-days are done."""
    sites = [f"s{i:02d}" for i in range(4)]
    instance.add_dynamic_partitions("site", sites)
    definitions = defs()

    def evaluate(cursor=None):
        return dg.evaluate_automation_conditions(
            defs=definitions,
            instance=instance,
            cursor=cursor,
            evaluation_time=pd.Timestamp("2025-11-28 12:00", tz="UTC").to_pydatetime(),
        )

    def requested(result) -> dict[str, set[str]]:
        return {
            r.key.to_user_string(): {
                str(k) for k in r.true_subset.expensively_compute_partition_keys()
            }
            for r in result.results
            if r.true_subset.size
        }

    first = evaluate()
    assert requested(first) == {}
    for site in sites[:2]:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "circuit_kpis", partition=dg.MultiPartitionKey({"day": "2025-11-26", "site": site})
            )
        )
    got = requested(evaluate(first.cursor))
    for rollup in ("region_kpis", "org_kpis", "top_offenders", "congestion_trends"):
        assert got[rollup] == {"2025-11-26"}, rollup
    assert got["weekly_circuit_kpis"] == {"2025-11-24"}
    assert got["monthly_circuit_kpis"] == {"2025-11-01"}
    assert "circuit_kpis" not in got and "site_snapshots" not in got


def test_the_sweep_schedule_yields_to_a_running_sweep_or_replay(
    sim, resources, instance, redis_client
):
    from wanperf_dagster.store import keys, sessions

    def tick():
        with dg.build_schedule_context(
            instance=instance, resources={"redis": resources["redis"], "mist": resources["mist"]}
        ) as ctx:
            return automation.sweep_schedule(600)(ctx)

    assert isinstance(tick(), dg.RunRequest)
    redis_client.set(keys.sweep_lock(sim.org.id), "another-sweep")
    assert "is running: this tick yields" in tick().skip_message
    redis_client.delete(keys.sweep_lock(sim.org.id))
    sessions.hold_sweeps(redis_client, 30)
    assert "replay" in tick().skip_message
    sessions.release_sweeps(redis_client)
    assert isinstance(tick(), dg.RunRequest)


def test_coverage_judges_today_against_the_time_elapsed():
    from wanperf_dagster.feeds.ports.assets import _under_covered

    rows = pd.DataFrame(
        {
            "day": [pd.Timestamp("2026-11-27").date()] * 2 + [pd.Timestamp("2026-11-26").date()],
            "circuit_id": ["a", "b", "c"],
            "up_minutes": [590, 300, 600],
            "down_minutes": [0, 0, 0],
            "samples": [59, 30, 60],
        }
    )
    noon_ten = pd.Timestamp("2026-11-27 10:10", tz="UTC").timestamp()
    low = _under_covered(rows, 10, now=noon_ten)
    # today at 10:10, 600 minutes have been sweepable: a has 98 %, b 50 %; yesterday c has 42 %
    assert sorted(low["circuit_id"]) == ["b", "c"]
    assert low.set_index("circuit_id").loc["b", "observed_pct"] == 50.0
