"""What each KPI column means, in a line (docs/kpis.md has the rules): shown beside the column in
the Dagster UI and in exports' schemas."""

from __future__ import annotations

from .config import QUALITY_TIERS, UTIL_TIERS

_QUALITY_UNITS = {"jitter": "ms", "latency": "ms", "loss": "%"}

KPI_DESCRIPTIONS: dict[str, str] = {
    "day": "the UTC day",
    "hour": "the UTC hour (its start)",
    "window_start": "start of the window (UTC)",
    "window_end": "end of the window (UTC)",
    "site_id": "the Mist site's id",
    "site_name": "the site's name (now)",
    "region": "the site's region (its site group)",
    "circuit_id": "the WAN circuit: gateway MAC and port",
    "port_id": "the WAN port",
    "role": "primary (the site's first WAN port) or secondary",
    "speed_mbps": "speed of the last sample, Mbit/s",
    "speed_changes": "samples whose speed differed from the previous one",
    "samples": "samples taken (one per poll slot)",
    "coverage_pct": "observed (up + down) share of the bucket, %",
    "up_minutes": "minutes up (interval x samples up)",
    "down_minutes": "minutes down",
    "unknown_minutes": "minutes with no sample or no state: neither up nor down",
    "availability_pct": "share of the time up, %: from port events where covered, else up / (up +"
    " down) minutes; empty when nothing was observed",
    "flaps": "up/down changes: from port events where covered, else sampled changes and flaps "
    "between samples (last_flapped moved)",
    "down_seconds": "seconds down: exact from port events where covered, else down minutes x 60",
    "observed_seconds": "seconds whose state is known: the span port events cover, else (up + "
    "down) minutes x 60; availability is (observed - down) / observed",
    "unknown_seconds": "seconds of the circuit's life in the bucket (up to now) whose state is"
    " unknown: nobody observed them, or the events and samples disagreed there",
    "offline_seconds": "of the down seconds, those its gateway was offline (unreachable)",
    "state_source": "where down_seconds, flaps and availability come from: events or samples",
    "event_contradictions": "stretches where events and samples disagreed (a transition nobody "
    "reported): unknown time, counted; 0 where the samples were the source",
    "util_samples": "samples with a known utilisation",
    "util_avg_pct": "mean utilisation, % of speed (max of rx, tx)",
    "util_p95_pct": "95th percentile utilisation, %",
    "util_max_pct": "highest utilisation, %",
    "util_band": "where p95 sits among the tiers: normal, elevated, high, critical",
    "util_thresholds": "the utilisation tiers that applied (region overrides)",
    "counter_minutes": "minutes the counter deltas span (1440: the whole day)",
    "rx_bytes": "bytes received (counter deltas, resets handled)",
    "tx_bytes": "bytes sent",
    "packets": "packets received and sent",
    "errors": "errors received and sent",
    "error_rate": "errors / packets",
    "quality_samples": "samples with a latency",
    "failover_minutes": "minutes this circuit carried its site's primary's load",
    "failover_events": "separate runs of failover minutes",
    "on_backup_minutes": "on the primary: minutes down while the site ran on a secondary",
    "failover_seconds": "seconds this circuit carried its site's primary's load: to the second "
    "where events covered the site's circuits, else failover minutes x 60",
    "on_backup_seconds": "on the primary: seconds down while the site ran on a secondary (exact"
    " where events covered the site's circuits)",
}
for _t in UTIL_TIERS:
    KPI_DESCRIPTIONS[f"minutes_above_{_t}"] = f"minutes at or above the {_t} % tier (in all)"
    KPI_DESCRIPTIONS[f"longest_minutes_above_{_t}"] = f"longest unbroken run at or above {_t} %"
for _name, _unit in _QUALITY_UNITS.items():
    _u = "pct" if _unit == "%" else _unit
    KPI_DESCRIPTIONS[f"{_name}_avg_{_u}"] = f"mean {_name} while up, {_unit}"
    KPI_DESCRIPTIONS[f"{_name}_p95_{_u}"] = f"95th percentile {_name}, {_unit}"
    KPI_DESCRIPTIONS[f"{_name}_max_{_u}"] = f"highest {_name}, {_unit}"
    for _tier in QUALITY_TIERS:
        KPI_DESCRIPTIONS[f"{_name}_minutes_{_tier}"] = (
            f"minutes with {_name} at the {_tier} tier or worse"
        )

# the rollups' own columns
ROLLUP_DESCRIPTIONS: dict[str, str] = {
    "circuits": "circuits counted",
    "circuits_down": "circuits down at some point",
    "circuits_above_90": "circuits whose p95 utilisation reached the top tier (congested)",
    "circuits_failed_over": "circuits that took over from their site's primary",
    "kpi": "the KPI ranked",
    "rank": "1 is the worst",
    "value": "the circuit's value of the KPI",
    "tie_breaker": "the KPI that orders circuits tied on the first",
    "tie_breaker_value": "the circuit's value of the tie-breaker",
    "period_start": "first day of the week (Monday) or month",
    "period_days": "days of the period in the data",
    "window_hours": "the window: the last 3, 12 or 24 hours",
    "up_now": "the circuit's state at its latest sample",
    "util_now_pct": "utilisation at the latest sample, %",
    "last_seen": "when the circuit was last sampled",
    "days": "days with a value",
    "slope_per_day": "change per day: least squares over the last days (congestion_trends), "
    "Theil-Sen over weekly medians of the daily p95 (circuit_trends_13m)",
    "slope_low_per_day": "the low end of the slope's 90 % band",
    "slope_high_per_day": "the high end of the slope's 90 % band",
    "level_pct": "where the fitted p95 line stands on the last day, %",
    "history_days": "days with a daily p95 in the 13 months",
    "days_to_threshold": "days until the fitted p95 crosses 80 % (empty: not rising, above, or "
    "too little history)",
    "days_to_threshold_earliest": "the soonest the band allows",
    "days_to_threshold_latest": "the latest the band allows (empty: it may never cross)",
    "forecast": "insufficient history, no recent data, above threshold, rising, rising, "
    "uncertain, or not rising",
    "latest_p95_pct": "the partition month's p95 of daily p95s (empty: no data that month)",
    "latest": "the latest day's value",
    "trend": "rising, falling, stable, or insufficient data",
    "congested_and_rising": "at or above the first tier now, and rising",
    "days_breached": "days at or above 90 % of the last 7",
}
COLUMN_DESCRIPTIONS: dict[str, str] = {**KPI_DESCRIPTIONS, **ROLLUP_DESCRIPTIONS}
