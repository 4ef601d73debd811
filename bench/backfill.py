"""Backfill: one day x 2,000 sites through the real Dagster machinery — the project's instance
(`deploy/dagster.yaml`: SQLite, queued runs, at most 2 at a time), a running `dagster-daemon`
with its code server, run workers in their own processes — against one run per partition,
measured on 20 partitions the same way in the same session and extrapolated.

`python -m bench backfill` (env WANPERF_BENCH_BACKFILL_SITES, default 2000;
WANPERF_BENCH_BACKFILL_CHUNK, default the project's WANPERF_BACKFILL_CHUNK default)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._common import bench_redis, row

SITES = int(os.environ.get("WANPERF_BENCH_BACKFILL_SITES", "2000"))
# a day of 10-minute sweeps, as the product makes them
SWEEPS = int(os.environ.get("WANPERF_BENCH_BACKFILL_SWEEPS", "144"))
# how many days the day dimension holds: Dagster's backfill daemon enumerates every day x site key
# of the assets it backfills, so its time and memory grow with history (see docs/operations.md)
HISTORY_DAYS = int(os.environ.get("WANPERF_BENCH_BACKFILL_HISTORY_DAYS", "30"))
PER_PARTITION_SAMPLE = int(os.environ.get("WANPERF_BENCH_BACKFILL_PER_PARTITION", "20"))
PROJECT = Path(__file__).resolve().parent.parent
YESTERDAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
DAY = YESTERDAY.isoformat()
DAY0 = int(dt.datetime.combine(YESTERDAY, dt.time(), dt.UTC).timestamp())
START_DATE = (YESTERDAY - dt.timedelta(days=HISTORY_DAYS - 2)).isoformat()  # + today


def main() -> None:
    with (
        bench_redis() as (url, _),
        tempfile.TemporaryDirectory(prefix="wanperf-bench-home-") as home,
    ):
        shutil.copyfile(PROJECT / "deploy" / "dagster.yaml", Path(home) / "dagster.yaml")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MIST_", "DAGSTER_"))},
            "WANPERF_REDIS_URL": url,
            "WANPERF_SIM_SITES": str(SITES),
            "WANPERF_SIM_SEED": "1",
            "WANPERF_START_DATE": START_DATE,
            "WANPERF_DATA_DIR": home,
            "DAGSTER_HOME": home,
        }
        if os.environ.get("WANPERF_BENCH_BACKFILL_CHUNK"):
            env["WANPERF_BACKFILL_CHUNK"] = os.environ["WANPERF_BENCH_BACKFILL_CHUNK"]
        out = subprocess.run(
            [sys.executable, "-m", "bench.backfill", "--drive"],
            cwd=PROJECT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            timeout=3600,
        )
        lines = [x for x in out.stdout.splitlines() if x.startswith("REPORT ")]
        if out.returncode or not lines:
            raise SystemExit(f"backfill benchmark failed (exit {out.returncode})")
        rep = json.loads(lines[-1][7:])
    chunked, single = rep["chunked"], rep.get("per_partition")
    print(
        f"\n== backfill: 1 day x {rep['sites']:,} sites, {SWEEPS} sweeps, "
        f"{HISTORY_DAYS} days of partitions, dagster-daemon + SQLite =="
    )
    row("", "seconds")
    row(
        f"chunked: {chunked['runs']} runs of <= {rep['chunk']} site-days, submit -> last",
        f"{chunked['last_materialized_s']:.1f}",
    )
    row("  of which waiting for the daemon's first tick", f"{chunked['first_run_s']:.1f}")
    row("    backfill daemon's tick: first run created", f"{chunked['first_created_s']:.1f}")
    row(
        "    run queue and run worker start",
        f"{chunked['first_run_s'] - chunked['first_created_s']:.1f}",
    )
    row("  first run start -> last partition materialized", f"{chunked['executing_s']:.1f}")
    row("  submit -> backfill marked completed", f"{chunked['completed_s']:.1f}")
    if single:
        row(
            f"one run per partition: {PER_PARTITION_SAMPLE} partitions, submit -> last",
            f"{single['last_materialized_s']:.1f}",
        )
        per_run = single["executing_s"] / PER_PARTITION_SAMPLE
        extrapolated = single["first_run_s"] + per_run * rep["sites"]
        row(
            f"  extrapolated to {rep['sites']:,} partitions",
            f"{extrapolated:.0f}",
            f"{extrapolated / chunked['last_materialized_s']:.0f}x",
        )
    row("materialized site_snapshots / circuit_kpis", f"{rep['materialized']}")
    row(f"add {rep['sites']:,} dynamic partitions (SQLite)", f"{rep['add_partitions_s']:.2f}")
    row("list them", f"{rep['list_partitions_s']:.3f}")
    for role, mib in chunked["peak_rss_mib"].items():
        row(f"peak RSS: {role}", f"{mib} MiB")
    row("peak RSS: all of them at once", f"{chunked['peak_total_rss_mib']} MiB")


# ---- the driver, in its own process with its own DAGSTER_HOME ---------------------------------


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
        found += frontier
    return found


def _role(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    for marker, role in (
        ("spawn_main", "run worker (largest)"),  # the code server spawns each run's process
        ("api grpc", "code server"),
        ("dagster-daemon", "daemon"),
    ):
        if marker in cmd:
            return role
    return "other"


def _rss_kib(pid: int) -> tuple[int, int]:
    """(current, peak) resident set of one process, KiB."""
    values = {"VmRSS": 0, "VmHWM": 0}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in values:
                    values[key] = int(line.split()[1])
    except OSError:
        pass
    return values["VmRSS"], values["VmHWM"]


def _run_backfill(instance, daemon_pid: int, backfill_id: str, sites: list[str]) -> dict:
    import dagster as dg
    from dagster._core.execution.backfill import BulkActionStatus

    from wanperf_dagster_tests.backfills import add_site_day_backfill

    keys = [dg.AssetKey("site_snapshots"), dg.AssetKey("circuit_kpis")]
    wanted = {dg.MultiPartitionKey({"day": DAY, "site": s}) for s in sites}

    cursor = instance.event_log_storage.get_maximum_record_id()

    def done_count() -> int:
        # partitions materialized since submission, per asset (one cheap index query each)
        return min(
            len(instance.get_materialized_partitions(key, after_cursor=cursor) & wanted)
            for key in keys
        )

    peak: dict[str, int] = {}
    peak_total = 0
    t0 = time.time()
    add_site_day_backfill(instance, backfill_id, [DAY], sites)  # as kpi_backfills emits it
    first_run = last = completed = None
    while time.time() - t0 < 1800:
        time.sleep(1)
        tree = [(_role(pid), *_rss_kib(pid)) for pid in _descendants(daemon_pid)]
        for role, _, hwm in tree:
            peak[role] = max(peak.get(role, 0), hwm)
        peak_total = max(peak_total, sum(cur for _, cur, _ in tree))
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        if first_run is None:
            started = [r for r in runs if r.status != dg.DagsterRunStatus.QUEUED]
            if started:
                first_run = time.time() - t0
        if last is None and first_run is not None and done_count() == len(sites):
            last = time.time() - t0
        status = instance.get_backfill(backfill_id).status
        if status != BulkActionStatus.REQUESTED:
            completed = time.time() - t0
            if last is None and done_count() == len(sites):
                last = completed
            break
    if last is None:
        raise SystemExit(f"backfill {backfill_id} did not materialize every partition")
    records = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    detail = sorted(
        (
            round((rec.start_time or t0) - t0, 1),
            round((rec.end_time or t0) - t0, 1),
            ",".join(sorted(k.to_user_string() for k in rec.dagster_run.asset_selection or [])),
            rec.dagster_run.tags.get("dagster/asset_partition_range_start", "")[-8:],
            rec.dagster_run.tags.get("dagster/asset_partition_range_end", "")[-8:],
        )
        for rec in records
    )
    print(f"{backfill_id}: runs (start, end, assets, range) {detail[:6]}", file=sys.stderr)
    # the backfill daemon creates the runs (queued) on its tick; the queue then starts them
    created = min(rec.create_timestamp.timestamp() for rec in records) - t0
    return {
        "runs": len(runs),
        "first_created_s": round(created, 1),
        "first_run_s": round(first_run, 1),
        "last_materialized_s": round(last, 1),
        "executing_s": round(last - first_run, 1),
        "completed_s": round(completed, 1) if completed else None,
        "status": status.value,
        "peak_rss_mib": {role: round(kib / 1024) for role, kib in sorted(peak.items())},
        "peak_total_rss_mib": round(peak_total / 1024),
    }


def _daemon(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait_for_daemon(instance, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        beats = instance.get_daemon_heartbeats()
        fresh = {name for name, beat in beats.items() if beat.timestamp > t0}
        if {"BACKFILL", "QUEUED_RUN_COORDINATOR"} <= fresh:
            return
        time.sleep(0.5)
    raise SystemExit("dagster-daemon did not start within 2 minutes")


def _stop(proc: subprocess.Popen) -> None:
    import signal

    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def drive() -> None:
    import warnings

    warnings.filterwarnings("ignore")
    import dagster as dg

    from wanperf_dagster import store
    from wanperf_dagster.dagster_io.storage import AssetStore
    from wanperf_dagster.mist import SweepConfig, run_sweep
    from wanperf_dagster.settings import get_settings
    from wanperf_dagster.sources import client_from_settings, in_process_simulator

    settings = get_settings()
    sim = in_process_simulator(settings.sim_sites, settings.sim_seed).sim
    r = store.connect(store.resolve_redis_url(settings.redis_url, settings.data_dir))
    client = client_from_settings(settings)
    t = time.time()
    for k in range(SWEEPS):
        sim.clock.set(DAY0 + k * (86400 // SWEEPS) + 30)
        run_sweep(client, r, SweepConfig())
    print(f"seeded {SWEEPS} sweeps in {time.time() - t:.0f} s", file=sys.stderr)

    from wanperf_dagster.definitions import defs

    definitions = defs()
    report: dict = {"sites": SITES, "chunk": settings.backfill_chunk}
    with dg.DagsterInstance.get() as instance:
        assert dg.materialize(
            list(definitions.assets),
            selection=["mist_sites"],
            resources=definitions.resources,
            instance=instance,
        ).success
        site_ids = AssetStore(r).site_ids()
        t = time.time()
        instance.add_dynamic_partitions("site", site_ids)
        report["add_partitions_s"] = round(time.time() - t, 3)
        t = time.time()
        assert len(instance.get_dynamic_partitions("site")) == len(site_ids)
        report["list_partitions_s"] = round(time.time() - t, 3)

        daemon = _daemon(dict(os.environ))
        try:
            _wait_for_daemon(instance)
            report["chunked"] = _run_backfill(instance, daemon.pid, "bench-chunked", site_ids)
        finally:
            _stop(daemon)
        report["materialized"] = "/".join(
            str(len(instance.get_materialized_partitions(dg.AssetKey(a))))
            for a in ("site_snapshots", "circuit_kpis")
        )
        print(f"chunked: {report['chunked']}", file=sys.stderr)

        if not PER_PARTITION_SAMPLE:
            print("REPORT " + json.dumps(report))
            return
        daemon = _daemon({**os.environ, "WANPERF_BACKFILL_CHUNK": "1"})
        try:
            _wait_for_daemon(instance)
            report["per_partition"] = _run_backfill(
                instance, daemon.pid, "bench-per-partition", site_ids[:PER_PARTITION_SAMPLE]
            )
        finally:
            _stop(daemon)
    print("REPORT " + json.dumps(report))


if __name__ == "__main__":
    if sys.argv[1:] == ["--drive"]:
        drive()
    else:
        main()
