"""KPIs of the WAN insight feeds: a site's SLE per day, each VPN path's quality per day, exact
down time from port events, and the site-day view that puts them beside the circuits' KPIs.

docs/kpis.md says which figure comes from which source.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import DEFAULT_CONFIG, QUALITY_TIERS, KpiConfig

SLE_METRICS = ("gateway_health", "wan_link_health", "application_health")
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


SITE_SLE_COLUMNS = [
    "day",
    "site_id",
    "site_name",
    "region",
    "hours",
    *(c for m in SLE_METRICS for c in (m, f"{m}_min", f"{m}_band")),
    "worst_hour",
    "hours_below_fair",
    "num_gateways",
    "num_clients_max",
]


def site_sle_daily(hourly: pd.DataFrame, config: KpiConfig | None = None) -> pd.DataFrame:
    """One row per site and UTC day from the hourly WAN SLE: each score's mean over the hours
    reported and its worst hour, the band of the mean, the hour where WAN link health was
    lowest, and the hours below fair (WAN link health < 0.80)."""
    config = config or DEFAULT_CONFIG
    if hourly.empty:
        return _empty(SITE_SLE_COLUMNS, {"day": object, "worst_hour": "datetime64[ns, UTC]"})
    h = hourly.reset_index(drop=True)  # rows are picked by label below
    h = h.assign(day=h["hour"].dt.date, site_id=h["site_id"].astype(str))
    grouped = h.groupby(["day", "site_id"], sort=True)
    out = grouped.size().rename("hours").to_frame()
    for m in SLE_METRICS:
        values = pd.to_numeric(h[m], errors="coerce")
        out[m] = values.groupby([h["day"], h["site_id"]]).mean()
        out[f"{m}_min"] = values.groupby([h["day"], h["site_id"]]).min()
    worst = h.loc[
        pd.to_numeric(h["wan_link_health"], errors="coerce")
        .fillna(np.inf)
        .groupby([h["day"], h["site_id"]])
        .idxmin()
    ]
    out["worst_hour"] = worst.set_index(["day", "site_id"])["hour"]
    below = pd.to_numeric(h["wan_link_health"], errors="coerce") < SLE_BAND_FLOORS[1]
    out["hours_below_fair"] = below.groupby([h["day"], h["site_id"]]).sum().astype(np.int64)
    out["num_gateways"] = grouped["num_gateways"].max()
    out["num_clients_max"] = grouped["num_clients"].max()
    out = out.reset_index()
    for m in SLE_METRICS:
        out[f"{m}_band"] = sle_band(out[m])
    out["site_name"] = out["site_id"].map(lambda s: config.site_names.get(s, s))
    out["region"] = out["site_id"].map(lambda s: config.site_regions.get(s, "unknown"))
    return out[SITE_SLE_COLUMNS]


SITE_SLE_HOURLY_COLUMNS = [
    "hour",
    "site_id",
    "site_name",
    "region",
    *(c for m in SLE_METRICS for c in (m, f"{m}_band")),
    "num_gateways",
    "num_clients",
]


def site_sle_hourly(hourly: pd.DataFrame, config: KpiConfig | None = None) -> pd.DataFrame:
    """The hourly WAN SLE as Mist reported it, with each score's band and the site's name and
    region, sorted by site and hour."""
    config = config or DEFAULT_CONFIG
    if hourly.empty:
        return _empty(SITE_SLE_HOURLY_COLUMNS, {"hour": "datetime64[ns, UTC]"})
    out = hourly.assign(site_id=hourly["site_id"].astype(str)).sort_values(["site_id", "hour"])
    for m in SLE_METRICS:
        out[m] = pd.to_numeric(out[m], errors="coerce")
        out[f"{m}_band"] = sle_band(out[m])
    out["site_name"] = out["site_id"].map(lambda s: config.site_names.get(s, s))
    out["region"] = out["site_id"].map(lambda s: config.site_regions.get(s, "unknown"))
    return out[SITE_SLE_HOURLY_COLUMNS].reset_index(drop=True)


def _empty(columns, dtypes: dict) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, np.float64)) for c in columns})


PATH_MEASURES = (
    ("latency", "latency_ms", "ms"),
    ("jitter", "jitter_ms", "ms"),
    ("loss", "loss_pct", "pct"),
)
PATH_KPI_COLUMNS = [
    "day",
    "site_id",
    "site_name",
    "region",
    "path_id",
    "circuit_id",
    "peer_site_id",
    "type",
    "samples",
    "up_minutes",
    "down_minutes",
    "availability_pct",
    *(f"{n}_{s}_{u}" for n, _, u in PATH_MEASURES for s in ("avg", "p95", "max")),
    "mos_avg",
    "mos_min",
    *(f"{n}_minutes_{t}" for n, _, _ in PATH_MEASURES for t in QUALITY_TIERS),
]


def vpn_path_kpis(
    samples: pd.DataFrame, interval_minutes: int, config: KpiConfig | None = None
) -> pd.DataFrame:
    """One row per VPN path and UTC day from its samples (one per slot; a repeated slot counts
    once): availability (slots up over slots seen, each worth the interval), avg/p95/max
    latency, jitter and loss over the slots up, MOS mean and minimum, and minutes at or over
    each quality tier (the circuits' tiers)."""
    config = config or DEFAULT_CONFIG
    if samples.empty:
        return _empty(PATH_KPI_COLUMNS, {"day": object})
    s = samples.drop_duplicates(["ts", "path_id"], keep="last").copy()
    s["day"] = s["ts"].dt.date
    s["up"] = s["up"].astype(bool)
    keys = ["day", "path_id"]
    g = s.groupby(keys, sort=True)
    out = g.agg(
        site_id=("site_id", "first"),
        circuit_id=("circuit_id", "first"),
        peer_site_id=("peer_site_id", "first"),
        type=("type", "first"),
        samples=("up", "size"),
        up_samples=("up", "sum"),
    )
    out["up_minutes"] = (out.pop("up_samples") * interval_minutes).astype(np.int64)
    out["down_minutes"] = (out["samples"] * interval_minutes - out["up_minutes"]).astype(np.int64)
    out["availability_pct"] = out["up_minutes"] / (out["samples"] * interval_minutes) * 100
    up = s[s["up"]]
    tiers = {"latency": config.latency_ms, "jitter": config.jitter_ms, "loss": config.loss_pct}
    for name, column, unit in PATH_MEASURES:
        values = pd.to_numeric(up[column], errors="coerce")
        by = values.groupby([up["day"], up["path_id"]])
        out[f"{name}_avg_{unit}"] = by.mean()
        out[f"{name}_p95_{unit}"] = by.quantile(0.95)
        out[f"{name}_max_{unit}"] = by.max()
        for tier, floor in zip(QUALITY_TIERS, tiers[name], strict=True):
            over = (values >= floor).groupby([up["day"], up["path_id"]]).sum() * interval_minutes
            out[f"{name}_minutes_{tier}"] = over.reindex(out.index).fillna(0).astype(np.int64)
    mos = pd.to_numeric(up["mos"], errors="coerce")
    out["mos_avg"] = mos.groupby([up["day"], up["path_id"]]).mean()
    out["mos_min"] = mos.groupby([up["day"], up["path_id"]]).min()
    out = out.reset_index()
    out["site_name"] = out["site_id"].map(lambda x: config.site_names.get(x, x))
    out["region"] = out["site_id"].map(lambda x: config.site_regions.get(x, "unknown"))
    return out[PATH_KPI_COLUMNS]


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
        return _empty(SITE_HEALTH_COLUMNS, {"day": object})
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
