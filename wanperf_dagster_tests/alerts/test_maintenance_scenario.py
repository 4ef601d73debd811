"""A planned maintenance silence against the simulator over real HTTP, checked against the
world's own down intervals: an outage wholly inside its site's silence is recorded and never
told (nor recovered); one that outlives its silence is told once, at the first evaluation after
the silence ends, and recovered once; a site no silence covers is told as ever. Swept and
evaluated every 10 minutes, as `wan_alerts` runs."""

from __future__ import annotations

import pytest

from wanperf_dagster import alerts
from wanperf_dagster.simulator import MistSimulator, SimulatorConfig
from wanperf_dagster.storage import AssetStore

from .scenario import swept_and_evaluated

pytestmark = [pytest.mark.storage, pytest.mark.integration]

DAY0 = 1_764_115_200  # 2025-11-26 00:00 UTC
T = DAY0 + 10 * 3600  # the maintenance windows open at 10:00
SITES, SEED, TOKEN = 24, 9, "maintenance-token"


class Recorder:
    def __init__(self):
        self.sent: list[tuple[str, str, int]] = []

    def __call__(self, destination, event, incident, at, links, **kw):
        self.sent.append((event, incident.key, at))


def _single_circuit_sites(sim, n: int) -> list[tuple[str, str]]:
    """(site id, circuit) of sites with one WAN circuit that the world keeps up all of 09:00 to
    13:00 on its own: any outage then is one the test injects."""
    org, a = sim.org, sim.org.arrays
    wan = org.wan_port_indices()
    out = []
    for k, site in enumerate(org.sites):
        mine = [i for i in wan if a["site"][i] == k]
        if k == 0 or len(mine) != 1:
            continue
        circuit = org.circuit_id(mine[0])
        down = sim.world.down_intervals([mine[0]], T - 3600, T + 3 * 3600)
        if len(down) == 0:
            out.append((site.id, circuit))
        if len(out) == n:
            return out
    raise AssertionError("too few quiet single-circuit sites")


def test_a_planned_maintenance_silence_hides_what_it_covers_and_nothing_longer(redis_client):
    sim = MistSimulator(SimulatorConfig(sites=SITES, seed=SEED, now=T - 1800, tokens=(TOKEN,)))
    (inside_site, inside), (outlives_site, outlives), (_, free) = _single_circuit_sites(sim, 3)
    sim.inject(inside, "down", T + 600 + 7, T + 2400 + 7)  # 10:10-10:40, inside 10:00-11:00
    sim.inject(outlives, "down", T + 600 + 7, T + 4800 + 7)  # 10:10-11:20, silence to 10:30
    sim.inject(free, "down", T + 600 + 7, T + 2400 + 7)  # no silence: told as ever
    storage = AssetStore(redis_client)
    org = sim.org
    alerts.add_silence(
        storage, org.id, start=T, end=T + 3600, reason="ISP works", by="noc", site_id=inside_site
    )
    alerts.add_silence(
        storage, org.id, start=T, end=T + 1800, reason="ISP works", by="noc", site_id=outlives_site
    )
    recorder = Recorder()
    silenced_seen = set()
    instants = [T + k * 600 + 30 for k in range(-2, 19)]  # 09:40 .. 13:00
    for _, _, report in swept_and_evaluated(
        sim, redis_client, TOKEN, instants, recorder, resolve_after=0
    ):
        silenced_seen |= set(report.silenced)
    told = [(event, key, at) for event, key, at in recorder.sent if key.startswith("down@")]

    def events(circuit):
        return [(event, at) for event, key, at in told if key == f"down@{circuit}"]

    # the truth: each outage as the world had it
    truth = {
        c: sim.world.down_intervals(
            [i for i in org.wan_port_indices() if org.circuit_id(i) == c], T, T + 3 * 3600
        )
        for c in (inside, outlives, free)
    }
    assert all(len(t) == 1 for t in truth.values()), truth
    # inside its silence: recorded as silenced, never told, never recovered
    assert f"down@{inside}" in silenced_seen and events(inside) == []
    # outliving its silence: told once, at the first evaluation after 10:30; recovered once
    [(first, at_alert), (last, at_recovery)] = events(outlives)
    assert (first, last) == ("alert", "recovered")
    assert T + 1800 <= at_alert < T + 1800 + 600
    end = int(truth[outlives]["up"].iloc[0])
    assert end <= at_recovery < end + 600 + 30
    # no silence: told within its rule's 10 minutes (and a slot) of going down, recovered
    [(first, at_alert), (last, _)] = events(free)
    start = int(truth[free]["down"].iloc[0])
    assert (first, last) == ("alert", "recovered") and at_alert <= start + 600 + 600 + 30
