"""The `kpi_backfills` evaluation while a backfill runs: the rollups' guard as Dagster's
`~any_deps_in_progress()` beside the project's `SiteDaysInProgress`, side by side on the same
instance (one day x N sites of the seven site-day assets materialized, the backfill still active,
so every rollup waits on its guard at every evaluation). Each variant evaluates in a process of
its own, as the daemon would, tick after tick with its cursor: seconds per evaluation and how
the process's resident memory grows.

`python -m bench automation [--sites 2000] [--ticks 6]`

`python -m bench automation --nightly [--sites 10000]`: the nightly tick itself (00:20 UTC, the
first after midnight), which requests yesterday x every site of each site-day asset and the
day's rollups: its seconds and its process's peak memory, median of 3 (#31's goal at 10,000
sites: <= 10 s, <= 1 GiB), each in a process of its own from the same cursor (an evaluation
launches nothing: it is the preview `test_pipeline.py` makes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ._common import child_report, row

PROJECT = Path(__file__).resolve().parent.parent
DAY = "2025-11-26"
NOW = dt.datetime(2025, 11, 27, 1, 0, tzinfo=dt.UTC)  # after the nightly tick, during its backfill
START_DATE = "2025-10-01"


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench automation")
    parser.add_argument("--sites", type=int, default=2000)
    parser.add_argument("--ticks", type=int, default=6)
    parser.add_argument("--nightly", action="store_true", help="the nightly tick's cost")
    return parser.parse_args(argv)


NIGHT_BEFORE = dt.datetime(2025, 11, 26, 23, 50, tzinfo=dt.UTC)  # the cursor's tick
NIGHTLY = dt.datetime(2025, 11, 27, 0, 20, tzinfo=dt.UTC)  # the nightly tick


def _nightly(env: dict, sites: int) -> None:
    seeded = _child(env, "--seed-night", str(sites))
    runs = [_child(env, "--tick-night") for _ in range(3)]
    print(
        f"\n== the nightly tick (00:20 UTC) at {sites:,} sites (seeded in"
        f" {seeded['seed_s']:.0f} s), each in its own process, median of 3 =="
    )
    row("", "seconds", "peak MiB", "requested")
    row(
        "kpi_backfills' nightly evaluation (goal <= 10 s, <= 1 GiB at 10,000)",
        f"{statistics.median(r['tick_s'] for r in runs):.2f}",
        f"{statistics.median(r['peak_mib'] for r in runs):,.0f}",
        f"{runs[-1]['requested']:,}",
    )
    row("  each run", " / ".join(f"{r['tick_s']:.2f}" for r in runs), "", "")


def _child(env: dict, *args: str) -> dict:
    return child_report("automation", env, *args, timeout=3600)


def main(argv: list[str] | None = None) -> None:
    opts = _options(argv or [])
    with tempfile.TemporaryDirectory(prefix="wanperf-bench-") as home:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MIST_", "DAGSTER_"))},
            "DAGSTER_HOME": home,
            "WANPERF_DATA_DIR": home,
            "WANPERF_START_DATE": START_DATE,
            "PYTHONPATH": str(PROJECT),
        }
        env.pop("WANPERF_DAGSTER_PG_URL", None)
        if opts.nightly:
            _nightly(env, opts.sites)
            return
        seeded = _child(env, "--seed", str(opts.sites))
        reports = {
            variant: _child(env, "--evaluate", variant, str(opts.ticks))
            for variant in ("dagster", "ours")
        }
    dagster, ours = reports["dagster"], reports["ours"]
    print(
        f"\n== kpi_backfills evaluated {opts.ticks} times during a backfill: 1 day x"
        f" {opts.sites:,} sites x {seeded['assets']} site-day assets materialized (seeded in"
        f" {seeded['seed_s']:.0f} s), every rollup waiting on its guard =="
    )
    print("Dagster's: ~any_deps_in_progress(), as before; ours: ~SiteDaysInProgress()")
    row("", "Dagster's", "ours")
    med = {k: statistics.median(r["tick_s"]) for k, r in reports.items()}
    row("seconds per evaluation (median)", f"{med['dagster']:.2f}", f"{med['ours']:.2f}")
    row("  the first", f"{dagster['tick_s'][0]:.2f}", f"{ours['tick_s'][0]:.2f}")
    row("resident memory before (MiB)", str(dagster["rss_before"]), str(ours["rss_before"]))
    row(
        "  after the last evaluation (MiB)",
        str(dagster["rss_after"][-1]),
        str(ours["rss_after"][-1]),
    )
    growth = {
        k: (r["rss_after"][-1] - r["rss_before"]) / len(r["tick_s"]) for k, r in reports.items()
    }
    row("  growth per evaluation (MiB)", f"{growth['dagster']:.1f}", f"{growth['ours']:.1f}")
    row(
        "partitions requested (each evaluation)",
        *("/".join(str(n) for n in r["requested"]) for r in (dagster, ours)),
    )
    print(
        f"ours: {med['dagster'] / max(med['ours'], 0.001):.0f}x faster per"
        f" evaluation; memory growth {growth['dagster']:.1f} vs {growth['ours']:.1f} MiB per"
        " evaluation"
    )


# ---- the children, each in its own process --------------------------------------------------


def _rss_mib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return 0


def _setup():
    import warnings

    warnings.filterwarnings("ignore")
    import logging

    logging.disable(logging.WARNING)  # Dagster's "exceeding the maximum of 100" per asset
    from wanperf_dagster.instance.config import write_instance_config
    from wanperf_dagster.settings import get_settings

    write_instance_config(Path(os.environ["DAGSTER_HOME"]), get_settings(), cores=2)


def seed(sites: int) -> None:
    """The instance: the sites, a cursor from before the backfill, the backfill, and every
    site-day of the day materialized (the backfill daemon has not yet recorded them)."""
    _setup()
    import dagster as dg

    from harness.backfills import add_site_day_backfill, automated_assets
    from wanperf_dagster.dagster_io.partitions import site_day_partition
    from wanperf_dagster.definitions import defs

    names = [f"site-{n:05d}" for n in range(sites)]
    t = time.time()
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("site", names)
        first = dg.evaluate_automation_conditions(defs(), instance, evaluation_time=NOW)
        Path(os.environ["DAGSTER_HOME"], "cursor.json").write_text(dg.serialize_value(first.cursor))
        add_site_day_backfill(instance, "bench-automation", [DAY], names)
        site_days, _ = automated_assets()
        for asset in site_days:
            for site in names:
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(asset, partition=site_day_partition(DAY, site))
                )
    print("REPORT " + json.dumps({"seed_s": round(time.time() - t, 1), "assets": len(site_days)}))


def seed_night(sites: int) -> None:
    """The sites, and the cursor of the tick before midnight."""
    _setup()
    import dagster as dg

    from wanperf_dagster.definitions import defs

    t = time.time()
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("site", [f"site-{n:05d}" for n in range(sites)])
        before = dg.evaluate_automation_conditions(defs(), instance, evaluation_time=NIGHT_BEFORE)
        Path(os.environ["DAGSTER_HOME"], "night.json").write_text(dg.serialize_value(before.cursor))
    print("REPORT " + json.dumps({"seed_s": round(time.time() - t, 1)}))


def tick_night() -> None:
    """The nightly tick from the cursor before midnight: its seconds, this process's peak."""
    _setup()
    import dagster as dg
    from dagster._core.definitions.asset_daemon_cursor import AssetDaemonCursor

    from wanperf_dagster.definitions import defs

    definitions = defs()
    cursor = dg.deserialize_value(
        Path(os.environ["DAGSTER_HOME"], "night.json").read_text(), AssetDaemonCursor
    )
    with dg.DagsterInstance.get() as instance:
        t = time.perf_counter()
        result = dg.evaluate_automation_conditions(
            definitions, instance, cursor=cursor, evaluation_time=NIGHTLY
        )
        seconds = time.perf_counter() - t
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
    report = {"tick_s": round(seconds, 3), "peak_mib": peak, "requested": result.total_requested}
    print("REPORT " + json.dumps(report))


def evaluate(variant: str, ticks: int) -> None:
    _setup()
    import gc

    import dagster as dg
    from dagster._core.definitions.asset_daemon_cursor import AssetDaemonCursor

    from wanperf_dagster.definitions import defs

    definitions = defs()
    if variant == "dagster":  # the guard as it was: Dagster's dependency operator
        definitions = definitions.map_asset_specs(
            func=lambda spec: (
                spec.replace_attributes(
                    automation_condition=spec.automation_condition.replace(
                        "site_days_in_progress", dg.AutomationCondition.any_deps_in_progress()
                    )
                )
                if spec.automation_condition is not None
                else spec
            )
        )
    cursor = dg.deserialize_value(
        Path(os.environ["DAGSTER_HOME"], "cursor.json").read_text(), AssetDaemonCursor
    )
    report: dict = {"tick_s": [], "rss_after": [], "requested": []}
    with dg.DagsterInstance.get() as instance:
        gc.collect()
        report["rss_before"] = _rss_mib()
        for n in range(ticks):
            t = time.perf_counter()
            result = dg.evaluate_automation_conditions(
                definitions,
                instance,
                cursor=cursor,
                evaluation_time=NOW + dt.timedelta(minutes=n + 1),
            )
            report["tick_s"].append(round(time.perf_counter() - t, 3))
            cursor = result.cursor
            report["requested"].append(result.total_requested)
            gc.collect()
            report["rss_after"].append(_rss_mib())
    print("REPORT " + json.dumps(report))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--seed"]:
        seed(int(sys.argv[2]))
    elif sys.argv[1:2] == ["--seed-night"]:
        seed_night(int(sys.argv[2]))
    elif sys.argv[1:2] == ["--tick-night"]:
        tick_night()
    elif sys.argv[1:2] == ["--evaluate"]:
        evaluate(sys.argv[2], int(sys.argv[3]))
    else:
        main(sys.argv[1:])
