"""A contract's measurement window: the whole calendar month, or business hours ("Mon-Fri
08:00-18:00" in a time zone) when the SLA only counts those. Seconds inside a window are
counted exactly, from the window's cumulative length (`Window.inside`), for outages,
maintenance and hours alike."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

CALENDAR = "calendar month"
DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_SPEC = re.compile(r"^\s*([A-Za-z ,\-]+?)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class Window:
    weekdays: frozenset[int]  # 0 = Monday
    start_minute: int  # local minutes after midnight, [start, end)
    end_minute: int
    timezone: str

    @property
    def label(self) -> str:
        days = ",".join(DAY_NAMES[d].title() for d in sorted(self.weekdays))
        s, e = divmod(self.start_minute, 60), divmod(self.end_minute, 60)
        return f"{days} {s[0]:02d}:{s[1]:02d}-{e[0]:02d}:{e[1]:02d}"

    def intervals(self, start: float, end: float) -> np.ndarray:
        """The window's [from, to) epoch-second spans within [start, end), in order."""
        zone = ZoneInfo(self.timezone)
        first = dt.datetime.fromtimestamp(start, zone).date() - dt.timedelta(days=1)
        last = dt.datetime.fromtimestamp(end, zone).date() + dt.timedelta(days=1)
        spans = []
        day = first
        while day <= last:
            if day.weekday() in self.weekdays:
                midnight = dt.datetime.combine(day, dt.time(), zone)
                lo = (midnight + dt.timedelta(minutes=self.start_minute)).timestamp()
                hi = (midnight + dt.timedelta(minutes=self.end_minute)).timestamp()
                lo, hi = max(lo, start), min(hi, end)
                if hi > lo:
                    spans.append((lo, hi))
            day += dt.timedelta(days=1)
        return np.array(spans, dtype=float).reshape(-1, 2)

    def inside(self, start: float, end: float):
        """A function of arrays (a, b) -> seconds of each [a, b) inside the window within
        [start, end): the cumulative window length at b less that at a."""
        spans = self.intervals(start, end)
        lo, hi = spans[:, 0], spans[:, 1]
        before = np.r_[0.0, np.cumsum(hi - lo)]

        def cumulative(t):
            t = np.asarray(t, dtype=float)
            k = np.searchsorted(lo, t, side="right") - 1
            safe = np.clip(k, 0, max(len(lo) - 1, 0))
            partial = np.clip(t - lo[safe], 0, (hi - lo)[safe]) if len(lo) else np.zeros_like(t)
            return np.where(k >= 0, before[safe] + partial, 0.0)

        def seconds(a, b):
            a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
            return np.clip(cumulative(b) - cumulative(np.minimum(a, b)), 0, None)

        return seconds


def _weekdays(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        if part in ("daily", "every day"):
            days.update(range(7))
            continue
        ends = part.split("-")
        if len(ends) > 2 or any(e[:3] not in DAY_NAMES or len(e) < 3 for e in ends):
            raise ValueError(f"{part!r} is not a day or a range of days (Mon-Fri, Sat, daily)")
        a, b = DAY_NAMES.index(ends[0][:3]), DAY_NAMES.index(ends[-1][:3])
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(b + 1)])
    return frozenset(days)


def parse_window(text, timezone) -> Window | None:
    """The window a contract names ("Mon-Fri 08:00-18:00"), None for the calendar month (empty
    or "calendar month"); ValueError saying what is wrong."""
    text = "" if text is None else str(text).strip()
    if not text or text.lower() in (CALENDAR, "calendar", "month", "24x7"):
        return None
    found = _SPEC.match(text)
    if not found:
        raise ValueError(f"window {text!r} is not like 'Mon-Fri 08:00-18:00'")
    h0, m0, h1, m1 = (int(g) for g in found.groups()[1:])
    if h0 > 23 or m0 > 59 or h1 > 24 or m1 > 59 or (h1 == 24 and m1):
        raise ValueError(f"window {text!r} has a time that is not on a clock")
    start, end = h0 * 60 + m0, h1 * 60 + m1
    if end <= start:
        raise ValueError(f"window {text!r} ends before it starts (an overnight window is two)")
    zone = str(timezone or "UTC").strip() or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone {zone!r} is not an IANA time zone (Europe/Paris)") from None
    return Window(_weekdays(found.group(1)), start, end, zone)
