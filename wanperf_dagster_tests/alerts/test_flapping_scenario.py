"""A circuit whose load crosses the congestion tier on and off for two hours, against the
simulator over real HTTP: 40 minutes congested, 20 clear, three times over, then clear for good.
Without the hold every crossing would be an alert and a recovery; with it
(`WANPERF_ALERT_RESOLVE_MINUTES`, 20 here as by default) it is one alert while it lasts and one
recovery once it has stayed clear, checked against the world's own utilisation."""

from __future__ import annotations

import numpy as np
import pytest

from wanperf_dagster.simulator import MistSimulator, SimulatorConfig

from .scenario import swept_and_evaluated

pytestmark = [pytest.mark.storage, pytest.mark.integration]

T = 1_764_115_200 + 8 * 3600  # 2025-11-26 08:00 UTC
TOKEN = "flapping-token"


class Recorder:
    def __init__(self):
        self.sent: list[tuple[str, str, int]] = []

    def __call__(self, destination, event, incident, at, links, **kw):
        self.sent.append((event, incident.key, at))


def test_a_load_crossing_its_threshold_on_and_off_is_told_once_and_recovered_once(
    redis_client,
):
    sim = MistSimulator(SimulatorConfig(sites=12, seed=21, now=T, tokens=(TOKEN,)))
    org = sim.org
    wan = org.wan_port_indices()
    # a circuit never near the tier on its own from 07:00 to 13:00
    times = np.arange(T - 3600, T + 5 * 3600, 600)
    peak = np.max([sim.world.state(wan, np.full(len(wan), t))["util"] for t in times], axis=0)
    port = next(i for i, p in zip(wan, peak, strict=True) if p < 0.5 and org.arrays["site"][i])
    circuit = org.circuit_id(port)
    for k in range(3):  # 08:00-08:40, 09:00-09:40, 10:00-10:40 congested; clear in between
        sim.inject(circuit, "congest", T + k * 3600 + 7, T + k * 3600 + 2400 + 7)
    recorder = Recorder()
    instants = [T + k * 600 + 30 for k in range(0, 25)]  # 08:00 .. 12:00
    for _ in swept_and_evaluated(sim, redis_client, TOKEN, instants, recorder, resolve_after=1200):
        pass
    mine = [(event, at) for event, key, at in recorder.sent if key == f"congested@{circuit}"]
    # the truth: the world's load crossed 90 % six times (three up, three down)
    truth = sim.truth(circuit_id=circuit, start=T, minutes=4 * 60)
    hot = (truth["util_pct"] >= 90).astype(int).to_numpy()
    assert int(np.abs(np.diff(hot)).sum()) + hot[0] == 6
    # told once (when 30 minutes of congestion had lasted: three samples), recovered once, after the last
    # clear spell outlasted the hold
    assert [e for e, _ in mine] == ["alert", "recovered"], [(e, (a - T) / 60) for e, a in mine]
    assert T + 1200 <= mine[0][1] <= T + 1800 + 30, [(e, (a - T) / 60) for e, a in mine]
    assert mine[1][1] >= T + 2 * 3600 + 2400 + 1200
