"""When a circuit's utilisation will cross a tier, from enough history to say, robust to a spike,
with the uncertainty beside it; or "insufficient history" when there is not. docs/kpis.md,
Capacity forecast.

Each circuit's daily p95 is reduced to weekly medians (a one-day spike moves a median little),
and the Theil–Sen estimator (the median of the slopes between every pair of weeks) gives the
trend; Sen's confidence interval of that median gives the band. The level now is where the
fitted line stands at the last day; the days to the tier follow from the slope and its band.
"""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd

MIN_DAYS = 28  # days with a daily p95: four weeks
MIN_WEEKS = 4
STALE_DAYS = 14  # the latest day with data this far before the end: no forecast
Z_90 = 1.6449  # two-sided 90 % band
CHUNK = 2000  # circuits per pairwise-slope batch (2000 x 57 x 57 floats: 50 MB)

FORECAST_COLUMNS = [
    "circuit_id",
    "history_days",
    "level_pct",
    "slope_per_day",
    "slope_low_per_day",
    "slope_high_per_day",
    "days_to_threshold",
    "days_to_threshold_earliest",
    "days_to_threshold_latest",
    "forecast",
]
STATUSES = (
    "insufficient history",  # under MIN_DAYS days or MIN_WEEKS weeks of daily p95
    "no recent data",  # nothing in the last STALE_DAYS days
    "above threshold",  # the fitted level is at or over the tier already
    "rising",  # the whole band rises: it will cross
    "rising, uncertain",  # the slope rises, the band's low end does not
    "not rising",
)


def capacity_forecast(
    daily: pd.DataFrame,
    end_day,
    threshold: float = 80.0,
    min_days: int = MIN_DAYS,
) -> pd.DataFrame:
    """Per circuit of `daily` (`circuit_id`, `day`, `util_p95_pct`, days up to `end_day`): the
    days of history, the fitted level at `end_day`, the Theil–Sen slope (points per day) and
    its 90 % band, the days until the fitted line crosses `threshold` (and the earliest and
    latest the band allows: empty where it never does), and the `forecast` status."""
    end = pd.Timestamp(str(end_day)[:10]).date()
    rows = daily[["circuit_id", "day", "util_p95_pct"]].dropna(subset=["util_p95_pct"])
    if rows.empty:
        return pd.DataFrame(columns=FORECAST_COLUMNS)
    x = (pd.to_datetime(rows["day"].astype(str)).dt.date - end).map(lambda d: d.days)
    rows = rows.assign(
        circuit_id=rows["circuit_id"].astype(str),
        x=x.astype(np.int64),
        week=(x.astype(np.int64) // 7),
        y=rows["util_p95_pct"].astype(np.float64),
    )
    rows = rows[rows["x"] <= 0]
    weekly = (
        rows.groupby(["circuit_id", "week"], sort=True)
        .agg(x=("x", "mean"), y=("y", "median"))
        .reset_index()
    )
    per = rows.groupby("circuit_id").agg(history_days=("x", "nunique"), last=("x", "max"))
    ids = per.index.to_numpy()
    codes = pd.Categorical(weekly["circuit_id"], categories=ids).codes
    width = int(weekly.groupby("circuit_id").size().max())
    pos = weekly.groupby("circuit_id").cumcount().to_numpy()
    xs = np.full((len(ids), width), np.nan)
    ys = np.full((len(ids), width), np.nan)
    xs[codes, pos], ys[codes, pos] = weekly["x"].to_numpy(), weekly["y"].to_numpy()
    slope, low, high = (
        np.full(len(ids), np.nan),
        np.full(len(ids), np.nan),
        np.full(len(ids), np.nan),
    )
    for start in range(0, len(ids), CHUNK):
        part = slice(start, start + CHUNK)
        slope[part], low[part], high[part] = _theil_sen(xs[part], ys[part])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a circuit of one week has no slope
        intercept = np.nanmedian(ys - slope[:, None] * xs, axis=1)  # the line at the end day
    weeks = (~np.isnan(ys)).sum(axis=1)
    out = pd.DataFrame(
        {
            "circuit_id": ids,
            "history_days": per["history_days"].to_numpy(),
            "level_pct": intercept,
            "slope_per_day": slope,
            "slope_low_per_day": low,
            "slope_high_per_day": high,
        }
    )
    gap = threshold - intercept
    with np.errstate(invalid="ignore", divide="ignore"):
        to_cross = np.where((slope > 0) & (gap > 0), gap / slope, np.nan)
        earliest = np.where((high > 0) & (gap > 0), gap / high, np.nan)
        latest = np.where((low > 0) & (gap > 0), gap / low, np.nan)
    short = (out["history_days"].to_numpy() < min_days) | (weeks < MIN_WEEKS)
    stale = per["last"].to_numpy() < -STALE_DAYS
    status = np.select(
        [short, stale, gap <= 0, low > 0, slope > 0],
        list(STATUSES[:5]),
        STATUSES[5],
    )
    known = ~short & ~stale
    out["days_to_threshold"] = np.where(known, to_cross, np.nan)
    out["days_to_threshold_earliest"] = np.where(known, earliest, np.nan)
    out["days_to_threshold_latest"] = np.where(known, latest, np.nan)
    for col in ("level_pct", "slope_per_day", "slope_low_per_day", "slope_high_per_day"):
        out[col] = np.where(short, np.nan, out[col])
    out["forecast"] = status
    return out[FORECAST_COLUMNS]


def _theil_sen(xs: np.ndarray, ys: np.ndarray):
    """(median slope, low, high) per row of points (NaN-padded): the median of the slopes of
    every pair, and Sen's two-sided 90 % band of that median (ranks from Kendall's variance)."""
    i, j = np.triu_indices(xs.shape[1], k=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        slopes = (ys[:, j] - ys[:, i]) / (xs[:, j] - xs[:, i])
    slopes = np.sort(slopes, axis=1)  # NaN last
    pairs = (~np.isnan(slopes)).sum(axis=1)
    n = (~np.isnan(ys)).sum(axis=1)
    rows = np.arange(len(xs))
    median = np.full(len(xs), np.nan)
    low, high = median.copy(), median.copy()
    ok = pairs > 0
    if not ok.any():
        return median, low, high
    r, m = rows[ok], pairs[ok]
    mid = (m - 1) / 2
    median[ok] = (slopes[r, np.floor(mid).astype(int)] + slopes[r, np.ceil(mid).astype(int)]) / 2
    spread = Z_90 * np.sqrt(n[ok] * (n[ok] - 1) * (2 * n[ok] + 5) / 18)
    lo_rank = np.clip(np.floor((m - spread) / 2).astype(int), 0, m - 1)
    hi_rank = np.clip(np.ceil((m + spread) / 2).astype(int), 0, m - 1)
    low[ok], high[ok] = slopes[r, lo_rank], slopes[r, hi_rank]
    return median, low, high


def month_end(month_start: str) -> dt.date:
    """The last day of the month that starts on `month_start` (YYYY-MM-01)."""
    first = pd.Timestamp(str(month_start)[:10])
    return (first + pd.offsets.MonthEnd(0)).date()
