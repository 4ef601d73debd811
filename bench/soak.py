"""Soak: days of a simulated org through the real `wanperf daemon`, with faults on a schedule.

The simulator's clock runs the last `--days` complete days, slot by slot: each slot is swept and
its WAN insight feeds ingested over HTTP, and the alerts evaluated and sent to a webhook, as the
sweep job does (the daemon's own sweep schedule yields to it, as to `make run`'s replay). At
00:20 of each next day the day's site-days go to the daemon as the nightly backfill
(`harness.backfills`, exactly what `kpi_backfills` emits); the daemon's automation then refreshes
the day's, week's and month's rollups. Site-days a fault left unmaterialized are requested again,
as the rolling backfill does at 03:40.

Faults, one simulated day each (a short run doubles them up; day 0 is clean):
- the API answers half its calls with 503 and a storm of 429s, 10:00-11:00;
- Redis (the embedded Valkey) restarted at 12:00;
- a run worker SIGKILLed in the day's backfill;
- the history tier's storage gone during the day's backfill (its directory replaced by a file),
  until a run fails on it;
- with `--executor celery` (the Postgres instance in a database of its own, every step on
  `--workers` `wanperf worker` processes over RabbitMQ): a Celery worker SIGKILLed while it holds
  a step, and a new one started in its place, as a supervisor would.

At the end every circuit-day's KPIs against the world's truth (`harness.truth.compare`), every
notification received once, and a table per simulated day of each process's memory, Redis, the
event log, the runs and the history's files, with the growth per day fitted over the whole run
and over its second half (what does not level off is listed as a defect).

`python -m bench soak [--days 7] [--sites 2000] [--seed 5] [--report FILE]
[--executor celery [--workers 2]] [--faults api_storm,...]` (`make soak`); the suite runs 3 days
of 16 sites (`wanperf_dagster_tests/reliability/test_soak.py`), and 2 days of 4 on Postgres and
Celery with only the Celery worker killed (`test_soak_celery.py`, where the services answer: the
other faults are the first soak's)."""

from __future__ import annotations

import argparse
import bisect
import contextlib
import ctypes
import datetime as dt
import gc
import json
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._common import row
from .backfill import (
    PROJECT,
    _daemon,
    _descendants,
    _role,
    _rss_kib,
    _stop,
    _wait_for_daemon,
    run_pid,
)

DAY_S, SLOT = 86_400, 600
NIGHTLY_SLOT = 2  # 00:20, the nightly backfill's tick: the day's events have settled
MIB = 1024 * 1024
# a long-lived process whose memory still grows this much a day over the second half is a defect;
# not the code server: the daemon replaces it every minute, so each day's figure is of a process
# under a minute old (from 107 to 260 MiB in one 3-day run, by what it had served yet)
LEVEL_MIB_A_DAY = 8.0
# the driver's figure that counts is its memory between two slots after a collection, taken every
# six simulated hours: a reading from the backfill's thread lands inside whatever slot the main
# thread is running (a 2,000-site sweep's pages and frames) and swings by tens of MiB
LONG_LIVED = ("daemon", "driver settled")
SETTLE_EVERY = 36  # slots: six simulated hours
WAIT_HOLD_S = 3 * 3600  # the daemon's sweeps held while the driver waits (released at the end)


def _worker_number(proc) -> int:
    """The number of a `wanperf worker` from its command line (`--name bench-<n>@%h`)."""
    name = proc.args[proc.args.index("--name") + 1]
    return int(name.split("@")[0].rsplit("-", 1)[1])


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--days", type=int, default=int(os.environ.get("WANPERF_SOAK_DAYS", "7")))
    parser.add_argument(
        "--sites", type=int, default=int(os.environ.get("WANPERF_SOAK_SITES", "2000"))
    )
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--report", help="also write the report here as JSON")
    parser.add_argument(
        "--executor",
        choices=("in_process", "celery"),
        default="in_process",
        help="celery: the Postgres instance and steps on Celery workers, one of them killed",
    )
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (--executor celery)")
    parser.add_argument(
        "--faults",
        help=f"only these faults, comma-separated (of {', '.join(FAULTS + CELERY_FAULTS)});"
        " default: all that apply",
    )
    opts = parser.parse_args(argv)
    if opts.days < 2:
        parser.error("--days: at least 2 (faults land from the second day)")
    known = FAULTS + (CELERY_FAULTS if opts.executor == "celery" else [])
    opts.faults = opts.faults.split(",") if opts.faults else known
    if unknown := [name for name in opts.faults if name not in known]:
        parser.error(f"--faults: {', '.join(unknown)} not one of {', '.join(known)}")
    return opts


FAULTS = ["api_storm", "redis_restart", "run_worker_killed", "history_unavailable"]
CELERY_FAULTS = ["celery_worker_killed"]


def fault_days(days: int, faults: list[str]) -> dict[str, int]:
    """The simulated day of each fault: one a day from the second, doubled up when days are few;
    a fault not asked for lands on no day (-1)."""
    plan = {name: min(k + 1, days - 1) for k, name in enumerate(faults)}
    return {name: plan.get(name, -1) for name in FAULTS + CELERY_FAULTS}


@dataclass
class Day:
    index: int
    name: str
    submitted_at: float = 0.0
    backfill_s: float = 0.0
    requested_again: int = 0  # site-days a fault left behind, requested again
    run_peak_mib: float = 0.0
    faults: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    redis_by_kind: dict[str, float] = field(default_factory=dict)


def _terminated(signum: int, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> None:
    opts = _options(argv or [])
    # a SIGTERM (`kill`, a CI's timeout) ends the soak as Ctrl-C does: its daemon, run workers,
    # Valkey and receiver are stopped on the way out, not left running (and busy) behind it
    signal.signal(signal.SIGTERM, _terminated)
    today = dt.datetime.now(dt.UTC).date()
    days = [today - dt.timedelta(days=opts.days - k) for k in range(opts.days)]
    with tempfile.TemporaryDirectory(prefix="wanperf-soak-") as tmp:
        home = Path(tmp) / "dagster_home"
        home.mkdir()
        shutil.copy(PROJECT / "deploy" / "dagster.yaml", home / "dagster.yaml")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MIST_", "DAGSTER_"))},
            "DAGSTER_HOME": str(home),
            "WANPERF_DATA_DIR": f"{tmp}/data",
            "WANPERF_SIM_SITES": str(opts.sites),
            "WANPERF_SIM_SEED": str(opts.seed),
            "WANPERF_START_DATE": (days[0] - dt.timedelta(days=1)).isoformat(),
            "WANPERF_BACKFILL_WAKE_SECONDS": "2",
        }
        for name in ("WANPERF_REDIS_URL", "WANPERF_DAGSTER_PG_URL", "WANPERF_HISTORY_URL"):
            env.pop(name, None)  # the embedded Valkey of the data directory: restartable here
        if opts.executor == "celery":  # a database of its own, dropped when the soak ends
            from harness.instance_config import make_postgres_database

            from .backfill import BROKER, PG

            env["WANPERF_DAGSTER_PG_URL"] = make_postgres_database(PG)
            env["WANPERF_EXECUTOR"] = "celery"
            env["WANPERF_CELERY_BROKER"] = BROKER
            env["WANPERF_CELERY_QUEUE"] = f"wanperf-soak-{os.getpid()}"
        os.environ.clear()
        os.environ.update(env)
        # the storm's 429s and 503s are counted in the report, not logged one by one
        logging.getLogger("wanperf_dagster.mist").setLevel(logging.ERROR)
        from wanperf_dagster.settings import get_settings

        get_settings.cache_clear()
        report = Soak(opts, days).run()
    _print(report)
    if opts.report:
        Path(opts.report).write_text(json.dumps(report, indent=1, default=str))
    print("REPORT " + json.dumps({k: report[k] for k in ("truth", "alerts", "faults", "defects")}))


class Soak:
    def __init__(self, opts: argparse.Namespace, days: list[dt.date]):
        try:
            self._start(opts, days)
        except BaseException:  # a SIGTERM or Ctrl-C while starting: stop what had started
            self.close()
            raise

    def _start(self, opts: argparse.Namespace, days: list[dt.date]) -> None:
        import dagster as dg

        from harness.receivers import ProcessReceiver
        from harness.truth import EDGE_FAULTS
        from wanperf_dagster.settings import get_settings
        from wanperf_dagster.sources import client_from_settings, in_process_simulator
        from wanperf_dagster.storage import AssetStore
        from wanperf_dagster.store import EmbeddedRedis

        self.opts, self.settings = opts, get_settings()
        self.days = [Day(k, d.isoformat()) for k, d in enumerate(days)]
        self.day0 = int(dt.datetime.combine(days[0], dt.time(), dt.UTC).timestamp())
        self.celery = opts.executor == "celery"
        self.plan = fault_days(len(days), opts.faults)
        self.valkey = EmbeddedRedis(self.settings.data_dir).ensure_running()
        self.workers: list = []
        self.next_worker = opts.workers
        self.worker_peaks: dict[int, int] = {}  # Celery worker pid (and its pool) -> peak KiB
        if self.celery:
            from wanperf_dagster.instance.config import write_instance_config

            from .backfill import _celery_workers

            home = Path(os.environ["DAGSTER_HOME"])
            write_instance_config(home, self.settings, cores=2)  # the Postgres instance
            self.workers = _celery_workers(opts.workers, home)
        self.storage = AssetStore.from_settings(self.settings)
        # before the daemon starts: its scheduled sweep, on this machine's clock, must not write
        # into the simulated week (renewed at each slot; the first waits for its inventory)
        self.storage.hold_sweeps(900)
        self.daemon = _daemon(dict(os.environ))
        self.instance = dg.DagsterInstance.get()
        self.sim = in_process_simulator(opts.sites, opts.seed).sim
        self.sim.faults.update(**EDGE_FAULTS)  # events lost, repeated and out of order throughout
        # the client's waits (a 429's back-off) pass on the simulator's clock, not this machine's
        self.client = client_from_settings(self.settings, sleep=self.sim.clock.advance)
        # the webhook's receiver in a process of its own: this busy process cannot hold its
        # answers up past the sender's timeout, so a message received twice was sent twice
        self.receiver = ProcessReceiver(Path(self.settings.data_dir).parent, ("event", "key"))
        self.slot_walls: list[tuple[float, int]] = []  # (wall clock, simulated slot) as it ran
        self.counts = {"sweeps_failed": 0, "ingestions_failed": 0, "evaluations_failed": 0}
        self.told: dict[str, set[str]] = {"alert": set(), "recovered": set()}
        self.told_at: dict[str, int] = {}  # incident key -> the slot its alert was delivered in
        self.sent = 0
        self.faults: dict[str, str] = {}
        self.peaks: dict[int, int] = {}  # run worker pid -> peak KiB
        self.samples: list[tuple[str, int]] = []
        self.settled: list[tuple[int, float]] = []  # (slot, the driver's settled MiB)
        self._lock = threading.Lock()

    # the run ----------------------------------------------------------------------------------
    def run(self) -> dict:
        from wanperf_dagster.feeds import InsightsConfig

        try:
            _wait_for_daemon(self.instance)
            sites = self._site_partitions()
            feeds = InsightsConfig(sle_backfill_hours=1, events_lookback_seconds=3600)
            backfill: threading.Thread | None = None
            slots = len(self.days) * 144 + NIGHTLY_SLOT + 1
            started = time.monotonic()
            for k in range(-1, slots):
                t = self.day0 + k * SLOT
                self.slot_walls.append((time.time(), t))
                self._faults_at(t)
                self._slot(t, feeds)
                if k % SETTLE_EVERY == SETTLE_EVERY - 1:
                    self.settled.append((t, settled_rss_mib()))
                if k >= 144 and (k - NIGHTLY_SLOT) % 144 == 0:  # 00:20: yesterday's backfill
                    day = self.days[(k - NIGHTLY_SLOT) // 144 - 1]
                    if backfill is not None:
                        self._hold_while_waiting()
                        backfill.join()
                    backfill = threading.Thread(
                        target=self._backfill, args=(day, sites), daemon=True
                    )  # joined below; an interrupted soak does not wait for it to end
                    backfill.start()
                if k % 36 == 0:
                    print(
                        f"  {_iso(t)}: slot {k + 1}/{slots + 1},"
                        f" {time.monotonic() - started:.0f} s",
                        flush=True,
                    )
            self._hold_while_waiting()  # through the last backfill, the settling and the report
            if backfill is not None:
                backfill.join()
            self._settle(time.time())
            return self._report(sites)
        finally:
            self.close()

    def close(self) -> None:
        """Stops what the soak started, as far as it got."""
        if getattr(self, "storage", None) is not None:
            self.storage.release_sweeps()
        if getattr(self, "daemon", None) is not None:
            _stop(self.daemon)
        for worker in getattr(self, "workers", []):
            _stop(worker)
        if getattr(self, "valkey", None) is not None:
            self.valkey.stop()
        if getattr(self, "receiver", None) is not None:
            self.receiver.close()

    def _site_partitions(self) -> list[str]:
        """The daemon's first inventory makes every site a partition."""
        want = len(self.sim.org.sites)
        deadline = time.time() + 300
        while time.time() < deadline:
            found = self.instance.get_dynamic_partitions("site")
            if len(found) >= want:
                return sorted(found)
            time.sleep(1)
        raise SystemExit(f"the daemon made {len(found)} of {want} site partitions in 5 minutes")

    def _slot(self, t: int, feeds) -> None:
        from wanperf_dagster import alerts, kpi
        from wanperf_dagster.alerts.notify import destinations
        from wanperf_dagster.dagster_io.resources import WanperfSettings
        from wanperf_dagster.feeds import run_insights
        from wanperf_dagster.mist import SweepConfig, run_sweep

        self.sim.clock.set(t + 30)
        r = self.storage.client
        try:
            self.storage.hold_sweeps(300)  # the daemon's scheduled sweep yields to these
            run_sweep(self.client, r, SweepConfig())
        except Exception as exc:  # a storm, a restart: the next slot's sweep resumes
            self._count("sweeps_failed", exc)
        try:
            run_insights(self.client, r, feeds, feeds=self.settings.insight_feeds)
        except Exception as exc:
            self._count("ingestions_failed", exc)
        try:
            org = self.client.org_id
            sites = [s for s, _ in self.storage.sites_by_age(org)]
            mist_sites = self.storage.latest("mist_sites")
            _, report = alerts.evaluate(
                self.storage,
                org,
                sites,
                t + 30,
                self.settings.interval_minutes,
                WanperfSettings().alert_rules(),
                kpi.KpiConfig.for_sites(mist_sites.to_pandas()),
                destinations((self.receiver.url,), ()),
                repeat_every=self.settings.alert_repeat_minutes * 60,
                resolve_after=self.settings.alert_resolve_minutes * 60,
            )
            self.told["alert"] |= {i.key for i in report.opened}
            self.told_at.update({i.key: t for i in report.opened})
            self.told["recovered"] |= {i.key for i in report.recovered}
            self.sent += report.sent
        except Exception as exc:
            self._count("evaluations_failed", exc)

    def _hold_while_waiting(self) -> None:
        """No slot renews the hold while the driver waits for a backfill: on a loaded machine the
        last one outlived it, and the daemon's sweep, on this machine's clock, listed every
        circuit after the week's end (2026-12-05 night). The next slot shortens it again."""
        try:
            self.storage.hold_sweeps(WAIT_HOLD_S)
        except Exception as exc:  # Redis restarting: counted; the next slot holds them again
            self._count("sweeps_failed", exc)

    def _count(self, what: str, exc: Exception) -> None:
        self.counts[what] += 1
        if self.counts[what] <= 3:
            print(f"  {what}: {type(exc).__name__}: {str(exc)[:160]}", flush=True)

    def _faults_at(self, t: int) -> None:
        index, second = divmod(t - self.day0, DAY_S)
        if index == self.plan["api_storm"] and second == 10 * 3600:
            self.sim.faults.update(error_rate=0.5, throttle_next=60)
            self.faults["api_storm"] = f"{_iso(t)} for an hour"
        if index == self.plan["api_storm"] and second == 11 * 3600:
            self.sim.faults.update(error_rate=0.0, throttle_next=0)
        if index == self.plan["redis_restart"] and second == 12 * 3600:
            t0 = time.monotonic()
            self.valkey.stop()
            self.valkey.ensure_running()
            self.faults["redis_restart"] = f"{_iso(t)}, down {time.monotonic() - t0:.1f} s"

    # each day's backfill ----------------------------------------------------------------------
    def _backfill(self, day: Day, sites: list[str]) -> None:
        from dagster._core.execution.backfill import BulkActionStatus

        from harness.backfills import add_site_day_backfill

        t0 = day.submitted_at = time.time()
        kill = day.index == self.plan["run_worker_killed"]
        kill_worker = day.index == self.plan["celery_worker_killed"]
        outage = day.index == self.plan["history_unavailable"]
        if outage:
            self._history_away()
        wanted = sites
        for attempt in range(4):
            backfill_id = f"soak-{day.name}-{attempt}"
            add_site_day_backfill(self.instance, backfill_id, [day.name], wanted)
            while self.instance.get_backfill(backfill_id).status == BulkActionStatus.REQUESTED:
                self._sample()
                if kill and self._kill_a_run_worker(backfill_id):
                    day.faults.append("run worker SIGKILLed")
                    kill = False
                if kill_worker and self._kill_a_celery_worker():
                    day.faults.append("Celery worker SIGKILLed holding a step, another started")
                    kill_worker = False
                if outage and self._a_run_failed(t0):
                    self._history_back()
                    day.faults.append("history unavailable until a run failed on it")
                    outage = False
                time.sleep(1)
            if outage:  # no run failed on it: the backfill ran without the history
                self._history_back()
                day.faults.append("history unavailable for the whole backfill")
                outage = False
            wanted = self._unmaterialized(day.name, sites)
            if not wanted:
                break
            day.requested_again += len(wanted)
        day.backfill_s = time.time() - t0
        self._settle(t0)
        day.run_peak_mib = max(self.peaks.values(), default=0) / 1024
        self.peaks.clear()
        day.figures = self._figures()
        if self.celery:  # the steps' work is in the Celery workers' pool processes
            day.figures["Celery worker peak MiB"] = (
                max(self.worker_peaks.values(), default=0) / 1024
            )
            self.worker_peaks.clear()
        day.redis_by_kind = self._redis_by_kind()
        print(
            f"  day {day.index} ({day.name}) backfilled in {day.backfill_s:.0f} s;"
            f" {day.requested_again} site-days requested again; {', '.join(day.faults) or '-'}",
            flush=True,
        )

    def _unmaterialized(self, day: str, sites: list[str]) -> list[str]:
        import dagster as dg

        from harness.backfills import automated_assets

        missing: set[str] = set()
        for asset in automated_assets()[0]:
            done = {str(k) for k in self.instance.get_materialized_partitions(dg.AssetKey(asset))}
            for site in sites:
                if str(dg.MultiPartitionKey({"day": day, "site": site})) not in done:
                    missing.add(site)
        return sorted(missing)

    def _settle(self, since: float, timeout: float = 900) -> None:
        """Until the runs the automation requests after a backfill (the rollups) are done."""
        import dagster as dg

        from wanperf_dagster.dagster_io.automation import ACTIVE_RUN_STATUSES

        quiet, deadline = 0, time.time() + timeout
        while time.time() < deadline and quiet < 15:
            self._sample()
            active = self.instance.get_runs(
                dg.RunsFilter(created_after=_utc(since), statuses=ACTIVE_RUN_STATUSES), limit=1
            )
            quiet = 0 if active else quiet + 1
            time.sleep(1)

    def _sample(self) -> None:
        with self._lock:
            for pid in _descendants([self.daemon.pid]):
                if _role(pid).startswith("run worker"):
                    self.peaks[pid] = max(self.peaks.get(pid, 0), _rss_kib(pid)[1])
            for pid in _descendants([w.pid for w in self.workers]):  # and their pool children
                self.worker_peaks[pid] = max(self.worker_peaks.get(pid, 0), _rss_kib(pid)[1])

    def _kill_a_run_worker(self, backfill_id: str) -> bool:
        """SIGKILL the process of a running chunk run of this backfill; False while there is
        none. Any run worker would do for the fault, but one of another run (the automation's
        rollups) leaves no site-day behind, and the soak checks that what is left is requested
        again."""
        import dagster as dg

        workers = {p for p in _descendants([self.daemon.pid]) if _role(p).startswith("run worker")}
        runs = self.instance.get_runs(
            dg.RunsFilter(
                tags={"dagster/backfill": backfill_id}, statuses=[dg.DagsterRunStatus.STARTED]
            )
        )
        for run in runs:
            if "dagster/asset_partition_range_start" not in run.tags:
                continue
            pid = run_pid(self.instance, run.run_id, workers)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                self.faults["run_worker_killed"] = f"pid {pid}"
                return True
        return False

    def _kill_a_celery_worker(self) -> bool:
        """SIGKILL a worker (its whole process group) while it holds a step, and start another
        in its place; False while none holds one."""
        import re

        from .backfill import _celery_workers

        home = Path(os.environ["DAGSTER_HOME"])
        for k, worker in enumerate(self.workers):
            text = (home / f"worker-{_worker_number(worker)}.log").read_text(errors="replace")
            received = re.findall(r"Task execute_plan\[([0-9a-f-]+)\] received", text)
            done = set(re.findall(r"Task execute_plan\[([0-9a-f-]+)\] (?:succeeded|failed)", text))
            if not [task for task in received if task not in done]:
                continue
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
            self.faults["celery_worker_killed"] = f"pid {worker.pid}, holding a step"
            self.workers[k] = _celery_workers(1, home, first=self.next_worker)[0]
            self.next_worker += 1
            return True
        return False

    def _a_run_failed(self, since: float) -> bool:
        import dagster as dg

        failed = self.instance.get_runs(
            dg.RunsFilter(created_after=_utc(since), statuses=[dg.DagsterRunStatus.FAILURE]),
            limit=1,
        )
        return bool(failed)

    def _history_away(self) -> None:
        where = Path(self.settings.history_location)
        where.mkdir(parents=True, exist_ok=True)
        where.rename(where.with_name("history.away"))
        where.write_text("the history's storage is unavailable (bench soak)\n")
        self.faults["history_unavailable"] = "replaced by a file during a backfill"

    def _history_back(self) -> None:
        where = Path(self.settings.history_location)
        where.unlink()
        where.with_name("history.away").rename(where)

    # figures ----------------------------------------------------------------------------------
    def _figures(self) -> dict[str, float]:
        # the daemon replaces its code server every minute (Dagster's reload); one still
        # running a run stays until it ends: the newest is the one in use
        tree = _descendants([self.daemon.pid])
        servers = [p for p in tree if _role(p) == "code server"]
        daemon_kib = sum(_rss_kib(p)[0] for p in tree if _role(p) == "daemon")
        newest_kib = _rss_kib(max(servers, key=_started))[0] if servers else 0
        info = self.storage.client.info("memory")
        home = Path(os.environ["DAGSTER_HOME"])
        event_log = _event_log_bytes(home)
        history = Path(self.settings.history_location)
        return {
            "daemon MiB": daemon_kib / 1024,
            "code server MiB": newest_kib / 1024,
            "code servers": float(len(servers)),
            "driver MiB": _rss_kib(os.getpid())[0] / 1024,
            "driver settled MiB": self.settled[-1][1] if self.settled else float("nan"),
            "Redis MiB": info["used_memory"] / MIB,
            "event log MiB": event_log / MIB,
            "runs": float(self.instance.get_runs_count()),
            "history files": float(sum(1 for p in history.rglob("*") if p.is_file())),
        }

    def _redis_by_kind(self, top: int = 8) -> dict[str, float]:
        """MiB of Redis by kind of key (`asset:<name>`, `raw`, `recent`, ...), the largest."""
        r = self.storage.client
        sizes: dict[str, int] = {}
        batch: list[bytes] = []

        def measure() -> None:
            pipe = r.pipeline(transaction=False)
            for key in batch:
                pipe.memory_usage(key, samples=0)
            for key, size in zip(batch, pipe.execute(), strict=True):
                parts = key.decode(errors="replace").split(":")
                kind = ":".join(parts[2:4]) if parts[2:3] == ["asset"] else parts[2]
                kind = kind.split("{")[0].rstrip(":")
                sizes[kind] = sizes.get(kind, 0) + (size or 0)
            batch.clear()

        for key in r.scan_iter(count=2000):
            batch.append(key)
            if len(batch) >= 2000:
                measure()
        measure()
        ranked = sorted(sizes.items(), key=lambda kv: -kv[1])[:top]
        return {kind: round(size / MIB, 1) for kind, size in ranked}

    def _report(self, sites: list[str]) -> dict:
        return {
            "sites": len(sites),
            "days": [
                {
                    "day": d.name,
                    "backfill_s": round(d.backfill_s, 1),
                    "requested_again": d.requested_again,
                    "run_peak_mib": round(d.run_peak_mib),
                    "faults": d.faults,
                    "redis_by_kind": d.redis_by_kind,
                    **{k: round(v, 1) for k, v in d.figures.items()},
                }
                for d in self.days
            ],
            "growth": (growth := _growth([d.figures for d in self.days])),
            "defects": _defects(growth, truth := self._truth(sites), alerts := self._alerts()),
            "truth": truth,
            "alerts": alerts,
            "faults": self.faults,
            "counts": self.counts,
            "driver_settled": [[_iso(t), round(mib, 1)] for t, mib in self.settled],
        }

    def _truth(self, sites: list[str]) -> dict:
        from harness.truth import MEASURES, Simulated, compare, truth
        from wanperf_dagster.storage import site_day_key

        names = [d.name for d in self.days]
        loaded = self.storage.load(
            "circuit_kpis", [site_day_key(d, s) for d in names for s in sites], allow_missing=True
        )
        daily = loaded.table.to_pandas()
        both, per_measure, _ = compare(
            Simulated(self.sim, names, daily, truth(self.sim, self.day0, len(names)))
        )
        ok = both[[f"{m}_ok" for m in MEASURES]].all(axis=1)
        shown = ["day", "circuit_id", "rank", "circuits", "site_changes"]
        shown += [c for c in ("unknown_seconds", "state_source") if c in both]
        shown += [c for m, t in MEASURES.items() for c in (t, m)]
        return {
            # what an off circuit-day was: its unknown seconds and where its state came from
            # say whether a fault's gap explains it
            "beyond_tolerance": both.loc[~ok & (both["_merge"] == "both"), shown]
            .head(20)
            .astype(str)
            .to_dict(orient="records"),
            "beyond_tolerance_count": int((~ok & (both["_merge"] == "both")).sum()),
            "circuit_days": len(both),
            "site_days_missing": len(loaded.missing),
            "circuits_missing": int((both["_merge"] == "left_only").sum()),
            "circuits_made_up": int((both["_merge"] == "right_only").sum()),
            "circuits_listed_after_the_end": self._listed_after_the_end(sites),
            "measures": per_measure.to_dict(orient="records"),
        }

    def _listed_after_the_end(self, sites: list[str]) -> int:
        """Circuits the register says were listed after the week's last slot: written by
        something on another clock (the daemon's own sweep, on this machine's), which the
        register's first sights would have hidden gateways dark at the start behind."""
        from wanperf_dagster.storage import site_id_of

        end = self.day0 + (len(self.days) * 144 + NIGHTLY_SLOT + 1) * SLOT  # after the last
        registry = self.storage.circuits([site_id_of(s) for s in sites])
        return int((registry["last_seen"] > end).sum())

    def _alerts(self) -> dict:
        messages = self.receiver.received
        received = [m["body"] for m in messages]
        keys = [m["key"] for m in messages]
        by_key: dict[str, list[dict]] = {}
        for m in messages:
            by_key.setdefault(m["key"], []).append(m)
        # a repeat's receipts on the simulated clock: what the driver was at when each arrived
        walls = [w for w, _ in self.slot_walls]
        repeats = [
            {
                "event": ms[0]["body"]["event"],
                "incident": ms[0]["body"]["key"],
                "received": [
                    _iso(self.slot_walls[max(bisect.bisect(walls, m["wall"]) - 1, 0)][1])
                    for m in ms
                ],
            }
            for ms in by_key.values()
            if len(ms) > 1
        ]
        by_event = {kind: {b["key"] for b in received if b["event"] == kind} for kind in self.told}
        # a recovery is owed only for an incident that was told (one covered by another, or
        # cleared before it was told, leaves quietly)
        owed = self.told["recovered"] & by_event["alert"]
        return {
            "sent": self.sent,
            "received": len(received),
            "repeated": len(keys) - len(set(keys)),
            "repeats": repeats[:20],
            "alerts_told": len(self.told["alert"]),
            "recoveries_told": len(owed),
            "lost": (
                lost := sorted(
                    (self.told["alert"] - by_event["alert"]) | (owed - by_event["recovered"])
                )
            ),
            "lost_evidence": self._evidence(lost[:5], messages),
        }

    def _evidence(self, lost: list[str], messages: list[dict]) -> dict[str, dict]:
        """What is known of each notification lost: when the driver saw it delivered, every
        message the receiver got of that incident, and its records in the org's alert state."""
        state = self.storage.alert_state(self.client.org_id)
        walls = [w for w, _ in self.slot_walls]
        history = state.history()
        sent = state.sent()
        out = {}
        for key in lost:
            out[key] = {
                "told_in_slot": _iso(self.told_at[key]) if key in self.told_at else None,
                "received": [
                    (
                        m["body"]["event"],
                        _iso(self.slot_walls[max(bisect.bisect(walls, m["wall"]) - 1, 0)][1]),
                    )
                    for m in messages
                    if m["body"].get("key") == key
                ],
                "sent_records": {k: v for k, v in sent.items() if f":{key}#" in k},
                "history": [h for h in history if _incident_key(h) == key][:3],
            }
        return out


def settled_rss_mib() -> float:
    """This process's resident memory once what it no longer holds is collected and handed
    back to the system (glibc's `malloc_trim`; elsewhere the collection alone)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return _rss_kib(os.getpid())[0] / 1024


def _incident_key(record: dict) -> str:
    """The key of an incident the alert history kept (its fields, not its key)."""
    from wanperf_dagster.alerts.rules import incident_key

    subject = record.get("gateway") or record.get("circuit_id") or record.get("site_id")
    return incident_key(str(record.get("kind")), str(subject))


def _defects(growth: dict, truth: dict, alerts: dict) -> list[str]:
    """Everything the soak found wrong, not only what grows: a circuit-day off the truth, a
    site-day or circuit missing or made up, a circuit listed on another clock, a notification
    lost or repeated."""
    found = [
        f"{name} grows {g['second_half_per_day']} a day over the second half"
        for name, g in growth.items()
        if name.removesuffix(" MiB") in LONG_LIVED and g["second_half_per_day"] > LEVEL_MIB_A_DAY
    ]
    off = [f"{r['day']} {r['circuit_id']}" for r in truth["beyond_tolerance"]]
    found += [f"circuit-day beyond the truth's tolerance: {x}" for x in off]
    if (more := truth.get("beyond_tolerance_count", len(off)) - len(off)) > 0:
        found.append(f"and {more} more circuit-days beyond the truth's tolerance")
    for key in (
        "site_days_missing",
        "circuits_missing",
        "circuits_made_up",
        "circuits_listed_after_the_end",
    ):
        if truth.get(key):
            found.append(f"{key.replace('_', ' ')}: {truth[key]}")
    found += [f"notification lost: {key}" for key in alerts["lost"]]
    if alerts["repeated"]:
        found.append(f"notifications received twice: {alerts['repeated']}")
    return found


def _growth(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each figure's fitted growth per simulated day, over all days and over the second half."""
    out = {}
    for name in rows[0] if rows and rows[0] else []:
        values = np.array([r.get(name, np.nan) for r in rows], dtype=float)
        x = np.arange(len(values))
        half = len(values) // 2
        out[name] = {
            "per_day": round(float(np.polyfit(x, values, 1)[0]), 2),
            "second_half_per_day": round(float(np.polyfit(x[half:], values[half:], 1)[0]), 2)
            if len(values) - half >= 2
            else float("nan"),
        }
    return out


def _print(report: dict) -> None:
    print(f"\n{len(report['days'])} simulated days, {report['sites']} sites")
    names = [k for k in report["days"][0] if k not in ("day", "faults", "redis_by_kind")]
    row("figure, at the end of each day's backfill", *[d["day"] for d in report["days"]])
    for name in names:
        row(name, *[_figure(d.get(name, "")) for d in report["days"]])
    print("\nRedis by kind of key, MiB, at the end of each day's backfill")
    for d in report["days"]:
        print(f"  {d['day']}: {json.dumps(d['redis_by_kind'])}")
    print("\ngrowth per simulated day (fitted): all days / second half")
    for name, g in report["growth"].items():
        row(name, g["per_day"], g["second_half_per_day"])
    print(f"\nfaults: {json.dumps(report['faults'])}\ncounts: {json.dumps(report['counts'])}")
    print(f"truth: {json.dumps(report['truth'], default=str)}")
    print(f"alerts: {json.dumps(report['alerts'])}")
    print(f"defects: {report['defects'] or 'none'}")


def _event_log_bytes(home: Path) -> int:
    """The instance's storage: its database on Postgres, its SQLite files otherwise."""
    url = os.environ.get("WANPERF_DAGSTER_PG_URL")
    if not url:
        return sum(p.stat().st_size for p in home.rglob("*.db*") if p.is_file())
    import psycopg2

    with psycopg2.connect(url, connect_timeout=10) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_database_size(current_database())")
        return int(cur.fetchone()[0])


def _figure(value) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def _started(pid: int) -> int:
    """A process's start, in clock ticks since boot (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
