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


def test_port_events_are_the_changes_of_the_served_state_to_the_second():
    """Every down interval (outages, reboots, one-second flap bounces, injections) is what
    `state` reads: down at its first second, up again at its end, nowhere else in the day."""
    world = World(build_org(seed=5, n_sites=12))
    ports = world.org.wan_port_indices()
    world.inject(int(ports[3]), "flap", T0 + 7200, T0 + 7200 + 1800)
    world.inject(int(ports[4]), "down", T0 + 3 * 3600 + 17, T0 + 4 * 3600 + 3)
    intervals = world.down_intervals(ports, T0, T0 + DAY)
    assert {"down", "up", "port", "circuit_id"} <= set(intervals.columns)
    for row in intervals.itertuples():
        s = world.state(np.array([row.port] * 3), np.array([row.down - 1, row.down, row.up]))
        assert not s["up"][1] and s["up"][2], row
    # random instants: down exactly inside an interval
    rng = np.random.default_rng(3)
    pp = np.repeat(ports, 500)
    tt = rng.integers(T0, T0 + DAY, len(pp))
    down = np.zeros(len(pp), dtype=bool)
    for row in intervals.itertuples():
        down |= (pp == row.port) & (tt >= row.down) & (tt < row.up)
    assert np.array_equal(down, ~world.state(pp, tt, last_flapped=False)["up"])
    # events: a down and an up per interval inside the day; injected flaps bounce every 5 min
    events = world.port_events(ports, T0, T0 + DAY)
    assert len(events) == int(intervals["down"].ge(T0).sum() + intervals["up"].lt(T0 + DAY).sum())
    flapping = events[events["port"] == ports[3]]
    assert ((flapping["ts"] >= T0 + 7200) & (flapping["ts"] < T0 + 9000)).sum() >= 12
    assert (events["ts"].diff().dropna() >= 0).all()
    # the truth's minutes hold every event (they also count overlapping raw events, e.g. a flap
    # inside an outage, which change nothing)
    truth = world.truth(ports, T0, 1440)
    marked = truth[truth["flaps"] > 0]
    minutes = set(
        zip(marked["circuit_id"], marked["ts"].map(lambda x: int(x.timestamp())), strict=True)
    )
    for e in events.itertuples():
        assert (world.org.circuit_id(e.port), e.ts // 60 * 60) in minutes, e
    assert len(events) <= int(truth["flaps"].sum())


def test_vpn_paths_follow_their_port_and_degradations():
    org = build_org(seed=5, n_sites=12)
    world = World(org)
    paths = world.vpn_paths()
    hub = paths[0, 1]
    assert org.arrays["site"][hub] == 0 and (org.arrays["site"][paths[:, 0]] != 0).all()
    t = T0 + 5000
    before = world.path_state(paths, t)
    world.inject(int(paths[0, 0]), "degrade", t - 60, t + 60)
    world.inject(int(paths[1, 0]), "down", t - 60, t + 60)
    after = world.path_state(paths, t)
    assert after["latency"][0] >= before["latency"][0] + 150
    assert after["loss"][0] >= before["loss"][0] + 8 and after["mos"][0] < before["mos"][0]
    assert before["up"][1] and not after["up"][1]
    assert ((after["mos"] >= 1) & (after["mos"] <= 4.5)).all()


def test_site_sle_drops_with_an_outage_on_its_links():
    org = build_org(seed=5, n_sites=12)
    world = World(org)
    site = 3
    ports = [i for i in org.wan_port_indices() if org.arrays["site"][i] == site]
    start = T0 + 10 * 3600
    base = world.site_sle([site], start, start + 3600).iloc[0]
    for p in ports:
        world.inject(int(p), "down", start, start + 1800)  # every link down for half the hour
    hit = world.site_sle([site], start, start + 3600).iloc[0]
    assert hit["wan_link_health"] <= min(0.5, base["wan_link_health"]) + 1e-9
    assert hit["wan_link_health"] < base["wan_link_health"]
    assert hit["application_health"] <= 0.5
    assert hit["gateway_health"] == base["gateway_health"]  # the gateways stayed up


def test_last_reboot_is_the_latest_reboot_of_its_look_back():
    """`last_reboot` hashes each device-day's look-back once; it equals its definition, the
    latest of the 64 days' reboot instants at or before t, for any mix of devices and instants
    (a minute grid, instants on both sides of a day's reboot, many days at once)."""
    from wanperf_dagster.simulator.world import LOOKBACK_DAYS

    world = World(build_org(seed=4, n_sites=60))
    rng = np.random.default_rng(4)
    devs = np.arange(len(world.org.gateways))
    grid = T0 + 60 * np.arange(24 * 60)  # every minute of a day
    cases = [
        (np.repeat(devs, len(grid)), np.tile(grid, len(devs))),
        (rng.choice(devs, 5000), T0 + rng.integers(-90 * DAY, 5 * DAY, 5000)),
        (devs[:1], np.array([T0])),
    ]
    for dv, t in cases:
        days = (t // DAY)[:, None] - np.arange(LOOKBACK_DAYS)[None, :]
        at = world._reboots(dv[:, None], days)
        expected = np.where(at <= t[:, None], at, -1).max(axis=1)
        assert np.array_equal(world.last_reboot(dv, t), expected)
    day_grid = world.last_reboot(np.repeat(devs, len(grid)), np.tile(grid, len(devs)))
    assert (day_grid >= T0).any()  # the day holds reboots: both sides of one are compared
