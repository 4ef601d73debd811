"""Rollups of circuit KPI rows: site / region / org per day, weekly and monthly per circuit,
operational windows, top-N and chronic offenders, trends.

Weighting: minutes, seconds, bytes, packets, errors and counts are summed; availability (from
down and observed seconds), coverage and error rate are recomputed from the sums (never an
average of percentages); averages are weighted by their sample counts; maxima are maxima.
Percentiles cannot be rolled up exactly from daily rows: a rolled up p95 is the sample-weighted
mean of the daily p95s (see docs/kpis.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .circuit import QUALITY, window_circuit_kpis
from .config import DEFAULT_CONFIG, QUALITY_TIERS, UTIL_TIERS, KpiConfig

LOWER_IS_WORSE = {"availability_pct", "coverage_pct"}

# the second KPI that orders circuits tied on the first (worse first)
# (down time is always the exact `down_seconds`: every surface shows the one down figure)
TIE_BREAKERS = {
    "availability_pct": "down_seconds",
    "coverage_pct": "unknown_minutes",
    "util_p95_pct": "minutes_above_90",
    "util_avg_pct": "util_p95_pct",
    "util_max_pct": "minutes_above_90",
    "minutes_above_70": "util_p95_pct",
    "minutes_above_80": "util_p95_pct",
    "minutes_above_90": "util_p95_pct",
    "flaps": "down_seconds",
    "down_seconds": "flaps",
    "down_minutes": "flaps",
    "failover_minutes": "failover_events",
    "failover_seconds": "failover_events",
    "on_backup_minutes": "down_seconds",
    "on_backup_seconds": "down_seconds",
}


def tie_breaker(kpi: str) -> str:
    """The KPI that orders circuits tied on `kpi`: its listed one, else the seconds down."""
    return TIE_BREAKERS.get(kpi, "down_seconds" if kpi != "down_seconds" else "flaps")


_SUMS = [
    "samples",
    "speed_changes",
    "counter_minutes",
    "up_minutes",
    "down_minutes",
    "down_seconds",
    "observed_seconds",
    "unknown_seconds",
    "offline_seconds",
    "event_contradictions",
    "flaps",
    "util_samples",
    "rx_bytes",
    "tx_bytes",
    "packets",
    "errors",
    "quality_samples",
    "failover_minutes",
    "failover_events",
    "on_backup_minutes",
    "failover_seconds",
    "on_backup_seconds",
    *(f"minutes_above_{t}" for t in UTIL_TIERS),
    *(f"{n}_minutes_{tier}" for n, _, _ in QUALITY for tier in QUALITY_TIERS),
]
_MAXES = [
    "util_max_pct",
    *(f"longest_minutes_above_{t}" for t in UTIL_TIERS),
    *(f"{n}_max_{u}" for n, _, u in QUALITY),
]
# weighted means: column -> its weight column
_WEIGHTED = {
    "util_avg_pct": "util_samples",
    "util_p95_pct": "util_samples",
    **{f"{n}_avg_{u}": "quality_samples" for n, _, u in QUALITY},
    **{f"{n}_p95_{u}": "quality_samples" for n, _, u in QUALITY},
}


def _named(keys: list[str], frame: pd.DataFrame) -> list[str]:
    """The keys with `site_name` beside `site_id` when the rows carry names (a site has one
    name, so grouping by both is grouping by the site)."""
    if "site_name" in frame.columns and "site_id" in keys and "site_name" not in keys:
        at = keys.index("site_id") + 1
        return [*keys[:at], "site_name", *keys[at:]]
    return keys


def _weighted(daily: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    parts = {}
    for col, weight in _WEIGHTED.items():
        w = daily[weight].where(daily[col].notna(), 0).astype(np.float64)
        parts[f"__num_{col}"] = daily[col].fillna(0) * w
        parts[f"__den_{col}"] = w
    frame = pd.DataFrame(parts, index=daily.index)
    frame[keys] = daily[keys]
    sums = frame.groupby(keys, sort=True, dropna=False).sum()
    out = pd.DataFrame(index=sums.index)
    for col in _WEIGHTED:
        den = sums[f"__den_{col}"]
        out[col] = (sums[f"__num_{col}"] / den).where(den > 0)
    return out


def with_state_seconds(daily: pd.DataFrame) -> pd.DataFrame:
    """`daily` with the seconds columns, from the minutes for rows stored before those columns
    existed (a load across both has them null there)."""
    fallback = {
        "down_seconds": lambda: daily["down_minutes"] * 60,
        "observed_seconds": lambda: (daily["up_minutes"] + daily["down_minutes"]) * 60,
        "unknown_seconds": lambda: daily["unknown_minutes"] * 60,
        "offline_seconds": lambda: daily["down_minutes"] * 0,
        "event_contradictions": lambda: daily["down_minutes"] * 0,
        "failover_seconds": lambda: daily["failover_minutes"] * 60,
        "on_backup_seconds": lambda: daily["on_backup_minutes"] * 60,
    }
    filled = {}
    for col, minutes in fallback.items():
        if col not in daily:
            filled[col] = minutes().astype(np.int64)
        elif daily[col].isna().any():
            filled[col] = daily[col].fillna(minutes()).astype(np.int64)
    return daily.assign(**filled) if filled else daily


def _rollup(daily: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Roll circuit rows up to `keys` (sums, maxima, weighted means, rates from sums).

    Availability comes from the seconds (`with_state_seconds`), so a circuit whose day the port
    events cover weighs in with its exact down time, and one without with its sampled minutes."""
    grouped = daily.groupby(keys, sort=True, dropna=False)
    out = grouped[_SUMS].sum()
    out = out.join(grouped[_MAXES].max())
    out = out.join(_weighted(daily, keys))
    out["circuits"] = grouped["circuit_id"].nunique()
    observed = out["observed_seconds"]
    out["availability_pct"] = ((observed - out["down_seconds"]) / observed * 100).where(
        observed > 0
    )
    out["error_rate"] = (out["errors"] / out["packets"]).where(out["packets"] > 0)
    return out.reset_index()


def _with_span(out: pd.DataFrame, span_minutes) -> pd.DataFrame:
    """unknown minutes and coverage against each row's span (circuit-minutes)."""
    known = out["up_minutes"] + out["down_minutes"]
    out["unknown_minutes"] = (span_minutes - known).astype(np.int64)
    out["coverage_pct"] = known / span_minutes * 100
    return out


def _circuit_flags(daily: pd.DataFrame, keys: list[str], config: KpiConfig) -> pd.DataFrame:
    """How many circuits were down at all, congested (p95 at or above the top tier), failed over."""
    thr = (
        np.array([config.thresholds_for(r)[2] for r in daily["region"]], dtype=np.float64)
        if len(daily)
        else np.array([])
    )
    flags = pd.DataFrame(
        {
            "circuits_down": daily["down_seconds"] > 0,
            "circuits_above_90": daily["util_p95_pct"].to_numpy(dtype=np.float64, na_value=np.nan)
            >= thr,
            "circuits_failed_over": daily["failover_seconds"] > 0,
        },
        index=daily.index,
    )
    flags[keys] = daily[keys]
    return flags.groupby(keys, sort=True, dropna=False).sum().reset_index()


def _group_rollup(daily: pd.DataFrame, keys: list[str], config: KpiConfig | None) -> pd.DataFrame:
    config = config or DEFAULT_CONFIG
    if daily.empty:
        return pd.DataFrame(columns=[*keys, "circuits", *_SUMS])
    daily = with_state_seconds(daily)
    out = _rollup(daily, keys)
    out = _with_span(out, out["circuits"].to_numpy() * 1440)  # circuit-minutes
    return out.merge(_circuit_flags(daily, keys, config), on=keys)


def site_daily_kpis(daily: pd.DataFrame, config: KpiConfig | None = None) -> pd.DataFrame:
    """Per (day, site): circuit minutes summed, so a site's availability weighs every circuit;
    `failover_minutes` summed per site are the minutes it ran on a secondary that took over."""
    return _group_rollup(daily, _named(["day", "site_id", "region"], daily), config)


ORG_KEYS = ["org_id", "org_name"]
ALL_ORGS = "all orgs"  # the org_name of an MSP's rollup over all of its orgs (org_id "")


def with_orgs(daily: pd.DataFrame, sites: pd.DataFrame | None) -> pd.DataFrame:
    """The rows with their site's org (`org_id`, `org_name`) from an inventory (`mist_sites`);
    a site the inventory does not have is org `unknown`, never another org's."""
    org_id = org_name = None
    if sites is not None and len(sites) and "org_id" in sites.columns:
        ids = sites["site_id"].astype(str)
        org_id = dict(zip(ids, sites["org_id"].astype(str), strict=True))
        org_name = dict(zip(ids, sites["org_name"].astype(str), strict=True))
    site = daily["site_id"].astype(str)
    return daily.assign(
        org_id=site.map(org_id or {}).fillna("unknown").astype(str),
        org_name=site.map(org_name or {}).fillna("unknown").astype(str),
    )


def region_daily_kpis(daily: pd.DataFrame, config: KpiConfig | None = None) -> pd.DataFrame:
    """Per day and region; with orgs (`with_orgs`), per day, org and region."""
    orgs = ORG_KEYS if "org_id" in daily.columns else []
    return _group_rollup(daily, ["day", *orgs, "region"], config)


def org_daily_kpis(daily: pd.DataFrame, config: KpiConfig | None = None) -> pd.DataFrame:
    """Per day; with orgs, a row per org (`scope` org) and, with more than one, the MSP's row
    over all of them (`scope` msp, org_name `all orgs`)."""
    if "org_id" not in daily.columns:
        return _group_rollup(daily, ["day"], config)
    out = _group_rollup(daily, ["day", *ORG_KEYS], config).assign(scope="org")
    if out["org_id"].nunique() > 1:
        msp = _group_rollup(daily, ["day"], config).assign(org_id="", org_name=ALL_ORGS)
        out = pd.concat([out, msp.assign(scope="msp")], ignore_index=True)
    return out


def period_start(days: pd.Series, freq: str) -> pd.Series:
    """The first day of the ISO week (freq "W", Monday) or month ("M") of each day."""
    d = pd.to_datetime(pd.Series(days).astype(str))
    if freq == "W":
        start = d - pd.to_timedelta(d.dt.day_of_week, unit="D")
    elif freq == "M":
        start = d - pd.to_timedelta(d.dt.day - 1, unit="D")
    else:
        raise ValueError(f"freq must be 'W' or 'M', got {freq!r}")
    return start.dt.date


def period_circuit_kpis(daily: pd.DataFrame, freq: str = "W", span_days=None) -> pd.DataFrame:
    """Weekly ("W") or monthly ("M") rows per circuit from daily rows.

    A period's span runs from the first to the last day the input holds for it (org-wide), so a
    circuit absent on one of those days has that day as unknown time, and a week in progress is
    measured up to its latest day; the longest runs are the longest daily run (a run across
    midnight counts as two). With `span_days` (every day the org holds), the span is theirs:
    rows of some of the sites at a time then give each circuit the row of all at once.
    """
    if daily.empty:
        return pd.DataFrame(
            columns=["period_start", "period_days", "site_id", "region", "circuit_id", *_SUMS]
        )
    # assign, not a copy and a set: pandas' copy-on-write shares the input's columns (a deep copy
    # of a month's 70-column frame was 340 MiB of the month rollup's peak at 10,000 sites)
    daily = with_state_seconds(daily)
    daily = daily.assign(period_start=period_start(daily["day"], freq).to_numpy())
    if span_days is None:
        day_ts, starts = pd.to_datetime(daily["day"].astype(str)), daily["period_start"]
    else:
        held = pd.Series(sorted({str(d) for d in span_days}))
        day_ts, starts = pd.to_datetime(held), period_start(held, freq)
    bounds = day_ts.groupby(starts.to_numpy()).agg(["min", "max"])
    days_in_period = (bounds["max"] - bounds["min"]).dt.days + 1
    keys = _named(["period_start", "site_id", "region", "circuit_id"], daily)
    out = _rollup(daily, keys)
    out = _with_span(out, out["period_start"].map(days_in_period).to_numpy() * 1440)
    out.insert(1, "period_days", out["period_start"].map(days_in_period).astype(np.int64))
    roles = daily.groupby("circuit_id")["role"].last()
    out["role"] = out["circuit_id"].map(roles)
    return out


SITES_AT_ONCE = 2000  # the sites whose days a rollup over weeks holds at once (memory)


def site_slices(sites: list[str], size: int | None = None) -> list[list[str]]:
    """The sites, `size` (`SITES_AT_ONCE`) at a time (one empty slice for none)."""
    size = size or SITES_AT_ONCE
    return [sites[k : k + size] for k in range(0, len(sites), size)] or [[]]


def sliced_period_kpis(
    read, sites: list[str], freq: str, slice_sites: int
) -> tuple[pd.DataFrame, list[str], int]:
    """`period_circuit_kpis` of every site, `slice_sites` sites' days read at a time
    (`read(site_keys, columns=None)` → a read with `table`, `found`, `missing`): (the rows, the
    days the org holds, site-days missing). A month of daily KPIs of 10,000 sites held at once
    (its Arrow table, its frame and the rollup's groups) was the month rollup's peak. The days
    the org holds are read first (one column), so that every slice spans them."""
    held_days = read(sites, ["day"])
    held = (
        sorted({str(d) for d in held_days.table.column("day").to_pylist()})
        if held_days.found and held_days.table.num_rows
        else []
    )
    del held_days
    outs, missing = [], 0
    for part in site_slices(sites, slice_sites):
        loaded = read(part)
        missing += len(loaded.missing)
        daily = loaded.to_pandas() if loaded.found else pd.DataFrame()
        del loaded  # the Arrow slice, once it is a frame
        if len(daily):
            outs.append(period_circuit_kpis(daily, freq, span_days=held))
        del daily
    out = pd.concat(outs, ignore_index=True) if outs else pd.DataFrame()
    return out, held, missing


WINDOW_HOURS = (3, 12, 24)  # the status's operational windows


def window_kpis(
    samples: pd.DataFrame,
    interval_minutes: int,
    now=None,
    hours=WINDOW_HOURS,
    config: KpiConfig | None = None,
) -> pd.DataFrame:
    """Operational windows over the latest samples: per circuit and window (3 h, 12 h, 24 h),
    plus the circuit's state at its latest sample (`up_now`, `util_now_pct`, `failover_now`)."""
    config = config or DEFAULT_CONFIG
    if samples.empty:
        return pd.DataFrame(columns=["window_hours", "circuit_id", "up_now", "util_now_pct"])
    ts = pd.to_datetime(samples["ts"], utc=True)
    if now is None:
        now = ts.max().floor(f"{interval_minutes}min") + pd.Timedelta(minutes=interval_minutes)
    now = pd.Timestamp(now)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    frames = []
    for h in hours:
        w = window_circuit_kpis(samples, interval_minutes, now - pd.Timedelta(hours=h), now, config)
        w.insert(0, "window_hours", h)
        frames.append(w)
    out = pd.concat(frames, ignore_index=True)
    latest = (
        samples.assign(__ts=ts)
        .sort_values("__ts")
        .groupby("circuit_id")
        .tail(1)
        .set_index("circuit_id")
    )
    speed = pd.to_numeric(latest["speed_mbps"], errors="coerce")
    rate = np.fmax(
        pd.to_numeric(latest["rx_bps"], errors="coerce"),
        pd.to_numeric(latest["tx_bps"], errors="coerce"),
    )
    util_now = (rate / (speed * 1e6) * 100).clip(upper=100).where(speed > 0)
    ids = out["circuit_id"].astype(str)
    latest.index = latest.index.astype(str)
    out["last_seen"] = ids.map(latest["__ts"])
    out["up_now"] = ids.map(latest["up"].astype("boolean")).astype("boolean")
    out["util_now_pct"] = ids.map(util_now.where(latest["up"].astype(bool))).astype("float64")
    return out


def top_offenders(
    kpis: pd.DataFrame, kpi: str, n: int = 10, ascending: bool | None = None
) -> pd.DataFrame:
    """The n worst rows by a KPI (lowest first for availability and coverage, highest otherwise),
    ties ordered by a second KPI (`tie_breaker`, worse first), then by circuit; rows with no
    value are left out."""
    if kpi not in kpi_measures(kpis):
        raise KeyError(f"no KPI column {kpi!r}; choose one of {', '.join(kpi_measures(kpis))}")
    if ascending is None:
        ascending = kpi in LOWER_IS_WORSE
    second = tie_breaker(kpi)
    by, order = [kpi], [ascending]
    if second in kpis.columns and second != kpi:
        by.append(second)
        order.append(second in LOWER_IS_WORSE)
    ranked = kpis[kpis[kpi].notna()].sort_values(
        [*by, "circuit_id"], ascending=[*order, True], kind="stable", na_position="last"
    )
    out = ranked.head(n).reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


# columns of a KPI row that are not measures to rank by
_NOT_MEASURES = {
    "samples",
    "util_samples",
    "quality_samples",
    "speed_mbps",
    "speed_changes",
    "counter_minutes",
}


def kpi_measures(kpis: pd.DataFrame) -> list[str]:
    """The columns of KPI rows that measure a circuit (what `top_offenders` ranks by): numeric,
    not an id, a count of samples or the speed."""
    return [
        c
        for c in kpis.columns
        if c not in _NOT_MEASURES
        and pd.api.types.is_numeric_dtype(kpis[c])
        and not pd.api.types.is_bool_dtype(kpis[c])
    ]


def chronic_offenders(
    daily: pd.DataFrame, kpi: str, threshold: float, k: int, n: int, end_day=None
) -> pd.DataFrame:
    """Circuits breaching `threshold` on at least k of the last n days (up to `end_day`)."""
    if daily.empty:
        return pd.DataFrame(
            columns=["circuit_id", "site_id", "region", "days_breached", "days_observed", "worst"]
        )
    days = pd.to_datetime(daily["day"].astype(str))
    end = pd.Timestamp(str(end_day)) if end_day is not None else days.max()
    recent = daily[(days > end - pd.Timedelta(days=n)) & (days <= end)]
    lower = kpi in LOWER_IS_WORSE
    breach = recent[kpi] <= threshold if lower else recent[kpi] >= threshold
    g = recent.assign(__breach=breach.fillna(False)).groupby(
        _named(["circuit_id", "site_id", "region"], recent), observed=True
    )
    out = pd.DataFrame(
        {
            "days_breached": g["__breach"].sum().astype(np.int64),
            "days_observed": g[kpi].count().astype(np.int64),
            "worst": g[kpi].min() if lower else g[kpi].max(),
        }
    ).reset_index()
    out = out[out["days_breached"] >= k]
    return out.sort_values(["days_breached", "worst"], ascending=[False, lower]).reset_index(
        drop=True
    )


def circuit_trends(
    daily: pd.DataFrame,
    kpi: str = "util_p95_pct",
    days: int = 7,
    end_day=None,
    min_days: int = 3,
    stable_slope: float = 1.0,
    config: KpiConfig | None = None,
) -> pd.DataFrame:
    """Least-squares slope of a KPI per circuit over the last `days` days: rising, falling or
    stable (|slope| below `stable_slope` units per day). `congested_and_rising` answers the NOC's
    first question for utilisation KPIs: at or above the first tier now, and getting worse."""
    config = config or DEFAULT_CONFIG
    cols = [
        "circuit_id",
        "site_id",
        *(["site_name"] if "site_name" in daily.columns else []),
        "region",
        "days",
        "slope_per_day",
        "latest",
        "trend",
        "congested_and_rising",
    ]
    if daily.empty:
        return pd.DataFrame(columns=cols)
    d = pd.to_datetime(daily["day"].astype(str))
    end = pd.Timestamp(str(end_day)) if end_day is not None else d.max()
    sel = daily[(d > end - pd.Timedelta(days=days)) & (d <= end) & daily[kpi].notna()].copy()
    sel["__x"] = (pd.to_datetime(sel["day"].astype(str)) - end).dt.days.astype(np.float64)
    sel["__y"] = sel[kpi].astype(np.float64)
    sel["__xy"], sel["__xx"] = sel["__x"] * sel["__y"], sel["__x"] ** 2
    g = sel.sort_values("__x").groupby(
        _named(["circuit_id", "site_id", "region"], sel), observed=True
    )
    s = g[["__x", "__y", "__xy", "__xx"]].sum()
    cnt = g["__y"].count()
    denom = cnt * s["__xx"] - s["__x"] ** 2
    slope = ((cnt * s["__xy"] - s["__x"] * s["__y"]) / denom).where((denom > 0) & (cnt >= min_days))
    out = pd.DataFrame(
        {"days": cnt.astype(np.int64), "slope_per_day": slope, "latest": g["__y"].last()}
    ).reset_index()
    out["trend"] = np.select(
        [
            out["slope_per_day"].isna(),
            out["slope_per_day"] >= stable_slope,
            out["slope_per_day"] <= -stable_slope,
        ],
        ["insufficient data", "rising", "falling"],
        "stable",
    )
    first_tier = (
        np.array([config.thresholds_for(r)[0] for r in out["region"]], dtype=np.float64)
        if len(out)
        else np.array([])
    )
    out["congested_and_rising"] = (
        (out["trend"] == "rising") & (out["latest"] >= first_tier) & kpi.startswith("util")
    )
    return (
        out[cols]
        .sort_values(["congested_and_rising", "slope_per_day"], ascending=[False, False])
        .reset_index(drop=True)
    )


OFFENDER_COLUMNS = [
    "kpi",
    "rank",
    "circuit_id",
    "site_id",
    "site_name",
    "region",
    "value",
    "tie_breaker",
    "tie_breaker_value",
]


def offender_rows(
    daily: pd.DataFrame, kpis: list[str], n: int = 10
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The `top_offenders` table: for each KPI its n worst circuits that have something wrong
    (below 100 % available, or above zero), one row each with the KPI's value and its
    tie-breaker's; and each KPI's ranked rows."""
    frames, ranked_by = [], {}
    for name in kpis:
        if name not in daily.columns:
            continue
        ranked = top_offenders(daily, name, n)
        bad = ranked[name] < 100 if name in LOWER_IS_WORSE else ranked[name] > 0
        ranked = ranked[bad]
        if ranked.empty:
            continue
        second = tie_breaker(name)
        ranked_by[name] = ranked
        frames.append(
            pd.DataFrame(
                {
                    "kpi": name,
                    "rank": ranked["rank"],
                    "circuit_id": ranked["circuit_id"].astype(str),
                    "site_id": ranked["site_id"].astype(str),
                    "site_name": ranked["site_name"].astype(str),
                    "region": ranked["region"].astype(str),
                    "value": ranked[name].astype(float),
                    "tie_breaker": second,
                    "tie_breaker_value": ranked[second].astype(float),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OFFENDER_COLUMNS)
    return out, ranked_by


def org_offender_rows(
    daily: pd.DataFrame, kpis: list[str], n: int = 10
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """`offender_rows` per org (`with_orgs` rows; `scope` org) and, with more than one org,
    across them all (`scope` msp, org_id ""); the ranked tables are the widest scope's."""
    parts, ranked_by = [], {}
    orgs = daily.groupby(ORG_KEYS, sort=True, observed=True) if len(daily) else []
    for (org_id, org_name), rows in orgs:
        out, ranked_by = offender_rows(rows, kpis, n)
        parts.append(out.assign(scope="org", org_id=org_id, org_name=org_name))
    if len(parts) > 1:
        out, ranked_by = offender_rows(daily, kpis, n)
        parts.append(out.assign(scope="msp", org_id="", org_name=ALL_ORGS))
    if not parts:
        out, ranked_by = offender_rows(daily, kpis, n)
        parts.append(out.assign(scope="org", org_id="", org_name=""))
    return pd.concat(parts, ignore_index=True), ranked_by
