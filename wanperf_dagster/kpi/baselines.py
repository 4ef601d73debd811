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
    MAD over those weeks' values at that hour. `hourly` holds `circuit_kpis_hourly` rows
    (`hour`, the hour's start, `site_id`, `circuit_id` and the metric columns) of the weeks to
    learn from. Rows of hours learnt in fewer than `min_weeks` weeks are kept, with their
    `weeks`, and null statistics: learning.

    In numpy over integer keys (circuit x hour of the week), each median by one sort: a month of
    a 2,000-site org is 3.2 million hourly rows, which pandas' grouped medians over string keys
    took 11 s and 2 GiB to learn."""
    if hourly is None or len(hourly) == 0:
        return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in BASELINE_COLUMNS})
    start = _hour_starts(hourly)
    ids = hourly["circuit_id"]
    circuits = ids.cat if isinstance(ids.dtype, pd.CategoricalDtype) else pd.Categorical(ids)
    codes = np.asarray(circuits.codes, dtype=np.int64)
    key = codes * HOURS_OF_WEEK + hour_of_week(start)
    week = start // (7 * 86400)
    values = {
        name: pd.to_numeric(hourly[column], errors="coerce").to_numpy(dtype="float64")
        for name, column in METRICS
    }
    seen = np.zeros(len(key), dtype=bool)
    for v in values.values():
        seen |= ~np.isnan(v)
    # weeks per key: the distinct (key, week) pairs among the hours seen
    span = int(week.max() - week.min()) + 1
    pairs = np.sort(key[seen] * span + (week[seen] - week.min()))  # sorted, not hashed:
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]  # numpy's hashed unique took 3.6 s
    keys, weeks = np.unique(pairs // span, return_counts=True)
    out = pd.DataFrame({"key": keys, "weeks": weeks.astype("int64")})
    for name, v in values.items():
        median, mad = _median_and_mad(key, v, keys)
        out[f"{name}_median"], out[f"{name}_mad"] = median, mad
    code = keys // HOURS_OF_WEEK
    # each circuit's site: the site of one of its rows (a circuit is one gateway's port)
    present, first_row = np.unique(codes, return_index=True)
    sites = np.asarray(hourly["site_id"].iloc[first_row].astype(str), dtype=object)
    out["circuit_id"] = np.asarray(circuits.categories.astype(str), dtype=object)[code]
    out["site_id"] = sites[np.searchsorted(present, code)]
    out["how"] = (keys % HOURS_OF_WEEK).astype("int64")
    stats = [c for c in BASELINE_COLUMNS if c.endswith(("_median", "_mad"))]
    out.loc[out["weeks"] < min_weeks, stats] = np.nan
    return out[BASELINE_COLUMNS].sort_values(["circuit_id", "how"], ignore_index=True)


def _hour_starts(hourly: pd.DataFrame) -> np.ndarray:
    hour = hourly["hour"]
    if pd.api.types.is_datetime64_any_dtype(hour):  # the hour's start, as the KPIs hold it
        stamps = pd.to_datetime(hour, utc=True)
        return ((stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1s")).to_numpy("int64")
    day = pd.to_datetime(hourly["day"].astype(str)).to_numpy("datetime64[s]").astype("int64")
    return day + hour.astype("int64").to_numpy() * 3600


def _median_and_mad(key: np.ndarray, v: np.ndarray, keys: np.ndarray):
    """Per key of `keys`: the median of its non-null values and the median of their absolute
    deviations from it (NaN where it has none)."""
    ok = ~np.isnan(v)
    k, x = key[ok], v[ok]
    median = _grouped_median(k, x, keys)
    deviation = np.abs(x - median[np.searchsorted(keys, k)])
    return median, _grouped_median(k, deviation, keys)


def _grouped_median(k: np.ndarray, x: np.ndarray, keys: np.ndarray) -> np.ndarray:
    out = np.full(len(keys), np.nan)
    if len(k) == 0:
        return out
    order = np.lexsort((x, k))
    ks, xs = k[order], x[order]
    starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    counts = np.diff(np.r_[starts, len(ks)])
    lower, upper = xs[starts + (counts - 1) // 2], xs[starts + counts // 2]
    out[np.searchsorted(keys, ks[starts])] = (lower + upper) / 2
    return out


def _dtype(column: str) -> str:
    if column in ("site_id", "circuit_id"):
        return "object"
    return "int64" if column in ("how", "weeks") else "float64"


def upper_bound(median, mad, sigmas: float, floor: float):
    """Above this a value is off its baseline: `sigmas` scaled MADs over the median, and at
    least `floor` over it (a circuit that never varies would otherwise trip on any change)."""
    return median + np.fmax(sigmas * MAD_SCALE * mad, floor)
