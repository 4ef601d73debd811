"""Grouping against the simulator over real HTTP: 40 sites of one region taken down at once are
one `region_down` listing them, and a gateway gone offline is one `gateway_offline` (its
circuits send no samples, and their open alerts neither recover nor repeat). Swept and ingested
every slot, then evaluated as `wan_alerts` does."""

from __future__ import annotations

import pandas as pd
import pytest

from wanperf_dagster.simulator import MistSimulator, SimulatorConfig
from wanperf_dagster.storage import AssetStore

from .scenario import swept_and_evaluated

pytestmark = [pytest.mark.storage, pytest.mark.integration, pytest.mark.groundtruth]

DAY0 = 1_764_115_200  # 2025-11-26 00:00 UTC
T = DAY0 + 10 * 3600  # the incidents begin
SITES, SEED, TOKEN = 150, 1, "grouping-token"


class Recorder:
    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    def __call__(self, destination, event, incident, at, links, **kw):
        self.sent.append((event, incident.key))


def test_a_regional_outage_and_a_gateway_offline_are_one_incident_each(redis_client):
    sim = MistSimulator(SimulatorConfig(sites=SITES, seed=SEED, now=T - 3600, tokens=(TOKEN,)))
    org, a = sim.org, sim.org.arrays
    wan = org.wan_port_indices()
    sites = org.sites
    apac = [k for k, s in enumerate(sites) if s.region == "APAC" and k != 0][:40]
    for i in wan:
        if a["site"][i] in apac:
            sim.inject(org.circuit_id(i), "down", T + 7, T + 3 * 3600)
    # a gateway at a two-circuit AMER site taken offline 20 minutes after its first circuit
    # went down: that circuit's alert is open when the gateway goes dark
    amer = next(
        k
        for k, s in enumerate(sites)
        if s.region == "AMER" and k != 0 and (a["site"][wan] == k).sum() == 2
    )
    first, second = [org.circuit_id(i) for i in wan if a["site"][i] == amer]
    mac = first.split(":")[0]
    sim.inject(first, "down", T - 1800, T + 3 * 3600)
    sim.inject(first, "offline", T + 600 + 11, T + 3 * 3600)
    storage = AssetStore(redis_client)
    recorder = Recorder()
    evaluations = []
    before = 0
    instants = [T + k * 600 + 30 for k in range(-6, 7)]
    for now, shown, _ in swept_and_evaluated(
        sim, redis_client, TOKEN, instants, recorder, feeds=("events", "devices")
    ):
        k = (now - 30 - T) // 600
        if k == -1:  # what was sent before the region went down
            before = len(recorder.sent)
        evaluations.append((k, shown))
    # before: the AMER site on its backup, which speaks for its primary's outage
    site_id = sites[amer].id
    assert ("alert", f"on_backup@{site_id}") in recorder.sent
    _, last = evaluations[-1]
    by_kind: dict[str, list] = {}
    for incident in last:
        by_kind.setdefault(incident.kind, []).append(incident)
    # the region: one incident, the 40 sites listed, none of their own incidents told
    [region] = [i for i in by_kind["region_down"] if i.site_name == "APAC"]
    names = {sites[k].name for k in apac}
    assert names <= set(region.sites) and len(region.sites) <= len(names) + 2
    assert f"{len(region.sites)} sites of APAC down" in region.detail
    told = [key for event, key in recorder.sent[before:] if event == "alert"]
    apac_ids = {sites[k].id for k in apac}
    apac_circuits = {org.circuit_id(i) for i in wan if a["site"][i] in apac}
    assert not [key for key in told if key.split("@", 1)[1] in apac_ids | apac_circuits], (
        "a site or circuit of the region was told of on its own"
    )
    assert told.count("region_down@region:APAC") == 1
    # the gateway: one incident; what was open at its site neither recovered nor repeated
    [gateway] = [i for i in by_kind["gateway_offline"] if i.gateway == mac]
    assert gateway.detail.startswith(f"gateway {mac} offline for")
    assert gateway.detail.endswith("its 2 WAN circuits dark")
    assert f"down@{first}" in gateway.covers and f"down@{second}" in gateway.covers
    assert told.count(f"gateway_offline@{mac}") == 1
    everything_told = [key for event, key in recorder.sent if event == "alert"]
    assert everything_told.count(f"on_backup@{site_id}") == 1
    assert f"down@{first}" not in everything_told
    assert not [key for event, key in recorder.sent if event == "recovered" and site_id in key]
    assert not [key for event, key in recorder.sent if event == "recovered" and mac in key]
    stored = storage.alert_state(org.id).open_entries()
    assert stored[f"down@{first}"]["inhibited_by"] == f"gateway_offline@{mac}"
    assert stored[f"on_backup@{site_id}"]["inhibited_by"] == f"gateway_offline@{mac}"
    # every open incident the page would show is one per cause
    assert len(pd.Series([i.key for i in last]).unique()) == len(last)
