"""The Mist API over HTTP: the endpoints a WAN port-stats collector uses, with the official shapes.

Auth by `Authorization: Token …`, a per-token hourly budget with the real 429 body, `next`/
`search_after` cursor paging and page/limit paging with `X-Page-*` headers, injectable faults,
and (only when enabled) admin endpoints outside `/api/v1` for the clock, faults and ground truth.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import socket
import threading
import time
import zlib
from dataclasses import asdict, dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import numpy as np

from .org import Org, build_org
from .world import World

RATE_LIMIT_DETAIL = (
    "Too Many Request. The API Token used for the request reached the {limit} API Calls per hour"
    " threshold"
)
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


class Clock:
    """Real time unless set: then simulated time, which advances only when told."""

    def __init__(self, now: float | None = None):
        self._fixed = now
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time() if self._fixed is None else self._fixed

    def set(self, epoch: float | None) -> None:
        with self._lock:
            self._fixed = epoch

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._fixed = (time.time() if self._fixed is None else self._fixed) + seconds
            return self._fixed

    @property
    def simulated(self) -> bool:
        return self._fixed is not None


@dataclass
class Faults:
    """What goes wrong, switchable at run time. Rates are per request (records: per record);
    the `*_next` counters make the next N requests fail that way, deterministically."""

    error_rate: float = 0.0  # 5xx
    slow_rate: float = 0.0
    slow_seconds: float = 2.0
    hold_rate: float = 0.0  # hold the connection, answer nothing, close
    hold_seconds: float = 30.0
    truncate_rate: float = 0.0  # cut the JSON body short
    malformed_json_rate: float = 0.0  # a body that is not JSON at all
    bad_record_rate: float = 0.0  # port records with missing fields, nulls, negatives, speed 0
    bad_record_every: int = 0  # every n-th record served is bad (exact counts for tests)
    duplicate_records: int = 0  # each next page repeats this many records of the previous page
    retry_after: int | None = None  # seconds sent in Retry-After with 429 (None: no header)
    error_next: int = 0
    hold_next: int = 0
    truncate_next: int = 0
    malformed_json_next: int = 0
    throttle_next: int = 0  # the next N API calls get 429 (a storm), not charged to the budget
    error_status: int = 503
    # the device-event feed as real ones are: events never sent, sent twice (the copy arrives
    # last), served out of time order; each decided per event, so a window asked again loses
    # and repeats the same ones
    event_loss_rate: float = 0.0
    event_repeat_rate: float = 0.0
    event_disorder: int = 0

    def update(self, **changes) -> None:
        names = {f.name for f in fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown fault setting(s): {sorted(unknown)}")
        for k, v in changes.items():
            setattr(self, k, v)


BAD_KINDS = [
    "missing_port_id",
    "missing_site_id",
    "null_up",
    "negative_counter",
    "speed_zero",
    "string_bps",
]


@dataclass
class SimulatorConfig:
    sites: int = 200
    seed: int = 1
    tokens: tuple[str, ...] = ("sim-token",)
    rate_limit: int = 5000
    admin: bool = False
    now: float | None = None  # fixed simulated start time; None = real time
    cursor_ttl_seconds: int = 3600
    faults: Faults = field(default_factory=Faults)
    gateway_offline: bool = True  # gateways go offline now and then (docs/simulator.md)
    churn: tuple[int, int] | None = None  # sites and circuits added and removed in [start, end)


def _coerce_fault(name: str, raw: str):
    """A fault setting from a query string value, typed like its default."""
    defaults = {f.name: f.default for f in fields(Faults)}
    if name not in defaults:
        raise ValueError(f"unknown fault setting {name!r}; known: {sorted(defaults)}")
    if raw.lower() in ("", "none", "null"):
        return None
    default = defaults[name]
    return float(raw) if isinstance(default, float) else int(raw)


def _cursor(offset: int, issued: float) -> str:
    raw = json.dumps([offset, int(issued)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _uncursor(token: str) -> tuple[int, float]:
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    offset, issued = json.loads(raw)
    return int(offset), float(issued)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _span(value: str) -> int:
    """Seconds of "10m", "1h", "1d", "2w" or a plain number of seconds."""
    value = str(value).strip()
    if value.isdigit():
        return int(value)
    if len(value) >= 2 and value[-1] in _UNITS and value[:-1].isdigit():
        return int(value[:-1]) * _UNITS[value[-1]]
    raise ValueError(f"cannot read the span {value[:20]!r} (like 10m, 1h, 1d, 2w)")


def _when(value: str, now: int) -> int:
    """An instant: epoch seconds, "now", or relative to now ("-1d", "-2h")."""
    value = str(value).strip()
    if value == "now":
        return now
    if value.startswith("-"):
        return now - _span(value[1:])
    try:
        return int(float(value))
    except ValueError:
        raise ValueError(f"cannot read the time {value[:20]!r}") from None


class ApiError(Exception):
    def __init__(self, status: int, body: dict | None, headers: dict | None = None):
        self.status, self.body, self.headers = status, body, headers or {}


class MistSimulator:
    """The simulated org and its API state (budget, clock, faults); transport-independent."""

    def __init__(self, config: SimulatorConfig | None = None, org: Org | None = None):
        self.config = config or SimulatorConfig()
        self.org = org or build_org(self.config.seed, self.config.sites)
        self.world = World(self.org, offline=self.config.gateway_offline)
        if self.config.churn:
            self.world.set_churn(*self.config.churn)
        self.clock = Clock(self.config.now)
        self.faults = self.config.faults
        self._usage: dict[str, tuple[int, int]] = {}  # token -> (window, calls)
        self._lock = threading.Lock()
        self._fault_rng = random.Random(f"faults:{self.config.seed}")
        self._bad_counter = 0
        self.calls = 0
        self.over_budget = 0  # calls refused with 429 because their token's hour was spent
        a = self.org.arrays
        self._gateway_ports = np.arange(self.org.n_ports)  # every port is a gateway port
        self._site_ports = {}
        for i, s in enumerate(a["site"].tolist()):
            self._site_ports.setdefault(s, []).append(i)
        self._site_json = [self._site(i) for i in range(len(self.org.sites))]
        self._events_cache: dict[tuple, list[dict]] = {}
        self._instant_cache: dict[tuple, object] = {}
        self._ssr_gateway = np.array([g.model.startswith("SSR") for g in self.org.gateways])

    # budget ---------------------------------------------------------------------------------
    def _window(self) -> int:
        return int(self.clock.now() // 3600)

    def usage(self, token: str) -> dict:
        window, calls = self._usage.get(token, (self._window(), 0))
        if window != self._window():
            calls = 0
        now = self.clock.now()
        return {
            "requests": calls,
            "request_limit": self.config.rate_limit,
            "seconds": int(3600 - now % 3600),
        }

    def _charge(self, token: str) -> None:
        with self._lock:
            window = self._window()
            w, calls = self._usage.get(token, (window, 0))
            if w != window:
                calls = 0
            if calls >= self.config.rate_limit:
                self.over_budget += 1
                headers = {}
                if self.faults.retry_after is not None:
                    headers["Retry-After"] = str(self.faults.retry_after)
                raise ApiError(
                    429, {"detail": RATE_LIMIT_DETAIL.format(limit=self.config.rate_limit)}, headers
                )
            self._usage[token] = (window, calls + 1)
            self.calls += 1

    # request handling -----------------------------------------------------------------------
    def handle(
        self, method: str, path: str, query: dict[str, list[str]], headers
    ) -> tuple[int, dict, object]:
        """Returns (status, headers, body as JSON-able or bytes). Raises ApiError for errors."""
        if path.startswith("/admin/"):
            if not self.config.admin:
                raise ApiError(404, {"detail": "Not found."})
            self._authenticate(headers)  # the clock, faults and truth: for token holders only
            return self._admin(method, path, query)
        if not path.startswith("/api/v1/"):
            raise ApiError(404, {"detail": "Not found."})
        if method != "GET":
            raise ApiError(405, {"detail": f'Method "{method}" not allowed.'})
        token = self._authenticate(headers)
        with self._lock:
            throttled = self.faults.throttle_next > 0
            if throttled:
                self.faults.throttle_next -= 1
        if throttled:
            headers = (
                {}
                if self.faults.retry_after is None
                else {"Retry-After": str(self.faults.retry_after)}
            )
            raise ApiError(
                429, {"detail": RATE_LIMIT_DETAIL.format(limit=self.config.rate_limit)}, headers
            )
        self._charge(token)
        parts = path.rstrip("/").split("/")[3:]  # after /api/v1
        q = {k: v[-1] for k, v in query.items()}
        return self._api(parts, q, path, query, token)

    def _api(self, parts: list[str], q: dict, path: str, query, token: str):
        """One authenticated, charged API call: (status, headers, body)."""
        match parts:
            case ["self"]:
                return 200, {}, self._self()
            case ["self", "usage"]:
                return 200, {}, self.usage(token)
            case ["orgs", org_id, *_]:
                if org_id != self.org.id:
                    raise ApiError(
                        403, {"detail": "You do not have permission to perform this action."}
                    )
                return self._org_api(parts, q, path, query, token)
            case ["sites", _, *_]:
                return self._org_api(parts, q, path, query, token)
        raise ApiError(404, {"detail": "Not found."})

    def _org_api(self, parts: list[str], q: dict, path: str, query, token: str):
        """A call on this org's data (its org id or one of its sites in the path)."""
        match parts:
            case ["orgs", _, *rest]:
                match rest:
                    case ["sites"]:
                        return self._paged(self._sites_now(), q)
                    case ["sitegroups"]:
                        return self._paged(self._sitegroups(), q)
                    case ["stats", "devices"]:
                        kind = q.get("type", "ap")
                        devices = (
                            self._at_instant("gateways", self._gateways)
                            if kind in ("gateway", "all")
                            else []
                        )
                        return self._paged(devices, q)
                    case ["stats", "ports", "search"]:
                        return self._port_search(path, query, q, self._gateway_ports)
                    case ["insights", "sites-sle"]:
                        return self._sites_sle(q)
                    case ["stats", "vpn_peers", "search"]:
                        return self._vpn_peer_search(path, query, q)
                    case ["devices", "events", "search"]:
                        return self._device_event_search(path, query, q)
            case ["sites", site_id, "stats", "ports", "search"]:
                try:
                    s = self.org.site_index(site_id)
                except KeyError:
                    raise ApiError(404, {"detail": "Not found."}) from None
                return self._port_search(path, query, q, np.asarray(self._site_ports[s]))
        raise ApiError(404, {"detail": "Not found."})

    def _authenticate(self, headers) -> str:
        auth = headers.get("Authorization") or ""
        if not auth:
            raise ApiError(401, {"detail": "Authentication credentials were not provided."})
        scheme, _, token = auth.partition(" ")
        if scheme != "Token" or token.strip() not in self.config.tokens:
            raise ApiError(401, {"detail": "Invalid token."})
        return token.strip()

    def _paged(self, items: list, q: dict) -> tuple[int, dict, list]:
        try:
            limit = min(int(q.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
            page = int(q.get("page", 1))
        except ValueError:
            raise ApiError(400, {"detail": "limit and page must be integers"}) from None
        if limit < 1 or page < 1:
            raise ApiError(400, {"detail": "limit and page must be positive"})
        body = items[(page - 1) * limit : page * limit]
        headers = {
            "X-Page-Total": str(len(items)),
            "X-Page-Limit": str(limit),
            "X-Page-Page": str(page),
        }
        return 200, headers, body

    def _port_search(self, path, query, q, ports: np.ndarray):
        kind = q.get("device_type", q.get("type", "gateway"))
        if kind != "gateway":
            ports = ports[:0]
        for name in ("mac", "port_id"):
            if name in q:
                values = (
                    self.org.port_id if name == "port_id" else [g.mac for g in self.org.gateways]
                )
                if name == "mac":
                    keep = [
                        i for i in ports.tolist() if values[self.org.arrays["gw"][i]] == q[name]
                    ]
                else:
                    keep = [i for i in ports.tolist() if values[i] == q[name]]
                ports = np.asarray(keep, dtype=np.int64)
        now = self.clock.now()
        ports = self.served_ports(ports, now)
        # a `duplicate_records` fault makes each next page repeat the end of the one before
        page, nxt, limit = self._cursor_page(
            path, query, q, ports, overlap=self.faults.duplicate_records
        )
        body = {
            "start": int(now) - 86400,
            "end": int(now),
            "limit": limit,
            "total": len(ports),
            "results": self.port_records(page, now),
        }
        if nxt:
            body["next"] = nxt
        return 200, {}, body

    def served_ports(self, ports: np.ndarray, now: float | None = None) -> np.ndarray:
        """The ports the stats hold at `now`: a port exists and its gateway answers, or it is
        not in the stats at all."""
        now = int(self.clock.now() if now is None else now)
        dev = self.org.arrays["dev"][ports]
        every = np.arange(len(self.org.gateways), dtype=np.int64)
        offline = self._at_instant("offline", lambda: self.world.offline(every, now), now)
        return ports[self.world.exists(ports, now) & ~offline[dev]]

    def _at_instant(self, name: str, compute, now: float | None = None):
        """What `compute` gives for the whole org at a simulated instant, computed once for it:
        each page of a paged listing would otherwise compute the org's state again (at 20,000
        sites that made an ingestion's pages quadratic). Injections are part of the key."""
        now = int(self.clock.now() if now is None else now)
        key = (name, now, len(self.world.injections), self.world.offline_enabled)
        value = self._instant_cache.get(key)  # one lookup: another request may clear it
        if value is None:
            value = compute()
            if len(self._instant_cache) > 8:
                self._instant_cache.clear()
            self._instant_cache[key] = value
        return value

    def _cursor_page(self, path, query, q, items, overlap: int = 0):
        """One page of a `next`/`search_after` search over a fixed sequence: (page, next or
        None, limit). `next` keeps every parameter, so a page never shifts under a moving `now`;
        `overlap` makes it start that many items before the end of this page (a fault)."""
        try:
            limit = min(int(q.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
        except ValueError:
            raise ApiError(400, {"detail": "limit must be an integer"}) from None
        if limit < 1:
            raise ApiError(400, {"detail": "limit must be positive"})
        now = self.clock.now()
        offset, issued = 0, now
        if "search_after" in q:
            try:
                offset, issued = _uncursor(q["search_after"])
            except Exception:
                raise ApiError(400, {"detail": "invalid search_after"}) from None
            if now - issued > self.config.cursor_ttl_seconds:
                raise ApiError(400, {"detail": "search_after has expired; start the search again"})
        page = items[offset : offset + limit]
        nxt = None
        end = offset + len(page)
        if end < len(items):
            params = {k: v[-1] for k, v in query.items() if k != "search_after"}
            params["search_after"] = _cursor(max(end - overlap, offset + 1), issued)
            nxt = f"{path}?{urlencode(params)}"
        return page, nxt, limit

    def _time_range(self, q: dict, max_days: int = 31) -> tuple[int, int]:
        """[start, end) of a request: epoch seconds or relative ("-1d", "-2h", "now"), with
        `duration` ("1d", "2h", "10m"). What lies after now is not served: the end is cut to
        now (no earlier than the start), and the envelope's `end` says so."""
        now = int(self.clock.now())
        try:
            end = _when(q.get("end", "now"), now)
            duration = _span(q.get("duration", "1d"))
            start = _when(q["start"], now) if "start" in q else end - duration
        except ValueError as exc:
            raise ApiError(400, {"detail": str(exc)}) from None
        if end <= start:
            raise ApiError(400, {"detail": "end must be after start"})
        if end - start > max_days * 86400:
            raise ApiError(400, {"detail": f"the range may span at most {max_days} days"})
        return start, max(min(end, now), start)

    def _sites_sle(self, q: dict):
        """The WAN SLE of each site over [start, end), paged by page/limit."""
        if q.get("sle", "wan") != "wan":
            raise ApiError(400, {"detail": "the simulator serves the wan SLE only"})
        start, end = self._time_range(q, max_days=7)
        try:
            interval = _span(q.get("interval", "1h"))
            limit = min(int(q.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
            page = int(q.get("page", 1))
        except ValueError as exc:
            raise ApiError(400, {"detail": f"bad interval, limit or page: {exc}"}) from None
        if limit < 1 or page < 1:
            raise ApiError(400, {"detail": "limit and page must be positive"})
        every = np.arange(len(self.org.sites), dtype=np.int64)
        every = every[self.world.site_exists(every, start)]
        n = len(every)
        sites = every[(page - 1) * limit : page * limit]
        results = []
        if len(sites) and end > start:
            sle = self.world.site_sle(sites, start, end)
            for row in sle.itertuples(index=False):
                results.append(
                    {
                        "site_id": self.org.sites[row.site].id,
                        "gateway-health": float(row.gateway_health),
                        "wan-link-health": float(row.wan_link_health),
                        "application_health": float(row.application_health),
                        "num_gateways": int(row.num_gateways),
                        "num_clients": int(row.num_clients),
                    }
                )
        body = {
            "start": start,
            "end": end,
            "interval": interval,
            "limit": limit,
            "page": page,
            "total": n,
            "results": results,
        }
        return 200, {}, body

    def _vpn_peer_search(self, path, query, q):
        """Every VPN peer path now, filtered by `mac`, `site_id`, `type`; cursor paging."""
        org, a = self.org, self.org.arrays
        paths = self.world.vpn_paths()
        paths = paths[self.world.exists(paths[:, 0], int(self.clock.now()))]
        if "site_id" in q:
            try:
                paths = paths[a["site"][paths[:, 0]] == org.site_index(q["site_id"])]
            except KeyError:
                paths = paths[:0]
        if "mac" in q:
            paths = paths[[org.gateways[a["gw"][i]].mac == q["mac"] for i in paths[:, 0]]]
        kinds = np.where(self._ssr_gateway[a["gw"][paths[:, 0]]], "svr", "ipsec").astype(object)
        if "type" in q:
            paths, kinds = paths[kinds == q["type"]], kinds[kinds == q["type"]]
        now = self.clock.now()
        items = list(range(len(paths)))
        page, nxt, limit = self._cursor_page(path, query, q, items)
        chosen = paths[page] if page else paths[:0]
        st = self.world.path_state(chosen, int(now)) if len(chosen) else None
        results = []
        for j, (i, hub) in enumerate(chosen.tolist()):
            gw, peer = org.gateways[a["gw"][i]], org.gateways[a["gw"][hub]]
            rec = {
                "org_id": org.id,
                "site_id": org.sites[a["site"][i]].id,
                "mac": gw.mac,
                "port_id": org.port_id[i],
                "router_name": gw.name,
                "peer_mac": peer.mac,
                "peer_port_id": org.port_id[hub],
                "peer_router_name": peer.name,
                "peer_site_id": org.sites[a["site"][hub]].id,
                "type": str(kinds[page[j]]),
                "up": bool(st["up"][j]),
                "is_active": bool(a["rank"][i] == 0),
                "uptime": int(now - st["boot"][j]),
                "last_seen": float(now),
                "mtu": 1500,
            }
            if rec["up"]:
                rec.update(
                    latency=float(st["latency"][j]),
                    jitter=float(st["jitter"][j]),
                    loss=float(st["loss"][j]),
                    mos=float(st["mos"][j]),
                )
            results.append(rec)
        body = {
            "start": int(now) - 600,
            "end": int(now),
            "limit": limit,
            "total": len(paths),
            "results": results,
        }
        if nxt:
            body["next"] = nxt
        return 200, {}, body

    def device_events(self, start: int, end: int) -> list[dict]:
        """Every gateway event in [start, end), sorted by time: each WAN port's GW_PORT_DOWN and
        GW_PORT_UP, and each GW_REBOOTED (the same instants as the port stats and the truth)."""
        if end <= start:
            return []
        key = (start, end, len(self.world.injections))
        cached = self._events_cache.get(key)
        if cached is not None:
            return cached
        org, a = self.org, self.org.arrays
        wan = org.wan_port_indices()
        ev = self.world.port_events(wan, start, end)
        reboots = self.world.reboots_between(start, end)
        out = []
        for t, port, kind in zip(
            ev["ts"].tolist(), ev["port"].tolist(), ev["event"].tolist(), strict=True
        ):
            gw = org.gateways[a["gw"][port]]
            pid = org.port_id[port]
            down = kind == "down"
            event = {
                "timestamp": float(t),
                "type": "GW_PORT_DOWN" if down else "GW_PORT_UP",
                "org_id": org.id,
                "site_id": org.sites[gw.site_index].id,
                "mac": gw.mac,
                "model": gw.model,
                "device_type": "gateway",
                # the gateway's link trap, as events seen in the field word it
                "text": f"SNMP_TRAP_LINK_{'DOWN' if down else 'UP'}: ifIndex {513 + a['rank'][port]},"
                f" ifAdminStatus up(1), ifOperStatus {'down(2)' if down else 'up(1)'},"
                f" ifName {pid}",
            }
            if a["gw"][port] % 2 == 0:  # every other gateway names its port only in the text
                event["port_id"] = pid
            out.append(event)
        gone = ~self.world.site_exists(
            np.array([org.gateways[g].site_index for g in reboots["gateway"]], dtype=np.int64),
            reboots["ts"].to_numpy(dtype=np.int64),
        )
        reboots = reboots[~gone] if len(reboots) else reboots
        offline = self.world.gateway_events(start, end)
        for t, g, kind in zip(
            offline["ts"].tolist(),
            offline["gateway"].tolist(),
            offline["event"].tolist(),
            strict=True,
        ):
            gw = org.gateways[g]
            out.append(
                {
                    "timestamp": float(t),
                    "type": "GW_DISCONNECTED" if kind == "disconnected" else "GW_CONNECTED",
                    "org_id": org.id,
                    "site_id": org.sites[gw.site_index].id,
                    "mac": gw.mac,
                    "model": gw.model,
                    "device_type": "gateway",
                    "text": "device disconnected from the cloud"
                    if kind == "disconnected"
                    else "device connected to the cloud",
                }
            )
        for t, g in zip(reboots["ts"].tolist(), reboots["gateway"].tolist(), strict=True):
            gw = org.gateways[g]
            out.append(
                {
                    "timestamp": float(t),
                    "type": "GW_REBOOTED",
                    "org_id": org.id,
                    "site_id": org.sites[gw.site_index].id,
                    "mac": gw.mac,
                    "model": gw.model,
                    "device_type": "gateway",
                    "text": "gateway rebooted",
                }
            )
        out.sort(key=lambda e: (e["timestamp"], e["mac"], e["text"], e["type"]))
        if len(self._events_cache) > 16:
            self._events_cache.clear()
        self._events_cache[key] = out
        return out

    def _device_event_search(self, path, query, q):
        start, end = self._time_range(q)
        if "search_after" not in q:
            # pin the range as served, so `next` pages the same events however long it takes
            query = {**query, "start": [str(start)], "end": [str(end)]}
        events = self._as_a_real_feed(self.device_events(start, end), start, end)
        if q.get("device_type", "all") not in ("all", "gateway"):
            events = []
        if "type" in q:
            wanted = set(q["type"].split(","))
            events = [e for e in events if e["type"] in wanted]
        for name in ("mac", "site_id"):
            if name in q:
                events = [e for e in events if e[name] == q[name]]
        page, nxt, limit = self._cursor_page(path, query, q, events)
        body = {"start": start, "end": end, "limit": limit, "total": len(events), "results": page}
        if nxt:
            body["next"] = nxt
        return 200, {}, body

    def _as_a_real_feed(self, events: list[dict], start: int, end: int) -> list[dict]:
        """The events as a feed with the `event_*` faults serves them: some never sent, some
        sent again after the rest, all out of order. Each event's fate is a hash of what it is,
        so every window that holds it treats it alike."""
        f = self.faults
        if not (f.event_loss_rate or f.event_repeat_rate or f.event_disorder):
            return events
        kept, again = [], []
        for e in events:
            identity = repr((self.org.seed, e["timestamp"], e["mac"], e["type"], e["text"]))
            fate = zlib.crc32(identity.encode()) / 2**32
            if fate < f.event_loss_rate:
                continue
            kept.append(e)
            if fate < f.event_loss_rate + f.event_repeat_rate:
                again.append(dict(e))
        served = kept + again
        if f.event_disorder:
            random.Random(f"disorder:{self.org.seed}:{start}:{end}").shuffle(served)
        return served

    # records --------------------------------------------------------------------------------
    def port_records(self, ports: np.ndarray, now: float) -> list[dict]:
        if len(ports) == 0:
            return []
        org, a = self.org, self.org.arrays
        s = self.world.state(ports, int(now))
        cols = {k: v.tolist() for k, v in s.items() if k not in ("t", "boot", "util", "failover")}
        out = []
        for j, i in enumerate(ports.tolist()):
            site = org.sites[a["site"][i]]
            gw = org.gateways[a["gw"][i]]
            rec = {
                "org_id": org.id,
                "site_id": site.id,
                "mac": gw.mac,
                "port_id": org.port_id[i],
                "port_mac": org.port_mac[i],
                "neighbor_mac": org.neighbor_mac[i],
                "type": "gateway",
                "port_usage": "wan" if a["is_wan"][i] else "lan",
                "up": cols["up"][j],
                "disabled": False,
                "active": cols["up"][j],
                "full_duplex": True,
                "speed": cols["speed"][j],
                "rx_bps": cols["rx_bps"][j],
                "tx_bps": cols["tx_bps"][j],
                "rx_bytes": cols["rx_bytes"][j],
                "tx_bytes": cols["tx_bytes"][j],
                "rx_pkts": cols["rx_pkts"][j],
                "tx_pkts": cols["tx_pkts"][j],
                "rx_errors": cols["rx_errors"][j],
                "tx_errors": cols["tx_errors"][j],
                "last_flapped": float(cols["last_flapped"][j]),
            }
            if cols["has_quality"][j]:
                rec["jitter"] = cols["jitter"][j]
                rec["latency"] = cols["latency"][j]
                rec["loss"] = cols["loss"][j]
            out.append(self._maybe_bad(rec))
        return out

    def _maybe_bad(self, rec: dict) -> dict:
        f = self.faults
        bad = False
        if f.bad_record_every:
            self._bad_counter += 1
            bad = self._bad_counter % f.bad_record_every == 0
        elif f.bad_record_rate and self._fault_rng.random() < f.bad_record_rate:
            bad = True
        if not bad:
            return rec
        kind = (
            BAD_KINDS[self._bad_counter % len(BAD_KINDS)]
            if f.bad_record_every
            else self._fault_rng.choice(BAD_KINDS)
        )
        rec = dict(rec)
        if kind == "missing_port_id":
            rec.pop("port_id")
        elif kind == "missing_site_id":
            rec.pop("site_id")
        elif kind == "null_up":
            rec["up"] = None
        elif kind == "negative_counter":
            rec["rx_bytes"] = -abs(rec["rx_bytes"]) - 1
        elif kind == "speed_zero":
            rec["speed"] = 0
        elif kind == "string_bps":
            rec["rx_bps"] = "n/a"
        return rec

    def _site(self, i: int) -> dict:
        s = self.org.sites[i]
        return {
            "id": s.id,
            "name": s.name,
            "org_id": self.org.id,
            "timezone": s.timezone,
            "country_code": s.country_code,
            "address": s.address,
            "latlng": s.latlng,
            "sitegroup_ids": [s.region_id],
            "created_time": self.org.created_time,
            "modified_time": self.org.created_time,
        }

    def _sites_now(self) -> list[dict]:
        """The sites that exist now; a site added later says so in its `created_time`."""
        now = int(self.clock.now())
        idx = np.arange(len(self.org.sites), dtype=np.int64)
        out = []
        for i in idx[self.world.site_exists(idx, now)].tolist():
            site = self._site_json[i]
            added = int(self.world.site_added[i])
            if added > 0:
                site = {**site, "created_time": added, "modified_time": added}
            out.append(site)
        return out

    def _sitegroups(self) -> list[dict]:
        members: dict[str, list[str]] = {}
        for s in self.org.sites:
            members.setdefault(s.region_id, []).append(s.id)
        return [
            {
                "id": gid,
                "name": name,
                "org_id": self.org.id,
                "site_ids": members.get(gid, []),
                "created_time": self.org.created_time,
                "modified_time": self.org.created_time,
            }
            for name, gid in self.org.regions.items()
        ]

    def _gateways(self) -> list[dict]:
        org, a = self.org, self.org.arrays
        now = int(self.clock.now())
        wan = org.wan_port_indices()
        wan = wan[self.world.exists(wan, now)]
        s = self.world.state(wan, now, last_flapped=False)
        by_gw: dict[int, list[int]] = {}
        for j, i in enumerate(wan.tolist()):
            by_gw.setdefault(int(a["gw"][i]), []).append(j)
        gw_index = np.arange(len(org.gateways), dtype=np.int64)
        offline_since = self.world.offline_since(gw_index, now)
        gw_exists = self.world.site_exists(
            np.array([g.site_index for g in org.gateways], dtype=np.int64), now
        )
        per_site: dict[int, int] = {}
        for gw in org.gateways:
            per_site[gw.site_index] = per_site.get(gw.site_index, 0) + 1
        out = []
        boot_of_gw = {}
        for g, js in by_gw.items():
            boot_of_gw[g] = int(s["boot"][js[0]])
        for g, gw in enumerate(org.gateways):
            if not gw_exists[g]:
                continue
            js = by_gw.get(g, [])
            boot = boot_of_gw.get(g, now - 86400)
            rebooting = now - boot < 240
            offline = offline_since[g] >= 0
            if_stat = {}
            for j in js:
                i = int(wan[j])
                rank = int(a["rank"][i])
                if_stat[f"{org.port_id[i]}.0"] = {
                    "port_id": org.port_id[i],
                    "port_usage": "wan",
                    "up": bool(s["up"][j]),
                    "wan_name": f"wan{rank + 1}",
                    "wan_type": "lte" if a["is_lte"][i] else "broadband",
                    "rx_bytes": int(s["rx_bytes"][j]),
                    "tx_bytes": int(s["tx_bytes"][j]),
                    "rx_pkts": int(s["rx_pkts"][j]),
                    "tx_pkts": int(s["tx_pkts"][j]),
                }
            out.append(
                {
                    "mac": gw.mac,
                    "type": "gateway",
                    "name": gw.name,
                    "model": gw.model,
                    "serial": gw.serial,
                    "org_id": org.id,
                    "site_id": org.sites[gw.site_index].id,
                    "status": "disconnected" if rebooting or offline else "connected",
                    "last_seen": float(offline_since[g] if offline else boot if rebooting else now),
                    "uptime": 0 if rebooting or offline else now - boot,
                    "is_ha": per_site[gw.site_index] > 1,
                    "if_stat": if_stat,
                }
            )
        return out

    def _self(self) -> dict:
        return {
            "email": "simulator@wanperf.invalid",
            "first_name": "Wanperf",
            "last_name": "Simulator",
            "name": "Wanperf Simulator",
            "privileges": [
                {"scope": "org", "org_id": self.org.id, "name": self.org.name, "role": "read"}
            ],
        }

    # admin ------------------------------------------------------------------------------------
    def _admin(self, method: str, path: str, query) -> tuple[int, dict, object]:
        q = {k: v[-1] for k, v in query.items()}
        if path == "/admin/clock":
            if "set" in q:
                self.clock.set(float(q["set"]))
            if "advance" in q:
                self.clock.advance(float(q["advance"]))
            if q.get("real") in ("1", "true"):
                self.clock.set(None)
            return 200, {}, {"now": self.clock.now(), "simulated": self.clock.simulated}
        if path == "/admin/faults":
            try:
                self.faults.update(**{k: _coerce_fault(k, v) for k, v in q.items()})
            except (TypeError, ValueError) as exc:
                raise ApiError(400, {"detail": str(exc)}) from None
            return 200, {}, asdict(self.faults)
        if path == "/admin/truth":
            table = self.truth(
                circuit_id=q.get("circuit_id"),
                site_id=q.get("site_id"),
                day=q.get("day"),
                start=float(q["start"]) if "start" in q else None,
                minutes=int(q.get("minutes", 1440)),
            )
            body = table.assign(ts=table["ts"].map(lambda x: x.isoformat())).to_dict(
                orient="records"
            )
            return 200, {}, json.loads(json.dumps(body, default=float).replace("NaN", "null"))
        if path == "/admin/usage":
            with self._lock:
                window = self._window()
                most = max((c for w, c in self._usage.values() if w == window), default=0)
                return (
                    200,
                    {},
                    {
                        "calls": self.calls,
                        "over_budget": self.over_budget,
                        "most_by_one_token_this_hour": most,
                        "request_limit": self.config.rate_limit,
                    },
                )
        if path == "/admin/inject":
            try:
                injection = self.inject(
                    q["circuit_id"], q["kind"], int(float(q["start"])), int(float(q["end"]))
                )
            except KeyError as exc:
                raise ApiError(400, {"detail": f"missing {exc.args[0]}"}) from None
            except ValueError as exc:
                raise ApiError(400, {"detail": str(exc)}) from None
            return 200, {}, {**asdict(injection), "circuit_id": q["circuit_id"]}
        if path == "/admin/org":
            return (
                200,
                {},
                {
                    "org_id": self.org.id,
                    "sites": len(self.org.sites),
                    "ports": self.org.n_ports,
                    "wan_ports": int(self.org.arrays["is_wan"].sum()),
                    # what the port stats hold now: existing, their gateway online
                    "wan_ports_served": int(self.served_ports(self.org.wan_port_indices()).size),
                    "seed": self.org.seed,
                },
            )
        raise ApiError(404, {"detail": "Not found."})

    def inject(self, circuit_id: str, kind: str, start: int, end: int):
        """Force an incident onto a WAN circuit for [start, end) (`World.inject`): `down`,
        `congest`, `busy`, `flap`, `degrade` or `offline` (its gateway). The served stats, the events and
        the ground truth all show it."""
        wan = self.org.wan_port_indices().tolist()
        ports = [i for i in wan if self.org.circuit_id(i) == circuit_id]
        if not ports:
            raise ValueError(f"no WAN circuit {circuit_id}")
        with self._lock:
            return self.world.inject(ports[0], kind, start, end)

    def truth(self, circuit_id=None, site_id=None, day=None, start=None, minutes=1440):
        """Ground truth, minute by minute, for one circuit, one site or the whole org's WAN ports."""
        a = self.org.arrays
        wan = self.org.wan_port_indices()
        if circuit_id:
            ports = [i for i in wan.tolist() if self.org.circuit_id(i) == circuit_id]
            if not ports:
                raise ApiError(404, {"detail": f"no WAN circuit {circuit_id}"})
        elif site_id:
            try:
                s = self.org.site_index(site_id)
            except KeyError:
                raise ApiError(404, {"detail": f"no site {site_id}"}) from None
            ports = [i for i in wan.tolist() if a["site"][i] == s]
        else:
            ports = wan.tolist()
        if day:
            import pandas as pd

            start = pd.Timestamp(day, tz="UTC").timestamp()
        if start is None:
            start = self.clock.now() // 86400 * 86400
        return self.world.truth(np.asarray(ports), int(start), minutes)

    # fault draws ----------------------------------------------------------------------------
    def draw_fault(self) -> str | None:
        """The transport fault for this request, if any."""
        f = self.faults
        with self._lock:
            for name in ("error", "hold", "truncate", "malformed_json"):
                counter = f"{name}_next"
                if getattr(f, counter) > 0:
                    setattr(f, counter, getattr(f, counter) - 1)
                    return name
            r = self._fault_rng.random
            if f.error_rate and r() < f.error_rate:
                return "error"
            if f.hold_rate and r() < f.hold_rate:
                return "hold"
            if f.truncate_rate and r() < f.truncate_rate:
                return "truncate"
            if f.malformed_json_rate and r() < f.malformed_json_rate:
                return "malformed_json"
            if f.slow_rate and r() < f.slow_rate:
                return "slow"
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "MistSimulator/1"
    # headers and body go out in two writes: without TCP_NODELAY the body waits for the
    # client's delayed ACK of the headers, 40 ms a response on a kept-alive connection
    disable_nagle_algorithm = True
    sim: MistSimulator  # set on the subclass

    def log_message(self, format, *args):  # quiet: tests and the demo read stdout
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def _serve(self, method: str) -> None:
        sim = self.sim
        url = urlsplit(self.path)
        is_api = url.path.startswith("/api/v1/")
        fault = sim.draw_fault() if is_api else None
        if fault == "hold":
            time.sleep(sim.faults.hold_seconds)
            self.close_connection = True
            return
        if fault == "slow":
            time.sleep(sim.faults.slow_seconds)
        try:
            status, headers, body = sim.handle(method, url.path, parse_qs(url.query), self.headers)
        except ApiError as err:
            status, headers, body = err.status, err.headers, err.body
        if fault == "error" and status < 400:
            status, headers, body = (
                sim.faults.error_status,
                {},
                b"<html><body><h1>503 Service Unavailable</h1></body></html>",
            )
        payload = (
            body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        )
        if fault == "truncate" and status < 400:
            payload = payload[: max(1, len(payload) // 2)]
        elif fault == "malformed_json" and status < 400:
            payload = b"{'results': [<not json>"
        self.send_response(status)
        self.send_header(
            "Content-Type", "text/html" if payload.startswith(b"<") else "application/json"
        )
        self.send_header("Content-Length", str(len(payload)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)


class _TrackingServer(ThreadingHTTPServer):
    """A thread per connection that knows its open connections, so a stop can close them: a
    client's kept-alive connection otherwise leaves its thread waiting in `recv` until the
    process ends, and a thread woken while the interpreter is finalizing can crash it."""

    daemon_threads = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request, client_address):
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):
        """A client that hangs up (a retry after a 503, a closed pool) is no error of the
        simulator's: only anything else is printed."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def shutdown_request(self, request):
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self, timeout: float = 5.0) -> int:
        """Close every open connection and wait (up to `timeout`) for their threads to let
        go of them; how many were still open."""
        with self._open_lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):  # closed by its client meanwhile
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        while self._open and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(open_now)


class SimulatorServer:
    """The simulator on a loopback port, served by a thread pool in a background thread."""

    def __init__(self, sim: MistSimulator | None = None, host: str = "127.0.0.1", port: int = 0):
        self.sim = sim or MistSimulator()
        handler = type("Handler", (_Handler,), {"sim": self.sim})
        self.httpd = _TrackingServer((host, port), handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.1},  # how long a stop waits for the loop, at most
            name="mist-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving, close the clients' open connections and the listening socket."""
        if self._thread is not None and self._thread.is_alive():
            self.httpd.shutdown()  # waits for the serving loop: only where it runs
        self._thread = None
        self.httpd.close_connections()
        self.httpd.server_close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
