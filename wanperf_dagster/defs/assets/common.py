"""Shared bits of the asset modules: owners, settings, metadata helpers."""

from __future__ import annotations

import os

import dagster as dg
import pandas as pd

OWNERS = ["team:noc-analytics"]
SNAPSHOT_TTL = int(os.environ.get("WANPERF_SNAPSHOT_TTL_DAYS") or 400) * 86400


def poll_interval_seconds() -> int:
    value = int(os.environ.get("WANPERF_POLL_INTERVAL") or 600)
    if value < 60 or 3600 % value:
        raise ValueError(
            f"WANPERF_POLL_INTERVAL must be a whole number of seconds dividing an hour (>= 60), got {value}"
        )
    return value


def interval_minutes() -> int:
    return poll_interval_seconds() // 60


def markdown_table(frame: pd.DataFrame, columns: list[str], n: int = 10) -> dg.MetadataValue:
    """A small markdown preview for the UI (floats rounded)."""
    if frame.empty:
        return dg.MetadataValue.md("_no rows_")
    view = frame[columns].head(n).copy()
    for c in view.columns:
        if pd.api.types.is_float_dtype(view[c]):
            view[c] = view[c].round(2)
    header = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "\n".join(
        "| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |"
        for row in view.itertuples(index=False)
    )
    return dg.MetadataValue.md(header + body)
