"""KPI engine: one day x 4,000 circuits x 144 samples, hourly + daily, against a per-circuit
Python loop computing the same daily numbers, in the same run."""

from __future__ import annotations

import math
import time
import tracemalloc

import pandas as pd

from wanperf_dagster.kpi import (
    KpiConfig,
    apply_port_events,
    circuit_kpis,
    daily_circuit_kpis,
    hourly_circuit_kpis,
    site_day_kpis,
)

from ._common import best_of, row
from .storage import site_day_frame


def _p95(values: list[float]) -> float:
    if not values:
        return math.nan
    v = sorted(values)
    pos = (len(v) - 1) * 0.95
    lo, hi = math.floor(pos), math.ceil(pos)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def naive_daily(frame: pd.DataFrame, interval: int = 10) -> list[dict]:
    """The predecessor's way: records per circuit, one Python loop each."""
    out = []
    for circuit, recs in frame.groupby("circuit_id", sort=False):
        records = recs.sort_values("ts").to_dict("records")
        up = down = flaps = 0
        utils, above = [], [0, 0, 0]
        longest, run = [0, 0, 0], [0, 0, 0]
        rx = tx = 0
        q = {"jitter_ms": [], "latency_ms": [], "loss_pct": []}
        prev = None
        for r in records:
            if r["up"]:
                up += interval
            else:
                down += interval
            u = None
            if r["up"] and r["speed_mbps"]:
                u = min(max(r["rx_bps"], r["tx_bps"]) / (r["speed_mbps"] * 1e6) * 100, 100.0)
                utils.append(u)
            for k, thr in enumerate((70, 80, 90)):
                if u is not None and u >= thr:
                    above[k] += interval
                    run[k] += interval
                    longest[k] = max(longest[k], run[k])
                else:
                    run[k] = 0
            if prev is not None:
                if prev["up"] != r["up"] or r["last_flapped"] > prev["last_flapped"]:
                    flaps += 1
                d = r["rx_bytes"] - prev["rx_bytes"]
                rx += d if d >= 0 else r["rx_bytes"]
                d = r["tx_bytes"] - prev["tx_bytes"]
                tx += d if d >= 0 else r["tx_bytes"]
            for name in q:
                if r["up"] and not math.isnan(r[name]):
                    q[name].append(r[name])
            prev = r
        out.append(
            {
                "circuit_id": circuit,
                "up_minutes": up,
                "down_minutes": down,
                "unknown_minutes": 1440 - up - down,
                "availability_pct": up / (up + down) * 100 if up + down else math.nan,
                "flaps": flaps,
                "util_avg_pct": sum(utils) / len(utils) if utils else math.nan,
                "util_p95_pct": _p95(utils),
                "util_max_pct": max(utils) if utils else math.nan,
                "minutes_above": above,
                "longest": longest,
                "rx_bytes": rx,
                "tx_bytes": tx,
                **{f"{n}_avg": (sum(v) / len(v) if v else math.nan) for n, v in q.items()},
                **{f"{n}_p95": _p95(v) for n, v in q.items()},
            }
        )
    return out


def main() -> None:
    frame = site_day_frame(2000)  # 2,000 sites x 2 circuits = 4,000 circuits, 144 samples each
    print(
        f"\n== KPI engine: {frame['circuit_id'].nunique():,} circuits x 144 samples = {len(frame):,} rows =="
    )

    t_daily = best_of(lambda: daily_circuit_kpis(frame, 10))
    t_hourly = best_of(lambda: hourly_circuit_kpis(frame, 10))
    t_both = best_of(lambda: circuit_kpis(frame, 10))
    t0 = time.perf_counter()
    naive = naive_daily(frame)
    t_naive = time.perf_counter() - t0

    # the loop computes the same daily numbers
    daily = daily_circuit_kpis(frame, 10).set_index("circuit_id")
    for rec in naive[:200]:
        k = daily.loc[rec["circuit_id"]]
        assert (
            k.up_minutes == rec["up_minutes"]
            and k.flaps == rec["flaps"]
            and k.rx_bytes == rec["rx_bytes"]
        )
        assert math.isclose(k.util_p95_pct, rec["util_p95_pct"], rel_tol=1e-9)
        assert k.longest_minutes_above_70 == rec["longest"][0]

    # exact down time from port events: a tenth of the circuits with 3 outages (6 events) each
    hourly_kpis, daily_kpis = circuit_kpis(frame, 10)
    day0 = int(pd.Timestamp(str(daily_kpis["day"].iloc[0]), tz="UTC").timestamp())
    flapping = daily_kpis["circuit_id"].astype(str).unique()[::10]
    site_of = dict(zip(frame["circuit_id"], frame["site_id"], strict=False))
    events = pd.DataFrame(
        [
            {
                "ts": pd.Timestamp(day0 + k * 20000 + j * 601, unit="s", tz="UTC"),
                "site_id": site_of[c],
                "circuit_id": c,
                "mac": c.split(":")[0],
                "event": e,
                "type": f"GW_PORT_{e.upper()}",
            }
            for c in flapping
            for k in range(3)
            for j, e in enumerate(("down", "up"))
        ]
    )
    coverage = [(day0, day0 + 86400)]
    t_events = best_of(
        lambda: apply_port_events(
            daily_kpis, hourly_kpis, events, coverage, day0 + 2 * 86400, samples=frame
        )
    )
    day = str(daily_kpis["day"].iloc[0])
    t_site_day = best_of(
        lambda: site_day_kpis(frame, events, coverage, 10, KpiConfig(), [day], day0 + 2 * 86400)
    )

    tracemalloc.start()
    circuit_kpis(frame, 10)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    row("", "seconds", "ratio")
    row("daily KPIs (vectorised)", f"{t_daily:.3f}")
    row("hourly KPIs (vectorised)", f"{t_hourly:.3f}")
    row("hourly + daily, one preparation (circuit_kpis)", f"{t_both:.3f}")
    row("daily KPIs, per-circuit Python loop", f"{t_naive:.3f}", f"{t_naive / t_daily:.0f}x")
    row(
        f"+ port events ({len(events):,} on {len(flapping):,} circuits), bounded by every sample",
        f"{t_events:.3f}",
        f"{t_events / t_both:.2f}x",
    )
    row(
        "site_day_kpis (the asset's whole computation: lifetimes, events, failover seconds)",
        f"{t_site_day:.3f}",
        f"{t_site_day / t_both:.2f}x",
    )
    row("peak memory of hourly + daily (tracemalloc)", f"{peak / 2**20:.0f} MiB")
    row("input frame in memory", f"{frame.memory_usage(deep=True).sum() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
