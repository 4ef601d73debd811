"""The edges real feeds have, in the simulator: windows that meet at an event, gateways that go
offline, an event feed that loses, repeats and reorders, sites and circuits that come and go."""

import numpy as np
import pandas as pd
import pytest
import requests

from wanperf_dagster.simulator import (
    MistSimulator,
    SimulatorConfig,
    SimulatorServer,
    World,
    build_org,
)
from wanperf_dagster.simulator.world import DAY
from wanperf_dagster_tests.mist_schema import validate

pytestmark = pytest.mark.integration

T0 = 1_764_115_200  # 2025-11-26 00:00 UTC
EVENTS = "/api/v1/orgs/{org_id}/devices/events/search"
PORTS = "/api/v1/orgs/{org_id}/stats/ports/search"


def _served(server, path, **params):
    session = requests.Session()
    session.headers["Authorization"] = "Token sim-token"
    url, out = server.url + path, []
    while url:
        r = session.get(url, params=params if url.startswith(server.url + path) else None)
        assert r.status_code == 200, r.text
        body = r.json()
        out.append(body)
        params = None
        nxt = body.get("next") if isinstance(body, dict) else None  # page-style: one page
        url = server.url + nxt if nxt else None
    return out


def test_events_of_adjacent_windows_are_the_events_of_their_union():
    """A window that starts exactly when a port comes back up holds that up (it was dropped:
    `up > start`), so fetching a day in pieces equals fetching it at once, wherever it is cut."""
    world = World(build_org(seed=5, n_sites=60))
    ports = world.org.wan_port_indices()
    whole = world.port_events(ports, T0, T0 + DAY)
    ups = whole.loc[whole["event"] == "up", "ts"].to_numpy()
    assert len(ups) > 10
    rng = np.random.default_rng(1)
    cuts = [*ups[:: max(1, len(ups) // 25)], *rng.integers(T0 + 1, T0 + DAY, 10)]
    for cut in cuts:
        pieces = pd.concat(
            [world.port_events(ports, T0, int(cut)), world.port_events(ports, int(cut), T0 + DAY)],
            ignore_index=True,
        )
        pd.testing.assert_frame_equal(pieces, whole, check_dtype=False)


def _an_offline_episode(world, start, end, minutes=30):
    off = world.offline_episodes(start, end)
    off = off[
        (off["down"] >= start) & (off["up"] < end) & (off["up"] - off["down"] >= minutes * 60)
    ]
    assert len(off), "the seed has no offline gateway in the range"
    return off.iloc[0]


def test_an_offline_gateway_serves_no_stats_says_disconnected_and_sends_no_port_events():
    sim = MistSimulator(SimulatorConfig(sites=60, seed=5, now=T0))
    org, world = sim.org, sim.world
    episode = _an_offline_episode(world, T0, T0 + 3 * DAY)
    gw = org.gateways[int(episode.gateway)]
    wan = [i for i in org.wan_port_indices().tolist() if org.arrays["gw"][i] == episode.gateway]
    middle = int((episode.down + episode.up) // 2)
    with SimulatorServer(sim) as server:
        sim.clock.set(middle)
        served = [
            r
            for p in _served(server, PORTS.format(org_id=org.id), device_type="gateway")
            for r in p["results"]
        ]
        assert served and not [r for r in served if r["mac"] == gw.mac]
        [devices] = _served(
            server, f"/api/v1/orgs/{org.id}/stats/devices", type="gateway", limit=1000
        )
        [device] = [d for d in devices if d["mac"] == gw.mac]
        assert device["status"] == "disconnected"
        assert device["last_seen"] == episode.down
        sim.clock.set(int(episode.up) + 3600)
        pages = _served(
            server,
            EVENTS.format(org_id=org.id),
            start=int(episode.down) - 3600,
            end=int(episode.up) + 1800,
            limit=1000,
        )
    events = [e for p in pages for e in p["results"]]
    for p in pages:
        validate(p, "/api/v1/orgs/{org_id}/devices/events/search")
    mine = [e for e in events if e["mac"] == gw.mac]
    kinds = {e["type"]: e["timestamp"] for e in mine if e["type"].endswith("CONNECTED")}
    assert kinds == {"GW_DISCONNECTED": episode.down, "GW_CONNECTED": episode.up}
    silent = [
        e for e in mine if "PORT" in e["type"] and episode.down <= e["timestamp"] <= episode.up
    ]
    assert silent == []
    # the truth: every WAN port of the gateway down (offline) throughout
    truth = world.truth(np.array(wan), int(episode.down) // 60 * 60 + 60, 10)
    assert (~truth["up"] & truth["offline"]).all()


def test_the_event_feed_loses_repeats_and_reorders_the_same_events_every_time():
    sim = MistSimulator(SimulatorConfig(sites=40, seed=3, now=T0 + DAY))
    with SimulatorServer(sim) as server:

        def day():
            pages = _served(
                server, EVENTS.format(org_id=sim.org.id), start=T0, end=T0 + DAY, limit=300
            )
            return [e for p in pages for e in p["results"]]

        clean = day()
        sim.faults.update(event_loss_rate=0.2, event_repeat_rate=0.1, event_disorder=1)
        first, again = day(), day()

    def key(e):
        return (e["timestamp"], e["mac"], e["type"], e["text"])

    assert [key(e) for e in first] == [key(e) for e in again]  # the same fate each time
    assert [e["timestamp"] for e in first] != sorted(e["timestamp"] for e in first)
    unique = {key(e) for e in first}
    assert unique < {key(e) for e in clean}
    lost = 1 - len(unique) / len(clean)
    assert 0.1 < lost < 0.3, lost
    repeated = len(first) - len(unique)
    assert 0.03 * len(clean) < repeated < 0.2 * len(clean), repeated


def test_sites_and_circuits_come_and_go_within_their_lifetimes():
    sim = MistSimulator(SimulatorConfig(sites=60, seed=5, now=T0, churn=(T0, T0 + 3 * DAY)))
    world, org = sim.world, sim.org
    added = np.flatnonzero(world.site_added > 0)
    removed = np.flatnonzero(world.site_removed < 2**61)
    circuits = np.flatnonzero((world.port_added > 0) | (world.port_removed < 2**61))
    assert len(added) and len(removed) and len(circuits)
    s = int(added[0])
    at = int(world.site_added[s])
    site_ports = [i for i in org.wan_port_indices().tolist() if org.arrays["site"][i] == s]
    with SimulatorServer(sim) as server:
        for t, present in ((at - 60, False), (at + 60, True)):
            sim.clock.set(t)
            sites = _served(server, f"/api/v1/orgs/{org.id}/sites", limit=1000)[0]
            assert (org.sites[s].id in {x["id"] for x in sites}) is present
            ports = [
                r
                for p in _served(server, PORTS.format(org_id=org.id), device_type="gateway")
                for r in p["results"]
            ]
            assert bool([r for r in ports if r["site_id"] == org.sites[s].id]) is (
                present and not world.offline(org.arrays["dev"][site_ports[:1]], t)[0]
            )
        [listed] = [x for x in sites if x["id"] == org.sites[s].id]
        assert listed["created_time"] == at
    truth = world.truth(np.array(site_ports), at // 60 * 60 - 600, 20)
    assert not truth["exists"].iloc[:10].any() and truth["exists"].iloc[11:20].all()
    # no event outside a lifetime
    c = int(circuits[0])
    events = world.port_events(np.array([c]), T0 - DAY, T0 + 4 * DAY)
    alive = world.exists(np.full(len(events), c), events["ts"].to_numpy())
    assert alive.all()
