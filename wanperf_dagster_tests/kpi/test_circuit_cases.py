"""Hand-computed cases for every formula and edge case of the circuit KPIs."""

import math

import numpy as np
import pandas as pd
import pytest

from wanperf_dagster.kpi import KpiConfig, daily_circuit_kpis, hourly_circuit_kpis, kpi_columns
from wanperf_dagster.kpi.circuit import window_circuit_kpis

from .helpers import DAY, samples, util_rows


def one(frame: pd.DataFrame, circuit: str = "aa:ge-0/0/0") -> pd.Series:
    rows = frame[frame["circuit_id"] == circuit]
    assert len(rows) == 1, frame
    return rows.iloc[0]


def test_empty_input_gives_empty_frame_with_contract_columns():
    empty = samples([{"minute": 0}]).iloc[0:0]
    for fn, kind in ((daily_circuit_kpis, "daily"), (hourly_circuit_kpis, "hourly")):
        out = fn(empty, 10)
        assert out.empty and list(out.columns) == kpi_columns(kind)


def test_one_sample_covers_one_interval():
    k = one(daily_circuit_kpis(samples([{"minute": 600, "rx_bps": 50_000_000}]), 10))
    assert (k.samples, k.up_minutes, k.down_minutes, k.unknown_minutes) == (1, 10, 0, 1430)
    assert k.availability_pct == 100.0
    assert k.coverage_pct == pytest.approx(10 / 1440 * 100)
    assert k.util_avg_pct == k.util_p95_pct == k.util_max_pct == 50.0
    assert k.flaps == 0 and k.rx_bytes == 0
    assert str(k.day) == DAY


def test_all_unknown_availability_is_null_not_100():
    """A circuit with samples but no known state (up is null) has no availability."""
    k = one(
        daily_circuit_kpis(samples([{"minute": 0, "up": None}, {"minute": 10, "up": None}]), 10)
    )
    assert k.up_minutes == k.down_minutes == 0 and k.unknown_minutes == 1440
    assert math.isnan(k.availability_pct) and k.coverage_pct == 0


def test_gap_is_unknown_time_and_availability_uses_observed_minutes():
    rows = [
        {"minute": 0},
        {"minute": 10},
        {"minute": 20, "up": False},
        {"minute": 60},
    ]  # 30-50 missing
    k = one(daily_circuit_kpis(samples(rows), 10))
    assert (k.up_minutes, k.down_minutes, k.unknown_minutes) == (30, 10, 1400)
    assert k.availability_pct == pytest.approx(75.0)
    assert k.flaps == 2  # up->down at 20, down->up at 60 (across the gap)


def test_flaps_from_last_flapped_when_state_is_unchanged():
    rows = [
        {"minute": 0, "last_flapped": 100.0},
        {"minute": 10, "last_flapped": 100.0},
        {"minute": 20, "last_flapped": 500.0},  # bounced between samples: one flap
        {"minute": 30, "up": False, "last_flapped": 600.0},  # a transition: one flap, not two
        {"minute": 40, "up": False, "last_flapped": 600.0},
    ]
    assert one(daily_circuit_kpis(samples(rows), 10)).flaps == 2


def test_counter_reset_is_a_reboot_not_negative_traffic():
    rows = [
        {"minute": 0, "rx_bytes": 1_000, "tx_bytes": 10, "rx_pkts": 10, "rx_errors": 0},
        {"minute": 10, "rx_bytes": 5_000, "tx_bytes": 30, "rx_pkts": 50, "rx_errors": 2},
        {"minute": 20, "rx_bytes": 700, "tx_bytes": 5, "rx_pkts": 7, "rx_errors": 0},  # reboot
        {"minute": 30, "rx_bytes": 1_700, "tx_bytes": 15, "rx_pkts": 27, "rx_errors": 1},
    ]
    k = one(daily_circuit_kpis(samples(rows), 10))
    assert k.rx_bytes == 4_000 + 700 + 1_000
    assert k.tx_bytes == 20 + 5 + 10
    assert k.packets == 40 + 7 + 20 and k.errors == 2 + 0 + 1
    assert k.error_rate == pytest.approx(3 / 67)


def test_speed_zero_or_null_gives_null_utilisation():
    rows = [
        {"minute": 0, "speed_mbps": 0, "rx_bps": 5},
        {"minute": 10, "speed_mbps": None, "rx_bps": 5},
    ]
    k = one(daily_circuit_kpis(samples(rows), 10))
    assert k.util_samples == 0 and math.isnan(k.util_avg_pct) and math.isnan(k.util_p95_pct)
    assert k.minutes_above_70 == 0 and k.up_minutes == 20


def test_utilisation_is_max_of_rx_tx_capped_at_100():
    rows = [
        {"minute": 0, "rx_bps": 10_000_000, "tx_bps": 30_000_000},
        {"minute": 10, "rx_bps": 250_000_000},
    ]
    k = one(daily_circuit_kpis(samples(rows), 10))
    assert k.util_max_pct == 100.0 and k.util_avg_pct == pytest.approx(65.0)


def test_thresholds_cumulative_and_longest_continuous():
    utils = [75, 85, 95, 60, 71, None, 72, 73, 91]  # minute 50 missing: the run breaks there
    k = one(daily_circuit_kpis(samples(util_rows(utils)), 10))
    assert k.minutes_above_70 == 10 * 7
    assert k.minutes_above_80 == 10 * 3
    assert k.minutes_above_90 == 10 * 2
    assert k.longest_minutes_above_70 == 30  # 75, 85, 95 (71 is alone; 72, 73, 91 after the gap)
    assert k.longest_minutes_above_80 == 20
    assert k.longest_minutes_above_90 == 10
    assert k.util_band == "critical" and k.util_thresholds == "70/80/90"


def test_p95_is_linear_interpolation():
    utils = list(range(1, 21))  # 1..20 %
    k = one(daily_circuit_kpis(samples(util_rows(utils)), 10))
    assert k.util_p95_pct == pytest.approx(np.percentile(np.arange(1, 21), 95))


def test_region_overrides_thresholds():
    rows = util_rows([65, 65, 65], region="EMEA")
    cfg = KpiConfig(region_util_thresholds={"EMEA": (60.0, 75.0, 85.0)})
    k = one(daily_circuit_kpis(samples(rows), 10, cfg))
    assert (
        k.minutes_above_70 == 30 and k.util_thresholds == "60/75/85" and k.util_band == "elevated"
    )
    other = one(daily_circuit_kpis(samples(util_rows([65, 65, 65], region="AMER")), 10, cfg))
    assert other.minutes_above_70 == 0
    assert KpiConfig(site_regions={"s1": "EMEA"}).thresholds_for("EMEA") == (70.0, 80.0, 90.0)


def test_quality_stats_and_tier_minutes_ignore_down_samples():
    rows = [
        {"minute": 0, "jitter_ms": 5.0, "latency_ms": 40.0, "loss_pct": 0.0},
        {"minute": 10, "jitter_ms": 35.0, "latency_ms": 120.0, "loss_pct": 0.6},
        {"minute": 20, "jitter_ms": 55.0, "latency_ms": 160.0, "loss_pct": 2.0},
        {"minute": 30, "up": False, "jitter_ms": 999.0, "latency_ms": 999.0, "loss_pct": 100.0},
    ]
    k = one(daily_circuit_kpis(samples(rows), 10))
    assert k.quality_samples == 3
    assert k.jitter_avg_ms == pytest.approx(95 / 3) and k.jitter_max_ms == 55.0
    assert k.latency_p95_ms == pytest.approx(np.percentile([40, 120, 160], 95))
    assert (k.jitter_minutes_warn, k.jitter_minutes_high, k.jitter_minutes_critical) == (20, 20, 10)
    assert (k.latency_minutes_warn, k.latency_minutes_high, k.latency_minutes_critical) == (
        20,
        20,
        10,
    )
    assert (k.loss_minutes_warn, k.loss_minutes_high, k.loss_minutes_critical) == (20, 20, 10)


def test_circuit_appearing_mid_day():
    k = one(daily_circuit_kpis(samples([{"minute": m} for m in range(720, 1440, 10)]), 10))
    assert (k.up_minutes, k.unknown_minutes, k.samples) == (720, 720, 72)
    assert k.availability_pct == 100.0 and k.coverage_pct == 50.0


def test_two_circuits_interleaved_and_duplicates_dropped():
    rows = []
    for m in range(0, 60, 10):
        rows.append({"minute": m, "circuit": "aa:ge-0/0/0", "up": m != 20})
        rows.append({"minute": m, "circuit": "aa:ge-0/0/1", "rx_bps": 80_000_000})
    rows.append(
        {"minute": 10, "second": 40, "circuit": "aa:ge-0/0/1", "rx_bps": 90_000_000}
    )  # re-swept slot
    out = daily_circuit_kpis(samples(rows[::-1]), 10)
    a, b = one(out, "aa:ge-0/0/0"), one(out, "aa:ge-0/0/1")
    assert (a.up_minutes, a.down_minutes, a.flaps) == (50, 10, 2)
    assert b.samples == 6 and b.util_max_pct == 90.0  # the later sample of the slot wins
    assert a.role == "primary" and b.role == "secondary"


def test_failover_minutes_and_events():
    """The secondary takes the primary's 5 Mbit/s on top of its own 2 while the primary is down."""
    rows = []
    for m, primary_up in zip(range(0, 80, 10), [1, 0, 0, 1, 1, 0, 1, 1], strict=True):
        rows.append(
            {
                "minute": m,
                "circuit": "aa:ge-0/0/0",
                "up": bool(primary_up),
                "rx_bps": 5_000_000 * primary_up,
            }
        )
        rows.append(
            {
                "minute": m,
                "circuit": "aa:ge-0/0/1",
                "rx_bps": 2_000_000 + 5_000_000 * (1 - primary_up),
            }
        )
    rows.append({"minute": 90, "circuit": "aa:ge-0/0/1", "rx_bps": 7_000_000})  # primary unknown
    out = daily_circuit_kpis(samples(rows), 10)
    sec = one(out, "aa:ge-0/0/1")
    assert sec.failover_minutes == 30 and sec.failover_events == 2
    primary = one(out, "aa:ge-0/0/0")
    assert primary.failover_minutes == 0 and primary.on_backup_minutes == 30
    assert sec.on_backup_minutes == 0


def test_failover_goes_to_the_circuit_that_took_the_load_not_every_secondary():
    """Three WAN circuits: while the primary is down, the backup's traffic jumps by the primary's
    load; the third keeps carrying its own. Only the backup failed over; the site ran on backup
    for the whole outage (30 minutes), counted once."""
    rows = []
    for m in range(0, 90, 10):
        down = 30 <= m < 60
        rows.append(
            {"minute": m, "circuit": "aa:ge-0/0/0", "up": not down, "rx_bps": 0 if down else 40e6}
        )
        rows.append({"minute": m, "circuit": "aa:ge-0/0/1", "rx_bps": 45e6 if down else 5e6})
        # the third circuit is busier than the backup's own traffic, with ~5 % noise
        rows.append({"minute": m, "circuit": "aa:ge-0/0/2", "rx_bps": 30e6 + (m % 20) * 1e5})
    out = daily_circuit_kpis(samples(rows), 10)
    assert one(out, "aa:ge-0/0/1").failover_minutes == 30
    assert one(out, "aa:ge-0/0/2").failover_minutes == 0
    assert one(out, "aa:ge-0/0/0").on_backup_minutes == 30
    assert out["failover_minutes"].sum() == out["on_backup_minutes"].sum()


def test_failover_stays_with_the_taker_when_another_circuit_bursts_later():
    rows = []
    for m in range(0, 90, 10):
        down = 20 <= m < 70
        rows.append(
            {"minute": m, "circuit": "aa:ge-0/0/0", "up": not down, "rx_bps": 0 if down else 40e6}
        )
        rows.append({"minute": m, "circuit": "aa:ge-0/0/1", "rx_bps": 45e6 if down else 5e6})
        # a congestion burst on the third circuit from minute 40: a bigger rise, but later
        rows.append({"minute": m, "circuit": "aa:ge-0/0/2", "rx_bps": 90e6 if m >= 40 else 10e6})
    out = daily_circuit_kpis(samples(rows), 10)
    assert one(out, "aa:ge-0/0/1").failover_minutes == 50
    assert one(out, "aa:ge-0/0/2").failover_minutes == 0


def test_when_the_taker_goes_down_the_next_circuit_that_took_load_is_credited():
    rows = []
    for m in range(0, 70, 10):
        down = 20 <= m < 60
        backup_up = m < 40
        rows.append(
            {"minute": m, "circuit": "aa:ge-0/0/0", "up": not down, "rx_bps": 0 if down else 40e6}
        )
        rows.append(
            {
                "minute": m,
                "circuit": "aa:ge-0/0/1",
                "up": backup_up,
                "rx_bps": (45e6 if down else 5e6) if backup_up else 0,
            }
        )
        third = 45e6 if (down and not backup_up) else 5e6  # takes over when the backup fails
        rows.append({"minute": m, "circuit": "aa:ge-0/0/2", "rx_bps": third})
    out = daily_circuit_kpis(samples(rows), 10)
    assert one(out, "aa:ge-0/0/1").failover_minutes == 20  # minutes 20-39
    assert one(out, "aa:ge-0/0/2").failover_minutes == 20  # minutes 40-59
    assert one(out, "aa:ge-0/0/0").on_backup_minutes == 40


def _outage_site(secondaries: dict, primary_bps: float, down=(30, 60), minutes=90, speed=1000):
    """A site whose primary (ge-0/0/0) is down in [down); `secondaries` maps a circuit to
    (speed Mbit/s, its traffic at minute m as a function)."""
    rows = []
    for m in range(0, minutes, 10):
        is_down = down[0] <= m < down[1]
        rows.append(
            {
                "minute": m,
                "circuit": "aa:ge-0/0/0",
                "up": not is_down,
                "speed_mbps": speed,
                "rx_bps": 0 if is_down else primary_bps,
            }
        )
        for circuit, (mbps, traffic) in secondaries.items():
            rows.append(
                {"minute": m, "circuit": circuit, "speed_mbps": mbps, "rx_bps": traffic(m, is_down)}
            )
    return daily_circuit_kpis(samples(rows), 10)


def test_a_small_primary_failing_onto_a_busy_big_backup_is_failover():
    """0.7 Mbit/s moving onto a 10 G link at 3 Gbit/s is lost in its noise: the rise is judged
    against the load the primary lost, and the only place it can go is the backup."""
    noise = [0.0, 3e8, -2e8, 1e8, -3e8, 2e8, -1e8, 0.0, 2e8]
    out = _outage_site(
        {"aa:xe-0/0/1": (10_000, lambda m, d: 3e9 + noise[m // 10] + (7e5 if d else 0))},
        primary_bps=7e5,
        speed=10,
    )
    assert one(out, "aa:xe-0/0/1").failover_minutes == 30
    assert one(out, "aa:ge-0/0/0").on_backup_minutes == 30


def test_a_saturated_lte_backup_beats_a_busy_links_daytime_growth():
    """The primary loses 200 Mbit/s; the LTE backup (50 Mbit/s) fills up, all it can take; a
    10 G link next in the site's order grows by 80 Mbit/s a slot through the morning, more than
    the LTE rose, but far from the 200 it would have taken. The LTE failed over."""
    out = _outage_site(
        {
            "aa:ge-0/0/1": (10_000, lambda m, d: 1.5e9 + m * 8e6),
            "aa:lte0": (50, lambda m, d: 50e6 if d else 2e6),
        },
        primary_bps=200e6,
    )
    assert one(out, "aa:lte0").failover_minutes == 30
    assert one(out, "aa:ge-0/0/1").failover_minutes == 0


def test_when_the_traffic_cannot_tell_the_designated_backup_is_credited():
    """Two busy secondaries whose own swings dwarf a 1 Mbit/s load: neither rise says who took
    it, so the next circuit in the site's order (the designated backup) is credited."""
    swing = [0.0, 4e8, -3e8, 2e8, -4e8, 3e8, -2e8, 1e8, 0.0]
    out = _outage_site(
        {
            "aa:ge-0/0/1": (10_000, lambda m, d: 2e9 + swing[m // 10]),
            "aa:ge-0/0/2": (10_000, lambda m, d: 2e9 - swing[m // 10]),
        },
        primary_bps=1e6,
    )
    assert one(out, "aa:ge-0/0/1").failover_minutes == 30
    assert one(out, "aa:ge-0/0/2").failover_minutes == 0


def test_an_outage_that_began_before_the_data_goes_to_the_designated_backup():
    """The primary is down from the first sample (the outage began before the data: the day a
    sweep first saw the site). The load it lost and each secondary's level are then known only
    from after the outage, an hour later: the backup's own traffic grew meanwhile, the third
    circuit's fell by about the load, so the third *looks* like it rose by the load. The
    traffic cannot tell: the designated backup, up and carrying, is credited (the simulator's
    truth: the first secondary up carries the load)."""
    rows = []
    for m in range(0, 90, 10):
        down = m < 50
        rows.append(
            {"minute": m, "circuit": "aa:ge-0/0/0", "up": not down, "rx_bps": 0 if down else 40e6}
        )
        own = 5e6 + m * 1e6  # the backup's own traffic, growing
        rows.append({"minute": m, "circuit": "aa:ge-0/0/1", "rx_bps": own + (40e6 if down else 0)})
        rows.append({"minute": m, "circuit": "aa:ge-0/0/2", "rx_bps": 100e6 - m * 0.8e6})
    out = daily_circuit_kpis(samples(rows), 10)
    assert one(out, "aa:ge-0/0/1").failover_minutes == 50
    assert one(out, "aa:ge-0/0/2").failover_minutes == 0
    assert one(out, "aa:ge-0/0/0").on_backup_minutes == 50


def test_no_failover_where_the_primary_carried_nothing_but_the_site_ran_on_backup():
    out = _outage_site({"aa:ge-0/0/1": (100, lambda m, d: 5e6)}, primary_bps=0)
    assert one(out, "aa:ge-0/0/1").failover_minutes == 0
    assert one(out, "aa:ge-0/0/0").on_backup_minutes == 30


def test_hourly_rows_split_the_day_and_sum_to_daily():
    rows = util_rows([75] * 12, start_minute=30) + [{"minute": 200, "up": False}]
    daily = one(daily_circuit_kpis(samples(rows), 10))
    hourly = hourly_circuit_kpis(samples(rows), 10)
    assert list(hourly["hour"].dt.hour) == [0, 1, 2, 3]
    assert (hourly["up_minutes"] + hourly["down_minutes"] + hourly["unknown_minutes"] == 60).all()
    for col in ("up_minutes", "down_minutes", "minutes_above_70", "flaps", "samples"):
        assert hourly[col].sum() == daily[col]
    assert hourly.iloc[0].longest_minutes_above_70 == 30  # minutes 30-59 of hour 0


def test_interval_must_divide_an_hour_and_columns_are_checked():
    with pytest.raises(ValueError, match="divide 60"):
        daily_circuit_kpis(samples([{"minute": 0}]), 7)
    with pytest.raises(ValueError, match="required column"):
        daily_circuit_kpis(pd.DataFrame({"ts": []}), 10)


def test_window_kpis_over_any_span():
    rows = util_rows([50] * 30)  # 00:00-04:50
    w = window_circuit_kpis(samples(rows), 10, f"{DAY} 02:00", f"{DAY} 05:00")
    k = one(w)
    assert (k.samples, k.up_minutes, k.unknown_minutes) == (18, 180, 0)
    assert k.window_start == pd.Timestamp(f"{DAY} 02:00", tz="UTC")


def test_arrow_input_is_accepted():
    import pyarrow as pa

    df = samples(util_rows([10, 20]))
    a = daily_circuit_kpis(pa.Table.from_pandas(df, preserve_index=False), 10)
    pd.testing.assert_frame_equal(a, daily_circuit_kpis(df, 10))


def test_a_missing_counter_value_loses_no_volume():
    """The sample after a missing counter takes the whole increase since the last known value."""
    rows = [
        {"minute": 0, "rx_bytes": 1_000},
        {"minute": 10, "rx_bytes": None},
        {"minute": 20, "rx_bytes": 4_000},
        {"minute": 30, "rx_bytes": 4_500},
    ]
    out = one(daily_circuit_kpis(samples(rows), 10))
    assert out.rx_bytes == 3_500 and out.counter_minutes == 30


def test_speed_is_the_last_samples_and_changes_are_counted():
    rows = util_rows([50, 50, 50]) + [
        {"minute": 30, "speed_mbps": 10, "rx_bps": 5_000_000},
        {"minute": 40, "speed_mbps": 10, "rx_bps": 5_000_000},
    ]
    out = one(daily_circuit_kpis(samples(rows), 10))
    # utilisation is per sample against that sample's speed: 50 % throughout
    assert out.speed_mbps == 10 and out.speed_changes == 1
    assert out.util_max_pct == 50 and out.util_p95_pct == 50


def test_utilisation_of_a_sample_with_unknown_state_is_unknown():
    rows = util_rows([80, 80]) + [{"minute": 20, "up": None, "rx_bps": 90_000_000}]
    out = one(daily_circuit_kpis(samples(rows), 10))
    assert out.util_samples == 2 and out.util_max_pct == 80 and out.unknown_minutes == 1440 - 20


def test_of_two_samples_at_one_instant_the_choice_never_depends_on_row_order():
    rows = [{"minute": 0, "rx_bps": 10_000_000}, {"minute": 0, "rx_bps": 60_000_000}]
    forward = one(daily_circuit_kpis(samples(rows), 10))
    backward = one(daily_circuit_kpis(samples(rows[::-1]), 10))
    assert forward.samples == 1 and forward.util_max_pct == backward.util_max_pct


def test_a_previous_day_gives_the_first_interval_its_start_and_makes_no_rows():
    """The pair 23:50 -> 00:00 counts on the later day: its bytes and its flap."""
    before = samples([{"minute": 1430, "rx_bytes": 1_000, "last_flapped": 100.0}], day="2026-11-25")
    day = samples(
        [
            {"minute": 0, "rx_bytes": 9_000, "last_flapped": 200.0},
            {"minute": 10, "rx_bytes": 10_000, "last_flapped": 200.0},
        ]
    )
    both = pd.concat([before, day], ignore_index=True)
    alone = one(daily_circuit_kpis(day, 10))
    joined = daily_circuit_kpis(both, 10, days=["2026-11-26"])
    assert list(joined["day"].astype(str)) == ["2026-11-26"]
    row = one(joined)
    assert (alone.rx_bytes, alone.flaps) == (1_000, 0)
    assert (row.rx_bytes, row.flaps, row.counter_minutes) == (9_000, 1, 20)
    whole = daily_circuit_kpis(both, 10).set_index("day")
    assert whole.loc[pd.Timestamp("2026-11-26").date(), "rx_bytes"] == row.rx_bytes
