"""kpi_bounds: every rule passes on real KPIs and fails on a frame built to break it."""

import pytest

from wanperf_dagster.kpi import (
    BOUNDS_RULES,
    bounds_violations,
    daily_circuit_kpis,
    hourly_circuit_kpis,
)
from wanperf_dagster.simulator import World, build_org
from wanperf_dagster.simulator.samples import world_samples

DAY0 = 1_764_115_200


@pytest.fixture(scope="module")
def kpis():
    world = World(build_org(seed=4, n_sites=20))
    samples = world_samples(world, DAY0, 144)
    return daily_circuit_kpis(samples, 10), hourly_circuit_kpis(samples, 10)


def test_sound_kpis_break_no_rule(kpis):
    daily, hourly = kpis
    assert bounds_violations(daily, 10) == dict.fromkeys(BOUNDS_RULES, 0)
    assert bounds_violations(hourly, 10, bucket_minutes=60) == dict.fromkeys(BOUNDS_RULES, 0)


BREAKS = {
    "negative_minutes": lambda f: f.assign(down_minutes=-10),
    "negative_counts": lambda f: f.assign(flaps=-1),
    "percent_out_of_range": lambda f: f.assign(coverage_pct=100.5),
    "minutes_beyond_bucket": lambda f: f.assign(up_minutes=1440, down_minutes=10),
    "samples_beyond_slots": lambda f: f.assign(samples=145),
    "p95_or_avg_above_max": lambda f: f.assign(latency_p95_ms=f["latency_max_ms"] + 1),
    # a counter glitch: 2**62 bytes in a day on a 100 Mbit/s circuit
    "bytes_beyond_speed": lambda f: f.assign(rx_bytes=2**62, speed_mbps=100, speed_changes=0),
    "down_seconds_beyond_bucket": lambda f: f.assign(down_seconds=86_401),
}


@pytest.mark.parametrize("rule", sorted(BOUNDS_RULES))
def test_each_rule_fails_on_a_frame_built_to_break_it(kpis, rule):
    daily, _ = kpis
    broken = daily.head(3).copy()
    if rule == "p95_or_avg_above_max":
        broken = broken[broken["latency_max_ms"].notna()]
        assert len(broken)
    broken = BREAKS[rule](broken)
    found = bounds_violations(broken, 10)
    assert found[rule] == len(broken)
    assert sum(found.values()) == found[rule] or rule == "minutes_beyond_bucket", found


def test_down_time_longer_than_the_time_observed_breaks_the_bound(kpis):
    daily, _ = kpis
    broken = daily.head(3).assign(down_seconds=700, observed_seconds=600)
    assert bounds_violations(broken, 10)["down_seconds_beyond_bucket"] == 3
    stored_before = daily.head(3).drop(columns=["observed_seconds"]).assign(down_seconds=700)
    assert bounds_violations(stored_before, 10)["down_seconds_beyond_bucket"] == 0


def test_bytes_are_not_bounded_by_a_speed_that_changed(kpis):
    daily, _ = kpis
    changed = daily.head(2).assign(rx_bytes=2**62, speed_changes=1)
    assert bounds_violations(changed, 10)["bytes_beyond_speed"] == 0
