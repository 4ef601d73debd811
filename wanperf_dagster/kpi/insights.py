"""What the WAN insight feeds share with the circuits' KPIs: the SLE bands, and the site-day view
that puts a site's SLE, circuits and paths side by side. Each feed's own maths is in its folder
(`feeds/sle/kpis.py`, `feeds/paths/kpis.py`); docs/kpis.md says which figure comes from which
source.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SLE_BANDS = ("critical", "degraded", "fair", "healthy")
SLE_BAND_FLOORS = (0.60, 0.80, 0.95)  # the predecessor's bands: >= 0.95 healthy, ...


def sle_band(score) -> pd.Categorical:
    """healthy (>= 0.95), fair (>= 0.80), degraded (>= 0.60), critical (below); empty when
    there is no score."""
    values = np.asarray(score, dtype=np.float64)
    level = np.searchsorted(np.asarray(SLE_BAND_FLOORS), values, side="right")
    labels = np.asarray(SLE_BANDS, dtype=object)[np.minimum(level, 3)]
    labels[np.isnan(values)] = None
    return pd.Categorical(labels, categories=SLE_BANDS, ordered=True)


# the site-day view ------------------------------------------------------------------------
SITE_CAUSES = ("outage", "congestion", "path quality", "gateway", "unexplained")
SITE_HEALTH_COLUMNS = [
    "day",
    "site_id",
    "site_name",
    "region",
    "wan_link_health",
    "wan_link_health_band",
    "application_health",
    "gateway_health",
    "hours_below_fair",
    "circuits",
    "circuits_congested",
    "minutes_above_90",
    "down_seconds",
    "flaps",
    "worst_availability_pct",
    "paths",
    "paths_down_minutes",
    "path_loss_p95_pct",
    "path_latency_p95_ms",
    "path_mos_min",
    "likely_cause",
]


def site_wan_health(
    circuit_kpis: pd.DataFrame, site_sle: pd.DataFrame, path_kpis: pd.DataFrame
) -> pd.DataFrame:
    """Per site-day: the WAN SLE beside its circuits' KPIs and its paths' quality, with the
    likeliest cause of a day below healthy (a mean under 0.95, or an hour under fair), first
    match wins: `outage` (a circuit down 15 minutes or more), `congestion` (an hour or more
    above 90 %), `path quality` (p95 loss >= 1 % or latency >= 150 ms on a path), `gateway`
    (gateway health below 0.95), else `unexplained`; empty when the site is healthy or has no
    SLE."""
    key = ["day", "site_id"]
    frames = []
    if len(circuit_kpis):
        c = circuit_kpis.assign(
            site_id=circuit_kpis["site_id"].astype(str),
            congested=circuit_kpis["util_p95_pct"] >= 90,
            down_s=circuit_kpis.get("down_seconds", circuit_kpis["down_minutes"] * 60),
        )
        frames.append(
            c.groupby(key, observed=True).agg(
                site_name=("site_name", "first"),
                region=("region", "first"),
                circuits=("circuit_id", "size"),
                circuits_congested=("congested", "sum"),
                minutes_above_90=("minutes_above_90", "sum"),
                down_seconds=("down_s", "sum"),
                flaps=("flaps", "sum"),
                worst_availability_pct=("availability_pct", "min"),
                longest_down=("down_s", "max"),
                longest_above_90=("longest_minutes_above_90", "max"),
            )
        )
    if len(site_sle):
        s = site_sle.assign(site_id=site_sle["site_id"].astype(str)).set_index(key)
        scores = ["wan_link_health", "application_health", "gateway_health", "hours_below_fair"]
        frames.append(s[scores].assign(sle_site_name=s["site_name"], sle_region=s["region"]))
    if len(path_kpis):
        p = path_kpis.assign(site_id=path_kpis["site_id"].astype(str))
        frames.append(
            p.groupby(key).agg(
                paths=("path_id", "size"),
                paths_down_minutes=("down_minutes", "sum"),
                path_loss_p95_pct=("loss_p95_pct", "max"),
                path_latency_p95_ms=("latency_p95_ms", "max"),
                path_mos_min=("mos_min", "min"),
            )
        )
    if not frames:
        return empty_frame(SITE_HEALTH_COLUMNS, {"day": object})
    out = pd.concat(frames, axis=1).reset_index()
    for col in SITE_HEALTH_COLUMNS:
        if col not in out:
            out[col] = np.nan
    if "sle_site_name" in out:
        out["site_name"] = out["site_name"].fillna(out.pop("sle_site_name"))
        out["region"] = out["region"].fillna(out.pop("sle_region"))
    for col in (
        "circuits",
        "circuits_congested",
        "minutes_above_90",
        "down_seconds",
        "flaps",
        "paths",
        "paths_down_minutes",
        "hours_below_fair",
    ):
        out[col] = pd.to_numeric(out[col], errors="coerce").fillna(0).astype(np.int64)
    out["wan_link_health_band"] = sle_band(out["wan_link_health"])
    longest_down = out.get("longest_down", pd.Series(0, index=out.index)).fillna(0)
    above = out.get("longest_above_90", pd.Series(0, index=out.index)).fillna(0)
    cause = np.select(
        [
            out["wan_link_health"].isna()
            | ((out["wan_link_health"] >= SLE_BAND_FLOORS[2]) & (out["hours_below_fair"] == 0)),
            longest_down >= 15 * 60,
            (out["minutes_above_90"] >= 60) | (above >= 60),
            (out["path_loss_p95_pct"] >= 1) | (out["path_latency_p95_ms"] >= 150),
            out["gateway_health"] < SLE_BAND_FLOORS[2],
        ],
        ["", "outage", "congestion", "path quality", "gateway"],
        "unexplained",
    )
    out["likely_cause"] = cause
    out = out.sort_values(["wan_link_health", "site_id"], na_position="last", kind="stable")
    return out[SITE_HEALTH_COLUMNS].reset_index(drop=True)


def empty_frame(columns, dtypes: dict) -> pd.DataFrame:
    """No rows, the given columns (floats unless `dtypes` says otherwise)."""
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, np.float64)) for c in columns})
