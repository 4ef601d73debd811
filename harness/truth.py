"""The KPIs of a simulated org with every edge on, against the simulator's own truth, circuit-day
by circuit-day.

The org is served over real HTTP with gateways going offline, an event feed that loses, repeats
and reorders, and sites and circuits coming and going; the real sweep and insight ingestion store
it in Redis every slot; `kpi.site_day_kpis` (what the `circuit_kpis` asset runs) computes each
day from what was stored. The truth is the world model's: down intervals to the second, failover
minute by minute, each circuit's lifetime.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import redis

from wanperf_dagster import kpi
from wanperf_dagster.feeds import InsightsConfig, InsightsResult, run_insights
from wanperf_dagster.feeds.devices import fetch as devices
from wanperf_dagster.mist import MistClient, SweepConfig, run_sweep
from wanperf_dagster.simulator import MistSimulator, SimulatorConfig, SimulatorServer
from wanperf_dagster.simulator.world import NEVER
from wanperf_dagster.store import insights as feed_store
from wanperf_dagster.store import samples as sample_store

DAY = 86_400
INTERVAL = 10
TOKEN = "truth-token"
EDGE_FAULTS = {"event_loss_rate": 0.03, "event_repeat_rate": 0.05, "event_disorder": 1}


@dataclass
class Simulated:
    sim: MistSimulator
    days: list[str]
    daily: pd.DataFrame  # the KPIs
    truth: pd.DataFrame  # one row per circuit-day that existed
    dark_at_start: str = ""  # the mac of the gateway dark when the first sweep ran


def simulate(r: redis.Redis, seed: int, sites: int, day0: int, days: int) -> Simulated:
    """Sweep and ingest `days` days from `day0` (and the slot before), then compute the KPIs.

    Before any of it, the gateways' listing is read once at the end of the window, as a live
    sweep of a deployment does before `make run` replays the past (or a worker whose clock is
    ahead): what the register keeps must not depend on the order sightings arrive in."""
    sim = MistSimulator(
        SimulatorConfig(
            sites=sites,
            seed=seed,
            now=day0 - 600,
            tokens=(TOKEN,),
            churn=(day0, day0 + days * DAY),
        )
    )
    sim.faults.update(**EDGE_FAULTS)
    # and one gateway dark for a whole day and more: its circuits have no sample that day
    dark, dark_at_start = dark_gateway_port(sim), dark_gateway_port(sim, skip=1)
    sim.inject(sim.org.circuit_id(dark), "offline", day0 + DAY - 7200, day0 + 2 * DAY + 3600)
    # and one dark from three hours before the first sweep to three hours into the first day:
    # its circuits have no sample before then, only the gateway's own "offline since"
    sim.inject(sim.org.circuit_id(dark_at_start), "offline", day0 - 10_800, day0 + 10_800)
    config = InsightsConfig(sle_backfill_hours=1, events_lookback_seconds=3600)
    with SimulatorServer(sim) as server:
        client = MistClient([TOKEN], server.url, sim.org.id, clock=sim.clock.now)
        sim.clock.set(day0 + days * DAY + 30)  # the listing read at the end, first
        devices.ingest(client, r, sim.org.id, config, sim.clock.now(), InsightsResult(), None)
        for k in range(-1, days * 144):
            sim.clock.set(day0 + k * 600 + 30)
            run_sweep(client, r, SweepConfig())
            run_insights(client, r, config, feeds=("events",))
        sim.clock.set(day0 + days * DAY + 600 + 30)  # the next slot's ingestion covers the end
        run_insights(client, r, config, feeds=("events",))
    names = [pd.Timestamp(day0 + d * DAY, unit="s").strftime("%Y-%m-%d") for d in range(days)]
    site_ids = [s.id for s in sim.org.sites]
    context = pd.Timestamp(day0 - DAY, unit="s").strftime("%Y-%m-%d")
    samples = sample_store.read_site_days(r, [(d, s) for d in [context, *names] for s in site_ids])
    events = feed_store.read_site_days(r, "events", [(d, s) for d in names for s in site_ids])
    coverage = feed_store.event_coverage(r, sim.org.id, day0, day0 + days * DAY)
    sites_frame = pd.DataFrame(
        {"site_id": site_ids, "name": [s.name for s in sim.org.sites], "region": "R"}
    )
    _, daily = kpi.site_day_kpis(
        samples,
        events,
        coverage,
        INTERVAL,
        kpi.KpiConfig.for_sites(sites_frame),
        names,
        now=sim.clock.now(),
        registry=feed_store.read_circuits(r, site_ids),
        checked_at=feed_store.circuits_checked(r),
    )
    mac = sim.org.gateways[int(sim.org.arrays["gw"][dark_at_start])].mac
    return Simulated(sim, names, daily, truth(sim, day0, days), mac)


def dark_gateway_port(sim: MistSimulator, skip: int = 0) -> int:
    """A WAN port of the first gateway (the hub's aside; after `skip` others) whose site has two
    circuits or more and is never added or removed."""
    a, world = sim.org.arrays, sim.world
    wan = sim.org.wan_port_indices()
    per_site = pd.Series(a["site"][wan]).value_counts()
    steady = (world.site_added == -NEVER) & (world.site_removed == NEVER)
    sites = [int(s) for s in per_site.index if s != 0 and per_site[s] >= 2 and steady[s]]
    site = sorted(sites)[skip]
    return int(next(i for i in wan if a["site"][i] == site))


def truth(sim: MistSimulator, day0: int, days: int) -> pd.DataFrame:
    """Per circuit-day that existed: its lifetime in the day; its down seconds and flaps; the
    seconds it carried the primary's load (the simulator's rule: the first secondary up in the
    site's order, while the primary is down) and, on the primary, the seconds the site ran on a
    secondary; and the state changes of its site's circuits that day (what one interval may
    blur). All to the second, from the world's down intervals."""
    world, org, a = sim.world, sim.org, sim.org.arrays
    wan = org.wan_port_indices()
    wan = wan[np.lexsort((a["rank"][wan], a["site"][wan]))]  # by site, the primary first
    site = a["site"][wan]
    born = np.maximum(world.site_added[site], world.port_added[wan])
    gone = np.minimum(world.site_removed[site], world.port_removed[wan])
    circuits_at_site = pd.Series(site).value_counts()
    rows = []
    for d in range(days):
        d0, d1 = day0 + d * DAY, day0 + (d + 1) * DAY
        lo, hi = np.maximum(born, d0) - d0, np.minimum(gone, d1) - d0
        by_port = dict(tuple(world.down_intervals(wan, d0, d1).groupby("port")))
        for s in np.unique(site):
            mine = np.flatnonzero(site == s)
            there = np.zeros((len(mine), DAY), dtype=bool)
            up = np.zeros((len(mine), DAY), dtype=bool)
            flaps = np.zeros(len(mine), dtype=np.int64)
            for k, j in enumerate(mine):
                if lo[j] >= hi[j]:
                    continue
                there[k, lo[j] : hi[j]] = True
                up[k] = there[k]
                g = by_port.get(int(wan[j]))
                if g is not None:
                    for down, back in zip(g["down"] - d0, g["up"] - d0, strict=True):
                        up[k, max(down, 0) : max(min(back, DAY), 0)] = False
                    edges = np.r_[g["down"].to_numpy(), g["up"].to_numpy()] - d0
                    flaps[k] = int(((edges > lo[j]) & (edges < hi[j])).sum())
            lost = there[0] & ~up[0] if a["rank"][wan[mine[0]]] == 0 else np.zeros(DAY, bool)
            earlier_up = np.zeros(DAY, dtype=bool)
            takes = np.zeros(len(mine), dtype=np.int64)
            for k in range(1, len(mine)):
                takes[k] = int((lost & up[k] & ~earlier_up).sum())
                earlier_up |= up[k]
            on_backup = int((lost & earlier_up).sum())
            changes = int(flaps.sum()) + 2 * int(((lo[mine] > 0) | (hi[mine] < DAY)).sum())
            for k, j in enumerate(mine):
                if lo[j] >= hi[j]:
                    continue
                rows.append(
                    {
                        "day": pd.Timestamp(d0, unit="s").strftime("%Y-%m-%d"),
                        "circuit_id": org.circuit_id(int(wan[j])),
                        "site": int(s),
                        "circuits": int(circuits_at_site[s]),
                        "rank": int(a["rank"][wan[j]]),
                        "lifetime": int(hi[j] - lo[j]),
                        "true_down": int((there[k] & ~up[k]).sum()),
                        "true_flaps": int(flaps[k]),
                        "true_failover": int(takes[k]),
                        "true_on_backup": on_backup if k == 0 else 0,
                        "site_changes": changes,
                    }
                )
    return pd.DataFrame(rows)


MEASURES = {  # KPI column -> truth column
    "down_seconds": "true_down",
    "flaps": "true_flaps",
    "on_backup_seconds": "true_on_backup",
    "failover_seconds": "true_failover",
}


def compare(result: Simulated) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(every circuit-day: KPI beside truth, with each measure's error and tolerance; one row
    per measure: circuit-days within tolerance, the largest error; the failover seconds per
    circuit-count class against truth). A circuit-day that lasted less than an interval (added
    minutes before midnight, first seen the next day) is left out of the figures."""
    daily = result.daily.assign(
        day=result.daily["day"].astype(str), circuit_id=result.daily["circuit_id"].astype(str)
    )
    both = result.truth.merge(daily, on=["day", "circuit_id"], how="outer", indicator=True)
    both = both[~((both["_merge"] == "left_only") & (both["lifetime"] < INTERVAL * 60))]
    per_measure = []
    for column, truth_column in MEASURES.items():
        error = (both[column] - both[truth_column]).abs()
        # one interval per state change of the site's circuits; a flap count, one per change
        tol = (INTERVAL * 60 if column != "flaps" else 1) * (both["site_changes"] + 1)
        both[f"{column}_error"] = error
        both[f"{column}_ok"] = error <= tol
        per_measure.append(
            {
                "measure": column,
                "circuit_days": int(both[truth_column].notna().sum()),
                "within_tolerance_pct": round(100 * both[f"{column}_ok"].mean(), 2),
                "largest_error": int(error.max()),
                "exact_pct": round(100 * (error == 0).mean(), 1),
            }
        )
    classes = (
        both[both["rank"] >= 1]
        .groupby("circuits")[["true_failover", "failover_seconds"]]
        .sum()
        .rename(columns={"true_failover": "truth_s", "failover_seconds": "kpi_s"})
    )
    classes["ratio"] = (classes["kpi_s"] / classes["truth_s"]).round(4)
    return both, pd.DataFrame(per_measure), classes
