"""The ports feed's site-day assets: from swept samples to KPIs, snapshots, then daily and hourly
circuit KPIs with their checks. Its fetch is the sweep (`mist/sweep.py`, `mist/records.py`: the
org-wide port search, saved page by page), its maths the circuits' KPI engine (`kpi/`), both
shared below; its storage is its lines in the dataset registry.
"""

import datetime as dt
import time
from urllib.parse import quote

import dagster as dg
import numpy as np
import pandas as pd

from wanperf_dagster import kpi
from wanperf_dagster.dagster_io.metadata import (
    add_partition_metadata,
    circuit_table,
    dataset_column_schema,
)
from wanperf_dagster.dagster_io.partitions import (
    Partitions,
    run_partition_keys,
    site_day_partition,
    split_key,
)
from wanperf_dagster.dagster_io.resources import RedisResource, WanperfSettings
from wanperf_dagster.storage import INVALID_VALUES, site_day_key, site_id_of

from ..site_days import chunked, site_day_out

# declared schemas (the data contracts, storage/datasets.py): shown in the UI without repeating
# them per partition
SNAPSHOT_SCHEMA = dataset_column_schema("site_snapshots")
DAILY_SCHEMA = dataset_column_schema("circuit_kpis")
HOURLY_SCHEMA = dataset_column_schema("circuit_kpis_hourly")
COVERAGE_WARN_PCT = 90.0
# a feed that loses this share of its circuit-days' events is not to be trusted for down time
CONTRADICTED_MAX_PCT = 5.0


def _only(frame: pd.DataFrame, site_days: list[tuple[str, str]]) -> pd.DataFrame:
    """The rows of the given (day, site) pairs."""
    pairs = pd.MultiIndex.from_arrays([frame["day"].astype(str), frame["site_id"].astype(str)])
    return frame[pairs.isin(site_days)].reset_index(drop=True)


def site_snapshots(
    context: dg.AssetExecutionContext, redis: RedisResource, settings: WanperfSettings
):
    pairs = [split_key(k) for k in run_partition_keys(context)]
    assets = redis.asset_store()
    frame = assets.read_snapshot_samples(pairs)
    # which partition key each site has, for readers without a Dagster instance (the CLI)
    assets.register_site_keys(sorted({s for _, s in pairs}))
    dupes = int(frame.duplicated(["ts", "circuit_id"]).sum())
    # each site-day's own figures (a chunk may span days); the chunk's go to the run's log
    per_site_day = frame.groupby(
        [frame["ts"].dt.floor("D").rename("d"), frame["site_id"].astype(str).rename("s")],
        observed=True,
    ).agg(samples=("circuit_id", "size"), circuits=("circuit_id", "nunique"), last=("ts", "max"))
    if len(per_site_day):
        days = per_site_day.index.levels[0].strftime("%Y-%m-%d")
        per_site_day.index = per_site_day.index.set_levels(days, level=0)
    stats = per_site_day.to_dict("index")
    by_partition = {}
    for day, site in pairs:
        row = stats.get((day, site_id_of(site)))
        by_partition[site_day_partition(day, site)] = {
            "dagster/row_count": int(row["samples"]) if row is not None else 0,
            "circuits": int(row["circuits"]) if row is not None else 0,
            "last_sample": dg.MetadataValue.timestamp(row["last"].timestamp())
            if row is not None
            else "no sample",
        }
    add_partition_metadata(context, "site_snapshots", by_partition, settings)
    context.log.info(
        f"{len(pairs)} site-days: {len(frame):,} samples of {frame['circuit_id'].nunique():,}"
        f" circuits; {int(frame.attrs.get(INVALID_VALUES, 0))} unreadable stored"
        " values dropped"
    )
    yield dg.Output(frame)
    yield dg.AssetCheckResult(
        check_name="no_duplicate_samples", passed=dupes == 0, metadata={"duplicates": dupes}
    )


def sites_by_org(mist_sites: pd.DataFrame | None, site_ids: list[str]) -> dict:
    """The sites grouped by their org in the inventory. With one org (or an inventory from
    before orgs were a column) every site is that org's, a retired one too; with several, a site
    no longer in the inventory has no known org (None: its events count only where the
    single-org releases recorded their coverage)."""
    orgs = (
        mist_sites[["site_id", "org_id"]].drop_duplicates()
        if mist_sites is not None and "org_id" in mist_sites
        else pd.DataFrame({"site_id": [], "org_id": []})
    )
    known = orgs["org_id"].unique().tolist()
    if len(known) <= 1:
        return {known[0] if known else None: site_ids}
    org_of = dict(zip(orgs["site_id"], orgs["org_id"], strict=True))
    out: dict = {}
    for site in site_ids:
        out.setdefault(org_of.get(site), []).append(site)
    return out


def circuit_kpis(
    context: dg.AssetExecutionContext,
    redis: RedisResource,
    settings: WanperfSettings,
    site_snapshots: pd.DataFrame,
    mist_sites: pd.DataFrame,
    port_events: pd.DataFrame,
):
    """The pair of samples across midnight (23:50 -> 00:00) counts on the later day, so each
    site-day is computed with the same site's previous day as context: a day's KPIs then equal
    those over the whole history at once. The previous day is read through the storage API, not
    declared as an input, so the chunk runs keep both steps in one run (a day-offset mapping makes
    Dagster run every snapshot chunk first and the KPI chunks a backfill tick later).

    Where the device-event feed covers a day, its port events give the exact down time, flaps and
    availability (`state_source` says which source each row took)."""
    own = [split_key(k) for k in run_partition_keys(context)]
    previous = {
        site_day_key((dt.date.fromisoformat(d) - dt.timedelta(days=1)).isoformat(), s): (d, s)
        for d, s in own
    }
    assets = redis.asset_store()
    before = assets.load("site_snapshots", list(previous), allow_missing=True)
    samples = pd.concat([before.to_pandas(), site_snapshots], ignore_index=True)
    interval = settings.interval_minutes
    days = sorted({d for d, _ in own})
    first, last = (
        dt.datetime.fromisoformat(d).replace(tzinfo=dt.UTC).timestamp() for d in (days[0], days[-1])
    )
    config, now, checked = (
        kpi.KpiConfig.for_sites(mist_sites),
        time.time(),
        assets.circuits_checked(),
    )
    by_org = sites_by_org(mist_sites, sorted({site_id_of(s) for _, s in own}))
    parts = []
    for org, site_ids in by_org.items():  # each org's sites against its own event coverage

        def mine(frame, site_ids=site_ids):
            return frame if len(by_org) == 1 else frame[frame["site_id"].isin(site_ids)]

        parts.append(
            kpi.site_day_kpis(
                mine(samples),
                mine(port_events),
                assets.event_coverage(org, first, last + 86400),
                interval,
                config,
                days,
                now=now,
                registry=assets.circuits(site_ids),
                checked_at=checked,
            )
        )
    hourly, daily = (pd.concat([p[i] for p in parts], ignore_index=True) for i in (0, 1))
    own_ids = [(d, site_id_of(s)) for d, s in own]
    hourly, daily = (_only(frame, own_ids) for frame in (hourly, daily))
    violations = kpi.bounds_violations(daily, interval)
    hourly_violations = kpi.bounds_violations(hourly, interval, bucket_minutes=60)
    _partition_metadata(context, settings, daily, hourly, previous, set(before.missing))
    context.log.info(
        f"{len(own)} site-days: {len(daily):,} circuits, {len(hourly):,} circuit-hours;"
        f" {int((daily['down_seconds'] > 0).sum())} circuits down at some point,"
        f" {int((daily['minutes_above_90'] > 0).sum())} above 90 %"
    )
    low = _under_covered(daily, interval)
    disagreed = _contradicted(daily)
    yield dg.Output(daily, output_name="circuit_kpis")
    yield dg.Output(hourly, output_name="circuit_kpis_hourly")
    yield dg.AssetCheckResult(
        check_name="kpi_bounds",
        asset_key="circuit_kpis",
        passed=not any(violations.values()) and not any(hourly_violations.values()),
        metadata={
            **{f"daily_rows_{rule}": n for rule, n in violations.items()},
            **{f"hourly_rows_{rule}": n for rule, n in hourly_violations.items()},
        },
    )
    yield dg.AssetCheckResult(
        check_name="events_agree_with_samples",
        asset_key="circuit_kpis",
        passed=disagreed["share_pct"] <= CONTRADICTED_MAX_PCT,
        metadata={
            **{k: v for k, v in disagreed.items() if k != "worst"},
            "threshold_pct": CONTRADICTED_MAX_PCT,
            "worst": circuit_table(
                disagreed["worst"], ["site_name", "circuit_id", "event_contradictions"], 5
            ),
        },
    )
    yield dg.AssetCheckResult(
        check_name="coverage",
        asset_key="circuit_kpis",
        passed=low.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "circuits_below": len(low),
            "threshold_pct": COVERAGE_WARN_PCT,
            "lowest": circuit_table(
                low.sort_values("observed_pct"),
                ["site_name", "circuit_id", "observed_pct", "samples"],
                5,
            ),
        },
    )


def _partition_metadata(context, settings, daily, hourly, previous, missing_before) -> None:
    """Each site-day's own figures on its materializations (not the chunk's, nor another day's
    of the same site when a chunk spans days), from one grouped pass over the chunk's rows."""
    dashboard_url = settings.dashboard_url
    sums, worst, hours = {}, {}, {}
    if len(daily):
        keys = [daily["day"].astype(str).rename("d"), daily["site_id"].astype(str).rename("s")]
        grouped = daily.assign(
            events=daily["state_source"] == "events", samples=daily["state_source"] == "samples"
        ).groupby(keys, observed=True, sort=False)
        sums = grouped.agg(
            circuits=("circuit_id", "size"),
            site=("site_name", "first"),
            region=("region", "first"),
            observed_seconds=("observed_seconds", "sum"),
            down_seconds=("down_seconds", "sum"),
            unknown_seconds=("unknown_seconds", "sum"),
            offline_seconds=("offline_seconds", "sum"),
            event_contradictions=("event_contradictions", "sum"),
            flaps=("flaps", "sum"),
            minutes_above_90=("minutes_above_90", "sum"),
            on_backup_minutes=("on_backup_minutes", "sum"),
            events=("events", "any"),
            samples=("samples", "any"),
        ).to_dict("index")
        ranked = daily.assign(d=keys[0], s=keys[1]).sort_values(
            ["availability_pct", "down_seconds"],
            ascending=[True, False],
            na_position="last",
            kind="stable",
        )
        first = ranked.drop_duplicates(["d", "s"])
        worst = dict(
            zip(
                zip(first["d"], first["s"], strict=True),
                zip(first["circuit_id"].astype(str), first["availability_pct"], strict=True),
                strict=True,
            )
        )
    if len(hourly):
        hours = hourly.groupby(
            [hourly["day"].astype(str), hourly["site_id"].astype(str)], observed=True
        ).size()
    daily_meta, hourly_meta = {}, {}
    for key, (day, site) in previous.items():
        partition = site_day_partition(day, site)
        site_id = site_id_of(site)
        figures: dict = {
            "previous_day_available": key not in missing_before,
            # this site-day on the NOC dashboard: its circuits' time series
            "dashboard": dg.MetadataValue.url(
                f"{dashboard_url}/site/{quote(site_id, safe='')}?from={day}&to={day}"
            ),
        }
        row = sums.get((day, site_id))
        if row is None:
            figures.update({"dagster/row_count": 0, "circuits": 0})
        else:
            seen, down_s = int(row["observed_seconds"]), int(row["down_seconds"])
            circuit, availability = worst[(day, site_id)]
            figures.update(
                {
                    "dagster/row_count": int(row["circuits"]),
                    "site": str(row["site"]),
                    "region": str(row["region"]),
                    "circuits": int(row["circuits"]),
                    "availability_pct": round((seen - down_s) / seen * 100, 3) if seen else None,
                    # one down figure everywhere: the exact seconds, also shown in minutes
                    "down_minutes": round(down_s / 60, 1),
                    "down_seconds": down_s,
                    "unknown_seconds": int(row["unknown_seconds"]),
                    "offline_seconds": int(row["offline_seconds"]),
                    "event_contradictions": int(row["event_contradictions"]),
                    "state_source": ", ".join(name for name in ("events", "samples") if row[name]),
                    "flaps": int(row["flaps"]),
                    "minutes_above_90": int(row["minutes_above_90"]),
                    "on_backup_minutes": int(row["on_backup_minutes"]),
                    "worst_circuit": f"{circuit} ({_pct(availability)})",
                }
            )
        daily_meta[partition] = figures
        hourly_meta[partition] = {"dagster/row_count": int(hours.get((day, site_id), 0))}
    add_partition_metadata(context, "circuit_kpis", daily_meta, settings)
    add_partition_metadata(context, "circuit_kpis_hourly", hourly_meta, settings)


def _contradicted(daily: pd.DataFrame) -> dict:
    """Of the circuit-days the event feed covered, how many had events and samples disagree."""
    covered = daily[daily["state_source"] == "events"]
    hit = covered[covered["event_contradictions"] > 0]
    return {
        "circuit_days_covered": len(covered),
        "circuit_days_contradicted": len(hit),
        "contradictions": int(covered["event_contradictions"].sum()),
        "share_pct": round(100 * len(hit) / len(covered), 2) if len(covered) else 0.0,
        "worst": hit.sort_values("event_contradictions", ascending=False),
    }


def _pct(value) -> str:
    return "no data" if pd.isna(value) else f"{value:.2f} % available"


def _under_covered(daily: pd.DataFrame, interval: int, now: float | None = None) -> pd.DataFrame:
    """Circuits observed for less than COVERAGE_WARN_PCT of the part of their day that has
    passed (today is judged against the time elapsed, less the slot not swept yet)."""
    if daily.empty:
        return daily.assign(observed_pct=pd.Series(dtype=float))
    now = time.time() if now is None else now
    start = daily["day"].astype(str).to_numpy().astype("datetime64[s]").astype(np.int64)
    elapsed = ((now - start) // 60 - interval).clip(interval, 1440)
    observed = (daily["up_minutes"] + daily["down_minutes"]).to_numpy()
    pct = observed / elapsed * 100
    return daily.assign(observed_pct=pct.round(1))[pct < COVERAGE_WARN_PCT]


def definitions(p: Partitions) -> dg.Definitions:
    """The ports feed's site-day assets on the code location's partitions."""
    snapshots = dg.asset(
        **chunked(p),
        deps=["raw_port_stats"],
        metadata={"dagster/column_schema": SNAPSHOT_SCHEMA},
        check_specs=[
            dg.AssetCheckSpec(
                "no_duplicate_samples",
                asset="site_snapshots",
                description="at most one sample per circuit and sample instant",
            )
        ],
        description="One site's samples of one UTC day (one row per WAN port per sample slot), "
        "consolidated from the sweep's raw samples into one Arrow table.",
    )(site_snapshots)
    kpis = dg.multi_asset(
        partitions_def=p.site_day,
        backfill_policy=p.site_day_backfill,
        group_name="kpis",
        outs={
            "circuit_kpis": site_day_out(
                "Daily KPIs per circuit: availability, flaps, utilisation (avg/p95/max, time above "
                "70/80/90 %), volume, errors, quality, failover. See docs/kpis.md.",
                DAILY_SCHEMA,
            ),
            "circuit_kpis_hourly": site_day_out(
                "The same KPIs per circuit and UTC hour.", HOURLY_SCHEMA
            ),
        },
        check_specs=[
            dg.AssetCheckSpec(
                "kpi_bounds",
                asset="circuit_kpis",
                description="daily and hourly rows within their bounds: "
                + "; ".join(kpi.BOUNDS_RULES.values())
                + " (none)",
            ),
            dg.AssetCheckSpec(
                "events_agree_with_samples",
                asset="circuit_kpis",
                description="circuit-days whose port events and samples disagreed (a transition "
                "nobody reported: the time between is unknown) at most "
                f"{CONTRADICTED_MAX_PCT:.0f} % of those the event feed covered",
            ),
            dg.AssetCheckSpec(
                "coverage",
                asset="circuit_kpis",
                description=f"circuits observed under {COVERAGE_WARN_PCT:.0f} % of their day so far "
                "(today: of the time elapsed) (warn)",
            ),
        ],
    )(circuit_kpis)
    return dg.Definitions(assets=[snapshots, kpis])
