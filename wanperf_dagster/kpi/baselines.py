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

import warnings

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
    `weeks`, and null statistics: learning. (`BaselineLearner` takes the weeks one at a time.)"""
    if hourly is None or len(hourly) == 0:
        return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in BASELINE_COLUMNS})
    start = _hour_starts(hourly)
    first = int(start.min()) // 86400 * 86400
    learner = BaselineLearner(first, int(start.max() - first) // (7 * 86400) + 1)
    learner.add(hourly)
    return learner.result(min_weeks)


class BaselineLearner:
    """The weeks of hourly KPIs one slice at a time, into one value a circuit, hour of the week
    and week (a week of hourly KPIs holds each circuit's hour of the week once): what is kept
    is those values, not the rows read, so four weeks of 10,000 sites stay a few hundred MiB.
    The medians are numpy's over the weeks' axis. Weeks are the 7-day spans from `start`."""

    def __init__(self, start: int, weeks: int):
        self.start, self.weeks = int(start), max(int(weeks), 1)
        self.index: dict[str, int] = {}  # circuit id -> its row
        self.site: list[str] = []
        self.values = {name: np.empty((0, HOURS_OF_WEEK, self.weeks)) for name, _ in METRICS}

    def add(self, hourly: pd.DataFrame) -> None:
        if hourly is None or len(hourly) == 0:
            return
        start = _hour_starts(hourly)
        week = (start - self.start) // (7 * 86400)
        inside = (week >= 0) & (week < self.weeks)
        ids = hourly["circuit_id"]
        circuits = ids.cat if isinstance(ids.dtype, pd.CategoricalDtype) else pd.Categorical(ids)
        names = np.asarray(circuits.categories.astype(str), dtype=object)
        codes = np.asarray(circuits.codes, dtype=np.int64)
        present, first_row = np.unique(codes[codes >= 0], return_index=True)
        sites = hourly["site_id"].iloc[np.flatnonzero(codes >= 0)[first_row]].astype(str)
        for name, site in zip(names[present], sites, strict=True):
            if name not in self.index:
                self.index[name] = len(self.site)
                self.site.append(site)
        rows_of = np.full(len(names), -1, dtype=np.int64)
        rows_of[present] = [self.index[n] for n in names[present]]
        grow = len(self.site) - len(next(iter(self.values.values())))
        for name in self.values:
            if grow > 0:
                pad = np.full((grow, HOURS_OF_WEEK, self.weeks), np.nan)
                self.values[name] = np.concatenate([self.values[name], pad])
        row = np.where(codes >= 0, rows_of[np.maximum(codes, 0)], -1)
        keep = inside & (row >= 0)
        row, how, week = row[keep], hour_of_week(start[keep]), week[keep]
        for name, column in METRICS:
            v = pd.to_numeric(hourly[column], errors="coerce").to_numpy(dtype="float64")[keep]
            ok = ~np.isnan(v)
            self.values[name][row[ok], how[ok], week[ok]] = v[ok]

    def result(self, min_weeks: int) -> pd.DataFrame:
        if not self.site:
            return circuit_baselines(None, min_weeks)
        seen = np.zeros(next(iter(self.values.values())).shape, dtype=bool)
        for v in self.values.values():
            seen |= ~np.isnan(v)
        weeks = seen.sum(axis=2)  # circuits x hours of the week
        circuit, how = np.nonzero(weeks)
        out = pd.DataFrame(
            {
                "site_id": np.asarray(self.site, dtype=object)[circuit],
                "circuit_id": np.asarray(list(self.index), dtype=object)[circuit],
                "how": how.astype("int64"),
                "weeks": weeks[circuit, how].astype("int64"),
            }
        )
        learnt = out["weeks"].to_numpy() >= min_weeks
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: a metric never reported
            for name, v in self.values.items():
                x = v[circuit, how]  # the kept hours x their weeks
                median = np.nanmedian(x, axis=1)
                mad = np.nanmedian(np.abs(x - median[:, None]), axis=1)
                out[f"{name}_median"] = np.where(learnt, median, np.nan)
                out[f"{name}_mad"] = np.where(learnt, mad, np.nan)
        return out[BASELINE_COLUMNS].sort_values(["circuit_id", "how"], ignore_index=True)


def _hour_starts(hourly: pd.DataFrame) -> np.ndarray:
    hour = hourly["hour"]
    if pd.api.types.is_datetime64_any_dtype(hour):  # the hour's start, as the KPIs hold it
        stamps = pd.to_datetime(hour, utc=True)
        return ((stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1s")).to_numpy("int64")
    day = pd.to_datetime(hourly["day"].astype(str)).to_numpy("datetime64[s]").astype("int64")
    return day + hour.astype("int64").to_numpy() * 3600


def _dtype(column: str) -> str:
    if column in ("site_id", "circuit_id"):
        return "object"
    return "int64" if column in ("how", "weeks") else "float64"


def upper_bound(median, mad, sigmas: float, floor: float):
    """Above this a value is off its baseline: `sigmas` scaled MADs over the median, and at
    least `floor` over it (a circuit that never varies would otherwise trip on any change)."""
    return median + np.fmax(sigmas * MAD_SCALE * mad, floor)
