"""Old runs go with their events once nothing they recorded is shown, in a real instance: a
site-day run whose day left the window, a day rollup's, a superseded run of an unpartitioned
asset and a failed op run go; a site-day run still in the window, a week's run and the newest
success of an unpartitioned asset stay; nothing younger than the retention goes."""

import time

import dagster as dg
import pytest

from harness.instance_config import project_instance_overrides
from wanperf_dagster.instance.retention import RunFacts, prune_runs, summary, verdicts

pytestmark = pytest.mark.dagster

WINDOW = "2025-11-20"
SITE_DAY = dg.MultiPartitionsDefinition(
    {
        "day": dg.DailyPartitionsDefinition(start_date="2025-11-01"),
        "site": dg.StaticPartitionsDefinition(["a", "b"]),
    }
)


# assets named as the registry's, so their partitionings are the registry's
@dg.asset(name="circuit_kpis", partitions_def=SITE_DAY)
def circuit_kpis() -> int:
    return 1


@dg.asset(name="region_kpis", partitions_def=dg.DailyPartitionsDefinition("2025-11-01"))
def region_kpis() -> int:
    return 1


@dg.asset(name="weekly_circuit_kpis", partitions_def=dg.WeeklyPartitionsDefinition("2025-11-02"))
def weekly_circuit_kpis() -> int:
    return 1


@dg.asset(name="mist_sites")
def mist_sites() -> int:
    return 1


@dg.op
def fails() -> None:
    raise RuntimeError("a refresh that failed")


@dg.job
def stale_site_refresh_job():
    fails()


ASSETS = [circuit_kpis, region_kpis, weekly_circuit_kpis, mist_sites]


def _runs(instance) -> dict[str, str]:
    """Each run of the instance by what it did."""
    made = {}

    def run(name, selection, partition_key=None):
        # as the UI and the backfills launch them: the run names its assets
        [asset] = [a for a in ASSETS if a.key.to_user_string() == selection[0]]
        job = dg.Definitions(assets=[asset]).resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            asset_selection=[asset.key], instance=instance, partition_key=partition_key
        )
        made[name] = result.run_id

    run("site_day_old", ["circuit_kpis"], dg.MultiPartitionKey({"day": "2025-11-02", "site": "a"}))
    run("site_day_new", ["circuit_kpis"], dg.MultiPartitionKey({"day": WINDOW, "site": "b"}))
    run("day_old", ["region_kpis"], "2025-11-05")
    run("week", ["weekly_circuit_kpis"], "2025-11-02")
    run("sites_1", ["mist_sites"])
    run("sites_2", ["mist_sites"])
    run("sites_3", ["mist_sites"])
    failed = stale_site_refresh_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not failed.success
    made["refresh_failed"] = failed.run_id
    return made


@pytest.fixture
def instance():
    with dg.instance_for_test(overrides=project_instance_overrides()) as instance:
        yield instance


def test_old_runs_go_with_their_events_and_what_is_shown_stays(instance):
    runs = _runs(instance)
    # younger than the retention: nothing goes
    assert prune_runs(instance, WINDOW, retention_days=14, now=time.time()).deleted == 0
    later = time.time() + 15 * 86400
    done = prune_runs(instance, WINDOW, retention_days=14, now=later)
    gone = {"site_day_old", "day_old", "sites_1", "sites_2", "refresh_failed"}
    for name, run_id in runs.items():
        there = instance.get_run_by_id(run_id) is not None
        assert there == (name not in gone), name
        if name in gone:  # its events with it
            assert not instance.all_logs(run_id), name
    assert done.deleted == len(gone)
    assert (done.kept_in_window, done.kept_latest, done.kept_long_partitions) == (1, 1, 1)
    assert done.by_job == {"__ASSET_JOB": 4, "stale_site_refresh_job": 1}
    # what the UI shows stays: the newest materializations of each asset
    latest = instance.get_latest_materialization_event(dg.AssetKey("mist_sites"))
    assert latest is not None and latest.run_id == runs["sites_3"]
    assert instance.get_latest_materialization_event(dg.AssetKey("weekly_circuit_kpis"))
    text = "\n".join(summary(done))
    assert "deleted 5 runs" in text and "stale_site_refresh_job: 1" in text
    # a second night finds nothing more
    assert prune_runs(instance, WINDOW, retention_days=14, now=later).deleted == 0


def test_a_limit_leaves_the_rest_for_the_next_night(instance):
    _runs(instance)
    later = time.time() + 15 * 86400
    first = prune_runs(instance, WINDOW, retention_days=14, now=later, limit=2)
    assert (first.deleted, first.left_for_next_time) == (2, 3)
    assert "3 more to delete" in "\n".join(summary(first))
    second = prune_runs(instance, WINDOW, retention_days=14, now=later, limit=2)
    third = prune_runs(instance, WINDOW, retention_days=14, now=later, limit=2)
    assert (second.deleted, third.deleted, third.left_for_next_time) == (2, 1, 0)


def _facts(run_id, parts, days=(), job="j", succeeded=True, assets=("x",)):
    return RunFacts(run_id, job, succeeded, frozenset(assets), frozenset(parts), tuple(days))


def test_which_runs_go():
    runs = [  # newest first, as the instance lists them
        _facts("sd-in", {"site_day"}, ["2025-11-19", WINDOW]),
        _facts("sd-out", {"site_day", "day"}, ["2025-11-18", "2025-11-19"]),
        _facts("sd-none", {"site_day"}, []),  # no partition tag: what it covered is unknown
        _facts("month", {"month", "site_day"}, ["2025-10-01"]),
        _facts("unknown", {"unknown"}),
        _facts("no-assets-named", set(), ["2025-11-02"]),  # partitions of what, not known
        _facts("u-failed", {"none"}, succeeded=False),
        _facts("u-new", {"none"}),
        _facts("u-old", {"none"}),
        _facts("u-other-assets", {"none"}, assets=("y",)),
        _facts("ops", set(), job="refresh"),
        _facts("ops-old", set(), job="refresh"),
    ]
    assert verdicts(runs, WINDOW) == {
        "sd-in": "in_window",
        "sd-out": "delete",
        "sd-none": "in_window",
        "month": "long_partitions",
        "unknown": "long_partitions",
        "no-assets-named": "long_partitions",
        "u-failed": "delete",
        "u-new": "latest",
        "u-old": "delete",
        "u-other-assets": "latest",
        "ops": "latest",
        "ops-old": "delete",
    }
