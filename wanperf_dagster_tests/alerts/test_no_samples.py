"""An hour without samples (an API storm: every sweep fails) is unknown, not "fine": a circuit
down before it and after it is one incident, told once, recovered once when it comes back up,
never recovered on no data nor told again with the same idempotency key after the gap (the
2,000-site week soak received 56 alerts twice after its storm)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from wanperf_dagster import alerts
from wanperf_dagster.kpi import KpiConfig
from wanperf_dagster.mist import SweepConfig, run_sweep
from wanperf_dagster.settings import get_settings
from wanperf_dagster.storage import AssetStore
from wanperf_dagster_tests.alerts.test_alerts_end_to_end import INTERVAL_S, _three_circuits
from wanperf_dagster_tests.mist.conftest import make_client

pytestmark = [pytest.mark.storage, pytest.mark.integration]


def test_a_storm_neither_recovers_nor_retells_an_incident(sim, redis_client):
    (down_c, site), _, _ = _three_circuits(sim)
    t0 = (int(sim.clock.now()) // INTERVAL_S + 1) * INTERVAL_S
    sim.inject(down_c, "down", t0 + 600, t0 + 4 * 3600)  # down for almost 4 hours
    # the slots of an hour that no sweep gets through
    storm = range(t0 + 3600, t0 + 2 * 3600, INTERVAL_S)
    storage = AssetStore.from_settings(get_settings(), client=redis_client)
    inventory = pd.DataFrame({"site_id": [site.id], "name": [site.name], "region": ["EU"]})
    storage.save("mist_sites", {None: pa.Table.from_pandas(inventory)}, None)
    told: list[tuple[int, str, str, str]] = []

    def sender(destination, event, incident, at, links, idempotency_key="", **kw):
        told.append((at, event, incident.key, idempotency_key))

    client = make_client(sim)
    key = f"down@{down_c}"
    open_at: dict[int, bool] = {}
    for slot in range(t0, t0 + 5 * 3600 + 1, INTERVAL_S):
        sim.clock.set(slot + 30)
        if slot not in storm:
            run_sweep(client, redis_client, SweepConfig())
        incidents, _ = alerts.evaluate(
            storage,
            sim.org.id,
            [site.id],
            slot + 30,
            INTERVAL_S // 60,
            alerts.AlertRules(),
            KpiConfig.for_sites(inventory),
            alerts.destinations(("http://receiver.invalid/hook",), ()),
            sender=sender,
            sleep=lambda s: None,
            resolve_after=1200,
        )
        open_at[slot] = key in {i.key for i in incidents}
    events = [event for at, event, incident, _ in told if incident == key]
    assert events == ["alert", "recovered"], told
    # open through the storm: its state unknown, what it was before stands
    assert all(open_at[slot] for slot in storm), open_at
    # recovered once the circuit is back up and sampled, not before
    recovered_at = next(at for at, event, incident, _ in told if event == "recovered")
    assert recovered_at >= t0 + 4 * 3600
    keys = [k for _, _, incident, k in told if incident == key]
    assert len(set(keys)) == len(keys)


def _incident(kind, subject, covers=(), gateway=None):
    circuit = subject if kind not in ("site_down", "region_down", "gateway_offline") else None
    return alerts.Incident(kind, "s1", "PARIS-1", circuit, 0, 1.0, "", covers, (), gateway)


def test_what_no_fresh_sample_judges_is_held_and_nothing_else():
    from wanperf_dagster.alerts.grouping import Grouped, hold_unjudged

    down = _incident("down", "aa:ge-0/0/0")
    loss = _incident("loss", "bb:ge-0/0/1")
    site = _incident("site_down", "s1", covers=("down@aa:ge-0/0/0", "down@aa:ge-0/0/1"))
    gateway = _incident("gateway_offline", "s2", gateway="cc")
    region = _incident("region_down", "region:EU", covers=("gateway_offline@cc",))
    previous = [down, loss, site, gateway, region]
    # only aa:ge-0/0/1 was swept: the site's other circuit speaks for it, bb's loss is unknown
    held = hold_unjudged(Grouped(shown=[]), previous, {"aa:ge-0/0/1"}).shown
    assert {i.key for i in held} == {down.key, loss.key}
    # everything swept: what is not open now has cleared
    swept = {"aa:ge-0/0/0", "aa:ge-0/0/1", "bb:ge-0/0/1"}
    assert hold_unjudged(Grouped(shown=[]), previous, swept).shown == []
    # nothing swept: every sample-judged incident held; the gateways' own come from the events
    held = hold_unjudged(Grouped(shown=[]), previous, set()).shown
    assert {i.key for i in held} == {down.key, loss.key, site.key}
    # one open now is not added twice
    assert hold_unjudged(Grouped(shown=[down]), [down], set()).shown == [down]


def test_the_circuits_held_are_exactly_those_the_rules_leave_out():
    from wanperf_dagster.alerts.rules import fresh_circuits, judged
    from wanperf_dagster_tests.alerts.test_rules import CONFIG, INTERVAL, T0, _samples

    last = T0 + 11 * INTERVAL * 60  # each circuit's latest sample 0 to 3 intervals before now
    for behind in range(4):
        now = last + behind * INTERVAL * 60
        samples = _samples()
        _, judged_sites = judged(samples, INTERVAL, alerts.AlertRules(), CONFIG, now)
        assert bool(judged_sites) == bool(fresh_circuits(samples, INTERVAL, now)), behind
        assert bool(judged_sites) == (behind <= 2), behind
