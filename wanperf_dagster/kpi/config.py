"""KPI configuration: thresholds (with per-region overrides), quality tiers, roles, regions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd

UTIL_TIERS = ("70", "80", "90")  # column suffixes of the three utilisation tiers
QUALITY_TIERS = ("warn", "high", "critical")


def first_port_is_primary(circuits: pd.DataFrame) -> pd.Series:
    """Default role rule: per site, the WAN port that sorts first by (port id, circuit id) is
    primary; every other is secondary, the next in that order the designated backup. Takes
    columns site_id, circuit_id, port_id."""
    ordered = circuits.sort_values(["site_id", "port_id", "circuit_id"], kind="stable")
    first = ~ordered.duplicated("site_id")
    return pd.Series(first.to_numpy(), index=ordered["circuit_id"].to_numpy()).reindex(
        circuits["circuit_id"].to_numpy()
    )


@dataclass(frozen=True)
class KpiConfig:
    """What the KPIs measure against. Thresholds are percentages of link speed."""

    util_thresholds: tuple[float, float, float] = (70.0, 80.0, 90.0)
    region_util_thresholds: Mapping[str, tuple[float, float, float]] = field(default_factory=dict)
    jitter_ms: tuple[float, float, float] = (10.0, 30.0, 50.0)
    latency_ms: tuple[float, float, float] = (50.0, 100.0, 150.0)
    loss_pct: tuple[float, float, float] = (0.1, 0.5, 1.0)
    # region of each site, when the samples carry no `region` column
    site_regions: Mapping[str, str] = field(default_factory=dict)
    # name of each site (what people search for), when the samples carry no `site_name`
    site_names: Mapping[str, str] = field(default_factory=dict)
    # role rule: DataFrame(site_id, circuit_id, port_id) -> bool Series indexed by circuit_id
    is_primary: Callable[[pd.DataFrame], pd.Series] = first_port_is_primary
    # a secondary "carries traffic" when up and max(rx, tx) >= this many bits/s
    carrying_min_bps: float = 1.0
    # a secondary "took the primary's load" when, over the outage, its traffic rose by what it
    # could take of the load the primary lost (that load, or the secondary's headroom if less),
    # give or take this share of it (docs/kpis.md, Failover)
    takeover_tolerance: float = 0.5

    def __post_init__(self) -> None:
        for name in ("util_thresholds", "jitter_ms", "latency_ms", "loss_pct"):
            values = getattr(self, name)
            if len(values) != 3 or list(values) != sorted(values):
                raise ValueError(f"{name} must be three ascending thresholds, got {values!r}")
        for region, values in self.region_util_thresholds.items():
            if len(values) != 3 or list(values) != sorted(values):
                raise ValueError(
                    f"region_util_thresholds[{region!r}] must be three ascending values"
                )

    @classmethod
    def for_sites(cls, sites, **kwargs) -> KpiConfig:
        """A config with the regions and names of an inventory frame (`site_id`, `name`,
        `region`), as the `mist_sites` asset holds it; an empty or missing frame gives none."""
        if sites is None or len(sites) == 0:
            return cls(**kwargs)
        ids = [str(s) for s in sites["site_id"]]
        regions = dict(zip(ids, (str(r) for r in sites["region"]), strict=True))
        names = (
            dict(zip(ids, (str(n) for n in sites["name"]), strict=True)) if "name" in sites else {}
        )
        return cls(site_regions=regions, site_names=names, **kwargs)

    def thresholds_for(self, region: str) -> tuple[float, float, float]:
        return tuple(self.region_util_thresholds.get(region, self.util_thresholds))


DEFAULT_CONFIG = KpiConfig()
