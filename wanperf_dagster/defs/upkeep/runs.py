"""Every night, the finished runs that no longer say anything go with their events
(`instance/retention.py`): the event log levels off at the hot window's runs."""

import time

import dagster as dg

from wanperf_dagster.instance.retention import prune_runs, summary
from wanperf_dagster.settings import get_settings


@dg.op
def prune_runs_op(context: dg.OpExecutionContext) -> None:
    full = get_settings()  # the hot window and the retention, as the code location loaded them
    done = prune_runs(
        context.instance,
        window_start=full.window_start(),
        retention_days=full.run_retention_days,
        now=time.time(),
        on_progress=lambda n: context.log.info(f"{n} runs deleted so far"),
    )
    for line in summary(done):
        context.log.info(line)
    context.add_output_metadata(
        {"runs_deleted": done.deleted, "runs_left": done.left_for_next_time}
    )


@dg.job(description="Delete finished runs (and their events) that no longer say anything.")
def prune_runs_job():
    prune_runs_op()


prune_runs_schedule = dg.ScheduleDefinition(
    name="prune_runs_nightly",
    job=prune_runs_job,
    cron_schedule="50 4 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="At 04:50 UTC: finished runs older than WANPERF_RUN_RETENTION_DAYS whose day "
    "partitions left the hot window, or superseded runs of unpartitioned assets, go with their "
    "events (week and month runs stay).",
)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(jobs=[prune_runs_job], schedules=[prune_runs_schedule])
