"""Run a real chunked backfill of the project's definitions through Dagster's backfill daemon
logic, in a fresh process (so the chunk size comes from the environment); prints a JSON report.

Usage: python run_backfill.py SWEEPS [PER_PARTITION_RUNS]
(env: WANPERF_REDIS_URL, WANPERF_SIM_SITES, WANPERF_BACKFILL_CHUNK, ...). With PER_PARTITION_RUNS,
also times that many one-partition runs of the same assets, for the benchmark's comparison.
"""

import json
import logging
import resource
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

DAY0 = 1_764_115_200
DAY = "2025-11-26"


def main() -> None:
    import dagster as dg
    from dagster._core.execution.backfill import BulkActionStatus
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
    from dagster._daemon.backfill import execute_backfill_iteration

    from wanperf_dagster import store
    from wanperf_dagster.definitions import defs
    from wanperf_dagster.defs import automation
    from wanperf_dagster.mist import SweepConfig, client_from_env, run_sweep
    from wanperf_dagster.mist.settings import in_process_simulator, simulator_params

    sweeps = int(sys.argv[1])
    per_partition = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    sim = in_process_simulator(**simulator_params()).sim
    r = store.connect(store.resolve_redis_url())
    client = client_from_env()
    for k in range(sweeps):
        sim.clock.set(DAY0 + k * (86400 // sweeps) + 30)
        run_sweep(client, r, SweepConfig())

    project = Path(__file__).resolve().parents[3]
    sys.path.insert(0, str(project))
    from wanperf_dagster_tests.instance_config import project_instance_overrides

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
    with dg.instance_for_test(overrides=overrides) as instance:
        from wanperf_dagster.defs.assets.ingest import mist_sites

        assert dg.materialize([mist_sites], resources=defs.resources, instance=instance).success
        from wanperf_dagster.defs.resources import RedisResource

        sites = automation.stored_sites(RedisResource(url=store.resolve_redis_url()))
        site_ids = list(sites["site_id"])
        t_add = time.monotonic()
        instance.add_dynamic_partitions("site", site_ids)
        t_add = time.monotonic() - t_add
        t_get = time.monotonic()
        assert len(instance.get_dynamic_partitions("site")) == len(site_ids)
        t_get = time.monotonic() - t_get
        automation.add_backfill(instance, "test-backfill", [DAY], site_ids, "test")
        target = InProcessWorkspaceLoadTarget(
            InProcessCodeLocationOrigin(
                LoadableTargetOrigin(
                    module_name="wanperf_dagster.definitions", working_directory=str(project)
                )
            )
        )
        logger = logging.getLogger("backfill-test")
        t0 = time.monotonic()
        with create_test_daemon_workspace_context(target, instance) as ctx:
            while instance.get_backfill("test-backfill").status == BulkActionStatus.REQUESTED:
                list(execute_backfill_iteration(ctx, logger))
                if time.monotonic() - t0 > 600:
                    break
        elapsed = time.monotonic() - t0
        backfill = instance.get_backfill("test-backfill")
        runs = instance.get_runs()
        report = {
            "status": backfill.status.value,
            "elapsed_s": round(elapsed, 1),
            "sites": len(site_ids),
            "runs": [
                {
                    "status": run.status.value,
                    "assets": sorted(k.to_user_string() for k in (run.asset_selection or [])),
                }
                for run in runs
                if run.tags.get("dagster/backfill") == "test-backfill"
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
                )
            },
        }
        report["add_dynamic_partitions_s"] = round(t_add, 3)
        report["get_dynamic_partitions_s"] = round(t_get, 3)
        if per_partition:
            from wanperf_dagster.defs.assets import ingest, kpis

            assets = [ingest.mist_sites, kpis.site_snapshots, kpis.circuit_kpis]
            t1 = time.monotonic()
            for site in site_ids[:per_partition]:
                result = dg.materialize(
                    assets,
                    selection=[kpis.site_snapshots, kpis.circuit_kpis],
                    resources=defs.resources,
                    instance=instance,
                    partition_key=dg.MultiPartitionKey({"day": DAY, "site": site}),
                )
                assert result.success
            report["per_partition_run_s"] = round((time.monotonic() - t1) / per_partition, 3)
        report["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print("REPORT " + json.dumps(report))


if __name__ == "__main__":
    main()
