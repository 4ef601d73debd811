"""Which circuits a site has each day, and for what part of it: a circuit the org had keeps a row
every day, even with no sample at all (its gateway dark), and one added at noon is not counted as
observed, nor as unknown, before noon. docs/kpis.md, Expected circuits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY_S = 86_400
LIFETIME_COLUMNS = ["site_id", "circuit_id", "day", "start", "end"]


def lifetimes(
    registry: pd.DataFrame,
    seen: pd.DataFrame,
    days,
    interval_minutes: int,
    checked_at: float | None = None,
) -> pd.DataFrame:
    """Each (circuit, day) the circuit existed on, with the span of the day it existed in:
    `site_id`, `circuit_id`, `day` (a date), `start`, `end` (epoch seconds).

    `registry` (`site_id`, `circuit_id`, `first_seen`, `last_seen`) is the gateways' own list of
    their WAN ports over time; `seen` (`site_id`, `circuit_id`, `t`) every instant a sample or an
    event of a circuit was seen (the days asked for, and the one before as context); `checked_at`
    the last time the registry was brought up to date.

    A circuit exists from its first sight (from the start of its sample slot) and to the end of
    the day, unless the registry stopped listing it while it still listed others (it was
    removed): then to the end of the slot it was last seen in. A circuit known before the day
    exists from the day's start."""
    step = interval_minutes * 60
    reg = registry[["site_id", "circuit_id", "first_seen", "last_seen"]].astype(
        {"site_id": str, "circuit_id": str, "first_seen": float, "last_seen": float}
    )
    data = (
        seen.astype({"site_id": str, "circuit_id": str})
        .groupby(["site_id", "circuit_id"], sort=False)["t"]
        .agg(data_first="min", data_last="max")
        .reset_index()
    )
    both = reg.merge(data, on=["site_id", "circuit_id"], how="outer")
    if both.empty:
        return pd.DataFrame(columns=LIFETIME_COLUMNS)
    first = np.fmin(both["first_seen"].to_numpy(), both["data_first"].to_numpy(dtype=float))
    last = np.fmax(both["last_seen"].to_numpy(), both["data_last"].to_numpy(dtype=float))
    listed_last = both["last_seen"].to_numpy()
    checked = np.nan if checked_at is None else float(checked_at)
    # no longer listed while the registry went on: removed, after it was last seen
    removed = ~np.isnan(listed_last) & (listed_last < checked - 2 * step)
    out = []
    for day in days:
        d0 = int(np.datetime64(str(day)[:10], "s").astype(np.int64))
        start = np.where(first < d0, d0, np.floor(first / step) * step)
        end = np.where(
            removed & (last < d0 + DAY_S), np.floor(last / step) * step + step, d0 + DAY_S
        )
        end = np.minimum(end, d0 + DAY_S)
        keep = (start < end) & (start < d0 + DAY_S) & (end > d0)
        out.append(
            pd.DataFrame(
                {
                    "site_id": both["site_id"].to_numpy()[keep],
                    "circuit_id": both["circuit_id"].to_numpy()[keep],
                    "day": pd.Timestamp(d0, unit="s").date(),
                    "start": start[keep],
                    "end": end[keep],
                }
            )
        )
    return pd.concat(out, ignore_index=True)[LIFETIME_COLUMNS]


def placeholders(spans: pd.DataFrame, samples: pd.DataFrame, marker: str) -> pd.DataFrame:
    """A row (state unknown, nothing measured, `marker` true) for each hour a circuit existed
    in on a day it has no sample: what gives a dark circuit its daily and hourly rows."""
    if spans.empty:
        return samples.iloc[:0]
    span_day = np.array(spans["day"], dtype="datetime64[D]").astype(np.int64)
    wanted = pd.MultiIndex.from_arrays([spans["circuit_id"].astype(str).to_numpy(), span_day])
    if len(samples):
        ts = pd.to_datetime(samples["ts"], utc=True).to_numpy(dtype="datetime64[ns]")
        day = ts.astype(np.int64) // (DAY_S * 10**9)
        have = pd.MultiIndex.from_arrays([samples["circuit_id"].astype(str).to_numpy(), day])
        dark = spans[~wanted.isin(have.unique())]
    else:
        dark = spans
    if dark.empty:
        return samples.iloc[:0]
    rows = []
    for site, circuit, start, end in zip(
        dark["site_id"], dark["circuit_id"], dark["start"], dark["end"], strict=True
    ):
        hours = np.arange(int(start) // 3600 * 3600, int(end), 3600)
        ts = np.maximum(hours, int(start))
        mac, _, port = str(circuit).partition(":")
        rows.append(
            pd.DataFrame(
                {"ts": ts, "site_id": site, "circuit_id": circuit, "mac": mac, "port_id": port}
            )
        )
    frame = pd.concat(rows, ignore_index=True)
    frame["ts"] = pd.to_datetime(frame["ts"], unit="s", utc=True)
    frame["up"] = pd.array([pd.NA] * len(frame), dtype="boolean")
    frame[marker] = True
    return frame


def bound_unknown(frame: pd.DataFrame, kind: str, spans: pd.DataFrame, now: float) -> pd.DataFrame:
    """`unknown_minutes` of each row as the minutes its circuit existed in the bucket (up to
    now) that were neither sampled up nor down, not the whole bucket's."""
    if frame.empty or spans.empty:
        return frame
    key = pd.MultiIndex.from_arrays(
        [frame["circuit_id"].astype(str).to_numpy(), pd.to_datetime(frame["day"]).dt.date]
    )
    span = spans.set_index(["circuit_id", "day"])[["start", "end"]]
    span = span[~span.index.duplicated()]
    found = span.reindex(key)
    if kind == "hourly":
        b0 = (frame["hour"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
        length = 3600
    else:
        b0 = pd.to_datetime(frame["day"]).astype("datetime64[s]").astype(np.int64)
        length = DAY_S
    b0 = np.asarray(b0, dtype=np.float64)
    lo = np.fmax(b0, found["start"].to_numpy())
    hi = np.fmin(np.fmin(b0 + length, found["end"].to_numpy()), now)
    minutes = np.clip(hi - lo, 0, None) // 60
    seen = (frame["up_minutes"] + frame["down_minutes"]).to_numpy()
    bounded = np.clip(minutes - seen, 0, None)
    has = ~np.isnan(found["start"].to_numpy())
    frame = frame.copy()
    frame["unknown_minutes"] = np.where(has, bounded, frame["unknown_minutes"]).astype(np.int64)
    frame["unknown_seconds"] = frame["unknown_minutes"] * 60
    return frame
