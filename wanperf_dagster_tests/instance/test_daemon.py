"""`wanperf daemon`: Dagster's backfill loop, woken by backfill work instead of a fixed 30 s.

Every wait here is bounded by a long timeout that the test never reaches when the wake works:
what is asserted is why a wait ended (shutdown, work, or its timeout), never how long it took.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import dagster as dg
import dagster._daemon.controller as controller
import pytest
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.storage.tags import BACKFILL_ID_TAG
from dagster._core.test_utils import create_run_for_test
from dagster._daemon.daemon import BackfillDaemon, SpanMarker

from harness.instance_config import project_instance_overrides
from wanperf_dagster.instance import daemon
from wanperf_dagster.instance.daemon import BackfillWake

pytestmark = pytest.mark.dagster

LONG = 60.0  # a wait that ends on work or shutdown long before this


@pytest.fixture
def instance():
    # the project's instance: SQLite, or Postgres in CI's second pass (timestamps stored apart)
    with dg.instance_for_test(overrides=project_instance_overrides()) as inst:
        yield inst


def _backfill(instance: dg.DagsterInstance, backfill_id: str) -> None:
    instance.add_backfill(
        PartitionBackfill(
            backfill_id=backfill_id,
            status=BulkActionStatus.REQUESTED,
            from_failure=False,
            tags={},
            backfill_timestamp=time.time(),
        )
    )


def _later(action, delay: float = 0.3) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), action()))
    thread.start()
    return thread


def test_a_new_backfill_ends_the_wait(instance):
    wake = BackfillWake(threading.Event(), instance, poll_seconds=0.05)
    thread = _later(lambda: _backfill(instance, "new"))
    assert wake.wait(LONG) is False  # not a shutdown: the loop goes round at once
    thread.join()
    assert wake.early_wakes == 1


def test_a_backfill_seen_before_the_wait_does_not_wake_it(instance):
    _backfill(instance, "old")
    wake = BackfillWake(threading.Event(), instance, poll_seconds=0.05)
    assert wake.wait(0.5) is False
    assert wake.early_wakes == 0


def test_a_backfill_added_while_an_iteration_ran_wakes_the_next_wait(instance):
    wake = BackfillWake(threading.Event(), instance, poll_seconds=0.05)
    assert wake.wait(0.2) is False and wake.early_wakes == 0
    _backfill(instance, "during the iteration")  # after that wait returned, before the next
    assert wake.wait(LONG) is False
    assert wake.early_wakes == 1
    assert wake.wait(0.3) is False and wake.early_wakes == 1  # and only once


def test_a_finished_run_of_a_backfill_ends_the_wait_and_another_run_does_not(instance):
    of_backfill = create_run_for_test(
        instance, job_name="chunk", tags={BACKFILL_ID_TAG: "b1"}, status=dg.DagsterRunStatus.STARTED
    )
    other = create_run_for_test(instance, job_name="sweep", status=dg.DagsterRunStatus.STARTED)
    wake = BackfillWake(threading.Event(), instance, poll_seconds=0.05)
    thread = _later(lambda: instance.report_run_failed(other), delay=0.05)
    assert wake.wait(0.6) is False and wake.early_wakes == 0
    thread.join()
    thread = _later(lambda: instance.report_run_failed(of_backfill))
    assert wake.wait(LONG) is False
    thread.join()
    assert wake.early_wakes == 1


def test_shutdown_ends_the_wait_as_shutdown(instance):
    event = threading.Event()
    wake = BackfillWake(event, instance, poll_seconds=0.05)
    thread = _later(wake.set)
    assert wake.wait(LONG) is True
    thread.join()
    assert wake.is_set() and event.is_set() and wake.early_wakes == 0


def test_dagster_backfill_loop_waits_on_the_event_it_is_given(instance):
    """The pinned Dagster's loop must sleep on the daemon's event: the wake relies on it."""
    early = daemon.early_backfill_daemon(0.05)(settings={"use_threads": False})
    shutdown = threading.Event()
    context = SimpleNamespace(instance=instance)  # with no backfill, the loop reads only this
    loop = early.core_loop(context, shutdown)
    assert next(loop) is SpanMarker.START_SPAN
    assert next(loop) is None  # the iteration: no backfill
    assert next(loop) is SpanMarker.END_SPAN
    thread = _later(lambda: _backfill(instance, "wakes the loop"))
    assert next(loop) is None  # Dagster's wait ended: 30 s unless our event woke it
    thread.join()
    assert early.wake.early_wakes == 1
    assert next(loop) is SpanMarker.START_SPAN


def test_install_swaps_the_controllers_backfill_daemon_and_zero_keeps_dagsters(
    instance, monkeypatch
):
    monkeypatch.setattr(controller, "BackfillDaemon", BackfillDaemon)
    assert daemon.patch_available() == ""  # the pinned Dagster has what the wake patches
    assert daemon.install(0) is False
    assert type(controller.create_daemon_of_type("BACKFILL", instance)) is BackfillDaemon
    assert daemon.install(2) is True
    made = controller.create_daemon_of_type("BACKFILL", instance)
    assert isinstance(made, BackfillDaemon) and type(made) is not BackfillDaemon
    assert made.daemon_type() == "BACKFILL"


def test_a_dagster_without_what_the_wake_patches_keeps_its_own_loop(instance, monkeypatch, caplog):
    from wanperf_dagster import settings as settings_module

    monkeypatch.setattr(controller, "BackfillDaemon", BackfillDaemon)
    monkeypatch.setattr(daemon, "_MISSING", "cannot import name 'BackfillDaemon'")
    settings_module._FELL_BACK.discard("backfill_wake")
    assert daemon.install(2) is False and daemon.install(2) is False
    assert type(controller.create_daemon_of_type("BACKFILL", instance)) is BackfillDaemon
    said = [r.getMessage() for r in caplog.records if "backfill_wake is on" in r.getMessage()]
    assert len(said) == 1 and "BackfillDaemon" in said[0] and "stock path" in said[0]


def test_by_default_wanperf_daemon_is_dagsters_own(tmp_path):
    """Without the patch, `wanperf daemon` hands over to Dagster's `dagster-daemon run` as it
    ships (its own process: nothing of the wake is loaded)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "WANPERF_DAGSTER_PATCHES"}
    out = subprocess.run(
        [sys.executable, "-m", "wanperf_dagster.cli", "daemon", "--", "--help"],
        capture_output=True,
        text=True,
        env={**env, "WANPERF_DATA_DIR": str(tmp_path / "d")},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "Dagster's own daemon" in out.stdout and "Usage: dagster-daemon run" in out.stdout
    patched = subprocess.run(
        [sys.executable, "-m", "wanperf_dagster.cli", "daemon", "--", "--help"],
        capture_output=True,
        text=True,
        env={**env, "WANPERF_DATA_DIR": str(tmp_path / "d"), "WANPERF_DAGSTER_PATCHES": "all"},
        timeout=120,
    )
    assert patched.returncode == 0, patched.stderr
    assert "every 2 s" in patched.stdout and "Usage: wanperf daemon run" in patched.stdout


def _rss_mib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS"))


def test_between_iterations_the_daemon_gives_freed_memory_back():
    """What an iteration freed in a worker thread's arena is returned, not kept at its peak."""
    kept = []

    def iteration():
        garbage = [bytearray(1000) for _ in range(150_000)]  # ~150 MiB of malloc'd chunks
        kept.append(bytearray(1000))  # allocated last, so the freed chunks are not the heap's top
        del garbage

    thread = threading.Thread(target=iteration)
    thread.start()
    thread.join()
    before = _rss_mib()
    daemon.return_freed_memory()
    assert before - _rss_mib() > 100, (before, _rss_mib())
