"""The rollups' guard: a day's, week's or month's rollups wait while any of its site-days is in an
active run or backfill, and follow once they are done (`SiteDaysInProgress`, evaluated as the
automation sensor does: a preview, nothing launched)."""

import datetime as dt
import uuid
import warnings

import dagster as dg
import pandas as pd
import pytest
from dagster._core.execution.backfill import BulkActionStatus

from harness.backfills import add_site_day_backfill
from harness.instance_config import project_instance_overrides
from wanperf_dagster.dagster_io.automation import SiteDaysInProgress, days_of_run
from wanperf_dagster.definitions import defs

warnings.filterwarnings("ignore", category=dg.BetaWarning)
pytestmark = [pytest.mark.dagster, pytest.mark.integration]

DAY = "2025-11-26"  # a Wednesday: week 2025-11-24, month 2025-11-01
SITES = [f"s{i:02d}" for i in range(4)]
PERIODS = {"weekly_circuit_kpis": {"2025-11-24"}, "monthly_circuit_kpis": {"2025-11-01"}}


def site_day(site: str, day: str = DAY) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"day": day, "site": site})


def test_days_of_run_reads_dagsters_partition_tags():
    assert days_of_run({"dagster/partition": "2025-11-26|s01"}) == {dt.date(2025, 11, 26)}
    span = days_of_run(
        {
            "dagster/asset_partition_range_start": "2025-11-25|s03",
            "dagster/asset_partition_range_end": "2025-11-27|s00",
        }
    )
    assert span == {dt.date(2025, 11, 25), dt.date(2025, 11, 26), dt.date(2025, 11, 27)}
    assert days_of_run({}) is None  # no partition named: it may touch any day
    assert days_of_run({"dagster/partition": "not-a-day|s01"}) is None
    assert days_of_run({"dagster/asset_partition_range_start": "2025-11-25|s03"}) is None


@pytest.fixture
def instance():
    with dg.instance_for_test(overrides=project_instance_overrides()) as inst:
        inst.add_dynamic_partitions("site", SITES)
        yield inst


@pytest.fixture
def evaluate(instance):
    definitions = defs()
    cursor = [None]

    def run() -> dict[str, set[str]]:
        result = dg.evaluate_automation_conditions(
            defs=definitions,
            instance=instance,
            cursor=cursor[0],
            evaluation_time=pd.Timestamp("2025-11-28 12:00", tz="UTC").to_pydatetime(),
        )
        cursor[0] = result.cursor
        return {
            r.key.to_user_string(): {
                str(k) for k in r.true_subset.expensively_compute_partition_keys()
            }
            for r in result.results
            if r.true_subset.size
        }

    assert run() == {}  # the first evaluation only starts the cursor
    return run


def materialize(instance, sites, asset="circuit_kpis", day=DAY):
    for site in sites:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset, partition=site_day(site, day))
        )


def add_run(instance, tags, assets=("circuit_kpis",)) -> dg.DagsterRun:
    run = dg.DagsterRun(
        job_name="__ASSET_JOB",
        run_id=str(uuid.uuid4()),
        status=dg.DagsterRunStatus.STARTED,
        tags=tags,
        asset_selection=frozenset(dg.AssetKey(a) for a in assets),
    )
    instance.add_run(run)
    return run


def test_rollups_wait_for_a_backfill_of_their_site_days(instance, evaluate):
    """Half a backfill's site-days are done: no rollup of that day, week or month is requested
    (the day rollups are in the backfill; the weeks and months are not, and wait on the guard);
    once the backfill is over, the weeks and months follow."""
    add_site_day_backfill(instance, "bf", [DAY], SITES)
    materialize(instance, SITES[:2])
    assert evaluate() == {}
    assert evaluate() == {}  # still waiting, still nothing
    backfill = instance.get_backfill("bf")
    instance.update_backfill(backfill.with_status(BulkActionStatus.COMPLETED_SUCCESS))
    got = evaluate()
    for asset, period in PERIODS.items():
        assert got[asset] == period, asset
    assert got["org_kpis"] == {DAY}  # the backfill did not run it here: it follows too
    assert evaluate() == {}  # once


def test_rollups_wait_for_a_run_of_their_site_days_and_not_of_other_days(instance, evaluate):
    run = add_run(instance, {"dagster/partition": str(site_day("s03"))})
    materialize(instance, SITES[:2])
    assert evaluate() == {}  # s03 of the same day is being materialized
    instance.report_run_failed(run)
    got = evaluate()
    assert got["org_kpis"] == {DAY} and got["weekly_circuit_kpis"] == PERIODS["weekly_circuit_kpis"]
    assert evaluate() == {}  # the request is handled (Dagster resets on the next evaluation)

    # a chunk run of another month's days holds those, not this day
    add_run(
        instance,
        {
            "dagster/asset_partition_range_start": str(site_day("s00", "2025-10-30")),
            "dagster/asset_partition_range_end": str(site_day("s03", "2025-10-31")),
        },
        assets=("site_snapshots", "circuit_kpis"),
    )
    materialize(instance, SITES[2:])
    got = evaluate()
    assert got["org_kpis"] == {DAY}
    for asset, period in PERIODS.items():
        assert got[asset] == period, asset
    assert evaluate() == {}
    # and one of this week's days, another day than the rollup's own: the week waits, the day not
    add_run(instance, {"dagster/partition": str(site_day("s01", "2025-11-25"))})
    materialize(instance, SITES[:1])
    got = evaluate()
    assert got.get("org_kpis") == {DAY}
    assert "weekly_circuit_kpis" not in got and "monthly_circuit_kpis" not in got


def test_a_run_of_other_assets_or_without_partitions_is_told_apart(instance, evaluate):
    add_run(instance, {"dagster/partition": "2025-11-26"}, assets=("org_kpis",))  # not a dep
    materialize(instance, SITES[:1])
    assert evaluate()["weekly_circuit_kpis"] == PERIODS["weekly_circuit_kpis"]
    assert evaluate() == {}
    add_run(instance, {}, assets=("circuit_kpis",))  # a dep, no partition named: all wait
    materialize(instance, SITES[1:2])
    assert evaluate() == {}


def test_the_rollups_guard_is_site_days_in_progress_not_a_dependency_operator():
    """Dagster's `any_deps_in_progress()` maps each candidate day, week or month onto every site
    of each dependency on every evaluation (`python -m bench automation`): the rollups use
    `SiteDaysInProgress` instead, and no rollup condition maps onto its dependencies' partitions
    but `any_deps_updated` (evaluated on new materializations only)."""

    def conditions(cond):
        yield cond
        for child in cond.children:
            yield from conditions(child)

    rollups = [
        spec
        for spec in defs().resolve_all_asset_specs()
        if spec.automation_condition is not None and spec.group_name == "rollups"
    ]
    assert len(rollups) >= 8
    for spec in rollups:
        found = list(conditions(spec.automation_condition))
        assert any(isinstance(c, SiteDaysInProgress) for c in found), spec.key
        assert not any(c.name == "any_deps_in_progress" for c in found), spec.key
