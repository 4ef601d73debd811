"""What each circuit was sold with, from a file the user keeps (CSV, or YAML: a list of the same
fields): provider, circuit reference, contracted bandwidth, the availability the SLA promises
and the credit it gives when missed, optionally latency, jitter and loss targets and the
window it counts (the calendar month, or business hours such as "Mon-Fri 08:00-18:00" in a
time zone); and the maintenance windows to leave out of the month.

Every bad line is reported, each once with its line number, in one error: a file half right is
not half used."""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path

import pandas as pd
import yaml

from .windows import CALENDAR, parse_window

CONTRACT_COLUMNS = [
    "circuit_id",
    "provider",
    "reference",
    "bandwidth_mbps",
    "availability_pct",
    "credit_pct_per_0_1",  # % of the monthly charge per started 0.1 % below the SLA
    "credit_cap_pct",
    # optional quality targets, met when the month's p95 is at or under them
    "latency_ms",
    "jitter_ms",
    "loss_pct",
    # what the SLA counts: the calendar month, or business hours in a time zone
    "window",
    "timezone",
]
REQUIRED = ("circuit_id", "provider", "availability_pct")
MAINTENANCE_COLUMNS = ["circuit_id", "start", "end", "reason"]


class SlaFileError(ValueError):
    """The SLA or maintenance file cannot be used; the message names each bad line."""


def _records(path: Path) -> list[tuple[int, dict]]:
    """(line, record) of a CSV (header first) or YAML (a list of mappings) file."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SlaFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SlaFileError(f"{path}: not YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(data, list):
            raise SlaFileError(f"{path}: a YAML list of circuits is expected")
        return [(k + 1, r if isinstance(r, dict) else {"_": r}) for k, r in enumerate(data)]
    rows = csv.DictReader(text.splitlines())
    return [(k + 2, {key: value for key, value in r.items() if key}) for k, r in enumerate(rows)]


def _number(value, low: float, high: float) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"{value!r} is not between {low:g} and {high:g}")
    return number


def load_contracts(path: str | Path) -> pd.DataFrame:
    """One row per circuit (`CONTRACT_COLUMNS`); SlaFileError naming every bad line."""
    path = Path(path)
    errors, rows, seen = [], [], {}
    for line, rec in _records(path):
        if "_" in rec:
            errors.append(f"line {line}: not a mapping of fields")
            continue
        missing = [f for f in REQUIRED if not str(rec.get(f) or "").strip()]
        if missing:
            errors.append(f"line {line}: {', '.join(missing)} missing")
            continue
        try:
            row = {
                "circuit_id": str(rec["circuit_id"]).strip(),
                "provider": str(rec["provider"]).strip(),
                "reference": str(rec.get("reference") or "").strip() or None,
                "bandwidth_mbps": _number(rec.get("bandwidth_mbps"), 0.001, 1e6),
                "availability_pct": _number(rec["availability_pct"], 0, 100),
                "credit_pct_per_0_1": _number(rec.get("credit_pct_per_0_1"), 0, 100) or 0.0,
                "credit_cap_pct": _number(rec.get("credit_cap_pct"), 0, 100),
                "latency_ms": _number(rec.get("latency_ms"), 0, 60_000),
                "jitter_ms": _number(rec.get("jitter_ms"), 0, 60_000),
                "loss_pct": _number(rec.get("loss_pct"), 0, 100),
            }
            window = parse_window(rec.get("window"), rec.get("timezone"))
            row["window"] = window.label if window else CALENDAR
            row["timezone"] = window.timezone if window else "UTC"
        except ValueError as exc:
            errors.append(f"line {line}: {exc}")
            continue
        if row["circuit_id"] in seen:
            errors.append(
                f"line {line}: circuit {row['circuit_id']} is already on line {seen[row['circuit_id']]}"
            )
            continue
        seen[row["circuit_id"]] = line
        rows.append(row)
    if errors:
        raise SlaFileError(f"{path}: " + "; ".join(errors))
    return pd.DataFrame(rows, columns=CONTRACT_COLUMNS)


def _instant(value) -> float:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        moment = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone (write it as 2025-11-26T02:00:00Z)")
    return moment.timestamp()


def load_maintenance(path: str | Path) -> pd.DataFrame:
    """The maintenance windows (`circuit_id`, `start`, `end` as epoch seconds, `reason`)."""
    path = Path(path)
    errors, rows = [], []
    for line, rec in _records(path):
        try:
            if not str(rec.get("circuit_id") or "").strip():
                raise ValueError("circuit_id missing")
            start, end = _instant(rec.get("start")), _instant(rec.get("end"))
            if end <= start:
                raise ValueError("its end is not after its start")
        except (ValueError, TypeError) as exc:
            errors.append(f"line {line}: {exc}")
            continue
        reason = str(rec.get("reason") or "").strip() or None
        rows.append(
            {
                "circuit_id": str(rec["circuit_id"]).strip(),
                "start": start,
                "end": end,
                "reason": reason,
            }
        )
    if errors:
        raise SlaFileError(f"{path}: " + "; ".join(errors))
    return pd.DataFrame(rows, columns=MAINTENANCE_COLUMNS)
