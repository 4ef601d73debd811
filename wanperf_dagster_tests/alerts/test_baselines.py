"""The `baseline` rule against the simulator: four weeks of history in which one circuit is busy
(80 %, under the congestion tier) every Monday 10:00-11:00 UTC, then a Monday on which it is
busy again and another circuit, never busy before, is busy for the first time. Swept over real
HTTP for the last two hours and evaluated as `wan_alerts` does: the weekly busy hour is normal
(no alert), the new one is one `baseline` alert, and every baseline alert raised is a circuit
whose true utilisation (the world's) sat above its learnt bound."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wanperf_dagster import kpi
from wanperf_dagster.kpi.baselines import circuit_baselines, hour_of_week, upper_bound
from wanperf_dagster.simulator import MistSimulator, SimulatorConfig
from wanperf_dagster.simulator.samples import world_samples
from wanperf_dagster.storage import AssetStore

from .scenario import org_config, swept_and_evaluated

pytestmark = [pytest.mark.storage, pytest.mark.integration]

MONDAY = 1_763_942_400  # 2025-11-24 00:00 UTC, a Monday
WEEK, DAY = 7 * 86400, 86400
BUSY = (10 * 3600, 11 * 3600)  # Monday 10:00-11:00 UTC
SITES, SEED, TOKEN = 16, 4, "baseline-token"


class Recorder:
    def __init__(self):
        self.sent: list[tuple[str, str, str]] = []
        self.at: list[int] = []

    def __call__(self, destination, event, incident, at, links, **kw):
        self.sent.append((event, incident.key, incident.detail))
        self.at.append(at)


def _quiet_circuits(sim, n: int) -> list[str]:
    """Circuits at different sites, under 30 % every 10 minutes of 08:00-11:00 on each of the
    five Mondays: any busy hour there is one the test injects."""
    org = sim.org
    wan = org.wan_port_indices()
    times = [MONDAY + week * WEEK + 8 * 3600 + 600 * k for week in range(-4, 1) for k in range(19)]
    peak = np.zeros(len(wan))
    for t in times:
        peak = np.fmax(peak, sim.world.state(wan, np.full(len(wan), t))["util"])
    chosen, sites = [], set()
    for i, top in zip(wan, peak, strict=True):
        site = org.arrays["site"][i]
        if top < 0.3 and site not in sites and site != 0:
            chosen.append(org.circuit_id(i))
            sites.add(site)
        if len(chosen) == n:
            return chosen
    raise AssertionError("too few quiet circuits in the simulated org")


def test_a_weekly_busy_hour_is_normal_and_a_new_one_is_told_once(redis_client):
    now0 = MONDAY + 9 * 3600  # the sweeps of the last two hours start here
    sim = MistSimulator(SimulatorConfig(sites=SITES, seed=SEED, now=now0, tokens=(TOKEN,)))
    org = sim.org
    weekly, new = _quiet_circuits(sim, 2)
    for week in range(-4, 1):  # four weeks of history and today
        sim.inject(weekly, "busy", MONDAY + week * WEEK + BUSY[0], MONDAY + week * WEEK + BUSY[1])
    sim.inject(new, "busy", MONDAY + BUSY[0], MONDAY + BUSY[1])
    config = org_config(sim)
    # four weeks of hourly KPIs, as circuit_kpis_hourly holds them, then the baselines
    start = MONDAY - 4 * WEEK
    hourly = [
        kpi.hourly_circuit_kpis(world_samples(sim.world, start + d * DAY, 144), 10, config)
        for d in range(28)
    ]
    learnt = circuit_baselines(pd.concat(hourly, ignore_index=True), min_weeks=3)
    storage = AssetStore(redis_client)
    storage.save_baselines(org.id, learnt, {"through": "2025-11-23", "weeks": 4})
    how = int(hour_of_week(MONDAY + 10 * 3600))
    at_ten = storage.baselines_at(org.id, how).set_index("circuit_id")
    assert at_ten.loc[weekly, "util_median"] > 70  # it learnt the busy hour
    assert at_ten.loc[new, "util_median"] < 40 and at_ten.loc[new, "weeks"] == 4
    recorder = Recorder()
    instants = [now0 + k * 600 + 30 for k in range(12)]  # 09:00:30 .. 10:50:30
    *_, (_, shown_last, _) = swept_and_evaluated(sim, redis_client, TOKEN, instants, recorder)
    told = [(key, detail) for event, key, detail in recorder.sent if event == "alert"]
    baseline_told = {key: detail for key, detail in told if key.startswith("baseline@")}
    assert f"baseline@{weekly}" not in baseline_told  # busy as every Monday: normal
    assert [key for key, _ in told].count(f"baseline@{new}") == 1
    assert baseline_told[f"baseline@{new}"].startswith("utilisation 8")
    assert "normal at this hour" in baseline_told[f"baseline@{new}"]
    # neither is congested by the fixed rule: only the baseline tells this load apart
    assert not [key for key, _ in told if key in (f"congested@{weekly}", f"congested@{new}")]
    # every utilisation baseline alert: the world's utilisation over the run that opened it
    # (its three samples' slots) above the learnt bound
    for at, (event, key, detail) in zip(recorder.at, recorder.sent, strict=True):
        if event != "alert" or not key.startswith("baseline@") or "utilisation" not in detail:
            continue
        circuit = key.split("@", 1)[1]
        truth = sim.truth(circuit_id=circuit, start=at - 1200, minutes=20)
        row = storage.baselines_at(org.id, int(hour_of_week(at))).set_index("circuit_id")
        bound = upper_bound(row.at[circuit, "util_median"], row.at[circuit, "util_mad"], 4.0, 15.0)
        assert truth["util_pct"].min() > bound, (key, at, truth["util_pct"].min(), bound)
    assert any(i.key == f"baseline@{new}" for i in shown_last)
