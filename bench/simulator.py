"""Simulator: serving a full org-wide port search of a 20,000-site org, start-up time, memory.

The sweep goes over real HTTP (requests, keep-alive) to a server thread in this process, so the
server's share is measured by timing the record generation alone beside the end-to-end sweep.
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
    assert n == sim.org.n_ports
    row(
        f"full sweep over HTTP ({pages} pages, client in-process)",
        f"{n / sweep:,.0f} rec/s",
        f"{sweep:.1f} s",
    )
    row("peak RSS of this process", f"{peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
