"""`wanperf daemon`: a deployment's Dagster daemon."""

from __future__ import annotations

import argparse

from wanperf_dagster.settings import get_settings

from .common import RAW, use_project_dagster_home

WORKSPACE_OPTIONS = {"-w", "--workspace", "-m", "--module-name", "-f", "--python-file"}


def add_parser(sub) -> None:
    dmn = sub.add_parser(
        "daemon",
        help="the Dagster daemon of a deployment (schedules, sensors, the run queue, backfills)",
        description="Run `dagster-daemon run` for this code location: Dagster's own daemon as it"
        " ships. With WANPERF_DAGSTER_PATCHES=backfill_wake, its backfill daemon looks for a"
        " newly requested backfill, or a finished run of one, every WANPERF_BACKFILL_WAKE_SECONDS"
        " (default 2) instead of waiting out Dagster's fixed 30-s loop; with backfill_check, it"
        " checks that a backfill's day x site partitions still exist dimension by dimension, not by"
        " listing every one. Options after `--` go to"
        " `dagster-daemon run`; without a workspace option the code location is"
        " wanperf_dagster.definitions. DAGSTER_HOME defaults to the project's instance.",
        epilog="examples:\n  wanperf daemon\n  wanperf daemon -- -w workspace.yaml --log-level debug\n"
        "  WANPERF_DAGSTER_PATCHES=backfill_wake wanperf daemon",
        formatter_class=RAW,
    )
    dmn.add_argument(
        "dagster_args", nargs=argparse.REMAINDER, help="options for dagster-daemon run"
    )
    dmn.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wanperf_dagster.instance import daemon

    settings = get_settings()
    passed = list(args.dagster_args)
    if passed[:1] == ["--"]:
        passed = passed[1:]
    wake = settings.backfill_wake_seconds if settings.patched("backfill_wake") else 0
    helping = bool({"-h", "--help"} & set(passed))
    if not helping:  # help writes nothing, not even the instance's config
        use_project_dagster_home(settings)
        if not WORKSPACE_OPTIONS & set(passed):
            passed += ["-m", "wanperf_dagster.definitions"]
    print(
        "wanperf daemon: "
        + (
            f"looks for new backfills and their finished runs every {wake:g} s"
            " (WANPERF_DAGSTER_PATCHES=backfill_wake, WANPERF_BACKFILL_WAKE_SECONDS)"
            if wake
            else "Dagster's own daemon (its backfill loop every 30 s)"
        )
        + (
            "; a backfill's day x site partitions checked by dimension (backfill_check)"
            if settings.patched("backfill_check")
            else ""
        ),
        flush=True,
    )
    daemon.run(passed, wake, settings.patched("backfill_check"))
    return 0
