"""The world model: what every port does at any instant, as a pure function of (seed, port, t).

Nothing is stored: each event (outage, flap, reboot, congestion, degradation) is drawn from a
counter-based hash of (seed, port or device, time window), so any instant can be evaluated
directly, in any order, for any set of ports at once (numpy). The ground truth is the same
function evaluated minute by minute.

Model, per WAN circuit:
- *active days*: a circuit misbehaves (outages, flaps) only on days its hash marks active; every
  active day holds at least one flap, which keeps `last_flapped` exact with a bounded look-back.
- *outages*: per hour of an active day, a chance of an outage starting in that hour, lasting
  2-20 min (70 %), 20-90 min (25 %) or 90-240 min (5 %).
- *flaps*: one-second bounces (down at the flap instant, up a second later: the port stays up at
  minute resolution); seen in `last_flapped`, which also moves at every outage start and end
  and at reboots, and as a down and an up event.
- *reboots*: per device, a chance per day plus one forced reboot every 32 days; the device is down
  for 4 minutes and its byte/packet/error counters restart from zero.
- *gateways offline*: per gateway, a chance per day (2 %, 8 % at flaky sites) of going offline for
  10 minutes to 8 hours: unreachable, every WAN port of it down. The API serves no port stats of
  it meanwhile, its device stats say `disconnected` since `last_seen`, and the events say
  GW_DISCONNECTED and GW_CONNECTED; the port events it could not send then are never sent.
- *churn* (`set_churn`, off unless asked): sites, and the third and fourth circuits of sites,
  added or removed at instants within a range; nothing exists outside its lifetime (no stats, no
  events, not in the inventory).
- *utilisation*: a diurnal curve in the site's local time, noise per 10-minute slot, congestion
  episodes (30-180 min, +30-70 % of the link), capped at 100 %. While the site's primary is down,
  its backup (rank 1), or when that is down too the next secondary up in the site's order,
  carries the primary's traffic on top of its own: that is failover.
- *quality*: latency, jitter and loss around a per-circuit base, worse during degradation
  episodes and when utilisation passes 90 %; absent while the port is down and on circuits that
  do not report quality.
- *events*: every up/down change of a WAN port, to the second (`port_events`), from the same
  down intervals that `state` reads: outages, reboots, flap bounces, injections.
- *VPN paths*: each WAN port of a site other than the hub (site 0) keeps a path to the hub's
  primary port; a path is up while both ends are, and its latency, jitter and loss are its port's
  plus the hub leg; MOS from them (a simplified E-model).
- *WAN SLE*: per site and interval, the share of gateway-minutes not rebooting (gateway health),
  of WAN-port-minutes up and uncongested with good quality (WAN link health), and of minutes in
  which at least one such port served the site (application health).
- *counters*: the integral of the diurnal baseline since the last reboot (closed form), so byte
  deltas are exact between any two instants; the baseline's peak is capped at the link speed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .org import Org

DAY = 86_400
HOUR = 3_600
REBOOT_DOWN_S = 240
REBOOT_BLOCK_DAYS = 32
LOOKBACK_DAYS = 64
OUTAGE_LOOKBACK_H = 5  # longest outage 240 min + start offset within its hour

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)

# event kinds: each draws from its own hash stream
ACTIVE, OUTAGE, OUT_START, OUT_DUR, OUT_LEN, FLAP, FLAP_AT, REBOOT, REBOOT_AT = range(1, 10)
CONG, CONG_START, CONG_DUR, CONG_SIZE, DEGR, DEGR_START, DEGR_DUR, DEGR_SIZE, NOISE, QNOISE = range(
    10, 20
)
FORCED = 20
OFFLINE, OFF_START, OFF_LEN, OFF_DUR, CHURN, CHURN_AT = range(23, 29)
P_OFFLINE = (0.02, 0.08)  # a gateway's chance per day of going offline (flaky sites: the second)
OFFLINE_MAX_S = 8 * HOUR
NEVER = np.int64(2**62)


def _mix(*parts) -> np.ndarray:
    """splitmix64 over the parts: a counter-based hash, vectorised (numpy uint64 wraps)."""
    h = np.uint64(0x2545F4914F6CDD1D)
    with np.errstate(over="ignore"):
        for part in parts:
            z = h ^ (np.asarray(part).astype(np.uint64) * _GOLD + _GOLD)
            z = (z ^ (z >> np.uint64(30))) * _M1
            z = (z ^ (z >> np.uint64(27))) * _M2
            h = z ^ (z >> np.uint64(31))
    return h


def _u(*parts) -> np.ndarray:
    """Uniform [0, 1) from the hash of the parts."""
    return (_mix(*parts) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


INJECTED_KINDS = ("down", "congest", "busy", "flap", "degrade", "offline")
FLAP_BOUNCE_S = 1  # a natural flap: down for one second
HUB_SITE = 0  # the site whose primary port every other site's paths lead to
PATH_LEG = 21  # hash stream of a path's hub-leg latency
CLIENTS = 22  # hash stream of a site's client count
FLAP_PERIOD_S = 300  # an injected flapping port bounces every 5 minutes...
FLAP_DOWN_S = 20  # ...for 20 seconds


@dataclass(frozen=True)
class Injection:
    """An incident forced onto one port for [start, end): `down` (an outage), `congest` (the
    port runs at 96 % of its speed), `busy` (at 80 %: under the congestion tier, a load only a
    baseline tells apart), `flap` (a 20-second bounce every 5 minutes), `degrade`, or
    `offline` (the port's gateway goes offline, every WAN port of it with it)."""

    port: int
    kind: str
    start: int
    end: int


class World:
    """State of the org's ports at any instant (epoch seconds, UTC)."""

    def __init__(self, org: Org, offline: bool = True):
        self.org = org
        self.seed = np.uint64(org.seed)
        self.a = org.arrays
        self.injections: list[Injection] = []
        self.offline_enabled = offline
        # each site's WAN port of each rank (the primary first), -1 where it has none
        wan = org.wan_port_indices()
        self.site_rank_port = np.full((len(org.sites), 4), -1, dtype=np.int64)
        self.site_rank_port[self.a["site"][wan], self.a["rank"][wan]] = wan
        self.p_offline = np.array([P_OFFLINE[g.flaky] for g in org.gateways], dtype=np.float64)
        # lifetimes: each site and port exists in [added, removed) (set_churn); always by default
        self.site_added = np.full(len(org.sites), -NEVER, dtype=np.int64)
        self.site_removed = np.full(len(org.sites), NEVER, dtype=np.int64)
        self.port_added = np.full(org.n_ports, -NEVER, dtype=np.int64)
        self.port_removed = np.full(org.n_ports, NEVER, dtype=np.int64)

    # lifetimes -----------------------------------------------------------------------------
    def set_churn(self, start: int, end: int, sites: float = 0.08, circuits: float = 0.3) -> None:
        """Sites (never the hub) and circuits of rank 2 and 3 (never a primary or its backup)
        added or removed at instants in [start, end): half of the `sites` share is added then,
        half removed; likewise `circuits` of the eligible ones."""
        a = self.a
        n_sites = len(self.org.sites)
        idx = np.arange(n_sites, dtype=np.int64)
        u = _u(self.seed, CHURN, idx, 0)
        at = int(start) + (_u(self.seed, CHURN_AT, idx, 0) * (int(end) - int(start))).astype(
            np.int64
        )
        eligible = idx != HUB_SITE
        self.site_added = np.where(eligible & (u < sites / 2), at, -NEVER)
        self.site_removed = np.where(eligible & (u >= sites / 2) & (u < sites), at, NEVER)
        ports = np.arange(self.org.n_ports, dtype=np.int64)
        u = _u(self.seed, CHURN, ports, 1)
        at = int(start) + (_u(self.seed, CHURN_AT, ports, 1) * (int(end) - int(start))).astype(
            np.int64
        )
        eligible = a["is_wan"] & (a["rank"] >= 2)
        self.port_added = np.where(eligible & (u < circuits / 2), at, -NEVER)
        self.port_removed = np.where(eligible & (u >= circuits / 2) & (u < circuits), at, NEVER)

    def exists(self, ports, t) -> np.ndarray:
        """Whether each port (and its site) exists at t."""
        ports = np.asarray(ports, dtype=np.int64)
        t = np.asarray(t, dtype=np.int64)
        site = self.a["site"][ports]
        return (
            (self.site_added[site] <= t)
            & (t < self.site_removed[site])
            & (self.port_added[ports] <= t)
            & (t < self.port_removed[ports])
        )

    def site_exists(self, sites, t) -> np.ndarray:
        sites = np.asarray(sites, dtype=np.int64)
        return (self.site_added[sites] <= t) & (t < self.site_removed[sites])

    # gateways offline ----------------------------------------------------------------------
    def _offline_episode(self, devs: np.ndarray, day: np.ndarray):
        """(start, end) of each gateway's offline episode begun on that day, or (-1, -1)."""
        occurs = _u(self.seed, OFFLINE, devs, day) < self.p_offline[devs]
        if not self.offline_enabled:
            occurs = np.zeros(np.broadcast(devs, day).shape, dtype=bool)
        start = day * DAY + (_u(self.seed, OFF_START, devs, day) * DAY).astype(np.int64)
        pick = _u(self.seed, OFF_LEN, devs, day)
        frac = _u(self.seed, OFF_DUR, devs, day)
        minutes = np.where(
            pick < 0.6, 10 + frac * 50, np.where(pick < 0.95, 60 + frac * 180, 240 + frac * 240)
        )
        end = start + (minutes * 60).astype(np.int64)
        return np.where(occurs, start, -1), np.where(occurs, end, -1)

    def offline_since(self, devs, t) -> np.ndarray:
        """When each gateway went offline, if it is offline at t; else -1."""
        devs = np.asarray(devs, dtype=np.int64)
        t = np.broadcast_to(np.asarray(t, dtype=np.int64), devs.shape)
        if not self.offline_enabled or not len(devs):
            return np.full(devs.shape, -1, dtype=np.int64)
        days = (t // DAY)[:, None] - np.arange(2)[None, :]  # an episode lasts under a day
        s, e = self._offline_episode(devs[:, None], days)
        on = (s >= 0) & (s <= t[:, None]) & (t[:, None] < e)
        since = np.where(on, s, -1).max(axis=1)
        for inj in self._offline_injections():
            gw = self.a["dev"][inj.port]
            hit = (devs == gw) & (t >= inj.start) & (t < inj.end)
            since = np.where(
                hit, np.where(since >= 0, np.minimum(since, inj.start), inj.start), since
            )
        return since

    def _offline_injections(self) -> list[Injection]:
        return [i for i in self.injections if i.kind == "offline"] if self.offline_enabled else []

    def offline(self, devs, t) -> np.ndarray:
        """Whether each gateway is offline (unreachable, its WAN ports down) at t."""
        return self.offline_since(devs, t) >= 0

    def offline_episodes(self, start: int, end: int, devs=None) -> pd.DataFrame:
        """Each offline episode overlapping [start, end): `gateway`, `down`, `up` (epoch s)."""
        devs = np.arange(len(self.org.gateways), dtype=np.int64) if devs is None else devs
        devs = np.unique(np.asarray(devs, dtype=np.int64))
        days = np.arange((int(start) - OFFLINE_MAX_S) // DAY, (int(end) - 1) // DAY + 1)
        dd, dv = np.tile(days, len(devs)), np.repeat(devs, len(days))
        s, e = self._offline_episode(dv, dd)
        keep = (s >= 0) & (e > start) & (s < end)
        gw, s, e = dv[keep], s[keep], e[keep]
        forced = [
            (self.a["dev"][i.port], i.start, i.end)
            for i in self._offline_injections()
            if self.a["dev"][i.port] in devs and i.end > start and i.start < end
        ]
        if forced:
            f = np.array(forced, dtype=np.int64).reshape(-1, 3)
            gw, s, e = np.r_[gw, f[:, 0]], np.r_[s, f[:, 1]], np.r_[e, f[:, 2]]
        return (
            pd.DataFrame({"gateway": gw, "down": s, "up": e})
            .sort_values(["down", "gateway"])
            .reset_index(drop=True)
        )

    def inject(self, port: int, kind: str, start: int, end: int) -> Injection:
        """Force an incident onto a port (tests and demos); the ground truth shows it too."""
        if kind not in INJECTED_KINDS:
            raise ValueError(f"kind must be one of {', '.join(INJECTED_KINDS)}")
        if end <= start:
            raise ValueError("end must be after start")
        injection = Injection(int(port), kind, int(start), int(end))
        self.injections.append(injection)
        return injection

    def _injected(self, kind: str, ports: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Where an injection of the kind holds (per port and instant)."""
        on = np.zeros(len(ports), dtype=bool)
        for inj in self.injections:
            if inj.kind != kind:
                continue
            hit = (ports == inj.port) & (t >= inj.start) & (t < inj.end)
            if kind == "flap":
                hit &= (t - inj.start) % FLAP_PERIOD_S < FLAP_DOWN_S
            on |= hit
        return on

    def _injected_last_flap(self, ports: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The latest change an injection made at or before t (-1 when none)."""
        best = np.full(len(ports), -1, dtype=np.int64)
        for inj in self.injections:
            offline = inj.kind == "offline"
            target = (
                self.a["dev"][ports] == self.a["dev"][inj.port] if offline else ports == inj.port
            )
            mine = target & (t >= inj.start)
            if not mine.any():
                continue
            if inj.kind == "flap":
                last = np.minimum(t, inj.end - 1)
                k = (last - inj.start) // FLAP_PERIOD_S
                bounce = inj.start + k * FLAP_PERIOD_S
                change = np.where(last - bounce >= FLAP_DOWN_S, bounce + FLAP_DOWN_S, bounce)
            elif inj.kind == "down" or (offline and self.offline_enabled):
                change = np.where(t >= inj.end, inj.end, inj.start)
            else:
                continue
            best = np.where(mine, np.maximum(best, change), best)
        return best

    # events -------------------------------------------------------------------------------
    def _active(self, ports: np.ndarray, day: np.ndarray) -> np.ndarray:
        return _u(self.seed, ACTIVE, ports, day) < self.a["p_active"][ports]

    def _outages(self, ports: np.ndarray, hour: np.ndarray):
        """Outage (start, end) in seconds for each port/hour, or start = -1 when none."""
        day = hour // 24
        occurs = self._active(ports, day) & (
            _u(self.seed, OUTAGE, ports, hour) < self.a["p_out"][ports]
        )
        start = hour * HOUR + (_u(self.seed, OUT_START, ports, hour) * HOUR).astype(np.int64)
        pick = _u(self.seed, OUT_LEN, ports, hour)
        frac = _u(self.seed, OUT_DUR, ports, hour)
        minutes = np.where(
            pick < 0.7, 2 + frac * 18, np.where(pick < 0.95, 20 + frac * 70, 90 + frac * 150)
        )
        end = start + (minutes * 60).astype(np.int64)
        return np.where(occurs, start, -1), np.where(occurs, end, -1)

    def _flap_at(self, ports: np.ndarray, hour: np.ndarray) -> np.ndarray:
        """A sub-minute flap instant in this hour, or -1. Every active day flaps at least once."""
        day = hour // 24
        active = self._active(ports, day)
        forced_hour = day * 24 + (_u(self.seed, FLAP, ports, day, 99) * 24).astype(np.int64)
        occurs = active & (
            (_u(self.seed, FLAP, ports, hour) < self.a["p_flap"][ports]) | (hour == forced_hour)
        )
        at = hour * HOUR + (_u(self.seed, FLAP_AT, ports, hour) * HOUR).astype(np.int64)
        return np.where(occurs, at, -1)

    def _reboots(self, devs: np.ndarray, day: np.ndarray) -> np.ndarray:
        """A reboot instant on this day for each device, or -1 (a forced one every 32 days)."""
        forced = (
            day + (_mix(self.seed, FORCED, devs) % np.uint64(REBOOT_BLOCK_DAYS)).astype(np.int64)
        ) % REBOOT_BLOCK_DAYS == 0
        occurs = forced | (_u(self.seed, REBOOT, devs, day) < 0.02)
        at = day * DAY + (_u(self.seed, REBOOT_AT, devs, day) * DAY).astype(np.int64)
        return np.where(occurs, at, -1)

    def last_reboot(self, devs: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The latest reboot instant <= t of each device (within 64 days; always exists). The
        earlier days' reboots are all before t: each device-day's look-back is hashed once,
        however many instants of the day ask (an SLE hour asks 60 minutes of every gateway)."""
        devs, t = np.asarray(devs, dtype=np.int64), np.asarray(t, dtype=np.int64)
        if not len(t):
            return np.empty(0, dtype=np.int64)
        day = t // DAY
        first, span = int(day.min()), int(day.max() - day.min()) + 1
        keys, inverse = np.unique(devs * span + (day - first), return_inverse=True)
        u_dev, u_day = keys // span, keys % span + first
        today = self._reboots(u_dev, u_day)[inverse]
        back = u_day[:, None] - np.arange(1, LOOKBACK_DAYS)[None, :]
        earlier = self._reboots(u_dev[:, None], back).max(axis=1)[inverse]
        return np.maximum(earlier, np.where(today <= t, today, -1))

    def last_flapped(self, ports: np.ndarray, t: np.ndarray, boot: np.ndarray) -> np.ndarray:
        """The latest up/down change <= t: flaps, outage starts and ends, reboots."""
        day0 = t // DAY
        days = day0[:, None] - np.arange(LOOKBACK_DAYS)[None, :]
        active = self._active(ports[:, None], days)
        # the two latest active days (an active day always holds a flap)
        first = np.where(active.any(axis=1), active.argmax(axis=1), LOOKBACK_DAYS)
        masked = active.copy()
        masked[np.arange(len(ports)), np.minimum(first, LOOKBACK_DAYS - 1)] = False
        second = np.where(masked.any(axis=1), masked.argmax(axis=1), LOOKBACK_DAYS)
        best = np.maximum(boot + REBOOT_DOWN_S, np.where(boot <= t, boot, -1))
        best = np.where(boot + REBOOT_DOWN_S <= t, boot + REBOOT_DOWN_S, boot)
        for offset in (first, second):
            ok = offset < LOOKBACK_DAYS
            d = day0 - np.where(ok, offset, 0)
            hours = d[:, None] * 24 + np.arange(24)[None, :]
            p = ports[:, None]
            flap = self._flap_at(p, hours)
            bounced = np.where(flap >= 0, flap + FLAP_BOUNCE_S, -1)
            start, end = self._outages(p, hours)
            events = np.concatenate([flap, bounced, start, end], axis=1)
            events = np.where((events <= t[:, None]) & (events >= 0), events, -1).max(axis=1)
            best = np.where(ok, np.maximum(best, events), best)
        return best

    def _injected_events(self, ports: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Up/down changes injections make in [t, t+60)."""
        n = np.zeros(len(ports), dtype=np.int64)
        for inj in self.injections:
            mine = ports == inj.port
            if inj.kind == "offline" and self.offline_enabled:
                mine = self.a["dev"][ports] == self.a["dev"][inj.port]
                edges = np.array([inj.start, inj.end])
            elif inj.kind == "down":
                edges = np.array([inj.start, inj.end])
            elif inj.kind == "flap":
                starts = np.arange(inj.start, inj.end, FLAP_PERIOD_S)
                edges = np.concatenate([starts, np.minimum(starts + FLAP_DOWN_S, inj.end)])
            else:
                continue
            edges = np.sort(edges)
            lo = np.searchsorted(edges, t, side="left")
            hi = np.searchsorted(edges, t + 60, side="left")
            n += np.where(mine, hi - lo, 0)
        return n

    def _last_flapped_with_injections(self, ports, t, boot) -> np.ndarray:
        best = self.last_flapped(ports, t, boot)
        if self.offline_enabled:  # going offline and coming back are changes of the ports too
            days = (t // DAY)[:, None] - np.arange(LOOKBACK_DAYS)[None, :]
            s, e = self._offline_episode(self.a["dev"][ports][:, None], days)
            edges = np.concatenate([s, e], axis=1)
            edges = np.where((edges >= 0) & (edges <= t[:, None]), edges, -1).max(axis=1)
            best = np.maximum(best, edges)
        return np.maximum(best, self._injected_last_flap(ports, t)) if self.injections else best

    def _port_down(self, ports: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Whether each port is down at t, every reason included."""
        down = self._down(ports, t, self.last_reboot(self.a["dev"][ports], t))
        if self.injections:
            down |= self._injected("down", ports, t) | self._injected("flap", ports, t)
        return down

    def _down(self, ports: np.ndarray, t: np.ndarray, boot: np.ndarray) -> np.ndarray:
        hours = (t // HOUR)[:, None] - np.arange(OUTAGE_LOOKBACK_H + 1)[None, :]
        start, end = self._outages(ports[:, None], hours)
        in_outage = ((start >= 0) & (start <= t[:, None]) & (t[:, None] < end)).any(axis=1)
        rebooting = (boot <= t) & (t < boot + REBOOT_DOWN_S)
        flap = self._flap_at(ports, t // HOUR)
        bouncing = (flap >= 0) & (flap <= t) & (t < flap + FLAP_BOUNCE_S)
        return in_outage | rebooting | bouncing | self.offline(self.a["dev"][ports], t)

    def _episode(self, ports, t, window_h, p, kinds, min_dur, max_dur) -> np.ndarray:
        """Size of the episode (0 when none) active at t: one chance per window, may spill over."""
        occ, st, du, sz = kinds
        windows = (t // (window_h * HOUR))[:, None] - np.arange(2)[None, :]
        pp = ports[:, None]
        occurs = _u(self.seed, occ, pp, windows) < p[:, None]
        start = windows * window_h * HOUR + (
            _u(self.seed, st, pp, windows) * window_h * HOUR
        ).astype(np.int64)
        dur = (min_dur + _u(self.seed, du, pp, windows) * (max_dur - min_dur)) * 60
        on = occurs & (start <= t[:, None]) & (t[:, None] < start + dur)
        size = _u(self.seed, sz, pp, windows)
        return np.where(on, size, 0.0).max(axis=1)

    # utilisation ---------------------------------------------------------------------------
    def _diurnal(self, ports: np.ndarray, t: np.ndarray) -> np.ndarray:
        local_h = ((t / HOUR) + self.a["tz"][ports]) % 24
        # business-hours hump peaking at 14:00 local, trough at 02:00
        return 1 + self.a["amp"][ports] * np.sin((local_h - 8) / 24 * 2 * np.pi)

    def _own_util(self, ports: np.ndarray, t: np.ndarray) -> np.ndarray:
        a = self.a
        slot = t // 600
        noise = 1 + 0.2 * (_u(self.seed, NOISE, ports, slot) - 0.5)
        util = a["base_util"][ports] * self._diurnal(ports, t) * noise
        cong = self._episode(
            ports, t, 3, a["p_cong"][ports], (CONG, CONG_START, CONG_DUR, CONG_SIZE), 30, 180
        )
        util = util + np.where(cong > 0, 0.3 + 0.4 * cong, 0.0)
        return np.clip(util, 0.0, 1.0)

    # the state ----------------------------------------------------------------------------
    def state(self, ports, t, last_flapped: bool = True) -> dict[str, np.ndarray]:
        """Every served field of the given ports at instants t (scalar or one per port);
        `last_flapped=False` skips its 64-day look-back where it is not needed."""
        a = self.a
        ports = np.asarray(ports, dtype=np.int64)
        t = np.broadcast_to(np.asarray(t, dtype=np.int64), ports.shape).copy()
        devs = a["dev"][ports]
        boot = self.last_reboot(devs, t)
        down = self._down(ports, t, boot)
        if self.injections:
            down |= self._injected("down", ports, t) | self._injected("flap", ports, t)
        util = self._own_util(ports, t)

        # failover: while the primary is down, the first secondary up in the site's order (the
        # backup, else the next) carries the primary's traffic on top of its own
        rank = a["rank"][ports]
        secondary = np.flatnonzero((rank >= 1) & (a["site_primary"][ports] >= 0))
        carried = np.zeros(len(ports))
        if len(secondary):
            prim = a["site_primary"][ports][secondary]
            tb = t[secondary]
            takes = self._port_down(prim, tb)
            site = a["site"][ports][secondary]
            for k in range(1, int(rank[secondary].max())):
                lower = self.site_rank_port[site, k]
                need = np.flatnonzero((rank[secondary] > k) & takes)
                if not len(need):
                    continue
                there = lower[need] >= 0
                gone = np.ones(len(need), dtype=bool)
                p_, t_ = lower[need][there], tb[need][there]
                gone[there] = self._port_down(p_, t_) | ~self.exists(p_, t_)
                takes[need] &= gone
            load = self._own_util(prim, tb) * a["speed"][prim] / a["speed"][ports][secondary]
            carried[secondary] = np.where(takes, load, 0.0)
        failover = carried > 0
        util = np.where(down, 0.0, np.clip(util + carried, 0.0, 1.0))
        if self.injections:
            util = np.where(self._injected("congest", ports, t) & ~down, np.fmax(util, 0.96), util)
            util = np.where(self._injected("busy", ports, t) & ~down, np.fmax(util, 0.80), util)

        speed = a["speed"][ports].astype(np.float64)
        rx_bps = np.round(util * speed * 1e6).astype(np.int64)
        tx_bps = np.round(rx_bps * a["tx_ratio"][ports]).astype(np.int64)

        # counters: baseline integral since boot (exact between any two instants)
        rx_bytes = self.bytes_since(ports, boot, t)
        tx_bytes = (rx_bytes * a["tx_ratio"][ports]).astype(np.int64)
        rx_pkts = (rx_bytes / a["pkt_size"][ports]).astype(np.int64)
        tx_pkts = (tx_bytes / a["pkt_size"][ports]).astype(np.int64)
        rx_errors = (rx_pkts * a["err_rate"][ports]).astype(np.int64)
        tx_errors = (tx_pkts * a["err_rate"][ports] * 0.5).astype(np.int64)

        # quality
        slot = t // 600
        qn = _u(self.seed, QNOISE, ports, slot)
        degr = self._episode(
            ports, t, 6, a["p_degrade"][ports], (DEGR, DEGR_START, DEGR_DUR, DEGR_SIZE), 20, 240
        )
        hot = np.clip(util - 0.9, 0, None) * 10  # 0..1 above 90 % utilisation
        latency = (
            a["lat_base"][ports] * (0.9 + 0.2 * qn)
            + np.where(degr > 0, 50 + 150 * degr, 0)
            + 40 * hot
        )
        jitter = (
            a["jit_base"][ports] * (0.8 + 0.4 * qn)
            + np.where(degr > 0, 10 + 50 * degr, 0)
            + 15 * hot
        )
        loss = a["loss_base"][ports] * qn + np.where(degr > 0, 0.5 + 4.5 * degr, 0) + 3 * hot
        if self.injections:
            degraded = self._injected("degrade", ports, t)
            latency = latency + 150 * degraded
            jitter = jitter + 30 * degraded
            loss = loss + 8 * degraded

        return {
            "t": t,
            "up": ~down,
            "util": util,
            "failover": failover & ~down,
            "speed": a["speed"][ports],
            "rx_bps": rx_bps,
            "tx_bps": tx_bps,
            "rx_bytes": rx_bytes,
            "tx_bytes": tx_bytes,
            "rx_pkts": rx_pkts,
            "tx_pkts": tx_pkts,
            "rx_errors": rx_errors,
            "tx_errors": tx_errors,
            "latency": np.round(latency, 1),
            "jitter": np.round(jitter, 2),
            "loss": np.round(loss, 2),
            "has_quality": a["has_quality"][ports] & ~down,
            "last_flapped": self._last_flapped_with_injections(ports, t, boot)
            if last_flapped
            else None,
            "boot": boot,
        }

    def bytes_since(self, ports: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """Bytes received by the baseline curve between t0 and t1 (closed-form integral). The
        curve's peak never exceeds the link: a counter cannot run faster than its port."""
        a = self.a
        amp = a["amp"][ports]
        base = np.minimum(a["base_util"][ports], 1.0 / (1.0 + amp))
        rate = base * a["speed"][ports] * 1e6 / 8  # bytes/s at diurnal mean
        phase = (a["tz"][ports] - 8) * HOUR

        def integral(t):
            return t - amp * DAY / (2 * np.pi) * np.cos((t + phase) / DAY * 2 * np.pi)

        t0 = np.minimum(t0, t1)
        return np.floor(
            rate * (integral(t1.astype(np.float64)) - integral(t0.astype(np.float64)))
        ).astype(np.int64)

    # ground truth ---------------------------------------------------------------------------
    def truth(self, ports, start: int, minutes: int) -> pd.DataFrame:
        """The true state of the ports minute by minute from `start` (epoch s, floored to a minute).

        Columns: `ts`, `circuit_id`, `site_id`, `exists` (the circuit and its site exist: outside
        its lifetime nothing else of the row means anything), `up`, `offline` (its gateway is
        offline: down too), `util_pct`, `failover`, `rx_bps`, `tx_bps`, `latency_ms`,
        `jitter_ms`, `loss_pct` (null when down or not reported), `flaps` (up/down changes within
        the minute: a one-second bounce is two), `rx_bytes` (the counter).
        """
        ports = np.asarray(ports, dtype=np.int64)
        start = int(start) // 60 * 60
        grid_t = start + 60 * np.arange(minutes, dtype=np.int64)
        pp = np.repeat(ports, minutes)
        tt = np.tile(grid_t, len(ports))
        s = self.state(pp, tt, last_flapped=False)
        flaps = self._count_events(pp, tt)
        quality = s["has_quality"]
        org = self.org
        return pd.DataFrame(
            {
                "ts": pd.to_datetime(tt, unit="s", utc=True),
                "circuit_id": [org.circuit_id(i) for i in pp],
                "site_id": [org.sites[org.arrays["site"][i]].id for i in pp],
                "exists": self.exists(pp, tt),
                "up": s["up"],
                "offline": self.offline(org.arrays["dev"][pp], tt),
                "util_pct": s["util"] * 100,
                "failover": s["failover"],
                "rx_bps": s["rx_bps"],
                "tx_bps": s["tx_bps"],
                "latency_ms": np.where(quality, s["latency"], np.nan),
                "jitter_ms": np.where(quality, s["jitter"], np.nan),
                "loss_pct": np.where(quality, s["loss"], np.nan),
                "flaps": flaps,
                "rx_bytes": s["rx_bytes"],
            }
        )

    def _count_events(self, ports: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Up/down changes (outage starts and ends, reboots, flap bounces: a down and an up) in
        [t, t+60)."""
        hours = (t // HOUR)[:, None] - np.arange(OUTAGE_LOOKBACK_H + 1)[None, :]
        p = ports[:, None]
        start, end = self._outages(p, hours)
        lo, hi = t[:, None], t[:, None] + 60
        n = ((start >= lo) & (start < hi)).sum(axis=1) + (
            (end >= lo) & (end < hi) & (start >= 0)
        ).sum(axis=1)
        flap = self._flap_at(p, (t // HOUR)[:, None])
        n = n + ((flap >= lo) & (flap < hi)).sum(axis=1)  # a bounce: its down...
        n = n + ((flap >= 0) & (flap + FLAP_BOUNCE_S >= lo) & (flap + FLAP_BOUNCE_S < hi)).sum(
            axis=1
        )  # ...and its up
        devs = self.a["dev"][ports]
        reboot = self._reboots(devs, t // DAY)
        n = (
            n
            + ((reboot >= t) & (reboot < t + 60))
            + ((reboot + REBOOT_DOWN_S >= t) & (reboot + REBOOT_DOWN_S < t + 60))
        )
        if self.offline_enabled:
            days = (t // DAY)[:, None] - np.arange(2)[None, :]
            s, e = self._offline_episode(devs[:, None], days)
            n = n + ((s >= t[:, None]) & (s < t[:, None] + 60)).sum(axis=1)
            n = n + ((s >= 0) & (e >= t[:, None]) & (e < t[:, None] + 60)).sum(axis=1)
        if self.injections:
            n = n + self._injected_events(ports, t)
        return n.astype(np.int64)

    # port events ------------------------------------------------------------------------------
    def down_intervals(self, ports, start: int, end: int) -> pd.DataFrame:
        """Every time each port was down, as merged [down, up) second intervals that overlap
        [start, end) (not clipped: an interval begun earlier shows when it began). The same
        intervals `state` reads, so events, samples and the truth agree to the second."""
        ports = np.asarray(ports, dtype=np.int64)
        start, end = int(start), int(end)
        hours = np.arange(start // HOUR - OUTAGE_LOOKBACK_H, (end - 1) // HOUR + 1)
        pp, hh = np.repeat(ports, len(hours)), np.tile(hours, len(ports))
        o_start, o_end = self._outages(pp, hh)
        flap = self._flap_at(pp, hh)
        days = np.arange((start - REBOOT_DOWN_S) // DAY, (end - 1) // DAY + 1)
        pd_, dd = np.repeat(ports, len(days)), np.tile(days, len(ports))
        boot = self._reboots(self.a["dev"][pd_], dd)
        parts = [
            (pp[o_start >= 0], o_start[o_start >= 0], o_end[o_start >= 0]),
            (pp[flap >= 0], flap[flap >= 0], flap[flap >= 0] + FLAP_BOUNCE_S),
            (pd_[boot >= 0], boot[boot >= 0], boot[boot >= 0] + REBOOT_DOWN_S),
        ]
        if self.offline_enabled:
            off = self.offline_episodes(start, end, self.a["dev"][ports])
            of_port = pd.DataFrame({"port": ports, "gateway": self.a["dev"][ports]}).merge(off)
            parts.append(tuple(of_port[c].to_numpy(dtype=np.int64) for c in ("port", "down", "up")))
        mine = set(ports.tolist())
        for inj in self.injections:
            if inj.port not in mine or inj.kind not in ("down", "flap"):
                continue
            if inj.kind == "down":
                s = np.array([inj.start])
                e = np.array([inj.end])
            else:
                s = np.arange(inj.start, inj.end, FLAP_PERIOD_S)
                e = np.minimum(s + FLAP_DOWN_S, inj.end)
            parts.append((np.full(len(s), inj.port), s, e))
        port = np.concatenate([p[0] for p in parts]).astype(np.int64)
        s = np.concatenate([p[1] for p in parts]).astype(np.int64)
        e = np.concatenate([p[2] for p in parts]).astype(np.int64)
        order = np.lexsort((s, port))
        port, s, e = port[order], s[order], e[order]
        rows = []
        cur_p, cur_s, cur_e = -1, 0, 0
        for p_, s_, e_ in zip(port.tolist(), s.tolist(), e.tolist(), strict=True):
            if p_ == cur_p and s_ <= cur_e:  # overlapping or touching: one down interval
                cur_e = max(cur_e, e_)
                continue
            if cur_p >= 0:
                rows.append((cur_p, cur_s, cur_e))
            cur_p, cur_s, cur_e = p_, s_, e_
        if cur_p >= 0:
            rows.append((cur_p, cur_s, cur_e))
        out = pd.DataFrame(rows, columns=["port", "down", "up"], dtype=np.int64)
        out = out[(out["up"] > start) & (out["down"] < end)].reset_index(drop=True)
        out["circuit_id"] = [self.org.circuit_id(i) for i in out["port"]]
        return out

    def port_events(self, ports, start: int, end: int) -> pd.DataFrame:
        """Each up/down change of the ports in [start, end) that their gateway reported: `ts`
        (epoch s), `port`, `event` ("down" or "up"), sorted by time, then port, then down before
        up. A gateway offline reports nothing (from going offline to coming back, both
        included), and a port outside its lifetime has no events."""
        # an interval that ends exactly at `start` ends in the window: its up is an event of it
        iv = self.down_intervals(ports, int(start) - 1, end)
        downs = iv[(iv["down"] >= start) & (iv["down"] < end)]
        ups = iv[(iv["up"] >= start) & (iv["up"] < end)]
        out = pd.concat(
            [
                pd.DataFrame({"ts": downs["down"], "port": downs["port"], "event": "down"}),
                pd.DataFrame({"ts": ups["up"], "port": ups["port"], "event": "up"}),
            ],
            ignore_index=True,
        )
        out = out[self.exists(out["port"].to_numpy(), out["ts"].to_numpy())]
        if self.offline_enabled and len(out):
            gw = self.a["dev"][out["port"].to_numpy(dtype=np.int64)]
            off = self.offline_episodes(start, end, gw)
            silent = np.zeros(len(out), dtype=bool)
            ts = out["ts"].to_numpy(dtype=np.int64)
            for g, d, u in off.itertuples(index=False):
                silent |= (gw == g) & (ts >= d) & (ts <= u)
            out = out[~silent]
        return out.sort_values(["ts", "port", "event"]).reset_index(drop=True)

    def gateway_events(self, start: int, end: int) -> pd.DataFrame:
        """Each gateway going offline (`disconnected`) and coming back (`connected`) in
        [start, end), while its site exists: `ts`, `gateway`, `event`."""
        off = self.offline_episodes(start, end)
        parts = [
            off[["down", "gateway"]].rename(columns={"down": "ts"}).assign(event="disconnected"),
            off[["up", "gateway"]].rename(columns={"up": "ts"}).assign(event="connected"),
        ]
        out = pd.concat(parts, ignore_index=True)
        out = out[(out["ts"] >= start) & (out["ts"] < end)]
        site = np.array([g.site_index for g in self.org.gateways], dtype=np.int64)
        out = out[self.site_exists(site[out["gateway"].to_numpy(dtype=np.int64)], out["ts"])]
        return out.sort_values(["ts", "gateway"]).reset_index(drop=True)

    def reboots_between(self, start: int, end: int) -> pd.DataFrame:
        """Each gateway reboot in [start, end): `ts`, `gateway` (index)."""
        devs = np.arange(len(self.org.gateways), dtype=np.int64)
        days = np.arange(start // DAY, (end - 1) // DAY + 1)
        dd, dv = np.tile(days, len(devs)), np.repeat(devs, len(days))
        at = self._reboots(dv, dd)
        keep = (at >= start) & (at < end)
        return (
            pd.DataFrame({"ts": at[keep], "gateway": dv[keep]})
            .sort_values(["ts", "gateway"])
            .reset_index(drop=True)
        )

    # VPN paths --------------------------------------------------------------------------------
    def vpn_paths(self) -> np.ndarray:
        """(port, hub port) of every path: each WAN port of a site other than the hub's leads
        to the hub's primary port."""
        a = self.a
        wan = self.org.wan_port_indices()
        hub = np.flatnonzero((a["site"] == HUB_SITE) & (a["rank"] == 0))
        if not len(hub):
            return np.zeros((0, 2), dtype=np.int64)
        ports = wan[a["site"][wan] != HUB_SITE]
        return np.stack([ports, np.full(len(ports), hub[0])], axis=1)

    def path_state(self, paths: np.ndarray, t) -> dict[str, np.ndarray]:
        """Each path's state at t: up (both ends up), latency, jitter, loss, MOS."""
        paths = np.asarray(paths, dtype=np.int64).reshape(-1, 2)
        near = self.state(paths[:, 0], t, last_flapped=False)
        far = self.state(paths[:, 1], t, last_flapped=False)
        leg = 2 + (_u(self.seed, PATH_LEG, paths[:, 0]) * 18)
        latency = np.round(near["latency"] + far["latency"] * 0.2 + leg, 1)
        jitter = np.round(near["jitter"] + far["jitter"] * 0.2, 2)
        loss = np.round(np.clip(near["loss"] + far["loss"] * 0.2, 0, 100), 2)
        up = near["up"] & far["up"]
        return {
            "up": up,
            "latency": latency,
            "jitter": jitter,
            "loss": loss,
            "mos": mos(latency, jitter, loss),
            "boot": near["boot"],
        }

    # WAN SLE ----------------------------------------------------------------------------------
    def site_sle(self, sites, start: int, end: int) -> pd.DataFrame:
        """The WAN SLE of each site over [start, end), from its minutes: `site`,
        `gateway_health`, `wan_link_health`, `application_health` (0..1), `num_gateways`,
        `num_clients`."""
        sites = np.asarray(sites, dtype=np.int64)
        a = self.a
        minutes = max((int(end) - int(start)) // 60, 1)
        grid = int(start) + 60 * np.arange(minutes, dtype=np.int64)
        wan = self.org.wan_port_indices()
        wan = wan[np.isin(a["site"][wan], sites)]
        out = pd.DataFrame({"site": sites})
        # gateways: the share of gateway-minutes not rebooting
        gw_site = np.array([g.site_index for g in self.org.gateways], dtype=np.int64)
        gws = np.flatnonzero(np.isin(gw_site, sites))
        gg, tt = np.repeat(gws, minutes), np.tile(grid, len(gws))
        boot = self.last_reboot(gg, tt)
        healthy_gw = ~((boot <= tt) & (tt < boot + REBOOT_DOWN_S)) & ~self.offline(gg, tt)
        gw_frame = pd.DataFrame({"site": gw_site[gg], "ok": healthy_gw})
        out["gateway_health"] = out["site"].map(gw_frame.groupby("site")["ok"].mean())
        out["num_gateways"] = out["site"].map(pd.Series(gw_site).value_counts()).fillna(0)
        # WAN links: up, under 90 % and with good quality
        pp, tp = np.repeat(wan, minutes), np.tile(grid, len(wan))
        s = self.state(pp, tp, last_flapped=False)
        good = s["up"] & (s["util"] < 0.9) & (s["loss"] < 2) & (s["latency"] < 150)
        good &= s["jitter"] < 30
        links = pd.DataFrame({"site": a["site"][pp], "t": tp, "ok": good})
        out["wan_link_health"] = out["site"].map(links.groupby("site")["ok"].mean())
        served = links.groupby(["site", "t"])["ok"].any().groupby(level=0).mean()
        out["application_health"] = out["site"].map(served)
        hour = int(start) // HOUR
        clients = 10 + (_u(self.seed, CLIENTS, sites, hour) * 290).astype(np.int64)
        out["num_clients"] = clients
        for col in ("gateway_health", "wan_link_health", "application_health"):
            out[col] = out[col].astype(np.float64).round(6)
        return out


def mos(latency, jitter, loss) -> np.ndarray:
    """Mean opinion score (1..4.5) from latency, jitter (ms) and loss (%), the simplified
    E-model network tools use: effective latency = latency + 2 x jitter + 10 ms."""
    effective = np.asarray(latency, dtype=np.float64) + 2 * np.asarray(jitter) + 10
    r = np.where(effective < 160, 93.2 - effective / 40, 93.2 - (effective - 120) / 10)
    r = np.clip(r - 2.5 * np.asarray(loss, dtype=np.float64), 0, 100)
    return np.round(1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r), 2)
