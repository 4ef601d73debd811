"""A simulated org's day saved through the storage API, as the assets save it."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pyarrow as pa
import pytest
import requests

from wanperf_dagster import kpi
from wanperf_dagster.feeds.paths.kpis import vpn_path_kpis
from wanperf_dagster.feeds.sle.kpis import site_sle_daily
from wanperf_dagster.settings import get_settings
from wanperf_dagster.simulator import World, build_org
from wanperf_dagster.simulator.samples import world_samples
from wanperf_dagster.storage import AssetStore, site_day_key, site_key
from wanperf_dagster_tests.processes import stop

DAY0 = 1_764_115_200  # 2025-11-26
DAY = "2025-11-26"
TODAY = dt.date(2025, 11, 26)


def _table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _save_day(redis_client, sites, samples, daily, hourly):
    """The inventory and the day's snapshots and circuit KPIs, by site-day, as the assets save
    them; the store, each site's partition key, and the by-site-day split for the rest."""
    assets = AssetStore.from_settings(get_settings(), client=redis_client)
    assets.save("mist_sites", {None: _table(sites)}, None)
    keys_of = {s: site_key(n, s) for s, n in zip(sites["site_id"], sites["name"], strict=True)}
    assets.register_site_keys(list(keys_of.values()))

    def by_site(frame):
        return {
            site_day_key(DAY, keys_of[str(s)]): _table(rows)
            for s, rows in frame.groupby("site_id", observed=True)
        }

    for asset, frame in (
        ("site_snapshots", samples),
        ("circuit_kpis", daily),
        ("circuit_kpis_hourly", hourly),
    ):
        assets.save(asset, by_site(frame), 3600, keep_history=True)
    return assets, keys_of, by_site


@pytest.fixture
def org_day(redis_client):
    """Eight sites' day: samples, KPIs and rollups saved through the storage API."""
    world = World(build_org(seed=11, n_sites=8))
    sites = pd.DataFrame(
        {
            "site_id": [s.id for s in world.org.sites],
            "name": [s.name for s in world.org.sites],
            "region": [f"R{k % 2}" for k in range(len(world.org.sites))],
        }
    )
    config = kpi.KpiConfig.for_sites(sites)
    samples = world_samples(world, DAY0, 144)
    hourly, daily = kpi.circuit_kpis(samples, 10, config)
    # the day's port events, as the kpis group applies them: exact down time to the second
    wan = world.org.wan_port_indices()
    events = world.port_events(wan, DAY0, DAY0 + 86400)
    events = pd.DataFrame(
        {
            "ts": pd.to_datetime(events["ts"], unit="s", utc=True),
            "circuit_id": [world.org.circuit_id(p) for p in events["port"]],
            "event": events["event"],
        }
    )
    daily, hourly, _ = kpi.apply_port_events(
        daily, hourly, events, [(DAY0, DAY0 + 86400)], now=DAY0 + 2 * 86400, samples=samples
    )
    assets, keys_of, by_site = _save_day(redis_client, sites, samples, daily, hourly)
    # the WAN insight assets, from the same world: an hour of each site's SLE, a path per slot
    site_index = {s.id: k for k, s in enumerate(world.org.sites)}
    sle_hours = pd.concat(
        [
            world.site_sle(
                list(site_index.values()), DAY0 + h * 3600, DAY0 + (h + 1) * 3600
            ).assign(hour=pd.Timestamp(DAY0 + h * 3600, unit="s", tz="UTC"))
            for h in range(24)
        ]
    )
    sle_hours["site_id"] = [world.org.sites[k].id for k in sle_hours["site"]]
    assets.save("site_sle", by_site(site_sle_daily(sle_hours, config)), 3600)
    paths = world.vpn_paths()
    slots = DAY0 + 600 * pd.RangeIndex(144).to_numpy()
    rows = []
    for port, hub in paths.tolist():
        state = world.path_state([[port, hub]] * 144, slots)
        cid = world.org.circuit_id(port)
        rows.append(
            pd.DataFrame(
                {
                    "ts": pd.to_datetime(slots, unit="s", utc=True),
                    "site_id": world.org.sites[world.org.arrays["site"][port]].id,
                    "path_id": f"{cid}>{world.org.circuit_id(hub)}",
                    "circuit_id": cid,
                    "peer_site_id": world.org.sites[0].id,
                    "type": "ipsec",
                    "up": state["up"],
                    "latency_ms": state["latency"],
                    "jitter_ms": state["jitter"],
                    "loss_pct": state["loss"],
                    "mos": state["mos"],
                }
            )
        )
    assets.save("vpn_path_kpis", by_site(vpn_path_kpis(pd.concat(rows), 10, config)), 3600)
    assets.save("region_kpis", {DAY: _table(kpi.region_daily_kpis(daily, config))}, 3600)
    worst, _ = kpi.offender_rows(daily, ["availability_pct", "util_p95_pct"], 5)
    assets.save("top_offenders", {DAY: _table(worst)}, 3600)
    status = kpi.window_kpis(samples, 10, config=config)
    assets.save("wan_status_now", {None: _table(status)}, 3600)
    return assets, sites, daily, keys_of


PROJECT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def serve_dashboard(redis_url: str, port: int | None = None, **env_extra: str):
    """`wanperf dashboard` in a process of its own; its base URL while it runs."""
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MIST_")},
        "WANPERF_REDIS_URL": redis_url,
        "WANPERF_DASHBOARD_PORT": str(port),
        **env_extra,
    }
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "wanperf"), "dashboard"],
        env=env,
        cwd=PROJECT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, "wanperf dashboard exited"
            assert time.monotonic() < deadline, "wanperf dashboard did not answer within 60 s"
            time.sleep(0.2)
        yield base
    finally:
        stop(proc)


@pytest.fixture
def dashboard_server(org_day, redis_url):
    """`wanperf dashboard` in a process of its own over the org's day; its base URL."""
    with serve_dashboard(redis_url) as base:
        yield base


@pytest.fixture
def sla_month(org_day):
    """November 2025's SLA report of the org's day, saved as `sla_month` saves it: the worst
    circuit against a 100 % contract of "<b>Lumen</b>" (missed, still down at the end), the best
    against Verizon's, a Verizon contract without data, the rest without a contract."""
    from wanperf_dagster import sla

    assets, _, daily, _ = org_day
    worst = daily.sort_values("availability_pct").iloc[0]
    other = daily.sort_values("availability_pct").iloc[-1]
    contracts = pd.DataFrame(
        [
            (worst["circuit_id"], "<b>Lumen</b>", "LX-1", 1000.0, 100.0, 5.0, 50.0),
            (other["circuit_id"], "Verizon", None, 500.0, 0.0, 0.0, None),
            ("ff:no-data", "Verizon", None, 100.0, 99.9, 0.0, None),
        ],
        columns=sla.CONTRACT_COLUMNS[:7],  # no quality targets
    )
    start = dt.datetime(2025, 11, 1, tzinfo=dt.UTC).timestamp()
    events = pd.DataFrame(
        {
            "ts": [pd.Timestamp("2025-11-26 03:00:00", tz="UTC")],
            "circuit_id": [worst["circuit_id"]],
            "mac": [None],
            "event": ["down"],
        }
    )
    none = pd.DataFrame(columns=["circuit_id", "start", "end"])
    report, outages = sla.circuit_sla(daily, events, contracts, none, start, DAY0 + 86400)
    outages = outages.assign(
        start=pd.to_datetime(outages["start"], unit="s", utc=True),
        end=pd.to_datetime(outages["end"], unit="s", utc=True),
    )
    for asset, frame in (("sla_report", report), ("sla_outages", outages)):
        assets.save(asset, {"2025-11-01": pa.Table.from_pandas(frame, preserve_index=False)}, 3600)
    return report, worst


MSP_PASSWORD = "correct horse battery staple"


@pytest.fixture
def msp_day(redis_client):
    """Two orgs' day (A: six sites, B: four) saved as the assets save them, org a column where
    the assets have it: inventory, samples, KPIs, rollups per org, status, open alerts (one per
    org, told) and the month's SLA report with a circuit of each."""
    from wanperf_dagster import alerts, sla
    from wanperf_dagster.defs.status.assets import incidents_frame

    worlds = {"A": World(build_org(seed=11, n_sites=6)), "B": World(build_org(seed=12, n_sites=4))}
    sites = pd.concat(
        [
            pd.DataFrame(
                {
                    "org_id": w.org.id,
                    "org_name": f"Org {name}",
                    "site_id": [s.id for s in w.org.sites],
                    "name": [f"{name}-{s.name}" for s in w.org.sites],
                    "region": [f"R{k % 2}" for k in range(len(w.org.sites))],
                }
            )
            for name, w in worlds.items()
        ],
        ignore_index=True,
    )
    config = kpi.KpiConfig.for_sites(sites)
    samples = pd.concat([world_samples(w, DAY0, 144) for w in worlds.values()], ignore_index=True)
    hourly, daily = kpi.circuit_kpis(samples, 10, config)
    assets, _, _ = _save_day(redis_client, sites, samples, daily, hourly)
    tagged = kpi.with_orgs(daily, sites)
    assets.save("region_kpis", {DAY: _table(kpi.region_daily_kpis(tagged, config))}, 3600)
    assets.save("org_kpis", {DAY: _table(kpi.org_daily_kpis(tagged, config))}, 3600)
    worst, _ = kpi.org_offender_rows(tagged, ["availability_pct", "util_p95_pct"], 5)
    assets.save("top_offenders", {DAY: _table(worst)}, 3600)
    org_of = dict(zip(sites["site_id"], sites["org_id"], strict=True))
    status = kpi.window_kpis(samples, 10, config=config)
    status.insert(0, "org_id", status["site_id"].astype(str).map(org_of))
    assets.save("wan_status_now", {None: _table(status)}, 3600)
    frames, incidents = [], {}
    hook = alerts.destinations(("http://receiver.invalid/hook",), ())
    for name, w in worlds.items():
        site, circuit = w.org.sites[0], w.org.circuit_id(int(w.org.wan_port_indices()[0]))
        down = alerts.Incident(
            "down", site.id, f"{name}-{site.name}", circuit, DAY0, 10.0, f"{name} down 10 min"
        )
        alerts.dispatch(assets, w.org.id, [down], hook, DAY0, sender=lambda *a, **k: None)
        frame = incidents_frame([down], [], [], acks={})
        frame.insert(0, "org_id", w.org.id)
        frames.append(frame)
        incidents[name] = down
    assets.save("wan_alerts", {None: _table(pd.concat(frames, ignore_index=True))}, 3600)
    picked = [
        daily[daily["site_id"].astype(str).map(org_of) == w.org.id].iloc[0] for w in worlds.values()
    ]
    contracts = pd.DataFrame(
        [(p["circuit_id"], "Verizon", None, 100.0, 99.9, 0.0, None) for p in picked],
        columns=sla.CONTRACT_COLUMNS[:7],
    )
    start = dt.datetime(2025, 11, 1, tzinfo=dt.UTC).timestamp()
    events = pd.DataFrame(columns=["ts", "circuit_id", "mac", "event"])
    none = pd.DataFrame(columns=["circuit_id", "start", "end"])
    report, outages = sla.circuit_sla(daily, events, contracts, none, start, DAY0 + 86400)
    outages = outages.assign(
        start=pd.to_datetime(outages["start"], unit="s", utc=True),
        end=pd.to_datetime(outages["end"], unit="s", utc=True),
    )
    for asset, frame in (("sla_report", report), ("sla_outages", outages)):
        assets.save(asset, {"2025-11-01": _table(frame)}, 3600)
    return SimpleNamespace(
        assets=assets, sites=sites, daily=daily, worlds=worlds, incidents=incidents, report=report
    )


@pytest.fixture
def users_file(tmp_path, msp_day):
    """An MSP admin, a viewer of org A and a proxy-only viewer of org B."""
    from wanperf_dagster.dashboard.access import User, Users, hash_password

    hashed = hash_password(MSP_PASSWORD)
    a, b = (msp_day.worlds[n].org.id for n in "AB")
    path = tmp_path / "users.toml"
    Users(
        {
            "root": User("root", "admin", frozenset(), hashed),
            "anna": User("anna", "viewer", frozenset({a}), hashed),
            "bert": User("bert", "viewer", frozenset({b})),
        }
    ).save(path)
    return path
