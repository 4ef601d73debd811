"""Sweep: 8,000 WAN ports (plus LAN ports) from the simulator into Redis, end to end, against
fetch-and-parse alone (same pages, same normalisation, no storage), in the same run."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

from wanperf_dagster import store
from wanperf_dagster.mist import MistClient, SweepConfig, normalise_page, run_sweep

from ._common import bench_redis, row

SITES = 3300  # about 8,000 WAN ports
NOW = 1_764_160_000


@contextlib.contextmanager
def simulator_process():
    """The simulator in its own process, as in production the API is another machine."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wanperf_dagster.simulator",
            "--sites",
            str(SITES),
            "--now",
            str(NOW),
            "--token",
            "bench",
            "--rate-limit",
            "100000",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base = proc.stdout.readline().strip().split("=", 1)[1]
        org = proc.stdout.readline().strip().split("=", 1)[1]
        yield base, org
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    from wanperf_dagster.simulator import build_org

    org_model = build_org(1, SITES)
    wan = int(org_model.arrays["is_wan"].sum())
    print(
        f"\n== sweep: {SITES:,} sites, {org_model.n_ports:,} gateway ports, {wan:,} WAN "
        "(simulator in its own process) =="
    )
    with simulator_process() as (base_url, org_id), bench_redis() as (url, _):
        r = store.connect(url)
        clock = lambda: float(NOW)  # noqa: E731

        def fetch_parse() -> tuple[float, int]:
            client = MistClient(["bench"], base_url, org_id, clock=clock)
            t0 = time.perf_counter()
            n = 0
            path = f"/api/v1/orgs/{org_id}/stats/ports/search"
            for body, _nxt in client.iter_search(path, {"device_type": "gateway", "limit": 1000}):
                n += normalise_page(body["results"], NOW).records
            return time.perf_counter() - t0, n

        def end_to_end() -> tuple[float, int]:
            r.flushdb()
            client = MistClient(["bench"], base_url, org_id, clock=clock)
            t0 = time.perf_counter()
            s = run_sweep(client, r, SweepConfig(page_limit=1000))
            return time.perf_counter() - t0, s.records

        fetch = min(fetch_parse() for _ in range(3))
        full = min(end_to_end() for _ in range(3))
        row("", "seconds", "records/s", "ratio")
        row(
            "fetch + parse + normalise (no storage)",
            f"{fetch[0]:.2f}",
            f"{fetch[1] / fetch[0]:,.0f}",
        )
        row(
            "end to end (sweep into Redis)",
            f"{full[0]:.2f}",
            f"{full[1] / full[0]:,.0f}",
            f"{full[0] / fetch[0]:.2f}x",
        )
        row("WAN samples per second end to end", "", f"{wan / full[0]:,.0f}")
        info = r.info("memory")
        row("Redis memory after one sweep", f"{info['used_memory'] / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
