"""The synthetic org: deterministic from (seed, number of sites), built once, held as arrays.

Static structure only (sites, regions, gateways, ports and each circuit's character); what a port
does at an instant is `world.py`'s business.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

import numpy as np

# (timezone, standard UTC offset in hours, country code, region, cities); DST is ignored.
ZONES = [
    ("America/New_York", -5, "US", "AMER", ["New York", "Boston", "Atlanta", "Miami"]),
    ("America/Chicago", -6, "US", "AMER", ["Chicago", "Dallas", "Houston"]),
    ("America/Los_Angeles", -8, "US", "AMER", ["Los Angeles", "Seattle", "San Jose"]),
    ("America/Toronto", -5, "CA", "AMER", ["Toronto", "Ottawa"]),
    ("America/Sao_Paulo", -3, "BR", "LATAM", ["Sao Paulo", "Rio de Janeiro"]),
    ("America/Mexico_City", -6, "MX", "LATAM", ["Mexico City", "Monterrey"]),
    ("Europe/London", 0, "GB", "EMEA", ["London", "Manchester", "Leeds"]),
    ("Europe/Paris", 1, "FR", "EMEA", ["Paris", "Lyon"]),
    ("Europe/Berlin", 1, "DE", "EMEA", ["Berlin", "Munich", "Hamburg"]),
    ("Europe/Madrid", 1, "ES", "EMEA", ["Madrid", "Barcelona"]),
    ("Asia/Dubai", 4, "AE", "EMEA", ["Dubai"]),
    ("Asia/Kolkata", 5.5, "IN", "APAC", ["Bengaluru", "Mumbai"]),
    ("Asia/Singapore", 8, "SG", "APAC", ["Singapore"]),
    ("Asia/Tokyo", 9, "JP", "APAC", ["Tokyo", "Osaka"]),
    ("Australia/Sydney", 10, "AU", "APAC", ["Sydney", "Melbourne"]),
]
REGIONS = ["AMER", "LATAM", "EMEA", "APAC"]
SPEEDS_MBPS = [10, 20, 50, 100, 100, 200, 500, 1000, 1000, 10000]
WAN_NAMES = ["wan1", "wan2", "wan3", "wan4"]


@dataclass
class Site:
    id: str
    name: str
    timezone: str
    tz_offset_h: float
    country_code: str
    region: str
    region_id: str
    address: str
    latlng: dict


@dataclass
class Gateway:
    mac: str
    site_index: int
    name: str
    model: str
    serial: str
    node: int  # 0, or 1 for the second node of an HA pair
    flaky: bool = False  # its site's circuits misbehave more, and it goes offline more often


@dataclass
class Org:
    seed: int
    id: str
    name: str
    sites: list[Site]
    regions: dict[str, str]  # region name -> sitegroup id
    gateways: list[Gateway]
    created_time: int
    # per port, in the order the API serves them (site, gateway, port id)
    port_id: list[str] = field(default_factory=list)
    port_mac: list[str] = field(default_factory=list)
    neighbor_mac: list[str] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_ports(self) -> int:
        return len(self.port_id)

    def circuit_id(self, i: int) -> str:
        return f"{self.gateways[self.arrays['gw'][i]].mac}:{self.port_id[i]}"

    def wan_port_indices(self) -> np.ndarray:
        return np.flatnonzero(self.arrays["is_wan"])

    def site_index(self, site_id: str) -> int:
        return self._site_index_by_id[site_id]

    def has_site(self, site_id: str) -> bool:
        return site_id in self._site_index_by_id

    def __post_init__(self) -> None:
        self._site_index_by_id = {s.id: i for i, s in enumerate(self.sites)}


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _mac(rng: random.Random, used: set[str]) -> str:
    while True:
        mac = "5c5b35" + f"{rng.getrandbits(24):06x}"
        if mac not in used:
            used.add(mac)
            return mac


def build_org(seed: int = 1, n_sites: int = 200) -> Org:
    """The org for (seed, n_sites). Site i is the same for every n_sites > i."""
    base = random.Random(f"wanperf-sim-org:{seed}")
    org_id = _uuid(base)
    regions = {name: _uuid(base) for name in REGIONS}
    created = 1_700_000_000 + base.randrange(0, 10_000_000)

    sites: list[Site] = []
    gateways: list[Gateway] = []
    macs: set[str] = set()
    cols: dict[str, list] = {
        k: []
        for k in (
            "site",
            "gw",
            "is_wan",
            "rank",
            "speed",
            "base_util",
            "tz",
            "tx_ratio",
            "pkt_size",
            "err_rate",
            "p_active",
            "p_out",
            "p_flap",
            "p_cong",
            "p_degrade",
            "lat_base",
            "jit_base",
            "loss_base",
            "has_quality",
            "is_lte",
            "amp",
        )
    }
    port_ids: list[str] = []
    port_macs: list[str] = []
    neighbor_macs: list[str] = []

    for s in range(n_sites):
        rng = random.Random(f"wanperf-sim-site:{seed}:{s}")  # per site: stable as the org grows
        tz, off, cc, region, cities = rng.choice(ZONES)
        city = rng.choice(cities)
        site = Site(
            id=_uuid(rng),
            name=f"{city.upper().replace(' ', '-')}-{s + 1:05d}",
            timezone=tz,
            tz_offset_h=off,
            country_code=cc,
            region=region,
            region_id=regions[region],
            address=f"{rng.randrange(1, 999)} Main Street, {city}",
            latlng={"lat": round(rng.uniform(-60, 60), 5), "lng": round(rng.uniform(-170, 170), 5)},
        )
        sites.append(site)
        ha = rng.random() < 0.1
        n_wan = rng.choice([1, 2, 2, 2, 3, 3, 4])
        lte = n_wan >= 2 and rng.random() < 0.25
        # reliability and load class of the site's circuits
        flaky = rng.random() < 0.15
        busy = rng.random() < 0.2
        site_gws = []
        for node in range(2 if ha else 1):
            mac = _mac(rng, macs)
            gw = Gateway(
                mac=mac,
                site_index=s,
                name=f"{site.name}-GW{node + 1}",
                model=rng.choice(["SRX320", "SRX345", "SSR120", "SSR130"]),
                serial=f"CW{rng.getrandbits(40):010X}",
                node=node,
                flaky=flaky,
            )
            site_gws.append(len(gateways))
            gateways.append(gw)
        # WAN ports spread over the HA nodes (node0 takes the even ones), then LAN ports
        raw_ports = []  # (gateway index, port id, is_wan, is_lte, speed)
        for g_i, gw_index in enumerate(site_gws):
            n_mine = len(range(g_i, n_wan, len(site_gws)))
            for j in range(n_mine):
                is_lte = lte and g_i == 0 and j == n_mine - 1
                speed = rng.choice([50, 100]) if is_lte else rng.choice(SPEEDS_MBPS)
                pid = "lte0" if is_lte else f"{'xe' if speed == 10000 else 'ge'}-0/0/{j}"
                raw_ports.append((gw_index, pid, True, is_lte, speed))
            for j in range(rng.choice([2, 3])):
                raw_ports.append(
                    (gw_index, f"ge-0/0/{n_mine + j + 1}", False, False, rng.choice([100, 1000]))
                )
        # role rank: the site's WAN ports ordered by (port id, gateway mac); rank 0 is the primary
        wan_order = sorted((p for p in raw_ports if p[2]), key=lambda p: (p[1], gateways[p[0]].mac))
        rank_of = {(p[0], p[1]): r for r, p in enumerate(wan_order)}
        for k, (gw_index, pid, is_wan, is_lte, speed) in enumerate(raw_ports):
            rank = rank_of.get((gw_index, pid), -1)
            mac = gateways[gw_index].mac
            port_ids.append(pid)
            port_macs.append(f"{mac[:-2]}{(int(mac[-2:], 16) + k + 1) % 256:02x}")
            neighbor_macs.append(f"{rng.getrandbits(48):012x}")
            cols["site"].append(s)
            cols["gw"].append(gw_index)
            cols["is_wan"].append(is_wan)
            cols["rank"].append(rank)
            cols["speed"].append(speed)
            util = rng.uniform(0.35, 0.75) if busy and rank == 0 else rng.uniform(0.05, 0.45)
            if rank > 0:
                util *= 0.3  # secondaries idle unless they carry a failover
            if not is_wan:
                util = rng.uniform(0.01, 0.2)
            cols["base_util"].append(util)
            cols["amp"].append(rng.uniform(0.3, 0.8))
            cols["tz"].append(off)
            cols["tx_ratio"].append(rng.uniform(0.15, 0.6))
            cols["pkt_size"].append(rng.uniform(500, 1200))
            cols["err_rate"].append(rng.choice([0, 0, 1e-7, 1e-6, 1e-5, 1e-4]))
            cols["p_active"].append((0.6 if flaky else 0.12) if is_wan else 0.0)
            cols["p_out"].append((0.06 if flaky else 0.02) if is_wan else 0.0)
            cols["p_flap"].append((0.25 if flaky else 0.05) if is_wan else 0.0)
            cols["p_cong"].append((0.25 if busy else 0.04) if is_wan else 0.0)
            cols["p_degrade"].append((0.2 if flaky else 0.05) if is_wan else 0.0)
            cols["lat_base"].append(rng.uniform(45, 80) if is_lte else rng.uniform(4, 40))
            cols["jit_base"].append(rng.uniform(4, 12) if is_lte else rng.uniform(0.3, 4))
            cols["loss_base"].append(rng.uniform(0, 0.2) if is_lte else rng.uniform(0, 0.03))
            cols["has_quality"].append(is_wan and rng.random() < 0.85)
            cols["is_lte"].append(is_lte)

    org = Org(
        seed=seed,
        id=org_id,
        name=f"Synthetic WAN org (seed {seed})",
        sites=sites,
        regions=regions,
        gateways=gateways,
        created_time=created,
        port_id=port_ids,
        port_mac=port_macs,
        neighbor_mac=neighbor_macs,
    )
    arrays = {k: np.asarray(v) for k, v in cols.items()}
    for k in ("site", "gw", "rank"):
        arrays[k] = arrays[k].astype(np.int64)
    arrays["idx"] = np.arange(len(port_ids), dtype=np.int64)
    arrays["dev"] = arrays["gw"]
    # the site's primary (rank 0) and backup (rank 1) port, for failover
    primary = np.full(n_sites, -1, dtype=np.int64)
    backup = np.full(n_sites, -1, dtype=np.int64)
    for i in np.flatnonzero(arrays["rank"] == 0):
        primary[arrays["site"][i]] = i
    for i in np.flatnonzero(arrays["rank"] == 1):
        backup[arrays["site"][i]] = i
    arrays["site_primary"] = primary[arrays["site"]]
    arrays["site_backup"] = backup[arrays["site"]]
    org.arrays = arrays
    return org
