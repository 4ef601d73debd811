"""Per-circuit hourly and daily KPIs from `site_snapshots` samples, vectorised end to end.

The samples are sorted once by (circuit, slot); every KPI group (a circuit-hour, a circuit-day, a
circuit over a window) is then a contiguous segment of that order, so sums, maxima and runs are
numpy `reduceat` calls and percentiles one sort per measure. See docs/kpis.md for the definitions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa

from wanperf_dagster import contract

from . import existence
from .config import DEFAULT_CONFIG, QUALITY_TIERS, UTIL_TIERS, KpiConfig

SNAPSHOT_COLUMNS = list(contract.SNAPSHOT_COLUMNS)
# a row that stands for a circuit-hour without any sample (the circuit exists: `lifetimes`)
PLACEHOLDER = "_placeholder"
# a down row made of a gateway's own status saying it is offline (no port stats meanwhile)
OFFLINE_SAMPLE = "_offline"
REQUIRED_COLUMNS = list(contract.REQUIRED_COLUMNS)
COUNTERS = list(contract.COUNTERS)
QUALITY = [
    ("jitter", "jitter_ms", "ms"),
    ("latency", "latency_ms", "ms"),
    ("loss", "loss_pct", "pct"),
]
NS_PER_MIN = 60_000_000_000


def kpi_columns(kind: str) -> list[str]:
    """The output columns, in order: `kind` is "daily", "hourly" or "window"."""
    lead = {"daily": ["day"], "hourly": ["day", "hour"], "window": ["window_start", "window_end"]}[
        kind
    ]
    cols = lead + [
        "site_id",
        "site_name",
        "region",
        "circuit_id",
        "port_id",
        "role",
        "speed_mbps",
        "speed_changes",
        "samples",
        "coverage_pct",
        "up_minutes",
        "down_minutes",
        "unknown_minutes",
        "availability_pct",
        "flaps",
        "down_seconds",
        "observed_seconds",
        "unknown_seconds",
        "offline_seconds",
        "state_source",
        "event_contradictions",
        "util_samples",
        "util_avg_pct",
        "util_p95_pct",
        "util_max_pct",
        "util_band",
        "util_thresholds",
    ]
    cols += [f"minutes_above_{t}" for t in UTIL_TIERS]
    cols += [f"longest_minutes_above_{t}" for t in UTIL_TIERS]
    cols += ["counter_minutes", "rx_bytes", "tx_bytes", "packets", "errors", "error_rate"]
    cols += ["quality_samples"]
    for name, _, unit in QUALITY:
        cols += [f"{name}_avg_{unit}", f"{name}_p95_{unit}", f"{name}_max_{unit}"]
    for name, _, _ in QUALITY:
        cols += [f"{name}_minutes_{tier}" for tier in QUALITY_TIERS]
    cols += ["failover_minutes", "failover_events", "on_backup_minutes"]
    cols += ["failover_seconds", "on_backup_seconds"]
    return cols


INT_COLUMNS = {
    "samples",
    "speed_changes",
    "counter_minutes",
    "up_minutes",
    "down_minutes",
    "unknown_minutes",
    "flaps",
    "down_seconds",
    "observed_seconds",
    "unknown_seconds",
    "offline_seconds",
    "event_contradictions",
    "failover_seconds",
    "on_backup_seconds",
    "util_samples",
    "quality_samples",
    "rx_bytes",
    "tx_bytes",
    "packets",
    "errors",
    "failover_minutes",
    "failover_events",
    "on_backup_minutes",
    *(f"minutes_above_{t}" for t in UTIL_TIERS),
    *(f"longest_minutes_above_{t}" for t in UTIL_TIERS),
    *(f"{n}_minutes_{tier}" for n, _, _ in QUALITY for tier in QUALITY_TIERS),
}


BANDS = np.array(["normal", "elevated", "high", "critical"], dtype=object)


def util_band(p95: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """normal / elevated / high / critical by where the p95 utilisation sits among the tiers."""
    with np.errstate(invalid="ignore"):
        level = (p95[:, None] >= thresholds).sum(axis=1)
    band = BANDS[level]
    band[np.isnan(p95)] = None
    return band


@dataclass
class Prepared:
    """Samples deduplicated to one per (circuit, slot), sorted, with per-row derived measures."""

    interval: int
    n: int
    circuit: np.ndarray  # int code
    circuit_ids: np.ndarray  # code -> id
    site_of_circuit: np.ndarray
    port_of_circuit: np.ndarray
    region_of_circuit: np.ndarray
    name_of_circuit: np.ndarray  # the site's name
    primary_of_circuit: np.ndarray  # bool
    order_of_circuit: np.ndarray  # 0 the primary, then the secondaries in the site's order
    thresholds_label_of_circuit: np.ndarray
    slot: np.ndarray  # minutes since epoch, floored to the interval
    up: np.ndarray  # bool
    down: np.ndarray  # bool
    util: np.ndarray  # float, nan when unknown
    util_valid: np.ndarray
    thresholds: np.ndarray  # (n, 3) per row, from the circuit's region
    flap: np.ndarray  # bool: a flap observed at this sample (vs the previous one)
    speed: np.ndarray  # Mbit/s of each sample
    speed_change: np.ndarray  # bool: the speed differs from the previous sample's
    span: np.ndarray  # minutes since the circuit's previous sample (0 for its first)
    deltas: dict[str, np.ndarray]
    quality: dict[str, np.ndarray]
    failover: np.ndarray  # bool: this circuit took the load of its site's primary, which was down
    on_backup: np.ndarray  # bool, on primaries' rows: down, with the site running on a secondary
    real: np.ndarray  # bool: a sample, not a placeholder for a circuit-hour without any
    offline: np.ndarray  # bool: down because the gateway said it was offline

    def select(self, keep: np.ndarray) -> Prepared:
        """Only the rows where `keep`: the per-row measures were computed with every row (a
        previous day's samples give the first pair of a day its predecessor), the KPIs are
        aggregated over the kept ones."""
        if keep.all():
            return self
        per_row = {
            name: getattr(self, name)[keep]
            for name in (
                "circuit",
                "slot",
                "up",
                "down",
                "util",
                "util_valid",
                "thresholds",
                "flap",
                "speed",
                "speed_change",
                "span",
                "failover",
                "on_backup",
                "real",
                "offline",
            )
        }
        return replace(
            self,
            n=int(keep.sum()),
            deltas={k: v[keep] for k, v in self.deltas.items()},
            quality={k: v[keep] for k, v in self.quality.items()},
            **per_row,
        )


def _as_frame(samples) -> pd.DataFrame:
    if isinstance(samples, pa.Table):
        return samples.to_pandas()
    return samples


def _num(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def prepare(samples, interval_minutes: int, config: KpiConfig | None = None) -> Prepared | None:
    """Validate, deduplicate and sort the samples, and derive every per-sample measure the KPIs
    aggregate; None when there are no samples."""
    config = config or DEFAULT_CONFIG
    interval = _check_interval(interval_minutes)
    df = _as_frame(samples)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"samples lack required column(s) {missing}; expected the site_snapshots schema"
        )
    if df.empty:
        return None
    rows, codes, slot, circuit_ids = _one_sample_per_slot(df, interval)

    def col(name: str) -> np.ndarray:
        return _num(df, name)[rows]

    up_flags = df["up"].astype("boolean")
    up = up_flags.fillna(False).to_numpy(dtype=bool)[rows]
    down = (~up_flags).fillna(False).to_numpy(dtype=bool)[rows]
    circuits = _circuit_attributes(df, rows, codes, circuit_ids, config)
    thresholds_of = circuits.pop("thresholds_of")
    rate, util, util_valid = _utilisation(col, up)
    real = ~_flag(df, PLACEHOLDER)[rows]
    offline = _flag(df, OFFLINE_SAMPLE)[rows] & down
    # each sample's predecessor: the circuit's previous sample (placeholders are not samples)
    circuit_continues = np.r_[False, codes[1:] == codes[:-1]]
    latest_real = _ffill_within(np.where(real, np.arange(len(rows)), np.nan), circuit_continues)
    before = np.where(circuit_continues, np.r_[np.nan, latest_real[:-1]], np.nan)
    same = real & ~np.isnan(before)  # a sample with a previous sample of the same circuit
    prev = np.where(same, before, 0).astype(np.int64)
    speed = col("speed_mbps")
    failover, on_backup = _failover(codes, slot, interval, circuits, up, down, rate, speed, config)
    return Prepared(
        interval=interval,
        n=len(rows),
        circuit=codes,
        circuit_ids=np.asarray(circuit_ids, dtype=object),
        **circuits,
        slot=slot,
        up=up,
        down=down,
        util=util,
        util_valid=util_valid,
        thresholds=thresholds_of[codes],
        flap=_flaps(same, prev, up, down, col("last_flapped")),
        speed=speed,
        speed_change=same & (speed != speed[prev]) & ~np.isnan(speed) & ~np.isnan(speed[prev]),
        span=np.where(same, slot - slot[prev], 0),
        deltas=_counter_deltas(col, same, prev, circuit_continues),
        quality={name: np.where(up, col(column), np.nan) for name, column, _ in QUALITY},
        failover=failover,
        on_backup=on_backup,
        real=real,
        offline=offline,
    )


def _flag(df: pd.DataFrame, column: str) -> np.ndarray:
    if column not in df:
        return np.zeros(len(df), dtype=bool)
    return df[column].astype("boolean").fillna(False).to_numpy(dtype=bool)


def _check_interval(interval_minutes: int) -> int:
    if interval_minutes <= 0 or 60 % interval_minutes:
        raise ValueError(
            f"interval_minutes must divide 60 (1, 2, 5, 10, 15, 30, 60), got {interval_minutes}"
        )
    return int(interval_minutes)


def _one_sample_per_slot(df: pd.DataFrame, interval: int):
    """Row numbers of the samples kept, sorted by (circuit, slot), with their circuit codes and
    slots (minutes since the epoch, floored to the interval), and the circuit ids by code.

    Of two samples of a circuit in one slot the later one wins; of two at the same instant with
    different content, the one whose content hashes higher, so the result never depends on row
    order."""
    ts = pd.to_datetime(df["ts"], utc=True)
    ts_ns = ts.to_numpy(dtype="datetime64[ns]").view(np.int64)
    slot = ts_ns // NS_PER_MIN // interval * interval
    codes, circuit_ids = pd.factorize(df["circuit_id"], sort=True)
    circuit_ids = np.asarray(circuit_ids.astype(str), dtype=object)
    ts_ms = ts_ns // 1_000_000
    span = int(ts_ms.max() - ts_ms.min()) + 1 if len(ts_ms) else 1
    if (int(codes.max()) + 1) * span < 2**62:  # one int64 key: (circuit, ts) in a single sort
        order = np.argsort(codes.astype(np.int64) * span + (ts_ms - ts_ms.min()), kind="stable")
    else:
        order = np.lexsort((ts_ns, slot, codes))
    o_codes, o_ts = codes[order], ts_ns[order]
    if ((o_codes[1:] == o_codes[:-1]) & (o_ts[1:] == o_ts[:-1])).any():
        content = pd.util.hash_pandas_object(df, index=False).to_numpy()
        order = np.lexsort((content, ts_ns, slot, codes))
    codes, slot = codes[order], slot[order]
    keep = np.r_[(codes[1:] != codes[:-1]) | (slot[1:] != slot[:-1]), True]
    return order[keep], codes[keep], slot[keep], circuit_ids


def _circuit_attributes(
    df: pd.DataFrame,
    rows: np.ndarray,
    codes: np.ndarray,
    circuit_ids: np.ndarray,
    config: KpiConfig,
) -> dict[str, np.ndarray]:
    """Per circuit code: site, port, region, role and thresholds (`thresholds_of`, (circuits,
    3), and their label)."""
    first = np.r_[True, codes[1:] != codes[:-1]]  # rows are sorted by circuit
    first_rows = rows[first]
    site_of = df["site_id"].iloc[first_rows].astype(str).to_numpy(dtype=object)
    if "port_id" in df.columns:
        port_of = df["port_id"].iloc[first_rows].astype(str).to_numpy(dtype=object)
    else:
        port_of = np.array([c.split(":")[-1] for c in np.asarray(circuit_ids)], dtype=object)
    if "region" in df.columns:
        region_of = (
            df["region"].iloc[first_rows].astype(object).fillna("unknown").astype(str)
        ).to_numpy(dtype=object)
    else:
        region_of = np.array([config.site_regions.get(s, "unknown") for s in site_of], dtype=object)
    if "site_name" in df.columns:
        name_of = df["site_name"].iloc[first_rows].astype(object).fillna("").astype(str)
        name_of = name_of.to_numpy(dtype=object)
    else:
        name_of = np.array([config.site_names.get(s, s) for s in site_of], dtype=object)
    circuits = pd.DataFrame(
        {"site_id": site_of, "circuit_id": np.asarray(circuit_ids), "port_id": port_of}
    )
    thresholds_of = np.array(
        [config.thresholds_for(r) for r in region_of], dtype=np.float64
    ).reshape(-1, 3)
    primary = config.is_primary(circuits).to_numpy(dtype=bool)
    ordered = circuits.assign(secondary=~primary).sort_values(
        ["site_id", "secondary", "port_id", "circuit_id"], kind="stable"
    )
    order = ordered.groupby("site_id", sort=False).cumcount().sort_index().to_numpy()
    return {
        "site_of_circuit": site_of,
        "port_of_circuit": port_of,
        "region_of_circuit": np.asarray(region_of, dtype=object),
        "name_of_circuit": np.asarray(name_of, dtype=object),
        "primary_of_circuit": primary,
        "order_of_circuit": order.astype(np.int64),
        "thresholds_label_of_circuit": np.array(
            ["/".join(f"{x:g}" for x in t) for t in thresholds_of.tolist()], dtype=object
        ),
        "thresholds_of": thresholds_of,
    }


def _utilisation(col, up: np.ndarray):
    """(rate, utilisation %, utilisation known) per sample: max(rx, tx) over the link speed,
    capped at 100; unknown when the speed is 0 or missing, the rate missing, or the port not up."""
    speed, rx_bps, tx_bps = col("speed_mbps"), col("rx_bps"), col("tx_bps")
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.fmax(rx_bps, tx_bps)
        util = np.where(
            (speed > 0) & ~np.isnan(rate), np.minimum(rate / (speed * 1e6) * 100, 100.0), np.nan
        )
    util_valid = up & ~np.isnan(util)
    return rate, np.where(util_valid, util, np.nan), util_valid


def _flaps(same, prev, up, down, last_flapped) -> np.ndarray:
    """A flap at a sample: the known state changed since the circuit's previous sample, or the
    port's `last_flapped` moved forward (a flap between samples)."""
    known = (up | down) & (up[prev] | down[prev])
    changed = same & known & (up != up[prev])
    with np.errstate(invalid="ignore"):
        advanced = same & (last_flapped > last_flapped[prev])
    return changed | advanced


def _ffill_within(values: np.ndarray, same: np.ndarray) -> np.ndarray:
    """Forward-fill NaN within each circuit's run of rows (rows sorted by circuit; `same` marks
    rows whose previous row is the same circuit), never across circuits."""
    missing = np.isnan(values)
    if not missing.any():
        return values
    index = np.where(~missing | ~same, np.arange(len(values)), 0)  # a circuit's first row resets
    filled = values[np.maximum.accumulate(index)]
    return filled


def _bfill_within(values: np.ndarray, same_next: np.ndarray) -> np.ndarray:
    """Backward-fill NaN within each circuit's run of rows (`same_next` marks rows whose next
    row is the same circuit), never across circuits."""
    return _ffill_within(values[::-1], same_next[::-1])[::-1]


def _counter_deltas(col, same, prev, circuit_continues) -> dict[str, np.ndarray]:
    """Each counter's increase since the circuit's last sample that reported it; a decrease is a
    reset (reboot), so the counter restarted from zero and its value is the increase. A sample
    without the counter adds nothing; the next one that has it takes the whole increase since the
    last known value, so a missing value loses no volume."""
    deltas = {}
    for name in COUNTERS:
        x = col(name)
        known = _ffill_within(x, circuit_continues)  # the last known value, per circuit
        d = x - known[prev]
        with np.errstate(invalid="ignore"):
            d = np.where(d < 0, x, d)
        d = np.where(same & ~np.isnan(d), d, 0)
        deltas[name] = d.astype(np.int64)
    return deltas


def _failover(
    codes, slot, interval, circuits, up, down, rate, speed, config: KpiConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(took the load, site on backup) per row; docs/kpis.md, Failover.

    While a site's primary is known down, a secondary that is up and carrying traffic keeps the
    site running: the site is *on backup* (marked on the primary's row). The secondary
    *credited* with failover is the one that carried the load the primary lost, judged against
    that load, not against the secondary's own level: as the outage began, its traffic rose by
    what it could take of the load (all of it, or its headroom when the load is larger: an LTE
    backup saturates), within `takeover_tolerance`; of several such, the closest. Where none
    does (a small load on a busy link is within its own variation), or the samples did not see
    the outage begin, the traffic cannot tell: the first in the site's order, the designated
    backup. Chosen once per outage; in a slot where it is not up and carrying (it failed too),
    the same rule picks among that slot's others."""
    n = len(codes)
    credited = np.zeros(n, dtype=bool)
    on_backup = np.zeros(n, dtype=bool)
    is_primary = circuits["primary_of_circuit"][codes]
    if not is_primary.any() or is_primary.all():
        return credited, on_backup
    site_code = pd.factorize(circuits["site_of_circuit"])[0][codes].astype(np.int64)
    key = site_code * (1 << 40) + slot

    # the primary's row, state and outage (run of consecutive down slots) at each (site, slot)
    p_rows = np.flatnonzero(is_primary)
    p_rows = p_rows[np.argsort(key[p_rows], kind="stable")]
    p_key, p_down = key[p_rows], down[p_rows]
    p_site, p_slot = site_code[p_rows], slot[p_rows]
    follows = np.r_[
        False, (p_site[1:] == p_site[:-1]) & (p_slot[1:] - p_slot[:-1] == interval) & p_down[:-1]
    ]
    outage_of_primary_row = np.cumsum(p_down & ~follows) - 1
    first_down = np.flatnonzero(p_down & ~follows)  # by outage, its first primary row
    outage_start = p_slot[first_down]
    # an outage whose beginning the samples saw: the primary up within two intervals before it.
    # Otherwise (it began before the data, or in a gap) the load it lost and the secondaries'
    # levels come from after it, hours away: the traffic cannot tell who took it
    prev = np.clip(first_down - 1, 0, None)
    start_seen = (
        (first_down > 0)
        & (p_site[prev] == p_site[first_down])
        & (p_slot[first_down] - p_slot[prev] <= 2 * interval)
        & up[p_rows][prev]
    )
    pos = np.clip(np.searchsorted(p_key, key), 0, len(p_key) - 1)
    found = p_key[pos] == key
    primary_down = found & p_down[pos]
    primary_up = found & up[p_rows][pos]
    outage = np.where(primary_down, outage_of_primary_row[pos], -1)
    if not primary_down.any():
        return credited, on_backup

    # each circuit's traffic in its last slot before this one in which it and the primary were
    # up (the first such slot after, where the outage began before the data)
    same = np.r_[False, codes[1:] == codes[:-1]]
    with np.errstate(invalid="ignore"):
        level = np.where(primary_up & up & ~np.isnan(rate), rate, np.nan)
    before = np.where(same, np.r_[np.nan, _ffill_within(level, same)[:-1]], np.nan)
    after = _bfill_within(level, np.r_[codes[1:] == codes[:-1], False])
    before = np.where(np.isnan(before), after, before)
    lost = np.where(found, before[p_rows][pos], np.nan)  # the load the primary carried
    traffic = np.nan_to_num(rate, nan=0.0)

    carrying = ~is_primary & primary_down & up & (traffic >= config.carrying_min_bps)
    on_backup[p_rows[np.unique(pos[carrying])]] = True
    # nothing to take over where the primary carried nothing (unknown: it may have)
    candidate = carrying & ~(lost < config.carrying_min_bps)
    rows = np.flatnonzero(candidate)
    if not len(rows):
        return credited, on_backup
    headroom = np.clip(speed[rows] * 1e6 - before[rows], 0, None)
    could_take = np.fmin(lost[rows], headroom)  # NaN only when neither is known
    miss = np.abs(traffic[rows] - before[rows] - could_take)
    known = ~np.isnan(miss) & (could_take > 0)
    order = circuits["order_of_circuit"][codes[rows]]

    # per outage and candidate: the rise against what it could take, in the outage's first two
    # slots (the load it lost is known from just before; the primary's own traffic moves on,
    # through the day, while it is down)
    n_codes = len(circuits["order_of_circuit"]) + 1
    _, inverse = np.unique(outage[rows] * n_codes + codes[rows], return_inverse=True)
    fresh = slot[rows] - outage_start[outage[rows]] < 2 * interval
    counted = known & fresh
    missed = np.bincount(inverse, np.where(counted, miss, 0.0))
    expected = np.bincount(inverse, np.where(counted, could_take, 0.0))
    unknown = np.bincount(inverse, fresh & ~known) > 0
    there = np.bincount(inverse, fresh) > 0  # up and carrying when the outage began
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = np.where(expected > 0, missed / expected, np.inf)
    first = np.unique(inverse, return_index=True)[1]
    g_outage, g_code, g_order = outage[rows][first], codes[rows][first], order[first]
    fits = there & ~unknown & (relative <= config.takeover_tolerance) & start_seen[g_outage]
    # the closest fit; where none fits, the site's order (those there from the start first)
    closeness = np.where(fits, relative, 0.0)
    pick = np.lexsort((g_code, g_order, ~there, closeness, ~fits, g_outage))
    chosen = pick[np.r_[True, g_outage[pick][1:] != g_outage[pick][:-1]]]
    taker = np.full(int(outage.max()) + 1, -1, dtype=np.int64)
    taker[g_outage[chosen]] = g_code[chosen]
    keeps = taker[outage[rows]] == codes[rows]
    credited[rows[keeps]] = True
    # slots of an outage whose taker is not up and carrying: the same rule, that slot alone
    rest = ~np.isin(key[rows], key[rows[keeps]])
    if rest.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            relative_now = np.where(known, miss / could_take, np.inf)
        fit_now = relative_now <= config.takeover_tolerance
        r = np.flatnonzero(rest)
        closeness = np.where(fit_now, relative_now, 0.0)[r]
        by_slot = r[np.lexsort((codes[rows][r], order[r], closeness, ~fit_now[r], key[rows][r]))]
        first_in_slot = np.r_[True, key[rows][by_slot][1:] != key[rows][by_slot][:-1]]
        credited[rows[by_slot[first_in_slot]]] = True
    return credited, on_backup


def _percentile_95(values: np.ndarray, seg: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Linear-interpolated 95th percentile of the non-null values of each segment.

    Segments are contiguous and similar in length, so the values go into a (segments x longest)
    array padded with NaN and are sorted row by row: far cheaper than one global sort.
    """
    n_seg = len(starts)
    lengths = np.diff(np.r_[starts, len(values)])
    width = int(lengths.max()) if n_seg else 0
    out = np.full(n_seg, np.nan)
    if not n_seg:
        return out
    if n_seg * width > 4 * len(values) + 1024:  # very uneven segments: one global sort instead
        valid = ~np.isnan(values)
        order = np.lexsort((values[valid], seg[valid]))
        v, s = values[valid][order], seg[valid][order]
        counts = np.bincount(s, minlength=n_seg)
        offsets = np.r_[0, np.cumsum(counts)[:-1]]
        grid = None
    else:
        grid = np.full((n_seg, width), np.nan)
        grid[seg, np.arange(len(values)) - starts[seg]] = values
        grid.sort(axis=1)  # NaN sorts last
        counts = (~np.isnan(grid)).sum(axis=1)
    has = counts > 0
    pos = (counts[has] - 1) * 0.95
    lo = np.floor(pos).astype(np.int64)
    hi = np.ceil(pos).astype(np.int64)
    if grid is None:
        base = offsets[has]
        v_lo, v_hi = v[base + lo], v[base + hi]
    else:
        rows = np.flatnonzero(has)
        v_lo, v_hi = grid[rows, lo], grid[rows, hi]
    out[has] = v_lo + (v_hi - v_lo) * (pos - lo)
    return out


def _longest_runs(cond: np.ndarray, p: Prepared, seg: np.ndarray, n_seg: int) -> np.ndarray:
    """Longest run, in minutes, of consecutive slots (no gap) meeting `cond`, per segment."""
    out = np.zeros(n_seg, dtype=np.int64)
    if not cond.any():
        return out
    prev_same = np.r_[False, (seg[1:] == seg[:-1]) & (p.slot[1:] == p.slot[:-1] + p.interval)]
    cont = prev_same & cond & np.r_[False, cond[:-1]]
    start = cond & ~cont
    run_id = np.cumsum(start) - 1
    lengths = np.bincount(run_id[cond]) * p.interval
    np.maximum.at(out, seg[start], lengths)
    return out


def aggregate(
    p: Prepared, bucket: np.ndarray, minutes_per_bucket: int, config: KpiConfig | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """KPIs per (circuit, bucket) segment; `bucket` is a per-row label that is non-decreasing
    within each circuit (a day, an hour, a window). Returns the frame and each segment's first row."""
    config = config or DEFAULT_CONFIG
    step = p.interval
    starts = np.flatnonzero(
        np.r_[True, (p.circuit[1:] != p.circuit[:-1]) | (bucket[1:] != bucket[:-1])]
    )
    n_seg = len(starts)
    seg = np.repeat(np.arange(n_seg), np.diff(np.r_[starts, p.n]))

    def total(x) -> np.ndarray:
        return np.add.reduceat(np.asarray(x, dtype=np.int64), starts)

    def fsum(x) -> np.ndarray:
        return np.add.reduceat(np.nan_to_num(x, nan=0.0), starts)

    circuit = p.circuit[starts]
    out: dict[str, object] = {}

    def per_circuit(values: np.ndarray) -> pd.Categorical:
        """A circuit attribute as a categorical: cheap to build, compact in Arrow."""
        codes, uniques = pd.factorize(values)
        return pd.Categorical.from_codes(codes[circuit], categories=pd.Index(uniques, dtype=object))

    out["site_id"] = per_circuit(p.site_of_circuit)
    out["site_name"] = per_circuit(p.name_of_circuit)
    out["region"] = per_circuit(p.region_of_circuit)
    out["circuit_id"] = pd.Categorical.from_codes(
        circuit, categories=pd.Index(p.circuit_ids, dtype=object)
    )
    out["port_id"] = per_circuit(p.port_of_circuit)
    out["role"] = pd.Categorical.from_codes(
        np.where(p.primary_of_circuit[circuit], 0, 1), categories=["primary", "secondary"]
    )
    ends = np.r_[starts[1:], p.n] - 1
    out["speed_mbps"] = p.speed[ends]  # the bucket's last sample: what the circuit runs at now
    out["speed_changes"] = total(p.speed_change)
    samples = total(p.real & ~p.offline)  # port samples: not placeholders, not the gateway's status
    up_m, down_m = total(p.up) * step, total(p.down) * step
    out["samples"] = samples
    out["coverage_pct"] = (up_m + down_m) / minutes_per_bucket * 100
    out["up_minutes"], out["down_minutes"] = up_m, down_m
    out["unknown_minutes"] = minutes_per_bucket - up_m - down_m
    with np.errstate(invalid="ignore", divide="ignore"):
        out["availability_pct"] = np.where(up_m + down_m > 0, up_m / (up_m + down_m) * 100, np.nan)
    out["flaps"] = total(p.flap)
    out["down_seconds"] = down_m * 60  # exact from port events where they exist (kpi.outages)
    out["observed_seconds"] = (up_m + down_m) * 60
    out["unknown_seconds"] = out["unknown_minutes"] * 60
    out["offline_seconds"] = total(p.offline) * step * 60
    out["state_source"] = pd.Categorical.from_codes(
        np.ones(n_seg, dtype=np.int8), categories=["events", "samples"]
    )
    out["event_contradictions"] = np.zeros(n_seg, dtype=np.int64)

    n_util = total(p.util_valid)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["util_samples"] = n_util
        out["util_avg_pct"] = np.where(n_util > 0, fsum(p.util) / n_util, np.nan)
    out["util_p95_pct"] = _percentile_95(p.util, seg, starts)
    umax = np.maximum.reduceat(np.where(p.util_valid, p.util, -np.inf), starts)
    out["util_max_pct"] = np.where(np.isinf(umax), np.nan, umax)
    seg_thr = p.thresholds[starts]
    out["util_band"] = pd.Categorical(
        util_band(out["util_p95_pct"], seg_thr), categories=BANDS, ordered=True
    )
    out["util_thresholds"] = per_circuit(p.thresholds_label_of_circuit)
    with np.errstate(invalid="ignore"):
        for k, tier in enumerate(UTIL_TIERS):
            above = p.util_valid & (p.util >= p.thresholds[:, k])
            out[f"minutes_above_{tier}"] = total(above) * step
            out[f"longest_minutes_above_{tier}"] = _longest_runs(above, p, seg, n_seg)

    out["counter_minutes"] = total(p.span)
    out["rx_bytes"] = total(p.deltas["rx_bytes"])
    out["tx_bytes"] = total(p.deltas["tx_bytes"])
    errors = total(p.deltas["rx_errors"]) + total(p.deltas["tx_errors"])
    packets = total(p.deltas["rx_pkts"]) + total(p.deltas["tx_pkts"])
    out["packets"], out["errors"] = packets, errors
    with np.errstate(invalid="ignore", divide="ignore"):
        out["error_rate"] = np.where(packets > 0, errors / np.maximum(packets, 1), np.nan)

    out["quality_samples"] = total(~np.isnan(p.quality["latency"]))
    for name, _, unit in QUALITY:
        q = p.quality[name]
        n_q = total(~np.isnan(q))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"{name}_avg_{unit}"] = np.where(n_q > 0, fsum(q) / n_q, np.nan)
        out[f"{name}_p95_{unit}"] = _percentile_95(q, seg, starts)
        qmax = np.maximum.reduceat(np.where(np.isnan(q), -np.inf, q), starts)
        out[f"{name}_max_{unit}"] = np.where(np.isinf(qmax), np.nan, qmax)
    thresholds = {"jitter": config.jitter_ms, "latency": config.latency_ms, "loss": config.loss_pct}
    with np.errstate(invalid="ignore"):
        for name, _, _ in QUALITY:
            q = p.quality[name]
            for tier, thr in zip(QUALITY_TIERS, thresholds[name], strict=True):
                out[f"{name}_minutes_{tier}"] = total(q >= thr) * step

    out["failover_minutes"] = total(p.failover) * step
    out["on_backup_minutes"] = total(p.on_backup) * step
    prev_fo = np.r_[
        False, p.failover[:-1] & (seg[1:] == seg[:-1]) & (p.slot[1:] == p.slot[:-1] + step)
    ]
    out["failover_events"] = total(p.failover & ~prev_fo)
    out["failover_seconds"] = out["failover_minutes"] * 60
    out["on_backup_seconds"] = out["on_backup_minutes"] * 60
    return pd.DataFrame(out), starts


CATEGORICAL_COLUMNS = (
    "site_id",
    "site_name",
    "region",
    "circuit_id",
    "port_id",
    "role",
    "util_band",
    "util_thresholds",
    "state_source",
)


def _finish(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    for col in INT_COLUMNS:
        frame[col] = frame[col].astype(np.int64)
    return frame[kpi_columns(kind)]


def empty_kpis(kind: str) -> pd.DataFrame:
    cols = kpi_columns(kind)
    frame = pd.DataFrame(
        {c: pd.Series(dtype=np.int64 if c in INT_COLUMNS else np.float64) for c in cols}
    )
    for c in CATEGORICAL_COLUMNS:
        frame[c] = pd.Categorical([])
    frame["util_band"] = pd.Categorical([], categories=BANDS, ordered=True)
    frame["state_source"] = pd.Categorical([], categories=["events", "samples"])
    if "day" in frame:
        frame["day"] = frame["day"].astype(object)
    for c in ("hour", "window_start", "window_end"):
        if c in frame:
            frame[c] = pd.Series(dtype="datetime64[ns, UTC]")
    return frame


def _run(samples, interval_minutes, config, bucket_minutes: int, kind: str, days) -> pd.DataFrame:
    config = config or DEFAULT_CONFIG
    p = prepare(samples, interval_minutes, config)
    return _from_prepared(p, bucket_minutes, kind, config, days)


def _epoch_days(days) -> np.ndarray:
    """UTC days (dates or YYYY-MM-DD strings) as days since the epoch."""
    return np.array([np.datetime64(str(d)[:10], "D") for d in days]).astype(np.int64)


def _from_prepared(
    p: Prepared | None, bucket_minutes: int, kind: str, config: KpiConfig, days=None
) -> pd.DataFrame:
    if p is not None and days is not None:
        p = p.select(np.isin(p.slot // 1440, _epoch_days(days)))
    if p is None or p.n == 0:
        return empty_kpis(kind)
    bucket = p.slot // bucket_minutes
    frame, starts = aggregate(p, bucket, bucket_minutes, config)
    bucket_start = pd.to_datetime(bucket[starts] * bucket_minutes * NS_PER_MIN, utc=True)
    days = bucket[starts] * bucket_minutes // 1440
    uniq, inverse = np.unique(days, return_inverse=True)
    day_values = pd.to_datetime(uniq * 1440 * NS_PER_MIN, utc=True).date
    frame.insert(0, "day", np.asarray(day_values, dtype=object)[inverse])
    if kind == "hourly":
        frame.insert(1, "hour", bucket_start)
    return _finish(frame, kind)


def circuit_kpis(
    samples,
    interval_minutes: int,
    config: KpiConfig | None = None,
    days=None,
    spans: pd.DataFrame | None = None,
    now: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(hourly, daily) from one preparation of the samples: what the `circuit_kpis` asset uses.

    With `days`, rows only for those UTC days; samples of other days still count as what came
    before (the previous day's last sample gives a day's first interval its start), so a day's
    KPIs equal those computed over the whole history at once. With `spans` (`lifetimes`: when
    each circuit existed on each day), every circuit that existed has its rows, sampled or not,
    and its unknown minutes are those of its lifetime up to `now`, not of the whole bucket."""
    hourly, daily, _ = prepared_circuit_kpis(samples, interval_minutes, config, days, spans, now)
    return hourly, daily


def prepared_circuit_kpis(samples, interval_minutes, config=None, days=None, spans=None, now=None):
    """`circuit_kpis`, and the preparation it aggregated (None without samples)."""
    config = config or DEFAULT_CONFIG
    if spans is not None and len(spans):
        frame = _as_frame(samples)
        extra = existence.placeholders(spans, frame, PLACEHOLDER)
        if len(extra):
            frame = pd.concat([frame, extra], ignore_index=True)
        samples = frame
    p = prepare(samples, interval_minutes, config)
    hourly = _from_prepared(p, 60, "hourly", config, days)
    daily = _from_prepared(p, 1440, "daily", config, days)
    if spans is not None:
        now = time.time() if now is None else now
        hourly = existence.bound_unknown(hourly, "hourly", spans, now)
        daily = existence.bound_unknown(daily, "daily", spans, now)
    return hourly, daily, p


def daily_circuit_kpis(
    samples, interval_minutes: int, config: KpiConfig | None = None, days=None
) -> pd.DataFrame:
    """One row per circuit and UTC day present in the samples (the `circuit_kpis` contract);
    with `days`, only those days (the others are context, see `circuit_kpis`)."""
    return _run(samples, interval_minutes, config, 1440, "daily", days)


def hourly_circuit_kpis(
    samples, interval_minutes: int, config: KpiConfig | None = None, days=None
) -> pd.DataFrame:
    """One row per circuit and UTC hour present in the samples (same measures as daily)."""
    return _run(samples, interval_minutes, config, 60, "hourly", days)


def window_circuit_kpis(
    samples, interval_minutes: int, start, end, config: KpiConfig | None = None
) -> pd.DataFrame:
    """One row per circuit over the window [start, end): the same measures over any span (an
    operational window, a week computed from samples)."""
    config = config or DEFAULT_CONFIG
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    df = _as_frame(samples)
    if not df.empty:
        ts = pd.to_datetime(df["ts"], utc=True)
        df = df[(ts >= start) & (ts < end)]
    p = prepare(df, interval_minutes, config)
    if p is None:
        return empty_kpis("window")
    minutes = int((end - start).total_seconds() // 60)
    frame, _ = aggregate(p, np.zeros(p.n, dtype=np.int64), minutes, config)
    frame.insert(0, "window_start", start)
    frame.insert(1, "window_end", end)
    return _finish(frame, "window")
