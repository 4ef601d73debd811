"""KPIs computed from 10-minute samples agree with the simulator's minute-by-minute truth, within
what one sampling interval allows."""

import numpy as np
import pandas as pd
import pytest

from wanperf_dagster.kpi import daily_circuit_kpis
from wanperf_dagster.simulator import World, build_org
from wanperf_dagster.simulator.samples import world_samples

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


@pytest.fixture(scope="module")
def multi_wan_world():
    """An org with 2-, 3- and 4-circuit sites (seed 5, 60 sites: 30, 17 and 5 of them)."""
    return World(build_org(seed=5, n_sites=60))


@pytest.mark.parametrize("day", [0, 1, 2])
def test_failover_matches_truth_at_2_3_and_4_circuit_sites(multi_wan_world, day):
    """Only the circuit that took the primary's load fails over (the simulator's backup); the
    other secondaries keep carrying their own traffic and get none; the site's time on backup
    is counted once. Each within one interval per state change."""
    world = multi_wan_world
    org, a = world.org, world.org.arrays
    start = DAY0 + day * 86400
    kpis = daily_circuit_kpis(world_samples(world, start, 144, offset_s=17), INTERVAL)
    kpis = kpis.set_index("circuit_id")
    wan = org.wan_port_indices()
    truth = world.truth(wan, start, 1440)
    by_circuit = dict(tuple(truth.groupby("circuit_id")))
    circuits_per_site = pd.Series(a["site"][wan]).value_counts()

    def changes(cid) -> int:
        return int(by_circuit[cid]["up"].astype(int).diff().abs().sum())

    failing_over = {2: 0, 3: 0, 4: 0}
    for i in wan:
        n = int(circuits_per_site[a["site"][i]])
        if a["rank"][i] < 1 or n < 2:
            continue
        cid, pid = org.circuit_id(i), org.circuit_id(a["site_primary"][i])
        true_minutes = int(by_circuit[cid]["failover"].sum())
        tolerance = INTERVAL * (changes(cid) + changes(pid) + 1)
        assert abs(kpis.loc[cid].failover_minutes - true_minutes) <= tolerance, (cid, n)
        if a["rank"][i] > 1:  # not the backup: it never takes the primary's load
            assert true_minutes == 0 and kpis.loc[cid].failover_minutes == 0, (cid, n)
        failing_over[n] += int(true_minutes > 0)

    # the site ran on backup while its primary was down and a secondary was up
    for site, group in truth.groupby("site_id"):
        ports = [i for i in wan if org.sites[a["site"][i]].id == site]
        if len(ports) < 2:
            continue
        primary = org.circuit_id(a["site_primary"][ports[0]])
        t = group.pivot(index="ts", columns="circuit_id", values="up")
        secondaries = [c for c in t.columns if c != primary]
        on_backup = int((~t[primary] & t[secondaries].any(axis=1)).sum())
        tolerance = INTERVAL * (sum(changes(c) for c in t.columns) + 1)
        assert abs(kpis.loc[primary].on_backup_minutes - on_backup) <= tolerance, site
    assert kpis["failover_minutes"].sum() <= kpis["on_backup_minutes"].sum()
    if day == 1:  # the day whose truth holds failover at sites of every size
        assert all(failing_over.values()), failing_over
