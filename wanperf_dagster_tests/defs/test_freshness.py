"""The freshness sensor asks for one run at a time: Dagster's own asks again on every tick while
its run waits in a full queue (seen at 20,000 sites: one queued every 30 s)."""

from __future__ import annotations

import uuid

import dagster as dg

from wanperf_dagster.defs.ingest import checks


def _sensors() -> tuple[dg.SensorDefinition, dg.SensorDefinition]:
    loaded = checks.defs()
    (ours,) = loaded.sensors
    stock = dg.build_sensor_for_freshness_checks(
        freshness_checks=list(loaded.asset_checks), name=checks.SENSOR_NAME
    )
    return ours, stock


def _tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance):
    return sensor(dg.build_sensor_context(instance=instance, sensor_name=checks.SENSOR_NAME))


def _its_run(instance: dg.DagsterInstance, status: dg.DagsterRunStatus) -> dg.DagsterRun:
    return instance.add_run(
        dg.DagsterRun(
            job_name="__ASSET_JOB",
            run_id=str(uuid.uuid4()),
            status=status,
            tags={"dagster/sensor_name": checks.SENSOR_NAME},
        )
    )


def test_the_freshness_sensor_waits_while_its_run_is_not_done():
    ours, stock = _sensors()
    with dg.instance_for_test() as instance:
        first = _tick(ours, instance)  # the check never ran: a run for it
        assert isinstance(first, dg.RunRequest)
        assert {k.name for k in first.asset_check_keys} == {"freshness_check"}

        run = _its_run(instance, dg.DagsterRunStatus.NOT_STARTED)
        assert isinstance(_tick(stock, instance), dg.RunRequest)  # Dagster's asks again
        waiting = _tick(ours, instance)
        assert isinstance(waiting, dg.SkipReason) and "not done" in waiting.skip_message

        instance.report_run_failed(run)  # done: the next tick asks again
        assert isinstance(_tick(ours, instance), dg.RunRequest)


def test_another_sensors_runs_do_not_hold_it_up():
    ours, _ = _sensors()
    with dg.instance_for_test() as instance:
        instance.add_run(
            dg.DagsterRun(
                job_name="__ASSET_JOB",
                run_id=str(uuid.uuid4()),
                status=dg.DagsterRunStatus.NOT_STARTED,
                tags={"dagster/sensor_name": "kpi_backfills"},
            )
        )
        assert isinstance(_tick(ours, instance), dg.RunRequest)
