"""What the commands share: the project's Dagster home, the storage API, how a day, a count and
a site are read from the command line, and a stored day of an asset as a table."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from wanperf_dagster import store
from wanperf_dagster.settings import Settings, get_settings

PROJECT_DIR = Path(__file__).resolve().parents[2]
RAW = argparse.RawDescriptionHelpFormatter
DAY_HELP = "UTC day: YYYY-MM-DD, today, yesterday or -N (N days ago); default yesterday"


def dagster_home(data_dir: Path) -> Path:
    """DAGSTER_HOME under the data dir, holding the instance's dagster.yaml: the project's
    deploy/dagster.yaml with the run queue sized to this machine's cores, on SQLite, or on
    Postgres when WANPERF_DAGSTER_PG_URL is set."""
    from wanperf_dagster.instance.config import write_instance_config

    home = data_dir / "dagster_home"
    write_instance_config(home, get_settings())
    return home


def use_project_dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME for this process: the given one, or the project's under the data dir."""
    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str(dagster_home(settings.data_dir))
    return Path(os.environ["DAGSTER_HOME"])


def redis_client() -> store.Redis:
    """A connection for the writers of `store/` (the sweep, the ingestion, the budget)."""
    settings = get_settings()
    return store.connect(store.resolve_redis_url(settings.redis_url, settings.data_dir))


def asset_store():
    """The storage API of the settings: every read of stored data."""
    from wanperf_dagster.storage import AssetStore

    return AssetStore.from_settings(get_settings())


def org_client(settings: Settings, ledger, org: str | None):
    """The client of the org a command acts on: `--org`, or the one org analysed."""
    from wanperf_dagster.sources import org_clients_from_settings

    clients = org_clients_from_settings(settings, ledger=ledger)
    if org:
        for client in clients:
            if client.org_id == org:
                return client
        raise SystemExit(f"wanperf: org {org} is not one of the {len(clients)} analysed here")
    if len(clients) > 1:
        names = ", ".join(f"{c.org_id} ({c.org_name})" if c.org_name else c.org_id for c in clients)
        raise SystemExit(f"wanperf: {len(clients)} orgs are analysed: pass --org, one of {names}")
    return clients[0]


def ago(seconds: float) -> str:
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch))


def parse_day(text: str, today=None) -> str:
    """A UTC day from `YYYY-MM-DD`, `today`, `yesterday` or `-N` (N days ago); raises
    argparse.ArgumentTypeError with what is allowed."""
    import datetime as dt

    today = today or dt.datetime.now(dt.UTC).date()
    value = text.strip().lower()
    allowed = "allowed: YYYY-MM-DD, today, yesterday, or -N for N days ago"
    if value == "today":
        return today.isoformat()
    if value == "yesterday":
        return (today - dt.timedelta(days=1)).isoformat()
    if value.startswith("-") and value[1:].isdigit():
        return (today - dt.timedelta(days=int(value[1:]))).isoformat()
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day ({allowed})") from None
    if day > today:
        raise argparse.ArgumentTypeError(f"{text} is in the future ({allowed})")
    return day.isoformat()


def positive_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} rows: ask for 1 or more")
    return n


def inventory(assets):
    sites = assets.latest("mist_sites")
    if sites is None:
        raise SystemExit(
            "wanperf: no mist_sites yet: run `wanperf seed` or materialize mist_sites in the UI"
        )
    return sites.to_pandas()


def resolve_site(assets, text: str) -> tuple[str, str]:
    """(site id, partition key) of a site given by name (any case), id or partition key."""
    from wanperf_dagster.storage import site_id_of

    sites = inventory(assets)
    wanted = text.strip()
    by_id = sites[sites["site_id"] == site_id_of(wanted)]
    by_name = sites[sites["name"].str.lower() == wanted.lower()]
    found = by_id if len(by_id) else by_name
    if len(found) == 1:
        site_id = str(found["site_id"].iloc[0])
        return site_id, assets.site_keys([site_id])[0]
    if len(found) > 1:
        raise SystemExit(
            f"wanperf: {len(found)} sites are named {wanted!r}; give the site id instead"
        )
    close = sites[sites["name"].str.lower().str.contains(wanted.lower(), regex=False)]
    hint = f"; did you mean {', '.join(close['name'].head(5))}?" if len(close) else ""
    raise SystemExit(f"wanperf: no site named {wanted!r} or with that id{hint}")


def partitioning(asset: str) -> str:
    """How an asset is partitioned ("site_day", "day", ...), from the dataset registry; exits
    with the stored assets when `asset` is not one of them."""
    from wanperf_dagster.storage import DATASETS

    kinds = {d.name: d.partitioning for d in DATASETS.values() if d.kind == "asset"}
    if asset not in kinds:
        raise SystemExit(f"wanperf: no asset {asset!r}; stored assets: {', '.join(sorted(kinds))}")
    return kinds[asset]


def load_day(asset: str, day: str, site: str | None):
    """The asset's stored rows of a day (every site, or one), with the sites' names and regions
    beside their ids when the rows carry only ids."""
    import pyarrow as pa

    from wanperf_dagster.storage import site_day_key

    assets = asset_store()
    kind = partitioning(asset)
    shown = f" and site {site}" if site else ""
    if kind == "site_day":
        if site:
            site_keys = [resolve_site(assets, site)[1]]
        else:
            site_keys = assets.site_keys([str(s) for s in inventory(assets)["site_id"]])
        keys_ = [site_day_key(day, k) for k in site_keys]
    elif kind == "day":
        keys_ = [day]
    elif kind == "none":
        keys_ = [None]
    else:
        raise SystemExit(
            f"wanperf: {asset} is partitioned by {kind}, not by day; not exportable here"
        )
    loaded = assets.load(asset, keys_, allow_missing=True)
    if not loaded.found:
        raise SystemExit(
            f"wanperf: no stored {asset} for {day}{shown}; materialize it first"
            " (Dagster UI, or `wanperf seed`)"
        )
    if loaded.missing:
        print(
            f"note: {len(loaded.missing)} of {len(keys_)} partitions not materialized; left out",
            file=sys.stderr,
        )
    table = loaded.table
    if "site_id" in table.column_names and "site_name" not in table.column_names:
        sites = inventory(assets)
        ids = [str(x) for x in table.column("site_id").to_pylist()]
        names = dict(zip(sites["site_id"].astype(str), sites["name"].astype(str), strict=True))
        regions = dict(zip(sites["site_id"].astype(str), sites["region"].astype(str), strict=True))
        at = table.column_names.index("site_id") + 1
        table = table.add_column(at, "site_name", pa.array([names.get(i) for i in ids]))
        if "region" not in table.column_names:
            table = table.add_column(at + 1, "region", pa.array([regions.get(i) for i in ids]))
    return table


def plain_columns(table):
    """Dictionary (categorical) columns as plain values: CSV has no such thing."""
    import pyarrow as pa

    return pa.table(
        {
            n: (c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c)
            for n, c in zip(table.column_names, table.columns, strict=True)
        }
    )
