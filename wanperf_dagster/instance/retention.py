"""The instance's runs kept for as long as they say something: Dagster 1.13 keeps every run and
its events for good, and the soak measured the event log growing 230 MiB a simulated day at
2,000 sites (about 7 KB for each site-day asset materialization and its planned event, twice
over on SQLite: the run's own database and the index).

A finished run older than `WANPERF_RUN_RETENTION_DAYS` is deleted with its events
(`DagsterInstance.delete_run`, public) when nothing it recorded is still shown:
- a run of `day x site` or `day` partitions, once all of its days have left the hot window
  (the partitions are no longer listed; their values are in the history tier);
- a run of unpartitioned assets or of ops (the sweep, the inventory, a refresh, this job), unless
  it is the newest successful run of its job and assets among those old enough (what the UI
  may show as the assets' latest).
Runs of week and month partitions stay: those partitions are listed for 13 months, and they are
a few small runs a day.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import dagster as dg

from wanperf_dagster.storage.datasets import DATASETS

FINISHED = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
]
PAGE = 500
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")
_PARTITION_TAGS = (
    "dagster/partition",
    "dagster/asset_partition_range_start",
    "dagster/asset_partition_range_end",
    "dagster/partition/day",
)


@dataclass(frozen=True)
class RunFacts:
    """What the retention needs to know of a run."""

    run_id: str
    job_name: str
    succeeded: bool
    assets: frozenset[str]
    partitionings: frozenset[str]  # of its assets (`datasets.PARTITIONINGS`); empty: ops only
    days: tuple[str, ...]  # the days of the partitions its tags name


@dataclass
class Pruned:
    deleted: int = 0
    kept_in_window: int = 0
    kept_latest: int = 0
    kept_long_partitions: int = 0
    left_for_next_time: int = 0
    by_job: dict[str, int] = field(default_factory=dict)


def facts_of(record, partitioning_of: Callable[[str], str | None]) -> RunFacts:
    run = record.dagster_run
    assets = frozenset(k.to_user_string() for k in run.asset_selection or ())
    parts = frozenset(partitioning_of(a) or "unknown" for a in assets)
    days = tuple(
        sorted({v[:10] for t in _PARTITION_TAGS if (v := run.tags.get(t)) and _DAY.match(v)})
    )
    succeeded = run.status == dg.DagsterRunStatus.SUCCESS
    return RunFacts(run.run_id, run.job_name, succeeded, assets, parts, days)


def verdicts(runs: Sequence[RunFacts], window_start: str) -> dict[str, str]:
    """Each run (newest first) → `delete`, or why it stays: `in_window` (a day of its
    partitions is still listed), `latest` (the newest success of its job and assets among
    them: what the UI shows as those assets' latest), `long_partitions` (week or month, or
    partitions of assets it does not name: what they were is not known, so it stays)."""
    out, seen = {}, set()
    for run in runs:
        if run.partitionings and run.partitionings <= {"site_day", "day"}:
            gone = bool(run.days) and max(run.days) < window_start
            out[run.run_id] = "delete" if gone else "in_window"
        elif run.partitionings <= {"none"} and not run.days:
            group = (run.job_name, run.assets)
            latest = run.succeeded and group not in seen
            seen.update([group] if run.succeeded else [])
            out[run.run_id] = "latest" if latest else "delete"
        else:
            out[run.run_id] = "long_partitions"
    return out


def prune_runs(
    instance: dg.DagsterInstance,
    window_start: str,
    retention_days: int,
    now: float,
    limit: int = 5000,
    partitioning_of: Callable[[str], str | None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Pruned:
    """Delete the finished runs created more than `retention_days` before `now` that the module
    docstring says go, at most `limit` (`left_for_next_time` counts the rest)."""
    partitioning_of = partitioning_of or _registry_partitioning
    cutoff = dt.datetime.fromtimestamp(now - retention_days * 86400, dt.UTC)
    runs, cursor = [], None
    while True:  # every candidate first: a deleted run cannot be the next page's cursor
        records = instance.get_run_records(
            dg.RunsFilter(statuses=FINISHED, created_before=cutoff), limit=PAGE, cursor=cursor
        )
        if not records:
            break
        runs += [facts_of(r, partitioning_of) for r in records]
        cursor = records[-1].dagster_run.run_id
    done = Pruned()
    by_id = {r.run_id: r for r in runs}
    for run_id, why in verdicts(runs, window_start).items():
        if why != "delete":
            setattr(done, f"kept_{why}", getattr(done, f"kept_{why}") + 1)
        elif done.deleted >= limit:
            done.left_for_next_time += 1
        else:
            instance.delete_run(run_id)
            done.deleted += 1
            job = by_id[run_id].job_name
            done.by_job[job] = done.by_job.get(job, 0) + 1
            if on_progress and done.deleted % 100 == 0:
                on_progress(done.deleted)
    return done


def _registry_partitioning(asset: str) -> str | None:
    record = DATASETS.get(asset)
    return record.partitioning if record is not None else None


def summary(done: Pruned) -> Iterable[str]:
    yield f"deleted {done.deleted} runs with their events"
    for job, n in sorted(done.by_job.items()):
        yield f"  {job}: {n}"
    yield (
        f"kept: {done.kept_in_window} with days still in the window, {done.kept_latest} their"
        f" job's newest success, {done.kept_long_partitions} of week or month partitions"
    )
    if done.left_for_next_time:
        yield f"{done.left_for_next_time} more to delete: the next run goes on"
