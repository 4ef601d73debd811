"""One incident per cause: a site whose every circuit is down is one `site_down`, a site on its
backup speaks for its primary, a region with many sites dark is one `region_down` listing them;
and through the outbox (real Redis) a circuit's alert that a site's incident comes to cover
neither recovers nor alerts again until it really clears."""

from __future__ import annotations

import pandas as pd
import pytest

from wanperf_dagster import alerts
from wanperf_dagster.alerts.grouping import incidents_now
from wanperf_dagster.kpi import KpiConfig
from wanperf_dagster.storage import AssetStore
from wanperf_dagster_tests.alerts.test_rules import INTERVAL, T0, _samples

RULES = alerts.AlertRules()
NOW = T0 + 11 * INTERVAL * 60


def _site(site: str, mac: str, ports: int, down: int) -> pd.DataFrame:
    """A site of `ports` circuits, the first `down` of them down for the last 40 minutes."""
    frames = [
        _samples(
            circuit=f"{mac}:ge-0/0/{p}",
            site=site,
            port=f"ge-0/0/{p}",
            up=[True] * 8 + [False] * 4 if p < down else [True] * 12,
        )
        for p in range(ports)
    ]
    return pd.concat(frames, ignore_index=True)


def _config(regions: dict[str, str]) -> KpiConfig:
    return KpiConfig(site_regions=regions, site_names={s: s.upper() for s in regions})


def test_a_site_with_every_circuit_down_is_one_incident():
    frame = _site("s1", "aa", 3, 3)
    got = incidents_now(frame, INTERVAL, RULES, _config({"s1": "west"}), NOW)
    [site] = got.shown
    assert site.kind == "site_down" and site.key == "site_down@s1"
    assert site.detail == "all 3 WAN circuits down for 40 min" and site.value == 3
    assert sorted(site.covers) == [f"down@aa:ge-0/0/{p}" for p in range(3)]
    assert got.inhibited == {f"down@aa:ge-0/0/{p}": "site_down@s1" for p in range(3)}
    body = alerts.message("alert", site, NOW, {})
    assert (body["circuits"], body["site_count"], body["title"]) == (3, 1, "site down")
    slack = alerts.slack_message("alert", site, NOW, {})["text"]
    assert "[3 circuits, 1 site]" in slack and "all 3 WAN circuits down" in slack
    # two of three down: no site incident; the site runs on its third, which speaks for the
    # primary, and the other down circuit is its own
    partial = incidents_now(_site("s1", "aa", 3, 2), INTERVAL, RULES, _config({"s1": "w"}), NOW)
    assert [i.key for i in partial.shown] == ["down@aa:ge-0/0/1", "on_backup@s1"]
    assert partial.inhibited == {"down@aa:ge-0/0/0": "on_backup@s1"}


def test_a_site_on_its_backup_speaks_for_its_primary():
    frame = _site("s1", "aa", 2, 1)  # the primary (ge-0/0/0) down, the other up
    got = incidents_now(frame, INTERVAL, RULES, _config({"s1": "west"}), NOW)
    assert [i.key for i in got.shown] == ["on_backup@s1"]
    assert got.inhibited == {"down@aa:ge-0/0/0": "on_backup@s1"}
    assert [i.key for i in got.covered] == ["down@aa:ge-0/0/0"]


@pytest.mark.parametrize("dark, grouped", [(6, True), (4, False)])
def test_many_sites_of_a_region_dark_are_one_incident(dark, grouped):
    sites = [f"s{k}" for k in range(dark)]
    # single-circuit and two-circuit sites alike, one healthy site of the region beside them
    frames = [_site(s, f"{k:02x}", 1 + k % 2, 1 + k % 2) for k, s in enumerate(sites)]
    frames.append(_site("ok", "ff", 2, 0))
    regions = {s: "west" for s in [*sites, "ok"]}
    got = incidents_now(pd.concat(frames), INTERVAL, RULES, _config(regions), NOW)
    circuits = sum(1 + k % 2 for k in range(dark))
    if not grouped:  # under the region's threshold: one per dark site
        assert sorted(i.kind for i in got.shown) == sorted(
            "site_down" if k % 2 else "down" for k in range(dark)
        )
        return
    [region] = got.shown
    assert region.key == "region_down@region:west" and region.value == dark
    assert region.sites == tuple(sorted(s.upper() for s in sites))
    assert region.detail == f"{dark} sites of west down ({circuits} circuits) for 40 min"
    body = alerts.message("alert", region, NOW, {})
    assert (body["circuits"], body["site_count"]) == (circuits, dark)
    # everything it groups is inhibited by it, the site incidents and their circuits too
    assert set(got.inhibited.values()) == {"region_down@region:west"}
    assert len(got.inhibited) == circuits + dark // 2  # circuits, and the two-circuit sites
    links = alerts.incident_links("http://noc", "http://dagster", region)
    assert links["dashboard"] == "http://noc/search?region=west"


def _evaluate(storage, org, frame, now, config, destinations, sender):
    """One alert evaluation as the sweep job runs it: group, then dispatch through the outbox."""
    first_seen = {i.key: i.since for i in alerts.open_alerts(storage, org)}
    got = incidents_now(frame, INTERVAL, RULES, config, now, first_seen)
    alerts.dispatch(
        storage,
        org,
        got.shown,
        destinations,
        now,
        sender=sender,
        covered=got.covered,
        inhibited=got.inhibited,
    )
    return got


class Recorder:
    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    def __call__(self, destination, event, incident, at, links, **kw):
        self.sent.append((event, incident.key))


@pytest.mark.storage
def test_a_covered_alert_neither_recovers_nor_repeats_until_it_clears(redis_client):
    storage, org = AssetStore(redis_client), "org-grouping"
    destinations = alerts.destinations(("http://receiver.invalid/hook",), ())
    config = _config({"s1": "west"})
    recorder = Recorder()

    def evaluate(frame, now):
        return _evaluate(storage, org, frame, now, config, destinations, recorder)

    one = _site("s1", "aa", 2, 0)
    one["up"] = ~one["circuit_id"].eq("aa:ge-0/0/1") | (one["ts"] < T0 + 8 * 600)
    evaluate(one, NOW)
    assert recorder.sent == [("alert", "down@aa:ge-0/0/1")]
    # ten minutes later the other circuit is down too: the site's incident, the circuit's
    # alert covered (not recovered)
    both = _site("s1", "aa", 2, 2).assign(ts=lambda f: f["ts"] + 600)
    evaluate(both, NOW + 600)
    assert recorder.sent[1:] == [("alert", "site_down@s1")]
    stored = storage.alert_state(org).open_entries()
    assert stored["down@aa:ge-0/0/1"]["inhibited_by"] == "site_down@s1"
    evaluate(both.assign(ts=lambda f: f["ts"] + 600), NOW + 1200)  # nothing new
    assert len(recorder.sent) == 2
    # all back up: the site recovers, and the circuit told of before recovers too
    healthy = _site("s1", "aa", 2, 0).assign(ts=lambda f: f["ts"] + 1800)
    evaluate(healthy, NOW + 1800)
    assert sorted(recorder.sent[2:]) == [
        ("recovered", "down@aa:ge-0/0/1"),
        ("recovered", "site_down@s1"),
    ]
    assert alerts.open_alerts(storage, org) == []


def _dark_from(site: str, first_down: int | None, n: int) -> pd.DataFrame:
    """A one-circuit site's n samples from T0, down from sample `first_down` on (None: up)."""
    up = [first_down is None or k < first_down for k in range(n)]
    return _samples(circuit=f"{site}:ge-0/0/0", site=site, port="ge-0/0/0", n=n, up=up)


def _region(downs: dict[str, int | None], n: int) -> pd.DataFrame:
    return pd.concat([_dark_from(s, d, n) for s, d in downs.items()], ignore_index=True)


def test_a_region_is_down_since_enough_of_its_sites_were():
    """One site down for most of the window and four more since: the region's condition (five
    sites dark) began with the fifth, and that is its first instant, not the first site's."""
    downs = {"s0": 1, "s1": 7, "s2": 8, "s3": 8, "s4": 9, "s5": None}
    regions = {s: "west" for s in downs}
    got = incidents_now(_region(downs, 12), INTERVAL, RULES, _config(regions), NOW)
    [region] = got.shown
    assert region.since == T0 + 9 * INTERVAL * 60
    assert region.detail == "5 sites of west down (5 circuits) for 30 min"
    # an incident already open keeps its first instant as more sites go dark
    earlier = {"region_down@region:west": T0 + 5 * INTERVAL * 60}
    again = incidents_now(_region(downs, 12), INTERVAL, RULES, _config(regions), NOW, earlier)
    assert again.shown[0].since == T0 + 5 * INTERVAL * 60


@pytest.mark.storage
def test_a_region_down_again_is_a_new_episode_with_its_own_idempotency_key(redis_client):
    """A region down, back under its threshold (told recovered), then down again with other
    sites, while one site stays down throughout: two episodes, each told with a key of its
    own. With the first site's instant for both, the second alert and recovery carried the
    first's keys, and a receiver that dedupes dropped them (6 in the week's soak)."""
    storage, org = AssetStore(redis_client), "org-region-episodes"
    destinations = alerts.destinations(("http://receiver.invalid/hook",), ())
    regions = {f"s{k}": "west" for k in range(6)}
    told: list[tuple[str, str, str]] = []

    def sender(destination, event, incident, at, links, idempotency_key="", **kw):
        told.append((event, incident.key, idempotency_key))

    def evaluate(downs: dict, n: int):
        now = T0 + (n - 1) * INTERVAL * 60
        _evaluate(storage, org, _region(downs, n), now, _config(regions), destinations, sender)

    evaluate({"s0": 1, "s1": 7, "s2": 8, "s3": 8, "s4": 9, "s5": None}, 12)
    evaluate({"s0": 1, "s1": 7, "s2": 8, "s3": 8, "s4": None, "s5": None}, 15)
    evaluate({"s0": 1, "s1": 7, "s2": 8, "s3": 8, "s4": None, "s5": 17}, 21)
    region = [(e, k) for e, key, k in told if key == "region_down@region:west"]
    assert [e for e, _ in region] == ["alert", "recovered", "alert"], told
    assert len({k for _, k in region}) == 3, region  # the second alert is not the first again
