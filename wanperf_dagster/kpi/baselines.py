"""What is normal for a circuit at this hour of the week: the median and the MAD of its hourly
utilisation, latency and loss at that same hour over the last weeks.

Robust by construction: one bad week moves the median little, and the MAD (scaled by 1.4826 to
read as a standard deviation) is not inflated by it as a standard deviation would be. The hour
is the exact hour of the week, not its neighbours too: a busy hour an hour wide would otherwise
be outvoted by the quiet hours either side. (A daylight-saving change moves a local busy hour by
one UTC hour; for the weeks until the baseline has seen it, the rule may tell of it.)
A circuit-hour seen in fewer than `min_weeks` weeks has no baseline yet: it is *learning*, and
no rule judges it against one.

Hours of the week count from Monday 00:00 UTC (0 .. 167)."""

from __future__ import annotations

import numpy as np
import pandas as pd

METRICS = (  # (baseline name, the hourly KPI column)
    ("util", "util_avg_pct"),
    ("latency", "latency_avg_ms"),
    ("loss", "loss_avg_pct"),
)
HOURS_OF_WEEK = 168
MAD_SCALE = 1.4826  # a normal distribution's sigma per unit of MAD
BASELINE_COLUMNS = [
    "site_id",
    "circuit_id",
    "how",
    "weeks",
    *(f"{name}_{stat}" for name, _ in METRICS for stat in ("median", "mad")),
]


def hour_of_week(epoch_seconds) -> np.ndarray:
    """0 for Monday 00:00-01:00 UTC, 167 for Sunday 23:00-24:00 (1970-01-01 was a Thursday)."""
    hours = np.asarray(epoch_seconds, dtype="int64") // 3600
    return ((hours + 3 * 24) % HOURS_OF_WEEK).astype("int64")


def circuit_baselines(hourly: pd.DataFrame, min_weeks: int = 3) -> pd.DataFrame:
    """Per circuit and hour of the week: how many weeks saw it, and each metric's median and
    MAD over those weeks' values at that hour. `hourly` holds
    `circuit_kpis_hourly` rows (`hour`, the hour's start, `site_id`, `circuit_id` and the metric
    columns)
    of the weeks to learn from. Rows of hours learnt in fewer than `min_weeks` weeks are kept,
    with their `weeks`, and null statistics: learning."""
    if hourly is None or len(hourly) == 0:
        return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in BASELINE_COLUMNS})
    hour = hourly["hour"]
    if pd.api.types.is_datetime64_any_dtype(hour):  # the hour's start, as the KPIs hold it
        start = (pd.to_datetime(hour, utc=True) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1s")
        start = start.to_numpy(dtype="int64")
    else:  # the day and the hour of it
        day = pd.to_datetime(hourly["day"].astype(str)).to_numpy("datetime64[s]").astype("int64")
        start = day + hour.astype("int64").to_numpy() * 3600
    base = pd.DataFrame(
        {
            "site_id": hourly["site_id"].astype(str).to_numpy(),
            "circuit_id": hourly["circuit_id"].astype(str).to_numpy(),
            "how": hour_of_week(start),
            "week": start // (7 * 86400),
        }
    )
    for name, column in METRICS:
        base[name] = pd.to_numeric(hourly[column], errors="coerce").to_numpy(dtype="float64")
    seen = base[base[[m for m, _ in METRICS]].notna().any(axis=1)]
    weeks = seen.groupby(["circuit_id", "how"], sort=False)["week"].nunique().rename("weeks")
    spread = seen
    keys = ["circuit_id", "how"]
    grouped = spread.groupby(keys, sort=False)
    out = grouped["site_id"].last().to_frame()
    for name, _ in METRICS:
        median = grouped[name].median()
        deviation = (spread[name] - spread.set_index(keys).index.map(median).to_numpy()).abs()
        out[f"{name}_median"] = median
        out[f"{name}_mad"] = deviation.groupby([spread[k] for k in keys], sort=False).median()
    out = out.join(weeks, how="inner").reset_index()
    learning = out["weeks"] < min_weeks
    stats = [c for c in BASELINE_COLUMNS if c.endswith(("_median", "_mad"))]
    out.loc[learning, stats] = np.nan
    out["weeks"] = out["weeks"].astype("int64")
    return out[BASELINE_COLUMNS].sort_values(["circuit_id", "how"], ignore_index=True)


def _dtype(column: str) -> str:
    if column in ("site_id", "circuit_id"):
        return "object"
    return "int64" if column in ("how", "weeks") else "float64"


def upper_bound(median, mad, sigmas: float, floor: float):
    """Above this a value is off its baseline: `sigmas` scaled MADs over the median, and at
    least `floor` over it (a circuit that never varies would otherwise trip on any change)."""
    return median + np.fmax(sigmas * MAD_SCALE * mad, floor)
