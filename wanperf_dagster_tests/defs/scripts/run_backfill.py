"""The nightly backfill through Dagster's own machinery, in a fresh process (so the chunk size
comes from the environment): the sensor daemon evaluates the project's `kpi_backfills` automation
sensor before and after its 00:20 UTC tick (time frozen), the backfill it emits is executed by the
backfill daemon's iteration, and a JSON report is printed.

Usage: python run_backfill.py SWEEPS [PER_PARTITION_RUNS]
(env: WANPERF_REDIS_URL, WANPERF_SIM_SITES, WANPERF_BACKFILL_CHUNK, ...). With PER_PARTITION_RUNS,
also times that many one-partition runs of the same assets, for the benchmark's comparison.
"""

import datetime as dt
import json
import logging
import os
import resource
import sys
import time
from pathlib import Path

DAY0 = 1_764_115_200  # 2025-11-26 00:00 UTC
DAY = "2025-11-26"
NIGHT = dt.datetime(2025, 11, 27, 0, 20, tzinfo=dt.UTC)  # the nightly tick for DAY


def main() -> None:
    import dagster as dg
    from dagster._core.execution.backfill import BulkActionStatus
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster._daemon.sensor import execute_sensor_iteration

    from wanperf_dagster import store
    from wanperf_dagster.definitions import defs
    from wanperf_dagster.mist import SweepConfig, run_sweep
    from wanperf_dagster.settings import get_settings
    from wanperf_dagster.sources import client_from_settings, in_process_simulator
    from wanperf_dagster.storage import AssetStore

    settings = get_settings()
    report: dict = {}
    sweeps = int(sys.argv[1])
    per_partition = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    sim = in_process_simulator(settings.sim_sites, settings.sim_seed).sim
    r = store.connect(store.resolve_redis_url(settings.redis_url, settings.data_dir))
    client = client_from_settings(settings)
    for k in range(sweeps):
        sim.clock.set(DAY0 + k * (86400 // sweeps) + 30)
        run_sweep(client, r, SweepConfig())

    project = Path(__file__).resolve().parents[3]
    sys.path.insert(0, str(project))
    from harness.instance_config import project_instance_overrides

    overrides = {
        **project_instance_overrides(),
        "run_launcher": {
            "module": "dagster._core.launcher.sync_in_memory_run_launcher",
            "class": "SyncInMemoryRunLauncher",
        },
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "DefaultRunCoordinator",
        },
    }
    definitions = defs()
    with dg.instance_for_test(overrides=overrides) as instance:
        assert dg.materialize(
            list(definitions.assets),
            selection=["mist_sites"],
            resources=definitions.resources,
            instance=instance,
        ).success
        site_ids = AssetStore(r).site_ids()
        t_add = time.monotonic()
        instance.add_dynamic_partitions("site", site_ids)
        t_add = time.monotonic() - t_add
        t_get = time.monotonic()
        assert len(instance.get_dynamic_partitions("site")) == len(site_ids)
        t_get = time.monotonic() - t_get
        target = InProcessWorkspaceLoadTarget(
            InProcessCodeLocationOrigin(
                LoadableTargetOrigin(
                    module_name="wanperf_dagster.definitions", working_directory=str(project)
                )
            )
        )
        logger = logging.getLogger("backfill-test")
        if settings.patched("backfill_check"):  # as `wanperf daemon` installs it
            from wanperf_dagster.instance import backfill_check

            assert backfill_check.install()
        with create_test_daemon_workspace_context(target, instance) as ctx:

            def tick(at: dt.datetime) -> None:  # the sensor daemon: kpi_backfills is user code
                with freeze_time(at):
                    list(execute_sensor_iteration(ctx, logger, None, None))

            tick(NIGHT - dt.timedelta(minutes=15))  # before the nightly tick: nothing requested
            before = len(instance.get_backfills())
            tick(NIGHT + dt.timedelta(minutes=5))  # after it: yesterday's backfill
            backfills = instance.get_backfills()
            assert backfills, "the kpi_backfills sensor requested no backfill"
            backfill_id = backfills[0].backfill_id
            target_subset = backfills[0].asset_backfill_data.target_subset
            requested = {
                key.to_user_string(): sorted(
                    str(k) for k in target_subset.get_partitions_subset(key).get_partition_keys()
                )
                for key in target_subset.asset_keys
            }
            t0 = time.monotonic()
            while instance.get_backfill(backfill_id).status == BulkActionStatus.REQUESTED:
                list(execute_backfill_iteration(ctx, logger))
                if time.monotonic() - t0 > 600:
                    break
            elapsed = time.monotonic() - t0
        backfill = instance.get_backfill(backfill_id)
        runs = instance.get_runs()
        if os.environ.get("WANPERF_EXECUTOR") == "celery":
            report.update(_celery_report(instance, backfill_id))
            runs = instance.get_runs()
        report.update(
            {
                "backfills_before_tick": before,
                "backfills_after_tick": len(backfills),
                "requested": requested,
                "status": backfill.status.value,
                "elapsed_s": round(elapsed, 1),
                "sites": len(site_ids),
                "runs": [
                    {
                        "status": run.status.value,
                        "assets": sorted(k.to_user_string() for k in (run.asset_selection or [])),
                    }
                    for run in runs
                    if run.tags.get("dagster/backfill") == backfill_id
                ],
                "materialized": {
                    name: len(instance.get_materialized_partitions(dg.AssetKey(name)))
                    for name in (
                        "site_snapshots",
                        "circuit_kpis",
                        "circuit_kpis_hourly",
                        "region_kpis",
                        "org_kpis",
                        "top_offenders",
                        "congestion_trends",
                    )
                },
            }
        )
        report["add_dynamic_partitions_s"] = round(t_add, 3)
        report["get_dynamic_partitions_s"] = round(t_get, 3)
        if per_partition:
            t1 = time.monotonic()
            for site in site_ids[:per_partition]:
                result = dg.materialize(
                    list(definitions.assets),
                    selection=dg.AssetSelection.groups("kpis"),
                    resources=definitions.resources,
                    instance=instance,
                    partition_key=dg.MultiPartitionKey({"day": DAY, "site": site}),
                )
                assert result.success
            report["per_partition_run_s"] = round((time.monotonic() - t1) / per_partition, 3)
        report["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print("REPORT " + json.dumps(report))


def _celery_report(instance, backfill_id: str) -> dict:
    """Which Celery worker ran each step (from the engine events the workers write), and the
    failed runs of the backfill re-executed from their failure (a worker may have been killed)."""
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.events import DagsterEventType

    def backfill_runs():
        return [r for r in instance.get_runs() if r.tags.get("dagster/backfill") == backfill_id]

    failed = [r.run_id for r in backfill_runs() if r.status == dg.DagsterRunStatus.FAILURE]
    reexecuted = []
    project = Path(__file__).resolve().parents[3]
    repo = ReconstructableRepository.for_module(
        "wanperf_dagster.definitions", "defs", working_directory=str(project)
    )
    for run_id in failed:
        job_name = instance.get_run_by_id(run_id).job_name
        result = dg.execute_job(
            repo.get_reconstructable_job(job_name),
            instance=instance,
            reexecution_options=dg.ReexecutionOptions.from_failure(run_id, instance),
        )
        reexecuted.append({"of": run_id, "success": result.success})
    workers: list[list[str]] = []  # [run, step, worker] for each step a worker started
    errors = []
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type == DagsterEventType.ENGINE_EVENT:
                meta = event.engine_event_data.metadata or {}
                if "Celery worker" in meta:
                    value = meta["Celery worker"]
                    worker = str(getattr(value, "value", value))
                    workers.append([run.run_id, event.step_key or "", worker])
            if event.event_type in (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE):
                errors.append(entry.message or "")
    return {
        "failed_runs": len(failed),
        "reexecuted": reexecuted,
        "step_workers": workers,
        "failure_messages": [m[:300] for m in errors],
    }


if __name__ == "__main__":
    main()
