"""The automation conditions of the KPIs and rollups: the nightly and rolling backfills, and the
rollups' refresh once their site-days change (the sensor that evaluates them is
`defs/kpis/automation.py`).

Every night yesterday's site-days, and every morning the last three complete days again (late
samples), are requested for the per-site assets and the day rollups at once. The automation sensor
emits each tick's request as one backfill, which Dagster cuts into chunk runs by the assets'
`BackfillPolicy` (a day x up to `WANPERF_BACKFILL_CHUNK` sites per run) and runs the day rollups
after their site-days. The UI shows each tick with the backfill it requested; evaluating a tick
(a preview, a test) requests nothing.
"""

import datetime as dt
from collections.abc import Mapping

import dagster as dg

from .partitions import split_key

NIGHTLY_CRON = "20 0 * * *"  # yesterday, once its last sweep is in
ROLLING_CRON = "40 3 * * *"  # the last 3 complete days again, for samples that came in late


def complete_days_after(cron: str, days: int) -> dg.AutomationCondition:
    """The last `days` complete UTC days, on the first evaluation after each tick of `cron`.

    The day partitions end with today (so far): the latest time window is today, which is left
    out; the `days` windows before it are requested."""
    return (
        dg.AutomationCondition.cron_tick_passed(cron, "UTC")
        & dg.AutomationCondition.in_latest_time_window(dt.timedelta(days=days + 1))
        & ~dg.AutomationCondition.in_latest_time_window()
    )


KPI_BACKFILLS = (
    complete_days_after(NIGHTLY_CRON, 1).with_label("nightly: yesterday")
    | complete_days_after(ROLLING_CRON, 3).with_label("rolling: the last 3 complete days")
).with_label("nightly and rolling backfills")


# Dagster's run tags naming what a run materializes: one partition, or a range of them
PARTITION_TAG = "dagster/partition"
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
ACTIVE_RUN_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _day_of(site_day_key) -> dt.date:
    return dt.date.fromisoformat(split_key(site_day_key)[0])


def days_of_run(tags: Mapping[str, str]) -> set[dt.date] | None:
    """The UTC days of the site-days a run's partition tags name (a range covers every day from
    its first to its last key); None when they name no site-day, so the run may touch any day."""
    try:
        if PARTITION_TAG in tags:
            return {_day_of(tags[PARTITION_TAG])}
        if all(tag in tags for tag in RANGE_TAGS):
            first, last = (_day_of(tags[tag]) for tag in RANGE_TAGS)
            return {first + dt.timedelta(days=n) for n in range((last - first).days + 1)}
    except ValueError:
        pass
    return None


class SiteDaysInProgress(dg.AutomationCondition):
    """True for a rollup's day, week or month while any site-day of it is in an active run or
    backfill: what `any_deps_in_progress()` says for these rollups, read from the runs' partition
    tags and the backfills' remaining targets. Dagster's operator maps each candidate partition
    onto every site of its days for each dependency, on every evaluation, and keeps them: 2.7 s
    and 34 MiB more per evaluation at 2,000 sites (`python -m bench automation`), a daemon of
    1.3 GiB at 10,000."""

    @property
    def name(self) -> str:
        return "site_days_in_progress"

    @property
    def description(self) -> str:
        return "Any of its site-days is in an active run or backfill"

    async def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        candidate = context.candidate_subset
        if candidate.is_empty:  # the common case: nothing waits on its site-days
            return dg.AutomationResult(context=context, true_subset=candidate)
        deps = set(context.asset_graph.get(context.key).parent_keys)
        view = context.asset_graph_view
        days: set[dt.date] = set()
        for record in view.instance.get_run_records(dg.RunsFilter(statuses=ACTIVE_RUN_STATUSES)):
            run = record.dagster_run
            if run.asset_selection is not None and not deps & set(run.asset_selection):
                continue
            run_days = days_of_run(run.tags)
            if run_days is None:  # it may touch any of them: everything waits
                return dg.AutomationResult(context=context, true_subset=candidate)
            days |= run_days
        for dep in sorted(deps):  # what active backfills still have to materialize (or fail)
            remaining = await view.compute_backfill_in_progress_subset(
                key=dep, from_subset=view.get_empty_subset(key=dep)
            )
            days |= {_day_of(key) for key in remaining.expensively_compute_partition_keys()}
        return dg.AutomationResult(
            context=context,
            true_subset=candidate.compute_intersection_with_partition_keys(
                _partitions_holding(context.partitions_def, candidate, days)
            ),
        )


def _partitions_holding(partitions_def, candidate, days: set[dt.date]) -> set[str]:
    """The candidate partition keys (days, weeks, months) whose time window holds one of `days`."""
    if not days:
        return set()
    starts = [dt.datetime.combine(d, dt.time(), dt.UTC) for d in days]
    held = set()
    for key in candidate.expensively_compute_partition_keys():
        window = partitions_def.time_window_for_partition_key(key)
        if any(window.start <= start < window.end for start in starts):
            held.add(key)
    return held


def after_site_days_change(lookback: dt.timedelta) -> dg.AutomationCondition:
    """A rollup's partition whenever any of its site-days was materialized since the rollup
    last was (a backfill, a re-run from the UI), once none of them is in progress and the rollup
    itself is not (the nightly backfill holds the day rollups until its site-days are done)."""
    return (
        dg.AutomationCondition.in_latest_time_window(lookback)
        & dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.in_progress()
        & ~SiteDaysInProgress()
    ).with_label("after its site-days change")


def day_rollups(hot_days: int) -> dg.AutomationCondition:
    """A day's region/org/offender/trend rollups: with the nightly and rolling backfills, and
    after any re-run of one of that day's site-days (any day of the partitions: the hot window,
    `WANPERF_HOT_DAYS`)."""
    return (KPI_BACKFILLS | after_site_days_change(dt.timedelta(days=hot_days))).with_label(
        "nightly, rolling, and after its site-days change"
    )


# weeks and months (this one and the last): after their site-days change, so each night's
# backfill refreshes the period in progress and the last day of a period completes it
PERIOD_ROLLUPS = after_site_days_change(dt.timedelta(days=40))
