"""Status: `wan_status_now`'s read and windows at the end of a day, reading only the slots its
24-h window needs against both whole days (today's samples as the sweep stores them, yesterday's
compacted as the nightly job leaves them). Median of 3 each, interleaved.

`python -m bench status` (env WANPERF_BENCH_STATUS_SITES, default 500)."""

from __future__ import annotations

import os
import statistics
import time

import pandas as pd

from wanperf_dagster.defs.status.assets import sliced_window_kpis
from wanperf_dagster.simulator import World, build_org
from wanperf_dagster.simulator.samples import world_samples
from wanperf_dagster.storage import AssetStore
from wanperf_dagster.store import connect
from wanperf_dagster.store import samples as sample_store

from ._common import bench_redis, peak_rss_mib, row, store_samples

SITES = int(os.environ.get("WANPERF_BENCH_STATUS_SITES", "500"))
DAY0 = 1764115200  # 2025-11-26 00:00 UTC: yesterday; today is the 27th
NOW = DAY0 + 2 * 86400 - 300  # 23:55 today: today's 143 slots swept
STEP = 600


def main() -> None:
    t0 = time.perf_counter()
    world = World(build_org(seed=1, n_sites=SITES))
    with bench_redis() as (url, _):
        client = connect(url)
        for day in (DAY0, DAY0 + 86400):
            frame = world_samples(world, day, 144 if day == DAY0 else 143)
            frame["ts"] = (frame["ts"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1s")
            store_samples(client, frame)
        sites = [s.id for s in world.org.sites]
        sample_store.compact_site_days(client, [("2025-11-26", s) for s in sites])
        print(f"{SITES} sites, two days stored in {time.perf_counter() - t0:.0f} s")
        assets = AssetStore(client)
        days = ["2025-11-26", "2025-11-27"]
        since = (NOW - 86400 - STEP) // STEP * STEP
        times: dict[int | None, list[float]] = {since: [], None: []}
        out = {}
        for _ in range(3):
            for read_from in (since, None):
                start = time.perf_counter()
                out[read_from] = sliced_window_kpis(assets, sites, days, 10, None, read_from)
                times[read_from].append(time.perf_counter() - start)
        key = ["circuit_id", "window_hours"]
        pd.testing.assert_frame_equal(
            out[since].sort_values(key).reset_index(drop=True),
            out[None].sort_values(key).reset_index(drop=True),
            check_categorical=False,
        )
        day_only, both = statistics.median(times[since]), statistics.median(times[None])
        print(f"wan_status_now's windows at 23:55, {len(out[None]):,} rows (the same both ways)")
        row("", "the day's slots", "both whole days", "ratio")
        row("seconds (median of 3)", f"{day_only:.2f}", f"{both:.2f}", f"{both / day_only:.1f}x")
        row("peak RSS of this process (MiB)", f"{peak_rss_mib():.0f}")


if __name__ == "__main__":
    main()
