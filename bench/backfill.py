"""Backfill: one day x 2,000 sites through Dagster's backfill machinery (SQLite instance,
embedded Redis), chunked, against one run per partition measured on 20 partitions in the same
session and extrapolated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ._common import bench_redis, row

SITES = int(os.environ.get("WANPERF_BENCH_BACKFILL_SITES", "2000"))
SCRIPT = (
    Path(__file__).resolve().parent.parent
    / "wanperf_dagster_tests"
    / "defs"
    / "scripts"
    / "run_backfill.py"
)


def main() -> None:
    with bench_redis() as (url, _), tempfile.TemporaryDirectory() as home:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MIST_")},
            "WANPERF_REDIS_URL": url,
            "WANPERF_SIM_SITES": str(SITES),
            "WANPERF_SIM_SEED": "1",
            "WANPERF_BACKFILL_CHUNK": "500",
            "WANPERF_START_DATE": "2025-11-01",
            "WANPERF_DATA_DIR": home,
            "DAGSTER_HOME": home,
        }
        out = subprocess.run(
            [sys.executable, str(SCRIPT), "24", "20"],
            capture_output=True,
            text=True,
            env=env,
            timeout=3000,
        )
        lines = [x for x in out.stdout.splitlines() if x.startswith("REPORT ")]
        if not lines:
            print(out.stderr[-3000:])
            raise SystemExit("backfill benchmark failed")
        rep = json.loads(lines[-1][7:])
    print(
        f"\n== backfill: 1 day x {rep['sites']:,} sites (24 samples per circuit), SQLite instance =="
    )
    chunked = rep["elapsed_s"]
    per = rep["per_partition_run_s"]
    row("", "seconds")
    row(f"chunked backfill ({len(rep['runs'])} runs, status {rep['status']})", f"{chunked:.1f}")
    row("one run per partition (mean of 20, in-process)", f"{per:.2f}")
    row(
        f"  extrapolated to {rep['sites']:,} partitions",
        f"{per * rep['sites']:.0f}",
        f"{per * rep['sites'] / chunked:.0f}x",
    )
    row(
        "materialized site_snapshots / circuit_kpis",
        f"{rep['materialized']['site_snapshots']}/{rep['materialized']['circuit_kpis']}",
    )
    row(
        f"add {rep['sites']:,} dynamic partitions (SQLite)",
        f"{rep['add_dynamic_partitions_s']:.2f}",
    )
    row("list them", f"{rep['get_dynamic_partitions_s']:.3f}")
    row("peak RSS of the backfill process", f"{rep['peak_rss_mib']} MiB")
    print(
        "  (the daemon's 30 s polling adds up to 30 s before the first run and before completion)"
    )


if __name__ == "__main__":
    main()
