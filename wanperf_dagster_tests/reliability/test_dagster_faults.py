"""Faults around Dagster runs: a sweep writing while a chunked run reads the same site-days, and a
run worker killed with SIGKILL mid-chunk, then re-executed. Every partition ends whole and equal
to a clean computation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

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
from wanperf_dagster.storage import AssetStore, site_day_key

from .conftest import SCALE

pytestmark = [pytest.mark.dagster, pytest.mark.storage, pytest.mark.integration]

DAY0 = 1_764_115_200  # 2025-11-26
DAY = "2025-11-26"
SITES, SEED = 30, 12
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def swept(redis_url, redis_client):
    """A morning of 10-minute sweeps of a 30-site org (36 slots)."""
    sim = in_process_simulator(SITES, SEED).sim
    client = MistApiResource(simulator_sites=SITES, simulator_seed=SEED).get_client()
    for k in range(36):
        sim.clock.set(DAY0 + k * 600 + 30)
        run_sweep(client, redis_client, SweepConfig())
    yield sim
    sim.clock.set(None)


def _resources(redis_url):
    redis = RedisResource(url=redis_url, data_dir=str(get_settings().data_dir))
    return {
        "settings": WanperfSettings(),
        "redis": redis,
        "io_manager": RedisIOManager(redis=redis),
        "mist": MistApiResource(simulator_sites=SITES, simulator_seed=SEED),
    }


def _day_range(sites: list[str]) -> dict[str, str]:
    first, last = (dg.MultiPartitionKey({"day": DAY, "site": s}) for s in (sites[0], sites[-1]))
    return {
        "dagster/asset_partition_range_start": str(first),
        "dagster/asset_partition_range_end": str(last),
    }


def test_a_sweep_writing_during_a_chunked_run(swept, redis_url, redis_client, figures):
    sim = swept
    definitions = defs()
    resources = _resources(redis_url)
    errors: list[BaseException] = []
    done = []

    def sweeps():
        client = MistApiResource(simulator_sites=SITES, simulator_seed=SEED).get_client()
        try:
            for k in range(36, 36 + 6 * SCALE):
                sim.clock.set(DAY0 + k * 600 + 30)
                done.append(run_sweep(client, redis_client, SweepConfig()).samples)
        except BaseException as exc:
            errors.append(exc)

    with dg.instance_for_test(overrides=project_instance_overrides()) as instance:
        assert dg.materialize(
            list(definitions.assets),
            selection=["mist_sites"],
            resources=resources,
            instance=instance,
        ).success
        sites = AssetStore(redis_client).site_ids()
        instance.add_dynamic_partitions("site", sites)
        writer = threading.Thread(target=sweeps)
        writer.start()
        result = dg.materialize(
            list(definitions.assets),
            selection=dg.AssetSelection.groups("kpis"),
            resources=resources,
            instance=instance,
            tags=_day_range(sites),
        )
        writer.join()
    assert not errors and result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["no_duplicate_samples"] and checks["kpi_bounds"]
    figures.update(sweeps_during_run=len(done), site_days=len(sites))


RUN_CHUNK = textwrap.dedent(
    """
    import dagster as dg
    from wanperf_dagster.storage import AssetStore
    from wanperf_dagster.definitions import defs
    from wanperf_dagster.settings import get_settings
    d = defs()
    sites = AssetStore.from_settings(get_settings()).site_ids()
    first, last = (dg.MultiPartitionKey({"day": "DAY", "site": s}) for s in (sites[0], sites[-1]))
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("site", [s for s in sites
                                                 if s not in instance.get_dynamic_partitions("site")])
        result = dg.materialize(list(d.assets), selection=dg.AssetSelection.groups("kpis"),
                                resources=d.resources, instance=instance,
                                tags={"dagster/asset_partition_range_start": str(first),
                                      "dagster/asset_partition_range_end": str(last)})
        print("SUCCESS" if result.success else "FAILED", flush=True)
    """
).replace("DAY", DAY)


def test_a_run_worker_killed_mid_chunk_then_re_executed(
    swept, redis_url, redis_client, tmp_path, figures, monkeypatch
):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT / "deploy" / "dagster.yaml").read_text())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MIST_")},
        "WANPERF_REDIS_URL": redis_url,
        "WANPERF_SIM_SITES": str(SITES),
        "WANPERF_SIM_SEED": str(SEED),
        "DAGSTER_HOME": str(home),
        "WANPERF_DATA_DIR": str(tmp_path),
    }
    # mist_sites first (the chunk's input), in a run that completes
    store = AssetStore(redis_client)
    with dg.instance_for_test(overrides=project_instance_overrides()) as instance:
        assert dg.materialize(
            list(defs().assets),
            selection=["mist_sites"],
            resources=_resources(redis_url),
            instance=instance,
        ).success
    sites = store.site_ids()
    keys = [site_day_key(DAY, s) for s in sites]

    victim = subprocess.Popen(
        [sys.executable, "-c", RUN_CHUNK],
        env=env,
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the snapshots are stored: the KPI step is next
        if store.load("site_snapshots", keys, allow_missing=True).found == len(keys):
            break
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    stored_before = store.load("circuit_kpis", keys, allow_missing=True).found

    again = subprocess.run(
        [sys.executable, "-c", RUN_CHUNK],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "SUCCESS" in again.stdout, again.stderr[-3000:]

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        for asset in ("site_snapshots", "circuit_kpis", "circuit_kpis_hourly"):
            done = instance.get_materialized_partitions(dg.AssetKey(asset))
            assert {str(k) for k in done} == set(keys), asset
    # every stored partition is whole and equals a clean computation of the same samples
    snapshots = store.load("site_snapshots", keys).to_pandas()
    regions = dict(
        zip(
            store.latest("mist_sites")["site_id"].to_pylist(),
            store.latest("mist_sites")["region"].to_pylist(),
            strict=True,
        )
    )
    expected = kpi.daily_circuit_kpis(snapshots, 10, kpi.KpiConfig(site_regions=regions))
    got = store.load("circuit_kpis", keys).to_pandas()
    cols = ["circuit_id", "up_minutes", "rx_bytes", "flaps", "util_p95_pct", "failover_minutes"]
    left = got[cols].astype({"circuit_id": str}).sort_values("circuit_id").reset_index(drop=True)
    right = expected[cols].astype({"circuit_id": str}).sort_values("circuit_id")
    pd.testing.assert_frame_equal(left, right.reset_index(drop=True))
    figures.update(
        worker_kills=1,
        kpi_partitions_before_kill=stored_before,
        partitions=len(keys),
        re_executed=1,
    )
