"""Down time to the second where the event feed covers a bucket, with the samples as a bound on
the events, the gateways' own offline state, and failover to the second. docs/kpis.md, Exact
down time.

Each covered circuit-day is a timeline of **evidence points**: a port event (down: up before,
down after; up: the reverse), a gateway going offline (down after, not known before) or coming
back (down before, not known after), the gateway's status saying it is offline (down on both
sides), and each sample (its state on both sides). Between two consecutive points the state is
what both say; what one of them says when the other does not know; and **unknown** where they
disagree: a transition nobody reported happened in between (an event lost at a window's edge, a
sample that saw the port up inside an "outage"). Each such disagreement is a contradiction,
counted. Nothing is believed silently: a sample that saw the circuit up cuts any event-derived
down interval across it. Everything is vectorised over all circuit-days at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DAY_S = 86_400
HOUR_S = 3_600
UNKNOWN, DOWN, UP = -1, 0, 1
# which points come first at one instant: an event's instant shows its after-state in a sample
PORT, DEVICE, SAMPLE = 0, 1, 2
DEVICE_SIDES = {  # event type -> (state before, state after)
    "GW_DISCONNECTED": (UNKNOWN, DOWN),
    "GW_LAST_SEEN": (UNKNOWN, DOWN),
    "GW_CONNECTED": (DOWN, UNKNOWN),
    "GW_STATUS": (DOWN, DOWN),
}
EVENT_COLUMNS = ("down_seconds", "observed_seconds", "unknown_seconds", "offline_seconds")


@dataclass
class Segments:
    """The resolved timelines: one row per stretch between two evidence points (all rows of
    covered buckets, in order), and the daily row each belongs to; and each change of state
    (a flap), where it was first known."""

    row: np.ndarray
    start: np.ndarray
    end: np.ndarray
    state: np.ndarray  # DOWN, UP or UNKNOWN
    offline: np.ndarray  # down because the gateway was offline
    contradiction: np.ndarray
    change_row: np.ndarray
    change_at: np.ndarray


def _epoch(values) -> np.ndarray:
    t = pd.to_datetime(pd.Series(values), utc=True)
    return ((t - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)


def _day_epochs(days) -> np.ndarray:
    return np.array([np.datetime64(str(d)[:10], "s") for d in days]).astype(np.int64)


def _covered(coverage, b0: np.ndarray, length: int, now: float, slack: float):
    """(covered, covered until) per bucket: one fetched window holds its start and reaches its
    end, or for the bucket still running, now less the feed's lag."""
    starts = np.array([s for s, _ in coverage], dtype=np.float64)
    ends = np.array([e for _, e in coverage], dtype=np.float64)
    i = np.searchsorted(starts, b0, side="right") - 1
    e = np.where(i >= 0, ends[np.clip(i, 0, None)], -np.inf)
    span_end = np.minimum(b0 + length, e)
    ok = (i >= 0) & (e > b0) & (span_end >= np.minimum(b0 + length, now - slack))
    return ok, span_end


def _points(daily, covered, lo, hi, events, samples) -> pd.DataFrame:
    """Every evidence point of the covered daily rows inside [lo, hi) of its row."""
    rows = np.flatnonzero(covered)
    cids = daily["circuit_id"].astype(str).to_numpy()
    d0 = _day_epochs(daily["day"])
    index = pd.Series(rows, index=pd.MultiIndex.from_arrays([cids[rows], d0[rows]]))
    parts = []

    def add(frame: pd.DataFrame, circuit: np.ndarray, t: np.ndarray, before, after, order):
        day = (t // DAY_S * DAY_S).astype(np.int64)
        at = index.reindex(pd.MultiIndex.from_arrays([circuit, day]))
        row = at.to_numpy()
        ok = ~np.isnan(row)
        row = np.where(ok, row, 0).astype(np.int64)
        ok &= (t >= lo[row]) & (t < hi[row])
        parts.append(
            pd.DataFrame(
                {
                    "row": row[ok],
                    "t": t[ok],
                    "before": np.asarray(before)[ok] if np.ndim(before) else before,
                    "after": np.asarray(after)[ok] if np.ndim(after) else after,
                    "order": order,
                }
            )
        )

    if len(events):
        ev = events
        t = _epoch(ev["ts"])
        kind = ev["event"].astype(str).to_numpy()
        port = ev["circuit_id"].notna().to_numpy() & np.isin(kind, ("down", "up"))
        if port.any():
            pe = (
                pd.DataFrame(
                    {
                        "c": ev["circuit_id"].astype(str).to_numpy()[port],
                        "t": t[port],
                        "k": kind[port],
                    }
                )
                .drop_duplicates()  # the same event twice is one
                .sort_values(["c", "t"], kind="stable")
            )
            down = (pe["k"] == "down").to_numpy()
            c = pe["c"].to_numpy()
            # a down after a down (an up between them lost, or a report repeated) says only
            # that the port is down after it: what came before, the samples tell
            repeat = np.r_[False, (c[1:] == c[:-1]) & (down[1:] == down[:-1])]
            add(
                pe,
                c,
                pe["t"].to_numpy(),
                np.where(repeat, UNKNOWN, np.where(down, UP, DOWN)),
                np.where(down, DOWN, UP),
                PORT,
            )
        types = ev["type"].astype(str).to_numpy() if "type" in ev else np.full(len(ev), "")
        device = ~ev["circuit_id"].notna().to_numpy() & np.isin(types, list(DEVICE_SIDES))
        if device.any():
            de = pd.DataFrame(
                {
                    "mac": ev["mac"].astype(str).to_numpy()[device],
                    "t": t[device],
                    "type": types[device],
                }
            ).drop_duplicates()
            of_mac = pd.DataFrame({"c": np.unique(cids[rows])})
            of_mac["mac"] = of_mac["c"].str.split(":").str[0]
            de = de.merge(of_mac, on="mac")
            sides = np.array([DEVICE_SIDES[x] for x in de["type"]], dtype=np.int64).reshape(-1, 2)
            add(
                de,
                de["c"].to_numpy(),
                de["t"].to_numpy(dtype=np.float64),
                sides[:, 0],
                sides[:, 1],
                DEVICE,
            )
    if samples is not None and len(samples):
        up = samples["up"].astype("boolean")
        known = up.notna().to_numpy()
        state = np.where(up.fillna(False).to_numpy(dtype=bool), UP, DOWN)[known]
        add(
            samples,
            samples["circuit_id"].astype(str).to_numpy()[known],
            _epoch(samples["ts"])[known],
            state,
            state,
            SAMPLE,
        )
    # every row opens and closes with a point that knows nothing
    parts.append(
        pd.DataFrame({"row": rows, "t": lo[rows], "before": UNKNOWN, "after": UNKNOWN, "order": -1})
    )
    parts.append(
        pd.DataFrame({"row": rows, "t": hi[rows], "before": UNKNOWN, "after": UNKNOWN, "order": 9})
    )
    points = pd.concat(parts, ignore_index=True)
    return points.sort_values(["row", "t", "order"], kind="stable").reset_index(drop=True)


def resolve(points: pd.DataFrame) -> Segments:
    """The stretches between consecutive points of each row, their state, and what they say."""
    row = points["row"].to_numpy()
    t = points["t"].to_numpy(dtype=np.float64)
    before = points["before"].to_numpy(dtype=np.int64)
    after = points["after"].to_numpy(dtype=np.int64)
    device = points["order"].to_numpy() == DEVICE
    pair = np.flatnonzero(row[1:] == row[:-1])  # segment k: from point k to point k+1
    left, right = after[pair], before[pair + 1]
    state = np.where(
        left == right,
        left,
        np.where(right == UNKNOWN, left, np.where(left == UNKNOWN, right, UNKNOWN)),
    )
    contradiction = (left != UNKNOWN) & (right != UNKNOWN) & (left != right)
    offline = (state == DOWN) & (
        (device[pair] & (left == DOWN)) | (device[pair + 1] & (right == DOWN))
    )
    seg_row = row[pair]
    # the known states in time order: the stretches, and what each point saw just before and
    # just after it (a sample between two stretches of unknown still saw its state); a flap is
    # each change among them
    known = state != UNKNOWN
    had, has = before != UNKNOWN, after != UNKNOWN
    k_row = np.r_[row[had], seg_row[known], row[has]]
    k_at = np.r_[t[had], t[pair][known], t[has]]
    k_state = np.r_[before[had], state[known], after[has]]
    k_first = np.r_[np.zeros(had.sum()), np.ones(known.sum() + has.sum())]
    order = np.lexsort((k_first, k_at, k_row))
    k_row, k_at, k_state = k_row[order], k_at[order], k_state[order]
    changed = np.zeros(len(k_row), dtype=bool)
    changed[1:] = (k_row[1:] == k_row[:-1]) & (k_state[1:] != k_state[:-1])
    return Segments(
        seg_row, t[pair], t[pair + 1], state, offline, contradiction, k_row[changed], k_at[changed]
    )


def apply_port_events(
    daily: pd.DataFrame,
    hourly: pd.DataFrame,
    events: pd.DataFrame,
    coverage: list[tuple[int, int]],
    now: float,
    samples: pd.DataFrame | None = None,
    spans: pd.DataFrame | None = None,
    slack_seconds: int = 1200,
) -> tuple[pd.DataFrame, pd.DataFrame, Segments | None]:
    """The circuit KPIs with `down_seconds`, `observed_seconds`, `unknown_seconds`,
    `offline_seconds`, `flaps`, `availability_pct` and `event_contradictions` from the evidence
    wherever the event feed covers the bucket (`state_source` = "events"), from the samples
    elsewhere (minutes x 60, the sampled flaps), and the resolved timelines.

    `events` holds port events (`circuit_id`, `event` down/up) and gateway rows (`mac`, `type`
    GW_DISCONNECTED, GW_CONNECTED, GW_STATUS, GW_LAST_SEEN); `samples` the real samples
    (`circuit_id`, `ts`, `up`); `spans` when each circuit existed on each day (`lifetimes`):
    observed time starts when the circuit does."""
    daily, hourly = daily.copy(), hourly.copy()
    for frame in (daily, hourly):
        _sampled_defaults(frame)
    if daily.empty or not coverage:
        return daily, hourly, None
    d0 = _day_epochs(daily["day"]).astype(np.float64)
    ok_d, end_d = _covered(coverage, d0, DAY_S, now, slack_seconds)
    lo, hi = d0.copy(), end_d.copy()
    if spans is not None and len(spans):
        key = pd.MultiIndex.from_arrays(
            [daily["circuit_id"].astype(str).to_numpy(), pd.to_datetime(daily["day"]).dt.date]
        )
        span = spans.set_index(["circuit_id", "day"])[["start", "end"]]
        found = span[~span.index.duplicated()].reindex(key)
        lo = np.fmax(lo, found["start"].to_numpy())
        hi = np.fmin(hi, found["end"].to_numpy())
    hi = np.maximum(hi, lo)
    points = _points(daily, ok_d, lo, hi, events, samples)
    seg = resolve(points)
    length = seg.end - seg.start
    n = len(daily)

    def per_row(weights) -> np.ndarray:
        return np.bincount(seg.row, weights, minlength=n)

    down = per_row(length * (seg.state == DOWN))
    seen = per_row(length * (seg.state != UNKNOWN))
    offline = per_row(length * seg.offline)
    flaps = np.bincount(seg.change_row, minlength=n).astype(np.int64)
    contradictions = per_row(seg.contradiction).astype(np.int64)
    span = hi - lo
    _apply(daily, ok_d, down, seen, span - seen, offline, flaps, contradictions)

    if not hourly.empty:
        _hourly(hourly, daily, ok_d, lo, hi, seg, coverage, now, slack_seconds)
    return daily, hourly, seg


def _sampled_defaults(frame: pd.DataFrame) -> None:
    frame["down_seconds"] = (frame["down_minutes"] * 60).astype(np.int64)
    frame["observed_seconds"] = ((frame["up_minutes"] + frame["down_minutes"]) * 60).astype(
        np.int64
    )
    frame["unknown_seconds"] = (frame["unknown_minutes"] * 60).astype(np.int64)
    if "offline_seconds" not in frame:
        frame["offline_seconds"] = np.zeros(len(frame), dtype=np.int64)
    frame["event_contradictions"] = np.zeros(len(frame), dtype=np.int64)
    frame["state_source"] = pd.Categorical(["samples"] * len(frame), ["events", "samples"])


def _apply(frame, used, down, seen, unknown, offline, flaps, contradictions) -> None:
    with np.errstate(invalid="ignore", divide="ignore"):
        availability = np.where(seen > 0, (seen - down) / seen * 100, np.nan)
    for col, values in (
        ("down_seconds", np.rint(down)),
        ("observed_seconds", np.rint(seen)),
        ("unknown_seconds", np.rint(np.clip(unknown, 0, None))),
        ("offline_seconds", np.rint(offline)),
        ("flaps", flaps),
        ("event_contradictions", contradictions),
    ):
        frame[col] = np.where(used, values, frame[col].to_numpy()).astype(np.int64)
    frame["availability_pct"] = np.where(used, availability, frame["availability_pct"])
    frame["state_source"] = pd.Categorical(
        np.where(used, "events", "samples"), ["events", "samples"]
    )


def _hourly(hourly, daily, ok_d, lo, hi, seg: Segments, coverage, now, slack) -> None:
    """The same figures per hour: each stretch cut at the hours it spans; a change and a
    contradiction count in the hour they begin."""
    h0 = _epoch(hourly["hour"])
    ok_h, _ = _covered(coverage, h0, HOUR_S, now, slack)
    cids = daily["circuit_id"].astype(str).to_numpy()
    day_row = pd.Series(
        np.arange(len(daily)), index=pd.MultiIndex.from_arrays([cids, _day_epochs(daily["day"])])
    )
    row = day_row.reindex(
        pd.MultiIndex.from_arrays(
            [hourly["circuit_id"].astype(str).to_numpy(), (h0 // DAY_S * DAY_S).astype(np.int64)]
        )
    ).to_numpy()
    has_day = ~np.isnan(row)
    row = np.where(has_day, row, 0).astype(np.int64)
    used = ok_h & has_day & ok_d[row]
    # each stretch cut at hour boundaries
    first_h = np.floor(seg.start / HOUR_S).astype(np.int64)
    last_h = np.floor(np.maximum(seg.end - 1e-9, seg.start) / HOUR_S).astype(np.int64)
    reps = last_h - first_h + 1
    k = np.repeat(np.arange(len(seg.row)), reps)
    hour = np.repeat(first_h, reps) + (np.arange(len(k)) - np.repeat(np.cumsum(reps) - reps, reps))
    s = np.maximum(seg.start[k], hour * HOUR_S)
    e = np.minimum(seg.end[k], (hour + 1) * HOUR_S)
    length = np.clip(e - s, 0, None)
    begins = s == seg.start[k]
    key = pd.MultiIndex.from_arrays([seg.row[k], hour])
    target = pd.MultiIndex.from_arrays([row, (h0 // HOUR_S).astype(np.int64)])
    frame = pd.DataFrame(
        {
            "down": length * (seg.state[k] == DOWN),
            "seen": length * (seg.state[k] != UNKNOWN),
            "offline": length * seg.offline[k],
            "flaps": 0,
            "contradictions": seg.contradiction[k] & begins,
        },
        index=key,
    )
    changes = pd.DataFrame(
        {"down": 0.0, "seen": 0.0, "offline": 0.0, "flaps": 1, "contradictions": False},
        index=pd.MultiIndex.from_arrays(
            [seg.change_row, np.floor(seg.change_at / HOUR_S).astype(np.int64)]
        ),
    )
    sums = pd.concat([frame, changes]).groupby(level=[0, 1]).sum().reindex(target).fillna(0)
    lo_h = np.fmax(h0, lo[row])
    hi_h = np.fmin(h0 + HOUR_S, hi[row])
    span = np.clip(hi_h - lo_h, 0, None)
    seen = sums["seen"].to_numpy()
    _apply(
        hourly,
        used,
        sums["down"].to_numpy(),
        seen,
        span - seen,
        sums["offline"].to_numpy(),
        sums["flaps"].to_numpy().astype(np.int64),
        sums["contradictions"].to_numpy().astype(np.int64),
    )


def exact_failover(
    daily: pd.DataFrame, hourly: pd.DataFrame, seg: Segments | None, prepared, interval: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`failover_seconds` and `on_backup_seconds` to the second where every circuit of the
    site-day took its state from events, from the sampled minutes elsewhere.

    The site ran on backup while its primary was down and a secondary up; the seconds go to the
    circuit the samples credited with the slot's failover (docs/kpis.md, Failover) while it is
    up, else to the first secondary up in the site's order (an outage between two samples, or
    the taker down meanwhile); to none in a slot where the primary had carried nothing."""
    daily, hourly = daily.copy(), hourly.copy()
    for frame in (daily, hourly):
        frame["failover_seconds"] = (frame["failover_minutes"] * 60).astype(np.int64)
        frame["on_backup_seconds"] = (frame["on_backup_minutes"] * 60).astype(np.int64)
    if seg is None or daily.empty:
        return daily, hourly
    step = interval * 60
    cids = daily["circuit_id"].astype(str).to_numpy()
    sd_code = pd.factorize(daily["site_id"].astype(str) + "|" + daily["day"].astype(str))[0]
    primary = (daily["role"] == "primary").to_numpy()
    n_sd = int(sd_code.max()) + 1
    all_events = np.bincount(sd_code, daily["state_source"].to_numpy() != "events", n_sd) == 0
    one_primary = np.bincount(sd_code[primary], minlength=n_sd) == 1
    exact = (all_events & one_primary)[sd_code]
    elementary = _outage_stretches(seg, sd_code, primary, exact, step)
    fo = np.zeros(len(daily))
    ob = np.zeros(len(daily))
    fo_h, ob_h = pd.Series(dtype=float), pd.Series(dtype=float)
    if elementary is not None:
        e_sd, e_s, e_e, p_row = elementary
        mid = (e_s + e_e) / 2
        length = e_e - e_s
        q, q_row, up = _secondaries_up(seg, sd_code, primary, e_sd, mid)
        taker = np.full(len(e_sd), -1, dtype=np.int64)
        # the first secondary up in the site's order...
        order = _order_in_site(daily, primary)
        ups = pd.DataFrame({"q": q[up], "row": q_row[up], "order": order[q_row[up]]})
        first_up = ups.sort_values(["q", "order"], kind="stable").drop_duplicates("q")
        taker[first_up["q"].to_numpy()] = first_up["row"].to_numpy()
        # ...unless the samples credited another that is up, or nothing was lost
        credit = _slot_credits(prepared)
        slot = (np.floor(mid / step) * step).astype(np.int64)
        site = daily["site_id"].astype(str).to_numpy()
        credited = credit.reindex(pd.MultiIndex.from_arrays([site[p_row], slot])).to_numpy()
        named = cids[q_row[up]] == credited[q[up]]
        taker[q[up][named]] = q_row[up][named]
        taker[credited == NO_LOAD] = -1
        any_up = np.bincount(q[up], minlength=len(e_sd)) > 0
        took = taker >= 0
        fo = np.bincount(taker[took], length[took], minlength=len(daily))
        ob = np.bincount(p_row[any_up], length[any_up], minlength=len(daily))
        hour = np.floor(mid / HOUR_S).astype(np.int64)
        fo_h = pd.Series(
            length[took], index=pd.MultiIndex.from_arrays([cids[taker[took]], hour[took]])
        )
        ob_h = pd.Series(
            length[any_up], index=pd.MultiIndex.from_arrays([cids[p_row[any_up]], hour[any_up]])
        )
    for col, values in (("failover_seconds", fo), ("on_backup_seconds", ob)):
        daily[col] = np.where(exact, np.rint(values), daily[col]).astype(np.int64)
    if not hourly.empty:
        h_cid = hourly["circuit_id"].astype(str).to_numpy()
        h_hour = (_epoch(hourly["hour"]) // HOUR_S).astype(np.int64)
        day_exact = pd.Series(
            exact, index=pd.MultiIndex.from_arrays([cids, _day_epochs(daily["day"]) // DAY_S])
        )
        h_exact = (
            day_exact[~day_exact.index.duplicated()]
            .reindex(pd.MultiIndex.from_arrays([h_cid, h_hour // 24]))
            .fillna(False)
            .to_numpy(dtype=bool)
        )
        h_key = pd.MultiIndex.from_arrays([h_cid, h_hour])
        for col, sums in (("failover_seconds", fo_h), ("on_backup_seconds", ob_h)):
            got = (
                sums.groupby(level=[0, 1]).sum().reindex(h_key).fillna(0).to_numpy()
                if len(sums)
                else np.zeros(len(hourly))
            )
            hourly[col] = np.where(h_exact, np.rint(got), hourly[col]).astype(np.int64)
    return daily, hourly


NO_LOAD = "-"  # a slot on backup where the primary had carried nothing: no circuit took over
BIG = 1e11  # sorts (row, time) pairs in one float key: rows * BIG + epoch seconds


def _outage_stretches(seg: Segments, sd_code, primary, exact, step):
    """The stretches of the exact site-days' primary outages, cut wherever a circuit of the
    site changes state and at every slot boundary: (site-day, start, end, primary's row)."""
    down = (seg.state == DOWN) & primary[seg.row] & exact[seg.row] & (seg.end > seg.start)
    if not down.any():
        return None
    o_sd, o_a, o_b = sd_code[seg.row[down]], seg.start[down], seg.end[down]
    o_row = seg.row[down]
    n_slots = np.clip(np.floor(o_b / step) - np.ceil(o_a / step) + 1, 0, None).astype(np.int64)
    which = np.repeat(np.arange(len(o_a)), n_slots)
    k = np.arange(len(which)) - np.repeat(np.cumsum(n_slots) - n_slots, n_slots)
    cuts = pd.DataFrame(
        {
            "sd": np.concatenate([o_sd, o_sd, sd_code[seg.row], sd_code[seg.row], o_sd[which]]),
            "t": np.concatenate(
                [o_a, o_b, seg.start, seg.end, np.ceil(o_a[which] / step) * step + k * step]
            ),
        }
    )
    cuts = cuts[np.isin(cuts["sd"].to_numpy(), o_sd)].drop_duplicates()
    cuts = cuts.sort_values(["sd", "t"]).to_numpy()
    pair = np.flatnonzero(cuts[1:, 0] == cuts[:-1, 0])
    e_sd = cuts[pair, 0].astype(np.int64)
    e_s, e_e = cuts[pair, 1], cuts[pair + 1, 1]
    mid = (e_s + e_e) / 2
    by = np.lexsort((o_a, o_sd))
    o_sd, o_a, o_b, o_row = o_sd[by], o_a[by], o_b[by], o_row[by]
    at = np.searchsorted(o_sd * BIG + o_a, e_sd * BIG + mid, side="right") - 1
    at_ = np.clip(at, 0, None)
    inside = (at >= 0) & (o_sd[at_] == e_sd) & (mid < o_b[at_])
    if not inside.any():
        return None
    return e_sd[inside], e_s[inside], e_e[inside], o_row[at_][inside]


def _secondaries_up(seg: Segments, sd_code, primary, e_sd, mid):
    """For each stretch and each secondary of its site-day: (stretch, secondary's row, up)."""
    rows = np.flatnonzero(~primary)
    rows = rows[np.argsort(sd_code[rows], kind="stable")]
    r_sd = sd_code[rows]
    first = np.searchsorted(r_sd, e_sd, side="left")
    count = np.searchsorted(r_sd, e_sd, side="right") - first
    q = np.repeat(np.arange(len(e_sd)), count)
    offset = np.arange(len(q)) - np.repeat(np.cumsum(count) - count, count)
    q_row = rows[np.repeat(first, count) + offset]
    j = np.searchsorted(seg.row * BIG + seg.start, q_row * BIG + mid[q], side="right") - 1
    j_ = np.clip(j, 0, None)
    up = (j >= 0) & (seg.row[j_] == q_row) & (seg.end[j_] > mid[q]) & (seg.state[j_] == UP)
    return q, q_row, up


def _slot_credits(prepared) -> pd.Series:
    """(site, slot start in epoch s) -> the circuit credited with that slot's failover, or
    NO_LOAD where the site ran on backup but nothing was lost."""
    p = prepared
    empty = pd.Series(dtype=object, index=pd.MultiIndex.from_arrays([[], []]))
    if p is None or not p.n:
        return empty
    site = np.asarray(p.site_of_circuit[p.circuit], dtype=object)
    slot_s = p.slot.astype(np.int64) * 60
    took = p.failover
    credited = pd.Series(
        p.circuit_ids[p.circuit[took]], index=pd.MultiIndex.from_arrays([site[took], slot_s[took]])
    )
    idle = pd.MultiIndex.from_arrays([site[p.on_backup], slot_s[p.on_backup]])
    idle = idle[~idle.isin(credited.index)]
    out = pd.concat([credited, pd.Series(NO_LOAD, index=idle, dtype=object)])
    return out[~out.index.duplicated()] if len(out) else empty


def _order_in_site(daily: pd.DataFrame, primary: np.ndarray) -> np.ndarray:
    """Each row's place in its site's order (the primary first, then by port and circuit)."""
    frame = pd.DataFrame(
        {
            "sd": daily["site_id"].astype(str) + "|" + daily["day"].astype(str),
            "secondary": ~primary,
            "port": daily["port_id"].astype(str),
            "circuit": daily["circuit_id"].astype(str),
        }
    )
    ordered = frame.sort_values(["sd", "secondary", "port", "circuit"], kind="stable")
    return ordered.groupby("sd", sort=False).cumcount().sort_index().to_numpy()
