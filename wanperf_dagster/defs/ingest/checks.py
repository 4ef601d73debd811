"""Freshness of the sweep: `raw_port_stats` older than three poll intervals fails its check."""

import datetime as dt

import dagster as dg

from wanperf_dagster.settings import get_settings


@dg.definitions
def defs() -> dg.Definitions:
    freshness_checks = dg.build_last_update_freshness_checks(
        assets=["raw_port_stats"],
        lower_bound_delta=dt.timedelta(seconds=3 * get_settings().poll_interval),
    )
    freshness_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=freshness_checks,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    return dg.Definitions(asset_checks=freshness_checks, sensors=[freshness_sensor])
