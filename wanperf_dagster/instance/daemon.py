"""`wanperf daemon`: Dagster's own `dagster-daemon run`, or, with the `backfill_wake` patch on
(WANPERF_DAGSTER_PATCHES), one whose backfill loop starts a new backfill's runs within seconds.

Dagster 1.13.27's backfill daemon sleeps a fixed 30 s between iterations
(`dagster._daemon.backfill.execute_backfill_iteration_loop`, no setting): a backfill submitted
just after an iteration waits ~30 s before its first run is created, and a backfill's rollups
wait up to 30 s after the chunk runs they depend on. Dagster's loop is kept as it is; only its
wait changes: the shutdown event it sleeps on also wakes when a backfill is requested or a run
of an in-progress backfill ends, checked every `WANPERF_BACKFILL_WAKE_SECONDS`. Between those
events the loop keeps Dagster's 30 s, so a large backfill is not evaluated more often for nothing.

It also keeps the daemon's memory down where glibc allows: two malloc arenas, and what an
iteration freed returned to the system before the next wait.

This relies on private names of the pinned Dagster (the controller's `BackfillDaemon`, the event
its loop waits on, the backfill filters; docs/architecture.md lists them); `test_daemon.py` fails
if they stop being what this relies on, and a Dagster without them gets its own daemon, said once
in the log (`patch_available`).
"""

from __future__ import annotations

import ctypes
import datetime as dt
import functools
import math
import os
import shutil
import sys
import threading
import time
from collections.abc import Sequence

import dagster as dg

from wanperf_dagster.settings import patch_unavailable, set_default_env

try:  # the private names the wake relies on; without them, Dagster's own daemon runs
    from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus
    from dagster._core.storage.tags import BACKFILL_ID_TAG
    from dagster._daemon.daemon import BackfillDaemon

    _MISSING = ""
except ImportError as exc:  # pragma: no cover - another Dagster
    BackfillDaemon = object  # type: ignore[assignment,misc]
    _MISSING = str(exc)

# runs that ended since the last look; more than this in two seconds and the 30 s applies
_RUNS_LOOKED_AT = 100
_FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class BackfillWake:
    """The backfill loop's shutdown event, whose timed wait also ends when backfill work appears.

    `wait` returns True only on shutdown, as `threading.Event.wait` does; an early wake returns
    False, and Dagster's loop runs its next iteration at once. Work is looked for since the
    previous wake, so a backfill added while an iteration ran is not missed (at worst it causes
    one extra iteration).
    """

    def __init__(
        self, shutdown: threading.Event, instance: dg.DagsterInstance, poll_seconds: float
    ):
        self._shutdown = shutdown
        self._instance = instance
        self._poll = poll_seconds
        self._since = _now()
        self.early_wakes = 0

    def is_set(self) -> bool:
        return self._shutdown.is_set()

    def set(self) -> None:
        self._shutdown.set()

    def wait(self, timeout: float | None = None) -> bool:
        since = self._since
        deadline = time.monotonic() + (math.inf if timeout is None else timeout)
        return_freed_memory()  # between iterations, the daemon's memory is mostly garbage
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return self._shutdown.is_set()
                if self._shutdown.wait(min(self._poll, remaining)):
                    return True
                if self.work_since(since):
                    self.early_wakes += 1
                    return False
        finally:
            # the next wait looks from here: this wake's iteration is about to start
            self._since = _now()

    def work_since(self, since: dt.datetime) -> bool:
        """A backfill requested, or a run of a backfill ended, after `since` (two small queries)."""
        new = BulkActionsFilter(statuses=[BulkActionStatus.REQUESTED], created_after=since)
        if self._instance.get_backfills_count(filters=new):
            return True
        ended = self._instance.get_run_records(
            dg.RunsFilter(statuses=_FINISHED, updated_after=since), limit=_RUNS_LOOKED_AT
        )
        return any(BACKFILL_ID_TAG in r.dagster_run.tags for r in ended)


def early_backfill_daemon(poll_seconds: float) -> type[BackfillDaemon]:
    """Dagster's backfill daemon, its loop's wait a `BackfillWake`."""

    class EarlyBackfillDaemon(BackfillDaemon):
        wake: BackfillWake | None = None

        def core_loop(self, workspace_process_context, shutdown_event):
            instance = workspace_process_context.instance
            self.wake = BackfillWake(shutdown_event, instance, poll_seconds)
            yield from super().core_loop(workspace_process_context, self.wake)

    return EarlyBackfillDaemon


def patch_available() -> str:
    """ "" when this Dagster has what the wake patches, else what it lacks."""
    if _MISSING:
        return _MISSING
    try:
        import dagster._daemon.controller as controller
    except ImportError as exc:  # pragma: no cover - another Dagster
        return str(exc)
    if getattr(controller, "BackfillDaemon", None) is None:
        return "dagster._daemon.controller has no BackfillDaemon"
    if "core_loop" not in vars(BackfillDaemon) and not hasattr(BackfillDaemon, "core_loop"):
        return "BackfillDaemon has no core_loop"
    return ""


def install(poll_seconds: float) -> bool:
    """Make `dagster-daemon run`, in this process, start backfills early (0: Dagster's loop);
    whether it did (a Dagster without what it patches keeps its own, said once in the log)."""
    if poll_seconds <= 0:
        return False
    missing = patch_available()
    if missing:
        patch_unavailable("backfill_wake", missing)
        return False
    import dagster._daemon.controller as controller

    controller.BackfillDaemon = early_backfill_daemon(poll_seconds)  # type: ignore[misc]
    return True


@functools.cache
def _libc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc: nothing to tune
        return None


_M_ARENA_MAX = -8  # glibc's mallopt parameter


def return_freed_memory() -> None:
    """Give the pages the last backfill iteration freed back to the system (glibc)."""
    if (libc := _libc()) is not None:
        libc.malloc_trim(0)


def run(argv: Sequence[str], poll_seconds: float, check_by_dimension: bool = False) -> None:
    """`dagster-daemon run ARGV`: Dagster's own command, as it ships, unless a patch of the daemon
    is on and this Dagster has what it patches: `poll_seconds` (the `backfill_wake` patch,
    `install(poll_seconds)`) or `check_by_dimension` (`backfill_check`); then in this process.

    The daemon's threads (one per daemon, the backfill's worker threads) would each get a glibc
    malloc arena of their own, and each arena keeps the peak of whatever thread last used it; two
    arenas are plenty for a process that mostly waits (`MALLOC_ARENA_MAX`, glibc's own setting,
    for Dagster's daemon as well).
    """
    from wanperf_dagster.instance import backfill_check

    woken = poll_seconds > 0 and install(poll_seconds)
    checked = check_by_dimension and backfill_check.install()
    if woken or checked:
        from dagster._daemon.cli import create_dagster_daemon_cli

        if (libc := _libc()) is not None:
            libc.mallopt(_M_ARENA_MAX, 2)
        create_dagster_daemon_cli().main(args=["run", *argv], prog_name="wanperf daemon")
        return
    stock = shutil.which("dagster-daemon", path=os.path.dirname(sys.executable)) or "dagster-daemon"
    set_default_env("MALLOC_ARENA_MAX", "2")
    sys.stdout.flush()
    os.execv(stock, [stock, "run", *argv])
