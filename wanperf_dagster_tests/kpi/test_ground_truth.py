"""KPIs computed from 10-minute samples agree with the simulator's minute-by-minute truth, within
what one sampling interval allows."""

import numpy as np
import pandas as pd
import pytest

from wanperf_dagster.kpi import daily_circuit_kpis
from wanperf_dagster.simulator import World, build_org
from wanperf_dagster_tests.sim_samples import world_samples

DAY0 = 1_764_115_200  # 2025-11-26 00:00 UTC
INTERVAL = 10


@pytest.fixture(scope="module")
def world():
    return World(build_org(seed=11, n_sites=40))


@pytest.fixture(scope="module")
def truths(world):
    cache = {}

    def get(start):
        if start not in cache:
            cache[start] = world.truth(world.org.wan_port_indices(), start, 1440)
        return cache[start].copy()

    return get


@pytest.mark.parametrize("day", [0, 1, 2])
def test_availability_flaps_failover_match_truth(world, truths, day):
    start = DAY0 + day * 86400
    kpis = daily_circuit_kpis(world_samples(world, start, 144, offset_s=17), INTERVAL).set_index(
        "circuit_id"
    )
    truth = truths(start)
    truth["minute"] = (truth["ts"] - truth["ts"].min()).dt.total_seconds().astype(int) // 60
    truth["changed"] = truth.groupby("circuit_id")["up"].diff().fillna(False).astype(bool)

    checked = 0
    for cid, t in truth.groupby("circuit_id"):
        k = kpis.loc[cid]
        changes = int(t["changed"].sum()) + int(t["flaps"].sum())
        # availability: each state change can shift at most one interval between up and down
        assert abs(k.up_minutes - int(t["up"].sum())) <= INTERVAL * changes, cid
        true_avail = t["up"].mean() * 100
        assert abs(k.availability_pct - true_avail) <= INTERVAL * changes / 1440 * 100 + 1e-9
        if changes == 0:
            assert k.up_minutes == 1440 and k.flaps == 0
        # flaps: one per sampling interval that holds at least one event; minutes that straddle
        # a sample instant (hh:m0:17) may count on either side, and events after the day's last
        # sample (23:50:17) belong to the next day's first sample
        ev = t[(t["flaps"] > 0) & (t["minute"] <= 1440 - INTERVAL)]
        intervals = set((ev.loc[ev["minute"] < 1440 - INTERVAL, "minute"] // INTERVAL).tolist())
        boundary = int((ev["minute"] % INTERVAL == 0).sum())
        assert len(intervals) - boundary <= k.flaps <= len(intervals) + boundary, cid
        assert k.flaps <= int(t["flaps"].sum())
        checked += 1
    assert checked == len(world.org.wan_port_indices())
    assert (kpis["flaps"] > 0).any() and (kpis["down_minutes"] > 0).any()


def test_failover_of_backups_matches_truth(world, truths):
    org, a = world.org, world.org.arrays
    backups = np.flatnonzero(a["rank"] == 1)
    kpis = daily_circuit_kpis(world_samples(world, DAY0, 144), INTERVAL).set_index("circuit_id")
    by_circuit = dict(tuple(truths(DAY0).groupby("circuit_id")))
    seen_failover = 0
    for i in backups:
        cid, pid = org.circuit_id(i), org.circuit_id(a["site_primary"][i])
        t_b, t_p = by_circuit[cid], by_circuit[pid]
        changes = int(
            t_p["up"].astype(int).diff().abs().sum() + t_b["up"].astype(int).diff().abs().sum()
        )
        assert abs(kpis.loc[cid].failover_minutes - int(t_b["failover"].sum())) <= INTERVAL * (
            changes + 1
        )
        seen_failover += int(t_b["failover"].sum() > 0)
    assert seen_failover > 0


def test_bytes_match_counter_truth(world, truths):
    """rx_bytes from counter deltas equals the truth counter's increase (resets included)."""
    kpis = daily_circuit_kpis(world_samples(world, DAY0, 144, offset_s=0), INTERVAL).set_index(
        "circuit_id"
    )
    truth = truths(DAY0)
    for cid, t in truth.groupby("circuit_id"):
        counter = t["rx_bytes"].to_numpy()[::INTERVAL]  # the counter at each sample instant
        d = np.diff(counter)
        expected = np.where(d < 0, counter[1:], d).sum()
        assert kpis.loc[cid].rx_bytes == expected, cid
    assert pd.Series(kpis["rx_bytes"]).gt(0).all()
