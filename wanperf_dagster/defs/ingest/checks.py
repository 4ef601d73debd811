"""Freshness of the sweep: `raw_port_stats` older than three poll intervals fails its check."""

import datetime as dt

import dagster as dg

from wanperf_dagster.dagster_io.automation import ACTIVE_RUN_STATUSES
from wanperf_dagster.settings import get_settings

SENSOR_NAME = "freshness_checks_sensor"


def one_run_at_a_time(stock: dg.SensorDefinition) -> dg.SensorDefinition:
    """Dagster's freshness sensor asks for a run again on every tick while a failed check's asset
    keeps updating, even when its last run is still queued: with the run queue full at 20,000
    sites it queued one every 30 s. This one waits while a run it asked for is not done."""

    @dg.sensor(
        name=stock.name,
        asset_selection=stock.asset_selection,
        minimum_interval_seconds=stock.minimum_interval_seconds,
        default_status=stock.default_status,
        description=stock.description,
    )
    def the_sensor(context: dg.SensorEvaluationContext):
        waiting = context.instance.get_runs_count(
            dg.RunsFilter(tags={"dagster/sensor_name": stock.name}, statuses=ACTIVE_RUN_STATUSES)
        )
        if waiting:
            return dg.SkipReason(f"{waiting} freshness run(s) of this sensor not done yet")
        return stock(context)

    return the_sensor


@dg.definitions
def defs() -> dg.Definitions:
    freshness_checks = dg.build_last_update_freshness_checks(
        assets=["raw_port_stats"],
        lower_bound_delta=dt.timedelta(seconds=3 * get_settings().poll_interval),
    )
    freshness_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=freshness_checks,
        name=SENSOR_NAME,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    return dg.Definitions(
        asset_checks=freshness_checks, sensors=[one_run_at_a_time(freshness_sensor)]
    )
