"""Simulator: serving a full org-wide port search of a 20,000-site org, start-up time, memory;
and what an ingestion of the insight feeds asks of it, side by side with how it was served before.

The sweep goes over real HTTP (requests, keep-alive) to a server thread in this process, so the
server's share is measured by timing the record generation alone beside the end-to-end sweep.
The feeds' side: every page of the gateways listing (the org's state computed once an instant,
against once a page as before), and an hour of every site's WAN SLE (each gateway's reboot
look-back hashed once a day, against once a minute as before; `WANPERF_BENCH_SIM_SLE_SITES`
sites, default 2,000, the before side is 60 times the work).
"""

from __future__ import annotations

import os
import time

import numpy as np
import requests

from wanperf_dagster.simulator import MistSimulator, SimulatorConfig, SimulatorServer

from ._common import peak_rss_mib, row

SITES = int(os.environ.get("WANPERF_BENCH_SIM_SITES", "20000"))
NOW = 1_764_160_000


def main() -> None:
    rss0 = peak_rss_mib()
    t0 = time.perf_counter()
    sim = MistSimulator(SimulatorConfig(sites=SITES, now=NOW))
    startup = time.perf_counter() - t0
    rss1 = peak_rss_mib()
    print(
        f"\n== simulator: {SITES:,} sites, {sim.org.n_ports:,} gateway ports "
        f"({int(sim.org.arrays['is_wan'].sum()):,} WAN) =="
    )
    row("start-up (build org + index)", f"{startup:.2f} s")
    row("memory of the org (peak RSS growth)", f"{rss1 - rss0:.0f} MiB")

    # server-side work alone: records for every port, 1,000 at a time
    ports = np.arange(sim.org.n_ports)
    t0 = time.perf_counter()
    import json

    for start in range(0, len(ports), 1000):
        json.dumps(sim.port_records(ports[start : start + 1000], NOW), separators=(",", ":"))
    gen = time.perf_counter() - t0
    row("records generated + JSON-encoded (one core)", f"{len(ports) / gen:,.0f} rec/s")

    with SimulatorServer(sim) as srv:
        session = requests.Session()
        session.headers["Authorization"] = "Token sim-token"
        url = (
            f"{srv.url}/api/v1/orgs/{sim.org.id}/stats/ports/search?device_type=gateway&limit=1000"
        )
        n = pages = 0
        t0 = time.perf_counter()
        while url:
            body = session.get(url, timeout=60).json()
            n += len(body["results"])
            pages += 1
            url = srv.url + body["next"] if body.get("next") else None
        sweep = time.perf_counter() - t0
    assert n == len(sim.served_ports(np.arange(sim.org.n_ports), NOW))  # offline ones aside
    row(
        f"full sweep over HTTP ({pages} pages, client in-process)",
        f"{n / sweep:,.0f} rec/s",
        f"{sweep:.1f} s",
    )
    _feeds(sim)
    row("peak RSS of this process", f"{peak_rss_mib():.0f} MiB")


def _feeds(sim: MistSimulator) -> None:
    from wanperf_dagster.simulator.world import DAY, LOOKBACK_DAYS

    def listing() -> int:
        pages = 0
        for page in range(1, len(sim.org.gateways) // 100 + 2):
            _, _, body = sim._paged(
                sim._at_instant("gateways", sim._gateways), {"limit": "100", "page": page}
            )
            pages += 1
            if not body:
                break
        return pages

    listing()  # warm
    sim._instant_cache.clear()  # computed once, in the timed listing
    t0 = time.perf_counter()
    pages = listing()
    once = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(3):  # before: the org's state on every page (3 pages, scaled)
        sim._instant_cache.clear()
        sim._paged(sim._at_instant("gateways", sim._gateways), {"limit": "100", "page": 1})
    each = (time.perf_counter() - t0) / 3 * pages
    row(
        f"gateways listing, {pages} pages: once an instant / once a page (s)",
        f"{once:.2f}",
        f"{each:.0f}",
        f"{each / once:.0f}x",
    )

    world = sim.world
    sites = min(int(os.environ.get("WANPERF_BENCH_SIM_SLE_SITES", "2000")), len(sim.org.sites))
    gw_site = np.array([g.site_index for g in sim.org.gateways])
    gws = np.flatnonzero(gw_site < sites)
    grid = NOW // 3600 * 3600 + 60 * np.arange(60)
    gg, tt = np.repeat(gws, 60), np.tile(grid, len(gws))

    def before() -> np.ndarray:
        days = (tt // DAY)[:, None] - np.arange(LOOKBACK_DAYS)[None, :]
        at = world._reboots(gg[:, None], days)
        return np.where(at <= tt[:, None], at, -1).max(axis=1)

    t0 = time.perf_counter()
    now = world.last_reboot(gg, tt)
    new_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    old = before()
    old_s = time.perf_counter() - t0
    assert np.array_equal(now, old)
    row(
        f"an SLE hour's reboot look-back, {len(gws):,} gateways x 60 min: now / before (s)",
        f"{new_s:.3f}",
        f"{old_s:.2f}",
        f"{old_s / new_s:.0f}x",
    )
    t0 = time.perf_counter()
    world.site_sle(np.arange(sites), int(grid[0]), int(grid[0]) + 3600)
    row(f"an hour of WAN SLE of {sites:,} sites, all of it (s)", f"{time.perf_counter() - t0:.2f}")


if __name__ == "__main__":
    main()
