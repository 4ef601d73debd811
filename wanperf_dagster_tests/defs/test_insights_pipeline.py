"""The WAN insight feeds end to end: sweeps and insight ingestions through a simulated day with
injected incidents, then the kpis group and the site-day view. Ground truth: port events come
back exactly, circuit down time to the second, SLE and path figures within one interval."""

import warnings

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from harness.instance_config import project_instance_overrides
from wanperf_dagster.dagster_io.io_manager import RedisIOManager
from wanperf_dagster.dagster_io.resources import MistApiResource, RedisResource, WanperfSettings
from wanperf_dagster.definitions import defs
from wanperf_dagster.defs.ingest import assets as ingest
from wanperf_dagster.feeds import InsightsConfig, run_insights
from wanperf_dagster.mist import SweepConfig, run_sweep
from wanperf_dagster.settings import get_settings
from wanperf_dagster.sources import in_process_simulator
from wanperf_dagster.storage import (
    AssetStore,
    dataset,
    history_datasets,
    site_day_key,
    site_partition_keys,
)
from wanperf_dagster.storage.schemas import mismatches
from wanperf_dagster.store import get_tables

warnings.filterwarnings("ignore", category=dg.BetaWarning)
pytestmark = [pytest.mark.dagster, pytest.mark.storage, pytest.mark.integration]

DAY0 = 1_764_115_200  # 2025-11-26 00:00 UTC
DAY = "2025-11-26"
SITES, SEED = 10, 11


@pytest.fixture
def sim():
    server = in_process_simulator(SITES, SEED)
    server.sim.clock.set(DAY0 + 30)
    yield server.sim
    server.sim.world.injections.clear()
    server.sim.clock.set(None)


def _iso(epoch: int) -> str:
    return pd.Timestamp(epoch, unit="s", tz="UTC").isoformat()


def test_insight_assets_match_the_injected_truth(sim, redis_url, redis_client, tmp_path):
    org, a = sim.org, sim.org.arrays
    wan = org.wan_port_indices()
    primaries = [i for i in wan if a["rank"][i] == 0 and a["site"][i] != 0]
    down_port, degrade_port, flap_port = primaries[0], primaries[1], primaries[2]
    dark_port = primaries[3]  # its gateway offline for an hour: no samples, no status
    # incidents at odd seconds, between samples: only events know them to the second
    sim.inject(org.circuit_id(down_port), "down", DAY0 + 5 * 3600 + 17, DAY0 + 5 * 3600 + 2843)
    sim.inject(org.circuit_id(flap_port), "flap", DAY0 + 14 * 3600 + 5, DAY0 + 15 * 3600)
    sim.inject(org.circuit_id(degrade_port), "degrade", DAY0 + 9 * 3600, DAY0 + 11 * 3600)
    sim.inject(org.circuit_id(dark_port), "offline", DAY0 + 12 * 3600 + 7, DAY0 + 13 * 3600 + 7)
    every_link = [i for i in wan if a["site"][i] == a["site"][down_port]]
    for i in every_link:  # the down port's whole site offline for 40 minutes: an SLE drop
        sim.inject(org.circuit_id(i), "down", DAY0 + 20 * 3600, DAY0 + 20 * 3600 + 2400)

    # the contracts of two circuits, and a maintenance window over the first 10 minutes of the
    # down port's outage
    sla_file, maintenance_file = tmp_path / "sla.csv", tmp_path / "maintenance.csv"
    sla_file.write_text(
        "circuit_id,provider,availability_pct,credit_pct_per_0_1,credit_cap_pct\n"
        f"{org.circuit_id(down_port)},Lumen,99.99,5,50\n"
        f"{org.circuit_id(degrade_port)},Verizon,99.5,5,\n"
    )
    window = (DAY0 + 5 * 3600 + 17, DAY0 + 5 * 3600 + 617)
    maintenance_file.write_text(
        "circuit_id,start,end,reason\n"
        f"{org.circuit_id(down_port)},{_iso(window[0])},{_iso(window[1])},splice\n"
    )
    redis = RedisResource(url=redis_url, data_dir=str(get_settings().data_dir))
    resources = {
        "settings": WanperfSettings(
            sla_file=str(sla_file), sla_maintenance_file=str(maintenance_file)
        ),
        "redis": redis,
        "io_manager": RedisIOManager(redis=redis),
        "mist": MistApiResource(simulator_sites=SITES, simulator_seed=SEED),
    }
    everything = list(defs().assets)
    with dg.instance_for_test(overrides=project_instance_overrides()) as instance:

        def run(selection, **kw):
            result = dg.materialize(
                everything, selection=selection, resources=resources, instance=instance, **kw
            )
            assert result.success
            return result

        run([ingest.mist_sites])
        sites = get_tables(redis_client, ["mist_sites"], [None])[0][0].to_pandas()
        site_keys, _ = site_partition_keys(list(sites["site_id"]), list(sites["name"]), [])
        instance.add_dynamic_partitions("site", site_keys)

        # the day: a sweep and an insight ingestion every slot (the first through the asset)
        client = resources["mist"].get_client()
        config = InsightsConfig(sle_backfill_hours=1, events_lookback_seconds=60)
        first = run([ingest.raw_wan_insights])
        meta = first.asset_materializations_for_node("raw_wan_insights")
        assert meta[0].metadata["vpn_paths"].value == len(sim.world.vpn_paths())
        [clean] = first.get_asset_check_evaluations()
        assert clean.check_name == "feeds_clean" and clean.passed
        for k in range(144):
            sim.clock.set(DAY0 + k * 600 + 30)
            run_sweep(client, redis_client, SweepConfig())
            run_insights(client, redis_client, config)
        sim.clock.set(DAY0 + 86400 + 600 + 30)  # the next slot's ingestion covers the day's end
        run_insights(client, redis_client, config)

        tags = {
            "dagster/asset_partition_range_start": dg.MultiPartitionKey(
                {"day": DAY, "site": site_keys[0]}
            ),
            "dagster/asset_partition_range_end": dg.MultiPartitionKey(
                {"day": DAY, "site": site_keys[-1]}
            ),
        }
        kpis_run = run(dg.AssetSelection.groups("kpis"), tags=tags)
        run(["site_wan_health", "org_kpis"], partition_key=DAY)
        sla_run = run(["sla_report", "sla_outages"], partition_key="2025-11-01")

    keys = [site_day_key(DAY, k) for k in site_keys]

    def load(asset):
        tables, missing = get_tables(redis_client, [asset], keys)
        assert not missing
        return pd.concat([t.to_pandas() for t in tables], ignore_index=True)

    # port events: exactly the world's changes of the day
    events = load("port_events")
    truth = sim.world.port_events(wan, DAY0, DAY0 + 86400)
    ports_only = events[events["circuit_id"].notna()]  # beside the gateways' offline rows
    assert set(events.loc[events["circuit_id"].isna(), "event"]) <= {"offline", "online"}
    got = sorted(
        zip(
            ports_only["ts"].map(lambda x: x.timestamp()),
            ports_only["circuit_id"],
            ports_only["event"],
            strict=True,
        )
    )
    want = sorted(
        (float(t), org.circuit_id(p), e)
        for t, p, e in zip(truth["ts"], truth["port"], truth["event"], strict=True)
    )
    assert got == want and len(got) > 20
    # and in the history tier, for good: DuckDB reads the same events and SLE days
    assets = AssetStore.from_settings(get_settings(), client=redis_client)
    history = assets.history_query(
        "SELECT (SELECT count(*) FROM port_events) AS events, (SELECT count(*) FROM site_sle) AS sle"
    ).to_pylist()[0]
    assert history == {"events": len(events), "sle": SITES}
    # every history dataset of the registry: stored as its record declares, a view in DuckDB
    for name in history_datasets():
        stored = assets.load(name, keys).table
        assert stored.num_rows > 0, name
        assert mismatches(stored.schema, dataset(name).schema) == [], name
        counted = assets.history_query(f'SELECT count(*) AS n FROM "{name}"').to_pylist()[0]
        assert counted["n"] == stored.num_rows, name

    # each site-day's materialization carries its own figures
    downs_by_site = events[events["event"] == "down"].groupby("site_id").size()
    for m in kpis_run.asset_materializations_for_node("port_events"):
        site_id = m.partition.keys_by_dimension["site"].rsplit("_", 1)[-1]
        assert m.metadata["downs"].value == downs_by_site.get(site_id, 0), site_id
    bands = {
        m.partition.keys_by_dimension["site"].rsplit("_", 1)[-1]: m.metadata["band"].value
        for m in kpis_run.asset_materializations_for_node("site_sle")
        if m.asset_key == dg.AssetKey("site_sle")
    }
    assert len(bands) == SITES

    # circuit KPIs: down seconds and flaps from the events, equal to the truth to the second
    kpis = load("circuit_kpis").set_index("circuit_id")
    assert (kpis["state_source"] == "events").all()
    intervals = sim.world.down_intervals(wan, DAY0, DAY0 + 86400)
    clipped = intervals["up"].clip(upper=DAY0 + 86400) - intervals["down"].clip(lower=DAY0)
    down_truth = clipped.groupby(intervals["circuit_id"]).sum()
    # a flap is any change of its state in the day, a gateway going dark and coming back too
    inside = lambda t: (t > DAY0) & (t < DAY0 + 86400)  # noqa: E731
    flaps_truth = (
        (inside(intervals["down"]).astype(int) + inside(intervals["up"]).astype(int))
        .groupby(intervals["circuit_id"])
        .sum()
    )
    for cid, row in kpis.iterrows():
        assert row["down_seconds"] == down_truth.get(cid, 0), cid
        assert row["flaps"] == flaps_truth.get(cid, 0), cid
        assert abs(row["availability_pct"] - (86400 - down_truth.get(cid, 0)) / 864) < 1e-9
    assert (kpis["observed_seconds"] == 86400).all()
    # and the org's day weighs every circuit's exact down time, not its sampled minutes
    [org_day] = get_tables(redis_client, ["org_kpis"], [DAY])[0][0].to_pylist()
    exact = 100 * (1 - sum(down_truth.get(cid, 0) for cid in kpis.index) / (86400 * len(kpis)))
    assert org_day["down_seconds"] == kpis["down_seconds"].sum()
    assert abs(org_day["availability_pct"] - exact) < 1e-9
    # the down port's site-day in the UI: its availability from the same exact seconds
    site_of_hit = str(kpis.loc[org.circuit_id(down_port), "site_id"])
    [meta] = [
        m.metadata
        for m in kpis_run.asset_materializations_for_node("circuit_kpis")
        if m.asset_key == dg.AssetKey("circuit_kpis")
        and m.partition.keys_by_dimension["site"].endswith(site_of_hit)
    ]
    on_site = kpis[kpis["site_id"].astype(str) == site_of_hit]
    down_on_site = sum(down_truth.get(cid, 0) for cid in on_site.index)
    assert meta["down_seconds"].value == down_on_site
    assert meta["availability_pct"].value == round(
        100 * (1 - down_on_site / (86400 * len(on_site))), 3
    )
    hit = kpis.loc[org.circuit_id(down_port)]
    assert hit["down_seconds"] >= 2826 + 2400 and hit["down_seconds"] % 60 != 0
    assert kpis.loc[org.circuit_id(flap_port), "flaps"] >= 24  # 12 bounces of 20 s

    # the SLA report of the month (its one day here), from the history tier: each circuit's
    # availability from the exact seconds, its outages to the second, the window left out
    report = (get_tables(redis_client, ["sla_report"], ["2025-11-01"])[0][0].to_pandas()).set_index(
        "circuit_id"
    )
    assert len(report) == len(kpis) and set(report.index) == set(kpis.index)
    hit = report.loc[org.circuit_id(down_port)]
    assert hit["provider"] == "Lumen" and hit["maintenance_seconds"] == 600
    assert hit["down_in_maintenance_seconds"] == 600
    down = down_truth[org.circuit_id(down_port)]
    assert hit["availability_pct"] == pytest.approx(100 * (1 - (down - 600) / (86400 - 600)))
    assert not hit["met"] and hit["credit_pct"] == 50.0
    assert report.loc[org.circuit_id(degrade_port), "provider"] == "Verizon"
    assert (
        report.drop(index=[org.circuit_id(down_port), org.circuit_id(degrade_port)])["provider"]
        == "(no contract)"
    ).all()
    found = get_tables(redis_client, ["sla_outages"], ["2025-11-01"])[0][0].to_pandas()
    got_outages = sorted(
        (c, int(s.timestamp()), int(e.timestamp()))
        for c, s, e in zip(found["circuit_id"], found["start"], found["end"], strict=True)
    )
    want_outages = sorted(
        (c, max(int(d), DAY0), min(int(u), DAY0 + 86400))
        for c, d, u in zip(intervals["circuit_id"], intervals["down"], intervals["up"], strict=True)
    )
    assert got_outages == want_outages and len(got_outages) > 10
    [meta] = [
        m
        for m in sla_run.asset_materializations_for_node("sla_month")
        if m.asset_key == dg.AssetKey("sla_report")
    ]
    assert meta.metadata["circuits_below_sla"].value >= 1

    # site SLE: the day's means of the hours the simulator served
    sle = load("site_sle").set_index("site_id")
    hourly = pd.concat(
        [
            sim.world.site_sle(np.arange(SITES), DAY0 + h * 3600, DAY0 + (h + 1) * 3600)
            for h in range(24)
        ]
    )
    means = hourly.groupby("site")["wan_link_health"].mean()
    for s, value in means.items():
        assert abs(sle.loc[org.sites[s].id, "wan_link_health"] - value) < 1e-9
    served = load("site_sle_hourly")
    assert len(served) == 24 * SITES
    by_hour = served.set_index(["site_id", served["hour"].map(lambda x: int(x.timestamp()))])
    for h in (5, 20):
        truth_hour = sim.world.site_sle(np.arange(SITES), DAY0 + h * 3600, DAY0 + (h + 1) * 3600)
        for row in truth_hour.itertuples():
            got = by_hour.loc[(org.sites[row.site].id, DAY0 + h * 3600)]
            assert got["wan_link_health"] == row.wan_link_health
    assert all(bands[site] == str(row["wan_link_health_band"]) for site, row in sle.iterrows())
    dropped = sle.loc[org.sites[a["site"][down_port]].id]
    assert dropped["wan_link_health_min"] <= 0.4 and dropped["hours_below_fair"] >= 1

    # VPN paths: the degraded path's two hours over the critical latency tier, within a slot
    paths = load("vpn_path_kpis").set_index("circuit_id")
    degraded = paths.loc[org.circuit_id(degrade_port)]
    assert abs(degraded["latency_minutes_critical"] - 120) <= 10
    assert degraded["loss_p95_pct"] >= 8 and degraded["mos_min"] < 3.5
    # its site-day in the UI names it as the worst path
    [path_meta] = [
        m.metadata
        for m in kpis_run.asset_materializations_for_node("vpn_path_kpis")
        if m.partition.keys_by_dimension["site"].endswith(str(degraded["site_id"]))
    ]
    assert path_meta["worst_path"].value.startswith(f"{degraded['path_id']} (MOS ")
    assert path_meta["worst_mos"].value == round(float(degraded["mos_min"]), 2)
    # a path's availability is its state at each slot's ingestion (either end down: down)
    slots = DAY0 + 600 * np.arange(144) + 30
    all_paths = sim.world.vpn_paths()
    for port in (down_port, degrade_port):
        path = all_paths[all_paths[:, 0] == port]
        up = sim.world.path_state(np.repeat(path, 144, axis=0), slots)["up"]
        assert paths.loc[org.circuit_id(port), "down_minutes"] == 10 * int((~up).sum())
    assert paths.loc[org.circuit_id(down_port), "down_minutes"] >= 80  # both outages seen

    # gateways: each slot's status as the world had it (offline, or within 240 s of a boot),
    # every slot read, the restarts seen between connected slots
    gateways = load("gateway_status").set_index("mac")
    assert len(gateways) == len(org.gateways) and (gateways["unknown_minutes"] == 0).all()
    for g, gw in enumerate(org.gateways):
        devs = np.full(144, g)
        boot = sim.world.last_reboot(devs, slots)
        down = sim.world.offline(devs, slots) | (slots - boot < 240)
        up_boots = boot[~down]
        row = gateways.loc[gw.mac]
        assert row["disconnected_minutes"] == 10 * int(down.sum()), gw.mac
        assert row["connected_minutes"] == 10 * int((~down).sum()), gw.mac
        assert row["reboots"] == int((np.diff(up_boots) != 0).sum()), gw.mac
    dark = gateways.loc[org.gateways[a["dev"][dark_port]].mac]
    assert dark["disconnected_minutes"] >= 60 and dark["offline_periods"] >= 1
    assert gateways["reboots"].sum() > 0  # the day has restarts to find

    # the site-day view names the outage
    view = (
        get_tables(redis_client, ["site_wan_health"], [DAY])[0][0].to_pandas().set_index("site_id")
    )
    row = view.loc[org.sites[a["site"][down_port]].id]
    assert row["likely_cause"] == "outage" and row["down_seconds"] >= 2826 + 2400
    assert len(view) == SITES


def test_the_feeds_check_fails_on_a_quarantined_record():
    from wanperf_dagster.feeds import InsightsResult

    result = InsightsResult()
    assert ingest.feeds_clean(result, ("sle", "paths", "events")).passed
    result.quarantined["paths"] = 2
    check = ingest.feeds_clean(result, ("sle", "paths", "events"))
    assert not check.passed and check.metadata["quarantined_paths"].value == 2
    assert check.severity == dg.AssetCheckSeverity.WARN
