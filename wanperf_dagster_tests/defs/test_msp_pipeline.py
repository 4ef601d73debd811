"""An MSP of three orgs through the assets: one inventory and one sweep cover every org, the org is
a column of the inventory, the status and the alerts, and the day's rollups come per org (and
over the MSP) from each org's own sites only."""

import dagster as dg
import pandas as pd
import pytest

from harness.instance_config import project_instance_overrides
from wanperf_dagster import kpi
from wanperf_dagster.dagster_io.io_manager import RedisIOManager
from wanperf_dagster.dagster_io.resources import MistApiResource, RedisResource, WanperfSettings
from wanperf_dagster.definitions import defs
from wanperf_dagster.mist import SweepConfig, sweep_orgs
from wanperf_dagster.settings import get_settings
from wanperf_dagster.sources import in_process_simulator
from wanperf_dagster.storage import site_day_key, site_partition_keys
from wanperf_dagster.store import get_tables

pytestmark = [pytest.mark.dagster, pytest.mark.storage, pytest.mark.integration]

DAY0 = 1_764_115_200  # 2025-11-26 00:00 UTC
DAY = "2025-11-26"
MSP = "31:6,32:4,33:3"
ORGS = ((31, 6), (32, 4), (33, 3))


@pytest.fixture
def msp():
    server = in_process_simulator(200, 1, msp=ORGS)
    server.sim.clock.set(DAY0 + 300)
    yield server.sim
    server.sim.clock.set(None)


def test_an_msp_through_the_assets(msp, redis_url, redis_client):
    redis = RedisResource(url=redis_url, data_dir=str(get_settings().data_dir))
    mist = MistApiResource(simulator_msp=MSP)
    resources = {
        "settings": WanperfSettings(),
        "redis": redis,
        "io_manager": RedisIOManager(redis=redis),
        "mist": mist,
    }
    all_assets = list(defs().assets)
    with dg.instance_for_test(overrides=project_instance_overrides()) as instance:

        def run(selection, **kw):
            result = dg.materialize(
                all_assets, selection=selection, resources=resources, instance=instance, **kw
            )
            assert result.success
            return result

        run(["mist_sites"])
        sites = get_tables(redis_client, ["mist_sites"], [None])[0][0].to_pandas()
        org_of = {s.id: sim.org.id for sim in msp.orgs for s in sim.org.sites}
        assert len(sites) == sum(n for _, n in ORGS)
        assert dict(zip(sites["site_id"], sites["org_id"], strict=True)) == org_of
        assert set(sites["org_name"]) == {sim.org.name for sim in msp.orgs}
        site_keys, _ = site_partition_keys(list(sites["site_id"]), list(sites["name"]), [])
        instance.add_dynamic_partitions("site", site_keys)

        msp.clock.set(DAY0 + 30)
        result = run(["raw_port_stats", "wan_status_now", "wan_alerts"])
        meta = result.asset_materializations_for_node("raw_port_stats")[0].metadata
        wan_ports = sum(int(sim.org.arrays["is_wan"].sum()) for sim in msp.orgs)
        assert meta["orgs"].value == 3 and meta["orgs_not_finished"].value == 0
        assert meta["samples"].value == wan_ports
        [complete] = result.get_asset_check_evaluations()
        assert complete.passed
        status = get_tables(redis_client, ["wan_status_now"], [None])[0][0].to_pandas()
        assert (status["site_id"].astype(str).map(org_of) == status["org_id"]).all()
        assert set(status["org_id"]) == set(org_of.values())

        clients = mist.get_org_clients()
        for k in range(1, 144):  # the rest of the day, fast
            msp.clock.set(DAY0 + k * 600 + 30)
            assert not any(o.error for o in sweep_orgs(clients, redis_client, SweepConfig()))
        keys = [dg.MultiPartitionKey({"day": DAY, "site": s}) for s in site_keys]
        run(
            dg.AssetSelection.groups("kpis"),
            tags={
                "dagster/asset_partition_range_start": keys[0],
                "dagster/asset_partition_range_end": keys[-1],
            },
        )
        run(["region_kpis", "org_kpis", "top_offenders"], partition_key=DAY)

    daily = pd.concat(
        [
            t.to_pandas()
            for t in get_tables(
                redis_client, ["circuit_kpis"], [site_day_key(DAY, k) for k in site_keys]
            )[0]
        ],
        ignore_index=True,
    )
    orgs = get_tables(redis_client, ["org_kpis"], [DAY])[0][0].to_pandas()
    assert sorted(orgs["scope"]) == ["msp", "org", "org", "org"]
    for sim in msp.orgs:  # each org's row: its own circuits, rolled up alone
        own = daily[daily["site_id"].astype(str).isin([s.id for s in sim.org.sites])]
        alone = kpi.org_daily_kpis(own).iloc[0]
        row = orgs[orgs["org_id"] == sim.org.id].iloc[0]
        assert row["circuits"] == alone["circuits"] == len(own)
        assert row["down_seconds"] == alone["down_seconds"]
        assert row["availability_pct"] == pytest.approx(alone["availability_pct"])
    whole = orgs[orgs["scope"] == "msp"].iloc[0]
    assert whole["circuits"] == len(daily)
    top = get_tables(redis_client, ["top_offenders"], [DAY])[0][0].to_pandas()
    mine = top[top["scope"] == "org"]
    assert (mine["site_id"].map(org_of) == mine["org_id"]).all() and len(mine)
    regions = get_tables(redis_client, ["region_kpis"], [DAY])[0][0].to_pandas()
    assert regions.groupby("org_id")["circuits"].sum().to_dict() == (
        daily.assign(org=daily["site_id"].astype(str).map(org_of)).groupby("org").size().to_dict()
    )
