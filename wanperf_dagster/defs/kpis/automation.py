"""The nightly and rolling backfills of the KPIs, as declarative automation.

Every night yesterday's site-days, and every morning the last three complete days again (late
samples), are requested for the per-site assets and the day rollups at once. The automation sensor
emits each tick's request as one backfill, which Dagster cuts into chunk runs by the assets'
`BackfillPolicy` (a day x up to `WANPERF_BACKFILL_CHUNK` sites per run) and runs the day rollups
after their site-days. The UI shows each tick with the backfill it requested; evaluating a tick
(a preview, a test) requests nothing.
"""

import datetime as dt

import dagster as dg

from wanperf_dagster.settings import get_settings

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


def after_site_days_change(lookback: dt.timedelta) -> dg.AutomationCondition:
    """A rollup's partition whenever any of its site-days was materialized since the rollup
    last was (a backfill, a re-run from the UI), once they are all done (none in progress)."""
    return (
        dg.AutomationCondition.in_latest_time_window(lookback)
        & dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("after its site-days change")


# a day's region/org/offender/trend rollups: with the nightly and rolling backfills, and after
# any re-run of that day's site-days
DAY_ROLLUPS = (KPI_BACKFILLS | after_site_days_change(dt.timedelta(days=35))).with_label(
    "nightly, rolling, and after its site-days change"
)
# weeks and months (this one and the last): after their site-days change, so each night's
# backfill refreshes the period in progress and the last day of a period completes it
PERIOD_ROLLUPS = after_site_days_change(dt.timedelta(days=40))

kpi_backfills = dg.AutomationConditionSensorDefinition(
    "kpi_backfills",
    target=dg.AssetSelection.groups("kpis", "rollups"),
    emit_backfills=True,
    default_status=dg.DefaultSensorStatus.RUNNING,
    # each evaluation covers every day x site partition of seven assets and records it for the
    # UI: at 10,000 sites that is most of a core, so large orgs evaluate less often
    minimum_interval_seconds=get_settings().automation_interval,
    description="Requests yesterday's site-days and day rollups every night at 00:20 UTC, and the "
    "last 3 complete days at 03:40 UTC, as one chunked backfill each; refreshes a day's, week's "
    "or month's rollups after any of its site-days change.",
)
