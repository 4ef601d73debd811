"""Bounds every circuit KPI row must respect, each of which a wrong computation or bad input can
break (none holds by construction: `unknown_minutes` is derived, so it is not checked against the
others; what it is derived from is)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .circuit import QUALITY, QUALITY_TIERS, UTIL_TIERS

MINUTE_COLUMNS = [
    "up_minutes",
    "down_minutes",
    "unknown_minutes",
    "failover_minutes",
    "on_backup_minutes",
    *(f"minutes_above_{t}" for t in UTIL_TIERS),
    *(f"longest_minutes_above_{t}" for t in UTIL_TIERS),
    *(f"{n}_minutes_{tier}" for n, _, _ in QUALITY for tier in QUALITY_TIERS),
]
COUNT_COLUMNS = ["samples", "flaps", "rx_bytes", "tx_bytes", "packets", "errors", "failover_events"]
PERCENT_COLUMNS = [
    "coverage_pct",
    "availability_pct",
    "util_avg_pct",
    "util_p95_pct",
    "util_max_pct",
]
# (avg, p95, max) of each measure: avg and p95 can never exceed max
SPREADS = [("util_avg_pct", "util_p95_pct", "util_max_pct")] + [
    (f"{n}_avg_{u}", f"{n}_p95_{u}", f"{n}_max_{u}") for n, _, u in QUALITY
]
EPS = 1e-9

RULES = {
    "negative_minutes": "a minute count below zero",
    "negative_counts": "a sample, flap, byte, packet, error or failover count below zero",
    "percent_out_of_range": "a percentage outside 0-100",
    "minutes_beyond_bucket": "up + down minutes, or a minutes-above count, longer than the bucket",
    "samples_beyond_slots": "more samples than the bucket has slots",
    "p95_or_avg_above_max": "a p95 or average above the maximum",
    "bytes_beyond_speed": "more bytes than the circuit's speed carries in the minutes the counters span",
    "down_seconds_beyond_bucket": "down or observed seconds below zero or longer than the bucket,"
    " or down seconds longer than the observed",
}


def bounds_violations(
    kpis: pd.DataFrame, interval_minutes: int, bucket_minutes: int = 1440
) -> dict[str, int]:
    """How many rows break each rule of `RULES` (all zero for sound KPIs)."""
    out = dict.fromkeys(RULES, 0)
    if kpis.empty:
        return out

    def num(col: str) -> np.ndarray:
        return pd.to_numeric(kpis[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)

    def rows(mask: np.ndarray) -> int:
        return int(np.count_nonzero(mask))

    with np.errstate(invalid="ignore"):
        minutes = np.column_stack([num(c) for c in MINUTE_COLUMNS])
        out["negative_minutes"] = rows((minutes < 0).any(axis=1))
        counts = np.column_stack([num(c) for c in COUNT_COLUMNS])
        out["negative_counts"] = rows((counts < 0).any(axis=1))
        pct = np.column_stack([num(c) for c in PERCENT_COLUMNS])
        out["percent_out_of_range"] = rows(((pct < 0) | (pct > 100 + EPS)).any(axis=1))
        observed = num("up_minutes") + num("down_minutes")
        above = np.column_stack([num(f"minutes_above_{t}") for t in UTIL_TIERS])
        out["minutes_beyond_bucket"] = rows(
            (observed > bucket_minutes) | (above > bucket_minutes).any(axis=1)
        )
        out["samples_beyond_slots"] = rows(num("samples") > bucket_minutes // interval_minutes)
        spread = np.zeros(len(kpis), dtype=bool)
        for avg, p95, top in SPREADS:
            high = num(top)
            spread |= (num(p95) > high + EPS) | (num(avg) > high + EPS)
        out["p95_or_avg_above_max"] = rows(spread)
        # the deltas span `counter_minutes`; a speed that changed within the bucket gives no
        # single bound
        speed = num("speed_mbps")
        steady = (speed > 0) & (num("speed_changes") == 0)
        capacity = speed * 1e6 / 8 * num("counter_minutes") * 60
        most = np.fmax(num("rx_bytes"), num("tx_bytes"))
        out["bytes_beyond_speed"] = rows(steady & (most > capacity * (1 + 1e-6)))
        if "down_seconds" in kpis:
            down = num("down_seconds")
            seen = num("observed_seconds") if "observed_seconds" in kpis else down
            out["down_seconds_beyond_bucket"] = rows(
                (down < 0) | (seen < 0) | (seen > bucket_minutes * 60) | (down > seen)
            )
    return out
