"""One chunk run in process: a day of 500 site-days through the kpis group (site_snapshots,
circuit_kpis, the insight assets) and their checks, as a backfill's chunk run executes it, on
this tree and, with `--ref REV`, on that git revision side by side (the same seeded Redis,
interleaved runs, median of 3 each). What changed a chunk run's cost, without the backfill
daemon's 30-s loop and the run queue around it (`bench backfill` measures those).

The runs have every Dagster patch on (`WANPERF_DAGSTER_PATCHES=all`), as `wanperf daemon`'s
chunk runs have them in `bench backfill`: with stock Dagster, a 500 site-day run spends most of
its time in Dagster's per-partition metadata call (docs/operations.md), which hides our own
costs. `--patches none` measures the stock path.

`--stock-too` adds this tree on stock Dagster to the same interleaved runs (and, with `--ref`,
that revision on stock Dagster too): what the patches buy a chunk run, side by side.

`--planned-per-run` adds, beside each of those on this tree, the same run with Dagster's own opt-in
`DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=1` (one planned event per asset and run, not one
per asset and partition; Dagster's UI then no longer marks a failed run's partitions as failed):
what that flag buys (docs/operations.md).

`--org-sites N` gives the instance N site partitions, the chunk's and the rest of a larger org's:
what Dagster's enumeration of the site partitions costs a chunk run at that size.

`python -m bench chunk [--ref a769cb8] [--sites 500] [--org-sites 20000] [--repeat 3]
[--patches all] [--stock-too] [--planned-per-run]`
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._common import bench_redis, row

PROJECT = Path(__file__).resolve().parent.parent
YESTERDAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
DAY0 = int(dt.datetime.combine(YESTERDAY, dt.time(), dt.UTC).timestamp())

# the chunk run, in a fresh process of the tree on PYTHONPATH: prints its seconds
_RUN = """
import sys, time, warnings
warnings.filterwarnings("ignore")
import dagster as dg
from wanperf_dagster import store
from wanperf_dagster.storage import AssetStore
from wanperf_dagster.definitions import defs
from wanperf_dagster.settings import get_settings
from harness.backfills import automated_assets
from harness.instance_config import project_instance_overrides

settings = get_settings()
r = store.connect(settings.redis_url)
definitions = defs()
site_assets, _ = automated_assets()
with dg.instance_for_test(overrides=project_instance_overrides()) as instance:
    assert dg.materialize(list(definitions.assets), selection=["mist_sites"],
                          resources=definitions.resources, instance=instance).success
    keys = sorted(AssetStore(r).site_ids())
    # the rest of a larger org: site partitions beyond the chunk's range, as Dagster lists them
    others = [f"zz-org-{i:06d}" for i in range(int(sys.argv[2]) - len(keys))]
    instance.add_dynamic_partitions("site", keys + others)
    day = sys.argv[1]
    tags = {"dagster/asset_partition_range_" + end: dg.MultiPartitionKey({"day": day, "site": k})
            for end, k in (("start", keys[0]), ("end", keys[-1]))}
    t0 = time.perf_counter()
    # the assets and their checks, as a backfill's chunk run holds them
    result = dg.materialize(list(definitions.assets) + list(definitions.asset_checks or []),
                            selection=dg.AssetSelection.assets(*site_assets),
                            resources=definitions.resources, instance=instance, tags=tags)
    assert result.success
    print("SECONDS", round(time.perf_counter() - t0, 3), len(keys))
"""


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench chunk")
    parser.add_argument("--ref", help="a git revision to run beside this tree")
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--org-sites",
        type=int,
        default=0,
        help="site partitions the instance holds (default: the chunk's own sites): a chunk of a"
        " larger org, whose other sites are only partitions (Dagster reads them all)",
    )
    parser.add_argument(
        "--patches",
        default="all",
        help="WANPERF_DAGSTER_PATCHES for the chunk runs (default all, as bench backfill's"
        " daemon; none: stock Dagster)",
    )
    parser.add_argument(
        "--stock-too", action="store_true", help="also run this tree on stock Dagster, interleaved"
    )
    parser.add_argument(
        "--planned-per-run",
        action="store_true",
        help="also run this tree's variants with DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=1",
    )
    return parser.parse_args(argv)


PLANNED_PER_RUN = {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1"}


def _seed(url: str, sites: int) -> float:
    """A day of 10-minute sweeps and insight ingestions of the simulated org."""
    from wanperf_dagster import store
    from wanperf_dagster.feeds import InsightsConfig, run_insights
    from wanperf_dagster.mist import SweepConfig, run_sweep
    from wanperf_dagster.sources import in_process_simulator, simulator_client

    sim = in_process_simulator(sites, 1).sim
    client = simulator_client(sites, 1)
    r = store.connect(url)
    feeds = InsightsConfig(interval_seconds=600, sle_backfill_hours=1, events_lookback_seconds=60)
    t0 = time.perf_counter()
    for k in range(146):  # the next day's first two ingestions complete the day's feeds
        sim.clock.set(DAY0 + k * 600 + 30)
        if k < 144:
            run_sweep(client, r, SweepConfig())
        run_insights(client, r, feeds)
    sim.clock.set(None)
    return time.perf_counter() - t0


def _chunk_seconds(tree: Path, env: dict, org_sites: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _RUN, YESTERDAY.isoformat(), str(org_sites)],
        cwd=tree,
        env={**env, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    lines = [x for x in out.stdout.splitlines() if x.startswith("SECONDS ")]
    if out.returncode or not lines:
        raise SystemExit(f"the chunk run in {tree} failed:\n{out.stderr[-3000:]}")
    return float(lines[-1].split()[1])


def main(argv: list[str] | None = None) -> None:
    opts = _options(argv or [])
    with bench_redis() as (url, _), tempfile.TemporaryDirectory(prefix="wanperf-chunk-") as tmp:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MIST_", "DAGSTER_"))},
            "WANPERF_REDIS_URL": url,
            "WANPERF_SIM_SITES": str(opts.sites),
            "WANPERF_SIM_SEED": "1",
            "WANPERF_START_DATE": (YESTERDAY - dt.timedelta(days=28)).isoformat(),
            "WANPERF_DAGSTER_PATCHES": opts.patches,
        }
        env.pop("WANPERF_DAGSTER_PG_URL", None)
        os.environ.update({k: env[k] for k in ("WANPERF_SIM_SITES", "WANPERF_SIM_SEED")})
        seeded = _seed(url, opts.sites)
        trees = {"this tree": PROJECT}
        patches = {"this tree": opts.patches}
        extra_env: dict[str, dict] = {}
        if opts.stock_too:
            trees["stock"], patches["stock"] = PROJECT, "none"
        if opts.planned_per_run:
            for name in list(trees):
                variant = f"{name.replace('this tree', 'this')}, 1/run"
                trees[variant], patches[variant] = trees[name], patches[name]
                extra_env[variant] = PLANNED_PER_RUN
        if opts.ref:
            ref_tree = Path(tmp) / "ref"
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(ref_tree), opts.ref],
                cwd=PROJECT,
                check=True,
                capture_output=True,
            )
            trees[opts.ref], patches[opts.ref] = ref_tree, opts.patches
            if opts.stock_too:
                trees[f"{opts.ref} stock"], patches[f"{opts.ref} stock"] = ref_tree, "none"
        times: dict[str, list[float]] = {name: [] for name in trees}
        try:
            for _ in range(opts.repeat):
                for name, tree in trees.items():
                    home = Path(tmp) / f"data-{len(times[name])}-{name.replace(' ', '-')}"
                    run_env = {
                        **env,
                        "WANPERF_DATA_DIR": str(home),
                        "WANPERF_DAGSTER_PATCHES": patches[name],
                        **extra_env.get(name, {}),
                    }
                    times[name].append(
                        _chunk_seconds(tree, run_env, max(opts.org_sites, opts.sites))
                    )
        finally:
            if opts.ref:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(ref_tree)],
                    cwd=PROJECT,
                    capture_output=True,
                )
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(
        f"\n== one chunk run in process: 1 day x {opts.sites} sites through the kpis group"
        f" (seeded in {seeded:.0f} s) of {max(opts.org_sites, opts.sites):,} site partitions,"
        f" WANPERF_DAGSTER_PATCHES={opts.patches},"
        f" median of {opts.repeat} =="
    )
    names = list(trees)
    row("", *names)
    row("seconds", *(f"{medians[n]:.2f}" for n in names))
    for k in range(opts.repeat):
        row(f"  run {k + 1}", *(f"{times[n][k]:.2f}" for n in names))
    for n in names[1:]:  # each beside this tree: the ratio of its median to this tree's
        row(f"{n} / this tree", f"{medians[n] / medians[names[0]]:.2f}x")
    if opts.planned_per_run:
        print("  (1/run: DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=1)")


if __name__ == "__main__":
    main(sys.argv[1:])
