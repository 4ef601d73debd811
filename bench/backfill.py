"""Backfill: one day x 2,000 sites through the real Dagster machinery — the project's instance
(`deploy/dagster.yaml`: SQLite, queued runs, at most 2 at a time), a running `dagster-daemon`
with its code server, run workers in their own processes — against one run per partition,
measured on 20 partitions the same way in the same session and extrapolated.

The daemon is `wanperf daemon` with every Dagster patch on (`WANPERF_DAGSTER_PATCHES=all`: the
backfill loop woken by work, the batched event log, per-partition metadata in one step); the same
backfill runs a second time on stock Dagster (`WANPERF_DAGSTER_PATCHES=none`: Dagster's own daemon
and its 30-s backfill loop, its event log, the public metadata call) beside it, to show what the
patches buy (`--no-dagster-loop` skips that).

`python -m bench backfill [--instance postgres] [--executor celery] [--workers N] [--sites N]
[--repeat N] [--without-sqlite]` runs the same backfill of the same seeded data once more on that
deployment (the Postgres instance in a database of its own, steps on N `wanperf worker` processes
over RabbitMQ) and prints it beside the SQLite in-process path, which `--without-sqlite` leaves
out (env WANPERF_BENCH_BACKFILL_SITES, default 2000;
WANPERF_BENCH_BACKFILL_CHUNK, default the project's WANPERF_BACKFILL_CHUNK default;
WANPERF_BENCH_PG_URL, WANPERF_BENCH_CELERY_BROKER). `--repeat N` runs each backfill N times on the
one seed, each on a fresh instance (times: the median; memory: the largest), printing each run as
it ends. The seed runs the day's sweeps and its feeds' ingestions side by side in two processes
(at 20,000 sites, 24 and 32 minutes); `--seed-dir DIR` keeps the seeded Redis there and a later
run of the same seed (sites, day, sweeps) starts from it.

The backfills' Mist API is the simulator in a process of its own (`wanperf sim`, reached through
MIST_HOST and a token), as Mist's servers are to a deployment: with no token, the product would
serve the simulator from a thread of each run that calls the API, so the sweep job's run would
also hold the simulated org (about 150 MiB at 20,000 sites) and its serving.
WANPERF_BENCH_BACKFILL_SIM=in-process measures that way instead."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from harness.instance_config import make_postgres_database
from wanperf_dagster.store import EmbeddedRedis, connect

from ._common import bench_redis, child_report, row

SITES = int(os.environ.get("WANPERF_BENCH_BACKFILL_SITES", "2000"))
# a day of 10-minute sweeps, as the product makes them
SWEEPS = int(os.environ.get("WANPERF_BENCH_BACKFILL_SWEEPS", "144"))
# how many days the day dimension holds: Dagster's backfill daemon enumerates every day x site key
# of the assets it backfills, so its time and memory grow with history (see docs/operations.md)
HISTORY_DAYS = int(os.environ.get("WANPERF_BENCH_BACKFILL_HISTORY_DAYS", "30"))
PER_PARTITION_SAMPLE = int(os.environ.get("WANPERF_BENCH_BACKFILL_PER_PARTITION", "20"))
SIM_IN_PROCESS = os.environ.get("WANPERF_BENCH_BACKFILL_SIM", "process") == "in-process"
SIM_TOKEN = "bench-simulator-token"  # the stand-in API's own token, not a secret
PG = os.environ.get("WANPERF_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
BROKER = os.environ.get("WANPERF_BENCH_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
PROJECT = Path(__file__).resolve().parent.parent
YESTERDAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
DAY = YESTERDAY.isoformat()
DAY0 = int(dt.datetime.combine(YESTERDAY, dt.time(), dt.UTC).timestamp())
START_DATE = (YESTERDAY - dt.timedelta(days=HISTORY_DAYS - 2)).isoformat()  # + today


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench backfill")
    parser.add_argument("--instance", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--executor", choices=("in_process", "celery"), default="in_process")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (--executor celery)")
    parser.add_argument("--sites", type=int, default=SITES)
    parser.add_argument(
        "--repeat",
        type=int,
        default=int(os.environ.get("WANPERF_BENCH_BACKFILL_REPEAT", "1")),
        help="run each backfill this many times on the one seeded day (a fresh instance each):"
        " its times are the median, its memory the largest",
    )
    parser.add_argument(
        "--no-dagster-loop",
        action="store_true",
        help="skip the run under Dagster's own 30-s backfill loop",
    )
    parser.add_argument(
        "--without-sqlite",
        action="store_true",
        help="with --instance postgres: run only that deployment's backfills, not the SQLite"
        " in-process ones beside them (at 20,000 sites, about 7 minutes each)",
    )
    parser.add_argument(
        "--defaults-only",
        action="store_true",
        help="run only the backfill with the defaults (stock Dagster, its own 30-s loop): at"
        " 20,000 sites it takes over 20 minutes, the patched run beside it another 7",
    )
    parser.add_argument(
        "--seed-only",
        action="store_true",
        help="with --seed-dir: seed the day there and stop, so the backfills can run later on"
        " a quiet machine",
    )
    parser.add_argument(
        "--seed-dir",
        type=Path,
        help="keep the seeded Redis in this directory and reuse it when it holds the same seed"
        " (sites, day, sweeps): a 20,000-site seed takes 26 minutes",
    )
    return parser.parse_args(argv)


def _child(env: dict, *args: str) -> dict:
    return child_report("backfill", env, *args, timeout=5400)


def _seed(env: dict) -> dict:
    """The day's sweeps and its feeds' ingestions side by side in two processes (they write
    apart), then the next day's first two ingestions, which close the day's feeds."""
    from concurrent.futures import ThreadPoolExecutor

    t = time.time()
    with ThreadPoolExecutor(2) as pool:
        parts = list(pool.map(lambda part: _child(env, "--seed", part), ("sweeps", "feeds")))
    _child(env, "--seed", "close")
    return {"seed_s": round(time.time() - t, 1), **parts[0], **parts[1]}


@contextlib.contextmanager
def _seeded_redis(opts, base: dict, tmp: str) -> Iterator[tuple[str, dict]]:
    """The bench's Redis with the day seeded: seeded here, or, with `--seed-dir`, the Redis kept
    there by an earlier run of the same seed (its report beside it)."""
    if opts.seed_dir is None:
        with bench_redis() as (url, _):
            yield url, _seed({**base, "WANPERF_REDIS_URL": url, "WANPERF_DATA_DIR": f"{tmp}/seed"})
        return
    server = EmbeddedRedis(opts.seed_dir).ensure_running()
    marker = opts.seed_dir / f"seeded-{opts.sites}-{DAY}-{SWEEPS}.json"
    try:
        if marker.exists():
            print(f"the seed in {opts.seed_dir} ({marker.name}) is used again", file=sys.stderr)
            seeded = json.loads(marker.read_text())
        else:
            for old in opts.seed_dir.glob("seeded-*.json"):  # another seed: start over
                old.unlink()
            connect(server.url).flushdb()
            env = {**base, "WANPERF_REDIS_URL": server.url, "WANPERF_DATA_DIR": f"{tmp}/seed"}
            seeded = _seed(env)
            marker.write_text(json.dumps(seeded))
        yield server.url, seeded
    finally:
        server.stop()


def _median(runs: list[dict]) -> dict:
    """One variant's repeated runs as one report: each time the median, each peak the largest,
    the one-run-per-partition sample the first run's."""
    import statistics

    merged = {**runs[0], "chunked": dict(runs[0]["chunked"])}
    chunked = merged["chunked"]
    chunked["each_s"] = [r["chunked"]["last_materialized_s"] for r in runs]
    for key, value in runs[0]["chunked"].items():
        values = [r["chunked"].get(key) for r in runs]
        if isinstance(value, float) and key.endswith("_s") and None not in values:
            chunked[key] = round(statistics.median(values), 1)
    roles = {role for r in runs for role in r["chunked"]["peak_rss_mib"]}
    chunked["peak_rss_mib"] = {
        role: max(r["chunked"]["peak_rss_mib"].get(role, 0) for r in runs) for role in sorted(roles)
    }
    chunked["peak_total_rss_mib"] = max(r["chunked"]["peak_total_rss_mib"] for r in runs)
    roles = {role for r in runs for role in r["chunked"].get("cpu_s", {})}
    chunked["cpu_s"] = {
        role: round(statistics.median(r["chunked"].get("cpu_s", {}).get(role, 0) for r in runs), 1)
        for role in sorted(roles)
    }
    merged["add_partitions_s"] = statistics.median(r["add_partitions_s"] for r in runs)
    return merged


def main(argv: list[str] | None = None) -> None:
    opts = _options(argv or [])
    if opts.seed_only and opts.seed_dir is None:
        sys.exit("--seed-only keeps the seed for later: give it a --seed-dir")
    variants = [("sqlite", "in_process", "wake")]
    if not opts.no_dagster_loop:
        variants.append(("sqlite", "in_process", "dagster"))
    if (opts.instance, opts.executor) != variants[0][:2]:
        variants.append((opts.instance, opts.executor, "wake"))
        if opts.without_sqlite:  # measured already: the deployment's runs alone
            variants = [v for v in variants if v[0] != "sqlite"]
    if opts.defaults_only:
        variants = [("sqlite", "in_process", "dagster")]
    with tempfile.TemporaryDirectory(prefix="wanperf-bench-") as tmp:
        base = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MIST_", "DAGSTER_"))},
            "WANPERF_SIM_SITES": str(opts.sites),
            "WANPERF_SIM_SEED": "1",
            "WANPERF_START_DATE": START_DATE,
        }
        base.pop("WANPERF_DAGSTER_PG_URL", None)
        if os.environ.get("WANPERF_BENCH_BACKFILL_CHUNK"):
            base["WANPERF_BACKFILL_CHUNK"] = os.environ["WANPERF_BENCH_BACKFILL_CHUNK"]
        with _seeded_redis(opts, base, tmp) as (url, seeded):
            base["WANPERF_REDIS_URL"] = url
            if opts.seed_only:
                print(f"seeded in {opts.seed_dir}: {json.dumps(seeded)}")
                return
            reports = _run_variants(opts, variants, base, tmp)
    _print(opts, seeded, {variant: _median(runs) for variant, runs in reports.items()})


def _run_variants(opts, variants: list, base: dict, tmp: str) -> dict:
    """Each deployment's backfill, `--repeat` times, each on a fresh instance."""
    reports: dict[tuple[str, str, str], list[dict]] = {}
    for instance, executor, loop in variants:
        for attempt in range(opts.repeat):  # the same seeded data, a fresh instance each
            home = f"{tmp}/{instance}-{executor}-{loop}-{attempt}"
            env = {**base, "WANPERF_DATA_DIR": home, "DAGSTER_HOME": home}
            env["WANPERF_DAGSTER_PATCHES"] = "all" if loop == "wake" else "none"
            env["WANPERF_BACKFILL_WAKE_SECONDS"] = "2"
            if instance == "postgres":  # a database of its own, dropped when the bench ends
                env["WANPERF_DAGSTER_PG_URL"] = make_postgres_database(PG)
            if executor == "celery":
                env["WANPERF_EXECUTOR"] = "celery"
                env["WANPERF_CELERY_BROKER"] = BROKER
                env["WANPERF_CELERY_QUEUE"] = f"wanperf-bench-{uuid.uuid4().hex[:8]}"
            # one run per partition beside the chunked run (once), when no deployment is
            # compared
            alone = (opts.instance, opts.executor) == ("sqlite", "in_process")
            first = alone and loop == "wake" and attempt == 0
            per_partition = PER_PARTITION_SAMPLE if first else 0
            report = _child(
                env,
                "--drive",
                str(opts.workers if executor == "celery" else 0),
                str(per_partition),
            )
            chunked = report["chunked"]
            print(
                f"{instance}/{executor}/{loop} run {attempt + 1} of {opts.repeat}:"
                f" submit -> last {chunked['last_materialized_s']:.1f} s,"
                f" peak RSS {json.dumps(chunked['peak_rss_mib'])} MiB",
                flush=True,
            )
            reports.setdefault((instance, executor, loop), []).append(report)
    return reports


def _print(opts, seeded: dict, reports: dict) -> None:
    short = {"sqlite": "sqlite", "postgres": "pg", "in_process": "local", "celery": "celery"}
    # fits a 14-character column
    names = [f"{short[i]}/{short[e]}" if w == "wake" else "stock Dagster" for i, e, w in reports]
    first = next(iter(reports.values()))
    print(
        f"\n== backfill: 1 day x {first['sites']:,} sites, {SWEEPS} sweeps (seeded in"
        f" {seeded['seed_s']:.0f} s: sweeps {seeded['sweeps_s']:.0f} s beside feeds"
        f" {seeded['feeds_s']:.0f} s), {HISTORY_DAYS} days of partitions, a running `wanperf daemon`"
        " with every Dagster patch on (stock Dagster: none) =="
    )
    row("", *names)
    chunked = {name: rep["chunked"] for name, rep in zip(names, reports.values(), strict=True)}
    for label, key in (
        (f"chunked (<= {first['chunk']} site-days a run), submit -> last", "last_materialized_s"),
        ("  of which waiting for the daemon's first tick", "first_run_s"),
        ("    backfill daemon's tick: first run created", "first_created_s"),
        ("  first run start -> last partition materialized", "executing_s"),
        ("  submit -> backfill marked completed", "completed_s"),
    ):
        row(label, *(f"{c[key]:.1f}" if c.get(key) is not None else "-" for c in chunked.values()))
    if len(first["chunked"]["each_s"]) > 1:
        row(
            "  each run, submit -> last (s; above: the median)",
            *(",".join(f"{v:.0f}" for v in c["each_s"]) for c in chunked.values()),
        )
    row("  runs", *(str(c["runs"]) for c in chunked.values()))
    row(
        "  backfill status (failed runs)",
        *(f"{c['status']} ({len(c.get('failed_runs', []))})" for c in chunked.values()),
    )
    row(
        "  then other runs (weeks, months, sensors' jobs), the last done at (s)",
        *(f"{c.get('after_runs', 0)}, {c.get('after_done_s') or '-'}" for c in chunked.values()),
    )
    row(
        "  kpi_backfills evaluations since submission (failed)",
        *(f"{c['automation_ticks']} ({c['automation_failed']})" for c in chunked.values()),
    )
    row(
        "    the slowest (s)",
        *(
            str(c["automation_slowest_s"] if c["automation_slowest_s"] is not None else "-")
            for c in chunked.values()
        ),
    )
    single = first.get("per_partition")
    if single:
        row(
            f"one run per partition: {PER_PARTITION_SAMPLE} partitions, submit -> last",
            f"{single['last_materialized_s']:.1f}",
        )
        per_run = single["executing_s"] / PER_PARTITION_SAMPLE
        extrapolated = single["first_run_s"] + per_run * first["sites"]
        slower = extrapolated / first["chunked"]["last_materialized_s"]
        row(
            f"  extrapolated to {first['sites']:,} partitions ({slower:.0f}x the chunked run)",
            f"{extrapolated:.0f}",
        )
    row(
        "materialized site_snapshots / circuit_kpis", *(r["materialized"] for r in reports.values())
    )
    row(
        f"add {first['sites']:,} dynamic partitions",
        *(f"{r['add_partitions_s']:.2f}" for r in reports.values()),
    )
    roles = sorted({role for c in chunked.values() for role in c["peak_rss_mib"]})
    for role in roles:
        row(
            f"peak RSS: {role} (MiB)",
            *(str(c["peak_rss_mib"].get(role, "-")) for c in chunked.values()),
        )
    row(
        "  the daemon's peak reached (s after submit)",
        *(str(c.get("peak_rss_at_s", {}).get("daemon", "-")) for c in chunked.values()),
    )
    row(
        "peak RSS: all of them at once (MiB)",
        *(str(c["peak_total_rss_mib"]) for c in chunked.values()),
    )
    for role in sorted({role for c in chunked.values() for role in c.get("cpu_s", {})}):
        row(
            f"CPU-s, submit -> backfill done: {role}",
            *(str(c.get("cpu_s", {}).get(role, "-")) for c in chunked.values()),
        )


# ---- the driver, in its own process with its own DAGSTER_HOME ---------------------------------


def _descendants(roots: list[int]) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found, frontier = list(roots), list(roots)
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
        ("wanperf daemon", "daemon"),
        ("celery", "celery worker (largest)"),  # a worker and its pool process
    ):
        if marker in cmd:
            return role
    if not cmd:  # ended, not yet reaped
        return "ended"
    return f"other ({' '.join(Path(w).name for w in cmd.split()[:2])})"


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """CPU-seconds one process has used so far (user + system)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


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


STATUS_EVERY_S = 5


def _run_backfill(instance, roots: list[int], backfill_id: str, sites: list[str]) -> dict:
    import dagster as dg
    from dagster._core.execution.backfill import BulkActionStatus

    from harness.backfills import add_site_day_backfill
    from wanperf_dagster.dagster_io.automation import ACTIVE_RUN_STATUSES

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
    peak_at: dict[str, int] = {}
    by_pid: dict[int, int] = {}  # each run worker's peak, to tell chunk runs from the rollup run
    # CPU-seconds each process used since submission: who had the 2 cores (a process that ends
    # between two samples loses its last second)
    cpu_from = {pid: _cpu_s(pid) for pid in _descendants(roots)}  # a new process: from 0
    cpu_now: dict[int, tuple[str, float]] = {}
    driver_cpu = sum(os.times()[:2])
    peak_total = 0
    t0 = time.time()
    add_site_day_backfill(instance, backfill_id, [DAY], sites)  # as kpi_backfills emits it
    first_run = last = completed = None
    counted_at = -1
    status_read_at = 0.0

    def sample() -> None:
        nonlocal peak_total
        pids = _descendants(roots)
        tree = [(_role(pid), *_rss_kib(pid)) for pid in pids]
        for pid, (role, _, hwm) in zip(pids, tree, strict=True):
            known = cpu_now.get(pid, ("ended", 0.0))[0]  # a process keeps the role it had
            named = role.removesuffix(" (largest)") if known == "ended" else known
            cpu_now[pid] = (named, _cpu_s(pid))
            if role in ("ended", "other"):  # gone before it could be read
                continue
            if hwm > peak.get(role, 0):  # when each role's peak was reached tells whose it is
                peak_at[role] = round(time.time() - t0)
            peak[role] = max(peak.get(role, 0), hwm)
            if role.startswith("run worker"):
                by_pid[pid] = max(by_pid.get(pid, 0), hwm)
        peak_total = max(peak_total, sum(cur for _, cur, _ in tree))

    while time.time() - t0 < 1800:
        time.sleep(1)
        sample()
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        if first_run is None:
            started = [r for r in runs if r.status != dg.DagsterRunStatus.QUEUED]
            if started:
                first_run = time.time() - t0
        # counted when a run has ended since the last count: at 20,000 sites a count every
        # second took the bench 222 CPU-seconds of the machine's two cores from the backfill
        ended = sum(r.status.value in _ENDED for r in runs)
        if last is None and first_run is not None and ended != counted_at:
            counted_at = ended
            if done_count() == len(sites):
                last = time.time() - t0
        # the backfill's status every 5 s, not every second: its record holds every site-day of
        # the request and what is done of it, and reading it each second took the bench 10 % of
        # a core at 20,000 sites (py-spy); `completed_s` is within 5 s
        if time.time() - status_read_at < STATUS_EVERY_S:
            continue
        status_read_at = time.time()
        status = instance.get_backfill(backfill_id).status
        if status != BulkActionStatus.REQUESTED:
            completed = time.time() - t0
            if last is None and done_count() == len(sites):
                last = completed
            break
    cpu: dict[str, float] = {"bench driver": sum(os.times()[:2]) - driver_cpu}
    for pid, (role, used) in cpu_now.items():
        cpu[role] = cpu.get(role, 0.0) + used - cpu_from.get(pid, 0.0)
    # the automation then refreshes the week's and month's rollups (its next evaluation): their
    # runs are sampled to their end too
    settle = time.time()
    while time.time() - settle < 600:
        time.sleep(1)
        sample()
        active = instance.get_runs(
            dg.RunsFilter(created_after=_utc(t0), statuses=ACTIVE_RUN_STATUSES), limit=1
        )
        if not active and time.time() - settle > AUTOMATION_SETTLE_S:
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
    failed = _failures(instance, records)
    for line in failed:
        print(f"{backfill_id}: FAILED {line}", file=sys.stderr)
    # and the runs outside it since submission: the week and month rollups the automation
    # requests once the day's site-days are done
    others = [
        rec
        for rec in instance.get_run_records(dg.RunsFilter(created_after=_utc(t0)))
        if rec.dagster_run.tags.get("dagster/backfill") != backfill_id
    ]
    for rec in [*records, *others]:  # the run's own log names its process
        if rec.dagster_run.tags.get("dagster/backfill") != backfill_id:
            kind = "after the backfill"
        elif "dagster/asset_partition_range_start" in rec.dagster_run.tags:
            kind = "chunk"
        else:
            kind = "day rollups"
        pid = run_pid(instance, rec.dagster_run.run_id, by_pid)
        if pid is not None:
            role = f"run worker, {kind} (largest)"
            peak[role] = max(peak.get(role, 0), by_pid[pid])
            if kind == "after the backfill":  # which rollups, what partitions, how big
                run = rec.dagster_run
                print(
                    f"after the backfill: {run.job_name}"
                    f" {sorted(k.to_user_string() for k in run.asset_selection or [])}"
                    f" {run.tags.get('dagster/partition', '')}"
                    f" {round((rec.start_time or t0) - t0)}-{round((rec.end_time or t0) - t0)} s"
                    f" {by_pid[pid] // 1024} MiB",
                    file=sys.stderr,
                )
    # the backfill daemon creates the runs (queued) on its tick; the queue then starts them
    created = min(rec.create_timestamp.timestamp() for rec in records) - t0
    ends = [rec.end_time for rec in others if rec.end_time]
    return {
        **_automation_ticks(instance, t0),
        "after_runs": len(others),
        "after_done_s": round(max(ends) - t0, 1) if ends else None,
        "runs": len(runs),
        "first_created_s": round(created, 1),
        "first_run_s": round(first_run, 1),
        "last_materialized_s": round(last, 1),
        "executing_s": round(last - first_run, 1),
        "completed_s": round(completed, 1) if completed else None,
        "status": status.value,
        "failed_runs": failed,
        "peak_rss_mib": {role: round(kib / 1024) for role, kib in sorted(peak.items())},
        "peak_rss_at_s": dict(sorted(peak_at.items())),
        "peak_total_rss_mib": round(peak_total / 1024),
        "cpu_s": {role: round(v, 1) for role, v in sorted(cpu.items()) if v >= 0.05},
    }


def run_pid(instance, run_id: str, among) -> int | None:
    """The process of a run, from the pid its own log names ("(pid: N)"), if it is `among`."""
    for entry in instance.all_logs(run_id):
        match = re.search(r"\(pid: (\d+)\)", entry.message or "")
        if match and int(match.group(1)) in among:
            return int(match.group(1))
    return None


_ENDED = ("SUCCESS", "FAILURE", "CANCELED")


def _chain(error) -> str:
    """An error's message and its causes', one line each, the first 300 characters of each."""
    lines = []
    while error is not None and len(lines) < 4:
        lines.append((error.message or "").strip().replace("\n", " ")[:300])
        error = error.cause
    return " <- caused by: ".join(lines)


def _failures(instance, records) -> list[str]:
    """Each failed run of the backfill: its assets and its first step failure's error."""
    import dagster as dg

    out = []
    for rec in records:
        if rec.dagster_run.status != dg.DagsterRunStatus.FAILURE:
            continue
        assets = ",".join(sorted(k.to_user_string() for k in rec.dagster_run.asset_selection or []))
        errors = [
            _chain(e.dagster_event.event_specific_data.error)
            for e in instance.all_logs(
                rec.dagster_run.run_id,
                of_type={dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE},
            )
            if e.dagster_event and getattr(e.dagster_event.event_specific_data, "error", None)
        ]
        out.append(
            f"{rec.dagster_run.run_id[:8]} {assets}: {errors[0] if errors else 'no error recorded'}"
        )
    return out


AUTOMATION_SETTLE_S = 45  # the automation's next evaluation (every 30 s) and its run's start


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def _automation_ticks(instance, since: float) -> dict:
    """The `kpi_backfills` evaluations during the backfill: how many, how many failed, the
    slowest (the rollups' guards are evaluated on each while site-days are in progress)."""
    from dagster._core.scheduler.instigation import TickStatus

    states = [s for s in instance.all_instigator_state() if s.instigator_name == "kpi_backfills"]
    if not states:
        return {"automation_ticks": 0, "automation_failed": 0, "automation_slowest_s": None}
    ticks = instance.get_ticks(states[0].instigator_origin_id, states[0].selector_id, after=since)
    failed = [t for t in ticks if t.status == TickStatus.FAILURE]
    for tick in failed[:1]:
        print(f"kpi_backfills tick failed: {tick.error}", file=sys.stderr)
    spans = [t.end_timestamp - t.timestamp for t in ticks if t.end_timestamp]
    return {
        "automation_ticks": len(ticks),
        "automation_failed": len(failed),
        "automation_slowest_s": round(max(spans), 1) if spans else None,
    }


def _daemon(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "wanperf"), "daemon", "--", "-w", "workspace.yaml"],
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


def seed(part: str) -> None:
    """A part of a day of the simulated org in the bench's Redis, once for every variant:
    `sweeps`, its 144 sweeps; `feeds`, its WAN insight feeds' ingestions at the same slots, today's
    hourly folding off (a seed-only shortcut: 70 s an hour at 20,000 sites; the next day's first
    ingestion compacts the closed day whole, as it does after a day of folds); `close`, the next
    day's first two ingestions, which complete and compact the day's feeds."""
    from wanperf_dagster import store
    from wanperf_dagster.feeds import InsightsConfig, ingest, run_insights
    from wanperf_dagster.mist import SweepConfig, run_sweep
    from wanperf_dagster.settings import get_settings
    from wanperf_dagster.sources import client_from_settings, in_process_simulator

    settings = get_settings()
    sim = in_process_simulator(settings.sim_sites, settings.sim_seed).sim
    r = store.connect(store.resolve_redis_url(settings.redis_url, settings.data_dir))
    client = client_from_settings(settings)
    step = 86400 // SWEEPS
    feeds = InsightsConfig(interval_seconds=step, sle_backfill_hours=1, events_lookback_seconds=60)
    slots = {"sweeps": range(SWEEPS), "feeds": range(SWEEPS), "close": range(SWEEPS, SWEEPS + 2)}
    if part == "feeds":
        ingest._compact_today = lambda *_: None
    t = time.time()
    for k in slots[part]:
        sim.clock.set(DAY0 + k * step + 30)
        if part == "sweeps":
            run_sweep(client, r, SweepConfig())
        else:
            run_insights(client, r, feeds, feeds=settings.insight_feeds)
        if k % 24 == 23:
            print(f"  seed {part}: slot {k + 1}, {time.time() - t:.0f} s", file=sys.stderr)
    print(f"seeded {part} in {time.time() - t:.0f} s", file=sys.stderr)
    print("REPORT " + json.dumps({f"{part}_s": round(time.time() - t, 1)}))


def _celery_workers(count: int, home: Path, first: int = 0) -> list[subprocess.Popen]:
    """`wanperf worker` processes, one step at a time each, ready to take steps (numbered from
    `first`: a replacement for one killed is a new one)."""
    procs, logs = [], []
    for n in range(first, first + count):
        log = home / f"worker-{n}.log"
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "wanperf"),
                    "worker",
                    "--name",
                    f"bench-{n}@%h",
                    "--concurrency",
                    "1",
                ],
                cwd=PROJECT,
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    deadline = time.time() + 120
    while not all("ready." in log.read_text() for log in logs):
        if time.time() > deadline or any(p.poll() is not None for p in procs):
            raise SystemExit(
                f"celery workers did not start: {[log.read_text()[-500:] for log in logs]}"
            )
        time.sleep(0.5)
    return procs


@contextlib.contextmanager
def _mist_api(sites: int) -> Iterator[None]:
    """The simulated org's API in a process of its own, reached as a deployment reaches Mist
    (MIST_HOST, MIST_API_TOKEN in this process's environment, which the daemon inherits)."""
    if SIM_IN_PROCESS:
        yield
        return
    from harness.receivers import free_port

    port = free_port()
    with tempfile.NamedTemporaryFile("w+", prefix="wanperf-bench-sim-", suffix=".log") as out:
        sim = subprocess.Popen(
            [str(Path(sys.executable).parent / "wanperf"), "sim", "--port", str(port)]
            + ["--sites", str(sites), "--seed", os.environ.get("WANPERF_SIM_SEED", "1")]
            + ["--token", SIM_TOKEN],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            t0 = time.time()
            while not (line := Path(out.name).read_text().partition("\n")[0]).startswith(
                "base_url="
            ):
                if sim.poll() is not None or time.time() - t0 > 120:
                    raise SystemExit(f"the simulator did not start: {Path(out.name).read_text()!r}")
                time.sleep(0.2)
            os.environ.update(MIST_HOST=line.split("=", 1)[1].strip(), MIST_API_TOKEN=SIM_TOKEN)
            yield
        finally:
            for name in ("MIST_HOST", "MIST_API_TOKEN"):
                os.environ.pop(name, None)
            _stop(sim)


def drive(workers: int, per_partition: int) -> None:
    with _mist_api(int(os.environ["WANPERF_SIM_SITES"])):
        _drive(workers, per_partition)


def _drive(workers: int, per_partition: int) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    import dagster as dg

    from wanperf_dagster import store
    from wanperf_dagster.instance.config import write_instance_config
    from wanperf_dagster.settings import get_settings
    from wanperf_dagster.storage import AssetStore

    settings = get_settings()
    home = Path(os.environ["DAGSTER_HOME"])
    # the project's instance for these settings (SQLite, or Postgres with WANPERF_DAGSTER_PG_URL)
    write_instance_config(home, settings, cores=2)
    r = store.connect(store.resolve_redis_url(settings.redis_url, settings.data_dir))

    from wanperf_dagster.definitions import defs

    definitions = defs()
    report: dict = {"sites": settings.sim_sites, "chunk": settings.backfill_chunk}
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

        pool = _celery_workers(workers, home) if workers else []
        daemon = _daemon(dict(os.environ))
        try:
            _wait_for_daemon(instance)
            roots = [daemon.pid, *(p.pid for p in pool)]
            report["chunked"] = _run_backfill(instance, roots, "bench-chunked", site_ids)
        finally:
            _stop(daemon)
            for proc in pool:
                _stop(proc)
        report["materialized"] = "/".join(
            str(len(instance.get_materialized_partitions(dg.AssetKey(a))))
            for a in ("site_snapshots", "circuit_kpis")
        )
        print(f"chunked: {report['chunked']}", file=sys.stderr)

        if not per_partition:
            print("REPORT " + json.dumps(report))
            return
        daemon = _daemon({**os.environ, "WANPERF_BACKFILL_CHUNK": "1"})
        try:
            _wait_for_daemon(instance)
            report["per_partition"] = _run_backfill(
                instance, [daemon.pid], "bench-per-partition", site_ids[:per_partition]
            )
        finally:
            _stop(daemon)
    print("REPORT " + json.dumps(report))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--drive"]:
        drive(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1:2] == ["--seed"]:
        seed(sys.argv[2])
    else:
        main(sys.argv[1:])
