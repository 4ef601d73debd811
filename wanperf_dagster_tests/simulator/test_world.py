"""The world model as a pure function: order-free, monotone where reality is, resets on reboot."""

import numpy as np

from wanperf_dagster.simulator import World, build_org
from wanperf_dagster.simulator.world import DAY, REBOOT_DOWN_S

T0 = 1_764_115_200


def test_state_is_a_pure_function_of_port_and_time():
    world = World(build_org(seed=2, n_sites=20))
    ports = world.org.wan_port_indices()
    a = world.state(ports, T0 + 1234)
    b = world.state(ports[::-1], T0 + 1234)
    for key in ("up", "rx_bps", "rx_bytes", "last_flapped", "latency"):
        assert np.array_equal(a[key], b[key][::-1]), key
    again = World(build_org(seed=2, n_sites=40)).state(
        ports, T0 + 1234
    )  # a larger org keeps site i
    assert np.array_equal(a["rx_bytes"], again["rx_bytes"])


def test_last_flapped_never_decreases_and_counters_reset_only_at_reboot():
    world = World(build_org(seed=3, n_sites=25))
    ports = world.org.wan_port_indices()
    times = T0 + 600 * np.arange(6 * 144)  # six days, every 10 minutes
    prev = None
    resets = 0
    for t in times:
        s = world.state(ports, int(t))
        if prev is not None:
            assert (s["last_flapped"] >= prev["last_flapped"]).all()
            dropped = s["rx_bytes"] < prev["rx_bytes"]
            rebooted = s["boot"] > prev["boot"]
            assert (dropped <= rebooted).all()  # a counter drops only after a reboot
            resets += int(dropped.sum())
        assert (s["last_flapped"] <= t).all()
        prev = s
    assert resets > 0  # six days of 25 sites include reboots


def test_reboot_takes_every_port_of_the_device_down():
    org = build_org(seed=4, n_sites=40)
    world = World(org)
    ports = org.wan_port_indices()
    boot = world.last_reboot(org.arrays["dev"][ports], np.full(len(ports), T0 + 3 * DAY))
    during = world.state(ports, boot + REBOOT_DOWN_S // 2)
    assert not during["up"].any()
    assert (during["rx_bps"] == 0).all()


def test_truth_shape_and_bounds():
    world = World(build_org(seed=5, n_sites=10))
    ports = world.org.wan_port_indices()
    truth = world.truth(ports, T0, 1440)
    assert len(truth) == len(ports) * 1440
    assert truth["util_pct"].between(0, 100).all()
    assert truth.loc[~truth["up"], "latency_ms"].isna().all()
