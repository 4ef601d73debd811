"""A month against the contracts: each circuit's measured availability (from the KPIs' exact
down and observed seconds, the same figures every other view shows), its outages (from the port
events and the gateways going offline, to the second), the maintenance windows left out, and the
credit the contract gives; then each provider's month."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .windows import CALENDAR, parse_window

NO_CONTRACT = "(no contract)"
EPOCH = pd.Timestamp(0, tz="UTC")
OUTAGE_COLUMNS = ["circuit_id", "start", "end", "seconds", "began_before", "still_down"]
# an outage's seconds inside its circuit's measurement window (all of them for a calendar month)
REPORTED_OUTAGE_COLUMNS = [*OUTAGE_COLUMNS, "counted_seconds"]
CIRCUIT_COLUMNS = [
    "circuit_id",
    "site_id",
    "site_name",
    "provider",
    "reference",
    "bandwidth_mbps",
    "window",
    "sla_pct",
    "observed_seconds",
    "maintenance_seconds",
    "down_seconds",
    "down_in_maintenance_seconds",
    "availability_pct",
    "met",
    "shortfall_pct",
    "credit_pct",
    "outages",
    "longest_outage_seconds",
    "events_down_seconds",
    "util_p95_pct",
    "capacity",
    "forecast",
    "days_to_80_pct",
    "latency_p95_ms",
    "latency_target_ms",
    "jitter_p95_ms",
    "jitter_target_ms",
    "loss_p95_pct",
    "loss_target_pct",
    "quality_met",
]
# the contract's quality targets: (its column, the month's measure from circuit_kpis' daily p95)
QUALITY = {
    "latency": ("latency_ms", "latency_p95_ms", "latency_target_ms"),
    "jitter": ("jitter_ms", "jitter_p95_ms", "jitter_target_ms"),
    "loss": ("loss_pct", "loss_p95_pct", "loss_target_pct"),
}
# what the report reads of a month: a few of the KPIs' 70 columns
DAILY_COLUMNS = [
    "circuit_id",
    "site_name",
    "observed_seconds",
    "down_seconds",
    "util_p95_pct",
    *(measure for _, measure, _ in QUALITY.values()),
]
HOURLY_COLUMNS = ["circuit_id", "hour", "observed_seconds", "down_seconds"]
EVENT_COLUMNS = ["ts", "circuit_id", "mac", "event"]
DOWNSIZE_BELOW, UPGRADE_ABOVE = 10.0, 80.0  # % of the port's speed, the month's p95


def outages(events: pd.DataFrame, circuit_ids, start: float, end: float) -> pd.DataFrame:
    """Each outage of the circuits in [start, end): from a `down` (or its gateway going
    `offline`) to the next `up` (or `online`), clipped to the window; one still open at the end
    ends there (`still_down`), one whose first change is an `up` began before it (`began_before`).
    """
    wanted = set(circuit_ids)
    if events.empty or not wanted:
        return _no_outages()
    ts = (pd.to_datetime(events["ts"], utc=True) - EPOCH) / pd.Timedelta(seconds=1)
    frame = events.assign(ts=ts.to_numpy())
    ports = frame[frame["circuit_id"].notna() & frame["event"].isin(["down", "up"])]
    ports = ports[["ts", "circuit_id", "event"]]
    # a gateway offline takes each of its circuits down with it
    gateways = frame[frame["circuit_id"].isna() & frame["event"].isin(["offline", "online"])]
    by_mac: dict[str, list[str]] = {}
    for cid in wanted:
        by_mac.setdefault(str(cid).split(":", 1)[0], []).append(cid)
    spread = [
        (t, cid, "down" if e == "offline" else "up")
        for t, mac, e in zip(gateways["ts"], gateways["mac"], gateways["event"], strict=True)
        for cid in by_mac.get(str(mac), [])
    ]
    changes = pd.concat(
        [ports, pd.DataFrame(spread, columns=["ts", "circuit_id", "event"])], ignore_index=True
    )
    changes = changes[changes["circuit_id"].isin(wanted) & (changes["ts"] < end)]
    changes = changes.sort_values(["circuit_id", "ts"], kind="stable").reset_index(drop=True)
    # a repeat of the state a circuit is in changes nothing: keep each change of state
    same = changes["circuit_id"].eq(changes["circuit_id"].shift())
    changes = changes[~(same & changes["event"].eq(changes["event"].shift()))]
    if changes.empty:
        return _no_outages()
    cid, ts, down = (
        changes["circuit_id"].to_numpy(),
        changes["ts"].to_numpy(float),
        changes["event"].eq("down").to_numpy(),
    )
    first = np.r_[True, cid[1:] != cid[:-1]]
    last = np.r_[cid[1:] != cid[:-1], True]
    nxt = np.r_[ts[1:], np.nan]
    # a down ends at the circuit's next change (an up), or at the window's end
    outs = pd.DataFrame(
        {
            "circuit_id": cid[down],
            "start": ts[down],
            "end": np.where(last[down], end, nxt[down]),
            "began_before": False,
            "still_down": last[down],
        }
    )
    # a circuit whose first change is an up was down since before the window
    before = first & ~down & (ts > start)
    began = pd.DataFrame(
        {
            "circuit_id": cid[before],
            "start": start,
            "end": ts[before],
            "began_before": True,
            "still_down": False,
        }
    )
    out = pd.concat([began, outs], ignore_index=True) if len(began) else outs
    out["start"] = out["start"].clip(lower=start)
    out = out[out["end"] > out["start"]]
    out["seconds"] = out["end"] - out["start"]
    return out[OUTAGE_COLUMNS].reset_index(drop=True)


def _no_outages() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "circuit_id": pd.Series(dtype=object),
            "start": pd.Series(dtype=float),
            "end": pd.Series(dtype=float),
            "seconds": pd.Series(dtype=float),
            "began_before": pd.Series(dtype=bool),
            "still_down": pd.Series(dtype=bool),
        }
    )


def _calendar(a, b):
    return np.clip(np.asarray(b, dtype=float) - np.asarray(a, dtype=float), 0, None)


def _merged(windows: pd.DataFrame, start: float, end: float) -> pd.DataFrame:
    """A circuit's maintenance windows inside [start, end), overlaps merged (counted once)."""
    spans = sorted(
        (max(s, start), min(e, end)) for s, e in zip(windows["start"], windows["end"], strict=True)
    )
    merged: list[list[float]] = []
    for s, e in spans:
        if e <= s:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return pd.DataFrame(merged, columns=["start", "end"])


def _counters(contracts: pd.DataFrame, start: float, end: float) -> dict:
    """circuit_id -> (window label, seconds-inside function) of each contract with business
    hours; circuits absent count the calendar month."""
    if "window" not in contracts or contracts.empty:
        return {}
    found, made = {}, {}
    zones = contracts["timezone"] if "timezone" in contracts else ["UTC"] * len(contracts)
    for cid, text, zone in zip(contracts["circuit_id"], contracts["window"], zones, strict=True):
        window = parse_window(text, zone)
        if window is None:
            continue
        if window not in made:
            made[window] = (f"{window.label} {window.timezone}", window.inside(start, end))
        found[cid] = made[window]
    return found


def business_hours_kpis(hourly: pa.Table, circuit_ids) -> pd.DataFrame:
    """The hourly rows a business-hours SLA needs, of its circuits only, filtered in Arrow before
    pandas (a month of every circuit's hours is 24 times the days)."""
    wanted = pa.array(sorted({str(c) for c in circuit_ids}), pa.string())
    ids = hourly["circuit_id"]
    if pa.types.is_dictionary(ids.type):
        ids = ids.cast(pa.string())
    mine = hourly.filter(pc.is_in(ids, value_set=wanted))
    return mine.select(HOURLY_COLUMNS).to_pandas()


def _windows(counters: dict) -> list[tuple]:
    """(seconds-inside function, its circuits) per distinct window: few, whatever the circuits."""
    grouped: dict[str, tuple] = {}
    for cid, (label, inside) in counters.items():
        grouped.setdefault(label, (inside, []))[1].append(cid)
    return list(grouped.values())


def _in_window(hourly: pd.DataFrame | None, counters: dict) -> pd.DataFrame:
    """Observed and down seconds of the circuits with business hours, inside them: each UTC
    hour's seconds weighed by the share of the hour the window covers (exact when its edges
    fall on whole hours, as they do in whole-hour time zones)."""
    if hourly is None or hourly.empty or not counters:
        return pd.DataFrame(columns=["observed_seconds", "down_seconds"])
    ids = hourly["circuit_id"].astype(str)
    hour = ((pd.to_datetime(hourly["hour"], utc=True) - EPOCH) / pd.Timedelta(seconds=1)).to_numpy(
        float
    )
    share = np.zeros(len(hourly))
    for inside, circuits in _windows(counters):
        rows = ids.isin(circuits).to_numpy()
        share[rows] = inside(hour[rows], hour[rows] + 3600) / 3600
    weighed = pd.DataFrame(
        {
            "circuit_id": ids.to_numpy(),
            "observed_seconds": hourly["observed_seconds"].to_numpy(float) * share,
            "down_seconds": hourly["down_seconds"].to_numpy(float) * share,
        }
    )[share > 0]
    return weighed.groupby("circuit_id").sum()


def circuit_sla(
    daily: pd.DataFrame,
    events: pd.DataFrame,
    contracts: pd.DataFrame,
    maintenance: pd.DataFrame,
    start: float,
    end: float,
    hourly: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per circuit of the month, its outages). `daily` is the month's `circuit_kpis`
    (`hourly`, its `circuit_kpis_hourly`, is needed where a contract counts business hours); a
    circuit with no contract is reported as such, a contract with no measured circuit as no
    data. Availability = (observed − maintenance − down outside maintenance) / (observed −
    maintenance), each inside the contract's window; the credit is `credit_pct_per_0_1` per
    started 0.1 % short, up to the cap."""
    g = daily.groupby("circuit_id", sort=True)
    measured = g.agg(
        site_id=("site_id", "last"),
        site_name=("site_name", "last"),
        observed_seconds=("observed_seconds", "sum"),
        down_seconds=("down_seconds", "sum"),
    )
    measured["util_p95_pct"] = g["util_p95_pct"].quantile(0.95)
    for _, measure, _ in QUALITY.values():  # the 95th percentile of the days' p95s
        measured[measure] = g[measure].quantile(0.95) if measure in daily else np.nan
    counters = _counters(contracts, start, end)
    business = _in_window(hourly, counters)
    windowed = measured.index.isin(counters.keys())
    for column in ("observed_seconds", "down_seconds"):
        measured[column] = measured[column].astype(float)
        if windowed.any():  # no hourly rows: nothing observed inside the window, not all of it
            inside = business[column].reindex(measured.index[windowed]).fillna(0.0)
            measured.loc[windowed, column] = inside.to_numpy()
    ids = sorted(set(measured.index) | set(contracts["circuit_id"]))
    found = outages(events, ids, start, end)
    counted = found["seconds"].to_numpy(float).copy()
    if counters and len(found):
        whose, a, b = (
            found["circuit_id"].astype(str),
            found["start"].to_numpy(float),
            found["end"].to_numpy(float),
        )
        for inside, circuits in _windows(counters):
            rows = whose.isin(circuits).to_numpy()
            counted[rows] = inside(a[rows], b[rows])
    found["counted_seconds"] = counted
    out = pd.DataFrame(index=pd.Index(ids, name="circuit_id"))
    terms = contracts.rename(columns={"availability_pct": "contract_pct"})
    out = out.join(measured).join(
        terms.set_index("circuit_id").drop(columns="window", errors="ignore")
    )
    out["window"] = [counters[c][0] if c in counters else CALENDAR for c in out.index]
    has_data = out.index.isin(measured.index)
    has_contract = out.index.isin(contracts["circuit_id"])
    per = found.groupby("circuit_id").agg(
        size=("seconds", "size"), max=("seconds", "max"), sum=("counted_seconds", "sum")
    )
    out["outages"] = per["size"].reindex(out.index).fillna(0).astype("int64")
    out["longest_outage_seconds"] = per["max"].reindex(out.index).fillna(0.0)
    out["events_down_seconds"] = per["sum"].reindex(out.index).fillna(0.0)
    # the maintenance windows: few circuits have them, each merged and matched to its outages
    out["maintenance_seconds"] = 0.0
    out["down_in_maintenance_seconds"] = 0.0
    outages_of = dict(tuple(found.groupby("circuit_id"))) if len(found) else {}
    for cid, mine in maintenance.groupby("circuit_id") if len(maintenance) else ():
        if cid not in out.index:
            continue
        inside = counters[cid][1] if cid in counters else _calendar
        windows = _merged(mine, start, end)
        w0, w1 = windows["start"].to_numpy(float), windows["end"].to_numpy(float)
        hit = outages_of.get(cid, found.iloc[:0])
        a, b = hit["start"].to_numpy(float)[:, None], hit["end"].to_numpy(float)[:, None]
        out.loc[cid, "maintenance_seconds"] = float(inside(w0, w1).sum())
        out.loc[cid, "down_in_maintenance_seconds"] = float(
            inside(np.maximum(a, w0), np.minimum(b, w1)).sum()
        )
    observed = out["observed_seconds"].where(has_data, 0.0).astype(float).fillna(0.0)
    down = out["down_seconds"].where(has_data, 0.0).astype(float).fillna(0.0)
    out["observed_seconds"], out["down_seconds"] = observed, down
    counted = observed - out["maintenance_seconds"]
    lost = (down - out["down_in_maintenance_seconds"]).clip(lower=0)
    out["availability_pct"] = np.where(
        counted > 0, 100 * (counted - lost) / counted.where(counted > 0, 1), np.nan
    )
    return _terms_applied(out, has_contract), found[REPORTED_OUTAGE_COLUMNS]


def _terms_applied(out: pd.DataFrame, has_contract) -> pd.DataFrame:
    """Met, shortfall and credit where a contract and data both are; the rest said as such."""
    sla_pct = pd.to_numeric(out["contract_pct"], errors="coerce")
    known = has_contract & out["availability_pct"].notna()
    met = (out["availability_pct"] >= sla_pct).where(known)
    shortfall = (sla_pct - out["availability_pct"]).clip(lower=0).where(known)
    steps = np.ceil((shortfall / 0.1).round(9))
    credit = steps * pd.to_numeric(out["credit_pct_per_0_1"], errors="coerce").fillna(0.0)
    cap = pd.to_numeric(out["credit_cap_pct"], errors="coerce")
    credit = credit.where(cap.isna(), np.minimum(credit, cap)).where(known)
    # quality: each target given is met when the month's p95 is at or under it
    checks = []
    for column, measure, target in QUALITY.values():
        goal = (
            pd.to_numeric(out[column], errors="coerce")
            if column in out
            else pd.Series(np.nan, index=out.index)
        )
        out[target] = goal
        checks.append((out[measure] <= goal).where(goal.notna() & out[measure].notna()))
    given = pd.concat(checks, axis=1)
    quality = given.all(axis=1, skipna=True).where(given.notna().any(axis=1))
    out = out.assign(
        quality_met=[None if pd.isna(v) else bool(v) for v in quality],
        provider=out["provider"].where(has_contract, NO_CONTRACT),
        sla_pct=sla_pct,
        met=[None if pd.isna(v) else bool(v) for v in met],
        shortfall_pct=shortfall,
        credit_pct=credit,
        capacity=[_capacity(v) for v in out["util_p95_pct"]],
        forecast=None,
        days_to_80_pct=np.nan,
    )
    for column in ("site_id", "site_name", "reference"):  # none where unknown, not NaN
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out.reset_index()[CIRCUIT_COLUMNS]


def _capacity(p95: float) -> str | None:
    """Contracted against used: the month's p95 (the 95th percentile of its daily p95s)."""
    if p95 is None or pd.isna(p95):
        return None
    if p95 < DOWNSIZE_BELOW:
        return "downsize?"
    return "upgrade?" if p95 > UPGRADE_ABOVE else "sized"


def with_forecast(report: pd.DataFrame, trends: pd.DataFrame | None) -> pd.DataFrame:
    """Contracted against used, forward: each circuit's capacity forecast of the month (from
    `circuit_trends_13m`: its status and the days until its p95 crosses 80 %); "not computed"
    where the trends were not materialized, never a blank that reads as fine."""
    if trends is None or trends.empty:
        return report.assign(forecast="not computed", days_to_80_pct=np.nan)
    found = trends.drop_duplicates("circuit_id").set_index("circuit_id")
    status = report["circuit_id"].map(found["forecast"]).fillna("insufficient history")
    days = report["circuit_id"].map(found["days_to_threshold"]).astype(float)
    return report.assign(forecast=status, days_to_80_pct=days)


def provider_sla(report: pd.DataFrame) -> pd.DataFrame:
    """Each provider's month: circuits, those that missed or had no data, the availability over
    all their counted time, the down seconds and outages, the circuits owed a credit."""
    counted = report["observed_seconds"] - report["maintenance_seconds"]
    lost = (report["down_seconds"] - report["down_in_maintenance_seconds"]).clip(lower=0)
    frame = report.assign(counted=counted.clip(lower=0), lost=lost.where(counted > 0, 0))
    out = frame.groupby("provider", sort=True).agg(
        circuits=("circuit_id", "size"),
        missed_sla=("met", lambda s: int((s == False).sum())),  # noqa: E712 (None is no data)
        no_data=("met", lambda s: int(s.isna().sum())),
        counted_seconds=("counted", "sum"),
        down_seconds=("lost", "sum"),
        outages=("outages", "sum"),
        credits_owed=("credit_pct", lambda s: int((s > 0).sum())),
    )
    out["availability_pct"] = np.where(
        out["counted_seconds"] > 0,
        100
        * (1 - out["down_seconds"] / out["counted_seconds"].where(out["counted_seconds"] > 0, 1)),
        np.nan,
    )
    return out.reset_index()
