"""The simulator over real HTTP: schemas, paging, auth, budget, faults, clock, ground truth."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import requests

from wanperf_dagster.simulator import MistSimulator, SimulatorConfig, SimulatorServer
from wanperf_dagster_tests.mist_schema import validate
from wanperf_dagster_tests.processes import stop

from .conftest import NOW

pytestmark = pytest.mark.integration

PORTS = "/api/v1/orgs/{org_id}/stats/ports/search"
SITE_PORTS = "/api/v1/sites/{site_id}/stats/ports/search"
SLE = "/api/v1/orgs/{org_id}/insights/sites-sle"
VPN = "/api/v1/orgs/{org_id}/stats/vpn_peers/search"
EVENTS = "/api/v1/orgs/{org_id}/devices/events/search"


def all_pages(api, first_url):
    url, pages = first_url, []
    while url:
        r = api(url)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body)
        url = body.get("next")
    return pages


def test_every_endpoint_validates_against_the_official_schema(api):
    org = api.org_id
    site = api.sim.org.sites[0].id
    cases = [
        ("/api/v1/self", "/api/v1/self", {}),
        ("/api/v1/self/usage", "/api/v1/self/usage", {}),
        (f"/api/v1/orgs/{org}/sites", "/api/v1/orgs/{org_id}/sites", {"limit": 10}),
        (f"/api/v1/orgs/{org}/sitegroups", "/api/v1/orgs/{org_id}/sitegroups", {}),
        (
            f"/api/v1/orgs/{org}/stats/devices",
            "/api/v1/orgs/{org_id}/stats/devices",
            {"type": "gateway", "limit": 5},
        ),
        (PORTS.format(org_id=org), PORTS, {"device_type": "gateway", "limit": 50}),
        (SITE_PORTS.format(site_id=site), SITE_PORTS, {"device_type": "gateway"}),
        (f"/api/v1/orgs/{org}/insights/sites-sle", SLE, {"sle": "wan", "limit": 7, "page": 2}),
        (f"/api/v1/orgs/{org}/stats/vpn_peers/search", VPN, {"limit": 20}),
        (f"/api/v1/orgs/{org}/devices/events/search", EVENTS, {"duration": "1d", "limit": 5}),
    ]
    for url, spec_path, params in cases:
        r = api(url, **params)
        assert r.status_code == 200, (url, r.text)
        validate(r.json(), spec_path)
    for status, headers in (("401", {}), ("403", {})):
        r = requests.get(
            api.server.url
            + (
                f"/api/v1/orgs/{'0' * 8}-0000-4000-8000-{'0' * 12}/sites"
                if status == "403"
                else "/api/v1/self"
            ),
            headers={"Authorization": "Token tok-a"} if status == "403" else headers,
            timeout=5,
        )
        assert r.status_code == int(status)
        validate(r.json(), "/api/v1/self", status)


def test_next_paging_visits_every_gateway_port_exactly_once(api):
    org = api.sim.org
    pages = all_pages(
        api, api.server.url + PORTS.format(org_id=org.id) + "?device_type=gateway&limit=37"
    )
    seen = [(r["mac"], r["port_id"]) for p in pages for r in p["results"]]
    assert len(seen) == len(set(seen)) == org.n_ports == pages[0]["total"]
    assert all(p["limit"] == 37 for p in pages)
    assert "next" not in pages[-1]
    # the cursor is opaque: no offsets in clear text, and the old `type` filter works too
    assert "offset" not in pages[0]["next"] and "search_after=" in pages[0]["next"]
    legacy = all_pages(
        api, api.server.url + PORTS.format(org_id=org.id) + "?type=gateway&limit=1000"
    )
    assert sum(len(p["results"]) for p in legacy) == org.n_ports
    wan = {
        (r["mac"], r["port_id"]) for p in pages for r in p["results"] if r["port_usage"] == "wan"
    }
    assert len(wan) == int(org.arrays["is_wan"].sum())
    assert any(r["port_usage"] == "lan" for p in pages for r in p["results"])


def test_limit_is_capped_at_1000(api):
    r = api(PORTS.format(org_id=api.org_id), device_type="gateway", limit=5000)
    assert r.json()["limit"] == 1000


def test_site_search_and_page_style_endpoints_cover_everything(api):
    org = api.sim.org
    site = org.sites[3]
    pages = all_pages(
        api, api.server.url + SITE_PORTS.format(site_id=site.id) + "?device_type=gateway&limit=2"
    )
    got = {r["port_id"] + r["mac"] for p in pages for r in p["results"]}
    assert {r["site_id"] for p in pages for r in p["results"]} == {site.id}
    assert len(got) == int((org.arrays["site"] == 3).sum())

    ids = []
    page = 1
    while True:
        r = api(f"/api/v1/orgs/{org.id}/sites", limit=7, page=page)
        assert r.headers["X-Page-Total"] == str(len(org.sites))
        assert r.headers["X-Page-Limit"] == "7" and r.headers["X-Page-Page"] == str(page)
        if not r.json():
            break
        ids += [s["id"] for s in r.json()]
        page += 1
    assert ids == [s.id for s in org.sites]
    groups = api(f"/api/v1/orgs/{org.id}/sitegroups").json()
    assert sorted(sid for g in groups for sid in g["site_ids"]) == sorted(ids)
    gws = api(f"/api/v1/orgs/{org.id}/stats/devices", type="gateway", limit=1000).json()
    assert len(gws) == len(org.gateways)
    assert api(f"/api/v1/orgs/{org.id}/stats/devices").json() == []  # default type is ap


def test_same_seed_and_time_is_byte_identical_and_seeds_differ():
    def first_page(seed):
        sim = MistSimulator(SimulatorConfig(sites=20, seed=seed, now=NOW))
        with SimulatorServer(sim) as srv:
            return requests.get(
                f"{srv.url}/api/v1/orgs/{sim.org.id}/stats/ports/search?device_type=gateway&limit=1000",
                headers={"Authorization": "Token sim-token"},
                timeout=10,
            ).content

    assert first_page(3) == first_page(3)
    assert first_page(3) != first_page(4)


def test_auth_failures(api):
    url = api.server.url + "/api/v1/self"
    r = requests.get(url, timeout=5)
    assert r.status_code == 401 and r.json() == {
        "detail": "Authentication credentials were not provided."
    }
    r = requests.get(url, headers={"Authorization": "Token wrong"}, timeout=5)
    assert r.status_code == 401
    r = requests.get(url, headers={"Authorization": "Bearer tok-a"}, timeout=5)
    assert r.status_code == 401
    r = api("/api/v1/orgs/not-my-org/sites")
    assert r.status_code == 403
    assert api("/api/v1/nothing/here").status_code == 404
    assert api("/api/v1/sites/unknown-site/stats/ports/search").status_code == 404


def test_rate_limit_429_and_usage_agree():
    sim = MistSimulator(SimulatorConfig(sites=5, now=NOW, rate_limit=4, tokens=("a", "b")))
    with SimulatorServer(sim) as srv:

        def call(token):
            return requests.get(
                f"{srv.url}/api/v1/self/usage",
                headers={"Authorization": f"Token {token}"},
                timeout=5,
            )

        assert [call("a").json()["requests"] for _ in range(4)] == [1, 2, 3, 4]
        r = call("a")
        assert r.status_code == 429
        assert r.json() == {
            "detail": "Too Many Request. The API Token used for the request reached the 4 API Calls per hour threshold"
        }
        assert "Retry-After" not in r.headers
        assert call("b").status_code == 200  # per token
        sim.faults.retry_after = 17
        assert call("a").headers["Retry-After"] == "17"
        sim.clock.advance(3600)  # the next clock hour
        assert call("a").json()["requests"] == 1


def test_fault_modes(api):
    sim = api.sim
    url = PORTS.format(org_id=api.org_id)
    sim.faults.update(error_next=2)
    assert [api(url).status_code for _ in range(3)] == [503, 503, 200]

    sim.faults.update(truncate_next=1)
    r = api(url, device_type="gateway")
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    sim.faults.update(malformed_json_next=1)
    with pytest.raises(json.JSONDecodeError):
        json.loads(api(url).content)

    sim.faults.update(hold_next=1, hold_seconds=1.5)
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(api.server.url + url, headers={"Authorization": "Token tok-a"}, timeout=0.5)

    sim.faults.update(slow_rate=1.0, slow_seconds=0.3)
    t0 = time.monotonic()
    assert api("/api/v1/self").status_code == 200
    assert time.monotonic() - t0 >= 0.3
    sim.faults.update(slow_rate=0.0)

    sim.faults.update(bad_record_every=10)
    results = api(url, device_type="gateway", limit=100).json()["results"]
    bad = [
        r
        for r in results
        if "port_id" not in r
        or "site_id" not in r
        or r.get("up") is None
        or (isinstance(r.get("rx_bytes"), int) and r["rx_bytes"] < 0)
        or r.get("speed") == 0
        or isinstance(r.get("rx_bps"), str)
    ]
    assert len(bad) == 10
    sim.faults.update(bad_record_every=0, duplicate_records=3)
    pages = all_pages(api, api.server.url + url + "?device_type=gateway&limit=50")
    seen = [(r["mac"], r["port_id"]) for p in pages for r in p["results"]]
    assert len(seen) - len(set(seen)) == 3 * (len(pages) - 1)
    assert len(set(seen)) == sim.org.n_ports


def test_admin_endpoints_off_by_default_and_clock_control():
    sim = MistSimulator(SimulatorConfig(sites=3))
    with SimulatorServer(sim) as srv:
        assert requests.get(f"{srv.url}/admin/clock?set=100", timeout=5).status_code == 404
        assert abs(sim.clock.now() - time.time()) < 5
    sim = MistSimulator(SimulatorConfig(sites=3, admin=True, tokens=("tok-admin",)))
    auth = {"Authorization": "Token tok-admin"}
    with SimulatorServer(sim) as srv:

        def admin(query: str, **kw):
            return requests.get(f"{srv.url}/admin/{query}", timeout=5, **kw)

        # enabled, the admin endpoints still need a token: no one else sets the clock or faults
        assert admin(f"clock?set={NOW}").status_code == 401
        assert (
            admin("faults?error_rate=1", headers={"Authorization": "Token nope"}).status_code == 401
        )
        assert sim.faults.error_rate == 0.0
        assert admin(f"clock?set={NOW}", headers=auth).json()["now"] == NOW
        assert admin("clock?advance=600", headers=auth).json()["now"] == NOW + 600
        r = admin("faults?error_rate=0.5&retry_after=3", headers=auth).json()
        assert r["error_rate"] == 0.5 and r["retry_after"] == 3
        assert admin("faults?bogus=1", headers=auth).status_code == 400


def test_ground_truth_matches_what_is_served(api):
    sim = api.sim
    org = sim.org
    day_start = NOW // 86400 * 86400
    truth = sim.truth(day=time.strftime("%Y-%m-%d", time.gmtime(NOW)))
    assert len(truth) == int(org.arrays["is_wan"].sum()) * 1440
    # served at several instants: up, rates and last_flapped equal the truth at that minute
    for minute in (0, 301, 777, 1439):
        sim.clock.set(day_start + minute * 60)
        served = [
            r
            for p in all_pages(
                api,
                api.server.url + PORTS.format(org_id=org.id) + "?device_type=gateway&limit=1000",
            )
            for r in p["results"]
            if r["port_usage"] == "wan"
        ]
        at = truth[truth["ts"] == truth["ts"].min() + np.timedelta64(minute, "m")].set_index(
            "circuit_id"
        )
        for rec in served:
            row = at.loc[f"{rec['mac']}:{rec['port_id']}"]
            assert rec["up"] == bool(row["up"])
            assert rec["rx_bps"] == row["rx_bps"]
            assert rec["last_flapped"] <= day_start + minute * 60
    # the truth has what the NOC cares about, somewhere in a 30-site day
    assert (~truth["up"]).any() and truth["flaps"].sum() > 0 and truth["failover"].any()
    assert truth["util_pct"].between(0, 100).all()
    # a truth endpoint too
    site = org.sites[0].id
    body = api("/admin/truth", site_id=site, minutes=5).json()
    assert {r["site_id"] for r in body} == {site}


def test_sle_pages_cover_every_site_once_and_agree_with_the_world(api):
    sim, org = api.sim, api.sim.org
    hour = NOW // 3600 * 3600 - 3600
    seen = []
    for page in (1, 2, 3, 4):
        r = api(SLE.format(org_id=org.id), start=hour, end=hour + 3600, limit=8, page=page)
        assert r.status_code == 200, r.text
        body = r.json()
        validate(body, SLE)
        assert body["total"] == len(org.sites) and (body["start"], body["end"]) == (
            hour,
            hour + 3600,
        )
        seen += body["results"]
    assert sorted(r["site_id"] for r in seen) == sorted(s.id for s in org.sites)
    truth = sim.world.site_sle(np.arange(len(org.sites)), hour, hour + 3600)
    by_site = {r["site_id"]: r for r in seen}
    for row in truth.itertuples():
        served = by_site[org.sites[row.site].id]
        assert served["wan-link-health"] == row.wan_link_health
        assert served["gateway-health"] == row.gateway_health
    # the future is not served: the envelope's end says how far the server got
    future = api(SLE.format(org_id=org.id), start=NOW + 10, end=NOW + 3600).json()
    assert future["results"] == [] and future["end"] == future["start"] == NOW + 10
    partial = api(SLE.format(org_id=org.id), start=NOW - 60, end=NOW + 3600).json()
    assert partial["end"] == NOW and len(partial["results"]) == 30
    # and a bad range is a clear 400
    assert api(SLE.format(org_id=org.id), start=NOW, end=NOW - 3600).status_code == 400
    assert api(SLE.format(org_id=org.id), interval="soon").status_code == 400


def test_vpn_peer_search_pages_every_path_once(api):
    org = api.sim.org
    pages = all_pages(api, api.server.url + VPN.format(org_id=org.id) + "?limit=9")
    results = [r for p in pages for r in p["results"]]
    assert len(pages) > 2 and len(results) == pages[0]["total"] == len(api.sim.world.vpn_paths())
    keys = {(r["mac"], r["port_id"], r["peer_mac"], r["peer_port_id"]) for r in results}
    assert len(keys) == len(results)
    hub = org.sites[0].id
    assert all(r["peer_site_id"] == hub and r["site_id"] != hub for r in results)
    up = [r for r in results if r["up"]]
    assert up and all(0 < r["mos"] <= 4.5 and r["latency"] > 0 for r in up)
    assert all("latency" not in r for r in results if not r["up"])
    one = results[0]
    only = api(VPN.format(org_id=org.id), site_id=one["site_id"]).json()["results"]
    assert only and {r["site_id"] for r in only} == {one["site_id"]}


def test_device_events_agree_with_the_port_stats(api):
    """Each GW_PORT_DOWN/UP is a change of the served `up` to the second; the range is pinned
    in `next`, so paging while the clock moves neither skips nor repeats an event."""
    sim, org = api.sim, api.sim.org
    day_start = NOW // 86400 * 86400
    url = api.server.url + EVENTS.format(org_id=org.id) + f"?start={day_start}&end={NOW}&limit=7"
    first = api(url).json()
    sim.clock.advance(120)  # the clock moves between pages
    pages = [first] + all_pages(api, first["next"])
    events = [e for p in pages for e in p["results"]]
    sim.clock.set(NOW)
    assert len(events) == first["total"] and len(pages) > 2
    for e in events:
        validate({"results": [e], "start": 0, "end": 0, "limit": 1, "total": 1}, EVENTS)
    ports = [e for e in events if e["type"] in ("GW_PORT_DOWN", "GW_PORT_UP")]
    assert ports and any(e["type"] == "GW_REBOOTED" for e in events)
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    index = {org.circuit_id(i): i for i in org.wan_port_indices().tolist()}
    # every event names its port in the link trap's text; every other gateway's also in port_id
    named = [e["text"].rsplit("ifName ", 1)[1] for e in ports]
    assert all(e["text"].startswith("SNMP_TRAP_LINK_") for e in ports)
    assert all(e.get("port_id", n) == n for e, n in zip(ports, named, strict=True))
    assert {"port_id" in e for e in ports} == {True, False}
    for e, name in list(zip(ports, named, strict=True))[:40]:
        port, t = index[f"{e['mac']}:{name}"], int(e["timestamp"])
        s = sim.world.state(np.array([port, port]), np.array([t - 1, t]), last_flapped=False)
        went_down = e["type"] == "GW_PORT_DOWN"
        assert s["up"][1] != went_down and s["up"][0] == went_down, e
    only = api(EVENTS.format(org_id=org.id), start=day_start, end=NOW, type="GW_PORT_DOWN")
    assert only.json()["total"] == sum(e["type"] == "GW_PORT_DOWN" for e in events)


def test_cli_prints_url_and_org_id():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wanperf_dagster.simulator",
            "--port",
            "0",
            "--sites",
            "3",
            "--seed",
            "5",
            "--token",
            "t1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base = proc.stdout.readline().strip()
        org = proc.stdout.readline().strip()
        assert base.startswith("base_url=http://127.0.0.1:") and org.startswith("org_id=")
        r = requests.get(
            base.split("=", 1)[1] + "/api/v1/self", headers={"Authorization": "Token t1"}, timeout=5
        )
        assert r.json()["privileges"][0]["org_id"] == org.split("=", 1)[1]
    finally:
        stop(proc)


def test_a_listing_computed_once_an_instant_still_serves_an_injection_at_that_instant(api):
    """The org's devices and the ports' offline state are computed once a simulated instant (a
    paged listing's pages share them); an injection made at that instant is served at once, on
    the devices listing and in the port stats, and the clock moving on computes afresh."""
    org, world = api.sim.org, api.sim.world
    devices = f"/api/v1/orgs/{org.id}/stats/devices"
    ports = PORTS.format(org_id=org.id)

    def status_of_gateway_0() -> str:
        listed = api(devices, type="gateway", limit=1000).json()
        return next(d["status"] for d in listed if d["mac"] == org.gateways[0].mac)

    def served_port_ids() -> set[str]:
        pages = all_pages(api, api.server.url + ports + "?device_type=gateway&limit=40")
        return {(r["mac"], r["port_id"]) for p in pages for r in p["results"]}

    before = served_port_ids()
    assert status_of_gateway_0() == "connected"
    port = int(np.flatnonzero(org.arrays["gw"] == 0)[0])
    world.inject(port, "offline", NOW - 60, NOW + 600)
    assert status_of_gateway_0() == "disconnected"
    gone = before - served_port_ids()
    assert gone and {mac for mac, _ in gone} == {org.gateways[0].mac}
    api.sim.clock.set(NOW + 1200)  # the injection is over: computed afresh, connected again
    assert status_of_gateway_0() == "connected"
