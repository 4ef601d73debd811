"""Every stored dataset, one record each: the registry the IO manager, the storage API, the
history views, the docs' key table and the tests read.

A dataset is either a **raw feed** (what the sweep and the insight ingestion write, a hash per
site-day) or an **asset** (what the IO manager stores, one Arrow table per partition). Its record
says how it is partitioned, which column of its rows holds each partition dimension, how long
Redis keeps it, whether the history tier keeps it for good, its Arrow schema and the raw feed
its rows come from. Adding a dataset is one line here; nothing else lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

import pyarrow as pa

from wanperf_dagster.settings import RAW_SAMPLE_DAYS, SNAPSHOT_DAYS, Settings
from wanperf_dagster.store import insights as feed_store

from . import schemas
from .schemas import Field

DAY = 86400


class Lifetime(Enum):
    """How long Redis keeps a dataset's values (the history tier keeps its own for good)."""

    RAW = "raw"  # 31 days (`RAW_SAMPLE_DAYS`): a site-day can be recomputed this long
    SAMPLES = "samples"  # 8 days (`SNAPSHOT_DAYS`): a week of samples for the dashboard
    HOT = "hot"  # WANPERF_HOT_DAYS: the site-days of the day x site partitions
    LONG = "long"  # WANPERF_ROLLUP_TTL_DAYS: rollups, inventories, statuses

    def days(self, settings: Settings) -> int:
        if self is Lifetime.RAW:
            return RAW_SAMPLE_DAYS
        if self is Lifetime.SAMPLES:
            return min(SNAPSHOT_DAYS, settings.hot_days)
        if self is Lifetime.HOT:
            return settings.hot_days
        return settings.rollup_ttl_days

    @property
    def setting(self) -> str:
        """Where its length is set (what the docs' key table says)."""
        return {
            Lifetime.RAW: f"{RAW_SAMPLE_DAYS} days",
            Lifetime.SAMPLES: f"{SNAPSHOT_DAYS} days",
            Lifetime.HOT: "`WANPERF_HOT_DAYS`",
            Lifetime.LONG: "`WANPERF_ROLLUP_TTL_DAYS`",
        }[self]


@dataclass(frozen=True)
class Lifetimes:
    """The lifetimes of one deployment, in seconds (from its settings)."""

    raw: int = RAW_SAMPLE_DAYS * DAY
    hot: int = Settings.hot_days * DAY
    long: int = Settings.rollup_ttl_days * DAY
    samples: int = SNAPSHOT_DAYS * DAY

    @classmethod
    def from_settings(cls, settings: Settings) -> Lifetimes:
        return cls(
            raw=RAW_SAMPLE_DAYS * DAY,
            hot=settings.hot_days * DAY,
            long=settings.rollup_ttl_days * DAY,
        )

    def seconds(self, lifetime: Lifetime) -> int:
        return {
            Lifetime.RAW: self.raw,
            Lifetime.SAMPLES: min(self.samples, self.hot),
            Lifetime.HOT: self.hot,
            Lifetime.LONG: self.long,
        }[lifetime]


SITE_DAY = "site_day"
PARTITIONINGS = (SITE_DAY, "day", "week", "month", "none")
FEEDS = ("ports", "sle", "paths", "events", "devices")


@dataclass(frozen=True)
class Dataset:
    name: str
    kind: str  # "feed" (written by the ingestion, a hash per site-day) or "asset"
    partitioning: str  # one of PARTITIONINGS
    lifetime: Lifetime
    history: bool = False  # its site-days also go to the history tier (Parquet), for good
    # per partition dimension, the column of the rows that holds it (a timestamp column stands
    # for its UTC day): how a chunk's rows are split into their partitions
    partition_columns: Mapping[str, str] = field(default_factory=dict)
    feed: str | None = None  # the raw feed its rows come from
    # its columns (name, logical type, description): declared for every history dataset
    fields: Callable[[], list[Field]] | None = field(default=None, compare=False)
    description: str = ""

    @property
    def schema(self) -> pa.Schema | None:
        """Its rows' Arrow schema (the contract the history keeps), where it is declared."""
        return schemas.arrow_schema(self.fields()) if self.fields is not None else None


def _site_day(day: str = "day") -> dict[str, str]:
    return {"day": day, "site": "site_id"}


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        # raw feeds: a hash per site-day, written page by page by the ingestion
        Dataset(
            "port_samples",
            "feed",
            SITE_DAY,
            Lifetime.RAW,
            partition_columns=_site_day("ts"),
            feed="ports",
            fields=schemas.snapshot_fields,
            description="every gateway WAN port's sample of each sweep (the sweep)",
        ),
        *(
            Dataset(
                f"{feed}_feed",
                "feed",
                SITE_DAY,
                Lifetime.RAW,
                partition_columns=_site_day(feed_store.TIME_COLUMN[feed]),
                feed=feed,
                description=text,
            )
            for feed, text in (
                ("sle", "the site's WAN SLE per hour (the insight ingestion)"),
                ("paths", "each VPN peer path's sample per slot (the insight ingestion)"),
                ("events", "each port's down and up events, gateways' connects and disconnects"),
            )
        ),
        Dataset(
            "devices_feed",
            "feed",
            SITE_DAY,
            Lifetime.RAW,
            partition_columns=_site_day("ts"),
            feed="devices",
            fields=lambda: schemas.DEVICE_STATUS_FIELDS,
            description="each gateway's status at each ingestion (feeds/devices)",
        ),
        # site-day assets: hot in Redis (the samples a week), for good in the history tier
        Dataset(
            "site_snapshots",
            "asset",
            SITE_DAY,
            Lifetime.SAMPLES,
            history=True,
            partition_columns=_site_day("ts"),
            feed="ports",
            fields=schemas.snapshot_fields,
        ),
        *(
            Dataset(
                name,
                "asset",
                SITE_DAY,
                Lifetime.HOT,
                history=True,
                partition_columns=_site_day(time_column),
                feed=feed,
                fields=fields,
            )
            for name, feed, time_column, fields in (
                ("circuit_kpis", "ports", "day", lambda: schemas.kpi_fields("daily")),
                ("circuit_kpis_hourly", "ports", "day", lambda: schemas.kpi_fields("hourly")),
                ("port_events", "events", "ts", lambda: schemas.EVENT_FIELDS),
                ("site_sle", "sle", "day", lambda: schemas.SLE_FIELDS),
                ("site_sle_hourly", "sle", "hour", lambda: schemas.SLE_HOURLY_FIELDS),
                ("vpn_path_kpis", "paths", "day", lambda: schemas.PATH_FIELDS),
                ("gateway_status", "devices", "day", lambda: schemas.GATEWAY_STATUS_FIELDS),
            )
        ),
        # the ingestion's summaries, the inventory, what is wrong now
        *(
            Dataset(name, "asset", "none", Lifetime.LONG, feed=feed)
            for name, feed in (
                ("mist_sites", None),
                ("raw_port_stats", "ports"),
                ("raw_wan_insights", None),
                ("wan_status_now", "ports"),
                ("wan_alerts", "ports"),
            )
        ),
        # rollups of the site-days
        *(
            Dataset(name, "asset", partitioning, Lifetime.LONG, feed=feed)
            for name, partitioning, feed in (
                ("region_kpis", "day", "ports"),
                ("org_kpis", "day", "ports"),
                ("top_offenders", "day", "ports"),
                ("congestion_trends", "day", "ports"),
                ("site_wan_health", "day", None),
                ("weekly_circuit_kpis", "week", "ports"),
                ("monthly_circuit_kpis", "month", "ports"),
                ("circuit_trends_13m", "month", "ports"),
                ("circuit_baselines", "day", "ports"),  # its value: the baseline keys
                ("sla_report", "month", "ports"),
                ("sla_outages", "month", "events"),
            )
        ),
    )
}


def dataset(name: str) -> Dataset:
    """The record of a stored dataset; a clear error for a name the registry does not have."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(
            f"{name!r} is not a registered dataset (wanperf_dagster/storage/datasets.py lists"
            f" them: {', '.join(DATASETS)})"
        ) from None


def assets() -> list[Dataset]:
    return [d for d in DATASETS.values() if d.kind == "asset"]


def history_datasets() -> list[str]:
    """The datasets the history tier keeps (a DuckDB view each in `wanperf query`)."""
    return [d.name for d in DATASETS.values() if d.history]


def raw_feed_of(feed: str) -> Dataset:
    """The raw feed dataset of a feed name (`ports`, `sle`, `paths`, `events`)."""
    found = [d for d in DATASETS.values() if d.kind == "feed" and d.feed == feed]
    if not found:
        raise KeyError(f"no raw feed {feed!r} (registered: {', '.join(FEEDS)})")
    return found[0]
