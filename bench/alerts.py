"""The alert evaluation after a sweep (`wan_alerts`' work) at the end of a day of samples: the
worst case, when the day's hashes hold 144 slots and the rules need the last two hours.

`python -m bench alerts` (env WANPERF_BENCH_ALERTS_SITES, default 2000; #30's goal is 10,000
sites in <= 2 s and <= 512 MiB). A day of 10-minute samples of the simulated org is written as
the sweep writes it, with a region's 40 sites down for the last hour; then `alerts.evaluate`
runs (no destination: the rules, the grouping and the alert state's bookkeeping), three times,
each in a process of its own so its peak is its own, beside the same evaluation reading the
site-day hashes' judged slots (what it did before the sweep kept its recent window)."""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import sys
import time

import numpy as np
import pandas as pd

from wanperf_dagster import alerts
from wanperf_dagster.kpi import KpiConfig
from wanperf_dagster.simulator import World, build_org
from wanperf_dagster.simulator.samples import world_samples
from wanperf_dagster.storage import AssetStore, day_of
from wanperf_dagster.store import connect
from wanperf_dagster.store import insights as feed_store

from ._common import bench_redis, child_report, row, store_samples

SITES = int(os.environ.get("WANPERF_BENCH_ALERTS_SITES", "2000"))
DAY0 = 1_764_115_200  # 2025-11-26
NOW = DAY0 + 143 * 600 + 30  # the day's last slot
ORG = "bench-alerts"
SLOTS_AT_ONCE = 12


def _write_day(client, world: World) -> tuple[int, list[str]]:
    """The day's samples as the sweep stores them (and the circuits' register); returns the
    samples written and the down region's sites."""
    org = world.org
    wan = org.wan_port_indices()
    dark = [k for k, s in enumerate(org.sites) if s.region == "APAC" and k][:40]
    dark_ports = np.isin(org.arrays["site"][wan], dark)
    written = 0
    for first in range(0, 144, SLOTS_AT_ONCE):
        frame = world_samples(world, DAY0 + first * 600, min(SLOTS_AT_ONCE, 144 - first))
        ts = (frame["ts"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
        # the region's last hour: down
        hit = frame["circuit_id"].isin({org.circuit_id(p) for p in wan[dark_ports]}) & (
            ts >= NOW - 3600
        )
        frame = frame.assign(ts=ts, up=frame["up"].where(~hit, False))
        # the recent window as the sweep keeps it (the rules' hours): its last three hours
        keep = frame[frame["ts"] >= NOW - 3 * 3600]
        written += store_samples(client, frame[frame["ts"] < NOW - 3 * 3600])
        written += store_samples(client, keep, org_id=ORG)
    pipe = client.pipeline(transaction=False)
    by_site: dict[str, list[str]] = {}
    for p in wan:
        by_site.setdefault(org.sites[org.arrays["site"][p]].id, []).append(org.circuit_id(p))
    for site, circuits in by_site.items():
        feed_store.queue_circuits_seen(pipe, site, circuits, DAY0, 7 * 86400)
    pipe.execute()
    return written, [org.sites[k].id for k in dark]


def _evaluate(url: str) -> None:
    """One evaluation in this process: REPORT its seconds, peak RSS and what it found."""
    world_org = build_org(seed=1, n_sites=SITES)
    sites = [s.id for s in world_org.sites]
    config = KpiConfig(
        site_regions={s.id: s.region for s in world_org.sites},
        site_names={s.id: s.name for s in world_org.sites},
    )
    del world_org  # the simulated org is the bench's, not the evaluation's: what wan_alerts
    gc.collect()  # holds is the sites' names and regions (the KpiConfig)
    storage = AssetStore(connect(url))
    if os.environ.get("WANPERF_BENCH_ALERTS_PATH") == "site-days":  # as before the window
        days = sorted({day_of(NOW), day_of(NOW - alerts.LOOKBACK_S)})

        def site_days(org, ids, since, until, step, columns=None):
            return storage.read_samples([(d, s) for d in days for s in ids], since=since)

        storage.read_recent_samples = site_days
    t0 = time.perf_counter()
    shown, _ = alerts.evaluate(
        storage, ORG, sites, NOW, 10, alerts.AlertRules(), config, destinations=[]
    )
    seconds = time.perf_counter() - t0
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    kinds = pd.Series([i.kind for i in shown]).value_counts().to_dict()
    print("REPORT " + json.dumps({"seconds": seconds, "peak_mib": peak / 1024, "kinds": kinds}))


def main() -> None:
    world = World(build_org(seed=1, n_sites=SITES), offline=False)
    with bench_redis() as (url, _):
        client = connect(url)
        t0 = time.time()
        written, _ = _write_day(client, world)
        print(f"({written:,} samples of {SITES:,} sites written in {time.time() - t0:.0f} s)")
        env = {**os.environ, "WANPERF_BENCH_ALERTS_URL": url}
        old_env = {**env, "WANPERF_BENCH_ALERTS_PATH": "site-days"}
        runs, before = [], []
        for _ in range(3):  # side by side, alternating
            runs.append(child_report("alerts", env, "--evaluate", timeout=900))
            before.append(child_report("alerts", old_env, "--evaluate", timeout=900))
        found = runs[-1]["kinds"]
        assert before[-1]["kinds"] == found, (before[-1]["kinds"], found)  # the same incidents
        print(f"\n== alert evaluation: {SITES:,} sites, the day's last slot ==")
        row("median of 3, each in its own process", "seconds", "peak MiB")
        new_s = statistics.median(r["seconds"] for r in runs)
        old_s = statistics.median(r["seconds"] for r in before)
        row(
            "reading the site-days' judged slots (Lua)",
            f"{old_s:.2f}",
            f"{statistics.median(r['peak_mib'] for r in before):,.0f}",
        )
        row(
            "reading the sweep's recent window (goal <= 2 s, <= 512 MiB at 10,000)",
            f"{new_s:.2f}",
            f"{statistics.median(r['peak_mib'] for r in runs):,.0f}",
        )
        print(f"  ratio: {old_s / new_s:.1f}x faster")
        print(f"  open now: {found} (the region's 40 sites: one region_down)")
        assert found.get("region_down", 0) >= 1, found
        print(
            f"  this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB"
        )


if __name__ == "__main__":
    if sys.argv[1:] == ["--evaluate"]:
        _evaluate(os.environ["WANPERF_BENCH_ALERTS_URL"])
