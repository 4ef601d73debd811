"""The monthly carrier SLA report from the history tier (`sla_report`'s work) for a 2,000-site
org: a month of `circuit_kpis` and `port_events` read from Parquet (one file a day each) and the
report computed, beside the same report with a scan of the outages and windows per circuit.

`python -m bench sla` (env WANPERF_BENCH_SLA_SITES, default 2000). A simulated day's KPIs and
port events are cycled over the 30 days of November 2025 (each day's events moved to it), and
written through the history tier's write path. Goal (#32): the report in <= 10 s. The month
rollup (`monthly_circuit_kpis`) reads the same days: its time and this process's peak too (#31)."""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import pyarrow as pa

from wanperf_dagster import kpi, sla
from wanperf_dagster.history import HistoryStore
from wanperf_dagster.simulator import World, build_org
from wanperf_dagster.simulator.samples import world_samples
from wanperf_dagster.storage import AssetStore
from wanperf_dagster.store import connect
from wanperf_dagster.store.partitioning import split_by_partition

from ._common import bench_redis, child_report, row

SLICE_SITES = kpi.SITES_AT_ONCE  # sites a slice, as the month rollup reads them

SITES = int(os.environ.get("WANPERF_BENCH_SLA_SITES", "2000"))
DAY0 = 1_761_955_200  # 2025-11-01
DAYS = 30
DAILY, HOURLY, EVENTS = (
    sla.report.DAILY_COLUMNS,
    sla.report.HOURLY_COLUMNS,
    sla.report.EVENT_COLUMNS,
)  # what sla_report reads
NAIVE_UP_TO = 2000  # sites: the scan per circuit is run beside it up to this size


def _month(world: World) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A day's daily and hourly KPIs (hourly samples) and port events, cycled over the month."""
    org = world.org
    config = kpi.KpiConfig(site_names={s.id: s.name for s in org.sites})
    hourly, daily = kpi.circuit_kpis(world_samples(world, DAY0, 24, interval_s=3600), 60, config)
    wan = org.wan_port_indices()
    ev = world.port_events(wan, DAY0, DAY0 + 86400)
    ports = ev["port"].to_numpy()
    events = pd.DataFrame(
        {
            "ts": pd.to_datetime(ev["ts"], unit="s", utc=True),
            "site_id": [org.sites[s].id for s in org.arrays["site"][ports]],
            "circuit_id": [org.circuit_id(p) for p in ports],
            "mac": [org.circuit_id(p).split(":")[0] for p in ports],
            "port_id": [org.circuit_id(p).split(":", 1)[1] for p in ports],
            "event": ev["event"].to_numpy(),
            "type": np.where(ev["event"] == "down", "GW_PORT_DOWN", "GW_PORT_UP"),
            "text": "",
        }
    )
    return daily, hourly, events


def _write(history, daily: pd.DataFrame, hourly: pd.DataFrame, events: pd.DataFrame) -> list[str]:
    days = []
    for d in range(DAYS):
        day = pd.Timestamp(DAY0 + d * 86400, unit="s").date()
        days.append(day.isoformat())
        for asset, frame, columns in (
            ("circuit_kpis", daily.assign(day=day), ["day", "site_id"]),
            (
                "circuit_kpis_hourly",
                hourly.assign(day=day, hour=hourly["hour"] + pd.Timedelta(days=d)),
                ["day", "site_id"],
            ),
            (
                "port_events",
                events.assign(ts=events["ts"] + pd.Timedelta(days=d)),
                ["ts", "site_id"],
            ),
        ):
            parts = split_by_partition(pa.Table.from_pandas(frame, preserve_index=False), columns)
            history.write_site_days(
                asset, day.isoformat(), {k.split("|")[1]: t for k, t in parts.items()}
            )
    return days


def _per_circuit_scan(daily, events, contracts, maintenance, start, end):
    """The report with the outages and windows of each circuit found by a scan of all of them
    (what `circuit_sla` did before it grouped them once)."""
    found = sla.outages(events, sorted(set(daily["circuit_id"])), start, end)
    total = 0.0
    for cid in sorted(set(daily["circuit_id"])):
        mine = found[found["circuit_id"] == cid]
        windows = maintenance[maintenance["circuit_id"] == cid]
        total += float(mine["seconds"].sum()) + len(windows)
    return total


def main() -> None:
    world = World(build_org(seed=1, n_sites=SITES))
    with bench_redis() as (url, _), tempfile.TemporaryDirectory(prefix="wanperf-sla-") as tmp:
        history = HistoryStore(f"{tmp}/history")
        assets = AssetStore(connect(url), history=history)
        t0 = time.time()
        daily, hourly, events = _month(world)
        days = _write(history, daily, hourly, events)
        del hourly
        circuits = sorted(daily["circuit_id"])
        print(f"({DAYS} days x {SITES:,} sites written to the history in {time.time() - t0:.0f} s)")
        contracts = pd.DataFrame(
            {
                "circuit_id": circuits[: len(circuits) * 4 // 5],  # a fifth without a contract
                "provider": [f"carrier-{k % 7}" for k in range(len(circuits) * 4 // 5)],
                "reference": None,
                "bandwidth_mbps": 1000.0,
                "availability_pct": 99.9,
                "credit_pct_per_0_1": 5.0,
                "credit_cap_pct": 50.0,
            }
        )
        maintenance = pd.DataFrame(
            {
                "circuit_id": circuits[::50],
                "start": DAY0 + 86400.0,
                "end": DAY0 + 86400.0 + 7200,
                "reason": "bench",
            }
        )
        start, end = float(DAY0), float(DAY0 + DAYS * 86400)
        read, computed, naive = [], [], []
        for _ in range(3):
            t0 = time.perf_counter()
            month = assets.load_days("circuit_kpis", days, [], DAILY).to_pandas()
            month_events = assets.load_days("port_events", days, [], EVENTS).to_pandas()
            t1 = time.perf_counter()
            report, outages = sla.circuit_sla(
                month, month_events, contracts, maintenance, start, end
            )
            sla.provider_sla(report)
            t2 = time.perf_counter()
            if SITES <= NAIVE_UP_TO:  # quadratic: minutes beyond
                _per_circuit_scan(month, month_events, contracts, maintenance, start, end)
            naive.append(time.perf_counter() - t2)
            read.append(t1 - t0)
            computed.append(t2 - t1)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # a tenth of the contracts count business hours: their hourly KPIs read as well
        business = contracts.assign(window=None, timezone="UTC")
        business.loc[::10, ["window", "timezone"]] = ("Mon-Fri 08:00-18:00", "Europe/Paris")
        hours = []
        for _ in range(3):
            t0 = time.perf_counter()
            month = assets.load_days("circuit_kpis", days, [], DAILY).to_pandas()
            month_events = assets.load_days("port_events", days, [], EVENTS).to_pandas()
            wanted = business.loc[business["window"].notna(), "circuit_id"]
            by_hour = sla.business_hours_kpis(
                assets.load_days("circuit_kpis_hourly", days, [], HOURLY).table, wanted
            )
            sla.circuit_sla(month, month_events, business, maintenance, start, end, hourly=by_hour)
            hours.append(time.perf_counter() - t0)
        # the month rollup's work on the same month (monthly_circuit_kpis: the days, whole), in
        # a process of its own so its peak is its own
        rollups, wholes = [], []
        for _ in range(3):  # alternating: sliced as the asset does, and the whole month at once
            rollups.append(
                child_report("sla", dict(os.environ), "--rollup", f"{tmp}/history", timeout=900)
            )
            wholes.append(
                child_report(
                    "sla", dict(os.environ), "--rollup-whole", f"{tmp}/history", timeout=900
                )
            )
        assert {r["rows"] for r in rollups} == {r["rows"] for r in wholes}
        # circuit_baselines' work on four of those weeks, in a process of its own
        learnt, learnt_whole = [], []
        for _ in range(3):  # alternating: some sites at a time, as the asset does, and all
            for runs, flag in ((learnt, "--baselines"), (learnt_whole, "--baselines-whole")):
                runs.append(
                    child_report("sla", dict(os.environ), flag, f"{tmp}/history", url, timeout=900)
                )
        assert {r["learnt"] for r in learnt} == {r["learnt"] for r in learnt_whole}
        print(
            f"\n== SLA report: {SITES:,} sites, {len(circuits):,} circuits, {DAYS} days,"
            f" {len(month_events):,} port events, {len(outages):,} outages =="
        )
        row("median of 3", "seconds", "ratio")
        row("  read the month from the history tier", f"{statistics.median(read):.2f}")
        row("  the report (grouped once)", f"{statistics.median(computed):.2f}")
        if SITES <= NAIVE_UP_TO:
            row(
                "  the outages' lookup, a scan per circuit",
                f"{statistics.median(naive):.2f}",
                f"{statistics.median(naive) / statistics.median(computed):.1f}x",
            )
        total = statistics.median(read) + statistics.median(computed)
        row("sla_report's work (goal <= 10 s)", f"{total:.2f}")
        row("peak RSS of this process", f"{peak:,.0f} MiB")
        row(
            "  with a tenth of the contracts in business hours (+ hourly KPIs)",
            f"{statistics.median(hours):.2f}",
            f"{statistics.median(hours) / total:.1f}x",
        )
        row(
            f"monthly_circuit_kpis' work, {SLICE_SITES:,} sites at a time, its own process",
            f"{statistics.median(r['seconds'] for r in rollups):.2f}",
            f"peak {statistics.median(r['peak_mib'] for r in rollups):,.0f} MiB",
        )
        row(
            "  the same, the month of every site at once (before)",
            f"{statistics.median(r['seconds'] for r in wholes):.2f}",
            f"peak {statistics.median(r['peak_mib'] for r in wholes):,.0f} MiB",
        )

        from wanperf_dagster.defs.rollups.baselines import SITES_AT_ONCE as BASELINE_SITES

        row(
            f"circuit_baselines' work (4 weeks of hourly KPIs), {BASELINE_SITES:,} sites at a"
            " time, its own process",
            f"{statistics.median(r['seconds'] for r in learnt):.2f}",
            f"peak {statistics.median(r['peak_mib'] for r in learnt):,.0f} MiB",
        )
        row(
            "  the same, every site at once (before)",
            f"{statistics.median(r['seconds'] for r in learnt_whole):.2f}",
            f"peak {statistics.median(r['peak_mib'] for r in learnt_whole):,.0f} MiB",
        )
        print(f"  ({learnt[-1]['rows']:,} hourly rows read, {learnt[-1]['learnt']:,} learnt)")


def _baselines(history_dir: str, redis_url: str, whole: bool = False) -> None:
    """One circuit_baselines' work in this process (the hourly KPIs of 28 days read from the
    history, learnt, and stored in Redis), as the asset does it (some sites at a time), or with
    `whole` every site at once (as it did): REPORT its seconds and peak RSS."""
    from wanperf_dagster.defs.rollups.baselines import COLUMNS, learn_sliced, learn_weeks
    from wanperf_dagster.store.baselines import write_baselines

    history = HistoryStore(history_dir)
    end = pd.Timestamp(DAY0 + 27 * 86400, unit="s").date()
    first = pd.Timestamp(DAY0, unit="s").date().isoformat()
    sites = sorted(
        set(history.read_days("circuit_kpis", [first], ["site_id"])[0]["site_id"].to_pylist())
    )
    t0 = time.perf_counter()
    if whole:  # a week at a time, every site
        learnt, rows = learn_weeks(
            lambda days: history.read_days("circuit_kpis_hourly", days, COLUMNS)[0], end, 4, 3
        )
    else:
        learnt, rows = learn_sliced(
            lambda days, part: history.read_days("circuit_kpis_hourly", days, COLUMNS, part)[0],
            sites,
            end,
            4,
            3,
        )
    write_baselines(connect(redis_url), "bench-org", learnt, {"through": str(end)}, 3600)
    seconds = time.perf_counter() - t0
    report = {
        "seconds": seconds,
        "peak_mib": _own_peak_mib(),
        "rows": rows,
        "learnt": int(learnt["util_median"].notna().sum()),
    }
    print("REPORT " + json.dumps(report))


def _rollup(history_dir: str, whole: bool = False) -> None:
    """One month rollup's work in this process, as `monthly_circuit_kpis` does it (a slice of
    the sites at a time, `kpi.sliced_period_kpis`), or with `whole` the month of every site at once (as it
    did): REPORT its seconds and peak RSS."""
    from wanperf_dagster.storage.api import Loaded

    history = HistoryStore(history_dir)
    days = [pd.Timestamp(DAY0 + d * 86400, unit="s").date().isoformat() for d in range(DAYS)]
    sites = sorted(
        set(history.read_days("circuit_kpis", days[:1], ["site_id"])[0]["site_id"].to_pylist())
    )
    t0 = time.perf_counter()
    if whole:
        table, _ = history.read_days("circuit_kpis", days)
        daily = table.to_pandas()
        del table
        rows = len(kpi.period_circuit_kpis(daily, "M"))
    else:

        def read(site_ids, columns=None):
            table, gone = history.read_days("circuit_kpis", days, columns, site_ids)
            return Loaded(table if table is not None else pa.table({}), [], len(days) - len(gone))

        rows = len(kpi.sliced_period_kpis(read, sites, "M", SLICE_SITES)[0])
    seconds = time.perf_counter() - t0
    print("REPORT " + json.dumps({"seconds": seconds, "peak_mib": _own_peak_mib(), "rows": rows}))


def _own_peak_mib() -> float:
    """This process's peak RSS since it began (VmHWM: ru_maxrss outlives exec on Linux, so a
    child started from a large parent would report the parent's)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rollup"]:
        _rollup(sys.argv[2])
    elif sys.argv[1:2] == ["--rollup-whole"]:
        _rollup(sys.argv[2], whole=True)
    elif sys.argv[1:2] == ["--baselines-whole"]:
        _baselines(sys.argv[2], sys.argv[3], whole=True)
    elif sys.argv[1:2] == ["--baselines"]:
        _baselines(sys.argv[2], sys.argv[3])
