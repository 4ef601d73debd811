"""The `baseline` rule: a circuit whose utilisation, latency or loss has stayed above what is
normal for it at this hour of the week (`kpi.baselines`) for `baseline_minutes`.

A circuit busy at 10:00 every Monday is not off its baseline then; one that never was, is. A
circuit (or an hour) still learning has no baseline and is not judged: it is never "fine" by
default, it is not judged yet (the site page says *learning*). A metric whose fixed rule
(`congested`, `loss`, `latency`) already holds the circuit is told by that rule, not twice."""

from __future__ import annotations

import numpy as np
import pandas as pd

from wanperf_dagster.kpi.baselines import upper_bound

# (metric, its baseline columns' prefix, how it reads, decimals, the least deviation that counts)
FIGURES = (
    ("utilisation", "util", "{:.0f} %", 15.0),
    ("latency", "latency", "{:.0f} ms", 30.0),
    ("loss", "loss", "{:.2f} %", 1.0),
)
FIXED_RULE = {"util": "congested", "latency": "latency", "loss": "loss"}


def off_baseline(
    frame: pd.DataFrame,
    figures: dict[str, pd.Series],
    baselines: pd.DataFrame | None,
    minutes: int,
    sigmas: float,
    interval_minutes: int,
    trailing_run,
    told: set[str],
    still_open: set[str] = frozenset(),
):
    """Per circuit off its baseline: [(circuit, since, value, detail)], judged on the fresh
    samples `frame` (sorted by circuit and time) with each metric's series in `figures` (`util`,
    `latency`, `loss`); `told` holds the keys of incidents already open from the fixed rules,
    `still_open` those of baseline incidents open (or held open): they need not last again."""
    if baselines is None or baselines.empty or minutes <= 0 or frame.empty:
        return []
    ref = baselines.drop_duplicates("circuit_id").set_index("circuit_id")
    up = frame["up"].eq(True)
    found: dict[str, list] = {}
    for label, prefix, shown, floor in FIGURES:
        median = frame["circuit_id"].map(ref[f"{prefix}_median"]).astype("float64")
        mad = frame["circuit_id"].map(ref[f"{prefix}_mad"]).astype("float64")
        bound = upper_bound(median, mad, sigmas, floor)
        value = figures[prefix].astype("float64")
        with np.errstate(invalid="ignore"):
            trips = up & (value > bound)  # a learning circuit's bound is null: never trips
        runs = trailing_run(frame, trips)
        held = runs.index.map(lambda c: f"baseline@{c}" in still_open).to_numpy(dtype=bool)
        runs = runs[(runs["samples"] * interval_minutes >= minutes) | held]
        if runs.empty:
            continue
        last = value.groupby(frame["circuit_id"], sort=False).last()
        for circuit, row in runs.iterrows():
            if f"{FIXED_RULE[prefix]}@{circuit}" in told:
                continue
            normal = ref.at[circuit, f"{prefix}_median"]
            above = upper_bound(normal, ref.at[circuit, f"{prefix}_mad"], sigmas, floor)
            held = int(row["samples"]) * interval_minutes
            text = (
                f"{label} {shown.format(last[circuit])} for {held} min, normal at this hour"
                f" {shown.format(normal)} (off above {shown.format(above)})"
            )
            entry = found.setdefault(circuit, [int(row["since"]), float(last[circuit]), []])
            entry[0] = min(entry[0], int(row["since"]))
            entry[2].append(text)
    return [(c, since, value, "; ".join(texts)) for c, (since, value, texts) in found.items()]
