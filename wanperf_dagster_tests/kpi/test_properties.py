"""Properties that must hold for any samples (hypothesis)."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wanperf_dagster.kpi import daily_circuit_kpis, period_circuit_kpis
from wanperf_dagster.kpi.circuit import window_circuit_kpis

from .helpers import samples

CIRCUITS = ["aa:ge-0/0/0", "aa:ge-0/0/1", "bb:ge-0/0/0"]

sample_rows = st.lists(
    st.fixed_dictionaries(
        {
            "minute": st.integers(0, 3 * 1440 - 1),
            "circuit": st.sampled_from(CIRCUITS),
            "up": st.sampled_from([True, True, True, False, None]),
            "rx_bps": st.integers(0, 200_000_000),
            "speed_mbps": st.sampled_from([0, 10, 100, 1000]),
            "rx_bytes": st.integers(0, 10**12),
            "last_flapped": st.sampled_from([1.0, 2.0, 3.0]),
            "latency_ms": st.one_of(st.none(), st.floats(0, 500)),
        }
    ),
    max_size=120,
)


def _frame(rows):
    for r in rows:
        r["site"] = r["circuit"][:2]
    return samples(rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample_rows)
def test_minutes_add_up_and_availability_is_bounded(rows):
    out = daily_circuit_kpis(_frame(rows), 10)
    assert ((out["up_minutes"] + out["down_minutes"] + out["unknown_minutes"]) == 1440).all()
    avail = out["availability_pct"].dropna()
    assert ((avail >= 0) & (avail <= 100)).all()
    assert (out["util_max_pct"].dropna() <= 100).all()
    assert (out["rx_bytes"] >= 0).all()
    known = out["up_minutes"] + out["down_minutes"]
    assert (out["availability_pct"].isna() == (known == 0)).all()


@settings(max_examples=40, deadline=None)
@given(sample_rows, st.randoms(use_true_random=False))
def test_results_do_not_depend_on_row_order(rows, rnd):
    df = _frame(rows)
    shuffled = df.sample(frac=1.0, random_state=rnd.randint(0, 10**6)).reset_index(drop=True)
    a = daily_circuit_kpis(df, 10)
    b = daily_circuit_kpis(shuffled, 10)
    pd.testing.assert_frame_equal(a, b)


@settings(max_examples=40, deadline=None)
@given(sample_rows)
def test_weekly_rollup_of_daily_rows_equals_kpis_of_the_weeks_samples(rows):
    """Where the definition says so: minutes, samples, flaps, bytes, threshold minutes,
    availability, averages and maxima. (Percentiles and longest runs are approximations.)"""
    df = _frame(rows)
    if df.empty:
        return
    daily = daily_circuit_kpis(df, 10)
    weekly = period_circuit_kpis(daily, "W")
    # the three days 2026-11-26..28 lie in the ISO week starting Monday 2026-11-23
    days = sorted(daily["day"].unique())
    direct = window_circuit_kpis(
        df, 10, str(days[0]), pd.Timestamp(str(days[-1])) + pd.Timedelta(days=1)
    )
    w = weekly.set_index("circuit_id").sort_index()
    d = direct.set_index("circuit_id").sort_index()
    for col in (
        "up_minutes",
        "down_minutes",
        "unknown_minutes",
        "samples",
        "flaps",
        "rx_bytes",
        "minutes_above_70",
        "minutes_above_90",
        "failover_minutes",
        "util_samples",
    ):
        assert (w[col].to_numpy() == d[col].to_numpy()).all(), col
    for col in (
        "availability_pct",
        "util_avg_pct",
        "util_max_pct",
        "latency_avg_ms",
        "coverage_pct",
    ):
        np.testing.assert_allclose(
            w[col].to_numpy(dtype=float), d[col].to_numpy(dtype=float), rtol=1e-9, err_msg=col
        )
