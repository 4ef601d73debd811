"""Dashboard: how long the NOC dashboard's pages take over real HTTP for a 2,000-site org, with a
day of every site's samples, KPIs and rollups stored through the storage API (as the assets
store them). Median of 7 requests per page; the goal is a site page under 1 s.

`python -m bench dashboard` (env WANPERF_BENCH_DASHBOARD_SITES, default 2000)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import statistics
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import requests

from wanperf_dagster import kpi
from wanperf_dagster.settings import get_settings
from wanperf_dagster.simulator import World, build_org
from wanperf_dagster.simulator.samples import world_samples
from wanperf_dagster.storage import AssetStore, site_day_key, site_key
from wanperf_dagster.store import connect
from wanperf_dagster.store.partitioning import split_by_partition

from ._common import bench_redis, row

SITES = int(os.environ.get("WANPERF_BENCH_DASHBOARD_SITES", "2000"))
DAY0 = 1_764_115_200  # 2025-11-26
DAY = "2025-11-26"
REPEAT = 7


def _save_site_days(assets: AssetStore, asset: str, frame: pd.DataFrame, keys_of: dict) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    column = "ts" if "ts" in frame.columns else ("hour" if "hour" in frame.columns else "day")
    parts = split_by_partition(table, [column, "site_id"])
    assets.save(
        asset,
        {site_day_key(DAY, keys_of[k.split("|")[1]]): t for k, t in parts.items()},
        3600,
    )


def _timed(url: str, **params) -> tuple[float, int, float]:
    """(median seconds, bytes, the first request's seconds: nothing cached on the server)."""
    times, size = [], 0
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        response = requests.get(url, params=params, timeout=60)
        times.append(time.perf_counter() - t0)
        response.raise_for_status()
        size = len(response.content)
    return statistics.median(times), size, times[0]


def main() -> None:
    import uvicorn

    from wanperf_dagster.dashboard import build_app

    t0 = time.perf_counter()
    world = World(build_org(seed=1, n_sites=SITES))
    sites = pd.DataFrame(
        {
            "site_id": [s.id for s in world.org.sites],
            "name": [s.name for s in world.org.sites],
            "region": [f"REGION-{k % 6}" for k in range(SITES)],
        }
    )
    config = kpi.KpiConfig.for_sites(sites)
    samples = world_samples(world, DAY0, 144)
    hourly, daily = kpi.circuit_kpis(samples, 10, config)
    print(
        f"{SITES} sites, {daily['circuit_id'].nunique():,} circuits, {len(samples):,} samples"
        f" (built in {time.perf_counter() - t0:.0f} s)"
    )
    with bench_redis() as (url, _):
        assets = AssetStore(connect(url))
        keys_of = {s: site_key(n, s) for s, n in zip(sites["site_id"], sites["name"], strict=True)}
        assets.save("mist_sites", {None: pa.Table.from_pandas(sites)}, None)
        assets.register_site_keys(list(keys_of.values()))
        _save_site_days(assets, "site_snapshots", samples, keys_of)
        _save_site_days(assets, "circuit_kpis", daily, keys_of)
        _save_site_days(assets, "circuit_kpis_hourly", hourly, keys_of)
        assets.save(
            "region_kpis", {DAY: pa.Table.from_pandas(kpi.region_daily_kpis(daily, config))}, 3600
        )
        worst, _ = kpi.offender_rows(daily, ["availability_pct", "util_p95_pct", "flaps"], 10)
        assets.save("top_offenders", {DAY: pa.Table.from_pandas(worst)}, 3600)
        status = kpi.window_kpis(samples, 10, config=config)
        assets.save("wan_status_now", {None: pa.Table.from_pandas(status)}, 3600)

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        app = build_app(get_settings(), assets, today=lambda: dt.date(2025, 11, 26))
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        site = sites.iloc[SITES // 2]
        print(f"median of {REPEAT} requests over HTTP (uvicorn, one process):")
        row("page", "seconds", "bytes")
        for label, path, params in (
            ("overview (today)", "/", {}),
            ("search by name", "/search", {"q": site["name"][:6]}),
            ("site page, 1 day of samples", f"/site/{site['site_id']}", {}),
            (
                "site page, 7 days (samples; 6 days empty)",
                f"/site/{site['site_id']}",
                {"from": "2025-11-20", "to": DAY},
            ),
            (
                "site page, 30 days (hourly KPIs)",
                f"/site/{site['site_id']}",
                {"from": "2025-10-28", "to": DAY},
            ),
        ):
            seconds, size, first = _timed(base + path, **params)
            row(label, f"{seconds:.3f}", f"{size:,}")
            if path == "/":  # the day's worst sites are read and summed once a minute
                row("  its first request (nothing cached on the server)", f"{first:.3f}")
        _in_chromium(
            base,
            (
                ("overview (today)", "/"),
                ("site page, 1 day of samples", f"/site/{site['site_id']}"),
            ),
        )
        server.should_exit = True
        thread.join(timeout=10)


def _in_chromium(base: str, pages) -> None:
    """Each page loaded in headless Chromium, every asset included (the load event), median of
    REPEAT: in a fresh browser context each time (nothing cached: a first visit), and reloaded
    in one (plotly.js cached). Goal: the overview usable within 1 s."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        print("(no Chromium: the in-browser load times are skipped; apt-get install chromium)")
        return
    from playwright.sync_api import sync_playwright

    print(f"in headless Chromium, to the load event, every asset included (median of {REPEAT}):")
    row("page", "first visit s", "cached s")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for label, path in pages:
            cold, warm = [], []
            for _ in range(REPEAT):
                context = browser.new_context()
                page = context.new_page()
                page.goto(base + path, wait_until="load")
                cold.append(_load_seconds(page))
                page.reload(wait_until="load")
                warm.append(_load_seconds(page))
                context.close()
            row(label, f"{statistics.median(cold):.3f}", f"{statistics.median(warm):.3f}")
        browser.close()


def _load_seconds(page) -> float:
    return page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventEnd") / 1000


if __name__ == "__main__":
    main()
