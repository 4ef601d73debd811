"""The sensor that evaluates the KPIs' and rollups' automation conditions
(`dagster_io/automation.py`) every `WANPERF_AUTOMATION_INTERVAL` seconds."""

import dagster as dg

from wanperf_dagster.settings import get_settings


@dg.definitions
def defs() -> dg.Definitions:
    kpi_backfills = dg.AutomationConditionSensorDefinition(
        "kpi_backfills",
        target=dg.AssetSelection.groups("kpis", "rollups", "reports"),
        emit_backfills=True,
        # evaluated in the code server, which custom conditions (SiteDaysInProgress) need
        use_user_code_server=True,
        default_status=dg.DefaultSensorStatus.RUNNING,
        # each evaluation covers every day x site partition of the per-site assets and records it
        # for the UI (under 4 s at 10,000 sites during a backfill); a longer interval delays the
        # nightly start
        minimum_interval_seconds=get_settings().automation_interval,
        description="Requests yesterday's site-days and day rollups every night at 00:20 UTC, and "
        "the last 3 complete days at 03:40 UTC, as one chunked backfill each; refreshes a day's, "
        "week's or month's rollups and SLA reports after any of its site-days change.",
    )
    return dg.Definitions(sensors=[kpi_backfills])
