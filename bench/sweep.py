"""Sweep: 8,000 WAN ports (plus LAN ports) from the simulator into Redis, end to end, against
fetch-and-parse alone (same pages, same normalisation, no storage), in the same run.

`--msp`: an MSP of 5,000 sites in 50 orgs of different sizes, swept as one (`sweep_orgs`, each
org on the MSP token's one budget), beside one org of 5,000 sites: records a second and calls,
alternating, median of 3."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

from wanperf_dagster import store
from wanperf_dagster.mist import MistClient, SweepConfig, normalise_page, run_sweep

from ._common import bench_redis, best_of, row

SITES = 3300  # about 8,000 WAN ports
NOW = 1_764_160_000


@contextlib.contextmanager
def simulator_process(sites: int = SITES, msp: str | None = None):
    """The simulator in its own process, as in production the API is another machine; yields
    its URL and its org (the MSP's id with `msp`)."""
    shape = ["--msp", msp] if msp else ["--sites", str(sites)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "wanperf_dagster.simulator", *shape, "--now", str(NOW)]
        + ["--token", "bench", "--rate-limit", "100000"],
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


MSP_SITES, MSP_ORGS = 5000, 50


def msp_shape() -> list[tuple[int, int]]:
    """50 orgs, 5,000 sites: one of 1,000, the rest from 20 to 140 sites (seed, sites)."""
    rest = [20 + (k * 37) % 121 for k in range(MSP_ORGS - 1)]
    rest[-1] += MSP_SITES - 1000 - sum(rest)
    return [(100 + k, n) for k, n in enumerate([1000, *rest])]


def msp_main() -> None:
    import statistics

    from wanperf_dagster.mist import discover_orgs, sweep_orgs
    from wanperf_dagster.mist.client import LocalCallLedger
    from wanperf_dagster.simulator import build_org

    shape = msp_shape()
    assert sum(n for _, n in shape) == MSP_SITES and len(shape) == MSP_ORGS
    records = [build_org(seed, n).n_ports for seed, n in shape]
    floor = sum(-(-r // 1000) for r in records)  # one page a thousand records, of each org
    one_org = build_org(1, MSP_SITES).n_ports
    print(
        f"\n== sweep an MSP: {MSP_SITES:,} sites in {MSP_ORGS} orgs ({sum(records):,} port"
        f" records) beside one org of {MSP_SITES:,} sites ({one_org:,}); simulators in their own"
        " processes, alternating, median of 3 =="
    )
    msp_arg = ",".join(f"{seed}:{n}" for seed, n in shape)
    clock = lambda: float(NOW)  # noqa: E731
    with (
        simulator_process(MSP_SITES) as (one_url, one_id),
        simulator_process(msp=msp_arg) as (msp_url, msp_id),
        bench_redis() as (url, _),
    ):
        r = store.connect(url)

        def single() -> tuple[float, int, int]:
            r.flushdb()
            client = MistClient(["bench"], one_url, one_id, clock=clock)
            t0 = time.perf_counter()
            s = run_sweep(client, r, SweepConfig(page_limit=1000))
            return time.perf_counter() - t0, s.records, client.calls

        def msp() -> tuple[float, int, int]:
            r.flushdb()
            ledger = LocalCallLedger()
            made = []

            def client_for(tokens, org, name=""):
                made.append(MistClient(list(tokens), msp_url, org, clock=clock, ledger=ledger))
                return made[-1]

            t0 = time.perf_counter()  # the orgs' discovery is part of the sweep's cost
            clients = [
                client_for(a.tokens, a.org_id)
                for a in discover_orgs(["bench"], client_for, (), msp_id)
            ]
            swept = sweep_orgs(clients, r, SweepConfig(page_limit=1000))
            elapsed = time.perf_counter() - t0
            assert not any(o.error for o in swept), [o.error for o in swept if o.error]
            return elapsed, sum(o.session.records for o in swept), sum(c.calls for c in made)

        runs = {"one": [], "msp": []}
        for _ in range(3):
            runs["one"].append(single())
            runs["msp"].append(msp())
        one = statistics.median(runs["one"])
        many = statistics.median(runs["msp"])
        row("", "seconds", "records/s", "calls")
        row(f"one org, {MSP_SITES:,} sites", f"{one[0]:.2f}", f"{one[1] / one[0]:,.0f}", one[2])
        row(
            f"MSP, {MSP_ORGS} orgs, {MSP_SITES:,} sites",
            f"{many[0]:.2f}",
            f"{many[1] / many[0]:,.0f}",
            many[2],
        )
        row(
            "MSP / one org (records a second)",
            f"{(many[1] / many[0]) / (one[1] / one[0]):.2f}x",
        )
        row(
            "MSP calls: the sweep's floor (a page a 1,000 records of each org) + discovery",
            f"{floor} + {many[2] - floor}",
        )


def main(options: list[str] | None = None) -> None:
    if options:
        if options != ["--msp"]:
            sys.exit("bench sweep takes --msp (an MSP of 50 orgs beside one org) or nothing")
        return msp_main()
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
    _day_names()


def _day_names() -> None:
    """Each stored row's day (`store.samples.day_of`, every sample and feed row): named once a
    day and looked up, against a timestamp formatted for each row as before."""
    import random

    import pandas as pd

    from wanperf_dagster.store.samples import DAY_S, day_of

    def before(epoch: float) -> str:
        return pd.Timestamp(int(epoch // DAY_S) * DAY_S, unit="s").strftime("%Y-%m-%d")

    rows = [NOW + random.random() * 2 * DAY_S for _ in range(100_000)]
    assert [day_of(t) for t in rows[:1000]] == [before(t) for t in rows[:1000]]
    now_s = best_of(lambda: [day_of(t) for t in rows])
    before_s = best_of(lambda: [before(t) for t in rows])
    row(
        "100,000 rows' days named: now / each formatted (s)",
        f"{now_s:.3f}",
        f"{before_s:.2f}",
        f"{before_s / now_s:.0f}x",
    )


if __name__ == "__main__":
    main()
